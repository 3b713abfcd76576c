//! The field's evaluation metrics for generative models of dynamical systems, exactly as
//! `reference-notes.md` ("Metrics, precisely") defines them:
//!
//! - [`d_stsp_binned`] and [`d_stsp_gmm`]: state-space divergence D_stsp, the KL divergence
//!   between the distributions of true and generated points (binned for N < 5, Gaussian mixture
//!   Monte-Carlo for N ≥ 5);
//! - [`d_h`] (Hellinger distance of smoothed power spectra) and [`psc`] (the older code's
//!   correlation of smoothed dB spectra);
//! - [`prediction_error`]: PE(n), the n-step-ahead prediction error from inferred states;
//! - [`lyapunov_max`] (largest Lyapunov exponent of a model, Benettin) and
//!   [`lyapunov_max_from_series`] (from data, Rosenstein);
//! - [`evaluate`]: the whole protocol, producing a serialisable [`EvalReport`].
//!
//! Every series is a [`TimeSeries`] (time × channels). Every function validates its input and
//! returns [`MetricsError`] instead of panicking.

mod dstsp;
mod lyapunov;
mod prediction;
mod report;
mod spectrum;

pub use dstsp::{d_stsp_binned, d_stsp_gmm, BinRange, GmmOptions};
pub use lyapunov::{lyapunov_max, lyapunov_max_from_series, FitRange, RosensteinOptions};
pub use prediction::{generate, prediction_error};
pub use report::{evaluate, DstspMethod, EvalProtocol, EvalReport, InitSelection};
pub use spectrum::{d_h, gaussian_filter1d_reflect, psc};

#[cfg(doc)]
use crate::TimeSeries;

/// Why a metric could not be computed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// Two inputs that must agree in a dimension do not.
    #[error("dimension mismatch: {what} has {got}, expected {expected}")]
    DimMismatch {
        /// Which quantity disagrees.
        what: &'static str,
        /// The size required.
        expected: usize,
        /// The size given.
        got: usize,
    },
    /// A series is too short for the metric.
    #[error("{what} is too short: {len} steps, need at least {min}")]
    TooShort {
        /// Which series.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The minimum length.
        min: usize,
    },
    /// A parameter is out of its valid range.
    #[error("invalid parameter {name} = {value}: {reason}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// The offending value, formatted.
        value: String,
        /// What is required.
        reason: &'static str,
    },
    /// A series contains NaN or infinite values where finite ones are required.
    #[error("{what} contains non-finite values")]
    NonFinite {
        /// Which series.
        what: &'static str,
    },
    /// The data make the metric undefined (e.g. a constant series where a spread is needed).
    #[error("metric undefined: {0}")]
    Degenerate(String),
}

/// A deterministic latent map with a linear-Gaussian readout, as seen by the metrics.
///
/// The model-dependent metrics ([`prediction_error`], [`generate`], [`lyapunov_max`],
/// [`evaluate`]) see a model only through this trait: the noise-free latent step F (zero
/// external input) and the mean of the observation model.
pub trait Dynamics: Sync {
    /// Latent dimension M.
    fn latent_dim(&self) -> usize;
    /// Observation dimension N.
    fn obs_dim(&self) -> usize;
    /// z_next = F(z) (deterministic, zero external input).
    fn step(&self, z: &[f64], z_next: &mut [f64]);
    /// x = B z.
    fn observe(&self, z: &[f64], x: &mut [f64]);
    /// Row-major M×M Jacobian dF/dz at z.
    fn jacobian(&self, z: &[f64], jac: &mut [f64]);
}

/// Checks that a series has finite values only.
pub(crate) fn check_finite(s: &crate::TimeSeries, what: &'static str) -> Result<(), MetricsError> {
    if s.as_slice().iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(MetricsError::NonFinite { what })
    }
}

/// Checks that two series have the same channel count.
pub(crate) fn check_same_dims(
    true_: &crate::TimeSeries,
    gen: &crate::TimeSeries,
) -> Result<(), MetricsError> {
    if true_.dims() == gen.dims() {
        Ok(())
    } else {
        Err(MetricsError::DimMismatch {
            what: "generated series channels",
            expected: true_.dims(),
            got: gen.dims(),
        })
    }
}

/// Test models shared by the unit tests of the submodules.
#[cfg(test)]
pub(crate) mod test_models {
    use super::Dynamics;

    /// z → diag(a) z, x = z.
    pub struct Diagonal(pub Vec<f64>);

    impl Dynamics for Diagonal {
        fn latent_dim(&self) -> usize {
            self.0.len()
        }
        fn obs_dim(&self) -> usize {
            self.0.len()
        }
        fn step(&self, z: &[f64], z_next: &mut [f64]) {
            for ((n, a), z) in z_next.iter_mut().zip(&self.0).zip(z) {
                *n = a * z;
            }
        }
        fn observe(&self, z: &[f64], x: &mut [f64]) {
            x.copy_from_slice(z);
        }
        fn jacobian(&self, _z: &[f64], jac: &mut [f64]) {
            let m = self.0.len();
            jac.iter_mut().for_each(|j| *j = 0.0);
            for i in 0..m {
                jac[i * m + i] = self.0[i];
            }
        }
    }

    /// The logistic map z → r z (1 − z), x = z.
    pub struct Logistic(pub f64);

    impl Dynamics for Logistic {
        fn latent_dim(&self) -> usize {
            1
        }
        fn obs_dim(&self) -> usize {
            1
        }
        fn step(&self, z: &[f64], z_next: &mut [f64]) {
            z_next[0] = self.0 * z[0] * (1.0 - z[0]);
        }
        fn observe(&self, z: &[f64], x: &mut [f64]) {
            x[0] = z[0];
        }
        fn jacobian(&self, z: &[f64], jac: &mut [f64]) {
            jac[0] = self.0 * (1.0 - 2.0 * z[0]);
        }
    }
}
