//! `plrnn train` and `plrnn demo`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use plrnn_nostd::{ModelBuf, ValidModel};
use serde::Serialize;

use super::commands::print_report;
use super::input_err;
use crate::bptt::{self, BpttConfig};
use crate::data::{Dataset, Normalization};
use crate::metrics::{self, EvalProtocol, EvalReport, GmmOptions};
use crate::model::DesktopModel;
use crate::series::TimeSeries;
use crate::simulate::{self, SimOptions, System};
use crate::vi::{self, Checkpoint, Hooks, Progress, TrainConfig, TrainedModel, ValidConfig};

/// Training methods of `plrnn train`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// Variational inference (`vi`): encoder + reparameterised ELBO.
    Vi,
    /// Backpropagation through time with sparse teacher forcing (`bptt`).
    Bptt,
}

/// Options of `plrnn train`. Flags override the config file, which overrides the defaults.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Training data files (.csv/.npy); several files are several trials.
    #[arg(long, required = true, num_args = 1..)]
    pub data: Vec<PathBuf>,
    /// External inputs s_t (.csv/.npy; e.g. a stimulation pulse train), trial for trial with
    /// `--data`: the same number of trials, each with the same number of time steps. Learned as
    /// C s_t (VI only), taken as given (not z-scored). The held-out metrics that pick the best
    /// model run it with zero input.
    #[arg(long, num_args = 1..)]
    pub inputs: Vec<PathBuf>,
    /// Training method: `vi` (variational inference, the default) or `bptt` (backpropagation
    /// through time with sparse teacher forcing; see BENCHMARKS.md for the comparison).
    #[arg(long, value_enum, default_value = "vi")]
    pub method: Method,
    /// TOML configuration (unknown keys are errors); its keys are those of the method's
    /// configuration (`vi::TrainConfig` or `bptt::BpttConfig`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output model file.
    #[arg(long)]
    pub out: PathBuf,
    /// Latent size M.
    #[arg(long)]
    pub latent_dim: Option<usize>,
    /// Number of bases P.
    #[arg(long)]
    pub bases: Option<usize>,
    /// φ variant: relu, dendritic, clipped_dendritic.
    #[arg(long)]
    pub variant: Option<String>,
    /// Encoder: smoothing or mlp.
    #[arg(long)]
    pub encoder: Option<String>,
    /// Epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Wall-clock budget in seconds.
    #[arg(long)]
    pub time_budget: Option<f64>,
    /// Training sequence length.
    #[arg(long)]
    pub seq_len: Option<usize>,
    /// Sequences per update.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Adam learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Worker threads (0 = all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Share of each trial's end held out for the metrics that pick the best model.
    #[arg(long, default_value_t = 0.1)]
    pub holdout: f64,
    /// Checkpoint file (default: the output path with `.ckpt` appended).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Continue from this checkpoint.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Print the final metrics as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Reads the method's configuration (file, then command-line overrides). Overrides go through
/// TOML so that names, parsing and the unknown-key check match the config file exactly.
fn resolve<T>(a: &TrainArgs) -> Result<T>
where
    T: Default + serde::Serialize + serde::de::DeserializeOwned,
{
    let mut table = match &a.config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("{}: cannot read", p.display()))
                .map_err(input_err)?;
            let cfg: T = toml::from_str(&text)
                .map_err(|e| input_err(anyhow::anyhow!("{}: {e}", p.display())))?;
            toml::Table::try_from(&cfg).context("config to TOML")?
        }
        None => toml::Table::try_from(T::default()).context("config to TOML")?,
    };
    let mut lines = Vec::new();
    let q = |s: &str| format!("\"{}\"", s.replace('-', "_"));
    macro_rules! set {
        ($field:ident, $val:expr) => {
            if let Some(v) = $val {
                lines.push(format!("{} = {}", stringify!($field), v));
            }
        };
    }
    set!(latent_dim, a.latent_dim);
    set!(bases, a.bases);
    set!(variant, a.variant.as_deref().map(q));
    set!(encoder, a.encoder.as_deref().map(q));
    set!(epochs, a.epochs);
    set!(time_budget_secs, a.time_budget.map(|v| format!("{v:?}")));
    set!(seq_len, a.seq_len);
    set!(batch_size, a.batch);
    set!(learning_rate, a.lr.map(|v| format!("{v:?}")));
    set!(seed, a.seed);
    set!(threads, a.threads);
    let over: toml::Table = toml::from_str(&lines.join("\n"))
        .map_err(|e| input_err(anyhow::anyhow!("command-line option: {e}")))?;
    table.extend(over);
    toml::from_str(&toml::to_string(&table)?)
        .map_err(|e| input_err(anyhow::anyhow!("command-line option: {e}")))
}

