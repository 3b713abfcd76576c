//! n-step prediction error and closed-loop generation.

use rayon::prelude::*;

use super::{Dynamics, MetricsError};
use crate::TimeSeries;

/// Time points handled by one rayon task; partial sums are combined in a fixed order, so the
/// result does not depend on the thread count.
const CHUNK: usize = 256;

/// PE(n) for every n in `ns`, as `(n, PE(n))` in the order given.
///
/// PE(n) = mean over t ∈ [0, T − n) and over the N channels of (x̂_{t+n} − x_{t+n})², where
/// x̂_{t+n} = observe(F^n(z_t)), z_t is row t of `init_states` (the latent state inferred at
/// test time t: encoder mean or data-derived) and F is the model's deterministic step. PE(0) is
/// the reconstruction error of the readout. A diverged prediction gives an infinite or NaN PE,
/// which is a result, not an error.
///
/// Parallel over t (rayon, fixed-size chunks summed in order: deterministic).
///
/// Errors: `test` and `init_states` of different lengths, channel counts that do not match the
/// model, an empty `ns`, or an n ≥ T (no valid t).
pub fn prediction_error(
    model: &dyn Dynamics,
    test: &TimeSeries,
    init_states: &TimeSeries,
    ns: &[usize],
) -> Result<Vec<(usize, f64)>, MetricsError> {
    let (m, n_obs) = (model.latent_dim(), model.obs_dim());
    if test.dims() != n_obs {
        return Err(MetricsError::DimMismatch {
            what: "test series channels (model obs_dim)",
            expected: n_obs,
            got: test.dims(),
        });
    }
    if init_states.dims() != m {
        return Err(MetricsError::DimMismatch {
            what: "initial states channels (model latent_dim)",
            expected: m,
            got: init_states.dims(),
        });
    }
    if init_states.len() != test.len() {
        return Err(MetricsError::DimMismatch {
            what: "initial states length (one per test step)",
            expected: test.len(),
            got: init_states.len(),
        });
    }
    if ns.is_empty() {
        return Err(MetricsError::InvalidParameter {
            name: "ns",
            value: "[]".into(),
            reason: "need at least one prediction horizon",
        });
    }
    let len = test.len();
    let n_max = *ns.iter().max().unwrap_or(&0);
    if n_max >= len {
        return Err(MetricsError::TooShort {
            what: "test series",
            len,
            min: n_max + 1,
        });
    }

    // Squared-error sums per horizon 0..=n_max; each t is iterated once up to its last useful
    // horizon.
    let starts: Vec<usize> = (0..len).collect();
    let partial: Vec<Vec<f64>> = starts
        .par_chunks(CHUNK)
        .map(|ts| {
            let mut sums = vec![0.0; n_max + 1];
            let mut z = vec![0.0; m];
            let mut z_next = vec![0.0; m];
            let mut x = vec![0.0; n_obs];
            for &t in ts {
                z.copy_from_slice(init_states.row(t));
                let last = n_max.min(len - 1 - t);
                for (k, sum) in sums.iter_mut().enumerate().take(last + 1) {
                    if k > 0 {
                        model.step(&z, &mut z_next);
                        std::mem::swap(&mut z, &mut z_next);
                    }
                    model.observe(&z, &mut x);
                    *sum += x
                        .iter()
                        .zip(test.row(t + k))
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum::<f64>();
                }
            }
            sums
        })
        .collect();
    let mut sums = vec![0.0; n_max + 1];
    for p in &partial {
        for (s, v) in sums.iter_mut().zip(p) {
            *s += v;
        }
    }
    Ok(ns
        .iter()
        .map(|&n| (n, sums[n] / ((len - n) * n_obs) as f64))
        .collect())
}

