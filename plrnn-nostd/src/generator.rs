//! Closed-loop generation: the state, a seeded Gaussian sampler, and the noise modes.
//!
//! One generator, [`GeneratorInner`], generic over where it keeps its state ([`Storage`]), in the
//! manner of heapless's `VecInner`: [`Generator`] holds arrays sized at compile time (devices),
//! `DynGenerator` (`alloc`) vectors sized by the model at run time (hosts). Every method is
//! written once, so the two cannot drift apart; the storages differ only in the shapes their
//! methods take and in whether lengths are checked at run time.

use core::convert::Infallible;
use core::fmt;

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro128PlusPlus;

#[cfg(feature = "alloc")]
use alloc::{vec, vec::Vec};

#[cfg(feature = "alloc")]
use crate::error::{Dim, ShapeError};
use crate::model::{Dims, Model, ModelRef};
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

/// Closed-loop generation: holds the model, the latent state and the noise generator; `S` says
/// where the state lives and which shapes the methods take (see [`Storage`]). Use it through
/// [`Generator`] (fixed sizes, devices) or `DynGenerator` (run-time sizes, `alloc`).
///
/// Each step maps z_{t−1} to z_t = A∘z_{t−1} + W φ(z_{t−1}) + h + C s_t (+ ε_t) and returns
/// x_t = B z_t (+ η_t); the first output belongs to z_1 = F(z_0). Noise draws come in a fixed
/// order (σ_z for units 0..M, then σ_x for channels 0..N), so a seed fixes the trajectory; both
/// storages run the same kernel and sampler, so the same model, seed, state and inputs give the
/// same bits. Stepping cannot allocate or panic, and with [`ArrayStorage`] cannot fail.
#[derive(Clone, Debug)]
pub struct GeneratorInner<'m, S: Storage> {
    model: S::Model<'m>,
    seed: u64,
    sampler: GaussianSampler,
    clamp: Option<f32>,
    state: S,
}

/// Closed-loop generation from a fixed-size [`Model`]: arrays sized at compile time, so the
/// shapes are checked by the compiler and stepping cannot fail, allocate or panic.
pub type Generator<'m, const M: usize, const N: usize, const P: usize, const K: usize> =
    GeneratorInner<'m, ArrayStorage<M, N, P, K>>;

/// Closed-loop generation for a model of run-time size (a [`ModelRef`], e.g. from
/// [`ValidModel::model_ref`](crate::ValidModel::model_ref)): the host's counterpart of
/// [`Generator`], with the same methods; lengths are checked at run time, so the methods that
/// take slices return `Result<_, ShapeError>`. Inputs and outputs of [`run`](GeneratorInner::run)
/// and [`run_driven`](GeneratorInner::run_driven) are row-major (K and N values per row).
#[cfg(feature = "alloc")]
pub type DynGenerator<'m> = GeneratorInner<'m, VecStorage>;

impl<'m, S: Storage> GeneratorInner<'m, S> {
    /// A generator starting from z_0 = 0 with noise seed `seed`.
    pub fn new(model: S::Model<'m>, seed: u64) -> Self {
        Self {
            state: S::zeroed(S::model_ref(model).dims()),
            model,
            seed,
            sampler: GaussianSampler::new(seed),
            clamp: None,
        }
    }

    /// A generator starting from `z0` (M values) with noise seed `seed`; [`reset`](Self::reset)
    /// returns to it.
    pub fn with_state(model: S::Model<'m>, z0: S::StateArg<'_>, seed: u64) -> S::Checked<Self> {
        let mut g = Self::new(model, seed);
        let r = g.state.set(z0).map(|()| {
            let Parts { z, z0, .. } = g.state.parts();
            copy(z0, z);
            g
        });
        S::lift(r)
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
    pub fn model(&self) -> S::Model<'m> {
        self.model
    }

    /// The current latent state z_t.
    pub fn state(&self) -> &S::State {
        self.state.get()
    }

    /// Replaces the current state (M values; the noise stream continues).
    pub fn set_state(&mut self, z: S::StateArg<'_>) -> S::Checked<()> {
        S::lift(self.state.set(z))
    }

    /// Back to the initial state and the initial noise stream.
    pub fn reset(&mut self) {
        let Parts { z, z0, .. } = self.state.parts();
        copy(z, z0);
        self.sampler = GaussianSampler::new(self.seed);
    }

