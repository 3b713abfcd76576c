//! Variational inference for the dendritic PLRNN (a sequential VAE as in the reference `VI/`
//! code, re-derived): a mean-field Gaussian encoder, the reparameterised ELBO of the complete
//! likelihood with hand-derived gradients, Adam with clipping, parallel mini-batches, checkpoints.
//! By default the loss adds a teacher-forcing term ([`tf`]): the latent model run forward from
//! the encoder's path with sparse resets, scored against the data, so that the dynamics run free
//! like the data rather than only fitting one step at a time.
//!
//! Where each equation lives: the encoder in [`encoder`], the ELBO and its gradient in [`elbo`],
//! the teacher-forcing term in [`tf`],
//! initialisation in [`params`], the optimiser in [`crate::optim`], the noise ε in [`normal`], the loop
//! in [`mod@train`].

// Index loops keep the equations readable next to their derivations (and the hot ones are
// written so they vectorise).
#![allow(clippy::needless_range_loop)]

mod basis;
pub mod checkpoint;
pub mod config;
pub mod elbo;
pub mod encoder;
pub mod model;
pub mod normal;
pub mod params;
mod simd;
pub mod tf;
pub mod train;

pub use checkpoint::{BestModel, Checkpoint};
pub use config::{
    Annealing, EncoderKind, InitialState, Objective, TfForce, TrainConfig, ValidConfig,
};
pub use model::{EncoderParams, TrainedModel};
pub use train::{resume, train, train_with_inputs, TrainOutcome};

#[cfg(test)]
mod tests;
