//! One entry point for training, whichever the method: parameters → [`FitParams::check`] →
//! [`fit`] → a [`Fitted`] model with the data statistics attached (what a model file holds),
//! chosen by its held-out score.
//!
//! [`fit`] z-scores the data, holds out each trial's tail ([`FitParams::holdout`]), trains by
//! variational inference ([`crate::vi`]) or by BPTT ([`crate::bptt`]), scores the model on the
//! held-out tail during training (the light protocol of [`held_out_protocol`]), keeps the best,
//! and exports it. `plrnn train` and `plrnn demo` are this function plus argument parsing and
//! printing.
//!
//! ```
//! use plrnn_train::fit::{fit, FitParams, Hooks, Method};
//! use plrnn_train::simulate::{simulate, SimOptions, System};
//! use plrnn_train::{data::Dataset, vi::TrainConfig};
//!
//! let opts = SimOptions { steps: 3000, dt: 0.01, seed: 1, ..SimOptions::default() };
//! let data = Dataset::from_series(simulate(&System::lorenz63(), &opts)?, "lorenz63")?;
//! let cfg = TrainConfig { latent_dim: 4, bases: 2, epochs: 2, threads: 1, ..TrainConfig::default() };
//! let params = FitParams::new(Method::Vi(cfg)).check()?;
//! let fitted = fit(&params, &data, &[], &mut Hooks::default())?;
//! assert_eq!(fitted.epochs_done, 2);
//! assert_eq!(fitted.model.n(), 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use plrnn_nostd::{ModelBuf, ValidModel};
use serde::Serialize;
use thiserror::Error;

use crate::bptt::{self, BpttCheckpoint, BpttConfig, ValidBpttConfig};
use crate::data::{DataError, Dataset, Normalization};
use crate::metrics::{self, EvalProtocol, EvalReport, GmmOptions};
use crate::model::DesktopModel;
use crate::train_config::ConfigError;
use crate::train_loop::{self, TrainError};
use crate::vi::{self, TrainConfig, TrainedModel, ValidConfig};
use crate::TimeSeries;

/// A training method with its configuration.
#[derive(Clone, Debug, PartialEq)]
pub enum Method {
    /// Variational inference: encoder, reparameterised ELBO and teacher forcing of the latent
    /// model toward the encoder's path ([`crate::vi`]).
    Vi(TrainConfig),
    /// Backpropagation through time with sparse teacher forcing ([`crate::bptt`]).
    Bptt(BpttConfig),
}

/// What [`fit`] is asked to do, unchecked. [`FitParams::check`] turns it into [`CheckedParams`],
/// the only form [`fit`] takes.
#[derive(Clone, Debug, PartialEq)]
pub struct FitParams {
    /// The method and its configuration.
    pub method: Method,
    /// Share of each trial's end held out for the metrics that pick the best model (0 = none).
    /// The tail is at least [`MIN_HELD_OUT`] steps (shorter tails are too short to judge an
    /// attractor by): a short trial gives a larger share, up to [`MAX_HELD_OUT_SHARE`], and is
    /// kept whole for training when even that is too short or the rest is shorter than one
    /// sequence.
    pub holdout: f64,
    /// Independent starts (1..=[`MAX_RESTARTS`]): start i trains with seed `seed + i`, all in
    /// parallel on the configured threads; the kept model is the best by held-out score among
    /// the starts that did not collapse (see [`EvalReport::collapsed`]). 1 = one plain run.
    /// The time budget is the whole fit's: with W = min(K, threads) starts at a time, the K
    /// starts run in ⌈K / W⌉ rounds and each start gets the budget / rounds.
    pub restarts: usize,
}

/// The shortest held-out tail (steps) that [`CheckedParams::split`] cuts.
pub const MIN_HELD_OUT: usize = 2000;

/// The largest share of a trial that [`CheckedParams::split`] holds out to reach
/// [`MIN_HELD_OUT`] steps when [`FitParams::holdout`] of it would be fewer.
pub const MAX_HELD_OUT_SHARE: f64 = 0.25;

/// Below this share of the data's variance in the M leading principal components,
/// [`CheckedParams::latent_note`] suggests a larger `--latent-dim`.
pub const LATENT_SHARE_HINT: f64 = 0.9;

/// The most starts [`FitParams::restarts`] allows.
pub const MAX_RESTARTS: usize = crate::ranges::RESTARTS.hi as usize;

/// The epoch count that stands for "until the time budget is spent" (see
/// [`epochs_until_budget`]).
pub const EPOCHS_UNTIL_BUDGET: usize = 1_000_000_000;

/// Makes a configuration table that sets a time budget but no epoch count train until the
/// budget is spent: sets `epochs` to [`EPOCHS_UNTIL_BUDGET`]. The learning-rate schedules then
/// follow the elapsed share of the budget. A table that sets `epochs` is left as it is.
pub fn epochs_until_budget(table: &mut toml::Table) {
    if table.contains_key("time_budget_secs") && !table.contains_key("epochs") {
        table.insert(
            "epochs".into(),
            toml::Value::Integer(EPOCHS_UNTIL_BUDGET as i64),
        );
    }
}

