//! D_stsp: the Kullback–Leibler divergence between the state-space distributions of the true
//! and the generated data, binned (low dimension) or by Gaussian mixtures (high dimension).

use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{check_finite, check_same_dims, MetricsError};
use crate::TimeSeries;

/// Laplace pseudocount added to every bin (`reference-notes.md`: 1e-5).
const LAPLACE_ALPHA: f64 = 1e-5;

/// The per-dimension range that [`d_stsp_binned`] divides into bins; always derived from the
/// *true* data, so both histograms share the same bins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinRange {
    /// [−2 s, +2 s] with s the per-dimension standard deviation of the true data (the ICML 2022
    /// convention). Centred on **0**, not on the mean, exactly as published: the reference
    /// evaluates z-scored data, whose mean is 0, so for z-scored data both readings agree; for
    /// data that are not centred, z-score (or use [`BinRange::Default`]) first.
    Legacy,
    /// [min − 0.1 s, max + 0.1 s] per dimension, min/max/s of the true data (the later code).
    Default,
}

/// Parameters of [`d_stsp_gmm`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GmmOptions {
    /// Number of leading points of each series used as mixture centres (10 000 published); a
    /// shorter series uses all its points.
    pub n_centres: usize,
    /// Monte-Carlo samples drawn from each mixture (1000 published).
    pub n_samples: usize,
    /// Seed of the Monte-Carlo sampler (a `Xoshiro256PlusPlus`).
    pub seed: u64,
    /// `true`: ½[KL(gen‖true) + KL(true‖gen)] (ICML 2022); `false`: KL(true‖gen) (later code).
    pub symmetric: bool,
}

impl Default for GmmOptions {
    fn default() -> Self {
        Self {
            n_centres: 10_000,
            n_samples: 1000,
            seed: 0,
            symmetric: true,
        }
    }
}

/// Binned D_stsp = KL(p_true ‖ p_gen) of the `bins`^N-cell histograms.
///
/// Protocol, as in `reference-notes.md`:
/// - the range per dimension comes from the true data ([`BinRange`]); s is the population
///   standard deviation (ddof = 0; the difference to ddof = 1 is a factor √(n/(n−1)), negligible
///   at the published 10⁵ points);
/// - a point falls into cell ⌊bins · (x − lo) / (hi − lo)⌋ per dimension; a point with any
///   coordinate outside [lo, hi) — including a non-finite one from a diverged model — is
///   dropped;
/// - Laplace smoothing p = (count + 1e-5) / (total + 1e-5 · bins^N), where `total` is the number
///   of points kept (so that p sums to 1);
/// - D = Σ p_true ln(p_true / p_gen) over all bins^N cells, in nats.
///
/// The histograms are sparse (sorted cell indices), so 30⁴ cells cost nothing; all cells empty in
/// both series contribute the same term, added in closed form:
/// (bins^N − #occupied) · a_t ln(a_t / a_g) with a_t = 1e-5 / (T + 1e-5 bins^N) and
/// a_g = 1e-5 / (G + 1e-5 bins^N). Identical inputs give exactly 0.
///
/// A generated series with no point in range gets the uniform p_gen that the formula gives.
///
/// Errors: channel mismatch, empty or non-finite true data, `bins == 0`, a zero-width range
/// (a constant true channel), no true point in range, or bins^N beyond 2¹²⁸.
pub fn d_stsp_binned(
    true_: &TimeSeries,
    gen: &TimeSeries,
    bins: usize,
    range: BinRange,
) -> Result<f64, MetricsError> {
    check_same_dims(true_, gen)?;
    check_finite(true_, "true series")?;
    if true_.is_empty() {
        return Err(MetricsError::TooShort {
            what: "true series",
            len: 0,
            min: 1,
        });
    }
    if bins == 0 {
        return Err(MetricsError::InvalidParameter {
            name: "bins",
            value: "0".into(),
            reason: "need at least one bin per dimension",
        });
    }
    let n = true_.dims();
    if u32::try_from(n)
        .ok()
        .and_then(|n| (bins as u128).checked_pow(n))
        .is_none()
    {
        return Err(MetricsError::InvalidParameter {
            name: "bins",
            value: format!("{bins}^{n}"),
            reason: "the number of cells must fit in 128 bits; use the GMM estimate",
        });
    }

    let (lo, hi) = bin_range(true_, range)?;
    let keys_t = cell_keys(true_, &lo, &hi, bins);
    let keys_g = cell_keys(gen, &lo, &hi, bins);
    if keys_t.is_empty() {
        return Err(MetricsError::Degenerate(
            "no true point lies inside the bin range".into(),
        ));
    }

    let n_cells = (bins as f64).powi(n as i32);
    let z_t = keys_t.len() as f64 + LAPLACE_ALPHA * n_cells;
    let z_g = keys_g.len() as f64 + LAPLACE_ALPHA * n_cells;
    let term = |c_t: usize, c_g: usize| {
        let p_t = (c_t as f64 + LAPLACE_ALPHA) / z_t;
        let p_g = (c_g as f64 + LAPLACE_ALPHA) / z_g;
        p_t * (p_t / p_g).ln()
    };

    // Merge-walk the two sorted key lists: each occupied cell once, in a fixed order (the sum is
    // deterministic, unlike iteration over a hash map).
    let mut kl = 0.0;
    let mut occupied = 0usize;
    let (mut i, mut j) = (0, 0);
    while i < keys_t.len() || j < keys_g.len() {
        let key = match (keys_t.get(i), keys_g.get(j)) {
            (Some(&a), Some(&b)) => a.min(b),
            (Some(&a), None) => a,
            (None, Some(&b)) => b,
            (None, None) => unreachable!(),
        };
        let i0 = i;
        while i < keys_t.len() && keys_t[i] == key {
            i += 1;
        }
        let j0 = j;
        while j < keys_g.len() && keys_g[j] == key {
            j += 1;
        }
        kl += term(i - i0, j - j0);
        occupied += 1;
    }
    let n_empty = n_cells - occupied as f64;
    kl += n_empty * term(0, 0);
    Ok(kl)
}