/// The VI configuration of a `plrnn train` command line, validated.
fn resolve_config(a: &TrainArgs) -> Result<ValidConfig> {
    resolve::<TrainConfig>(a)?.validate().map_err(input_err)
}

/// Splits each trial into a training part and a held-out tail.
fn split_holdout(
    trials: &[TimeSeries],
    share: f64,
    seq_len: usize,
) -> (Vec<TimeSeries>, Vec<TimeSeries>) {
    let mut train = Vec::new();
    let mut held = Vec::new();
    for t in trials {
        let h = ((t.len() as f64) * share).round() as usize;
        // Keep the whole trial for training when the tail would be too short to judge
        // an attractor by, or the rest too short for one training sequence.
        if share <= 0.0 || h < 2000 || t.len() - h < seq_len {
            train.push(t.clone());
        } else {
            train.push(t.slice(0, t.len() - h));
            held.push(t.slice(t.len() - h, t.len()));
        }
    }
    (train, held)
}

/// The light protocol used during training to pick the best model: 20 trajectories (encoder
/// means at evenly spaced held-out times) of 500 burn-in + 1000 kept steps, binned D_stsp with
/// 30 bins and the legacy range (GMM with 2000 centres for N ≥ 5), D_H (σ = 20) on one long
/// trajectory. Score = D_stsp + 4·D_H, so an attractor with the right occupancy but the wrong
/// rhythm does not win. Lower is better; a diverged model scores +∞.
fn held_out_protocol() -> EvalProtocol {
    EvalProtocol {
        n_trajectories: 20,
        burn_in: 500,
        keep: 1000,
        pe_ns: vec![],
        rosenstein: None,
        lyapunov_steps: 1000,
        lyapunov_transient: 100,
        gmm: GmmOptions {
            n_centres: 2000,
            n_samples: 500,
            ..GmmOptions::default()
        },
        ..EvalProtocol::default()
    }
}

/// Score of a model on held-out data (lower is better), with the report behind it.
pub fn held_out_score(model: &TrainedModel, held: &TimeSeries) -> Option<(f64, EvalReport)> {
    let desk = DesktopModel::new(ValidModel::new(model.to_model_buf()).ok()?);
    score_of(&desk, held, &model.infer_states(held))
}

/// [`held_out_score`] for a model without an encoder (states inferred from the data through B).
pub fn held_out_score_buf(buf: &ModelBuf, held: &TimeSeries) -> Option<(f64, EvalReport)> {
    let desk = DesktopModel::new(ValidModel::new(buf.clone()).ok()?);
    let states = desk.infer_states(held);
    score_of(&desk, held, &states)
}

fn score_of(
    desk: &DesktopModel,
    held: &TimeSeries,
    states: &TimeSeries,
) -> Option<(f64, EvalReport)> {
    let report = metrics::evaluate(desk, held, states, &held_out_protocol()).ok()?;
    Some((report.score(), report))
}

/// What `plrnn train` writes next to the model.
#[derive(Serialize)]
struct TrainSummary<'a> {
    data: Vec<String>,
    epochs_done: usize,
    updates: u64,
    seconds: f64,
    kept: &'static str,
    best_epoch: Option<usize>,
    held_out: Option<&'a EvalReport>,
}

/// Trains on `train_trials` (already z-scored by `norm`), returning the model to export.
fn run_training(
    cfg: &ValidConfig,
    trials: &[TimeSeries],
    inputs: &[TimeSeries],
    held: &[TimeSeries],
    ckpt_path: &Path,
    resume_from: Option<Checkpoint>,
    quiet: bool,
) -> Result<vi::TrainOutcome> {
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // A second Ctrl-C would otherwise be ignored while the checkpoint is written; that is
        // what we want (losing nothing), so no escalation.
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    }
    let pb = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(cfg.epochs as u64)
    };
    pb.set_style(
        ProgressStyle::with_template(
            "epoch {pos}/{len} [{bar:30}] {msg} ({elapsed} elapsed, {eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let held_series = held.first().cloned();
    let pb2 = pb.clone();
    // The evaluator writes its latest held-out metrics here; the progress bar shows them.
    let latest = Arc::new(std::sync::Mutex::new(String::new()));
    let shown = latest.clone();
    let mut hooks = Hooks {
        on_progress: Some(Box::new(move |p: &Progress| {
            pb2.set_position(p.epoch as u64);
            let held = shown.lock().map(|s| s.clone()).unwrap_or_default();
            pb2.set_message(format!(
                "-ELBO {:.4}, {:.0} upd/s{held}",
                p.loss, p.updates_per_sec
            ));
        })),
        evaluator: held_series.map(|h| {
            let f: vi::train::EvaluatorFn<'_> = Box::new(move |m: &TrainedModel| {
                let r = held_out_score(m, &h);
                if let (Some((_, rep)), Ok(mut s)) = (&r, latest.lock()) {
                    *s = format!(", held-out D_stsp {:.3} D_H {:.3}", rep.d_stsp, rep.d_h);
                }
                r.map(|(score, _)| score)
            });
            f
        }),
        stop: Some(stop.clone()),
        checkpoint_path: Some(ckpt_path.to_owned()),
    };
    let out = match resume_from {
        Some(c) => vi::resume(trials, inputs, cfg, c, &mut hooks),
        None => vi::train_with_inputs(trials, inputs, cfg, &mut hooks),
    }
    .context("training")?;
    pb.finish_and_clear();
    Ok(out)
}