impl FitParams {
    /// `method` with the default hold-out share of 0.1 and one start.
    pub fn new(method: Method) -> Self {
        Self {
            method,
            holdout: 0.1,
            restarts: 1,
        }
    }

    /// Sets the number of independent starts.
    pub fn restarts(mut self, k: usize) -> Self {
        self.restarts = k;
        self
    }

    /// Sets the hold-out share.
    pub fn holdout(mut self, share: f64) -> Self {
        self.holdout = share;
        self
    }

    /// Validates every setting.
    pub fn check(&self) -> Result<CheckedParams, FitError> {
        crate::ranges::HOLDOUT
            .check(self.holdout)
            .map_err(FitError::Holdout)?;
        crate::ranges::RESTARTS
            .check(self.restarts as i128)
            .map_err(FitError::Restarts)?;
        let method = match &self.method {
            Method::Vi(c) => CheckedMethod::Vi(c.validate()?),
            Method::Bptt(c) => CheckedMethod::Bptt(c.validate()?),
        };
        Ok(CheckedParams {
            method,
            holdout: self.holdout,
            restarts: self.restarts,
        })
    }
}

/// A validated method configuration.
#[derive(Clone, Debug)]
pub enum CheckedMethod {
    /// Variational inference.
    Vi(ValidConfig),
    /// BPTT.
    Bptt(ValidBpttConfig),
}

/// [`FitParams`] that passed [`FitParams::check`].
#[derive(Clone, Debug)]
pub struct CheckedParams {
    method: CheckedMethod,
    holdout: f64,
    restarts: usize,
}

impl CheckedParams {
    /// The validated method configuration.
    pub fn method(&self) -> &CheckedMethod {
        &self.method
    }

    /// These parameters sized for data of `channels` channels, and a note when that changed
    /// them: BPTT reads its first N latents out as the observations, so a `latent_dim` below
    /// the channel count is raised to it (M = N). [`fit`] applies this itself; callers that
    /// print the sizes or save the configuration call it first.
    pub fn sized_for(&self, channels: usize) -> (CheckedParams, Option<String>) {
        if let CheckedMethod::Bptt(c) = &self.method {
            if c.latent_dim < channels {
                let raised = BpttConfig {
                    latent_dim: channels,
                    ..c.get().clone()
                };
                if let Ok(v) = raised.validate() {
                    let note = format!(
                        "latent_dim {} is below the {channels} channels: BPTT reads the first N \
                         latents out as the observations, so M = {channels}",
                        c.latent_dim
                    );
                    let params = CheckedParams {
                        method: CheckedMethod::Bptt(v),
                        ..self.clone()
                    };
                    return (params, Some(note));
                }
            }
        }
        (self.clone(), None)
    }

    /// For VI with more channels than latents (N > M): what the M latents cover, as a note for
    /// the user. The observation model starts from the data's M leading principal components;
    /// the note gives their share of the variance of `trials` and, when it is below
    /// [`LATENT_SHARE_HINT`], the `--latent-dim` that would reach that share. `None` for BPTT
    /// (sized by [`Self::sized_for`]) and for N ≤ M.
    pub fn latent_note(&self, trials: &[TimeSeries]) -> Option<String> {
        let CheckedMethod::Vi(c) = &self.method else {
            return None;
        };
        let (m, n) = (c.latent_dim, trials.first()?.dims());
        if n <= m {
            return None;
        }
        let (variances, _) = crate::linalg::principal_components(trials);
        // held[k]: the variance of the k + 1 leading components.
        let held: Vec<f64> = variances
            .iter()
            .scan(0.0, |sum, v| {
                *sum += v.max(0.0);
                Some(*sum)
            })
            .collect();
        let total = held[n - 1];
        if total <= 0.0 || !total.is_finite() {
            return None;
        }
        let share = held[m - 1] / total;
        let mut note = format!(
            "M = {m} latents for {n} channels: the observation model starts from the {m} leading \
             principal components, which hold {:.1} % of the data's variance",
            100.0 * share
        );
        if share < LATENT_SHARE_HINT {
            let k = 1 + held
                .iter()
                .position(|&h| h / total >= LATENT_SHARE_HINT)
                .unwrap_or(n - 1);
            note.push_str(&format!(
                "; --latent-dim {k} would hold {:.0} % (each latent costs training time)",
                100.0 * LATENT_SHARE_HINT
            ));
        }
        Some(note)
    }

    /// The hold-out share.
    pub fn holdout(&self) -> f64 {
        self.holdout
    }

    /// The number of independent starts.
    pub fn restarts(&self) -> usize {
        self.restarts
    }

