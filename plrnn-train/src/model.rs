//! Model files on the desktop: loading with messages that name the file, saving atomically,
//! a stability summary for `plrnn inspect`, data-derived latent states, and the f64 view the
//! metrics use — which runs the very f32 kernel of `plrnn-nostd`, so evaluation judges exactly
//! what the device will run.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use plrnn_nostd::{DynGenerator, Header, LoadError, ModelBuf, Noise, ValidModel, Variant};
use serde::Serialize;

use crate::series::TimeSeries;

/// Why a model file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes are not a valid model file.
    #[error("{path}: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What check failed.
        source: LoadError,
    },
}

/// The settings of a free run ([`DesktopModel::generate`]).
#[derive(Clone, Copy, Debug)]
pub struct FreeRun {
    /// Observations kept.
    pub steps: usize,
    /// Steps run and discarded before the first kept one.
    pub burn_in: usize,
    /// Seed of the noise.
    pub seed: u64,
    /// Which noise is drawn.
    pub noise: Noise,
    /// Limit of every latent state after each step, if any.
    pub clamp: Option<f32>,
}

/// Why a free run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The inputs do not have K columns.
    #[error("inputs have {found} columns, the model takes K = {k}")]
    InputWidth {
        /// Columns given.
        found: usize,
        /// The model's K.
        k: usize,
    },
    /// Fewer input rows than steps run.
    #[error("{rows} input rows, but burn-in + steps = {needed}")]
    InputRows {
        /// Rows given.
        rows: usize,
        /// burn-in + steps.
        needed: usize,
    },
    /// The initial state does not have M entries.
    #[error("initial state has {found} entries, the model has M = {m}")]
    StateWidth {
        /// Entries given.
        found: usize,
        /// The model's M.
        m: usize,
    },
    /// The initial state holds NaN or ±∞.
    #[error("initial state is not finite")]
    StateNotFinite,
    /// A buffer of the wrong size reached the kernel (a defect).
    #[error("stepping: {0}")]
    Shape(plrnn_nostd::ShapeError),
}

/// Why an evaluation could not be run.
#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    /// The test data do not have N columns.
    #[error("test data has {found} channels, the model observes N = {n}")]
    Width {
        /// Columns given.
        found: usize,
        /// The model's N.
        n: usize,
    },
    /// A metric failed (too short, not finite, …).
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
}

/// A validated model of run-time size, with the facts of the file it came from.
#[derive(Clone, Debug)]
pub struct DesktopModel {
    model: ValidModel,
    file_len: usize,
}

thread_local! {
    /// Per-thread f32 buffers of the f64 interface ([`DesktopModel::step_f64`] and
    /// [`DesktopModel::observe_f64`] run once per step of every metric, from rayon workers), so
    /// a step allocates nothing.
    static SCRATCH: RefCell<[Vec<f32>; 4]> = RefCell::new(Default::default());
}

/// `dst` = `src` rounded to f32.
fn fill_f32(dst: &mut Vec<f32>, src: &[f64]) {
    dst.clear();
    dst.extend(src.iter().map(|&v| v as f32));
}

/// The largest latent component (model units, i.e. data z-scores through B) that
/// [`DesktopModel::infer_states`] accepts before it starts its filter again.
pub const RESYNC_BOUND: f64 = 1e6;

impl DesktopModel {
    /// Wraps a validated model.
    pub fn new(model: ValidModel) -> Self {
        let file_len = model.model_ref().encoded_len();
        Self { model, file_len }
    }

    /// Reads and validates a model file.
    pub fn load(path: &Path) -> Result<Self, ModelFileError> {
        let bytes = std::fs::read(path).map_err(|source| ModelFileError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_bytes(&bytes).map_err(|source| ModelFileError::Invalid {
            path: path.to_owned(),
            source,
        })
    }

    /// Validates model-file bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, LoadError> {
        Ok(Self::new(ValidModel::decode(bytes)?))
    }

    /// Writes the model file atomically.
    pub fn save(&self, path: &Path) -> Result<(), ModelFileError> {
        crate::io::atomic_write(path, &self.model.encode()).map_err(|source| ModelFileError::Io {
            path: path.to_owned(),
            source,
        })
    }

    /// The validated model.
    pub fn valid(&self) -> &ValidModel {
        &self.model
    }

    /// The parameters.
    pub fn buf(&self) -> &ModelBuf {
        self.model.buf()
    }

    /// The file header this model is written with.
    pub fn header(&self) -> Header {
        self.model.model_ref().header()
    }

