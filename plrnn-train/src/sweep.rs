//! Many training runs from one sweep file: grid expansion, one folder per run, local or Slurm
//! execution, and the collected table (`plrnn sweep`).
//!
//! A sweep file (TOML; unknown keys are errors; every path is relative to the file):
//!
//! ```toml
//! method = "vi"                 # optional (default vi); may also be a grid key
//! restarts = 2                  # optional: `plrnn train --restarts`; may also be a grid key
//! [train]                       # `plrnn train` configuration keys shared by every run
//! epochs = 50
//! [grid]                        # every combination of these lists is one run per data set
//! seed = [0, 1, 2]
//! [[data]]                      # one entry per data set
//! name = "l63"
//! train = ["l63_train.npy"]     # several files = several trials
//! test = "l63_test.npy"         # optional: judged by `plrnn evaluate`'s default protocol
//! inputs = ["stim.csv"]         # optional
//! embed = "auto"                # optional: `plrnn train --embed` (auto, DIM,LAG)
//! holdout = 0.1                 # optional: `plrnn train --holdout`
//! [data.config]                 # optional: configuration keys for this data set, over [train]
//! time_budget_secs = 300
//! [slurm]                       # optional: extra sbatch options of the job array
//! args = ["--partition=short", "--time=00:30:00", "--cpus-per-task=2"]
//! ```
//!
//! Every run executes `plrnn train` and then (with a test file) `plrnn evaluate` as child
//! processes of the same binary, with the run's generated configuration, so a run is the same
//! computation on this machine and on a Slurm node, and an interrupted run resumes from its
//! checkpoint (`--resume`) bit-exactly; a run with `restarts` > 1 starts over instead (a fit
//! with restarts does not resume).
//!
//! Layout of the output folder `DIR`: `sweep.json` (the expanded runs), `runs/ID/` (per run:
//! `config.toml`, `train.log`, `model.plrnn` with its `.ckpt`, `.metrics.json` and the other
//! files `plrnn train` writes, `eval.json`, `eval.log`, `started.json`, `result.json`),
//! `results.csv` / `results.json`, `best/NAME.plrnn`, `report.md`, `report.png`.
//!
//! A run's status: **pending** (not started), **running** (`started.json` but no `result.json`:
//! running now, or interrupted — a repeat resumes it), **failed** (a child process failed; the
//! error is the last line of its log), **collapsed** (training finished but the held-out report
//! of `plrnn train` says the kept model collapsed, [`EvalReport::collapsed`]: a generated
//! channel's std below 0.2 × or above 5 × the data's, or a regular model of chaotic data),
//! **ok** otherwise.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::io::atomic_write;
use crate::metrics::EvalReport;

/// A bad sweep file or sweep folder: the file, the key (or `-`) and the problem.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {key}: {msg}")]
pub struct SweepError {
    /// The sweep file or sweep folder.
    pub file: String,
    /// The key at fault (`-` when the problem is not one key).
    pub key: String,
    /// What is wrong.
    pub msg: String,
}

