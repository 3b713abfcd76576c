//! The deterministic stand-in model for `firmware-example`'s instruction counts at M = 50 (the
//! scenario's M = 20 model is a trained one, see `firmware-example/README.md`): a seeded
//! pseudo-random clipped-dendritic PLRNN of fixed sizes.
//!
//! Bounded by construction: every |A_ii| < 1 and the clipped basis is bounded, so orbits stay
//! bounded ([`plrnn_nostd::Model::clipped_bound`]). W is scaled so the deterministic orbit does
//! not settle on a fixed point (checked by the tests in `tests/tests/fw_models.rs`).

use plrnn_nostd::{Dims, ModelBuf, Variant};

/// A committed firmware model: its file name under `firmware-example/models/`, sizes and seed.
#[derive(Clone, Copy, Debug)]
pub struct FwModelSpec {
    /// File name under `firmware-example/models/`.
    pub file: &'static str,
    /// Model sizes.
    pub dims: Dims,
    /// Seed of the weight generator.
    pub seed: u64,
}

/// The larger model for the instruction-count measurement (M = 50, N = 10, P = 30, K = 1).
pub const LARGE: FwModelSpec = FwModelSpec {
    file: "m50-n10-p30.plrnn",
    dims: Dims {
        m: 50,
        n: 10,
        p: 30,
        k: 1,
    },
    seed: 51,
};

/// Every generated model.
pub const ALL: [FwModelSpec; 1] = [LARGE];

/// SplitMix64: tiny, fully specified, so the model bytes never depend on a crate version.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi), from the top 24 bits (exact in f32).
    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let u = (self.next_u64() >> 40) as f32 / 16_777_216.0;
        lo + (hi - lo) * u
    }
}

/// Builds the model of `spec` (ClippedDendritic, in model units, no data statistics).
pub fn build(spec: FwModelSpec) -> ModelBuf {
    let d = spec.dims;
    let mut rng = SplitMix64(spec.seed);
    let mut m = ModelBuf::zeroed(Variant::ClippedDendritic, d);
    let inv_sqrt_m = 1.0 / (d.m as f32).sqrt();
    for a in &mut m.a {
        *a = rng.uniform(0.5, 0.95);
    }
    for i in 0..d.m {
        for j in 0..d.m {
            m.w[i * d.m + j] = if i == j {
                0.0
            } else {
                rng.uniform(-3.0, 3.0) * inv_sqrt_m
            };
        }
    }
    for h in &mut m.h {
        *h = rng.uniform(-0.2, 0.2);
    }
    for al in &mut m.alpha {
        *al = rng.uniform(-0.5, 1.0);
    }
    for t in &mut m.theta {
        *t = rng.uniform(-3.0, 3.0);
    }
    for c in &mut m.c {
        *c = rng.uniform(-1.0, 1.0);
    }
    for b in &mut m.b {
        *b = rng.uniform(-1.0, 1.0) * inv_sqrt_m;
    }
    for s in &mut m.sigma_z {
        *s = rng.uniform(0.02, 0.1);
    }
    for s in &mut m.sigma_x {
        *s = rng.uniform(0.02, 0.1);
    }
    m
}

/// The model file bytes of `spec`.
pub fn encode(spec: FwModelSpec) -> Vec<u8> {
    // Every value above is finite, σ > 0 and W's diagonal is 0, so validation cannot fail.
    build(spec)
        .encode()
        .expect("generated firmware model is valid")
}