    /// Latent size M.
    pub fn m(&self) -> usize {
        self.buf().dims.m
    }

    /// Observation size N.
    pub fn n(&self) -> usize {
        self.buf().dims.n
    }

    /// The Jacobian ∂F/∂z of the deterministic latent map at `z` (row-major M×M):
    /// J = diag(A) + W diag(φ'(z)), with φ'_j = 𝟙(z_j > 0) (Relu),
    /// Σ_b α_b 𝟙(z_j > θ_jb) (Dendritic), Σ_b α_b (𝟙(z_j > θ_jb) − 𝟙(z_j > 0)) (Clipped).
    pub fn jacobian_at(&self, z: &[f64], jac: &mut [f64]) {
        let b = self.buf();
        let (m, p) = (b.dims.m, b.dims.p);
        let dphi: Vec<f64> = (0..m)
            .map(|j| {
                let zj = z[j];
                let step = |x: f64| if x > 0.0 { 1.0 } else { 0.0 };
                match b.variant {
                    Variant::Relu => step(zj),
                    Variant::Dendritic => (0..p)
                        .map(|k| b.alpha[k] as f64 * step(zj - b.theta[j * p + k] as f64))
                        .sum(),
                    Variant::ClippedDendritic => (0..p)
                        .map(|k| {
                            b.alpha[k] as f64 * (step(zj - b.theta[j * p + k] as f64) - step(zj))
                        })
                        .sum(),
                }
            })
            .collect();
        for i in 0..m {
            for j in 0..m {
                jac[i * m + j] = b.w[i * m + j] as f64 * dphi[j];
            }
            jac[i * m + i] += b.a[i] as f64;
        }
    }

    /// One deterministic step through the f32 kernel, in f64 at the interface.
    pub fn step_f64(&self, z: &[f64], z_next: &mut [f64]) {
        let r = self.model.model_ref();
        let (m, k) = (self.m(), r.dims().k);
        SCRATCH.with_borrow_mut(|[z32, s, scratch, next]| {
            fill_f32(z32, z);
            s.clear();
            s.resize(k, 0.0);
            scratch.resize(m, 0.0);
            next.resize(m, 0.0);
            // Lengths match the model by construction; a mismatch would be a caller bug.
            if r.latent_step(z32, s, scratch, next).is_ok() {
                for (o, &v) in z_next.iter_mut().zip(next.iter()) {
                    *o = v as f64;
                }
            }
        });
    }

    /// x = B z through the f32 kernel.
    pub fn observe_f64(&self, z: &[f64], x: &mut [f64]) {
        let r = self.model.model_ref();
        let n = self.n();
        SCRATCH.with_borrow_mut(|[z32, x32, _, _]| {
            fill_f32(z32, z);
            x32.resize(n, 0.0);
            if r.observe(z32, x32).is_ok() {
                for (o, &v) in x.iter_mut().zip(x32.iter()) {
                    *o = v as f64;
                }
            }
        });
    }

    /// Minimum-norm least-squares latent state for an observation: z = Bᵀ (B Bᵀ + εI)⁻¹ x.
    pub fn pinv_b(&self) -> Vec<f64> {
        let b = self.buf();
        let (n, m) = (b.dims.n, b.dims.m);
        // G = B Bᵀ (N×N), regularised by a tiny ridge so rank-deficient B still works.
        let mut g = vec![0.0f64; n * n];
        for r in 0..n {
            for c in 0..n {
                g[r * n + c] = (0..m)
                    .map(|i| b.b[r * m + i] as f64 * b.b[c * m + i] as f64)
                    .sum();
            }
        }
        let trace: f64 = (0..n).map(|i| g[i * n + i]).sum::<f64>() / n as f64;
        for i in 0..n {
            g[i * n + i] += 1e-9 * trace.max(1e-12);
        }
        let ginv = invert_spd(&g, n);
        // P = Bᵀ G⁻¹ (M×N)
        let mut pinv = vec![0.0f64; m * n];
        for i in 0..m {
            for c in 0..n {
                pinv[i * n + c] = (0..n)
                    .map(|r| b.b[r * m + i] as f64 * ginv[r * n + c])
                    .sum();
            }
        }
        pinv
    }