fn err(file: &Path, key: &str, msg: impl Into<String>) -> SweepError {
    SweepError {
        file: file.display().to_string(),
        key: key.to_string(),
        msg: msg.into(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    method: Option<String>,
    restarts: Option<i64>,
    #[serde(default)]
    train: toml::Table,
    #[serde(default)]
    grid: toml::Table,
    #[serde(default)]
    data: Vec<RawData>,
    slurm: Option<RawSlurm>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawData {
    name: String,
    train: Vec<PathBuf>,
    test: Option<PathBuf>,
    #[serde(default)]
    inputs: Vec<PathBuf>,
    embed: Option<String>,
    holdout: Option<f64>,
    /// `[data.train_config]`: configuration keys for this data set only, over `[train]`.
    #[serde(default, rename = "config")]
    train_config: toml::Table,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlurm {
    #[serde(default)]
    args: Vec<String>,
}

/// One run of a sweep: what `plrnn train` and `plrnn evaluate` get.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// Position in the sweep (the Slurm array task id).
    pub index: usize,
    /// Folder name under `runs/`, unique in the sweep.
    pub id: String,
    /// Data set name.
    pub data: String,
    /// The grid values of this run, as written in TOML, in the grid's key order.
    pub params: Vec<(String, String)>,
    /// Training method (`vi` or `bptt`).
    pub method: String,
    /// The training configuration file's text.
    pub config: String,
    /// Training files (absolute).
    pub train: Vec<PathBuf>,
    /// Test file (absolute), if any.
    pub test: Option<PathBuf>,
    /// Input files (absolute).
    pub inputs: Vec<PathBuf>,
    /// `plrnn train --embed` of this data set (`auto`, `DIM,LAG`), if given.
    #[serde(default)]
    pub embed: Option<String>,
    /// `plrnn train --holdout` of this data set, if given.
    #[serde(default)]
    pub holdout: Option<f64>,
    /// `plrnn train --restarts`, if given (top level or grid).
    #[serde(default)]
    pub restarts: Option<usize>,
}

/// A parsed and checked sweep: every run, expanded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    /// The sweep file it came from.
    pub file: PathBuf,
    /// The grid keys, in order (the table's columns).
    pub grid_keys: Vec<String>,
    /// Extra `sbatch` options from the file's `[slurm]` section.
    pub slurm_args: Vec<String>,
    /// The runs: data sets in file order, each with the grid's combinations.
    pub runs: Vec<RunSpec>,
}

fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Checks a training configuration table for a method by the trainers' own parsers.
fn check_config(method: &str, table: &toml::Table) -> Result<String, String> {
    let text = toml::to_string(table).map_err(|e| e.to_string())?;
    match method {
        "vi" => {
            crate::vi::TrainConfig::from_toml(&text)
                .map_err(|e| e.to_string())?
                .validate()
                .map_err(|e| e.to_string())?;
        }
        "bptt" => {
            crate::bptt::BpttConfig::from_toml(&text)
                .map_err(|e| e.to_string())?
                .validate()
                .map_err(|e| e.to_string())?;
        }
        m => return Err(format!("unknown method `{m}` (vi or bptt)")),
    }
    Ok(text)
}

impl Sweep {
    /// Reads and checks a sweep file: unknown keys, an empty grid or list, missing data files,
    /// duplicate names and invalid training configurations are errors naming the key.
    pub fn load(file: &Path) -> Result<Self, SweepError> {
        let text = std::fs::read_to_string(file).map_err(|e| err(file, "-", e.to_string()))?;
        let base = file
            .canonicalize()
            .map_err(|e| err(file, "-", e.to_string()))?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        Self::parse(&text, file, &base)
    }

    /// Parses sweep-file text; relative paths are taken from `base`. `file` names the source
    /// in errors.
    pub fn parse(text: &str, file: &Path, base: &Path) -> Result<Self, SweepError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            err(
                file,
                "-",
                e.to_string().trim().replace('\n', " ").replace("  ", " "),
            )
        })?;
        if raw.data.is_empty() {
            return Err(err(file, "data", "no [[data]] entries"));
        }
        if raw.grid.is_empty() {
            return Err(err(
                file,
                "grid",
                "no grid keys; give at least one list, e.g. seed = [0]",
            ));
        }
        let mut axes: Vec<(String, Vec<toml::Value>)> = Vec::new();
        for (k, v) in &raw.grid {
            let list = v
                .as_array()
                .ok_or_else(|| err(file, &format!("grid.{k}"), "must be a list"))?;
            if list.is_empty() {
                return Err(err(file, &format!("grid.{k}"), "empty list"));
            }
            for (i, a) in list.iter().enumerate() {
                if list[..i].contains(a) {
                    return Err(err(
                        file,
                        &format!("grid.{k}"),
                        format!("value {a} given twice"),
                    ));
                }
            }
            if raw.train.contains_key(k) {
                return Err(err(
                    file,
                    &format!("grid.{k}"),
                    "also set in [train]; give it in one place",
                ));
            }
            axes.push((k.clone(), list.clone()));
        }
        if raw.train.contains_key("method") {
            return Err(err(
                file,
                "train.method",
                "the method is a top-level key (or a grid key)",
            ));
        }
        if raw.method.is_some() && raw.grid.contains_key("method") {
            return Err(err(
                file,
                "grid.method",
                "also set at the top level; give it in one place",
            ));
        }
        if raw.train.contains_key("restarts") {
            return Err(err(
                file,
                "train.restarts",
                "restarts is a top-level key (or a grid key)",
            ));
        }
        if raw.restarts.is_some() && raw.grid.contains_key("restarts") {
            return Err(err(
                file,
                "grid.restarts",
                "also set at the top level; give it in one place",
            ));
        }
        let check_restarts = |v: i64, key: &str| -> Result<usize, SweepError> {
            let max = crate::fit::MAX_RESTARTS;
            usize::try_from(v)
                .ok()
                .filter(|r| (1..=max).contains(r))
                .ok_or_else(|| err(file, key, format!("must be in 1..={max}, got {v}")))
        };
        let top_restarts = raw
            .restarts
            .map(|v| check_restarts(v, "restarts"))
            .transpose()?;
        let mut names: Vec<&str> = Vec::new();
        let resolve = |p: &Path, key: &str| -> Result<PathBuf, SweepError> {
            let full = base.join(p);
            if !full.is_file() {
                return Err(err(file, key, format!("{}: no such file", full.display())));
            }
            Ok(full)
        };
        let mut datas = Vec::new();
        for (i, d) in raw.data.iter().enumerate() {
            let key = format!("data[{i}]");
            if d.name.is_empty() || sanitize(&d.name) != d.name {
                return Err(err(
                    file,
                    &format!("{key}.name"),
                    format!(
                        "`{}`: use letters, digits, '-', '.' or '_' (it names files)",
                        d.name
                    ),
                ));
            }
            if names.contains(&d.name.as_str()) {
                return Err(err(
                    file,
                    &format!("{key}.name"),
                    format!("`{}` given twice", d.name),
                ));
            }
            names.push(&d.name);
            if d.train.is_empty() {
                return Err(err(file, &format!("{key}.train"), "no training files"));
            }
            let train = d
                .train
                .iter()
                .map(|p| resolve(p, &format!("{key}.train")))
                .collect::<Result<Vec<_>, _>>()?;
            let test = d
                .test
                .as_ref()
                .map(|p| resolve(p, &format!("{key}.test")))
                .transpose()?;
            let inputs = d
                .inputs
                .iter()
                .map(|p| resolve(p, &format!("{key}.inputs")))
                .collect::<Result<Vec<_>, _>>()?;
            if !inputs.is_empty() && inputs.len() != train.len() {
                return Err(err(
                    file,
                    &format!("{key}.inputs"),
                    format!("{} files for {} training files", inputs.len(), train.len()),
                ));
            }
            if let Some(e) = &d.embed {
                e.parse::<crate::embed::EmbedSpec>()
                    .map_err(|x| err(file, &format!("{key}.embed"), x.to_string()))?;
            }
            if let Some(h) = d.holdout {
                if !(0.0..=0.9).contains(&h) {
                    return Err(err(
                        file,
                        &format!("{key}.holdout"),
                        format!("{h} is not in [0, 0.9]"),
                    ));
                }
            }
            for k in d.train_config.keys() {
                if raw.grid.contains_key(k) {
                    return Err(err(
                        file,
                        &format!("{key}.config.{k}"),
                        "also a grid key; give it in one place",
                    ));
                }
            }
            datas.push((
                d.name.clone(),
                train,
                test,
                inputs,
                d.embed.clone(),
                d.holdout,
                &d.train_config,
            ));
        }
        // Every combination, the last key varying fastest.
        let mut combos: Vec<Vec<(String, toml::Value)>> = vec![Vec::new()];
        for (k, list) in &axes {
            let mut next = Vec::with_capacity(combos.len() * list.len());
            for c in &combos {
                for v in list {
                    let mut c = c.clone();
                    c.push((k.clone(), v.clone()));
                    next.push(c);
                }
            }
            combos = next;
        }
        let mut runs = Vec::new();
        for (name, train, test, inputs, embed, holdout, own) in &datas {
            for combo in &combos {
                let mut method = raw.method.clone().unwrap_or_else(|| "vi".into());
                let mut restarts = top_restarts;
                let mut table = raw.train.clone();
                table.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
                for (k, v) in combo {
                    if k == "method" {
                        method = v
                            .as_str()
                            .ok_or_else(|| err(file, "grid.method", "must be strings"))?
                            .to_string();
                    } else if k == "restarts" {
                        let v = v
                            .as_integer()
                            .ok_or_else(|| err(file, "grid.restarts", "must be integers"))?;
                        restarts = Some(check_restarts(v, "grid.restarts")?);
                    } else {
                        table.insert(k.clone(), v.clone());
                    }
                }
                let key = if raw.grid.contains_key("method") {
                    "grid.method"
                } else {
                    "method"
                };
                if method != "vi" && method != "bptt" {
                    return Err(err(
                        file,
                        key,
                        format!("unknown method `{method}` (vi or bptt)"),
                    ));
                }
                let config = check_config(&method, &table)
                    .map_err(|e| err(file, "train/grid", format!("{method}: {e}")))?;
                let params: Vec<(String, String)> = combo
                    .iter()
                    .map(|(k, v)| (k.clone(), value_text(v)))
                    .collect();
                let mut id = name.clone();
                for (k, v) in &params {
                    let _ = write!(id, "__{}-{}", sanitize(k), sanitize(v));
                }
                runs.push(RunSpec {
                    index: runs.len(),
                    id,
                    data: name.clone(),
                    params,
                    method,
                    config,
                    train: train.clone(),
                    test: test.clone(),
                    inputs: inputs.clone(),
                    embed: embed.clone(),
                    holdout: *holdout,
                    restarts,
                });
            }
        }
        Ok(Sweep {
            file: file.to_path_buf(),
            grid_keys: axes.into_iter().map(|(k, _)| k).collect(),
            slurm_args: raw.slurm.map(|s| s.args).unwrap_or_default(),
            runs,
        })
    }

    /// Prepares `dir`: writes `sweep.json` and each run's folder with its `config.toml`.
    /// A folder already holding a different configuration for the same run is an error (the
    /// sweep file changed; use a new folder).
    pub fn prepare(&self, dir: &Path) -> Result<(), SweepError> {
        let io = |e: std::io::Error| err(dir, "-", e.to_string());
        std::fs::create_dir_all(dir.join("runs")).map_err(io)?;
        for r in &self.runs {
            let rd = run_dir(dir, r);
            std::fs::create_dir_all(&rd).map_err(io)?;
            let cfg = rd.join("config.toml");
            match std::fs::read_to_string(&cfg) {
                Ok(old) if old != r.config => {
                    return Err(err(
                        &cfg,
                        "-",
                        "holds a different configuration for this run (the sweep file changed); \
                         use a new --out folder",
                    ));
                }
                Ok(_) => {}
                Err(_) => atomic_write(&cfg, r.config.as_bytes()).map_err(io)?,
            }
        }
        let json = serde_json::to_vec_pretty(self).map_err(|e| err(dir, "-", e.to_string()))?;
        atomic_write(&dir.join("sweep.json"), &json).map_err(io)
    }

    /// Reads the `sweep.json` that [`Sweep::prepare`] wrote into `dir`.
    pub fn open(dir: &Path) -> Result<Self, SweepError> {
        crate::io::read_json(&dir.join("sweep.json")).map_err(|e| {
            err(
                &dir.join("sweep.json"),
                "-",
                format!("{e} (not a sweep folder?)"),
            )
        })
    }
}

