//! `plrnn train` and `plrnn demo`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::commands::print_report;
use super::input_err;
use crate::bptt::BpttConfig;
use crate::data::Dataset;
use crate::embed::{EmbedRecord, EmbedSpec};
use crate::fit::{
    fit, CheckedMethod, CheckedParams, Checkpoint, FitError, FitParams, Fitted, Hooks,
    Method as FitMethod, Progress, ProgressFn, EPOCHS_UNTIL_BUDGET,
};
use crate::metrics::{self, EvalProtocol};
use crate::ranges as R;
use crate::series::TimeSeries;
use crate::simulate::{self, SimOptions, System};
use crate::vi::TrainConfig;

/// Training methods of `plrnn train`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// Variational inference (`vi`): encoder + reparameterised ELBO + teacher forcing toward the encoder's path.
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
    /// Latent size M, 1..=4096 [default: 20 for vi, 22 for bptt].
    #[arg(long, allow_negative_numbers = true)]
    pub latent_dim: Option<i64>,
    /// Number of bases P, 1..=4096 (ignored for relu) [default: 20].
    #[arg(long, allow_negative_numbers = true)]
    pub bases: Option<i64>,
    /// φ variant [default: dendritic for vi, clipped_dendritic for bptt].
    #[arg(long, value_parser = ["relu", "dendritic", "clipped_dendritic", "clipped-dendritic"])]
    pub variant: Option<String>,
    /// Encoder (VI only) [default: smoothing].
    #[arg(long, value_parser = ["smoothing", "mlp"])]
    pub encoder: Option<String>,
    /// Epochs, 1..=10^9 [default: the method's configuration (vi 1000, bptt 5000); with
    /// --time-budget and no epochs in a config file: until the budget is spent].
    #[arg(long, allow_negative_numbers = true)]
    pub epochs: Option<i64>,
    /// Wall-clock budget in seconds, in (0, 1e8]; training stops after the update that exceeds
    /// it. Without --epochs (and no `epochs` in --config) training runs until the budget is
    /// spent [default: none].
    #[arg(long, allow_negative_numbers = true)]
    pub time_budget: Option<f64>,
    /// Training sequence length, 2..=10^7 (bptt: 1..=10^7) [default: 1000 for vi, 200 for bptt].
    #[arg(long, allow_negative_numbers = true)]
    pub seq_len: Option<i64>,
    /// Sequences per update, 1..=10^6 [default: 1 for vi, 4 for bptt].
    #[arg(long, allow_negative_numbers = true)]
    pub batch: Option<i64>,
    /// Learning rate, in (0, 10] [default: 1e-3 for vi, 5e-3 for bptt].
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Seed, 0..=2^63−1 [default: 0].
    #[arg(long, allow_negative_numbers = true, value_parser = super::ranges::int(R::SEED))]
    pub seed: Option<usize>,
    /// Worker threads, 0..=1024 (0 = all cores) [default: 0].
    #[arg(long, allow_negative_numbers = true)]
    pub threads: Option<i64>,
    /// Share of each trial's end held out for the metrics that pick the best model, in
    /// [0, 0.9]. The tail is at least 2000 steps: a short trial gives up to a quarter of its
    /// length for that, and is kept whole for training (which is said) when even a quarter is
    /// shorter or the rest would be shorter than one training sequence.
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true, value_parser = super::ranges::real(R::HOLDOUT))]
    pub holdout: f64,
    /// Independent starts, 1..=64: start i trains with seed SEED + i, all in parallel on the
    /// threads (each start gets its own share of --threads); the kept model is the best by
    /// held-out score among the starts that did not collapse. --time-budget is the whole
    /// training's: when there are fewer threads than starts, the starts run in rounds and each
    /// gets the budget divided by the number of rounds.
    /// Each start checkpoints to the checkpoint path with `.i` appended.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true, value_parser = super::ranges::int(R::RESTARTS))]
    pub restarts: usize,
    /// Exit with status 1 (after writing the files) when the kept model collapsed: a generated
    /// channel's std below 0.2 × or above 5 × the data's, or a regular model of chaotic data.
    /// Without it a collapse is a warning.
    #[arg(long)]
    pub require_ok: bool,
    /// Checkpoint file (default: the output path with `.ckpt` appended).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Continue from this checkpoint.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Delay embedding of the data before training: `none` (default), `auto` (lag from the
    /// first minimum of the auto-mutual information, dimension from false nearest neighbours;
    /// both reported), or `DIM,LAG` (DIM copies LAG steps apart). For scalar and
    /// low-dimensional recordings. Recorded beside the model (`MODEL.embed.json`), so
    /// `generate` and `evaluate` answer in the recording's own channels.
    #[arg(long, default_value = "none")]
    pub embed: EmbedSpec,
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
    // The keys the user set (config file and flags), to apply `epochs_until_budget` to.
    let mut given = toml::Table::new();
    let mut table = match &a.config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("{}: cannot read", p.display()))
                .map_err(input_err)?;
            let cfg: T = toml::from_str(&text)
                .map_err(|e| input_err(anyhow::anyhow!("{}: {e}", p.display())))?;
            if let Ok(t) = text.parse::<toml::Table>() {
                given = t;
            }
            toml::Table::try_from(&cfg).context("config to TOML")?
        }
        None => toml::Table::try_from(T::default()).context("config to TOML")?,
    };
    for (field, flag, value) in flag_values(a) {
        // Each flag alone against the method's configuration, so an error names the flag.
        let mut alone = toml::Table::new();
        alone.insert(field.to_owned(), value.clone());
        if let Err(e) = T::deserialize(toml::Value::Table(alone)) {
            let e = e.to_string();
            return Err(input_err(if e.contains("unknown field") {
                anyhow::anyhow!(
                    "{flag} does not apply to --method {}",
                    method_name(a.method)
                )
            } else {
                anyhow::anyhow!("{flag}: {}", e.trim())
            }));
        }
        given.insert(field.to_owned(), value.clone());
        table.insert(field.to_owned(), value);
    }
    crate::fit::epochs_until_budget(&mut given);
    if let Some(e) = given.get("epochs") {
        table.insert("epochs".into(), e.clone());
    }
    toml::from_str(&toml::to_string(&table)?)
        .map_err(|e| input_err(anyhow::anyhow!("command-line option: {e}")))
}