/// Per-dimension [lo, hi) of the bins, from the true data.
fn bin_range(true_: &TimeSeries, range: BinRange) -> Result<(Vec<f64>, Vec<f64>), MetricsError> {
    let (_, std) = true_.mean_std();
    let n = true_.dims();
    let (lo, hi): (Vec<f64>, Vec<f64>) = match range {
        BinRange::Legacy => std.iter().map(|&s| (-2.0 * s, 2.0 * s)).unzip(),
        BinRange::Default => {
            let mut min = vec![f64::INFINITY; n];
            let mut max = vec![f64::NEG_INFINITY; n];
            for r in true_.rows() {
                for d in 0..n {
                    min[d] = min[d].min(r[d]);
                    max[d] = max[d].max(r[d]);
                }
            }
            (0..n)
                .map(|d| (min[d] - 0.1 * std[d], max[d] + 0.1 * std[d]))
                .unzip()
        }
    };
    for (d, s) in std.iter().enumerate() {
        if *s <= 0.0 || hi[d] <= lo[d] {
            return Err(MetricsError::Degenerate(format!(
                "true channel {d} is constant: the bin range has zero width"
            )));
        }
    }
    Ok((lo, hi))
}

/// Sorted mixed-radix cell indices of the points inside the range.
fn cell_keys(s: &TimeSeries, lo: &[f64], hi: &[f64], bins: usize) -> Vec<u128> {
    let b = bins as f64;
    let mut keys: Vec<u128> = s
        .rows()
        .filter_map(|r| {
            let mut key = 0u128;
            for d in (0..r.len()).rev() {
                // Same operation order as the NumPy cross-check: (bins · (x − lo)) / (hi − lo).
                let c = (b * (r[d] - lo[d]) / (hi[d] - lo[d])).floor();
                // `!(c >= 0.0)` also drops NaN.
                if !(c >= 0.0 && c < b) {
                    return None;
                }
                key = key * bins as u128 + c as u128;
            }
            Some(key)
        })
        .collect();
    keys.sort_unstable();
    keys
}

