//! `plrnn sweep`: the command-line side of [`crate::sweep`] (executors, progress, printing).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use super::input_err;
use crate::sweep::{self, Placement, Sweep};

/// Where the runs of a sweep execute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Executor {
    /// On this machine, `--jobs` runs at a time.
    Local,
    /// As one Slurm job array (`sbatch`), one task per run.
    Slurm,
}

/// Options of `plrnn sweep`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SweepArgs {
    /// `status DIR` or `collect DIR`; without one, runs the sweep file.
    #[command(subcommand)]
    pub action: Option<SweepAction>,
    /// Sweep file (TOML; see `plrnn_train::sweep` or the README).
    pub file: Option<PathBuf>,
    /// Output folder (one folder per run inside; safe to reuse: finished runs are skipped,
    /// interrupted ones resume from their checkpoints).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Where the runs execute.
    #[arg(long, value_enum, default_value = "local")]
    pub executor: Executor,
    /// Runs at a time (local executor; default: the cores divided by the runs' `threads`).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Slurm: submit and return without waiting for the tasks.
    #[arg(long)]
    pub no_wait: bool,
    /// Slurm: an extra `sbatch` option (e.g. `--slurm-arg=--partition=short`); repeatable.
    #[arg(long = "slurm-arg", allow_hyphen_values = true)]
    pub slurm_arg: Vec<String>,
    /// Print the collected rows as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The subcommands of `plrnn sweep`.
#[derive(Debug, Subcommand)]
pub enum SweepAction {
    /// Runs done / running / failed / pending of a sweep folder.
    Status {
        /// Sweep output folder.
        dir: PathBuf,
        /// Print the counts as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild DIR/results.csv, results.json, best/ and the report from the run folders.
    Collect {
        /// Sweep output folder.
        dir: PathBuf,
        /// Print the rows as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Execute one run of a sweep folder (the Slurm array task; the run's index comes from
    /// `--index` or SLURM_ARRAY_TASK_ID).
    #[command(hide = true)]
    RunTask {
        /// Sweep output folder.
        dir: PathBuf,
        /// Run index (default: SLURM_ARRAY_TASK_ID).
        #[arg(long)]
        index: Option<usize>,
    },
}

fn open(dir: &Path) -> Result<Sweep> {
    Sweep::open(dir).map_err(input_err)
}

/// Runs `plrnn sweep`.
pub fn sweep(a: SweepArgs) -> Result<()> {
    match a.action {
        Some(SweepAction::Status { dir, json }) => status(&dir, json),
        Some(SweepAction::Collect { dir, json }) => {
            let s = open(&dir)?;
            collect(&dir, &s, json)
        }
        Some(SweepAction::RunTask { dir, index }) => run_task(&dir, index),
        None => {
            let Some(file) = a.file.as_deref() else {
                return Err(input_err(anyhow::anyhow!(
                    "plrnn sweep: give a sweep file (or `status DIR` / `collect DIR`)"
                )));
            };
            let Some(out) = a.out.as_deref() else {
                return Err(input_err(anyhow::anyhow!(
                    "plrnn sweep: --out DIR is required"
                )));
            };
            let s = Sweep::load(file).map_err(input_err)?;
            s.prepare(out).map_err(input_err)?;
            let exe = std::env::current_exe().context("the plrnn binary's path")?;
            match a.executor {
                Executor::Local => run_local(&exe, out, &s, a.jobs, a.json),
                Executor::Slurm => run_slurm(&exe, out, &s, &a.slurm_arg, a.no_wait, a.json),
            }
        }
    }
}

fn status(dir: &Path, json: bool) -> Result<()> {
    let s = open(dir)?;
    let c = sweep::status_counts(dir, &s);
    eprintln!(
        "{}: {} runs: {} done ({} collapsed), {} running, {} failed, {} pending",
        dir.display(),
        s.runs.len(),
        c.done,
        c.collapsed,
        c.running,
        c.failed,
        c.pending
    );
    if json {
        println!("{}", serde_json::to_string(&c)?);
    }
    Ok(())
}

fn collect(dir: &Path, s: &Sweep, json: bool) -> Result<()> {
    let rows = sweep::collect(dir, s).with_context(|| format!("{}: collect", dir.display()))?;
    eprint!("{}", sweep::summary_markdown(&sweep::summary(&rows)));
    for r in rows.iter().filter(|r| r.status == "failed") {
        eprintln!(
            "failed: {}: {}",
            r.id,
            r.error.as_deref().unwrap_or("unknown error")
        );
    }
    eprintln!(
        "wrote {}/results.csv, results.json, report.md, report.png, best/",
        dir.display()
    );
    if json {
        println!("{}", serde_json::to_string(&rows)?);
    }
    Ok(())
}

fn bar(len: u64) -> ProgressBar {
    let pb = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} runs {elapsed} {msg}") {
        pb.set_style(style);
    }
    pb
}