    /// Data-derived latent states for every time step of `x` (in model units), the protocol
    /// used when no encoder is at hand: start from z_0 = B⁺x_0, then at each step predict
    /// z_t = F(z_{t−1}) and correct its observed part, z_t += B⁺(x_t − B z_t). The unobserved
    /// directions synchronise with the data through the dynamics (as in teacher forcing), so
    /// states after the first few dozen steps are good starting points for generation and PE(n).
    ///
    /// A model whose unobserved directions grow along the data (an unstable direction the
    /// correction does not reach) would carry them to infinity over a long series; when any
    /// component leaves [−[`RESYNC_BOUND`], RESYNC_BOUND] (or is not finite) the filter starts
    /// again at that step as at t = 0. A model that stays bounded along the data never restarts,
    /// so its states are those of the plain filter.
    pub fn infer_states(&self, x: &TimeSeries) -> TimeSeries {
        let (m, n) = (self.m(), self.n());
        let pinv = self.pinv_b();
        let mut out = TimeSeries::zeros(x.len(), m);
        let mut z = vec![0.0f64; m];
        let mut pred = vec![0.0f64; m];
        let mut xz = vec![0.0f64; n];
        let mut restart = true;
        for t in 0..x.len() {
            if restart {
                z.fill(0.0);
            } else {
                self.step_f64(&z, &mut pred);
                z.copy_from_slice(&pred);
            }
            let xt = x.row(t);
            let correct = |z: &mut [f64], xz: &mut [f64]| {
                self.observe_f64(z, xz);
                for i in 0..m {
                    z[i] += (0..n)
                        .map(|c| pinv[i * n + c] * (xt[c] - xz[c]))
                        .sum::<f64>();
                }
            };
            correct(&mut z, &mut xz);
            restart = z.iter().any(|v| !v.is_finite() || v.abs() > RESYNC_BOUND);
            if restart {
                // Lost the data: this step's state as at t = 0 (B⁺x_t); the next step restarts.
                z.fill(0.0);
                correct(&mut z, &mut xz);
            }
            out.row_mut(t).copy_from_slice(&z);
        }
        out
    }

    /// Maps a series from model units to data units with the stored statistics.
    pub fn to_data_units(&self, x: &mut TimeSeries) {
        for row in x.as_mut_slice().chunks_exact_mut(self.n()) {
            self.row_to_data_units(row);
        }
    }

    /// Maps one observation (N values, model units) to data units in place: the arithmetic of
    /// [`DesktopModel::to_data_units`], shared with the real-time loop's writer so both print
    /// the same bits.
    pub fn row_to_data_units(&self, row: &mut [f64]) {
        let b = self.buf();
        for ((v, &s), &mu) in row.iter_mut().zip(&b.data_std).zip(&b.data_mean) {
            *v = *v * s as f64 + mu as f64;
        }
    }

    /// Maps a series from data units to model units with the stored statistics.
    pub fn to_model_units(&self, x: &mut TimeSeries) {
        let b = self.buf();
        for row in x.as_mut_slice().chunks_exact_mut(b.dims.n) {
            for ((v, &s), &mu) in row.iter_mut().zip(&b.data_std).zip(&b.data_mean) {
                *v = (*v - mu as f64) / s as f64;
            }
        }
    }

    /// A free run of the f32 kernel (the one the device runs) from the latent state `z0`:
    /// `burn_in` steps discarded, then `steps` observations kept, in model units (map them with
    /// [`DesktopModel::to_data_units`]). `inputs` holds one row of K external inputs per step
    /// (at least `burn_in + steps` rows); without them the inputs are zero. `progress` is called
    /// with the number of steps done every 4096 steps. `plrnn generate` and the Python package
    /// both run this.
    pub fn generate(
        &self,
        z0: &[f32],
        run: &FreeRun,
        inputs: Option<&TimeSeries>,
        progress: &mut dyn FnMut(usize),
    ) -> Result<TimeSeries, GenerateError> {
        let d = self.buf().dims();
        let total = run.burn_in + run.steps;
        if let Some(s) = inputs {
            if s.dims() != d.k {
                return Err(GenerateError::InputWidth {
                    found: s.dims(),
                    k: d.k,
                });
            }
            if s.len() < total {
                return Err(GenerateError::InputRows {
                    rows: s.len(),
                    needed: total,
                });
            }
        }
        if z0.len() != d.m {
            return Err(GenerateError::StateWidth {
                found: z0.len(),
                m: d.m,
            });
        }
        if z0.iter().any(|v| !v.is_finite()) {
            return Err(GenerateError::StateNotFinite);
        }
        let mut gen = DynGenerator::new(self.model.model_ref(), run.seed);
        gen.set_state(z0).map_err(GenerateError::Shape)?;
        gen.set_clamp(run.clamp);
        let mut out = TimeSeries::zeros(run.steps, d.n);
        let mut x = vec![0.0f32; d.n];
        let mut s = vec![0.0f32; d.k];
        for t in 0..total {
            if let Some(inp) = inputs {
                for (v, &u) in s.iter_mut().zip(inp.row(t)) {
                    *v = u as f32;
                }
            }
            gen.step(&s, run.noise, &mut x)
                .map_err(GenerateError::Shape)?;
            if t >= run.burn_in {
                for (o, &v) in out.row_mut(t - run.burn_in).iter_mut().zip(&x) {
                    *o = v as f64;
                }
            }
            if t % 4096 == 0 {
                progress(t);
            }
        }
        Ok(out)
    }