/// Gaussian-mixture D_stsp: Monte-Carlo KL between isotropic unit-variance Gaussian mixtures
/// centred at the first `n_centres` points of each series (`reference-notes.md`, N ≥ 5).
///
/// With mixture P (centres μ_1..μ_K) and Q, KL(P‖Q) ≈ (1/S) Σ_s [ln p(x_s) − ln q(x_s)] where
/// x_s = μ_k + ε, k uniform, ε ~ N(0, I), and
/// ln p(x) = logsumexp_k(−½‖x − μ_k‖²) − ln K − (N/2) ln 2π (evaluated with the max-shift
/// log-sum-exp, so no underflow however far x lies from the centres). The ln K terms matter when
/// the two series have different numbers of centres.
///
/// Determinism: all samples are drawn sequentially from one `Xoshiro256PlusPlus` seeded with
/// `opts.seed` (first the true mixture's, then the generated one's); only the density
/// evaluations run in parallel (rayon), and they are summed in sample order, so the result is
/// bit-identical for a given seed whatever the thread count.
///
/// Errors: channel mismatch, empty or non-finite series, `n_centres == 0` or `n_samples == 0`.
pub fn d_stsp_gmm(
    true_: &TimeSeries,
    gen: &TimeSeries,
    opts: &GmmOptions,
) -> Result<f64, MetricsError> {
    check_same_dims(true_, gen)?;
    check_finite(true_, "true series")?;
    check_finite(gen, "generated series")?;
    for (s, what) in [(true_, "true series"), (gen, "generated series")] {
        if s.is_empty() {
            return Err(MetricsError::TooShort {
                what,
                len: 0,
                min: 1,
            });
        }
    }
    if opts.n_centres == 0 {
        return Err(MetricsError::InvalidParameter {
            name: "n_centres",
            value: "0".into(),
            reason: "need at least one centre",
        });
    }
    if opts.n_samples == 0 {
        return Err(MetricsError::InvalidParameter {
            name: "n_samples",
            value: "0".into(),
            reason: "need at least one Monte-Carlo sample",
        });
    }
    let n = true_.dims();
    let mu_t = &true_.as_slice()[..opts.n_centres.min(true_.len()) * n];
    let mu_g = &gen.as_slice()[..opts.n_centres.min(gen.len()) * n];

    let mut rng = Xoshiro256PlusPlus::seed_from_u64(opts.seed);
    let x_t = sample_mixture(mu_t, n, opts.n_samples, &mut rng);
    let kl_tg = mc_kl(&x_t, mu_t, mu_g, n);
    if !opts.symmetric {
        return Ok(kl_tg);
    }
    let x_g = sample_mixture(mu_g, n, opts.n_samples, &mut rng);
    let kl_gt = mc_kl(&x_g, mu_g, mu_t, n);
    Ok(0.5 * (kl_tg + kl_gt))
}

/// `count` row-major samples from the unit-variance mixture with the given centres.
fn sample_mixture(mu: &[f64], n: usize, count: usize, rng: &mut Xoshiro256PlusPlus) -> Vec<f64> {
    let k = mu.len() / n;
    let mut x = Vec::with_capacity(count * n);
    for _ in 0..count {
        let c = rng.random_range(0..k);
        for d in 0..n {
            let e: f64 = rng.sample(StandardNormal);
            x.push(mu[c * n + d] + e);
        }
    }
    x
}

/// (1/S) Σ_s [ln p(x_s) − ln q(x_s)] for mixtures with centres `mu_p`, `mu_q`.
fn mc_kl(x: &[f64], mu_p: &[f64], mu_q: &[f64], n: usize) -> f64 {
    let diffs: Vec<f64> = x
        .par_chunks_exact(n)
        .map_init(Vec::new, |buf, xs| {
            log_mixture(xs, mu_p, n, buf) - log_mixture(xs, mu_q, n, buf)
        })
        .collect();
    diffs.iter().sum::<f64>() / diffs.len() as f64
}