/// Closed-loop generation from each initial state: one observed trajectory per entry of `z0s`.
///
/// With z_0 = z0 and z_{k+1} = F(z_k), the trajectory kept is x_k = B z_k for
/// k = burn_in .. burn_in + keep − 1 (so `burn_in = 0` keeps the initial state's observation).
/// Parallel over trajectories; each trajectory is computed sequentially, so the result does not
/// depend on the thread count.
///
/// Errors: an initial state whose length is not the model's latent dimension.
pub fn generate(
    model: &dyn Dynamics,
    z0s: &[Vec<f64>],
    burn_in: usize,
    keep: usize,
) -> Result<Vec<TimeSeries>, MetricsError> {
    let m = model.latent_dim();
    let n_obs = model.obs_dim();
    if let Some(bad) = z0s.iter().find(|z| z.len() != m) {
        return Err(MetricsError::DimMismatch {
            what: "initial state length (model latent_dim)",
            expected: m,
            got: bad.len(),
        });
    }
    if n_obs == 0 {
        return Err(MetricsError::InvalidParameter {
            name: "obs_dim",
            value: "0".into(),
            reason: "the model must observe at least one channel",
        });
    }
    Ok(z0s
        .par_iter()
        .map(|z0| {
            let mut z = z0.clone();
            let mut z_next = vec![0.0; m];
            for _ in 0..burn_in {
                model.step(&z, &mut z_next);
                std::mem::swap(&mut z, &mut z_next);
            }
            let mut out = TimeSeries::zeros(keep, n_obs);
            for k in 0..keep {
                if k > 0 {
                    model.step(&z, &mut z_next);
                    std::mem::swap(&mut z, &mut z_next);
                }
                model.observe(&z, out.row_mut(k));
            }
            out
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::test_models::Diagonal;

    /// Model z → 0.5 z, x = z; data x_t = 1 for all t, states z_t = 1. Then
    /// x̂_{t+n} = 0.5ⁿ and PE(n) = (1 − 0.5ⁿ)² for every t: PE(0) = 0, PE(1) = 0.25,
    /// PE(2) = 0.5625, PE(5) = (31/32)².
    #[test]
    fn linear_map_known_answer() {
        let model = Diagonal(vec![0.5, 0.5]);
        let test = TimeSeries::new(vec![1.0; 2 * 600], 2).unwrap();
        let pe = prediction_error(&model, &test, &test, &[0, 1, 2, 5]).unwrap();
        let expect = [0.0, 0.25, 0.5625, (31.0f64 / 32.0).powi(2)];
        for ((n, v), e) in pe.iter().zip(expect) {
            assert!((v - e).abs() < 1e-15, "PE({n}) = {v}, expected {e}");
        }
    }

    /// A model that is exact on the data gives PE = 0: data x_t = 0.9^t, states = data.
    #[test]
    fn exact_model_zero_error() {
        let model = Diagonal(vec![0.9]);
        let test = TimeSeries::new((0..300).map(|t| 0.9f64.powi(t)).collect(), 1).unwrap();
        for (_, v) in prediction_error(&model, &test, &test, &[1, 10, 20]).unwrap() {
            assert!(v < 1e-28);
        }
    }

    #[test]
    fn bad_inputs() {
        let model = Diagonal(vec![0.5]);
        let t1 = TimeSeries::new(vec![1.0; 10], 1).unwrap();
        let t2 = TimeSeries::new(vec![1.0; 20], 2).unwrap();
        assert!(prediction_error(&model, &t2, &t1, &[1]).is_err());
        assert!(prediction_error(&model, &t1, &t2, &[1]).is_err());
        assert!(prediction_error(&model, &t1, &t1, &[10]).is_err());
        assert!(prediction_error(&model, &t1, &t1, &[]).is_err());
        assert!(generate(&model, &[vec![1.0, 2.0]], 1, 1).is_err());
    }

    #[test]
    fn generate_burn_in_and_keep() {
        let model = Diagonal(vec![2.0]);
        let out = generate(&model, &[vec![1.0], vec![3.0]], 2, 3).unwrap();
        assert_eq!(out[0].as_slice(), &[4.0, 8.0, 16.0]);
        assert_eq!(out[1].as_slice(), &[12.0, 24.0, 48.0]);
    }
}
