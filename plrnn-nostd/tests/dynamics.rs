//! Long-run behaviour and the noise sampler.

mod common;

use common::{random_model, Uniform};
use plrnn_nostd::{GaussianSampler, Generator, Model, Noise, Variant};

/// The rounding-inflated radius R̂_i of `Model::clipped_bound`'s documentation, in f64:
/// R̂_i = (1 + γ)(X_i + E_i) / (1 − |A_ii|(1 + γ)), γ = γ_{M+K+2}, X_i the numerator of R_i,
/// E_i = (2P + 1)u Σ_j |W_ij| (Θ_j Σ_b|α_b| + Σ_b|α_b θ_jb|), Θ_j = max_b |θ_jb|.
fn inflated_bound<const M: usize, const N: usize, const P: usize, const K: usize>(
    m: &Model<M, N, P, K>,
    s_max: f64,
) -> [f64; M] {
    const U: f64 = 1.0 / 16_777_216.0;
    let n = (M + K + 2) as f64;
    let gamma = n * U / (1.0 - n * U);
    let theta = m.theta();
    let a_sum: f64 = m.alpha().iter().map(|a| (*a as f64).abs()).sum();
    let phi_max: [f64; M] = core::array::from_fn(|j| {
        (0..P)
            .map(|b| (m.alpha()[b] as f64 * theta[j][b] as f64).abs())
            .sum()
    });
    let spread: [f64; M] = core::array::from_fn(|j| {
        let big = theta[j]
            .iter()
            .fold(0.0f64, |t, v| t.max((*v as f64).abs()));
        // First-order bound, doubled for the second-order terms.
        2.0 * (2.0 * P as f64 + 1.0) * U * (big * a_sum + phi_max[j])
    });
    core::array::from_fn(|i| {
        let a = (m.a()[i] as f64).abs();
        let x: f64 = (0..M)
            .map(|j| (m.w()[i][j] as f64).abs() * phi_max[j])
            .sum::<f64>()
            + (m.h()[i] as f64).abs()
            + (0..K)
                .map(|k| (m.c()[i][k] as f64).abs() * s_max)
                .sum::<f64>();
        let e: f64 = (0..M).map(|j| (m.w()[i][j] as f64).abs() * spread[j]).sum();
        (1.0 + gamma) * (x + e) / (1.0 - a * (1.0 + gamma))
    })
}

/// With every |A_ii| < 1 a clipped-dendritic orbit never leaves max(|z_0|, R̂) (see
/// `Model::clipped_bound`: R̂ is R inflated by the rounding of the step), here checked over 10^6
/// steps from random starts on random models, with random bounded inputs.
#[test]
fn clipped_orbits_stay_within_the_documented_bound() {
    const STEPS: usize = 1_000_000;
    const U: f64 = 1.0 / 16_777_216.0;
    for seed in 0..4u64 {
        let model: Model<8, 2, 6, 1> = random_model(seed, Variant::ClippedDendritic, 0.999);
        let s_max = 1.0f32;
        let r = model.clipped_bound(s_max).expect("|A| < 1");
        let r_hat = inflated_bound(&model, s_max as f64);
        // clipped_bound is R in f32: within rounding of R = X/(1 − |A|), which r_hat exceeds.
        for (i, (&ri, &rh)) in r.iter().zip(&r_hat).enumerate() {
            let loose = (ri as f64) * (1.0 - 20.0 * U);
            assert!(loose <= rh, "unit {i}: R {ri} above R̂ {rh}");
        }
        let mut u = Uniform::new(seed + 100);
        let z0: [f32; 8] = u.fill(-50.0, 50.0);
        let mut g = Generator::with_state(&model, z0, seed);
        let mut x = [0.0f32; 2];
        for t in 0..STEPS {
            let s = [u.range(-s_max, s_max)];
            g.step(&s, Noise::None, &mut x);
            for (i, &zi) in g.state().iter().enumerate() {
                let lim = r_hat[i].max(z0[i].abs() as f64);
                assert!(
                    (zi.abs() as f64) <= lim,
                    "seed {seed} step {t} unit {i}: |z| = {} > {lim}",
                    zi.abs()
                );
            }
        }
    }
}

#[test]
fn clipped_bound_needs_clipped_variant_and_stable_diagonal() {
    let m: Model<3, 1, 2, 0> = random_model(1, Variant::Dendritic, 0.5);
    assert!(m.clipped_bound(0.0).is_none());
}