    /// Start `i` of [`Self::restarts`]: seed `seed + i` and `threads` worker threads.
    /// Start `i` of a fit with restarts: seed + i, `threads` threads, and the time budget
    /// divided by `rounds` (the starts that run one after another on a worker).
    fn start(&self, i: usize, threads: usize, rounds: usize) -> Result<CheckedParams, FitError> {
        let share = |b: Option<f64>| b.map(|b| b / rounds.max(1) as f64);
        let method = match &self.method {
            CheckedMethod::Vi(c) => CheckedMethod::Vi(
                TrainConfig {
                    seed: c.get().seed.wrapping_add(i as u64),
                    threads,
                    time_budget_secs: share(c.get().time_budget_secs),
                    ..c.get().clone()
                }
                .validate()?,
            ),
            CheckedMethod::Bptt(c) => CheckedMethod::Bptt(
                BpttConfig {
                    seed: c.get().seed.wrapping_add(i as u64),
                    threads,
                    time_budget_secs: share(c.get().time_budget_secs),
                    ..c.get().clone()
                }
                .validate()?,
            ),
        };
        Ok(CheckedParams {
            method,
            holdout: self.holdout,
            restarts: 1,
        })
    }

    /// The configured worker threads (0 = all cores), resolved.
    fn threads(&self) -> usize {
        let t = match &self.method {
            CheckedMethod::Vi(c) => c.get().threads,
            CheckedMethod::Bptt(c) => c.get().threads,
        };
        if t == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            t
        }
    }

    /// The method's name as the command line spells it (`vi`, `bptt`).
    pub fn method_name(&self) -> &'static str {
        match self.method {
            CheckedMethod::Vi(_) => "vi",
            CheckedMethod::Bptt(_) => "bptt",
        }
    }

    /// The shortest trial that gives one training sequence (VI: T steps; BPTT: T + 1).
    pub fn min_trial_len(&self) -> usize {
        match &self.method {
            CheckedMethod::Vi(c) => c.seq_len,
            CheckedMethod::Bptt(c) => c.seq_len + 1,
        }
    }

    /// The wall-clock budget of each start, if any.
    pub fn time_budget_secs(&self) -> Option<f64> {
        match &self.method {
            CheckedMethod::Vi(c) => c.get().time_budget_secs,
            CheckedMethod::Bptt(c) => c.get().time_budget_secs,
        }
    }

    /// Planned epochs.
    pub fn epochs(&self) -> usize {
        match &self.method {
            CheckedMethod::Vi(c) => c.epochs,
            CheckedMethod::Bptt(c) => c.epochs,
        }
    }

    /// The method's configuration as TOML (what `plrnn train` writes beside the model).
    pub fn config_toml(&self) -> Result<String, toml::ser::Error> {
        match &self.method {
            CheckedMethod::Vi(c) => toml::to_string(c.get()),
            CheckedMethod::Bptt(c) => toml::to_string(c.get()),
        }
    }

    /// Splits each trial into a training part and a held-out tail (see [`FitParams::holdout`]).
    pub fn split(&self, trials: &[TimeSeries]) -> (Vec<TimeSeries>, Vec<TimeSeries>) {
        split_holdout(trials, self.holdout, self.min_trial_len())
    }
}

/// Splits each trial into a training part and a held-out tail of `share` of its length, at
/// least [`MIN_HELD_OUT`] steps and (for that minimum) at most [`MAX_HELD_OUT_SHARE`].
fn split_holdout(
    trials: &[TimeSeries],
    share: f64,
    seq_len: usize,
) -> (Vec<TimeSeries>, Vec<TimeSeries>) {
    let mut train = Vec::new();
    let mut held = Vec::new();
    for t in trials {
        let n = t.len();
        let asked = (((n as f64) * share).round() as usize).min(n);
        let h = asked.max(MIN_HELD_OUT);
        let too_short =
            asked < MIN_HELD_OUT && (MIN_HELD_OUT as f64) > n as f64 * MAX_HELD_OUT_SHARE;
        if share <= 0.0 || too_short || n - h < seq_len {
            train.push(t.clone());
        } else {
            train.push(t.slice(0, t.len() - h));
            held.push(t.slice(t.len() - h, t.len()));
        }
    }
    (train, held)
}

/// A resumable training state of either method (read by [`Checkpoint::load`]).
#[derive(Clone, Debug)]
pub enum Checkpoint {
    /// A VI run's state.
    Vi(Box<vi::Checkpoint>),
    /// A BPTT run's state.
    Bptt(Box<BpttCheckpoint>),
}

impl Checkpoint {
    /// Reads a checkpoint file of either method.
    pub fn load(path: &Path) -> Result<Self, FitError> {
        let resume_err = |reason: String| FitError::Resume {
            path: path.to_owned(),
            reason,
        };
        let value: serde_json::Value = crate::io::read_json(path).map_err(resume_err)?;
        if value.get("method").and_then(|m| m.as_str()) == Some("bptt") {
            BpttCheckpoint::load(path)
                .map(|c| Self::Bptt(Box::new(c)))
                .map_err(|e| match e {
                    TrainError::Checkpoint { reason, .. } => resume_err(reason),
                    e => FitError::Train(e),
                })
        } else {
            vi::Checkpoint::load(path)
                .map(|c| Self::Vi(Box::new(c)))
                .map_err(|e| match e {
                    TrainError::Checkpoint { reason, .. } => resume_err(reason),
                    e => FitError::Train(e),
                })
        }
    }