/// The folder of one run.
pub fn run_dir(dir: &Path, run: &RunSpec) -> PathBuf {
    dir.join("runs").join(&run.id)
}

/// Where and how a run was executed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    /// `local` or `slurm`.
    pub executor: String,
    /// Slurm array job id.
    pub slurm_job_id: Option<String>,
    /// Slurm array task id.
    pub slurm_array_task_id: Option<String>,
}

impl Placement {
    /// A local run.
    pub fn local() -> Self {
        Placement {
            executor: "local".into(),
            ..Default::default()
        }
    }

    /// A Slurm array task, from the environment Slurm sets.
    pub fn from_slurm_env() -> Self {
        Placement {
            executor: "slurm".into(),
            slurm_job_id: std::env::var("SLURM_ARRAY_JOB_ID").ok(),
            slurm_array_task_id: std::env::var("SLURM_ARRAY_TASK_ID").ok(),
        }
    }
}

/// The outcome of one run, `runs/ID/result.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// `ok`, `collapsed` or `failed`.
    pub status: String,
    /// The error of a failed run.
    pub error: Option<String>,
    /// Where it ran.
    pub placement: Placement,
    /// Wall time of the last attempt (train + evaluate), seconds.
    pub wall_secs: f64,
}

/// Whether a run is finished (has a result).
pub fn is_finished(dir: &Path, run: &RunSpec) -> bool {
    run_dir(dir, run).join("result.json").is_file()
}

