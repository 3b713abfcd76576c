//! # plrnn-nostd
//!
//! A `no_std`, heap-free runtime for piecewise-linear recurrent neural network (PLRNN) generative
//! models with a dendritic basis expansion: it loads model files written by `plrnn-train` and
//! runs the latent dynamics and the observation model in closed loop, with noise and external
//! inputs, on a Cortex-M as on a workstation, bit for bit the same.
//!
//! ## The model
//!
//! ```text
//! z_t = A ∘ z_{t−1} + W φ(z_{t−1}) + h + C s_t + ε_t      ε_t ~ N(0, diag σ_z²)
//! x_t = B z_t + η_t                                         η_t ~ N(0, diag σ_x²)
//! ```
//!
//! with z ∈ R^M, x ∈ R^N, s ∈ R^K, P basis functions and φ one of [`Variant`]. The arithmetic
//! lives in one kernel (module `step`), reached through the const-generic [`Model`] (device) and
//! the run-time-sized [`ModelRef`] (host); both give identical bits.
//!
//! ```
//! use plrnn_nostd::{Generator, Model, ModelParams, Noise, Variant};
//! # fn main() -> Result<(), plrnn_nostd::LoadError> {
//! let params = ModelParams::<2, 1, 0, 0> {
//!     a: [0.5, 0.5], w: [[0.0, 0.1], [0.2, 0.0]], h: [0.1, -0.1], alpha: [], theta: [[]; 2],
//!     c: [[]; 2], b: [[1.0, 0.0]], sigma_z: [0.1; 2], sigma_x: [0.1],
//! };
//! let model = Model::from_params(Variant::Relu, params)?;
//! let mut gen = Generator::new(&model, 7);
//! let mut out = [[0.0f32; 1]; 10];
//! gen.run(Noise::None, &mut out);
//! assert!(out.iter().all(|x| x[0].is_finite()));
//! # Ok(())
//! # }
//! ```
//!
//! ## Model file format, version 1
//!
//! All integers little-endian. A file is `header ‖ payload ‖ crc`:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `b"PLRN"` (0x50 0x4C 0x52 0x4E) |
//! | 4 | 2 | format version, u16 = 1 |
//! | 6 | 1 | variant: 0 = `Relu`, 1 = `Dendritic`, 2 = `ClippedDendritic` |
//! | 7 | 1 | flags: bit 0 = data statistics meaningful (model trained on z-scored data); other bits 0 |
//! | 8 | 2 | M, u16 ≥ 1 |
//! | 10 | 2 | N, u16 ≥ 1 |
//! | 12 | 2 | P, u16 |
//! | 14 | 2 | K, u16 |
//! | 16 | L | payload (below) |
//! | 16 + L | 4 | CRC-32 (IEEE, as zlib/PNG) of bytes 0 .. 16 + L, u32 |
//!
//! The payload is the [postcard](https://postcard.jamesmunns.com/wire-format) encoding of a tuple
//! of 11 sequences of f32, i.e. for each block in this order: a LEB128 varint count, then that
//! many IEEE-754 binary32 values, little-endian, matrices row-major:
//!
//! | block | count | meaning |
//! |---|---|---|
//! | A | M | diagonal of the linear part |
//! | W | M·M | `W[i][j]` at i·M + j, diagonal exactly 0 |
//! | h | M | bias |
//! | α | P | basis weights |
//! | θ | M·P | `θ[i][b]` at i·P + b |
//! | C | M·K | `C[i][k]` at i·K + k |
//! | B | N·M | `B[n][i]` at n·M + i |
//! | σ_z | M | process-noise scales, > 0 |
//! | σ_x | N | observation-noise scales, > 0 |
//! | data mean | N | per channel; x_data = x · std + mean |
//! | data std | N | per channel, > 0 |
//!
//! Counts must equal the header's sizes, so the total length is fixed by the header
//! ([`format::file_len`]). A reader must reject: wrong magic, another version, an unknown variant
//! tag or flag, M or N zero, a length other than the implied one, a CRC mismatch, a count other
//! than the implied one, any non-finite value, a scale ≤ 0, a non-zero W diagonal. [`LoadError`]
//! names each case.
//!
//! ## Features
//!
//! - `alloc`: [`ModelBuf`] (decode any file on a host), [`DynGenerator`] (the [`Generator`] of
//!   run-time size), `ModelRef::encode`.
//! - `std`: implies `alloc` (host conveniences).
//! - `defmt`: `defmt::Format` on public types.
//! - `micromath`: Gaussian sampling with `micromath` approximations instead of `libm`.
#![cfg_attr(not(test), no_std)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

mod basis;
#[cfg(feature = "alloc")]
mod buf;
mod error;
pub mod format;
mod generator;
pub mod input;
mod kernel;
mod model;
mod step;

#[cfg(feature = "alloc")]
pub use buf::{ModelBuf, ValidModel};
pub use error::{BufferTooSmall, Dim, LoadError, ShapeError};
pub use format::{crc32, Header, FORMAT_VERSION};
pub use generator::{ArrayStorage, GaussianSampler, Generator, GeneratorInner, Noise, Storage};
#[cfg(feature = "alloc")]
pub use generator::{DynGenerator, VecStorage};
pub use model::{Dims, Model, ModelParams, ModelRef, Param, ParamsRef, Variant};