/// The configuration keys set by flags: (key, flag, value).
fn flag_values(a: &TrainArgs) -> Vec<(&'static str, &'static str, toml::Value)> {
    let int = |v: Option<i64>| v.map(toml::Value::Integer);
    let text = |v: &Option<String>| {
        v.as_deref()
            .map(|s| toml::Value::String(s.replace('-', "_")))
    };
    let candidates = [
        ("latent_dim", "--latent-dim", int(a.latent_dim)),
        ("bases", "--bases", int(a.bases)),
        ("variant", "--variant", text(&a.variant)),
        ("encoder", "--encoder", text(&a.encoder)),
        ("epochs", "--epochs", int(a.epochs)),
        (
            "time_budget_secs",
            "--time-budget",
            a.time_budget.map(toml::Value::Float),
        ),
        ("seq_len", "--seq-len", int(a.seq_len)),
        ("batch_size", "--batch", int(a.batch)),
        ("learning_rate", "--lr", a.lr.map(toml::Value::Float)),
        // TOML integers are i64; R::SEED limits --seed to that range.
        (
            "seed",
            "--seed",
            a.seed.map(|v| toml::Value::Integer(v as i64)),
        ),
        ("threads", "--threads", int(a.threads)),
    ];
    candidates
        .into_iter()
        .filter_map(|(k, f, v)| v.map(|v| (k, f, v)))
        .collect()
}

fn method_name(m: Method) -> &'static str {
    match m {
        Method::Vi => "vi",
        Method::Bptt => "bptt",
    }
}

/// A configuration error, naming the flag when the value came from one.
fn config_err(a: &TrainArgs, e: crate::train_config::ConfigError) -> anyhow::Error {
    if let crate::train_config::ConfigError::Invalid { field, .. } = &e {
        if let Some((_, flag, _)) = flag_values(a).into_iter().find(|(k, _, _)| k == field) {
            return input_err(anyhow::anyhow!("{flag}: {e}"));
        }
        if let Some(p) = &a.config {
            return input_err(anyhow::anyhow!("{}: {e}", p.display()));
        }
    }
    input_err(e)
}