/// Exports a trained model with the data statistics attached.
fn export(model: &TrainedModel, norm: &Normalization) -> Result<DesktopModel> {
    export_buf(model.to_model_buf(), norm)
}

/// Attaches the data statistics to a model and validates it.
fn export_buf(mut buf: ModelBuf, norm: &Normalization) -> Result<DesktopModel> {
    buf.normalized = true;
    buf.data_mean = norm.mean.iter().map(|&v| v as f32).collect();
    buf.data_std = norm.std.iter().map(|&v| v as f32).collect();
    Ok(DesktopModel::new(
        ValidModel::new(buf).context("the trained model failed validation")?,
    ))
}

/// `plrnn train`.
pub fn train(a: TrainArgs) -> Result<()> {
    if a.method == Method::Bptt {
        return train_bptt(a);
    }
    let cfg = resolve_config(&a)?;
    let data = Dataset::load(&a.data).map_err(input_err)?;
    data.validate_min_len(cfg.seq_len).map_err(input_err)?;
    let inputs = load_inputs(&a.inputs, &data)?;
    let norm = Normalization::fit(&data);
    let data = data.normalized(&norm).map_err(input_err)?;
    let (trials, held) = split_holdout(data.trials(), a.holdout, cfg.seq_len);
    // Lengths are equal trial for trial, so the inputs are cut exactly where the data are.
    let (inputs, _) = split_holdout(&inputs, a.holdout, cfg.seq_len);
    let ckpt_path = a
        .checkpoint
        .clone()
        .unwrap_or_else(|| with_suffix(&a.out, ".ckpt"));
    let resume_from = match &a.resume {
        Some(p) => Some(Checkpoint::load(p).map_err(input_err)?),
        None => None,
    };
    eprintln!(
        "training {:?} (M={}, P={}) on {} trial(s), {} steps, {} held out; checkpoints -> {}",
        cfg.variant,
        cfg.latent_dim,
        cfg.effective_bases(),
        trials.len(),
        trials.iter().map(TimeSeries::len).sum::<usize>(),
        held.iter().map(TimeSeries::len).sum::<usize>(),
        ckpt_path.display()
    );
    let t0 = Instant::now();
    let outcome = run_training(
        &cfg,
        &trials,
        &inputs,
        &held,
        &ckpt_path,
        resume_from,
        false,
    )?;
    let secs = t0.elapsed().as_secs_f64();
    let (chosen, kept, best_epoch) = match &outcome.best {
        Some(b) => (&b.model, "best held-out score", Some(b.epoch)),
        None => (&outcome.model, "final", None),
    };
    let report = held
        .first()
        .and_then(|h| held_out_score(chosen, h))
        .map(|(_, r)| r);
    let model = export(chosen, &norm)?;
    let run = RunFacts {
        epochs_done: outcome.epochs_done,
        updates: outcome.updates,
        seconds: secs,
        kept,
        best_epoch,
        stopped: outcome.stopped,
    };
    write_outputs(
        &a,
        &model,
        &norm,
        &toml::to_string(cfg.get())?,
        run,
        report.as_ref(),
    )
}

/// How a training run went, for the summary `plrnn train` writes.
struct RunFacts {
    epochs_done: usize,
    updates: u64,
    seconds: f64,
    kept: &'static str,
    best_epoch: Option<usize>,
    stopped: bool,
}

