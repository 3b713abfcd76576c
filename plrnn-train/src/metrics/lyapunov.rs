//! Largest Lyapunov exponent: of a model (tangent propagation, Benettin) and from data
//! (nearest-neighbour divergence, Rosenstein et al. 1993). Both in nats per time step.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{check_finite, Dynamics, MetricsError};
use crate::TimeSeries;

/// Largest Lyapunov exponent of a model, per step, by Benettin's method.
///
/// From z_0 = `z0`, the orbit is iterated `transient` steps while a tangent vector is propagated
/// with the Jacobian and renormalised (so it is aligned with the most expanding direction when
/// measurement starts); then for `steps` more steps λ = (1/steps) Σ ln ‖J(z_k) v_k‖ with v
/// renormalised to unit length each step. The initial tangent vector is a fixed generic vector
/// (every component non-zero), so the result is deterministic.
///
/// Returns −∞ if the tangent vector is annihilated (a Jacobian with a null direction along the
/// orbit, e.g. a super-stable fixed point), and NaN/∞ if the orbit itself diverges.
///
/// Errors: `z0` of the wrong length, `steps == 0`, a model with latent dimension 0.
pub fn lyapunov_max(
    model: &dyn Dynamics,
    z0: &[f64],
    transient: usize,
    steps: usize,
) -> Result<f64, MetricsError> {
    let m = model.latent_dim();
    if m == 0 {
        return Err(MetricsError::InvalidParameter {
            name: "latent_dim",
            value: "0".into(),
            reason: "the model needs at least one latent unit",
        });
    }
    if z0.len() != m {
        return Err(MetricsError::DimMismatch {
            what: "initial state length (model latent_dim)",
            expected: m,
            got: z0.len(),
        });
    }
    if steps == 0 {
        return Err(MetricsError::InvalidParameter {
            name: "steps",
            value: "0".into(),
            reason: "need at least one step to average over",
        });
    }
    let mut z = z0.to_vec();
    let mut z_next = vec![0.0; m];
    let mut jac = vec![0.0; m * m];
    // Golden-ratio sequence in [1, 2): generic, all components non-zero.
    let mut v: Vec<f64> = (0..m)
        .map(|i| 1.0 + ((i as f64 + 1.0) * 0.618_033_988_749_895).fract())
        .collect();
    normalise(&mut v);
    let mut jv = vec![0.0; m];
    let mut sum = 0.0;
    for k in 0..transient + steps {
        model.jacobian(&z, &mut jac);
        for (i, out) in jv.iter_mut().enumerate() {
            *out = jac[i * m..(i + 1) * m]
                .iter()
                .zip(&v)
                .map(|(a, b)| a * b)
                .sum();
        }
        let norm = jv.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 {
            return Ok(f64::NEG_INFINITY);
        }
        if k >= transient {
            sum += norm.ln();
        }
        for (a, b) in v.iter_mut().zip(&jv) {
            *a = b / norm;
        }
        model.step(&z, &mut z_next);
        std::mem::swap(&mut z, &mut z_next);
    }
    Ok(sum / steps as f64)
}

fn normalise(v: &mut [f64]) {
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
}

/// Which part of the mean log-divergence curve y(k) the Rosenstein slope is fitted to.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FitRange {
    /// From k = 0 to the first k where y has covered half of its total rise,
    /// y(k) ≥ y(0) + ½ (max y − y(0)): the early, linear part before saturation at the
    /// attractor's size. At least k = 0..=2 (or the whole horizon if shorter).
    Auto,
    /// Fit over k = start..=end (clamped to the horizon).
    Fixed {
        /// First step of the fit.
        start: usize,
        /// Last step of the fit.
        end: usize,
    },
}

/// Parameters of [`lyapunov_max_from_series`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RosensteinOptions {
    /// Reference points, evenly spaced over the usable part of the series (all points if the
    /// series is shorter). Their nearest neighbours are searched among *all* points, by brute
    /// force: cost O(n_reference · T · N).
    pub n_reference: usize,
    /// Theiler window: a neighbour j of reference i must have |i − j| > theiler, so that
    /// neighbours lie on another pass of the orbit, not on the same stretch (about a mean
    /// period; 100 steps suits flows sampled at dt ≈ 0.01).
    pub theiler: usize,
    /// Steps k = 0..=horizon over which each pair's separation is followed.
    pub horizon: usize,
    /// The part of the divergence curve fitted.
    pub fit: FitRange,
}

