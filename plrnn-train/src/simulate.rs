//! Benchmark dynamical systems ([`System`]: Lorenz-63, Lorenz-96, Rössler, four neuron models
//! — Hindmarsh–Rose, FitzHugh–Nagumo, Morris–Lecar, Wilson–Cowan — and the chaotic flows of
//! Chua, Aizawa, Duffing/Ueda and Sprott), integrated with classical RK4 at a fine inner step
//! and sampled every `dt`, with optional process noise (Euler–Maruyama at the inner step) and
//! observation noise; and the largest Lyapunov exponent of each by the tangent-linear
//! (Benettin) method.

use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use crate::series::TimeSeries;

mod systems;
pub use systems::{System, SYSTEM_NAMES};

/// Why a simulation could not run.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A simulation option is out of range.
    #[error("invalid simulation option: {name} must be {requirement}, got {value}")]
    InvalidOption {
        /// The option.
        name: &'static str,
        /// What it must satisfy.
        requirement: &'static str,
        /// The value given.
        value: String,
    },
    /// A system parameter is out of range.
    #[error("invalid {system} parameter: {name} must be {requirement}, got {value}")]
    InvalidSystem {
        /// The system's name.
        system: &'static str,
        /// The parameter.
        name: &'static str,
        /// What it must satisfy.
        requirement: &'static str,
        /// The value given.
        value: String,
    },
    /// The name does not denote a known system.
    #[error(
        "unknown system {name:?}; expected one of lorenz63, lorenz96, rossler, hindmarsh_rose, \
         fitzhugh_nagumo, morris_lecar, wilson_cowan, chua, aizawa, duffing, sprott_b"
    )]
    UnknownSystem {
        /// The name given.
        name: String,
    },
    /// A state vector has the wrong length for the system.
    #[error("state has {found} components but {system} has dimension {expected}")]
    DimensionMismatch {
        /// The system's name.
        system: &'static str,
        /// The system's dimension.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// The requested output does not fit in memory.
    #[error("{steps} steps × {dims} channels is too large to hold in memory")]
    TooLarge {
        /// Steps requested.
        steps: usize,
        /// Channels per step.
        dims: usize,
    },
    /// The state became NaN or infinite (e.g. a too-large step or too much process noise).
    #[error("the trajectory diverged (non-finite state) at sample step {step} (t = {time})")]
    Diverged {
        /// Sample step (counting the transient) at which the state was found non-finite.
        step: usize,
        /// Time since the start.
        time: f64,
    },
}

/// Inner RK4 step of Lorenz-63, Lorenz-96 and Rössler when [`SimOptions::substeps`] is
/// `None` (other systems: [`System::max_inner_step`]): small enough that Lorenz-63's
/// integration error is far below any noise or model error we measure.
pub const DEFAULT_MAX_INNER_STEP: f64 = 1e-3;

/// Largest accepted number of RK4 sub-steps per sample.
pub const MAX_SUBSTEPS: usize = 1_000_000;

/// How to simulate: sampling, integration, noise, seed and start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimOptions {
    /// Number of samples returned (> 0).
    pub steps: usize,
    /// Time between samples (> 0).
    pub dt: f64,
    /// RK4 sub-steps per sample; `None` picks the fewest that keep the inner step
    /// ≤ [`System::max_inner_step`] (10 for Lorenz-63 at dt = 0.01).
    pub substeps: Option<usize>,
    /// Samples simulated and dropped before the first returned one, so the output starts on the
    /// attractor (default 1000).
    pub transient: usize,
    /// Diffusion coefficient σ of additive process noise (default 0): after each RK4 sub-step
    /// of length h, every component gets N(0, σ² h) added (Euler–Maruyama for
    /// dx = f(x) dt + σ dW), so the noise level does not depend on the number of sub-steps.
    pub process_noise: f64,
    /// Standard deviation of Gaussian noise added to each returned value (default 0); it does
    /// not feed back into the dynamics.
    pub obs_noise: f64,
    /// Seed of every random draw (initial state, process and observation noise).
    pub seed: u64,
    /// The state at time 0; `None` draws one near the attractor from the seed.
    pub initial: Option<Vec<f64>>,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            steps: 10_000,
            dt: 0.01,
            substeps: None,
            transient: 1000,
            process_noise: 0.0,
            obs_noise: 0.0,
            seed: 0,
            initial: None,
        }
    }
}

impl SimOptions {
    /// The defaults with `system`'s own sampling step ([`System::default_dt`]) and a transient
    /// of [`System::default_transient_time`] (rounded up to whole samples); for
    /// Lorenz-63 this is [`SimOptions::default`].
    pub fn for_system(system: &System) -> Self {
        Self::for_system_at(system, None, None)
    }