    /// Runs the evaluation protocol on test data given in data units (N columns): the data are
    /// mapped to model units, latent states inferred from them, and
    /// [`crate::metrics::evaluate`] run. `plrnn evaluate` and the Python package both run this.
    pub fn evaluate(
        &self,
        test_data_units: &TimeSeries,
        protocol: &crate::metrics::EvalProtocol,
    ) -> Result<crate::metrics::EvalReport, EvaluateError> {
        if test_data_units.dims() != self.n() {
            return Err(EvaluateError::Width {
                found: test_data_units.dims(),
                n: self.n(),
            });
        }
        self.evaluate_owned(test_data_units.clone(), protocol)
    }

    /// [`evaluate`](Self::evaluate) on test data the caller gives away: they are converted to
    /// model units in place instead of copied (10⁶ × 3 steps are 24 MB).
    pub fn evaluate_owned(
        &self,
        mut test: TimeSeries,
        protocol: &crate::metrics::EvalProtocol,
    ) -> Result<crate::metrics::EvalReport, EvaluateError> {
        if test.dims() != self.n() {
            return Err(EvaluateError::Width {
                found: test.dims(),
                n: self.n(),
            });
        }
        self.to_model_units(&mut test);
        let states = self.infer_states(&test);
        Ok(crate::metrics::evaluate(self, &test, &states, protocol)?)
    }

    /// The facts `plrnn inspect` prints.
    pub fn summary(&self) -> ModelSummary {
        let b = self.buf();
        let m = b.dims.m;
        let h = self.header();
        let mut lin = vec![0.0f64; m * m];
        for i in 0..m {
            for j in 0..m {
                lin[i * m + j] = b.w[i * m + j] as f64;
            }
            lin[i * m + i] += b.a[i] as f64;
        }
        ModelSummary {
            variant: b.variant.name().to_owned(),
            format_version: h.version,
            file_bytes: self.file_len,
            m,
            n: b.dims.n,
            p: b.dims.p,
            k: b.dims.k,
            param_count: b.dims().param_count(),
            macs_per_step: b.dims().macs_per_step(b.variant),
            normalized: b.normalized,
            data_mean: b.data_mean.iter().map(|&v| v as f64).collect(),
            data_std: b.data_std.iter().map(|&v| v as f64).collect(),
            max_abs_a: b.a.iter().fold(0.0f64, |acc, &v| acc.max((v as f64).abs())),
            spectral_radius_a_plus_w: spectral_radius(&lin, m),
            sigma_z_mean: b.sigma_z.iter().map(|&v| v as f64).sum::<f64>() / m as f64,
            sigma_x_mean: b.sigma_x.iter().map(|&v| v as f64).sum::<f64>() / b.dims.n as f64,
        }
    }
}

impl crate::metrics::Dynamics for DesktopModel {
    fn latent_dim(&self) -> usize {
        self.m()
    }
    fn obs_dim(&self) -> usize {
        self.n()
    }
    fn step(&self, z: &[f64], z_next: &mut [f64]) {
        self.step_f64(z, z_next)
    }
    fn observe(&self, z: &[f64], x: &mut [f64]) {
        self.observe_f64(z, x)
    }
    fn jacobian(&self, z: &[f64], jac: &mut [f64]) {
        self.jacobian_at(z, jac)
    }
}