impl Default for RosensteinOptions {
    fn default() -> Self {
        Self {
            n_reference: 1000,
            theiler: 100,
            horizon: 500,
            fit: FitRange::Auto,
        }
    }
}

/// Largest Lyapunov exponent estimated from data, per step (Rosenstein, Collins & De Luca 1993).
///
/// The rows of `series` are taken as the state vectors (for a scalar observation of a
/// higher-dimensional system, pass its [`DelayEmbedding`](crate::embed::DelayEmbedding)). Only points i < T − horizon can be
/// followed for `horizon` steps; among them `n_reference` evenly spaced reference points i each
/// get their nearest neighbour j (Euclidean, |i − j| > theiler, same index range). Then
/// y(k) = mean over pairs of ln ‖x_{i+k} − x_{j+k}‖ (pairs at distance 0 at step k are left out
/// of that step's mean), and λ is the least-squares slope of y(k) over the [`FitRange`].
/// Divide by the sampling step to get an exponent per time unit.
///
/// Errors: non-finite data, a series too short for the horizon and the Theiler window, no
/// reference point with a non-zero neighbour distance (e.g. a constant or exactly periodic
/// series), `n_reference == 0`, or a fit range with fewer than two points.
pub fn lyapunov_max_from_series(
    series: &TimeSeries,
    opts: &RosensteinOptions,
) -> Result<f64, MetricsError> {
    check_finite(series, "series")?;
    if opts.n_reference == 0 {
        return Err(MetricsError::InvalidParameter {
            name: "n_reference",
            value: "0".into(),
            reason: "need at least one reference point",
        });
    }
    let len = series.len();
    let min_len = opts.horizon + opts.theiler + 2;
    if len < min_len {
        return Err(MetricsError::TooShort {
            what: "series",
            len,
            min: min_len,
        });
    }
    let usable = len - opts.horizon;
    let n_ref = opts.n_reference.min(usable);
    let n = series.dims();
    let x = series.as_slice();
    let dist2 = |a: usize, b: usize| -> f64 {
        x[a * n..(a + 1) * n]
            .iter()
            .zip(&x[b * n..(b + 1) * n])
            .map(|(p, q)| (p - q) * (p - q))
            .sum()
    };

    // Per reference: (sum of ln d(k), count) contributions for k = 0..=horizon.
    let refs: Vec<usize> = (0..n_ref).map(|r| r * usable / n_ref).collect();
    let curves: Vec<Vec<f64>> = refs
        .par_iter()
        .map(|&i| {
            let mut best = (f64::INFINITY, usize::MAX);
            for j in 0..usable {
                if i.abs_diff(j) <= opts.theiler {
                    continue;
                }
                let d = dist2(i, j);
                if d < best.0 {
                    best = (d, j);
                }
            }
            let j = best.1;
            if j == usize::MAX {
                return Vec::new();
            }
            (0..=opts.horizon)
                .map(|k| 0.5 * dist2(i + k, j + k).ln())
                .collect()
        })
        .collect();
    let mut sum = vec![0.0; opts.horizon + 1];
    let mut count = vec![0usize; opts.horizon + 1];
    for c in &curves {
        for (k, v) in c.iter().enumerate() {
            if v.is_finite() {
                sum[k] += v;
                count[k] += 1;
            }
        }
    }
    if count.contains(&0) {
        return Err(MetricsError::Degenerate(
            "some divergence step has no pair at a non-zero distance (constant or exactly \
             repeating series)"
                .into(),
        ));
    }
    let y: Vec<f64> = sum.iter().zip(&count).map(|(s, c)| s / *c as f64).collect();

    let (start, end) = match opts.fit {
        FitRange::Fixed { start, end } => (start, end.min(opts.horizon)),
        FitRange::Auto => {
            let y_max = y.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let half = y[0] + 0.5 * (y_max - y[0]);
            let k_half = y.iter().position(|&v| v >= half).unwrap_or(opts.horizon);
            (0, k_half.max(2).min(opts.horizon))
        }
    };
    if end < start + 1 {
        return Err(MetricsError::InvalidParameter {
            name: "fit",
            value: format!("{start}..={end}"),
            reason: "the fit needs at least two steps within the horizon",
        });
    }
    Ok(slope(&y[start..=end], start))
}

