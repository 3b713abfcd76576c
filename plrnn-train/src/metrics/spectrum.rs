//! Spectral metrics: D_H (Hellinger distance of smoothed power spectra) and PSC (Pearson
//! correlation of smoothed dB spectra).

use std::sync::Arc;

use rustfft::{num_complex::Complex, Fft, FftPlanner};

use super::{check_finite, check_same_dims, MetricsError};
use crate::TimeSeries;

/// Gaussian smoothing identical to `scipy.ndimage.gaussian_filter1d(x, sigma, mode='reflect',
/// truncate=4.0)` for f64 input.
///
/// Kernel: radius r = ⌊4σ + 0.5⌋, weights w_j ∝ exp(−j² / (2σ²)) for j = −r..=r, normalised to
/// sum 1. Edges: SciPy's `reflect` (half-sample symmetric, `d c b a | a b c d | d c b a`),
/// repeated periodically (period 2n) when r exceeds the length, as SciPy does.
///
/// A non-positive or non-finite `sigma` returns the input unchanged (no smoothing).
pub fn gaussian_filter1d_reflect(x: &[f64], sigma: f64) -> Vec<f64> {
    let n = x.len();
    if n == 0 || !(sigma > 0.0 && sigma.is_finite()) {
        return x.to_vec();
    }
    let radius = (4.0 * sigma + 0.5) as usize;
    let c = -0.5 / (sigma * sigma);
    let mut w: Vec<f64> = (0..=2 * radius)
        .map(|i| {
            let j = i as f64 - radius as f64;
            (c * (j * j)).exp()
        })
        .collect();
    let sum: f64 = w.iter().sum();
    w.iter_mut().for_each(|v| *v /= sum);

    let period = 2 * n as i64;
    let reflect = |i: i64| -> usize {
        let m = i.rem_euclid(period);
        if m < n as i64 {
            m as usize
        } else {
            (period - 1 - m) as usize
        }
    };
    let padded: Vec<f64> = (-(radius as i64)..(n + radius) as i64)
        .map(|i| x[reflect(i)])
        .collect();
    (0..n)
        .map(|i| {
            padded[i..i + w.len()]
                .iter()
                .zip(&w)
                .map(|(a, b)| a * b)
                .sum()
        })
        .collect()
}

/// Power spectrum |rfft(z)|² (L/2 + 1 bins) of the z-scored channel, or `None` if the channel
/// is constant: std ≤ 1e-12 |mean|, i.e. nothing but the rounding noise of the mean (a constant
/// 0.3 has a std of ~1e-17, whose "spectrum" would be noise).
fn power_spectrum(x: &[f64], fft: &Arc<dyn Fft<f64>>) -> Option<Vec<f64>> {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    let std = var.sqrt();
    if std.is_nan() || std <= 1e-12 * mean.abs() {
        return None;
    }
    let mut buf: Vec<Complex<f64>> = x
        .iter()
        .map(|v| Complex::new((v - mean) / std, 0.0))
        .collect();
    fft.process(&mut buf);
    Some(
        buf[..x.len() / 2 + 1]
            .iter()
            .map(|c| c.norm_sqr())
            .collect(),
    )
}

/// Validates the pair and returns the common length L used by the spectral metrics.
fn spectral_len(true_: &TimeSeries, gen: &TimeSeries, sigma: f64) -> Result<usize, MetricsError> {
    check_same_dims(true_, gen)?;
    check_finite(true_, "true series")?;
    check_finite(gen, "generated series")?;
    if !(sigma >= 0.0 && sigma.is_finite()) {
        return Err(MetricsError::InvalidParameter {
            name: "sigma",
            value: sigma.to_string(),
            reason: "the smoothing width must be finite and ≥ 0",
        });
    }
    let len = true_.len().min(gen.len());
    if len < 4 {
        return Err(MetricsError::TooShort {
            what: if true_.len() < 4 {
                "true series"
            } else {
                "generated series"
            },
            len,
            min: 4,
        });
    }
    Ok(len)
}