/// ln of the unit-variance isotropic mixture density at `x`.
fn log_mixture(x: &[f64], mu: &[f64], n: usize, buf: &mut Vec<f64>) -> f64 {
    buf.clear();
    buf.extend(mu.chunks_exact(n).map(|m| {
        let d2: f64 = x.iter().zip(m).map(|(a, b)| (a - b) * (a - b)).sum();
        -0.5 * d2
    }));
    let max = buf.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let s: f64 = buf.iter().map(|v| (v - max).exp()).sum();
    let k = buf.len() as f64;
    max + s.ln() - k.ln() - 0.5 * n as f64 * (2.0 * std::f64::consts::PI).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(rows: &[&[f64]]) -> TimeSeries {
        TimeSeries::from_rows(rows).unwrap()
    }

    fn lorenzish(len: usize, dims: usize, phase: f64) -> TimeSeries {
        let mut v = Vec::with_capacity(len * dims);
        for t in 0..len {
            for d in 0..dims {
                let tt = t as f64 * 0.01 + phase;
                v.push((tt * (1.0 + d as f64 * 0.37)).sin() + 0.5 * (tt * 2.3 + d as f64).cos());
            }
        }
        TimeSeries::new(v, dims).unwrap()
    }

    #[test]
    fn identical_is_exactly_zero() {
        let x = lorenzish(5000, 3, 0.0);
        for range in [BinRange::Legacy, BinRange::Default] {
            assert_eq!(d_stsp_binned(&x, &x, 30, range).unwrap(), 0.0);
        }
    }

    /// Disjoint supports in 1-D, 2 bins, range Default.
    /// true = {0, 0, 0, 0, 1}: mean 0.2, s = 0.4, range [−0.04, 1.04], width 1.08;
    /// 0 → cell ⌊2·0.04/1.08⌋ = 0, 1 → cell ⌊2·1.04/1.08⌋ = 1. So true has counts (4, 1) and
    /// gen = {1, 1, 1, 1, 1} has (0, 5). With α = 1e-5, Z = 5 + 2α for both:
    /// p_t = ((4 + α)/Z, (1 + α)/Z), p_g = (α/Z, (5 + α)/Z),
    /// KL = p_t0 ln((4 + α)/α) + p_t1 ln((1 + α)/(5 + α)) ≈ 9.997.
    #[test]
    fn disjoint_closed_form() {
        let t = ts(&[&[0.0], &[0.0], &[0.0], &[0.0], &[1.0]]);
        let g = ts(&[&[1.0], &[1.0], &[1.0], &[1.0], &[1.0]]);
        let a = LAPLACE_ALPHA;
        let z = 5.0 + 2.0 * a;
        let expect =
            (4.0 + a) / z * ((4.0 + a) / a).ln() + (1.0 + a) / z * ((1.0 + a) / (5.0 + a)).ln();
        let got = d_stsp_binned(&t, &g, 2, BinRange::Default).unwrap();
        assert!((got - expect).abs() < 1e-12 * expect, "{got} vs {expect}");
    }

    /// Fully disjoint in 2-D with 30 bins (B = 900 cells). true alternates (−1,−1), (1,1):
    /// s = 1 per axis, Legacy range [−2, 2], so −1 → cell ⌊30·1/4⌋ = 7 and 1 → cell 22.
    /// True occupies cells (7,7), (22,22) with 2 points each; gen occupies (7,22), (22,7) with 2
    /// each. Z = 4 + αB for both, so the 896 cells empty in both contribute 0, and
    /// KL = 2 (2+α)/Z ln((2+α)/α) + 2 α/Z ln(α/(2+α)).
    #[test]
    fn disjoint_cells_2d() {
        let t = ts(&[&[-1.0, -1.0], &[1.0, 1.0], &[-1.0, -1.0], &[1.0, 1.0]]);
        let g = ts(&[&[-1.0, 1.0], &[1.0, -1.0], &[-1.0, 1.0], &[1.0, -1.0]]);
        let a = LAPLACE_ALPHA;
        let b = 900.0;
        let z = 4.0 + a * b;
        let expect = 2.0 * ((2.0 + a) / z * ((2.0 + a) / a).ln() + a / z * (a / (2.0 + a)).ln());
        let got = d_stsp_binned(&t, &g, 30, BinRange::Legacy).unwrap();
        assert!((got - expect).abs() < 1e-12 * expect, "{got} vs {expect}");
    }

    #[test]
    fn four_dims_sparse_is_fast_and_positive() {
        let t = lorenzish(20_000, 4, 0.0);
        let g = lorenzish(20_000, 4, 1.234);
        let d = d_stsp_binned(&t, &g, 30, BinRange::Legacy).unwrap();
        assert!(d.is_finite() && d > 0.0);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let t = lorenzish(100, 2, 0.0);
        let g3 = lorenzish(100, 3, 0.0);
        assert!(matches!(
            d_stsp_binned(&t, &g3, 30, BinRange::Legacy),
            Err(MetricsError::DimMismatch { .. })
        ));
        assert!(d_stsp_binned(&t, &t, 0, BinRange::Legacy).is_err());
        let c = ts(&[&[1.0], &[1.0]]);
        assert!(matches!(
            d_stsp_binned(&c, &c, 30, BinRange::Legacy),
            Err(MetricsError::Degenerate(_))
        ));
        let nan = ts(&[&[f64::NAN], &[1.0]]);
        assert!(d_stsp_binned(&nan, &c, 30, BinRange::Legacy).is_err());
        // Non-finite generated points are dropped, not an error.
        let t1 = ts(&[&[-1.0], &[1.0]]);
        assert!(d_stsp_binned(&t1, &nan, 30, BinRange::Legacy).unwrap() > 0.0);
        let empty = TimeSeries::new(vec![], 1).unwrap();
        assert!(d_stsp_binned(&empty, &t1, 30, BinRange::Legacy).is_err());
        assert!(d_stsp_gmm(&empty, &t1, &GmmOptions::default()).is_err());
        let opts = GmmOptions {
            n_samples: 0,
            ..GmmOptions::default()
        };
        assert!(d_stsp_gmm(&t1, &t1, &opts).is_err());
        assert!(d_stsp_binned(&t1, &t1, 30, BinRange::Default).is_ok());
        let wide = lorenzish(10, 30, 0.0);
        assert!(d_stsp_binned(&wide, &wide, 30, BinRange::Legacy).is_err());
    }

    #[test]
    fn gmm_identical_is_zero_and_deterministic() {
        let x = lorenzish(3000, 5, 0.0);
        let opts = GmmOptions {
            n_centres: 2000,
            n_samples: 300,
            seed: 7,
            symmetric: true,
        };
        assert_eq!(d_stsp_gmm(&x, &x, &opts).unwrap(), 0.0);
        let y = lorenzish(3000, 5, 2.0);
        let a = d_stsp_gmm(&x, &y, &opts).unwrap();
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let b = one.install(|| d_stsp_gmm(&x, &y, &opts).unwrap());
        assert_eq!(a.to_bits(), b.to_bits());
        assert!(a > 0.0);
    }

    /// Two single-centre mixtures N(0, I) and N(m, I): KL = ½‖m‖² in both directions, and the
    /// Monte-Carlo estimate of ln p − ln q = ½‖x−m‖² − ½‖x‖² has mean ½‖m‖² with standard
    /// deviation ‖m‖ per sample, so with S = 4000 samples the error is ≈ ‖m‖/√S·(1/√2 for the
    /// symmetric average).
    #[test]
    fn gmm_single_gaussians_closed_form() {
        let t = ts(&[&[0.0, 0.0, 0.0, 0.0, 0.0]]);
        let g = ts(&[&[1.0, 1.0, 0.0, 0.0, 0.0]]);
        let opts = GmmOptions {
            n_centres: 1,
            n_samples: 4000,
            seed: 1,
            symmetric: true,
        };
        let d = d_stsp_gmm(&t, &g, &opts).unwrap();
        // ½‖m‖² = 1; 4σ tolerance: 4 · √2/√4000/√2 ≈ 0.063.
        assert!((d - 1.0).abs() < 0.07, "{d}");
        let one_sided = d_stsp_gmm(
            &t,
            &g,
            &GmmOptions {
                symmetric: false,
                ..opts
            },
        )
        .unwrap();
        assert!((one_sided - 1.0).abs() < 0.09, "{one_sided}");
    }
}