/// Checks the output paths before any data is read: `--out` must name a file in an existing
/// folder (not a folder), and so must `--checkpoint`.
fn check_outputs(a: &TrainArgs) -> Result<()> {
    let mut paths = vec![("--out", a.out.clone())];
    if let Some(c) = &a.checkpoint {
        paths.push(("--checkpoint", c.clone()));
    }
    for (flag, p) in paths {
        if p.is_dir() || p.as_os_str().to_string_lossy().ends_with('/') {
            return Err(input_err(anyhow::anyhow!(
                "{flag} {}: is a folder; give a file name",
                p.display()
            )));
        }
        let parent = p.parent().filter(|d| !d.as_os_str().is_empty());
        if let Some(d) = parent {
            if !d.is_dir() {
                return Err(input_err(anyhow::anyhow!(
                    "{flag} {}: folder {} does not exist",
                    p.display(),
                    d.display()
                )));
            }
        }
    }
    Ok(())
}

/// Refuses a negative integer flag with its key's range, as the configuration's `validate`
/// words it (its fields are unsigned, so a negative value cannot reach it).
fn check_negative(a: &TrainArgs) -> Result<()> {
    let seq_len_range = match a.method {
        Method::Vi => R::VI_SEQ_LEN,
        Method::Bptt => R::BPTT_SEQ_LEN,
    };
    for (key, flag, value) in flag_values(a) {
        let (Some(v), Some((range, note))) = (
            value.as_integer().filter(|v| *v < 0),
            crate::train_config::loop_int_range(key, seq_len_range),
        ) else {
            continue;
        };
        if let Err(e) = crate::train_config::check_int(key, range, v as i128, note) {
            return Err(input_err(anyhow::anyhow!("{flag}: {e}")));
        }
    }
    Ok(())
}

/// The checked training parameters of a `plrnn train` command line.
fn fit_params(a: &TrainArgs) -> Result<CheckedParams> {
    check_negative(a)?;
    let method = match a.method {
        Method::Vi => FitMethod::Vi(resolve::<TrainConfig>(a)?),
        Method::Bptt => FitMethod::Bptt(resolve::<BpttConfig>(a)?),
    };
    FitParams {
        method,
        holdout: a.holdout,
        restarts: a.restarts,
    }
    .check()
    .map_err(|e| match e {
        FitError::Config(e) => config_err(a, e),
        e => input_err(e),
    })
}

/// Seconds between two progress lines when stderr is not a terminal.
const LOG_EVERY_SECS: f64 = 30.0;

/// One progress line for a log (stderr not a terminal).
fn progress_line(p: &Progress, restarts: usize) -> String {
    let mut s = if p.epochs == EPOCHS_UNTIL_BUDGET {
        format!(
            "epoch {}, {:.0} s elapsed, loss {:.5}",
            p.epoch, p.elapsed_secs, p.loss
        )
    } else {
        format!(
            "epoch {}/{}, {:.0} s elapsed, loss {:.5}",
            p.epoch, p.epochs, p.elapsed_secs, p.loss
        )
    };
    if restarts > 1 {
        s = format!("start {}: {s}", p.restart);
    }
    if let Some(h) = &p.held_out {
        s += &format!(
            ", held-out score {:.4} (D_stsp {:.3}, D_H {:.3})",
            h.score, h.d_stsp, h.d_h
        );
    }
    if let Some(b) = p.best {
        s += &format!(", best {b:.4}");
    }
    s
}