/// What `plrnn inspect` reports about a model file.
#[derive(Clone, Debug, Serialize)]
pub struct ModelSummary {
    /// φ variant name.
    pub variant: String,
    /// File format version.
    pub format_version: u16,
    /// File size in bytes.
    pub file_bytes: usize,
    /// Latent size.
    pub m: usize,
    /// Observation size.
    pub n: usize,
    /// Basis count.
    pub p: usize,
    /// Input size.
    pub k: usize,
    /// Number of stored f32 values.
    pub param_count: usize,
    /// Multiply-adds per deterministic step.
    pub macs_per_step: usize,
    /// Whether data statistics are attached.
    pub normalized: bool,
    /// Data mean per channel.
    pub data_mean: Vec<f64>,
    /// Data standard deviation per channel.
    pub data_std: Vec<f64>,
    /// max_i |A_ii|: below 1 the clipped variant is provably bounded.
    pub max_abs_a: f64,
    /// Spectral radius of diag(A) + W: the Jacobian where every unit is active (Relu).
    pub spectral_radius_a_plus_w: f64,
    /// Mean process-noise scale.
    pub sigma_z_mean: f64,
    /// Mean observation-noise scale.
    pub sigma_x_mean: f64,
}

/// Inverse of a symmetric positive-definite matrix by Cholesky (n is small: N ≤ a few hundred).
fn invert_spd(g: &[f64], n: usize) -> Vec<f64> {
    let mut l = vec![0.0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = g[i * n + j] - (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum::<f64>();
            l[i * n + j] = if i == j {
                s.max(1e-300).sqrt()
            } else {
                s / l[j * n + j]
            };
        }
    }
    let mut inv = vec![0.0f64; n * n];
    for c in 0..n {
        // Solve L y = e_c, then Lᵀ x = y.
        let mut y = vec![0.0f64; n];
        for i in 0..n {
            let e = if i == c { 1.0 } else { 0.0 };
            y[i] = (e - (0..i).map(|k| l[i * n + k] * y[k]).sum::<f64>()) / l[i * n + i];
        }
        for i in (0..n).rev() {
            let v = (y[i]
                - (i + 1..n)
                    .map(|k| l[k * n + i] * inv[k * n + c])
                    .sum::<f64>())
                / l[i * n + i];
            inv[i * n + c] = v;
        }
    }
    inv
}

