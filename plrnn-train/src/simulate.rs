//! Benchmark dynamical systems: Lorenz-63, Lorenz-96 and Rössler, integrated with classical
//! RK4 at a fine inner step and sampled every `dt`, with optional process and observation
//! noise; and the largest Lyapunov exponent of each by the tangent-linear (Benettin) method.

use std::fmt;
use std::str::FromStr;

use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

use crate::series::TimeSeries;

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
    #[error("unknown system {name:?}; expected one of lorenz63, lorenz96, rossler")]
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

/// A benchmark system, with its parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "system", rename_all = "lowercase")]
pub enum System {
    /// Lorenz (1963): ẋ = σ(y − x), ẏ = x(ρ − z) − y, ż = xy − βz.
    Lorenz63 {
        /// σ (classically 10).
        sigma: f64,
        /// ρ (classically 28).
        rho: f64,
        /// β (classically 8/3).
        beta: f64,
    },
    /// Lorenz (1996): ẋ_i = (x_{i+1} − x_{i−2}) x_{i−1} − x_i + F, indices cyclic.
    Lorenz96 {
        /// Number of variables (≥ 4).
        dim: usize,
        /// Forcing F (8 gives chaos).
        forcing: f64,
    },
    /// Rössler (1976): ẋ = −y − z, ẏ = x + ay, ż = b + z(x − c).
    Rossler {
        /// a (classically 0.2).
        a: f64,
        /// b (classically 0.2).
        b: f64,
        /// c (classically 5.7).
        c: f64,
    },
}

impl System {
    /// Lorenz-63 with the classical σ = 10, ρ = 28, β = 8/3.
    pub fn lorenz63() -> Self {
        System::Lorenz63 {
            sigma: 10.0,
            rho: 28.0,
            beta: 8.0 / 3.0,
        }
    }

    /// Lorenz-96 with `dim` variables and the chaotic forcing F = 8.
    pub fn lorenz96(dim: usize) -> Self {
        System::Lorenz96 { dim, forcing: 8.0 }
    }

    /// Rössler with the classical a = 0.2, b = 0.2, c = 5.7.
    pub fn rossler() -> Self {
        System::Rossler {
            a: 0.2,
            b: 0.2,
            c: 5.7,
        }
    }