fn last_line(path: &Path) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| {
            t.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::to_string)
        })
        .unwrap_or_else(|| format!("see {}", path.display()))
}

/// The held-out report `plrnn train` wrote next to the model, with its training seconds.
#[derive(Deserialize)]
struct TrainMetrics {
    seconds: f64,
    held_out: Option<EvalReport>,
}

fn read_train_metrics(rd: &Path) -> Option<TrainMetrics> {
    crate::io::read_json(&rd.join("model.plrnn.metrics.json")).ok()
}

/// Executes one run with the `plrnn` binary `exe` unless it is finished: `plrnn train` (resuming
/// from the run's checkpoint if an earlier attempt left one), then `plrnn evaluate` on the test
/// file; writes `result.json`. Returns the run's wall seconds, or `None` if it was skipped.
/// Only I/O errors of the sweep folder itself are errors; a failing child is a failed run.
pub fn execute_run(
    exe: &Path,
    dir: &Path,
    run: &RunSpec,
    placement: &Placement,
) -> std::io::Result<Option<f64>> {
    if is_finished(dir, run) {
        return Ok(None);
    }
    let rd = run_dir(dir, run);
    let t0 = Instant::now();
    atomic_write(
        &rd.join("started.json"),
        &serde_json::to_vec(placement).map_err(std::io::Error::other)?,
    )?;
    let model = rd.join("model.plrnn");
    let ckpt = rd.join("model.plrnn.ckpt");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(rd.join("train.log"))?;
    let mut cmd = Command::new(exe);
    cmd.arg("train")
        .arg("--method")
        .arg(&run.method)
        .arg("--config")
        .arg(rd.join("config.toml"))
        .arg("--data")
        .args(&run.train)
        .arg("--out")
        .arg(&model);
    if !run.inputs.is_empty() {
        cmd.arg("--inputs").args(&run.inputs);
    }
    if let Some(e) = &run.embed {
        cmd.arg("--embed").arg(e);
    }
    if let Some(h) = run.holdout {
        cmd.arg("--holdout").arg(h.to_string());
    }
    if let Some(r) = run.restarts {
        cmd.arg("--restarts").arg(r.to_string());
    }
    if ckpt.is_file() && !model.is_file() {
        cmd.arg("--resume").arg(&ckpt);
    }
    let status = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .status()?;
    let mut error = None;
    if !status.success() {
        error = Some(format!(
            "plrnn train: {} ({})",
            last_line(&rd.join("train.log")),
            status
        ));
    }
    if let (None, Some(test)) = (&error, &run.test) {
        let out = Command::new(exe)
            .arg("evaluate")
            .arg("--model")
            .arg(&model)
            .arg("--test")
            .arg(test)
            .arg("--json")
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(rd.join("eval.log"))?)
            .output()?;
        if out.status.success() {
            atomic_write(&rd.join("eval.json"), &out.stdout)?;
        } else {
            error = Some(format!(
                "plrnn evaluate: {} ({})",
                last_line(&rd.join("eval.log")),
                out.status
            ));
        }
    }
    let collapsed = error.is_none()
        && read_train_metrics(&rd)
            .and_then(|m| m.held_out)
            .is_some_and(|r| r.collapsed());
    let wall = t0.elapsed().as_secs_f64();
    let result = RunResult {
        status: match (&error, collapsed) {
            (Some(_), _) => "failed",
            (None, true) => "collapsed",
            (None, false) => "ok",
        }
        .into(),
        error,
        placement: placement.clone(),
        wall_secs: wall,
    };
    atomic_write(
        &rd.join("result.json"),
        &serde_json::to_vec_pretty(&result).map_err(std::io::Error::other)?,
    )?;
    Ok(Some(wall))
}