/// Spectral radius by Gelfand's formula ρ = lim ‖J^k‖^{1/k}, with k = 2^40 reached by repeated
/// squaring and renormalisation (log scale kept separately). Exact for any real matrix,
/// including complex dominant pairs where power iteration would oscillate; the error is of
/// order ln(cond)/2^s after s squarings, negligible here.
pub fn spectral_radius(a: &[f64], n: usize) -> f64 {
    let mut x = a.to_vec();
    let mut log_scale = 0.0f64; // x_true = x · exp(log_scale)
    let mut tmp = vec![0.0f64; n * n];
    let squarings = 40;
    for s in 0..squarings {
        let norm = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if norm == 0.0 {
            return 0.0;
        }
        x.iter_mut().for_each(|v| *v /= norm);
        log_scale += norm.ln() / (1u64 << s) as f64;
        for i in 0..n {
            for j in 0..n {
                tmp[i * n + j] = (0..n).map(|k| x[i * n + k] * x[k * n + j]).sum();
            }
        }
        std::mem::swap(&mut x, &mut tmp);
    }
    let norm = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if norm == 0.0 {
        return 0.0;
    }
    (log_scale + norm.ln() / (1u64 << squarings) as f64).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spectral_radius_known_cases() {
        // Rotation by 90° scaled by 0.9: eigenvalues ±0.9i, power iteration would not converge.
        let r = spectral_radius(&[0.0, -0.9, 0.9, 0.0], 2);
        assert!((r - 0.9).abs() < 1e-6, "{r}");
        // Upper triangular: eigenvalues on the diagonal.
        let r = spectral_radius(&[0.5, 10.0, 0.0, -0.7], 2);
        assert!((r - 0.7).abs() < 1e-6, "{r}");
        assert_eq!(spectral_radius(&[0.0; 4], 2), 0.0);
    }

    fn example() -> DesktopModel {
        let mut b = ModelBuf::zeroed(
            Variant::Dendritic,
            plrnn_nostd::Dims {
                m: 3,
                n: 2,
                p: 2,
                k: 0,
            },
        );
        b.a = vec![0.9, 0.5, -0.3];
        b.w = vec![0.0, 0.2, -0.1, 0.3, 0.0, 0.4, -0.2, 0.1, 0.0];
        b.h = vec![0.1, -0.2, 0.05];
        b.alpha = vec![0.7, -0.4];
        b.theta = vec![0.1, -0.5, 0.3, 0.0, -0.2, 0.6];
        b.b = vec![1.0, 0.5, 0.0, 0.0, 1.0, -1.0];
        DesktopModel::new(ValidModel::new(b).unwrap())
    }

    #[test]
    fn jacobian_matches_finite_differences() {
        let m = example();
        let z = [0.37, -0.81, 0.44];
        let mut jac = vec![0.0; 9];
        m.jacobian_at(&z, &mut jac);
        // F is piecewise linear; a small step that crosses no kink gives the exact slope up
        // to f32 rounding of the kernel.
        let h = 1e-3;
        for j in 0..3 {
            let (mut zp, mut zm) = (z, z);
            zp[j] += h;
            zm[j] -= h;
            let (mut fp, mut fm) = ([0.0; 3], [0.0; 3]);
            m.step_f64(&zp, &mut fp);
            m.step_f64(&zm, &mut fm);
            for i in 0..3 {
                let fd = (fp[i] - fm[i]) / (2.0 * h);
                assert!(
                    (fd - jac[i * 3 + j]).abs() < 1e-3,
                    "J[{i},{j}] {fd} vs {}",
                    jac[i * 3 + j]
                );
            }
        }
    }

    #[test]
    fn inferred_states_reproduce_observations() {
        let m = example();
        // Observations generated by the model itself from a known state.
        let mut z = vec![0.2, -0.1, 0.4];
        let mut rows = Vec::new();
        let mut next = vec![0.0; 3];
        let mut x = vec![0.0; 2];
        for _ in 0..50 {
            m.step_f64(&z, &mut next);
            z.copy_from_slice(&next);
            m.observe_f64(&z, &mut x);
            rows.push(x.clone());
        }
        let xs = TimeSeries::from_rows(&rows).unwrap();
        let zs = m.infer_states(&xs);
        // Each inferred state observes to its data point.
        for t in 0..50 {
            let mut xo = vec![0.0; 2];
            m.observe_f64(zs.row(t), &mut xo);
            for (a, b) in xo.iter().zip(xs.row(t)) {
                assert!((a - b).abs() < 1e-5);
            }
        }
    }

    /// An unobserved direction that grows along the data (A = 1.5 on latent 1, driven by the
    /// observed latent through W): the plain filter would overflow within a few thousand
    /// steps; the states stay finite and within the bound, and restarts observe to the data.
    #[test]
    fn inferred_states_restart_when_an_unobserved_direction_runs_away() {
        let mut b = ModelBuf::zeroed(
            Variant::Dendritic,
            plrnn_nostd::Dims {
                m: 2,
                n: 1,
                p: 1,
                k: 0,
            },
        );
        b.a = vec![0.5, 1.5];
        b.w = vec![0.0, 0.0, 1.0, 0.0];
        b.alpha = vec![1.0];
        b.theta = vec![-10.0, 0.0];
        b.b = vec![1.0, 0.0];
        let m = DesktopModel::new(ValidModel::new(b).unwrap());
        let rows: Vec<Vec<f64>> = (0..5000).map(|t| vec![(t as f64 * 0.1).sin()]).collect();
        let xs = TimeSeries::from_rows(&rows).unwrap();
        let zs = m.infer_states(&xs);
        let mut restarts = 0;
        for t in 0..5000 {
            let z = zs.row(t);
            assert!(z.iter().all(|v| v.abs() <= RESYNC_BOUND), "t = {t}: {z:?}");
            assert!(
                (z[0] - xs.row(t)[0]).abs() < 1e-5,
                "observed part follows the data"
            );
            restarts += usize::from(t > 0 && z[1] == 0.0);
        }
        // 1.5^t passes 1e6 after about 34 steps from a state of order 1: many restarts.
        assert!(restarts > 50, "{restarts}");
    }

    #[test]
    fn summary_and_round_trip() {
        let m = example();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.plrnn");
        m.save(&p).unwrap();
        let back = DesktopModel::load(&p).unwrap();
        assert_eq!(back.buf(), m.buf());
        let s = back.summary();
        assert_eq!((s.m, s.n, s.p, s.k), (3, 2, 2, 0));
        assert_eq!(s.file_bytes, std::fs::metadata(&p).unwrap().len() as usize);
        assert!((s.max_abs_a - 0.9).abs() < 1e-7);
        std::fs::write(&p, b"PLRNnonsense").unwrap();
        let e = DesktopModel::load(&p).unwrap_err().to_string();
        assert!(e.contains("m.plrnn"), "{e}");
    }
}
