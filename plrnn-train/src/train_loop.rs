//! The training loop both methods run, and what it shares with its callers: the error a run
//! reports ([`TrainError`]), the progress report after each epoch ([`Progress`]) and the hooks a
//! caller passes in ([`Hooks`]).
//!
//! A method ([`crate::vi`], [`crate::bptt`]) implements the crate-internal `Method` trait: its
//! state (the checkpoint's content), one epoch's preparation, one update, the snapshot the
//! evaluator scores, its checkpoint file. The loop holds the rest: epochs, the time budget and
//! the stop flag, held-out evaluation on the schedule (paced by [`EvalPacer`] under a budget),
//! best-model keeping, periodic checkpoints and progress. Where the methods end a run
//! differently (VI fails on divergence and stops at once; BPTT keeps its last finite
//! parameters and books a cut epoch), the method says so by two constants, so that both keep
//! the bits and the checkpoints they have always had.
//!
//! It lives beside the trainers rather than in either, so that neither [`crate::vi`] nor
//! [`crate::bptt`] imports the other; [`crate::fit`] builds on it.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use thiserror::Error;

use crate::schedule::EvalPacer;
use crate::TimeSeries;

/// Why training could not run or had to stop (either method).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TrainError {
    /// No trial was given.
    #[error("no training data: the list of trials is empty")]
    NoData,
    /// Trials differ in channel count.
    #[error("trial {trial} has {got} channels, trial 0 has {expected}")]
    ChannelMismatch {
        /// Offending trial.
        trial: usize,
        /// Its channel count.
        got: usize,
        /// Channel count of trial 0.
        expected: usize,
    },
    /// A value in the data is NaN or infinite.
    #[error("trial {trial} has a non-finite value at step {step}")]
    NonFinite {
        /// Offending trial.
        trial: usize,
        /// Offending time step.
        step: usize,
    },
    /// The trials have no channels (BPTT: at least one is read out of the latents).
    #[error("the trials have 0 channels; at least one observed channel is needed")]
    NoChannels,
    /// Inputs were given but do not match the trials (VI).
    #[error("inputs of trial {trial}: {reason}")]
    InputMismatch {
        /// Offending trial.
        trial: usize,
        /// What is wrong.
        reason: String,
    },
    /// No trial is long enough to give a sequence (VI: a shorter trial is one sequence).
    #[error("no trial has at least 2 steps (longest: {longest})")]
    TooShort {
        /// Longest trial length.
        longest: usize,
    },
    /// No trial has `seq_len + 1` steps (BPTT: every sequence has that length).
    #[error("seq_len {seq_len} needs trials of at least {} steps; the longest has {longest}", seq_len + 1)]
    ShorterThanSequence {
        /// Configured T.
        seq_len: usize,
        /// Longest trial.
        longest: usize,
    },
    /// The latent dimension cannot hold the observations (BPTT: identity observation
    /// B = [I 0]).
    #[error("latent_dim {latent_dim} is smaller than the {channels} observed channels")]
    LatentTooSmall {
        /// Configured M.
        latent_dim: usize,
        /// Observed N.
        channels: usize,
    },
    /// The loss or the parameters became non-finite (VI; BPTT keeps its last finite
    /// parameters and reports [`crate::bptt::BpttOutcome::diverged`]).
    #[error("training diverged at epoch {epoch} (loss {loss})")]
    Diverged {
        /// Epoch of the failure.
        epoch: usize,
        /// The loss value.
        loss: f64,
    },
    /// A checkpoint does not fit this configuration or data.
    #[error("checkpoint does not match: {field} is {checkpoint} in the checkpoint, {current} now")]
    CheckpointMismatch {
        /// The setting or size that differs.
        field: &'static str,
        /// Value in the checkpoint.
        checkpoint: String,
        /// Value now.
        current: String,
    },
    /// A checkpoint could not be written or read.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// File path.
        path: String,
        /// Cause.
        reason: String,
    },
    /// The worker pool could not be built.
    #[error("cannot build a pool of {threads} threads: {reason}")]
    Pool {
        /// Requested threads.
        threads: usize,
        /// The pool's error.
        reason: String,
    },
}

impl TrainError {
    /// True when the error is in what the caller gave (data, checkpoint to resume from) and
    /// can be fixed by changing it; false for failures of the run itself (divergence, a
    /// checkpoint that cannot be written, no worker threads).
    pub fn is_input_error(&self) -> bool {
        match self {
            Self::NoData
            | Self::ChannelMismatch { .. }
            | Self::NonFinite { .. }
            | Self::NoChannels
            | Self::InputMismatch { .. }
            | Self::TooShort { .. }
            | Self::ShorterThanSequence { .. }
            | Self::LatentTooSmall { .. }
            | Self::CheckpointMismatch { .. } => true,
            Self::Diverged { .. } | Self::Checkpoint { .. } | Self::Pool { .. } => false,
        }
    }