/// Least-squares slope of `y` against k = offset, offset + 1, ….
fn slope(y: &[f64], offset: usize) -> f64 {
    let n = y.len() as f64;
    let k_mean = offset as f64 + (n - 1.0) / 2.0;
    let y_mean = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (i, v) in y.iter().enumerate() {
        let dk = (offset + i) as f64 - k_mean;
        sxy += dk * (v - y_mean);
        sxx += dk * dk;
    }
    sxy / sxx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::test_models::{Diagonal, Logistic};

    #[test]
    fn linear_1d_is_ln_abs_a() {
        for a in [0.5, -1.7, 1.0, 2.0] {
            let l = lyapunov_max(&Diagonal(vec![a]), &[0.3], 10, 200).unwrap();
            let e = f64::ln(f64::abs(a));
            assert!((l - e).abs() < 1e-14, "a = {a}: {l} vs {e}");
        }
    }

    #[test]
    fn diagonal_is_ln_max_abs() {
        let l = lyapunov_max(&Diagonal(vec![0.5, -1.2, 0.9, 1.1]), &[1.0; 4], 200, 1000).unwrap();
        assert!((l - 1.2f64.ln()).abs() < 1e-12, "{l}");
    }

    #[test]
    fn super_stable_is_minus_infinity_and_errors() {
        assert_eq!(
            lyapunov_max(&Diagonal(vec![0.0]), &[1.0], 0, 10).unwrap(),
            f64::NEG_INFINITY
        );
        assert!(lyapunov_max(&Diagonal(vec![0.5]), &[1.0, 2.0], 0, 10).is_err());
        assert!(lyapunov_max(&Diagonal(vec![0.5]), &[1.0], 0, 0).is_err());
    }

    /// The logistic map at r = 4 has λ = ln 2 (its invariant density gives
    /// E[ln|4(1 − 2x)|] = ln 2 exactly).
    #[test]
    fn logistic_model_is_ln2() {
        let l = lyapunov_max(&Logistic(4.0), &[0.1234], 100, 100_000).unwrap();
        assert!((l - 2f64.ln()).abs() < 0.02, "{l}");
    }

    fn logistic_series(len: usize) -> TimeSeries {
        let mut x = 0.1234;
        let v = (0..len)
            .map(|_| {
                let v = x;
                x = 4.0 * x * (1.0 - x);
                v
            })
            .collect();
        TimeSeries::new(v, 1).unwrap()
    }

    /// Rosenstein on 20 000 points of the r = 4 logistic map (1-D states; the map is a function
    /// of x alone, so no embedding is needed). Nearest neighbours start ≈ 1e-5 apart and
    /// separate by ≈ 2 per step until they reach the size of [0, 1] after ≈ 12 steps; the
    /// automatic fit covers the first half of that rise. Tolerance 0.05 (7 %): the estimator's
    /// own bias (curvature as pairs approach saturation) and sampling noise of the reference set.
    #[test]
    fn rosenstein_logistic_near_ln2() {
        let s = logistic_series(20_000);
        let opts = RosensteinOptions {
            n_reference: 1000,
            theiler: 10,
            horizon: 40,
            fit: FitRange::Auto,
        };
        let l = lyapunov_max_from_series(&s, &opts).unwrap();
        assert!((l - 2f64.ln()).abs() < 0.05, "{l}");
    }

    #[test]
    fn rosenstein_errors() {
        let c = TimeSeries::new(vec![1.0; 1000], 1).unwrap();
        assert!(matches!(
            lyapunov_max_from_series(&c, &RosensteinOptions::default()),
            Err(MetricsError::Degenerate(_))
        ));
        let short = logistic_series(100);
        assert!(lyapunov_max_from_series(&short, &RosensteinOptions::default()).is_err());
    }
}