/// Writes what every `plrnn train` writes, atomically: the model file, the resolved config
/// (`.config.toml`), the data statistics (`.norm.json`) and the run summary with the held-out
/// metrics (`.metrics.json`); then reports on stderr (and stdout with `--json`).
fn write_outputs(
    a: &TrainArgs,
    model: &DesktopModel,
    norm: &Normalization,
    resolved_config: &str,
    run: RunFacts,
    report: Option<&EvalReport>,
) -> Result<()> {
    model.save(&a.out).map_err(input_err)?;
    crate::io::atomic_write(
        &with_suffix(&a.out, ".config.toml"),
        resolved_config.as_bytes(),
    )?;
    crate::io::atomic_write(
        &with_suffix(&a.out, ".norm.json"),
        serde_json::to_string_pretty(norm)?.as_bytes(),
    )?;
    let summary = TrainSummary {
        data: a.data.iter().map(|p| p.display().to_string()).collect(),
        epochs_done: run.epochs_done,
        updates: run.updates,
        seconds: run.seconds,
        kept: run.kept,
        best_epoch: run.best_epoch,
        held_out: report,
    };
    crate::io::atomic_write(
        &with_suffix(&a.out, ".metrics.json"),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    eprintln!(
        "{} epochs, {} updates in {:.1} s{}; kept the {} model -> {}",
        run.epochs_done,
        run.updates,
        run.seconds,
        if run.stopped {
            " (stopped; resume with --resume)"
        } else {
            ""
        },
        run.kept,
        a.out.display()
    );
    if let Some(r) = report {
        eprintln!("held-out metrics (light protocol):");
        print_report(r);
    }
    if a.json {
        println!("{}", serde_json::to_string(&summary)?);
    }
    Ok(())
}

/// Reads `--inputs` and checks them against the data, trial for trial (none: no inputs).
fn load_inputs(paths: &[PathBuf], data: &Dataset) -> Result<Vec<TimeSeries>> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let inputs = Dataset::load(paths).map_err(input_err)?;
    if inputs.num_trials() != data.num_trials() {
        return Err(input_err(anyhow::anyhow!(
            "--inputs: {} hold {} trial(s), but --data holds {}; give one input series per data trial",
            paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
            inputs.num_trials(),
            data.num_trials()
        )));
    }
    for (i, (s, x)) in inputs.trials().iter().zip(data.trials()).enumerate() {
        if s.len() != x.len() {
            return Err(input_err(anyhow::anyhow!(
                "{}: {} time steps, but its data trial {} has {}; inputs and data must be equally long",
                inputs.sources()[i],
                s.len(),
                data.sources()[i],
                x.len()
            )));
        }
    }
    Ok(inputs.into_trials())
}

/// `plrnn train --method bptt`.
fn train_bptt(a: TrainArgs) -> Result<()> {
    if !a.inputs.is_empty() {
        return Err(input_err(anyhow::anyhow!(
            "--inputs needs --method vi: the BPTT trainer has no input matrix C"
        )));
    }
    let cfg = resolve::<BpttConfig>(&a)?.validate().map_err(input_err)?;
    let resume_from = match &a.resume {
        Some(p) => Some(bptt::BpttCheckpoint::load(p).map_err(input_err)?),
        None => None,
    };
    let data = Dataset::load(&a.data).map_err(input_err)?;
    data.validate_min_len(cfg.seq_len + 1).map_err(input_err)?;
    let norm = Normalization::fit(&data);
    let data = data.normalized(&norm).map_err(input_err)?;
    let (trials, held) = split_holdout(data.trials(), a.holdout, cfg.seq_len + 1);
    let ckpt_path = a
        .checkpoint
        .clone()
        .unwrap_or_else(|| with_suffix(&a.out, ".ckpt"));
    eprintln!(
        "training {:?} by BPTT (M={}, P={}) on {} trial(s), {} held out; checkpoints -> {}",
        cfg.variant,
        cfg.latent_dim,
        cfg.bases,
        trials.len(),
        held.iter().map(TimeSeries::len).sum::<usize>(),
        ckpt_path.display()
    );
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    }
    let pb = ProgressBar::new(cfg.epochs as u64);
    let mut progress = |epoch: usize, loss: f64| {
        pb.set_position(epoch as u64);
        pb.set_message(format!("loss {loss:.4e}"));
    };
    let held0 = held.first().cloned();
    let mut eval = |m: &ModelBuf| {
        held0
            .as_ref()
            .and_then(|h| held_out_score_buf(m, h).map(|r| r.0))
    };
    let hooks = bptt::BpttHooks {
        evaluator: if held.is_empty() {
            None
        } else {
            Some(&mut eval)
        },
        progress: Some(&mut progress),
        stop: Some(&stop),
        checkpoint: Some(&ckpt_path),
    };
    let t0 = Instant::now();
    let out = match resume_from {
        Some(c) => bptt::resume(&trials, &cfg, c, hooks),
        None => bptt::train_with(&trials, &cfg, hooks),
    }
    .context("training")?;
    pb.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();
    let (chosen, kept, best_epoch) = match &out.best {
        Some(b) => (&b.model, "best held-out score", Some(b.epoch)),
        None => (&out.model, "final", None),
    };
    let report = held
        .first()
        .and_then(|h| held_out_score_buf(chosen, h))
        .map(|(_, r)| r);
    let model = export_buf(chosen.clone(), &norm)?;
    let run = RunFacts {
        epochs_done: out.epochs_done,
        updates: out.updates as u64,
        seconds: secs,
        kept,
        best_epoch,
        stopped: out.stopped,
    };
    write_outputs(
        &a,
        &model,
        &norm,
        &toml::to_string(&*cfg)?,
        run,
        report.as_ref(),
    )
}