    /// Restarts the noise stream from `seed` (the state is kept).
    pub fn reseed(&mut self, seed: u64) {
        self.seed = seed;
        self.sampler = GaussianSampler::new(seed);
    }

    /// One step with input `s` (K values; with `DynGenerator` also empty for zero input),
    /// writing the observation into `x` (N values).
    #[inline]
    pub fn step(&mut self, s: &S::Input, noise: Noise, x: &mut S::Output) -> S::Checked<()> {
        let model = S::model_ref(self.model);
        let Parts { z, phi, zero, .. } = self.state.parts();
        let r = S::shape_step(model.dims(), zero, s, x).map(|(s, x)| {
            let st = StateBufs { z, phi };
            gen_step(&model, st, s, noise, &mut self.sampler, self.clamp, x);
        });
        S::lift(r)
    }

    /// Autonomous steps (zero input), one observation per row of `out`, as many as it holds.
    pub fn run(&mut self, noise: Noise, out: &mut S::Outputs) -> S::Checked<()> {
        S::lift(self.run_rows(None, noise, out).map(|_| ()))
    }

    /// Input-driven steps: row t of `inputs` is s_t. Runs as many steps as both `inputs` and
    /// `out` have rows and returns that count.
    pub fn run_driven(
        &mut self,
        inputs: &S::Inputs,
        noise: Noise,
        out: &mut S::Outputs,
    ) -> S::Checked<usize> {
        S::lift(self.run_rows(Some(inputs), noise, out))
    }

    fn run_rows(
        &mut self,
        inputs: Option<&S::Inputs>,
        noise: Noise,
        out: &mut S::Outputs,
    ) -> Result<usize, S::Error> {
        let model = S::model_ref(self.model);
        let Parts { z, phi, zero, .. } = self.state.parts();
        let (sampler, clamp) = (&mut self.sampler, self.clamp);
        S::shape_rows(model.dims(), zero, inputs, out, |s, x| {
            let st = StateBufs {
                z: &mut *z,
                phi: &mut *phi,
            };
            gen_step(&model, st, s, noise, &mut *sampler, clamp, x);
        })
    }
}

/// `dst ← src` on slices of one length (M), without `copy_from_slice`'s panic path.
#[inline]
fn copy(dst: &mut [f32], src: &[f32]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = s;
    }
}

/// Mutable views of a storage's vectors, borrowed at once.
#[doc(hidden)]
pub struct Parts<'a> {
    /// The state z (M).
    z: &'a mut [f32],
    /// The initial state z_0 (M).
    z0: &'a mut [f32],
    /// The step's scratch φ(z) (M), fully overwritten by every step, kept so that a step does
    /// not clear a fresh array first.
    phi: &'a mut [f32],
    /// K zeros: the input of an autonomous step where the input type is a slice (empty
    /// otherwise).
    zero: &'a [f32],
}

mod sealed {
    pub trait Sealed {}
}

/// Where a [`GeneratorInner`] keeps its state, and the shapes its methods take. Sealed:
/// implemented by [`ArrayStorage`] and, with the `alloc` feature, `VecStorage`.
pub trait Storage: sealed::Sealed + Clone + fmt::Debug + Sized {
    /// The model run: `&'m Model<M, N, P, K>` or `ModelRef<'m>`.
    type Model<'m>: Copy + fmt::Debug;
    /// The latent state as [`GeneratorInner::state`] returns it: `[f32; M]` or `[f32]`.
    type State: ?Sized;
    /// A latent state to set: `[f32; M]` or `&[f32]`.
    type StateArg<'a>;
    /// One input s_t: `[f32; K]` or `[f32]`.
    type Input: ?Sized;
    /// One observation x_t: `[f32; N]` or `[f32]`.
    type Output: ?Sized;
    /// The inputs of a run, one row per step: `[[f32; K]]` or `[f32]` (row-major).
    type Inputs: ?Sized;
    /// The observations of a run, one row per step: `[[f32; N]]` or `[f32]` (row-major).
    type Outputs: ?Sized;
    /// A wrong length: [`Infallible`] where the types fix the lengths, else `ShapeError`.
    type Error;
    /// What a method taking shaped arguments returns: `T` where the types fix the lengths,
    /// else `Result<T, ShapeError>`.
    type Checked<T>;

