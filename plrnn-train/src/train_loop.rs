//! What the two trainers share around their updates: the error a run reports
//! ([`TrainError`]), the progress report after each epoch ([`Progress`]) and the hooks a caller
//! passes in ([`Hooks`]).
//!
//! It lives beside the trainers rather than in either, so that neither [`crate::vi`] nor
//! [`crate::bptt`] imports the other; [`crate::fit`] builds on it.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use thiserror::Error;

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