/// Options of `plrnn demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Output folder.
    #[arg(long, default_value = "plrnn-demo")]
    pub out: PathBuf,
    /// Training time budget in seconds.
    #[arg(long, default_value_t = 90.0)]
    pub time_budget: f64,
    /// Seed of simulation and training.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// The demo's training configuration: the trainer's defaults with a time budget.
pub fn demo_config(time_budget: f64, seed: u64) -> Result<ValidConfig> {
    let cfg = TrainConfig {
        time_budget_secs: Some(time_budget),
        seed,
        ..TrainConfig::default()
    };
    Ok(cfg.validate()?)
}

/// `plrnn demo`: simulate Lorenz-63, train, evaluate on a fresh trajectory, plot.
pub fn demo(a: DemoArgs) -> Result<()> {
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let t0 = Instant::now();
    let sim = |seed: u64| {
        simulate::simulate(
            &System::lorenz63(),
            &SimOptions {
                steps: 100_000,
                dt: 0.01,
                seed,
                ..SimOptions::default()
            },
        )
    };
    let train_raw = sim(a.seed)?;
    let test_raw = sim(a.seed + 1_000_003)?;
    crate::data::write_series(&a.out.join("train.npy"), &train_raw)?;
    crate::data::write_series(&a.out.join("test.npy"), &test_raw)?;
    eprintln!(
        "simulated Lorenz-63: 2 × 100 000 steps at dt = 0.01 ({:.1} s)",
        t0.elapsed().as_secs_f64()
    );
    let data = Dataset::from_series(train_raw, "lorenz63 (simulated)")?;
    let norm = Normalization::fit(&data);
    let data = data.normalized(&norm)?;
    let cfg = demo_config(a.time_budget, a.seed)?;
    let (trials, held) = split_holdout(data.trials(), 0.1, cfg.seq_len);
    eprintln!(
        "training for {:.0} s (M={}, P={}, {:?})",
        a.time_budget,
        cfg.latent_dim,
        cfg.effective_bases(),
        cfg.variant
    );
    let ckpt = a.out.join("model.plrnn.ckpt");
    let outcome = run_training(&cfg, &trials, &[], &held, &ckpt, None, false)?;
    let chosen = outcome.best.as_ref().map_or(&outcome.model, |b| &b.model);
    let model = export(chosen, &norm)?;
    let model_path = a.out.join("model.plrnn");
    model.save(&model_path)?;
    let report = super::commands::evaluate_model(&model, &test_raw, &EvalProtocol::default())?;
    crate::io::atomic_write(
        &a.out.join("metrics.json"),
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    // One long generated trajectory from a data-derived state, in data units, for the plot.
    let mut test_m = test_raw.clone();
    model.to_model_units(&mut test_m);
    let z0 = model.infer_states(&test_m.slice(0, 1000));
    let mut gen = metrics::generate(&model, &[z0.row(999).to_vec()], 0, 20_000)?.remove(0);
    model.to_data_units(&mut gen);
    crate::data::write_series(&a.out.join("generated.npy"), &gen)?;
    let png = a.out.join("attractor.png");
    crate::plot::plot_trajectories(
        &png,
        Some(&test_raw.slice(0, 20_000)),
        &gen,
        &crate::plot::PlotOptions {
            title: Some(format!(
                "Lorenz-63: true (blue) vs generated (orange); D_stsp {:.2}, D_H {:.3}",
                report.d_stsp, report.d_h
            )),
            ..Default::default()
        },
    )?;
    eprintln!("evaluation on a fresh Lorenz-63 trajectory (default protocol):");
    print_report(&report);
    eprintln!(
        "done in {:.0} s. Wrote {}: model.plrnn, metrics.json, attractor.png, generated.npy, train.npy, test.npy",
        t0.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(())
}