/// One row of `results.csv`.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Run folder name.
    pub id: String,
    /// Data set name.
    pub data: String,
    /// Method.
    pub method: String,
    /// The grid values, in the grid's key order.
    pub params: Vec<(String, String)>,
    /// pending / running / ok / collapsed / failed.
    pub status: String,
    /// The error of a failed run.
    pub error: Option<String>,
    /// Where it ran.
    pub placement: Option<Placement>,
    /// Wall time of the run (train + evaluate), seconds.
    pub wall_secs: Option<f64>,
    /// Training seconds reported by `plrnn train`.
    pub train_secs: Option<f64>,
    /// Held-out score of the kept model (D_stsp + 4 D_H on the held-out tail; lower is better).
    pub held_out_score: Option<f64>,
    /// Test D_stsp (with a test file).
    pub d_stsp: Option<f64>,
    /// Test D_H.
    pub d_h: Option<f64>,
    /// Test power-spectrum correlation.
    pub psc: Option<f64>,
    /// Largest Lyapunov exponent of the model (per step), from the test evaluation.
    pub lambda_max: Option<f64>,
}

/// Counts of runs by status.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StatusCounts {
    /// Finished runs (ok or collapsed).
    pub done: usize,
    /// Of those, collapsed.
    pub collapsed: usize,
    /// Started, not finished.
    pub running: usize,
    /// Failed.
    pub failed: usize,
    /// Not started.
    pub pending: usize,
}