    /// The run-time view of the model, through which every step goes.
    #[doc(hidden)]
    fn model_ref<'m>(model: Self::Model<'m>) -> ModelRef<'m>;
    /// Zero state and scratch for a model of sizes `d`.
    #[doc(hidden)]
    fn zeroed(d: Dims) -> Self;
    /// The method result for a checked value.
    #[doc(hidden)]
    fn lift<T>(r: Result<T, Self::Error>) -> Self::Checked<T>;
    /// The state z.
    #[doc(hidden)]
    fn get(&self) -> &Self::State;
    /// Sets the state z.
    #[doc(hidden)]
    fn set(&mut self, z: Self::StateArg<'_>) -> Result<(), Self::Error>;
    /// The vectors.
    #[doc(hidden)]
    fn parts(&mut self) -> Parts<'_>;
    /// `s` (or `zero` for an empty `s` of a slice type) and `x` as slices of lengths K and N.
    #[doc(hidden)]
    fn shape_step<'a>(
        d: Dims,
        zero: &'a [f32],
        s: &'a Self::Input,
        x: &'a mut Self::Output,
    ) -> Result<(&'a [f32], &'a mut [f32]), Self::Error>;
    /// Calls `step(s_t, x_t)` for the rows of `inputs` (or zero inputs) and `out` while both
    /// have rows; returns the number of steps.
    #[doc(hidden)]
    fn shape_rows(
        d: Dims,
        zero: &[f32],
        inputs: Option<&Self::Inputs>,
        out: &mut Self::Outputs,
        step: impl FnMut(&[f32], &mut [f32]),
    ) -> Result<usize, Self::Error>;
}

/// State in arrays sized at compile time, for a [`Model<M, N, P, K>`]: the storage of
/// [`Generator`]. Shapes are checked by the compiler.
#[derive(Clone, Debug)]
pub struct ArrayStorage<const M: usize, const N: usize, const P: usize, const K: usize> {
    z: [f32; M],
    z0: [f32; M],
    phi: [f32; M],
}

impl<const M: usize, const N: usize, const P: usize, const K: usize> sealed::Sealed
    for ArrayStorage<M, N, P, K>
{
}

impl<const M: usize, const N: usize, const P: usize, const K: usize> Storage
    for ArrayStorage<M, N, P, K>
{
    type Model<'m> = &'m Model<M, N, P, K>;
    type State = [f32; M];
    type StateArg<'a> = [f32; M];
    type Input = [f32; K];
    type Output = [f32; N];
    type Inputs = [[f32; K]];
    type Outputs = [[f32; N]];
    type Error = Infallible;
    type Checked<T> = T;

    #[inline]
    fn model_ref<'m>(model: Self::Model<'m>) -> ModelRef<'m> {
        model.as_model_ref()
    }

    fn zeroed(_: Dims) -> Self {
        Self {
            z: [0.0; M],
            z0: [0.0; M],
            phi: [0.0; M],
        }
    }

    #[inline]
    fn lift<T>(r: Result<T, Infallible>) -> T {
        match r {
            Ok(v) => v,
            Err(e) => match e {},
        }
    }

    fn get(&self) -> &[f32; M] {
        &self.z
    }

    fn set(&mut self, z: [f32; M]) -> Result<(), Infallible> {
        self.z = z;
        Ok(())
    }

    #[inline]
    fn parts(&mut self) -> Parts<'_> {
        Parts {
            z: &mut self.z,
            z0: &mut self.z0,
            phi: &mut self.phi,
            zero: &[],
        }
    }

    #[inline]
    fn shape_step<'a>(
        _: Dims,
        _: &'a [f32],
        s: &'a [f32; K],
        x: &'a mut [f32; N],
    ) -> Result<(&'a [f32], &'a mut [f32]), Infallible> {
        Ok((s, x))
    }

    #[inline]
    fn shape_rows(
        _: Dims,
        _: &[f32],
        inputs: Option<&[[f32; K]]>,
        out: &mut [[f32; N]],
        mut step: impl FnMut(&[f32], &mut [f32]),
    ) -> Result<usize, Infallible> {
        let zero = [0.0f32; K];
        let mut n = 0;
        match inputs {
            None => out.iter_mut().for_each(|x| {
                step(&zero, x);
                n += 1;
            }),
            Some(inputs) => inputs.iter().zip(out).for_each(|(s, x)| {
                step(s, x);
                n += 1;
            }),
        }
        Ok(n)
    }
}