#[test]
fn same_seed_same_trajectory() {
    let model: Model<6, 3, 4, 0> = random_model(5, Variant::Dendritic, 0.9);
    let run = |seed| {
        let mut g = Generator::new(&model, seed);
        let mut out = vec![[0.0f32; 3]; 1000];
        g.run(Noise::Full, &mut out);
        out
    };
    assert_eq!(run(9), run(9));
    assert_ne!(run(9), run(10));
}

#[test]
fn gaussian_sampler_moments() {
    // 10^6 draws: the standard error of the mean is 1e-3 and of the variance about 1.4e-3, so
    // 5 standard errors make a test that fails only if the sampler is wrong.
    const N: usize = 1_000_000;
    let mut g = GaussianSampler::new(2024);
    let (mut s1, mut s2, mut s3, mut s4) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for _ in 0..N {
        let x = g.next_normal() as f64;
        s1 += x;
        s2 += x * x;
        s3 += x * x * x;
        s4 += x * x * x * x;
    }
    let n = N as f64;
    let mean = s1 / n;
    let var = s2 / n - mean * mean;
    assert!(mean.abs() < 5e-3, "mean {mean}");
    assert!((var - 1.0).abs() < 7e-3, "variance {var}");
    // Skewness 0 and kurtosis 3 catch a sampler with the right variance but the wrong shape.
    assert!((s3 / n).abs() < 0.02, "third moment {}", s3 / n);
    assert!((s4 / n - 3.0).abs() < 0.05, "fourth moment {}", s4 / n);
}

#[test]
fn process_noise_has_the_model_scale() {
    // With A = W = h = 0 the state is pure process noise: z_t = ε_t, so its sample standard
    // deviation estimates σ_z.
    let params = plrnn_nostd::ModelParams::<2, 1, 0, 0> {
        a: [0.0; 2],
        w: [[0.0; 2]; 2],
        h: [0.0; 2],
        alpha: [],
        theta: [[]; 2],
        c: [[]; 2],
        b: [[1.0, 0.0]],
        sigma_z: [0.5, 2.0],
        sigma_x: [1.0],
    };
    let model = Model::from_params(Variant::Relu, params).unwrap();
    let mut g = Generator::new(&model, 3);
    let mut ss = [0.0f64; 2];
    let n = 200_000;
    let mut x = [0.0f32];
    for _ in 0..n {
        g.step(&[], Noise::Process, &mut x);
        for (s, z) in ss.iter_mut().zip(g.state()) {
            *s += (*z as f64).powi(2);
        }
    }
    let sd0 = (ss[0] / n as f64).sqrt();
    let sd1 = (ss[1] / n as f64).sqrt();
    assert!((sd0 - 0.5).abs() < 0.01, "{sd0}");
    assert!((sd1 - 2.0).abs() < 0.04, "{sd1}");
}

#[test]
fn clamp_bounds_a_diverging_model() {
    // A Relu model with A = 1.5 diverges; with a clamp it stays within the limit, and the
    // host's generator clamps identically.
    let params = plrnn_nostd::ModelParams::<2, 1, 0, 0> {
        a: [1.5, 1.2],
        w: [[0.0, 0.1], [0.1, 0.0]],
        h: [0.1, 0.1],
        alpha: [],
        theta: [[]; 2],
        c: [[]; 2],
        b: [[1.0, 1.0]],
        sigma_z: [0.1; 2],
        sigma_x: [0.1],
    };
    let model = Model::from_params(Variant::Relu, params).unwrap();
    let mut free = Generator::new(&model, 1);
    let mut x = [0.0f32];
    for _ in 0..400 {
        free.step(&[], Noise::None, &mut x);
    }
    assert!(
        !x[0].is_finite() || x[0].abs() > 1e30,
        "model should diverge: {x:?}"
    );
    let mut g = Generator::new(&model, 1);
    g.set_clamp(Some(10.0));
    let bytes = model.as_model_ref().encode();
    let buf = plrnn_nostd::ValidModel::decode(&bytes).unwrap();
    let mut h = plrnn_nostd::DynGenerator::new(buf.model_ref(), 1);
    h.set_clamp(Some(-10.0));
    let mut y = [0.0f32];
    for _ in 0..10_000 {
        g.step(&[], Noise::Full, &mut x);
        h.step(&[], Noise::Full, &mut y).unwrap();
        assert!(g.state().iter().all(|v| v.abs() <= 10.0));
        assert_eq!(x[0].to_bits(), y[0].to_bits());
    }
}