/// D_H: the Hellinger distance between smoothed power spectra, per channel, averaged over
/// channels (`reference-notes.md`).
///
/// Per channel: take the first L = min(len_true, len_gen) steps of both series (unequal lengths
/// are truncated to the shorter one, so both spectra have the same frequency grid), z-score
/// each (population std), P = |rfft|² (all L/2 + 1 bins, DC included; it is ≈ 0 after
/// centring), smooth with [`gaussian_filter1d_reflect`] (σ in frequency bins; σ = 0 means no
/// smoothing), clip negatives to 0, normalise to sum 1, and
/// H = (1/√2) ‖√p − √q‖₂ ∈ [0, 1].
///
/// A constant channel (std ≤ 1e-12 |mean|) has no spectrum: if both series' channel is constant H = 0, if only one
/// is, H = 1 (maximal distance; typical of a model collapsed to a fixed point).
///
/// Errors: channel mismatch, non-finite values, fewer than 4 common steps, invalid σ.
pub fn d_h(true_: &TimeSeries, gen: &TimeSeries, sigma: f64) -> Result<f64, MetricsError> {
    let len = spectral_len(true_, gen, sigma)?;
    let fft = FftPlanner::new().plan_fft_forward(len);
    let prepare = |s: &TimeSeries, d: usize| -> Option<Vec<f64>> {
        let col: Vec<f64> = s.rows().take(len).map(|r| r[d]).collect();
        let p = power_spectrum(&col, &fft)?;
        let mut p = gaussian_filter1d_reflect(&p, sigma);
        p.iter_mut().for_each(|v| *v = v.max(0.0));
        let sum: f64 = p.iter().sum();
        if sum.is_nan() || sum <= 0.0 {
            return None;
        }
        p.iter_mut().for_each(|v| *v /= sum);
        Some(p)
    };
    let n = true_.dims();
    let mut total = 0.0;
    for d in 0..n {
        total += match (prepare(true_, d), prepare(gen, d)) {
            (Some(p), Some(q)) => {
                let s: f64 = p
                    .iter()
                    .zip(&q)
                    .map(|(a, b)| (a.sqrt() - b.sqrt()).powi(2))
                    .sum();
                (0.5 * s).sqrt()
            }
            (None, None) => 0.0,
            _ => 1.0,
        };
    }
    Ok(total / n as f64)
}

/// PSC: the power-spectrum correlation of the older reference code, per channel, averaged over
/// channels. Higher is better (1 for identical spectra).
///
/// Exact definition used here. Per channel: first L = min(len_true, len_gen) steps of both;
/// z-score (population std); P_k = |rfft|² for k = 1..=L/2 (DC dropped: it is ≈ 0 after
/// centring and its log is meaningless); S = 10 log10(max(P_k, 1e-30 · max P)) (dB; the floor,
/// −300 dB below the peak, only guards log 0); smooth S with [`gaussian_filter1d_reflect`]
/// (σ in bins); PSC = Pearson correlation of the two smoothed dB spectra. The older code used
/// 20 log10 of a scaled |rfft| and cut off high frequencies; the scale factor only shifts S by a
/// constant, which Pearson correlation ignores.
///
/// Degenerate channels: both constant → 1; one constant, or a flat smoothed spectrum (zero
/// variance, correlation undefined) → 0.
///
/// Errors: as [`d_h`].
pub fn psc(true_: &TimeSeries, gen: &TimeSeries, sigma: f64) -> Result<f64, MetricsError> {
    let len = spectral_len(true_, gen, sigma)?;
    let fft = FftPlanner::new().plan_fft_forward(len);
    let prepare = |s: &TimeSeries, d: usize| -> Option<Vec<f64>> {
        let col: Vec<f64> = s.rows().take(len).map(|r| r[d]).collect();
        let p = power_spectrum(&col, &fft)?;
        let p = &p[1..=len / 2];
        let floor = 1e-30 * p.iter().copied().fold(0.0, f64::max);
        let db: Vec<f64> = p.iter().map(|v| 10.0 * v.max(floor).log10()).collect();
        Some(gaussian_filter1d_reflect(&db, sigma))
    };
    let n = true_.dims();
    let mut total = 0.0;
    for d in 0..n {
        total += match (prepare(true_, d), prepare(gen, d)) {
            (Some(a), Some(b)) => pearson(&a, &b).unwrap_or(0.0),
            (None, None) => 1.0,
            _ => 0.0,
        };
    }
    Ok(total / n as f64)
}