    /// The epoch the run continues with (0-based: the epochs completed before it).
    pub fn epoch(&self) -> usize {
        match self {
            Self::Vi(c) => c.epoch,
            Self::Bptt(c) => c.epoch,
        }
    }

    /// The method that wrote it (`vi`, `bptt`).
    pub fn method_name(&self) -> &'static str {
        match self {
            Self::Vi(_) => "vi",
            Self::Bptt(_) => "bptt",
        }
    }
}

/// The latest held-out measurement.
#[derive(Clone, Debug, PartialEq)]
pub struct HeldOut {
    /// Score D_stsp + 4·D_H (lower is better; +∞ for a diverged model).
    pub score: f64,
    /// Its state-space divergence.
    pub d_stsp: f64,
    /// Its Hellinger distance of the power spectra.
    pub d_h: f64,
}

/// Progress after an epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// Epochs completed.
    pub epoch: usize,
    /// Epochs planned.
    pub epochs: usize,
    /// Mean loss of the epoch (VI: negative ELBO per step plus regulariser; BPTT: mean squared
    /// teacher-forced error).
    pub loss: f64,
    /// Parameter updates per second (VI only).
    pub updates_per_sec: Option<f64>,
    /// Seconds since training started in this call of [`fit`].
    pub elapsed_secs: f64,
    /// The latest held-out measurement, if any yet.
    pub held_out: Option<HeldOut>,
    /// True when `held_out` was measured since the previous report.
    pub evaluated: bool,
    /// The best held-out score so far (this run's and, on resume, the checkpoint's).
    pub best: Option<f64>,
    /// Which start reports (0-based; see [`FitParams::restarts`]).
    pub restart: usize,
}

/// A progress callback.
pub type ProgressFn = Box<dyn FnMut(&Progress) + Send>;

/// What [`fit`] reports to and takes from its caller; every field is optional.
#[derive(Default)]
pub struct Hooks {
    /// Called after every epoch.
    pub on_progress: Option<ProgressFn>,
    /// Once set (e.g. by a Ctrl-C handler), training checkpoints after the current update
    /// (if `checkpoint` is set) and returns what it has.
    pub stop: Option<Arc<AtomicBool>>,
    /// Where checkpoints go (periodically and when stopped); `None` = no checkpoint files.
    pub checkpoint: Option<PathBuf>,
    /// Continue from this state instead of starting anew (taken by [`fit`]). Resumed with the
    /// same parameters and data, a run ends with the bits of an uninterrupted one (without a
    /// time budget).
    pub resume: Option<Checkpoint>,
}

/// The model kept because of its held-out score.
#[derive(Clone, Debug, PartialEq)]
pub struct Best {
    /// Epochs completed when it was scored.
    pub epoch: usize,
    /// Its score (lower is better).
    pub score: f64,
}

/// What [`fit`] produced.
#[derive(Clone, Debug)]
pub struct Fitted {
    /// The exported model, data statistics attached (what the model file holds).
    pub model: DesktopModel,
    /// The data statistics the training data were z-scored with.
    pub normalization: Normalization,
    /// `Some` when the best model by held-out score was kept, `None` when the final one was
    /// (no held-out data, or no score).
    pub best: Option<Best>,
    /// The kept model's held-out metrics (light protocol), if there were held-out data.
    pub held_out: Option<EvalReport>,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Parameter updates done.
    pub updates: u64,
    /// Seconds the training took.
    pub seconds: f64,
    /// Seconds of it spent in held-out evaluations (of the kept start).
    pub eval_secs: f64,
    /// Scheduled held-out evaluations skipped to keep them within their share of the budget
    /// (of the kept start; [`crate::schedule::EvalPacer`]).
    pub evals_skipped: usize,
    /// True when the stop flag ended the run.
    pub stopped: bool,
    /// True when the kept model's held-out report shows a collapse ([`EvalReport::collapsed`]):
    /// every start collapsed. False without held-out data (nothing to judge by).
    pub collapsed: bool,
    /// Every start's outcome, in start order (one entry for a single run).
    pub starts: Vec<StartOutcome>,
    /// The start whose model was kept.
    pub chosen: usize,
}

impl Fitted {
    /// Which model was kept, in words: "best held-out score" or "final".
    pub fn kept(&self) -> &'static str {
        if self.best.is_some() {
            "best held-out score"
        } else {
            "final"
        }
    }

    /// The run's summary: what `plrnn train` writes to `MODEL.metrics.json` (with the data
    /// files named in `data`) and what `plrnn.train` returns as `m.training` (without).
    pub fn summary(&self, data: Vec<String>) -> RunSummary<'_> {
        RunSummary {
            data,
            epochs_done: self.epochs_done,
            updates: self.updates,
            seconds: self.seconds,
            eval_secs: self.eval_secs,
            evals_skipped: self.evals_skipped,
            kept: self.kept(),
            best_epoch: self.best.as_ref().map(|b| b.epoch),
            held_out: self.held_out.as_ref(),
            collapsed: self.held_out.as_ref().map(|_| self.collapsed),
            starts: &self.starts,
            chosen_start: self.chosen,
            stopped: self.stopped,
        }
    }
}

