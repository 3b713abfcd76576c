//! Checkpoints: everything needed to resume a run so that it ends with exactly the parameters
//! of an uninterrupted run. Floats are written by serde_json with `float_roundtrip`, so every
//! f64 reads back bit for bit.
//!
//! The random state is not stored as generator words: every random draw of the trainer is
//! derived from (seed, epoch, sequence index) by a fixed mixing function, so the epoch and batch
//! counters *are* the random state, and resuming cannot drift.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::config::TrainConfig;
use super::model::TrainedModel;
use crate::optim::Adam;
use crate::train_loop::TrainError;

/// The best model seen by the evaluator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BestModel {
    /// The model.
    pub model: TrainedModel,
    /// Its evaluator score (lower is better).
    pub score: f64,
    /// Epochs completed when it was evaluated.
    pub epoch: usize,
}

/// A resumable snapshot of a training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Format version of this struct.
    pub format: u32,
    /// The configuration of the run.
    pub config: TrainConfig,
    /// Observation dimension N.
    pub n: usize,
    /// Input dimension K.
    pub k: usize,
    /// Number of training sequences.
    pub n_seq: usize,
    /// Flat parameter vector (see [`super::params::Layout`]).
    pub params: Vec<f64>,
    /// Optimiser state.
    pub adam: Adam,
    /// Epochs completed.
    pub epoch: usize,
    /// Batches completed in the current epoch.
    pub batch: usize,
    /// Parameter updates done.
    pub updates: u64,
    /// Sum of the batch losses of the current epoch so far.
    pub epoch_loss_sum: f64,
    /// Best model seen by the evaluator.
    pub best: Option<BestModel>,
}

/// Current checkpoint format.
pub const CHECKPOINT_FORMAT: u32 = 1;

impl Checkpoint {
    /// Writes the checkpoint atomically as JSON.
    pub fn save(&self, path: &Path) -> Result<(), TrainError> {
        crate::io::write_json_atomic(path, self)
            .map_err(|reason| TrainError::checkpoint(path, reason))
    }

    /// Reads a checkpoint written by [`Checkpoint::save`].
    pub fn load(path: &Path) -> Result<Self, TrainError> {
        let err = |reason: String| TrainError::checkpoint(path, reason);
        let c: Self = crate::io::read_json(path).map_err(err)?;
        if c.format != CHECKPOINT_FORMAT {
            return Err(err(format!(
                "format {} is not the supported {CHECKPOINT_FORMAT}",
                c.format
            )));
        }
        Ok(c)
    }
}