    /// The defaults for `system` with an optional sampling step and transient: `dt` defaults to
    /// [`System::default_dt`], and `transient` to [`System::default_transient_time`] at the
    /// chosen `dt` (so a finer step drops more samples, the same time). `plrnn simulate` and
    /// the Python package's `simulate` fill in their unset options with this.
    pub fn for_system_at(system: &System, dt: Option<f64>, transient: Option<usize>) -> Self {
        let dt = dt.unwrap_or_else(|| system.default_dt());
        Self {
            dt,
            transient: transient
                .unwrap_or_else(|| transient_samples(system.default_transient_time(), dt)),
            ..Self::default()
        }
    }

    /// Checks every option against `system` (which is checked too).
    pub fn validate(&self, system: &System) -> Result<(), SimError> {
        system.validate()?;
        let invalid = |name: &'static str, requirement: &'static str, value: String| {
            Err(SimError::InvalidOption {
                name,
                requirement,
                value,
            })
        };
        if !(self.dt.is_finite() && self.dt > 0.0) {
            return invalid("dt", "finite and > 0", self.dt.to_string());
        }
        if self.steps == 0 {
            return invalid("steps", "> 0", "0".into());
        }
        if let Some(n) = self.substeps {
            if n == 0 || n > MAX_SUBSTEPS {
                return invalid("substeps", "between 1 and 1000000", n.to_string());
            }
        }
        let ratio = self.dt / system.max_inner_step();
        if !ratio.is_finite() || self.substeps.is_none() && ratio > MAX_SUBSTEPS as f64 {
            return invalid(
                "dt",
                "at most 1000000 inner steps per sample without an explicit substeps",
                self.dt.to_string(),
            );
        }
        for (name, v) in [
            ("process_noise", self.process_noise),
            ("obs_noise", self.obs_noise),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return invalid(name, "finite and ≥ 0", v.to_string());
            }
        }
        if let Some(x0) = &self.initial {
            system.check_len(x0.len())?;
            if let Some(v) = x0.iter().find(|v| !v.is_finite()) {
                return invalid("initial", "finite in every component", v.to_string());
            }
        }
        if self.steps.checked_mul(system.dim()).is_none() {
            return Err(SimError::TooLarge {
                steps: self.steps,
                dims: system.dim(),
            });
        }
        Ok(())
    }

    /// The number of RK4 sub-steps per sample actually used for `system`.
    pub fn resolved_substeps(&self, system: &System) -> usize {
        self.substeps.unwrap_or_else(|| {
            let n = (self.dt / system.max_inner_step() * (1.0 - 1e-12)).ceil();
            if n.is_finite() && n >= 1.0 {
                (n as usize).min(MAX_SUBSTEPS)
            } else {
                1
            }
        })
    }

    /// Three independent random streams (initial state, process noise, observation noise)
    /// from one seed, so switching one kind of noise on does not change the others' draws.
    fn rngs(&self) -> [Xoshiro256PlusPlus; 3] {
        let init = Xoshiro256PlusPlus::seed_from_u64(self.seed);
        let mut process = init.clone();
        process.jump();
        let mut obs = process.clone();
        obs.jump();
        [init, process, obs]
    }
}

/// Whole samples covering `time` at step `dt` (rounded up; 0 for a non-positive time).
pub fn transient_samples(time: f64, dt: f64) -> usize {
    let n = (time / dt * (1.0 - 1e-12)).ceil();
    if n.is_finite() && n > 0.0 {
        n.min(usize::MAX as f64 / 2.0) as usize
    } else {
        0
    }
}

/// Scratch space for RK4 on a state of a given length.
struct Rk4 {
    k1: Vec<f64>,
    k2: Vec<f64>,
    k3: Vec<f64>,
    k4: Vec<f64>,
    tmp: Vec<f64>,
}

impl Rk4 {
    fn new(n: usize) -> Self {
        Self {
            k1: vec![0.0; n],
            k2: vec![0.0; n],
            k3: vec![0.0; n],
            k4: vec![0.0; n],
            tmp: vec![0.0; n],
        }
    }