/// A run's summary for people and programs ([`Fitted::summary`]).
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary<'a> {
    /// The data files trained on (omitted when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<String>,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Parameter updates done.
    pub updates: u64,
    /// Seconds the training took.
    pub seconds: f64,
    /// Seconds of it spent in held-out evaluations.
    pub eval_secs: f64,
    /// Scheduled held-out evaluations skipped to stay within their share of the budget.
    pub evals_skipped: usize,
    /// [`Fitted::kept`].
    pub kept: &'static str,
    /// The epoch of the kept best model, if the best was kept.
    pub best_epoch: Option<usize>,
    /// The kept model's held-out metrics.
    pub held_out: Option<&'a EvalReport>,
    /// Whether the kept model collapsed (`None`: no held-out data to judge by).
    pub collapsed: Option<bool>,
    /// Every start: seed, held-out score, collapsed, epochs, seconds.
    pub starts: &'a [StartOutcome],
    /// The start whose model was kept.
    pub chosen_start: usize,
    /// True when the stop flag ended the run.
    pub stopped: bool,
}

/// How one start of [`fit`] ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StartOutcome {
    /// Its training seed.
    pub seed: u64,
    /// Its kept model's held-out score, if there were held-out data.
    pub score: Option<f64>,
    /// Whether its kept model collapsed.
    pub collapsed: bool,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Seconds it took.
    pub seconds: f64,
}

