//! Closed-loop generation: the state, a seeded Gaussian sampler, and the noise modes.

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro128PlusPlus;

use crate::model::{Model, ModelRef};
use crate::step;

/// Which noise a generation step adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Noise {
    /// Deterministic: z_t = F(z_{t−1}, s_t), x_t = B z_t.
    None,
    /// Process noise only: ε_t ~ N(0, diag σ_z²) added to z_t; x_t = B z_t.
    Process,
    /// Process and observation noise: x_t = B z_t + η_t, η_t ~ N(0, diag σ_x²).
    Full,
}

/// Standard normal samples from a seeded xoshiro128++ generator (32-bit, cheap on Cortex-M),
/// by Marsaglia's polar method with `libm` (or `micromath` with that feature).
///
/// Each attempt draws u, v = ⌊r/2⁸⌋·2⁻²³ − 1 ∈ [−1, 1) and accepts when 0 < s = u² + v² < 1
/// (probability π/4); then u·f and v·f with f = √(−2 ln s / s) are two independent samples,
/// returned in that order. The polar method needs no sine or cosine: on a single-precision FPU
/// `libm`'s `sincosf` is a double-precision software routine of about 5.5 kB of flash.
/// Attempts are capped at 32 so that a step's cost is bounded; all of them
/// failing (probability (1 − π/4)³² ≈ 4·10⁻²²) yields 0.
#[derive(Clone, Debug)]
pub struct GaussianSampler {
    rng: Xoshiro128PlusPlus,
    spare: Option<f32>,
}

impl GaussianSampler {
    /// A sampler seeded with `seed` (via `SeedableRng::seed_from_u64`).
    pub fn new(seed: u64) -> Self {
        Self {
            rng: Xoshiro128PlusPlus::seed_from_u64(seed),
            spare: None,
        }
    }

    /// The next standard normal sample.
    #[inline]
    pub fn next_normal(&mut self) -> f32 {
        if let Some(s) = self.spare.take() {
            return s;
        }
        const SCALE: f32 = 1.0 / 8_388_608.0; // 2^-23
        for _ in 0..MAX_ATTEMPTS {
            let u = (self.rng.next_u32() >> 8) as f32 * SCALE - 1.0;
            let v = (self.rng.next_u32() >> 8) as f32 * SCALE - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let f = sqrt(-2.0 * ln(s) / s);
                self.spare = Some(v * f);
                return u * f;
            }
        }
        0.0
    }
}

/// Largest number of polar-method attempts per pair of samples.
const MAX_ATTEMPTS: usize = 32;

#[cfg(not(feature = "micromath"))]
#[inline]
fn ln(x: f32) -> f32 {
    libm::logf(x)
}
#[cfg(not(feature = "micromath"))]
#[inline]
fn sqrt(x: f32) -> f32 {
    libm::sqrtf(x)
}
#[cfg(feature = "micromath")]
#[inline]
fn ln(x: f32) -> f32 {
    micromath::F32Ext::ln(x)
}
#[cfg(feature = "micromath")]
#[inline]
fn sqrt(x: f32) -> f32 {
    micromath::F32Ext::sqrt(x)
}

/// The latent state of a generator and the scratch its step needs, both of length M.
pub(crate) struct StateBufs<'b> {
    pub(crate) z: &'b mut [f32],
    pub(crate) phi: &'b mut [f32],
}

/// One generation step on slices of matching lengths (guaranteed by the callers):
/// z ← F(z, s) (+ ε), x ← B z (+ η).
#[inline(always)]
pub(crate) fn gen_step(
    model: &ModelRef<'_>,
    st: StateBufs<'_>,
    s: &[f32],
    noise: Noise,
    sampler: &mut GaussianSampler,
    clamp: Option<f32>,
    x: &mut [f32],
) {
    let StateBufs { z, phi } = st;
    // In place: z becomes F(z, s) (module `step`).
    step::latent_in_place(model, z, s, phi);
    let p = model.params();
    if noise != Noise::None {
        for (v, &sd) in z.iter_mut().zip(p.sigma_z) {
            *v += sd * sampler.next_normal();
        }
    }
    if let Some(c) = clamp {
        for v in z.iter_mut() {
            // Not f32::clamp, which panics on a bad range; NaN passes through unchanged.
            *v = if *v > c {
                c
            } else if *v < -c {
                -c
            } else {
                *v
            };
        }
    }
    step::observe(model, z, x);
    if noise == Noise::Full {
        for (v, &sd) in x.iter_mut().zip(p.sigma_x) {
            *v += sd * sampler.next_normal();
        }
    }
}