    /// The canonical name, as [`FromStr`] accepts it.
    pub fn name(&self) -> &'static str {
        match self {
            System::Lorenz63 { .. } => "lorenz63",
            System::Lorenz96 { .. } => "lorenz96",
            System::Rossler { .. } => "rossler",
        }
    }

    /// Dimension of the state (and of the simulated series).
    pub fn dim(&self) -> usize {
        match self {
            System::Lorenz96 { dim, .. } => *dim,
            _ => 3,
        }
    }

    /// Checks the parameters: all finite, Lorenz-96 `dim ≥ 4`.
    pub fn validate(&self) -> Result<(), SimError> {
        let name = self.name();
        let finite = |pname: &'static str, v: f64| {
            if v.is_finite() {
                Ok(())
            } else {
                Err(SimError::InvalidSystem {
                    system: name,
                    name: pname,
                    requirement: "finite",
                    value: v.to_string(),
                })
            }
        };
        match *self {
            System::Lorenz63 { sigma, rho, beta } => {
                finite("sigma", sigma)?;
                finite("rho", rho)?;
                finite("beta", beta)
            }
            System::Lorenz96 { dim, forcing } => {
                if dim < 4 {
                    return Err(SimError::InvalidSystem {
                        system: name,
                        name: "dim",
                        requirement: "at least 4",
                        value: dim.to_string(),
                    });
                }
                finite("forcing", forcing)
            }
            System::Rossler { a, b, c } => {
                finite("a", a)?;
                finite("b", b)?;
                finite("c", c)
            }
        }
    }

    fn check_len(&self, found: usize) -> Result<(), SimError> {
        if found == self.dim() {
            Ok(())
        } else {
            Err(SimError::DimensionMismatch {
                system: self.name(),
                expected: self.dim(),
                found,
            })
        }
    }

    /// The vector field f(x) at `x`.
    pub fn vector_field(&self, x: &[f64]) -> Result<Vec<f64>, SimError> {
        self.validate()?;
        self.check_len(x.len())?;
        let mut dx = vec![0.0; x.len()];
        self.field(x, &mut dx);
        Ok(dx)
    }

    /// The Jacobian ∂f/∂x at `x`, row-major `dim × dim` (entry `[i * dim + j]` = ∂f_i/∂x_j).
    pub fn jacobian(&self, x: &[f64]) -> Result<Vec<f64>, SimError> {
        self.validate()?;
        self.check_len(x.len())?;
        let n = x.len();
        let mut jac = vec![0.0; n * n];
        match *self {
            System::Lorenz63 { sigma, rho, beta } => {
                jac.copy_from_slice(&[
                    -sigma,
                    sigma,
                    0.0,
                    rho - x[2],
                    -1.0,
                    -x[0],
                    x[1],
                    x[0],
                    -beta,
                ]);
            }
            System::Lorenz96 { .. } => {
                for i in 0..n {
                    let (ip1, im1, im2) = ((i + 1) % n, (i + n - 1) % n, (i + n - 2) % n);
                    let row = &mut jac[i * n..(i + 1) * n];
                    row[ip1] += x[im1];
                    row[im2] -= x[im1];
                    row[im1] += x[ip1] - x[im2];
                    row[i] -= 1.0;
                }
            }
            System::Rossler { a, c, .. } => {
                jac.copy_from_slice(&[0.0, -1.0, -1.0, 1.0, a, 0.0, x[2], 0.0, x[0] - c]);
            }
        }
        Ok(jac)
    }

    /// f(x) into `dx`; lengths are the caller's to guarantee (both `dim`).
    fn field(&self, x: &[f64], dx: &mut [f64]) {
        match *self {
            System::Lorenz63 { sigma, rho, beta } => {
                dx[0] = sigma * (x[1] - x[0]);
                dx[1] = x[0] * (rho - x[2]) - x[1];
                dx[2] = x[0] * x[1] - beta * x[2];
            }
            System::Lorenz96 { forcing, .. } => {
                let n = x.len();
                for i in 0..n {
                    let (ip1, im1, im2) = ((i + 1) % n, (i + n - 1) % n, (i + n - 2) % n);
                    dx[i] = (x[ip1] - x[im2]) * x[im1] - x[i] + forcing;
                }
            }
            System::Rossler { a, b, c } => {
                dx[0] = -x[1] - x[2];
                dx[1] = x[0] + a * x[1];
                dx[2] = b + x[2] * (x[0] - c);
            }
        }
    }

    /// The Jacobian-vector product J(x)·v into `out`, without forming J (Lorenz-96 may be
    /// high-dimensional).
    fn jvp(&self, x: &[f64], v: &[f64], out: &mut [f64]) {
        match *self {
            System::Lorenz63 { sigma, rho, beta } => {
                out[0] = sigma * (v[1] - v[0]);
                out[1] = (rho - x[2]) * v[0] - v[1] - x[0] * v[2];
                out[2] = x[1] * v[0] + x[0] * v[1] - beta * v[2];
            }
            System::Lorenz96 { .. } => {
                let n = x.len();
                for i in 0..n {
                    let (ip1, im1, im2) = ((i + 1) % n, (i + n - 1) % n, (i + n - 2) % n);
                    out[i] = (v[ip1] - v[im2]) * x[im1] + (x[ip1] - x[im2]) * v[im1] - v[i];
                }
            }
            System::Rossler { a, c, .. } => {
                out[0] = -v[1] - v[2];
                out[1] = v[0] + a * v[1];
                out[2] = x[2] * v[0] + (x[0] - c) * v[2];
            }
        }
    }

    /// A seeded random state in the region the attractor occupies; the transient removes the
    /// rest of the approach.
    fn default_initial(&self, rng: &mut Xoshiro256PlusPlus) -> Vec<f64> {
        let mut g = || rng.sample::<f64, _>(StandardNormal);
        match *self {
            System::Lorenz63 { .. } => vec![5.0 * g(), 5.0 * g(), 25.0 + 5.0 * g()],
            System::Lorenz96 { dim, forcing } => (0..dim).map(|_| forcing + g()).collect(),
            // Rössler orbits escape to infinity from large z; start in the (x, y) plane.
            System::Rossler { .. } => vec![3.0 * g(), 3.0 * g(), 0.1 * g().abs()],
        }
    }
}

impl fmt::Display for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            System::Lorenz63 { sigma, rho, beta } => {
                write!(f, "lorenz63(sigma={sigma}, rho={rho}, beta={beta})")
            }
            System::Lorenz96 { dim, forcing } => write!(f, "lorenz96(dim={dim}, F={forcing})"),
            System::Rossler { a, b, c } => write!(f, "rossler(a={a}, b={b}, c={c})"),
        }
    }
}

/// Parses `lorenz63`, `lorenz96` or `rossler` (case, `-`, `_` and spaces ignored; `rössler` and
/// `roessler` also accepted) into the system with its classical parameters. Lorenz-96 gets
/// dimension 10 and F = 8 (the project's benchmark data); change `dim` afterwards as needed.
impl FromStr for System {
    type Err = SimError;

    fn from_str(s: &str) -> Result<Self, SimError> {
        let key: String = s
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .collect::<String>()
            .to_lowercase()
            .replace('ö', "o")
            .replace("oe", "o");
        match key.as_str() {
            "lorenz63" => Ok(System::lorenz63()),
            "lorenz96" => Ok(System::lorenz96(10)),
            "rossler" => Ok(System::rossler()),
            _ => Err(SimError::UnknownSystem { name: s.into() }),
        }
    }
}

/// Inner RK4 step used when [`SimOptions::substeps`] is `None`: small enough that Lorenz-63's
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
    /// ≤ [`DEFAULT_MAX_INNER_STEP`] (10 for dt = 0.01).
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
        if !(self.dt / DEFAULT_MAX_INNER_STEP).is_finite()
            || self.substeps.is_none() && self.dt / DEFAULT_MAX_INNER_STEP > MAX_SUBSTEPS as f64
        {
            return invalid(
                "dt",
                "at most 1000 without an explicit substeps",
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

    /// The number of RK4 sub-steps per sample actually used.
    pub fn resolved_substeps(&self) -> usize {
        self.substeps.unwrap_or_else(|| {
            let n = (self.dt / DEFAULT_MAX_INNER_STEP * (1.0 - 1e-12)).ceil();
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
    let sub = opts.resolved_substeps();
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
    let sub = opts.resolved_substeps();
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