/// Why [`fit`] failed. [`FitError::is_input_error`] tells the user's mistakes from the rest.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FitError {
    /// The method's configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The hold-out share is not in [`crate::ranges::HOLDOUT`].
    #[error("holdout: {0}")]
    Holdout(crate::ranges::RangeError),
    /// The number of starts is not in [`crate::ranges::RESTARTS`].
    #[error("restarts: {0}")]
    Restarts(crate::ranges::RangeError),
    /// A run of several starts cannot resume from one checkpoint.
    #[error("resuming needs a single start (restarts = 1); each start of a multi-start run keeps its own checkpoint")]
    ResumeRestarts,
    /// Inputs were given to a method that has no input matrix.
    #[error("inputs need the VI method: the BPTT trainer has no input matrix C")]
    InputsNeedVi,
    /// The data are unusable (too short, not finite, …).
    #[error(transparent)]
    Data(#[from] DataError),
    /// The checkpoint to resume from was written by the other method.
    #[error("a {found} checkpoint cannot resume a {wanted} run")]
    ResumeMethod {
        /// The method that wrote it.
        found: &'static str,
        /// The method asked for.
        wanted: &'static str,
    },
    /// The checkpoint to resume from could not be read.
    #[error("{}: {reason}", path.display())]
    Resume {
        /// The checkpoint file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The trainer failed.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// The trained model did not pass the model file's validation.
    #[error("the trained model failed validation: {0}")]
    Export(String),
}

impl FitError {
    /// True when the error is in what the caller gave (configuration, data, checkpoint to
    /// resume from) and can be fixed by changing it; false for failures of the run itself
    /// (divergence, a checkpoint that cannot be written, …).
    pub fn is_input_error(&self) -> bool {
        match self {
            Self::Config(_)
            | Self::Holdout(_)
            | Self::Restarts(_)
            | Self::ResumeRestarts
            | Self::InputsNeedVi
            | Self::Data(_)
            | Self::ResumeMethod { .. }
            | Self::Resume { .. } => true,
            Self::Train(e) => e.is_input_error(),
            Self::Export(_) => false,
        }
    }
}

/// The light protocol used during training to pick the best model: 100 trajectories (from the
/// states [`DesktopModel::infer_states`] infers at evenly spaced held-out times, as many as
/// `plrnn evaluate` starts: with 20, a Lorenz-96 model whose orbits left the data's range from
/// one start in 40 passed the check) of 500 burn-in + 1000 kept steps, binned D_stsp with
/// 30 bins and the legacy range (GMM with 2000 centres for N ≥ 5), D_H (σ = 20) on one free
/// run as long as the held-out series, the model's largest Lyapunov exponent over 3000 steps
/// (the data's is estimated once, [`HeldOutData`]). Score = D_stsp + 4·D_H, so an attractor with
/// the right occupancy but the wrong rhythm does not win. Lower is better; a diverged model
/// scores +∞. A collapsed model (std, or a regular model of chaotic data) ranks after every
/// model that did not collapse.
pub fn held_out_protocol() -> EvalProtocol {
    EvalProtocol {
        // As many starts as `plrnn evaluate` makes.
        n_trajectories: EvalProtocol::default().n_trajectories,
        burn_in: 500,
        keep: 1000,
        pe_ns: vec![],
        // The data's exponent is estimated once per held-out set ([`HeldOutData`]).
        rosenstein: None,
        lyapunov_steps: 3000,
        lyapunov_transient: 500,
        gmm: GmmOptions {
            n_centres: 2000,
            n_samples: 500,
            ..GmmOptions::default()
        },
        ..EvalProtocol::default()
    }
}

/// A held-out series with its largest Lyapunov exponent (Rosenstein, default options),
/// estimated once: every held-out report carries it, so that a regular model of chaotic data
/// counts as collapsed ([`EvalReport::collapsed`]).
#[derive(Clone, Debug)]
pub struct HeldOutData {
    /// The held-out series (z-scored like the training data).
    pub series: TimeSeries,
    /// Its estimated exponent per step; `None` when it could not be estimated.
    pub lyapunov: Option<f64>,
}

impl HeldOutData {
    /// Estimates the exponent of `series`.
    pub fn new(series: TimeSeries) -> Self {
        let lyapunov =
            metrics::lyapunov_max_from_series(&series, &metrics::RosensteinOptions::default())
                .ok()
                .filter(|v| v.is_finite());
        Self { series, lyapunov }
    }
}

/// Held-out score of a model, with the report behind it. The free runs start from the states
/// `plrnn evaluate` and `plrnn generate --init` start from ([`DesktopModel::infer_states`]:
/// the model's own filter through B), for both methods: a VI model is scored from the states
/// its file will be started from, not from its encoder's, which the file does not hold. (A VI
/// model whose unobserved directions grow looked well from its encoder's states and left the
/// data's range from the filter's.)
pub fn held_out_score(buf: &ModelBuf, held: &HeldOutData) -> Option<(f64, EvalReport)> {
    let desk = DesktopModel::new(ValidModel::new(buf.clone()).ok()?);
    let states = desk.infer_states(&held.series);
    score_of(&desk, held, &states)
}

fn score_of(
    desk: &DesktopModel,
    held: &HeldOutData,
    states: &TimeSeries,
) -> Option<(f64, EvalReport)> {
    let mut report = metrics::evaluate(desk, &held.series, states, &held_out_protocol()).ok()?;
    report.lyapunov_data = held.lyapunov;
    Some((report.score(), report))
}

/// Attaches the data statistics to a model and validates it: the model file's content.
pub fn export(mut buf: ModelBuf, norm: &Normalization) -> Result<DesktopModel, FitError> {
    buf.normalized = true;
    buf.data_mean = norm.mean.iter().map(|&v| v as f32).collect();
    buf.data_std = norm.std.iter().map(|&v| v as f32).collect();
    ValidModel::new(buf)
        .map(DesktopModel::new)
        .map_err(|e| FitError::Export(e.to_string()))
}

/// Added to the score a trainer ranks a collapsed model by, so that any model that did not
/// collapse is kept before any that did; among collapsed models the score still ranks.
const COLLAPSE_PENALTY: f64 = 1e6;

/// The score the trainers rank snapshots by: the held-out score, plus [`COLLAPSE_PENALTY`] for
/// a collapsed model.
fn ranking_score(score: f64, report: &EvalReport) -> f64 {
    if report.collapsed() {
        score + COLLAPSE_PENALTY
    } else {
        score
    }
}

/// A ranking score back to the held-out score it was made from.
fn unrank(s: f64) -> f64 {
    if s >= COLLAPSE_PENALTY {
        s - COLLAPSE_PENALTY
    } else {
        s
    }
}

/// What the progress and evaluator closures share during a run.
struct Tracker {
    t0: Instant,
    epochs: usize,
    latest: Option<HeldOut>,
    fresh: bool,
    /// The best ranking score so far.
    best: Option<f64>,
    restart: usize,
}

impl Tracker {
    /// Records a held-out measurement; returns the score the trainer ranks by.
    fn scored(&mut self, r: Option<(f64, EvalReport)>) -> Option<f64> {
        let (score, rep) = r?;
        self.latest = Some(HeldOut {
            score,
            d_stsp: rep.d_stsp,
            d_h: rep.d_h,
        });
        self.fresh = true;
        let rank = ranking_score(score, &rep);
        if self.best.is_none_or(|b| rank < b) {
            self.best = Some(rank);
        }
        Some(rank)
    }

    fn progress(&mut self, epoch: usize, loss: f64, updates_per_sec: Option<f64>) -> Progress {
        let p = Progress {
            epoch,
            epochs: self.epochs,
            loss,
            updates_per_sec,
            elapsed_secs: self.t0.elapsed().as_secs_f64(),
            held_out: self.latest.clone(),
            evaluated: self.fresh,
            best: self.best.map(unrank),
            restart: self.restart,
        };
        self.fresh = false;
        p
    }
}

/// Trains a model on `data` (raw, in data units; z-scored here) with external `inputs` (one
/// series per trial, equally long, not z-scored; empty for none; VI only), held-out scoring and
/// best-model keeping, and exports it with the data statistics.
///
/// With several starts ([`FitParams::restarts`]) they run in parallel, the configured threads
/// shared among them (each start's result does not depend on its thread count, so neither does
/// the choice); start i checkpoints to the checkpoint path with `.i` appended; progress reports
/// carry the start's index.
pub fn fit(
    params: &CheckedParams,
    data: &Dataset,
    inputs: &[TimeSeries],
    hooks: &mut Hooks,
) -> Result<Fitted, FitError> {
    let (params, _) = params.sized_for(data.dims());
    let params = &params;
    let k = params.restarts;
    if k == 1 {
        return fit_start(params, data, inputs, hooks, 0);
    }
    if hooks.resume.is_some() {
        return Err(FitError::ResumeRestarts);
    }
    let threads = params.threads();
    let workers = k.min(threads).max(1);
    let per_start = (threads / workers).max(1);
    let rounds = k.div_ceil(workers);
    let starts = (0..k)
        .map(|i| params.start(i, per_start, rounds))
        .collect::<Result<Vec<_>, _>>()?;
    let user = hooks
        .on_progress
        .take()
        .map(|f| Arc::new(std::sync::Mutex::new(f)));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Result<Fitted, FitError>>>> =
        (0..k).map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|sc| {
        for _ in 0..workers {
            sc.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(p) = starts.get(i) else { break };
                let mut h = Hooks {
                    on_progress: user.clone().map(|u| {
                        let f: ProgressFn = Box::new(move |q: &Progress| {
                            let mut f = u.lock().unwrap_or_else(|e| e.into_inner());
                            (*f)(q)
                        });
                        f
                    }),
                    stop: hooks.stop.clone(),
                    checkpoint: hooks.checkpoint.as_ref().map(|c| {
                        let mut c = c.clone().into_os_string();
                        c.push(format!(".{i}"));
                        PathBuf::from(c)
                    }),
                    resume: None,
                };
                let r = fit_start(p, data, inputs, &mut h, i);
                *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
            });
        }
    });
    if let Some(u) = user {
        if let Ok(m) = Arc::try_unwrap(u) {
            hooks.on_progress = Some(m.into_inner().unwrap_or_else(|e| e.into_inner()));
        }
    }
    let mut fitted = Vec::with_capacity(k);
    for r in results {
        match r.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(r) => fitted.push(r?),
            None => unreachable!("every start index below k is taken by a worker"),
        }
    }
    let starts: Vec<StartOutcome> = fitted.iter().flat_map(|f| f.starts.clone()).collect();
    let chosen = choose_start(&starts);
    let mut out = fitted.swap_remove(chosen);
    out.starts = starts;
    out.chosen = chosen;
    out.stopped |= fitted.iter().any(|f| f.stopped);
    Ok(out)
}

