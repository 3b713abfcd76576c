//! Random models and an independent f64 reference of the step, shared by the tests.
#![allow(dead_code)]
// The reference mirrors the indices of the equations on purpose.
#![allow(clippy::needless_range_loop)]

use plrnn_nostd::{Model, ModelParams, Variant};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

pub struct Uniform(Xoshiro256PlusPlus);

impl Uniform {
    pub fn new(seed: u64) -> Self {
        Self(Xoshiro256PlusPlus::seed_from_u64(seed))
    }
    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        let u = (self.0.next_u32() >> 8) as f32 / 16_777_216.0;
        lo + (hi - lo) * u
    }
    pub fn fill<const L: usize>(&mut self, lo: f32, hi: f32) -> [f32; L] {
        core::array::from_fn(|_| self.range(lo, hi))
    }
}

pub const VARIANTS: [Variant; 3] = [Variant::Relu, Variant::Dendritic, Variant::ClippedDendritic];

/// A random valid model; |A_ii| < a_max.
pub fn random_model<const M: usize, const N: usize, const P: usize, const K: usize>(
    seed: u64,
    variant: Variant,
    a_max: f32,
) -> Model<M, N, P, K> {
    let mut r = Uniform::new(seed);
    let mut w: [[f32; M]; M] = core::array::from_fn(|_| r.fill(-0.5, 0.5));
    for (i, row) in w.iter_mut().enumerate() {
        row[i] = 0.0;
    }
    let params = ModelParams {
        a: r.fill(-a_max, a_max),
        w,
        h: r.fill(-1.0, 1.0),
        alpha: r.fill(-1.0, 1.0),
        theta: core::array::from_fn(|_| r.fill(-2.0, 2.0)),
        c: core::array::from_fn(|_| r.fill(-1.0, 1.0)),
        b: core::array::from_fn(|_| r.fill(-1.0, 1.0)),
        sigma_z: r.fill(0.01, 0.5),
        sigma_x: r.fill(0.01, 0.5),
    };
    Model::from_params(variant, params).expect("random model is valid")
}

fn relu(x: f64) -> f64 {
    if x > 0.0 {
        x
    } else {
        0.0
    }
}

/// The latent step written plainly from the equations in f64 (φ as the sum of relu terms, not
/// the kernel's table), plus the magnitude the rounding bound of an f32 evaluation scales with:
/// mag_i = |A_i z_i| + Σ_j |W_ij| Φ_j + |h_i| + Σ_k |C_ik s_k|, with Φ_j = |z_j| for `Relu` and
/// Φ_j = Σ_b |α_b| (|z_j| + |θ_jb|) for the dendritic variants (a bound on |φ_j| and on the
/// terms of its table evaluation; see `step_matches_f64_reference`).
pub fn reference_step<const M: usize, const N: usize, const P: usize, const K: usize>(
    m: &Model<M, N, P, K>,
    z: &[f32; M],
    s: &[f32; K],
) -> ([f64; M], [f64; M]) {
    let theta = m.theta();
    let mut phi = [0.0f64; M];
    let mut phi_abs = [0.0f64; M];
    for j in 0..M {
        let zj = z[j] as f64;
        match m.variant() {
            Variant::Relu => {
                phi[j] = relu(zj);
                phi_abs[j] = zj.abs();
            }
            Variant::Dendritic => {
                for b in 0..P {
                    let t = relu(zj - theta[j][b] as f64);
                    phi[j] += m.alpha()[b] as f64 * t;
                    phi_abs[j] +=
                        (m.alpha()[b] as f64).abs() * (zj.abs() + (theta[j][b] as f64).abs());
                }
            }
            Variant::ClippedDendritic => {
                for b in 0..P {
                    let t = relu(zj - theta[j][b] as f64) - relu(zj);
                    phi[j] += m.alpha()[b] as f64 * t;
                    phi_abs[j] +=
                        (m.alpha()[b] as f64).abs() * (zj.abs() + (theta[j][b] as f64).abs());
                }
            }
        }
    }
    let mut out = [0.0f64; M];
    let mut mag = [0.0f64; M];
    for i in 0..M {
        let mut acc = m.a()[i] as f64 * z[i] as f64;
        let mut abs = acc.abs();
        for j in 0..M {
            acc += m.w()[i][j] as f64 * phi[j];
            abs += (m.w()[i][j] as f64).abs() * phi_abs[j];
        }
        acc += m.h()[i] as f64;
        abs += (m.h()[i] as f64).abs();
        for k in 0..K {
            acc += m.c()[i][k] as f64 * s[k] as f64;
            abs += (m.c()[i][k] as f64 * s[k] as f64).abs();
        }
        out[i] = acc;
        mag[i] = abs;
    }
    (out, mag)
}