    /// A [`TrainError::Checkpoint`] for `path`.
    pub(crate) fn checkpoint(path: &Path, reason: String) -> Self {
        Self::Checkpoint {
            path: path.display().to_string(),
            reason,
        }
    }
}

/// Checks the trials both methods train on: at least one, all with the channel count of the
/// first, every value finite. Returns the channel count.
pub(crate) fn check_trials(trials: &[TimeSeries]) -> Result<usize, TrainError> {
    let first = trials.first().ok_or(TrainError::NoData)?;
    let n = first.dims();
    for (trial, tr) in trials.iter().enumerate() {
        if tr.dims() != n {
            return Err(TrainError::ChannelMismatch {
                trial,
                got: tr.dims(),
                expected: n,
            });
        }
        if let Some(pos) = tr.as_slice().iter().position(|v| !v.is_finite()) {
            return Err(TrainError::NonFinite {
                trial,
                step: pos / n.max(1),
            });
        }
    }
    Ok(n)
}

/// Checks that a checkpoint fits the run it should continue: `setting` is the first setting
/// that differs (from `io::first_difference!`), `sizes` are (name, in the checkpoint, now)
/// sizes that must agree.
pub(crate) fn check_resume(
    setting: Option<(&'static str, String, String)>,
    sizes: &[(&'static str, usize, usize)],
) -> Result<(), TrainError> {
    let size = sizes
        .iter()
        .find(|(_, was, is)| was != is)
        .map(|&(field, was, is)| (field, was.to_string(), is.to_string()));
    match setting.or(size) {
        Some((field, checkpoint, current)) => Err(TrainError::CheckpointMismatch {
            field,
            checkpoint,
            current,
        }),
        None => Ok(()),
    }
}

/// Progress report after each epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// Epochs completed (an epoch cut short by the stop flag or the budget counts).
    pub epoch: usize,
    /// Epochs planned.
    pub epochs: usize,
    /// Mean loss of the epoch (VI: negative ELBO per step plus regulariser; BPTT: mean squared
    /// teacher-forced error).
    pub loss: f64,
    /// Parameter updates done so far.
    pub updates: u64,
    /// Updates per second of wall time over this call of the trainer.
    pub updates_per_sec: f64,
    /// Seconds of the run's clock: what the time budget bounds (VI: wall time of this call;
    /// BPTT: training time, resumed runs included).
    pub elapsed_secs: f64,
    /// Evaluator score, when the evaluator ran after this epoch.
    pub eval: Option<f64>,
}

/// A progress callback.
pub type ProgressFn<'a> = Box<dyn FnMut(&Progress) + 'a>;

/// An evaluator of the snapshots of type `M` (VI: [`crate::vi::TrainedModel`], BPTT:
/// [`plrnn_nostd::ModelBuf`]): lower is better, `None` = no score this time.
pub type EvaluatorFn<'a, M> = Box<dyn FnMut(&M) -> Option<f64> + 'a>;

/// What a training run reports to and takes from its caller; every field is optional.
pub struct Hooks<'a, M> {
    /// Called after every epoch.
    pub on_progress: Option<ProgressFn<'a>>,
    /// Scores the model every `eval_every` epochs and at the end (lower is better); the best
    /// is kept.
    pub evaluator: Option<EvaluatorFn<'a, M>>,
    /// Once set (e.g. by Ctrl-C), training checkpoints after the current update and returns.
    pub stop: Option<&'a AtomicBool>,
    /// Where checkpoints go (every `checkpoint_every` epochs and when stopped); `None` = no
    /// checkpoint files.
    pub checkpoint: Option<&'a Path>,
}

impl<M> Default for Hooks<'_, M> {
    fn default() -> Self {
        Self {
            on_progress: None,
            evaluator: None,
            stop: None,
            checkpoint: None,
        }
    }
}

/// The settings of the loop, from the method's configuration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    /// Epochs to train (the loop ends once this many are done).
    pub(crate) epochs: usize,
    /// The run ends once its clock ([`Method::clock`]) passes this many seconds.
    pub(crate) time_budget_secs: Option<f64>,
    /// Held-out evaluation every this many epochs (0 = never on the schedule).
    pub(crate) eval_every: usize,
    /// Periodic checkpoint every this many epochs (0 = none).
    pub(crate) checkpoint_every: usize,
}