/// The start to keep: not collapsed before collapsed, then the lower held-out score (none
/// counts as +∞), then the lower index.
fn choose_start(starts: &[StartOutcome]) -> usize {
    let key = |s: &StartOutcome| (s.collapsed, s.score.unwrap_or(f64::INFINITY));
    (0..starts.len())
        .min_by(|&a, &b| {
            let (ca, sa) = key(&starts[a]);
            let (cb, sb) = key(&starts[b]);
            ca.cmp(&cb).then(sa.total_cmp(&sb))
        })
        .unwrap_or(0)
}

/// The model a run keeps: its best snapshot (model, epoch, ranking score) if it has one,
/// otherwise the last model.
fn kept<M>(best: Option<(M, usize, f64)>, last: M) -> (M, Option<Best>) {
    match best {
        Some((model, epoch, score)) => (model, Some(Best { epoch, score })),
        None => (last, None),
    }
}

/// What one trainer run of [`fit_start`] hands back, before export.
struct StartRun {
    /// The kept model (best by held-out score, else the last).
    model: ModelBuf,
    /// Its held-out report, if there were held-out data.
    held_out: Option<EvalReport>,
    best: Option<Best>,
    epochs_done: usize,
    updates: u64,
    stopped: bool,
    seconds: f64,
    eval_secs: f64,
    evals_skipped: usize,
}