/// The status of every run of the sweep in `dir`.
pub fn status_counts(dir: &Path, sweep: &Sweep) -> StatusCounts {
    let mut c = StatusCounts::default();
    for row in rows(dir, sweep) {
        match row.status.as_str() {
            "ok" => c.done += 1,
            "collapsed" => {
                c.done += 1;
                c.collapsed += 1
            }
            "failed" => c.failed += 1,
            "running" => c.running += 1,
            _ => c.pending += 1,
        }
    }
    c
}

fn num(v: &serde_json::Value, key: &str) -> Option<f64> {
    v.get(key).and_then(serde_json::Value::as_f64)
}

/// The table's rows, from the run folders.
pub fn rows(dir: &Path, sweep: &Sweep) -> Vec<Row> {
    sweep
        .runs
        .iter()
        .map(|r| {
            let rd = run_dir(dir, r);
            let result: Option<RunResult> = crate::io::read_json(&rd.join("result.json")).ok();
            let status = match &result {
                Some(res) => res.status.clone(),
                None if rd.join("started.json").is_file() => "running".into(),
                None => "pending".into(),
            };
            let finished = result.as_ref().is_some_and(|res| res.status != "failed");
            let tm = if finished {
                read_train_metrics(&rd)
            } else {
                None
            };
            let eval: Option<serde_json::Value> = if finished {
                crate::io::read_json(&rd.join("eval.json")).ok()
            } else {
                None
            };
            let e = eval.as_ref();
            Row {
                id: r.id.clone(),
                data: r.data.clone(),
                method: r.method.clone(),
                params: r.params.clone(),
                status,
                error: result.as_ref().and_then(|res| res.error.clone()),
                placement: result.as_ref().map(|res| res.placement.clone()),
                wall_secs: result.as_ref().map(|res| res.wall_secs),
                train_secs: tm.as_ref().map(|m| m.seconds),
                held_out_score: tm
                    .as_ref()
                    .and_then(|m| m.held_out.as_ref())
                    .map(EvalReport::score),
                d_stsp: e.and_then(|v| num(v, "d_stsp")),
                d_h: e.and_then(|v| num(v, "d_h")),
                psc: e.and_then(|v| num(v, "psc")),
                lambda_max: e.and_then(|v| num(v, "lyapunov_max")),
            }
        })
        .collect()
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x}")).unwrap_or_default()
}