/// Pearson correlation, `None` if either input has zero variance.
fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    let n = a.len() as f64;
    let ma = a.iter().sum::<f64>() / n;
    let mb = b.iter().sum::<f64>() / n;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (dx, dy) = (x - ma, y - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    let r = sab / (saa * sbb).sqrt();
    r.is_finite().then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    fn tone(len: usize, bin: usize, amp: f64) -> Vec<f64> {
        (0..len)
            .map(|t| amp * (2.0 * PI * bin as f64 * t as f64 / len as f64).sin())
            .collect()
    }

    fn col(v: Vec<f64>) -> TimeSeries {
        TimeSeries::new(v, 1).unwrap()
    }

    #[test]
    fn filter_preserves_constants_and_mass() {
        let x = vec![2.5; 7];
        for s in [0.5, 1.0, 3.0, 10.0] {
            for v in gaussian_filter1d_reflect(&x, s) {
                assert!((v - 2.5).abs() < 1e-14);
            }
        }
        // Reflecting edges conserve the sum only approximately; a delta in the middle of a long
        // array keeps its mass exactly (up to rounding).
        let mut d = vec![0.0; 101];
        d[50] = 1.0;
        let y = gaussian_filter1d_reflect(&d, 3.0);
        assert!((y.iter().sum::<f64>() - 1.0).abs() < 1e-14);
        assert_eq!(gaussian_filter1d_reflect(&d, 0.0), d);
    }

    #[test]
    fn identical_is_zero() {
        let x = TimeSeries::new(
            (0..3000)
                .map(|t| (t as f64 * 0.05).sin() + (t as f64 * 0.0123).cos().powi(3))
                .collect(),
            1,
        )
        .unwrap();
        assert_eq!(d_h(&x, &x, 20.0).unwrap(), 0.0);
        assert!((psc(&x, &x, 2.0).unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn different_tones_are_maximally_distant() {
        let a = col(tone(8192, 100, 1.0));
        let b = col(tone(8192, 1000, 1.0));
        let h = d_h(&a, &b, 2.0).unwrap();
        assert!((h - 1.0).abs() < 1e-6, "{h}");
    }

    /// Two exact-bin tones (bins k1, k2, amplitudes a1, a2) against the tone at k1 alone, with
    /// σ small enough that the smoothed peaks neither overlap nor reach an edge. Both smoothed
    /// spectra are sums of the same normalised kernel w shifted to k1 (and k2), so
    /// p = w(·−k1), q = (a1² w(·−k1) + a2² w(·−k2)) / (a1² + a2²), the Bhattacharyya
    /// coefficient is Σ√(pq) = a1/√(a1² + a2²), and H = √(1 − BC). With a1 = 1, a2 = 2:
    /// H = √(1 − 1/√5) ≈ 0.7435.
    #[test]
    fn known_spectrum_two_tones() {
        let len = 4096;
        let a = col(tone(len, 200, 1.0));
        let two: Vec<f64> = tone(len, 200, 1.0)
            .iter()
            .zip(tone(len, 900, 2.0))
            .map(|(x, y)| x + y)
            .collect();
        let b = col(two);
        let expect = (1.0 - 1.0 / 5f64.sqrt()).sqrt();
        let h = d_h(&a, &b, 3.0).unwrap();
        assert!((h - expect).abs() < 1e-9, "{h} vs {expect}");
        // Symmetric.
        let h2 = d_h(&b, &a, 3.0).unwrap();
        assert!((h - h2).abs() < 1e-12);
    }

    #[test]
    fn unequal_lengths_truncate_and_degenerate_channels() {
        let a = col(tone(1000, 10, 1.0));
        let b = col(tone(1500, 15, 1.0));
        // First 1000 steps of b are 15 cycles per 1500 → 10 per 1000: same tone as a.
        assert!(d_h(&a, &b, 2.0).unwrap() < 1e-9);
        let c = col(vec![0.3; 1000]);
        assert_eq!(d_h(&a, &c, 2.0).unwrap(), 1.0);
        assert_eq!(d_h(&c, &c, 2.0).unwrap(), 0.0);
        assert_eq!(psc(&a, &c, 2.0).unwrap(), 0.0);
        assert!(d_h(&a, &col(vec![1.0; 3]), 2.0).is_err());
        assert!(d_h(&a, &a, -1.0).is_err());
        assert!(d_h(&a, &col(vec![f64::NAN; 1000]), 2.0).is_err());
    }
}
