//! Backpropagation through time with generalised and/or sparse teacher forcing (as in the
//! reference's `BPTT_TF/` code base, re-derived): an alternative to the variational trainer
//! in [`crate::vi`] that learns Lorenz-63 in well under a minute.
//!
//! The model is the PLRNN of `docs/architecture.md` with the identity-style observation
//! x_t = B z_t, B = [I_N 0]. Equations and the gradient derivation are in [`model`], the loop
//! in [`mod@train`] (its optimiser, RAdam, in [`crate::optim`]), the settings in [`config`].

// Index loops keep the equations readable next to their derivations.
#![allow(clippy::needless_range_loop)]

pub mod config;
pub mod model;
pub mod train;

pub use config::{BpttConfig, ValidBpttConfig};
pub use model::Layout;
pub use train::{
    resume, train, BestBptt, BestState, BpttCheckpoint, BpttOutcome, BPTT_CHECKPOINT_FORMAT,
};

#[cfg(test)]
mod tests;