/// `results.csv`: one row per run; the grid keys are columns (`method` once).
pub fn to_csv(sweep: &Sweep, rows: &[Row]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut head = vec!["data".to_string()];
    let method_in_grid = sweep.grid_keys.iter().any(|k| k == "method");
    if !method_in_grid {
        head.push("method".into());
    }
    head.extend(sweep.grid_keys.iter().cloned());
    for h in [
        "status",
        "executor",
        "slurm_job_id",
        "slurm_array_task_id",
        "wall_secs",
        "train_secs",
        "held_out_score",
        "d_stsp",
        "d_h",
        "psc",
        "lambda_max",
        "error",
        "run",
    ] {
        head.push(h.into());
    }
    let _ = w.write_record(&head);
    for r in rows {
        let mut rec = vec![r.data.clone()];
        if !method_in_grid {
            rec.push(r.method.clone());
        }
        rec.extend(r.params.iter().map(|(_, v)| v.clone()));
        let p = r.placement.clone().unwrap_or_default();
        rec.extend([
            r.status.clone(),
            p.executor,
            p.slurm_job_id.unwrap_or_default(),
            p.slurm_array_task_id.unwrap_or_default(),
            opt(r.wall_secs),
            opt(r.train_secs),
            opt(r.held_out_score),
            opt(r.d_stsp),
            opt(r.d_h),
            opt(r.psc),
            opt(r.lambda_max),
            r.error.clone().unwrap_or_default(),
            r.id.clone(),
        ]);
        let _ = w.write_record(&rec);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// The best run per data set: the lowest held-out score among the `ok` runs (a run without a
/// finite score counts as +∞; ties go to the earlier run).
pub fn best_per_data(rows: &[Row]) -> BTreeMap<String, usize> {
    let key = |r: &Row| {
        r.held_out_score
            .filter(|s| s.is_finite())
            .unwrap_or(f64::INFINITY)
    };
    let mut best: BTreeMap<String, usize> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        if r.status != "ok" {
            continue;
        }
        let better = match best.get(&r.data) {
            Some(&j) => key(r) < key(&rows[j]),
            None => true,
        };
        if better {
            best.insert(r.data.clone(), i);
        }
    }
    best
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    })
}

fn fmt3(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.3}")).unwrap_or_else(|| "–".into())
}

/// One line of the summary table: a data set and a method.
#[derive(Clone, Debug, Serialize)]
pub struct SummaryLine {
    /// Data set.
    pub data: String,
    /// Method.
    pub method: String,
    /// Runs.
    pub runs: usize,
    /// Finished runs (ok + collapsed).
    pub done: usize,
    /// Collapsed runs.
    pub collapsed: usize,
    /// Failed runs.
    pub failed: usize,
    /// Median and worst test D_stsp over finished runs (held-out report's when no test file).
    pub d_stsp: (Option<f64>, Option<f64>),
    /// Median and worst test D_H.
    pub d_h: (Option<f64>, Option<f64>),
    /// Median wall seconds per run.
    pub wall_secs: Option<f64>,
}