/// Default runs at a time: the cores divided by the threads one run uses.
fn default_jobs(s: &Sweep) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_run = s
        .runs
        .iter()
        .filter_map(|r| {
            toml::from_str::<toml::Table>(&r.config)
                .ok()?
                .get("threads")?
                .as_integer()
        })
        .map(|t| if t <= 0 { cores } else { t as usize })
        .max()
        .unwrap_or(cores);
    (cores / per_run.max(1)).max(1)
}

fn run_local(exe: &Path, dir: &Path, s: &Sweep, jobs: Option<usize>, json: bool) -> Result<()> {
    let todo: Vec<&sweep::RunSpec> = s
        .runs
        .iter()
        .filter(|r| !sweep::is_finished(dir, r))
        .collect();
    let jobs = jobs.unwrap_or_else(|| default_jobs(s)).max(1);
    if jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    eprintln!(
        "{} runs ({} finished already), {} at a time -> {}",
        s.runs.len(),
        s.runs.len() - todo.len(),
        jobs,
        dir.display()
    );
    let t0 = Instant::now();
    let next = AtomicUsize::new(0);
    let own = Mutex::new(0.0f64);
    let first_err: Mutex<Option<std::io::Error>> = Mutex::new(None);
    let pb = bar(todo.len() as u64);
    let placement = Placement::local();
    std::thread::scope(|sc| {
        for _ in 0..jobs.min(todo.len()) {
            sc.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(run) = todo.get(i) else { break };
                match sweep::execute_run(exe, dir, run, &placement) {
                    Ok(w) => *own.lock().unwrap_or_else(|e| e.into_inner()) += w.unwrap_or(0.0),
                    Err(e) => {
                        first_err
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_or_insert(e);
                    }
                }
                pb.inc(1);
            });
        }
    });
    pb.finish_and_clear();
    if let Some(e) = first_err.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(anyhow::Error::new(e).context(format!("{}: writing a run", dir.display())));
    }
    let wall = t0.elapsed().as_secs_f64();
    let own = own.into_inner().unwrap_or_else(|e| e.into_inner());
    collect(dir, s, json)?;
    eprintln!(
        "{} runs in {:.1} s wall; the runs' own time {:.1} s (sum over runs){}",
        todo.len(),
        wall,
        own,
        if jobs == 1 && own > 0.0 {
            format!("; sweep overhead {:.2} %", 100.0 * (wall - own) / own)
        } else {
            String::new()
        }
    );
    Ok(())
}

fn run_task(dir: &Path, index: Option<usize>) -> Result<()> {
    let s = open(dir)?;
    let index = match index {
        Some(i) => i,
        None => std::env::var("SLURM_ARRAY_TASK_ID")
            .ok()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                input_err(anyhow::anyhow!(
                    "run-task: no --index and no SLURM_ARRAY_TASK_ID"
                ))
            })?,
    };
    let run = s.runs.get(index).ok_or_else(|| {
        input_err(anyhow::anyhow!(
            "run-task: {}: no run {index} ({} runs)",
            dir.display(),
            s.runs.len()
        ))
    })?;
    let exe = std::env::current_exe().context("the plrnn binary's path")?;
    let placement = if std::env::var("SLURM_ARRAY_TASK_ID").is_ok() {
        Placement::from_slurm_env()
    } else {
        Placement::local()
    };
    sweep::execute_run(&exe, dir, run, &placement)
        .with_context(|| format!("{}: run {}", dir.display(), run.id))?;
    Ok(())
}