/// One start of [`fit`].
fn fit_start(
    params: &CheckedParams,
    data: &Dataset,
    inputs: &[TimeSeries],
    hooks: &mut Hooks,
    restart: usize,
) -> Result<Fitted, FitError> {
    let resume = hooks.resume.take();
    if let Some(c) = &resume {
        if c.method_name() != params.method_name() {
            return Err(FitError::ResumeMethod {
                found: c.method_name(),
                wanted: params.method_name(),
            });
        }
    }
    if matches!(params.method, CheckedMethod::Bptt(_)) && !inputs.is_empty() {
        return Err(FitError::InputsNeedVi);
    }
    data.validate_min_len(params.min_trial_len())?;
    let norm = Normalization::fit(data);
    let data = data.normalized(&norm)?;
    let (trials, held) = params.split(data.trials());
    // Lengths are equal trial for trial, so the inputs are cut exactly where the data are.
    let (inputs, _) = params.split(inputs);
    let held0 = held.first().cloned().map(HeldOutData::new);
    let best0 = match &resume {
        Some(Checkpoint::Vi(c)) => c.best.as_ref().map(|b| b.score),
        Some(Checkpoint::Bptt(c)) => c.best.as_ref().map(|b| b.score),
        None => None,
    };
    let tracker = Rc::new(RefCell::new(Tracker {
        t0: Instant::now(),
        epochs: params.epochs(),
        latest: None,
        fresh: false,
        best: best0,
        restart,
    }));
    let user_progress = &mut hooks.on_progress;
    let is_vi = matches!(params.method, CheckedMethod::Vi(_));
    let tp = tracker.clone();
    let on_progress: train_loop::ProgressFn<'_> = Box::new(move |p: &train_loop::Progress| {
        // Updates per second are reported for VI only: the command line tells the two
        // methods' losses apart by them.
        let rate = is_vi.then_some(p.updates_per_sec);
        let q = tp.borrow_mut().progress(p.epoch, p.loss, rate);
        if let Some(f) = user_progress.as_mut() {
            f(&q)
        }
    });
    let (stop, checkpoint) = (hooks.stop.as_deref(), hooks.checkpoint.as_deref());
    let t0 = Instant::now();
    let run = match &params.method {
        CheckedMethod::Vi(cfg) => {
            let te = tracker.clone();
            let mut vh = train_loop::Hooks {
                on_progress: Some(on_progress),
                evaluator: held0.clone().map(|h| {
                    let f: train_loop::EvaluatorFn<'_, TrainedModel> = Box::new(move |m| {
                        te.borrow_mut()
                            .scored(held_out_score(&m.to_model_buf(), &h))
                    });
                    f
                }),
                stop,
                checkpoint,
            };
            let out = match resume {
                Some(Checkpoint::Vi(c)) => vi::resume(&trials, &inputs, cfg, *c, &mut vh),
                _ => vi::train_with_inputs(&trials, &inputs, cfg, &mut vh),
            }?;
            let seconds = t0.elapsed().as_secs_f64();
            let (chosen, best) = kept(out.best.map(|b| (b.model, b.epoch, b.score)), out.model);
            let report = held0
                .as_ref()
                .and_then(|h| held_out_score(&chosen.to_model_buf(), h))
                .map(|(_, r)| r);
            StartRun {
                model: chosen.to_model_buf(),
                held_out: report,
                best,
                epochs_done: out.epochs_done,
                updates: out.updates,
                stopped: out.stopped,
                seconds,
                eval_secs: out.eval_secs,
                evals_skipped: out.evals_skipped,
            }
        }
        CheckedMethod::Bptt(cfg) => {
            let te = tracker.clone();
            let mut bh = train_loop::Hooks {
                on_progress: Some(on_progress),
                evaluator: held0.clone().map(|h| {
                    let f: train_loop::EvaluatorFn<'_, ModelBuf> =
                        Box::new(move |m| te.borrow_mut().scored(held_out_score(m, &h)));
                    f
                }),
                stop,
                checkpoint,
            };
            let out = match resume {
                Some(Checkpoint::Bptt(c)) => bptt::resume(&trials, cfg, *c, &mut bh),
                _ => bptt::train(&trials, cfg, &mut bh),
            }?;
            let seconds = t0.elapsed().as_secs_f64();
            let (chosen, best) = kept(out.best.map(|b| (b.model, b.epoch, b.score)), out.model);
            let report = held0
                .as_ref()
                .and_then(|h| held_out_score(&chosen, h))
                .map(|(_, r)| r);
            StartRun {
                model: chosen,
                held_out: report,
                best,
                epochs_done: out.epochs_done,
                updates: out.updates as u64,
                stopped: out.stopped,
                seconds,
                eval_secs: out.eval_secs,
                evals_skipped: out.evals_skipped,
            }
        }
    };
    let StartRun {
        model,
        held_out,
        best,
        epochs_done,
        updates,
        stopped,
        seconds,
        eval_secs,
        evals_skipped,
    } = run;
    let collapsed = held_out.as_ref().is_some_and(EvalReport::collapsed);
    let seed = match &params.method {
        CheckedMethod::Vi(c) => c.get().seed,
        CheckedMethod::Bptt(c) => c.get().seed,
    };
    let best = best.map(|b| Best {
        score: unrank(b.score),
        ..b
    });
    Ok(Fitted {
        model: export(model, &norm)?,
        normalization: norm,
        starts: vec![StartOutcome {
            seed,
            score: best
                .as_ref()
                .map(|b| b.score)
                .or(held_out.as_ref().map(EvalReport::score)),
            collapsed,
            epochs_done,
            seconds,
        }],
        chosen: 0,
        collapsed,
        best,
        held_out,
        epochs_done,
        updates,
        seconds,
        eval_secs,
        evals_skipped,
        stopped,
    })
}

#[cfg(test)]
mod tests;
