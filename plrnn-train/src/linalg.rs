//! Small dense linear algebra the trainers need on the host: the eigen decomposition of a
//! symmetric matrix and the principal components of a data set (used to initialise the
//! observation model when there are more channels than latent units).

use crate::series::TimeSeries;

/// Eigenvalues (descending) and unit eigenvectors of the symmetric `n × n` row-major matrix `a`,
/// by cyclic Jacobi rotations (exact to rounding for the small matrices used here, n ≲ 500).
/// `vectors[i]` belongs to `values[i]`. Only the upper triangle's symmetric part is used.
pub fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    assert_eq!(a.len(), n * n, "symmetric_eigen: a is not n × n");
    let mut m: Vec<f64> = (0..n * n)
        .map(|k| {
            let (i, j) = (k / n, k % n);
            0.5 * (a[i * n + j] + a[j * n + i])
        })
        .collect();
    // v holds the eigenvectors as columns.
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let scale: f64 = m.iter().map(|x| x * x).sum::<f64>().sqrt();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
            .map(|(i, j)| m[i * n + j] * m[i * n + j])
            .sum::<f64>()
            .sqrt();
        if off <= 1e-15 * scale || off == 0.0 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = m[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let (app, aqq) = (m[p * n + p], m[q * n + q]);
                // The rotation that zeroes m[p][q] (Golub & Van Loan, Alg. 8.4.1).
                let tau = (aqq - app) / (2.0 * apq);
                let t = tau.signum() / (tau.abs() + (1.0 + tau * tau).sqrt());
                let t = if tau == 0.0 { 1.0 } else { t };
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (mkp, mkq) = (m[k * n + p], m[k * n + q]);
                    m[k * n + p] = c * mkp - s * mkq;
                    m[k * n + q] = s * mkp + c * mkq;
                }
                for k in 0..n {
                    let (mpk, mqk) = (m[p * n + k], m[q * n + k]);
                    m[p * n + k] = c * mpk - s * mqk;
                    m[q * n + k] = s * mpk + c * mqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| m[j * n + j].total_cmp(&m[i * n + i]));
    let values = order.iter().map(|&i| m[i * n + i]).collect();
    let vectors = order
        .iter()
        .map(|&i| (0..n).map(|k| v[k * n + i]).collect())
        .collect();
    (values, vectors)
}

/// The principal components of the rows of all `trials` together (each T_i × N, same N):
/// the variances (descending) and the unit axes of the sample covariance (divisor: rows − 1).
/// Each axis' sign is fixed so that its largest-magnitude entry is positive (deterministic).
/// Empty or one-row data give zero variances and the unit axes.
pub fn principal_components(trials: &[TimeSeries]) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = trials.first().map_or(0, |t| t.dims());
    let rows: usize = trials.iter().map(|t| t.len()).sum();
    let mut mean = vec![0.0; n];
    for r in trials.iter().flat_map(|t| t.rows()) {
        for (m, x) in mean.iter_mut().zip(r) {
            *m += x;
        }
    }
    mean.iter_mut().for_each(|m| *m /= rows.max(1) as f64);
    let mut cov = vec![0.0; n * n];
    let mut d = vec![0.0; n];
    for r in trials.iter().flat_map(|t| t.rows()) {
        for ((d, x), m) in d.iter_mut().zip(r).zip(&mean) {
            *d = x - m;
        }
        for i in 0..n {
            for j in i..n {
                cov[i * n + j] += d[i] * d[j];
            }
        }
    }
    let div = rows.saturating_sub(1).max(1) as f64;
    for i in 0..n {
        for j in i..n {
            let c = cov[i * n + j] / div;
            cov[i * n + j] = c;
            cov[j * n + i] = c;
        }
    }
    let (values, mut vectors) = symmetric_eigen(&cov, n);
    for v in &mut vectors {
        let big = v
            .iter()
            .copied()
            .max_by(|a, b| a.abs().total_cmp(&b.abs()))
            .unwrap_or(1.0);
        if big < 0.0 {
            v.iter_mut().for_each(|x| *x = -*x);
        }
    }
    (values.into_iter().map(|v| v.max(0.0)).collect(), vectors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eigen_of_a_hand_computed_matrix() {
        // [[2, 1], [1, 2]]: eigenvalues 3 (axis (1, 1)/√2) and 1 (axis (1, −1)/√2).
        let (vals, vecs) = symmetric_eigen(&[2.0, 1.0, 1.0, 2.0], 2);
        assert!((vals[0] - 3.0).abs() < 1e-14 && (vals[1] - 1.0).abs() < 1e-14);
        let r = std::f64::consts::FRAC_1_SQRT_2;
        assert!((vecs[0][0].abs() - r).abs() < 1e-14);
        assert!((vecs[0][0] - vecs[0][1]).abs() < 1e-14);
        assert!((vecs[1][0] + vecs[1][1]).abs() < 1e-14);
        // Diagonal: values sorted, axes the unit vectors.
        let (vals, vecs) = symmetric_eigen(&[1.0, 0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0, -2.0], 3);
        assert_eq!(vals, vec![5.0, 1.0, -2.0]);
        assert_eq!(vecs[0], vec![0.0, 1.0, 0.0]);
    }

    #[test]
    fn eigen_reconstructs_a_random_symmetric_matrix() {
        let n = 9;
        let mut a = vec![0.0; n * n];
        let mut s = 12345u64;
        for i in 0..n {
            for j in i..n {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let x = ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0;
                a[i * n + j] = x;
                a[j * n + i] = x;
            }
        }
        let (vals, vecs) = symmetric_eigen(&a, n);
        assert!(vals.windows(2).all(|w| w[0] >= w[1]));
        for i in 0..n {
            for j in 0..n {
                let rec: f64 = (0..n).map(|k| vals[k] * vecs[k][i] * vecs[k][j]).sum();
                assert!((rec - a[i * n + j]).abs() < 1e-12, "({i},{j})");
                let dot: f64 = (0..n).map(|k| vecs[i][k] * vecs[j][k]).sum();
                assert!((dot - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
        // Trace is preserved.
        let tr: f64 = (0..n).map(|i| a[i * n + i]).sum();
        assert!((vals.iter().sum::<f64>() - tr).abs() < 1e-12);
    }

    #[test]
    fn principal_components_of_a_stretched_cloud() {
        // Points on the line x = (t, 2t, 0) plus a small orthogonal wobble (0, 0, ±0.1) with
        // the sign pattern + − − +, uncorrelated with t.
        let rows: Vec<f64> = (0..100)
            .flat_map(|i| {
                let t = i as f64 - 49.5;
                [
                    t,
                    2.0 * t,
                    if i % 4 == 0 || i % 4 == 3 { 0.1 } else { -0.1 },
                ]
            })
            .collect();
        let tr = TimeSeries::new(rows, 3).unwrap();
        let (vals, axes) = principal_components(&[tr.slice(0, 50), tr.slice(50, 100)]);
        let var_t = (0..100).map(|i| (i as f64 - 49.5).powi(2)).sum::<f64>() / 99.0;
        assert!((vals[0] - 5.0 * var_t).abs() < 1e-9 * vals[0]);
        let r5 = 5f64.sqrt();
        assert!((axes[0][0] - 1.0 / r5).abs() < 1e-12 && (axes[0][1] - 2.0 / r5).abs() < 1e-12);
        assert!((vals[1] - 0.01 * 100.0 / 99.0).abs() < 1e-12);
        assert!((axes[1][2].abs() - 1.0).abs() < 1e-12);
        assert!(vals[2].abs() < 1e-9);
    }
}