/// The sbatch script of the unfinished runs `todo` (indices) of the sweep in `dir`.
pub fn sbatch_script(exe: &Path, dir: &Path, todo: &[usize], extra: &[String]) -> String {
    let list: Vec<String> = todo.iter().map(usize::to_string).collect();
    let mut s = String::from("#!/bin/sh\n#SBATCH --job-name=plrnn-sweep\n");
    s.push_str(&format!("#SBATCH --array={}\n", list.join(",")));
    s.push_str(&format!(
        "#SBATCH --output={}/slurm/%A_%a.log\n",
        dir.display()
    ));
    s.push_str("#SBATCH --requeue\n");
    for a in extra {
        s.push_str(&format!("#SBATCH {a}\n"));
    }
    s.push_str(&format!(
        "exec {} sweep run-task {}\n",
        sh_quote(&exe.display().to_string()),
        sh_quote(&dir.display().to_string())
    ));
    s
}

/// `s` as one single-quoted shell word.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn run_slurm(
    exe: &Path,
    dir: &Path,
    s: &Sweep,
    extra: &[String],
    no_wait: bool,
    json: bool,
) -> Result<()> {
    let dir = &dir
        .canonicalize()
        .with_context(|| format!("{}", dir.display()))?;
    let todo: Vec<usize> = s
        .runs
        .iter()
        .filter(|r| !sweep::is_finished(dir, r))
        .map(|r| r.index)
        .collect();
    if todo.is_empty() {
        eprintln!("all {} runs finished already", s.runs.len());
        return collect(dir, s, json);
    }
    std::fs::create_dir_all(dir.join("slurm"))?;
    let mut args = s.slurm_args.clone();
    args.extend(extra.iter().cloned());
    let script = dir.join("slurm").join("sweep.sbatch");
    crate::io::atomic_write(&script, sbatch_script(exe, dir, &todo, &args).as_bytes())?;
    let out = Command::new("sbatch")
        .arg("--parsable")
        .arg(&script)
        .output()
        .context("running sbatch (is Slurm installed here?)")?;
    if !out.status.success() {
        bail!(
            "sbatch {}: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let job = String::from_utf8_lossy(&out.stdout)
        .trim()
        .split(';')
        .next()
        .unwrap_or("")
        .to_string();
    eprintln!(
        "submitted job array {job} ({} tasks): {}",
        todo.len(),
        script.display()
    );
    if no_wait {
        eprintln!(
            "follow with `plrnn sweep status {0}`; when done, `plrnn sweep collect {0}`",
            dir.display()
        );
        return Ok(());
    }
    let pb = bar(s.runs.len() as u64);
    let mut squeue_failures = 0;
    loop {
        let c = sweep::status_counts(dir, s);
        pb.set_position((c.done + c.failed) as u64);
        pb.set_message(format!("{} running", c.running));
        let q = Command::new("squeue")
            .args(["-h", "-j", &job, "-o", "%i"])
            .output();
        match q {
            Ok(o) if o.status.success() => {
                squeue_failures = 0;
                if String::from_utf8_lossy(&o.stdout).trim().is_empty() {
                    break;
                }
            }
            // A controller that does not answer for a while (a restart, a busy cluster) is
            // waited for; after two minutes of no answers the sweep stops following the job.
            _ => {
                squeue_failures += 1;
                if squeue_failures >= 60 {
                    pb.finish_and_clear();
                    eprintln!(
                        "squeue has not answered for 2 minutes; stopped following job {job}: \
                         `plrnn sweep status {0}`, then `plrnn sweep collect {0}`",
                        dir.display()
                    );
                    break;
                }
            }
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    pb.finish_and_clear();
    collect(dir, s, json)
}