/// How the stop flag and the time budget end a run between two updates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interrupt {
    /// The stop flag checkpoints and leaves at once. The budget leaves at once without a
    /// checkpoint, unless the update finished its epoch: that epoch is then closed as the last
    /// one (evaluated, reported, periodic checkpoint). The epoch counter, the batch position and
    /// the loss sum are the whole random state (VI), so a checkpoint mid-epoch is exact.
    AtOnce,
    /// Either checkpoints (before the cut epoch is booked, so that a resumed run finishes it
    /// as an uninterrupted one would), books the cut epoch as done, reports it and leaves.
    BookPartial,
}

/// How an update ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Update {
    /// The parameters moved.
    Done,
    /// The loss or the gradient was not finite; the method restored its last finite
    /// parameters and the run ends (methods that fail instead return
    /// [`TrainError::Diverged`]).
    Diverged,
}

/// One training method as [`run`] drives it: the state of a run (fresh or resumed from a
/// checkpoint) and its update.
pub(crate) trait Method {
    /// The model the evaluator scores and the best-model keeping stores.
    type Snapshot;
    /// How the stop flag and the time budget end a run.
    const INTERRUPT: Interrupt;
    /// True: the parameters a run ends with are always scored (unless scored already); false:
    /// only when the time budget ended the run and `eval_every > 0` (on the schedule, the
    /// last epoch is always scored).
    const ALWAYS_SCORE_LAST: bool;

    /// Epochs completed before the one in progress.
    fn epoch(&self) -> usize;
    /// Epochs completed as the outcome counts them (an epoch booked by
    /// [`Interrupt::BookPartial`] included).
    fn epochs_done(&self) -> usize;
    /// Parameter updates so far.
    fn updates(&self) -> u64;
    /// The run's clock when the method keeps one (training seconds, carried across resumes):
    /// the loop adds the time of every update and scheduled evaluation. `None`: the clock is
    /// the wall time of this call.
    fn clock(&mut self) -> Option<&mut f64>;
    /// Prepares the epoch in progress (also when resumed in its middle); `secs` on the clock.
    fn begin_epoch(&mut self, secs: f64);
    /// True when the epoch in progress has no update left.
    fn epoch_complete(&self) -> bool;
    /// One parameter update; `secs` on the clock.
    fn update(&mut self, secs: f64) -> Result<Update, TrainError>;
    /// Closes the completed epoch; returns its mean loss.
    fn end_epoch(&mut self) -> f64;
    /// Books the epoch cut short by [`Interrupt::BookPartial`] without closing it; returns its
    /// mean loss so far.
    fn book_partial_epoch(&mut self) -> f64;
    /// The current model, for the evaluator.
    fn snapshot(&self) -> Self::Snapshot;
    /// The best score kept so far (this run's and, when resumed, the checkpoint's).
    fn best_score(&self) -> Option<f64>;
    /// Keeps `snapshot` of the current parameters as the best, with its score.
    fn keep_best(&mut self, snapshot: Self::Snapshot, score: f64);
    /// Writes the state as a checkpoint file.
    fn save(&self, path: &Path) -> Result<(), TrainError>;
}

/// How [`run`] ended.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ended {
    /// The stop flag ended the run.
    pub(crate) stopped: bool,
    /// The time budget ended the run.
    pub(crate) out_of_time: bool,
    /// The method reported [`Update::Diverged`].
    pub(crate) diverged: bool,
    /// Seconds spent in evaluations.
    pub(crate) eval_secs: f64,
    /// Scheduled evaluations skipped by the [`EvalPacer`].
    pub(crate) evals_skipped: usize,
}