/// The progress report of a training run: a bar on a terminal; otherwise plain lines on
/// stderr for the first epoch, every held-out measurement, the last planned epoch and at
/// least every [`LOG_EVERY_SECS`].
fn progress_reporter(params: &CheckedParams) -> (ProgressFn, ProgressBar) {
    let restarts = params.restarts();
    let epochs = params.epochs();
    if !std::io::stderr().is_terminal() {
        let mut last = f64::NEG_INFINITY;
        let f: ProgressFn = Box::new(move |p: &Progress| {
            if p.epoch <= 1
                || p.evaluated
                || p.epoch == p.epochs
                || p.elapsed_secs - last >= LOG_EVERY_SECS
            {
                last = p.elapsed_secs;
                eprintln!("{}", progress_line(p, restarts));
            }
        });
        return (f, ProgressBar::hidden());
    }
    // Until a time budget: the bar counts seconds; otherwise epochs. Start 0 drives it.
    let budget = (epochs == EPOCHS_UNTIL_BUDGET)
        .then(|| params.time_budget_secs())
        .flatten();
    let (len, template) = match budget {
        Some(b) => (
            b.ceil() as u64,
            "{pos}/{len} s [{bar:30}] {msg} ({eta} left)",
        ),
        None => (
            epochs as u64,
            "epoch {pos}/{len} [{bar:30}] {msg} ({elapsed} elapsed, {eta} left)",
        ),
    };
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let bar = pb.clone();
    let f: ProgressFn = Box::new(move |p: &Progress| {
        if p.restart != 0 {
            return;
        }
        bar.set_position(match budget {
            Some(_) => p.elapsed_secs as u64,
            None => p.epoch as u64,
        });
        let mut msg = match p.updates_per_sec {
            Some(u) => format!("-ELBO {:.4}, {u:.0} upd/s", p.loss),
            None => format!("loss {:.4e}", p.loss),
        };
        if let Some(h) = &p.held_out {
            msg += &format!(", held-out D_stsp {:.3} D_H {:.3}", h.d_stsp, h.d_h);
        }
        bar.set_message(msg);
    });
    (f, pb)
}

/// Runs [`fit`] with Ctrl-C as the stop flag and a progress report on stderr.
fn run_fit(
    params: &CheckedParams,
    data: &Dataset,
    inputs: &[TimeSeries],
    checkpoint: &Path,
    resume: Option<Checkpoint>,
) -> Result<Fitted> {
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // A second Ctrl-C would otherwise be ignored while the checkpoint is written; that is
        // what we want (losing nothing), so no escalation.
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    }
    let (on_progress, pb) = progress_reporter(params);
    let mut hooks = Hooks {
        on_progress: Some(on_progress),
        stop: Some(stop),
        checkpoint: Some(checkpoint.to_owned()),
        resume,
    };
    let out = fit(params, data, inputs, &mut hooks);
    pb.finish_and_clear();
    out.map_err(|e| {
        if e.is_input_error() {
            input_err(e)
        } else {
            anyhow::Error::new(e).context("training")
        }
    })
}

/// `plrnn train`.
pub fn train(a: TrainArgs) -> Result<()> {
    check_outputs(&a)?;
    if a.method == Method::Bptt && !a.inputs.is_empty() {
        return Err(input_err(anyhow::anyhow!(
            "--inputs needs --method vi: the BPTT trainer has no input matrix C"
        )));
    }
    let params = fit_params(&a)?;
    let resume = match &a.resume {
        Some(p) => {
            let c = Checkpoint::load(p).map_err(input_err)?;
            if c.method_name() != params.method_name() {
                return Err(input_err(anyhow::anyhow!(
                    "--resume {}: written by --method {}, but this run is --method {}",
                    p.display(),
                    c.method_name(),
                    params.method_name()
                )));
            }
            Some(c)
        }
        None => None,
    };
    let data = Dataset::load(&a.data).map_err(input_err)?;
    let inputs = load_inputs(&a.inputs, &data)?;
    let (data, inputs, embedding) = embed_data(a.embed, data, inputs)?;
    let ckpt_path = a
        .checkpoint
        .clone()
        .unwrap_or_else(|| with_suffix(&a.out, ".ckpt"));
    let (params, note) = params.sized_for(data.dims());
    if let Some(note) = note {
        eprintln!("{note}");
    }
    if let Some(note) = params.latent_note(data.trials()) {
        eprintln!("{note}");
    }
    let (train_part, held) = params.split(data.trials());
    let kept_whole = if params.holdout() > 0.0 {
        data.trials().len() - held.len()
    } else {
        0
    };
    if kept_whole > 0 {
        eprintln!(
            "--holdout {}: {kept_whole} of {} trial(s) kept whole for training (a held-out \
             tail needs ≥ {} steps, at most {} % of the trial, and must leave one training \
             sequence of {}){}",
            params.holdout(),
            data.trials().len(),
            crate::fit::MIN_HELD_OUT,
            crate::fit::MAX_HELD_OUT_SHARE * 100.0,
            params.min_trial_len(),
            if held.is_empty() {
                "; no held-out data: the final model is kept"
            } else {
                ""
            }
        );
    }
    let (variant, m, p) = match params.method() {
        CheckedMethod::Vi(c) => (
            format!("{:?}", c.variant),
            c.latent_dim,
            c.effective_bases(),
        ),
        CheckedMethod::Bptt(c) => (format!("{:?}", c.variant), c.latent_dim, c.bases),
    };
    eprintln!(
        "training {variant} by {} (M={m}, P={p}) on {} trial(s), {} steps, {} held out; checkpoints -> {}",
        params.method_name().to_uppercase(),
        train_part.len(),
        train_part.iter().map(TimeSeries::len).sum::<usize>(),
        held.iter().map(TimeSeries::len).sum::<usize>(),
        ckpt_path.display()
    );
    if let (Some(c), Some(path)) = (&resume, &a.resume) {
        eprintln!(
            "resuming from {} at epoch {}",
            path.display(),
            c.epoch() + 1
        );
    }
    let fitted = run_fit(&params, &data, &inputs, &ckpt_path, resume)?;
    write_outputs(&a, &fitted, &params.config_toml()?, embedding.as_ref())
}