/// Closed-loop generation from a fixed-size [`Model`]: holds the latent state and the noise
/// generator. Stepping cannot fail, allocate or panic.
///
/// Each step maps z_{t−1} to z_t = A∘z_{t−1} + W φ(z_{t−1}) + h + C s_t (+ ε_t) and returns
/// x_t = B z_t (+ η_t); the first output belongs to z_1 = F(z_0). Noise draws come in a fixed
/// order (σ_z for units 0..M, then σ_x for channels 0..N), so a seed fixes the trajectory.
#[derive(Clone, Debug)]
pub struct Generator<'m, const M: usize, const N: usize, const P: usize, const K: usize> {
    model: &'m Model<M, N, P, K>,
    z: [f32; M],
    z0: [f32; M],
    seed: u64,
    sampler: GaussianSampler,
    clamp: Option<f32>,
    /// Scratch of the step (φ(z)); fully overwritten by every step, kept here so that a step
    /// does not clear a fresh array first.
    phi: [f32; M],
}

impl<'m, const M: usize, const N: usize, const P: usize, const K: usize> Generator<'m, M, N, P, K> {
    /// A generator starting from z_0 = 0 with noise seed `seed`.
    pub fn new(model: &'m Model<M, N, P, K>, seed: u64) -> Self {
        Self::with_state(model, [0.0; M], seed)
    }

    /// A generator starting from `z0`.
    pub fn with_state(model: &'m Model<M, N, P, K>, z0: [f32; M], seed: u64) -> Self {
        Self {
            model,
            z: z0,
            z0,
            seed,
            sampler: GaussianSampler::new(seed),
            clamp: None,
            phi: [0.0; M],
        }
    }

    /// Optional state clamp: after every step each z_i is limited to [−limit, limit]. Off by
    /// default. The `ClippedDendritic` variant with every |A_ii| < 1 is bounded by construction
    /// ([`Model::clipped_bound`]); `Relu` and `Dendritic` models can diverge (their φ grows
    /// linearly), and a clamp keeps a long free run finite at the price of leaving the model's
    /// dynamics where it bites. The sign of `limit` is ignored.
    pub fn set_clamp(&mut self, limit: Option<f32>) {
        self.clamp = limit.map(libm::fabsf);
    }

    /// The model being run.
    pub fn model(&self) -> &'m Model<M, N, P, K> {
        self.model
    }

    /// The current latent state z_t.
    pub fn state(&self) -> &[f32; M] {
        &self.z
    }

    /// Replaces the current state (the noise stream continues).
    pub fn set_state(&mut self, z: [f32; M]) {
        self.z = z;
    }

    /// Back to the initial state and the initial noise stream.
    pub fn reset(&mut self) {
        self.z = self.z0;
        self.sampler = GaussianSampler::new(self.seed);
    }

    /// Restarts the noise stream from `seed` (the state is kept).
    pub fn reseed(&mut self, seed: u64) {
        self.seed = seed;
        self.sampler = GaussianSampler::new(seed);
    }

    /// One step with input `s`, writing the observation into `x`.
    #[inline]
    pub fn step(&mut self, s: &[f32; K], noise: Noise, x: &mut [f32; N]) {
        let st = StateBufs {
            z: &mut self.z,
            phi: &mut self.phi,
        };
        gen_step(
            &self.model.as_model_ref(),
            st,
            s,
            noise,
            &mut self.sampler,
            self.clamp,
            x,
        );
    }

    /// `out.len()` autonomous steps (zero input), one observation per row.
    pub fn run(&mut self, noise: Noise, out: &mut [[f32; N]]) {
        let zero = [0.0f32; K];
        for x in out {
            self.step(&zero, noise, x);
        }
    }

    /// Input-driven steps: row t of `inputs` is s_t. Runs min(inputs.len(), out.len()) steps
    /// and returns that count.
    pub fn run_driven(&mut self, inputs: &[[f32; K]], noise: Noise, out: &mut [[f32; N]]) -> usize {
        let mut n = 0;
        for (s, x) in inputs.iter().zip(out) {
            self.step(s, noise, x);
            n += 1;
        }
        n
    }
}