/// The training loop of both methods: epochs of updates until the planned epochs are done, the
/// time budget is spent, the stop flag is set or the method diverges; held-out evaluation every
/// `eval_every` epochs (paced under a budget, [`EvalPacer`]) and on the last, with best-model
/// keeping; progress after every epoch; checkpoints every `checkpoint_every` epochs and when
/// stopped.
pub(crate) fn run<M: Method>(
    m: &mut M,
    plan: Plan,
    hooks: &mut Hooks<'_, M::Snapshot>,
) -> Result<Ended, TrainError> {
    let start = Instant::now();
    let updates_at_start = m.updates();
    let mut pacer = EvalPacer::new(plan.time_budget_secs.is_some());
    // Whether the current parameters have been scored.
    let mut scored = false;
    let (mut stopped, mut out_of_time, mut diverged) = (false, false, false);
    'epochs: while m.epoch() < plan.epochs {
        let secs = now(m, start);
        m.begin_epoch(secs);
        while !m.epoch_complete() {
            let t0 = Instant::now();
            let secs = now(m, start);
            let update = m.update(secs)?;
            charge(m, t0.elapsed().as_secs_f64());
            scored = false;
            if update == Update::Diverged {
                diverged = true;
                break 'epochs;
            }
            stopped = hooks.stop.is_some_and(|f| f.load(Ordering::SeqCst));
            out_of_time = !stopped && plan.time_budget_secs.is_some_and(|b| now(m, start) >= b);
            if !(stopped || out_of_time) {
                continue;
            }
            match M::INTERRUPT {
                Interrupt::AtOnce => {
                    if stopped {
                        save(m, hooks)?;
                    }
                    if stopped || !m.epoch_complete() {
                        break 'epochs;
                    }
                }
                Interrupt::BookPartial => {
                    save(m, hooks)?;
                    let loss = m.book_partial_epoch();
                    report(m, plan, hooks, start, updates_at_start, loss, None);
                    break 'epochs;
                }
            }
        }
        let loss = m.end_epoch();
        let last = m.epoch() == plan.epochs || out_of_time;
        let mut eval = None;
        if plan.eval_every > 0
            && (last || m.epoch().is_multiple_of(plan.eval_every) && pacer.due(now(m, start)))
        {
            let t0 = Instant::now();
            eval = score(m, hooks);
            let secs = t0.elapsed().as_secs_f64();
            pacer.record(secs);
            charge(m, secs);
            scored = true;
        }
        report(m, plan, hooks, start, updates_at_start, loss, eval);
        if plan.checkpoint_every > 0 && m.epoch().is_multiple_of(plan.checkpoint_every) {
            save(m, hooks)?;
        }
        if out_of_time {
            break;
        }
    }
    // The parameters the run ends with get scored (a budget can end a run mid-epoch), so that
    // the best-model choice sees them.
    if !scored && (M::ALWAYS_SCORE_LAST || out_of_time && plan.eval_every > 0) {
        let t0 = Instant::now();
        score(m, hooks);
        pacer.record(t0.elapsed().as_secs_f64());
    }
    Ok(Ended {
        stopped,
        out_of_time,
        diverged,
        eval_secs: pacer.eval_secs(),
        evals_skipped: pacer.skipped(),
    })
}

/// Seconds on the run's clock (see [`Method::clock`]).
fn now<M: Method>(m: &mut M, start: Instant) -> f64 {
    match m.clock() {
        Some(secs) => *secs,
        None => start.elapsed().as_secs_f64(),
    }
}

/// Adds `secs` to the method's clock, if it keeps one.
fn charge<M: Method>(m: &mut M, secs: f64) {
    if let Some(clock) = m.clock() {
        *clock += secs;
    }
}

fn save<M: Method>(m: &M, hooks: &Hooks<'_, M::Snapshot>) -> Result<(), TrainError> {
    match hooks.checkpoint {
        Some(path) => m.save(path),
        None => Ok(()),
    }
}

/// Scores the current model with the evaluator, if there is one, and keeps it when it beats
/// the best so far (a NaN score never does).
fn score<M: Method>(m: &mut M, hooks: &mut Hooks<'_, M::Snapshot>) -> Option<f64> {
    let evaluator = hooks.evaluator.as_mut()?;
    let snapshot = m.snapshot();
    let s = evaluator(&snapshot)?;
    if !s.is_nan() && m.best_score().is_none_or(|b| s < b) {
        m.keep_best(snapshot, s);
    }
    Some(s)
}

fn report<M: Method>(
    m: &mut M,
    plan: Plan,
    hooks: &mut Hooks<'_, M::Snapshot>,
    start: Instant,
    updates_at_start: u64,
    loss: f64,
    eval: Option<f64>,
) {
    if let Some(f) = hooks.on_progress.as_mut() {
        let wall = start.elapsed().as_secs_f64();
        let updates = m.updates();
        f(&Progress {
            epoch: m.epochs_done(),
            epochs: plan.epochs,
            loss,
            updates,
            updates_per_sec: (updates - updates_at_start) as f64 / wall.max(1e-9),
            elapsed_secs: now(m, start),
            eval,
        });
    }
}

/// The worker pool of a run: `threads` threads (0 = one per core).
pub(crate) fn pool(threads: usize) -> Result<rayon::ThreadPool, TrainError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| TrainError::Pool {
            threads,
            reason: e.to_string(),
        })
}