/// Writes what every `plrnn train` writes, atomically: the model file, the delay embedding
/// (`.embed.json`, only for `--embed`), the resolved config (`.config.toml`), the data
/// statistics (`.norm.json`) and the run summary with the held-out metrics (`.metrics.json`);
/// then reports on stderr (and stdout with `--json`).
fn write_outputs(
    a: &TrainArgs,
    run: &Fitted,
    resolved_config: &str,
    embedding: Option<&EmbedRecord>,
) -> Result<()> {
    run.model.save(&a.out).map_err(input_err)?;
    crate::embed::save_beside(&a.out, embedding)
        .with_context(|| format!("{}: writing the embedding record", a.out.display()))?;
    crate::io::atomic_write(
        &with_suffix(&a.out, ".config.toml"),
        resolved_config.as_bytes(),
    )?;
    crate::io::atomic_write(
        &with_suffix(&a.out, ".norm.json"),
        serde_json::to_string_pretty(&run.normalization)?.as_bytes(),
    )?;
    let summary = run.summary(a.data.iter().map(|p| p.display().to_string()).collect());
    crate::io::atomic_write(
        &with_suffix(&a.out, ".metrics.json"),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    eprintln!(
        "{} epochs, {} updates in {:.1} s ({:.1} s held-out evaluations{}){}; kept the {} \
         model -> {}",
        run.epochs_done,
        run.updates,
        run.seconds,
        run.eval_secs,
        if run.evals_skipped > 0 {
            format!(
                ", {} skipped to keep them ≤ {:.0} % of the budget",
                run.evals_skipped,
                crate::schedule::EVAL_SHARE * 100.0
            )
        } else {
            String::new()
        },
        if run.stopped {
            " (stopped; resume with --resume)"
        } else {
            ""
        },
        run.kept(),
        a.out.display()
    );
    if run.starts.len() > 1 {
        for (i, st) in run.starts.iter().enumerate() {
            eprintln!(
                "start {i} (seed {}): held-out score {}, {}, {} epochs in {:.1} s{}",
                st.seed,
                st.score.map_or("–".into(), |v| format!("{v:.4}")),
                if st.collapsed { "collapsed" } else { "ok" },
                st.epochs_done,
                st.seconds,
                if i == run.chosen { "  <- kept" } else { "" }
            );
        }
    }
    if let Some(r) = &run.held_out {
        eprintln!("held-out metrics (light protocol):");
        print_report(r);
    }
    if a.json {
        println!("{}", serde_json::to_string(&summary)?);
    }
    if run.collapsed {
        let what = if run.starts.len() > 1 {
            format!(
                "all {} starts collapsed; kept the one with the best held-out score",
                run.starts.len()
            )
        } else {
            "no snapshot of the run was free of collapse; kept the one with the best held-out \
             score. Try --restarts 4 (starts in parallel), a longer --time-budget, or --method bptt"
                .to_string()
        };
        eprintln!(
            "warning: the kept model collapsed (generated std below {} × or above {} × the \
             data's in a channel, or a regular model of chaotic data): {what}",
            r_ratio(run),
            1.0 / r_ratio(run)
        );
        if a.require_ok {
            return Err(anyhow::anyhow!(
                "{}: the model collapsed (--require-ok); the files were written",
                a.out.display()
            ));
        }
    }
    Ok(())
}

/// The collapse ratio of the held-out protocol the run was judged by.
fn r_ratio(run: &Fitted) -> f64 {
    run.held_out
        .as_ref()
        .map_or(0.2, |r| r.protocol.collapse_ratio)
}

/// Reads `--inputs` and checks them against the data, trial for trial (none: no inputs).
fn load_inputs(paths: &[PathBuf], data: &Dataset) -> Result<Vec<TimeSeries>> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let inputs = Dataset::load(paths).map_err(input_err)?;
    let names = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    data.check_inputs(&inputs, &format!("--inputs: {names}"), "--data")
        .map_err(input_err)?;
    Ok(inputs.into_trials())
}