    /// One classical RK4 step of length `h` for ẋ = f(x).
    fn step(&mut self, f: impl Fn(&[f64], &mut [f64]), x: &mut [f64], h: f64) {
        let Self {
            k1,
            k2,
            k3,
            k4,
            tmp,
        } = self;
        f(x, k1);
        for ((t, xi), k) in tmp.iter_mut().zip(x.iter()).zip(k1.iter()) {
            *t = xi + 0.5 * h * k;
        }
        f(tmp, k2);
        for ((t, xi), k) in tmp.iter_mut().zip(x.iter()).zip(k2.iter()) {
            *t = xi + 0.5 * h * k;
        }
        f(tmp, k3);
        for ((t, xi), k) in tmp.iter_mut().zip(x.iter()).zip(k3.iter()) {
            *t = xi + h * k;
        }
        f(tmp, k4);
        for i in 0..x.len() {
            x[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
        }
    }
}

/// Simulates `system`: `opts.steps` samples `opts.dt` apart after `opts.transient` dropped
/// ones. Row 0 is the state after the transient (with `transient = 0`, the initial state).
/// The same options give the same series, bit for bit.
pub fn simulate(system: &System, opts: &SimOptions) -> Result<TimeSeries, SimError> {
    opts.validate(system)?;
    let n = system.dim();
    let sub = opts.resolved_substeps(system);
    let h = opts.dt / sub as f64;
    let [mut rng_init, mut rng_proc, mut rng_obs] = opts.rngs();
    let mut x = match &opts.initial {
        Some(x0) => x0.clone(),
        None => system.default_initial(&mut rng_init),
    };
    let mut out: Vec<f64> = Vec::new();
    let total = opts.steps * n;
    out.try_reserve_exact(total)
        .map_err(|_| SimError::TooLarge {
            steps: opts.steps,
            dims: n,
        })?;
    let mut rk = Rk4::new(n);
    let noise_scale = opts.process_noise * h.sqrt();
    let total_samples = opts.transient.saturating_add(opts.steps);
    for s in 0..total_samples {
        if s >= opts.transient {
            for &v in &x {
                let e = if opts.obs_noise > 0.0 {
                    opts.obs_noise * rng_obs.sample::<f64, _>(StandardNormal)
                } else {
                    0.0
                };
                out.push(v + e);
            }
            if s + 1 == total_samples {
                break;
            }
        }
        for _ in 0..sub {
            rk.step(|x, dx| system.field(x, dx), &mut x, h);
            if noise_scale > 0.0 {
                for v in x.iter_mut() {
                    *v += noise_scale * rng_proc.sample::<f64, _>(StandardNormal);
                }
            }
        }
        if !x.iter().all(|v| v.is_finite()) {
            return Err(SimError::Diverged {
                step: s + 1,
                time: (s + 1) as f64 * opts.dt,
            });
        }
    }
    // `validate` guarantees n > 0 and the buffer is steps × n.
    TimeSeries::new(out, n).map_err(|_| SimError::TooLarge {
        steps: opts.steps,
        dims: n,
    })
}

/// The largest Lyapunov exponent of `system`, per unit time, by Benettin's method: the state
/// and one tangent vector are integrated together (RK4 on the joint system, inner step as in
/// [`simulate`]); every `dt` the tangent vector is renormalised and the log of its growth
/// accumulated; the sum is divided by `steps · dt`. The `transient` samples are run first
/// without accumulating (so the tangent vector aligns with the leading direction only during
/// the measured part, which converges as 1/T anyway).
///
/// The exponent belongs to the deterministic flow: `process_noise` and `obs_noise` are ignored.
/// Accuracy grows with `steps · dt`; Lorenz-63 needs T ≈ 1000 for ±0.02.
pub fn lyapunov_max(system: &System, opts: &SimOptions) -> Result<f64, SimError> {
    opts.validate(system)?;
    let n = system.dim();
    let sub = opts.resolved_substeps(system);
    let h = opts.dt / sub as f64;
    let [mut rng_init, ..] = opts.rngs();
    let mut x = match &opts.initial {
        Some(x0) => x0.clone(),
        None => system.default_initial(&mut rng_init),
    };
    let mut rk = Rk4::new(n);
    for s in 0..opts.transient {
        for _ in 0..sub {
            rk.step(|x, dx| system.field(x, dx), &mut x, h);
        }
        if !x.iter().all(|v| v.is_finite()) {
            return Err(SimError::Diverged {
                step: s + 1,
                time: (s + 1) as f64 * opts.dt,
            });
        }
    }
    // Joint state [x, v]: ẋ = f(x), v̇ = J(x) v.
    let mut xv = x;
    xv.extend((0..n).map(|_| rng_init.sample::<f64, _>(StandardNormal)));
    normalise(&mut xv[n..]);
    let mut rk = Rk4::new(2 * n);
    let joint = |s: &[f64], ds: &mut [f64]| {
        let (x, v) = s.split_at(n);
        let (dx, dv) = ds.split_at_mut(n);
        system.field(x, dx);
        system.jvp(x, v, dv);
    };
    let mut log_growth = 0.0;
    for s in 0..opts.steps {
        for _ in 0..sub {
            rk.step(joint, &mut xv, h);
        }
        let growth = normalise(&mut xv[n..]);
        if !(growth.is_finite() && growth > 0.0 && xv.iter().all(|v| v.is_finite())) {
            return Err(SimError::Diverged {
                step: opts.transient + s + 1,
                time: (opts.transient + s + 1) as f64 * opts.dt,
            });
        }
        log_growth += growth.ln();
    }
    Ok(log_growth / (opts.steps as f64 * opts.dt))
}

/// Scales `v` to unit length, returning its previous length.
fn normalise(v: &mut [f64]) -> f64 {
    let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        v.iter_mut().for_each(|a| *a /= norm);
    }
    norm
}

#[cfg(test)]
mod tests;