/// State in vectors sized by the model at run time: the storage of `DynGenerator`. Lengths are
/// checked when a method is called (a [`ShapeError`] names the dimension); runs take row-major
/// slices. An empty input stands for K zeros; with K = 0 the inputs of a run bound nothing and
/// it runs as many steps as `out` has rows.
#[cfg(feature = "alloc")]
#[derive(Clone, Debug)]
pub struct VecStorage {
    z: Vec<f32>,
    z0: Vec<f32>,
    phi: Vec<f32>,
    zero: Vec<f32>,
}

#[cfg(feature = "alloc")]
impl sealed::Sealed for VecStorage {}

#[cfg(feature = "alloc")]
impl Storage for VecStorage {
    type Model<'m> = ModelRef<'m>;
    type State = [f32];
    type StateArg<'a> = &'a [f32];
    type Input = [f32];
    type Output = [f32];
    type Inputs = [f32];
    type Outputs = [f32];
    type Error = ShapeError;
    type Checked<T> = Result<T, ShapeError>;

    fn model_ref<'m>(model: Self::Model<'m>) -> ModelRef<'m> {
        model
    }

    fn zeroed(d: Dims) -> Self {
        Self {
            z: vec![0.0; d.m],
            z0: vec![0.0; d.m],
            phi: vec![0.0; d.m],
            zero: vec![0.0; d.k],
        }
    }

    fn lift<T>(r: Result<T, ShapeError>) -> Result<T, ShapeError> {
        r
    }

    fn get(&self) -> &[f32] {
        &self.z
    }

    fn set(&mut self, z: &[f32]) -> Result<(), ShapeError> {
        ShapeError::check(Dim::M, self.z.len(), z.len())?;
        self.z.copy_from_slice(z);
        Ok(())
    }

    fn parts(&mut self) -> Parts<'_> {
        Parts {
            z: &mut self.z,
            z0: &mut self.z0,
            phi: &mut self.phi,
            zero: &self.zero,
        }
    }

    fn shape_step<'a>(
        d: Dims,
        zero: &'a [f32],
        s: &'a [f32],
        x: &'a mut [f32],
    ) -> Result<(&'a [f32], &'a mut [f32]), ShapeError> {
        let s = if s.is_empty() { zero } else { s };
        ShapeError::check(Dim::K, d.k, s.len())?;
        ShapeError::check(Dim::N, d.n, x.len())?;
        Ok((s, x))
    }

    fn shape_rows(
        d: Dims,
        zero: &[f32],
        inputs: Option<&[f32]>,
        out: &mut [f32],
        mut step: impl FnMut(&[f32], &mut [f32]),
    ) -> Result<usize, ShapeError> {
        // N ≥ 1 holds for every ModelRef (validated); `max` only keeps `chunks` total.
        let n = d.n.max(1);
        ShapeError::check(Dim::N, out.len() - out.len() % n, out.len())?;
        let rows = out.chunks_exact_mut(n);
        let mut steps = 0;
        match inputs {
            Some(inputs) if d.k > 0 => {
                ShapeError::check(Dim::K, inputs.len() - inputs.len() % d.k, inputs.len())?;
                for (s, x) in inputs.chunks_exact(d.k).zip(rows) {
                    step(s, x);
                    steps += 1;
                }
            }
            // Autonomous, or K = 0: then the inputs hold no values and bound nothing.
            other => {
                ShapeError::check(Dim::K, 0, other.map_or(0, <[f32]>::len))?;
                for x in rows {
                    step(zero, x);
                    steps += 1;
                }
            }
        }
        Ok(steps)
    }
}

/// The latent state of a generator and the scratch its step needs, both of length M.
struct StateBufs<'b> {
    z: &'b mut [f32],
    phi: &'b mut [f32],
}

/// One generation step on slices of matching lengths (guaranteed by the callers):
/// z ← F(z, s) (+ ε), x ← B z (+ η).
#[inline(always)]
fn gen_step(
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