/// Applies `--embed` to the loaded data and cuts the inputs to match; reports the choice.
fn embed_data(
    spec: EmbedSpec,
    data: Dataset,
    inputs: Vec<TimeSeries>,
) -> Result<(Dataset, Vec<TimeSeries>, Option<EmbedRecord>)> {
    let Some(rec) = crate::embed::resolve(spec, data.trials())
        .context("--embed")
        .map_err(input_err)?
    else {
        return Ok((data, inputs, None));
    };
    let e = rec.embedding;
    match &rec.choice {
        Some(c) => eprintln!(
            "delay embedding (--embed auto): lag {} steps ({}), dimension {} (false nearest \
             neighbours {}); {} channel(s) -> N = {}",
            e.lag,
            c.lag_rule.replace('_', " "),
            e.dim,
            c.fnn
                .iter()
                .enumerate()
                .map(|(i, f)| format!("d={}: {:.1} %", i + 1, 100.0 * f))
                .collect::<Vec<_>>()
                .join(", "),
            e.channels,
            e.width()
        ),
        None => eprintln!(
            "delay embedding: {} copies {} steps apart; {} channel(s) -> N = {}",
            e.dim,
            e.lag,
            e.channels,
            e.width()
        ),
    }
    let (data, inputs) = e
        .embed_dataset(&data, &inputs)
        .context("--embed")
        .map_err(input_err)?;
    Ok((data, inputs, Some(rec)))
}

/// Options of `plrnn demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Output folder.
    #[arg(long, default_value = "plrnn-demo")]
    pub out: PathBuf,
    /// Training time budget in seconds, in (0, 1e6].
    #[arg(long, default_value_t = 90.0, allow_negative_numbers = true, value_parser = super::ranges::real(R::DEMO_TIME_BUDGET))]
    pub time_budget: f64,
    /// Seed of simulation and training.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// The demo's training parameters: the VI trainer's defaults with a time budget and a seed.
pub fn demo_params(time_budget: f64, seed: u64) -> FitParams {
    FitParams::new(FitMethod::Vi(TrainConfig {
        time_budget_secs: Some(time_budget),
        seed,
        ..TrainConfig::default()
    }))
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
    let params = demo_params(a.time_budget, a.seed).check()?;
    if let CheckedMethod::Vi(cfg) = params.method() {
        eprintln!(
            "training by VI for {} epochs or {:.0} s, whichever ends first (M={}, P={}, {:?})",
            cfg.epochs,
            a.time_budget,
            cfg.latent_dim,
            cfg.effective_bases(),
            cfg.variant
        );
    }
    let ckpt = a.out.join("model.plrnn.ckpt");
    let fitted = run_fit(&params, &data, &[], &ckpt, None)?;
    eprintln!(
        "trained {} epochs in {:.0} s{}",
        fitted.epochs_done,
        fitted.seconds,
        if fitted.epochs_done < params.epochs() {
            " (the time budget ended it)"
        } else {
            ""
        }
    );
    let model = fitted.model;
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
