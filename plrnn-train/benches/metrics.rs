//! Timing of the metrics on paper-sized inputs: D_stsp (binned) and D_H on 100 000 × 3
//! Lorenz-63 data, D_stsp (GMM) on 10-D Lorenz-96 data, and the Rosenstein estimate.
//!
//! The data are synthesised here (RK4, z-scored), so the bench needs no data files.
//! Quick run: `cargo bench -p plrnn-train --bench metrics -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use plrnn_train::metrics::{
    d_h, d_stsp_binned, d_stsp_gmm, lyapunov_max_from_series, BinRange, GmmOptions,
    RosensteinOptions,
};
use plrnn_train::TimeSeries;

/// RK4 with `sub` substeps per sample; the first `skip` samples are dropped; z-scored.
fn integrate(
    f: impl Fn(&[f64], &mut [f64]),
    x0: Vec<f64>,
    dt: f64,
    sub: usize,
    skip: usize,
    len: usize,
) -> TimeSeries {
    let n = x0.len();
    let h = dt / sub as f64;
    let mut x = x0;
    let (mut k1, mut k2, mut k3, mut k4, mut tmp) = (
        vec![0.0; n],
        vec![0.0; n],
        vec![0.0; n],
        vec![0.0; n],
        vec![0.0; n],
    );
    let mut out = Vec::with_capacity(len * n);
    for t in 0..skip + len {
        for _ in 0..sub {
            f(&x, &mut k1);
            (0..n).for_each(|i| tmp[i] = x[i] + 0.5 * h * k1[i]);
            f(&tmp, &mut k2);
            (0..n).for_each(|i| tmp[i] = x[i] + 0.5 * h * k2[i]);
            f(&tmp, &mut k3);
            (0..n).for_each(|i| tmp[i] = x[i] + h * k3[i]);
            f(&tmp, &mut k4);
            (0..n).for_each(|i| x[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]));
        }
        if t >= skip {
            out.extend_from_slice(&x);
        }
    }
    let mut s = TimeSeries::new(out, n).unwrap();
    let (mean, std) = s.mean_std();
    for r in s.as_mut_slice().chunks_exact_mut(n) {
        for i in 0..n {
            r[i] = (r[i] - mean[i]) / std[i];
        }
    }
    s
}

fn lorenz63(len: usize, x0: [f64; 3]) -> TimeSeries {
    integrate(
        |x, d| {
            d[0] = 10.0 * (x[1] - x[0]);
            d[1] = x[0] * (28.0 - x[2]) - x[1];
            d[2] = x[0] * x[1] - 8.0 / 3.0 * x[2];
        },
        x0.to_vec(),
        0.01,
        5,
        1000,
        len,
    )
}

fn lorenz96(len: usize, n: usize, seed: f64) -> TimeSeries {
    let mut x0 = vec![8.0; n];
    x0[0] += seed;
    integrate(
        move |x, d| {
            for i in 0..n {
                d[i] = (x[(i + 1) % n] - x[(i + n - 2) % n]) * x[(i + n - 1) % n] - x[i] + 8.0;
            }
        },
        x0,
        0.011,
        5,
        1000,
        len,
    )
}

fn benches(c: &mut Criterion) {
    let t3 = lorenz63(100_000, [1.0, 1.0, 1.0]);
    let g3 = lorenz63(100_000, [-3.0, 2.0, 20.0]);
    eprintln!(
        "Lorenz-63 vs Lorenz-63: D_stsp legacy {:.4}, D_H(σ=20) {:.4}",
        d_stsp_binned(&t3, &g3, 30, BinRange::Legacy).unwrap(),
        d_h(&t3, &g3, 20.0).unwrap()
    );
    c.bench_function("d_stsp_binned 100k x 3, 30 bins", |b| {
        b.iter(|| d_stsp_binned(black_box(&t3), black_box(&g3), 30, BinRange::Legacy).unwrap())
    });
    c.bench_function("d_h 100k x 3, sigma 20", |b| {
        b.iter(|| d_h(black_box(&t3), black_box(&g3), 20.0).unwrap())
    });

    let t10 = lorenz96(20_000, 10, 0.01);
    let g10 = lorenz96(20_000, 10, 0.02);
    let opts = GmmOptions::default();
    eprintln!(
        "Lorenz-96 vs Lorenz-96 (N = 10): D_stsp GMM {:.4}",
        d_stsp_gmm(&t10, &g10, &opts).unwrap()
    );
    let mut group = c.benchmark_group("slow");
    group.sample_size(10);
    group.bench_function("d_stsp_gmm 10-D, 10k centres, 1000 samples", |b| {
        b.iter(|| d_stsp_gmm(black_box(&t10), black_box(&g10), &opts).unwrap())
    });
    let ropts = RosensteinOptions::default();
    eprintln!(
        "Rosenstein on Lorenz-63 (dt = 0.01): {:.5} per step (true ≈ 0.0091)",
        lyapunov_max_from_series(&t3, &ropts).unwrap()
    );
    group.bench_function("rosenstein 100k x 3, 1000 references", |b| {
        b.iter(|| lyapunov_max_from_series(black_box(&t3), &ropts).unwrap())
    });
    group.finish();
}

criterion_group!(metrics, benches);
criterion_main!(metrics);