/// The summary per data set × method, in sweep order.
pub fn summary(rows: &[Row]) -> Vec<SummaryLine> {
    let mut keys: Vec<(String, String)> = Vec::new();
    for r in rows {
        let k = (r.data.clone(), r.method.clone());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .map(|(data, method)| {
            let sel: Vec<&Row> = rows
                .iter()
                .filter(|r| r.data == data && r.method == method)
                .collect();
            let fin: Vec<&&Row> = sel
                .iter()
                .filter(|r| r.status == "ok" || r.status == "collapsed")
                .collect();
            let worst = |v: &[f64]| v.iter().copied().reduce(f64::max);
            let mut ds: Vec<f64> = fin.iter().filter_map(|r| r.d_stsp).collect();
            let mut dh: Vec<f64> = fin.iter().filter_map(|r| r.d_h).collect();
            let mut wall: Vec<f64> = fin.iter().filter_map(|r| r.wall_secs).collect();
            let d_stsp_worst = worst(&ds);
            let d_h_worst = worst(&dh);
            SummaryLine {
                runs: sel.len(),
                done: fin.len(),
                collapsed: sel.iter().filter(|r| r.status == "collapsed").count(),
                failed: sel.iter().filter(|r| r.status == "failed").count(),
                d_stsp: (median(&mut ds), d_stsp_worst),
                d_h: (median(&mut dh), d_h_worst),
                wall_secs: median(&mut wall),
                data,
                method,
            }
        })
        .collect()
}

/// The summary as a markdown table (the table of BENCHMARKS.md).
pub fn summary_markdown(lines: &[SummaryLine]) -> String {
    let mut s = String::from(
        "| data | method | runs | D_stsp median | D_stsp worst | D_H median | D_H worst | collapsed | failed | time per run (s, median) |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for l in lines {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            l.data,
            l.method,
            l.runs,
            fmt3(l.d_stsp.0),
            fmt3(l.d_stsp.1),
            fmt3(l.d_h.0),
            fmt3(l.d_h.1),
            l.collapsed,
            l.failed,
            l.wall_secs
                .map(|x| format!("{x:.1}"))
                .unwrap_or_else(|| "–".into()),
        );
    }
    s
}

/// Rebuilds `results.csv`, `results.json`, `best/NAME.plrnn`, `report.md` and `report.png` in
/// `dir` from the run folders; returns the rows.
pub fn collect(dir: &Path, sweep: &Sweep) -> std::io::Result<Vec<Row>> {
    let rows = rows(dir, sweep);
    atomic_write(&dir.join("results.csv"), to_csv(sweep, &rows).as_bytes())?;
    atomic_write(
        &dir.join("results.json"),
        &serde_json::to_vec_pretty(&rows).map_err(std::io::Error::other)?,
    )?;
    let best = best_per_data(&rows);
    if !best.is_empty() {
        std::fs::create_dir_all(dir.join("best"))?;
    }
    let mut md = String::from("# Sweep report\n\n");
    let _ = writeln!(md, "Sweep file: `{}`\n", sweep.file.display());
    md.push_str(&summary_markdown(&summary(&rows)));
    md.push_str("\nBest model per data set (lowest held-out score among the ok runs):\n\n");
    for (data, &i) in &best {
        let src = run_dir(dir, &sweep.runs[i]).join("model.plrnn");
        let bytes = crate::io::read_file(&src)?;
        atomic_write(&dir.join("best").join(format!("{data}.plrnn")), &bytes)?;
        let _ = writeln!(
            md,
            "- `best/{data}.plrnn`: run `{}` (held-out score {})",
            rows[i].id,
            fmt3(rows[i].held_out_score)
        );
    }
    md.push_str("\n![metric spread per data set](report.png)\n");
    atomic_write(&dir.join("report.md"), md.as_bytes())?;
    if let Ok(png) = crate::plot::render_spread_png(&spread_points(&rows)) {
        atomic_write(&dir.join("report.png"), &png)?;
    }
    Ok(rows)
}

/// Points of the spread plot: (data set, method, D_stsp, D_H) of every finished run with
/// test metrics.
fn spread_points(rows: &[Row]) -> Vec<(String, String, f64, f64)> {
    rows.iter()
        .filter(|r| r.status == "ok" || r.status == "collapsed")
        .filter_map(|r| Some((r.data.clone(), r.method.clone(), r.d_stsp?, r.d_h?)))
        .collect()
}

#[cfg(test)]
mod tests;
