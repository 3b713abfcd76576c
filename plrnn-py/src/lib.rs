//! `import plrnn`: the Python package over the Rust library — the same simulators, the same model
//! file, the same f32 kernel (`plrnn-nostd`) and the same metrics as the `plrnn` command line,
//! with NumPy arrays in and out. Nothing here computes on its own: every function converts its
//! arguments, calls `plrnn-train`, and converts the answer back.

use std::path::PathBuf;

use numpy::ndarray::Array2;
use numpy::{AllowTypeChange, IntoPyArray, PyArray1, PyArray2, PyArrayLikeDyn, PyArrayMethods};
use plrnn_nostd::Noise;
use plrnn_train::data::Dataset;
use plrnn_train::metrics::{self, BinRange, EvalProtocol, GmmOptions};
use plrnn_train::model::{DesktopModel, FreeRun, ModelFileError as FileError};
use plrnn_train::simulate::{self as sim, SimOptions, System};
use plrnn_train::TimeSeries;
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule};

create_exception!(
    plrnn,
    ModelFileError,
    pyo3::exceptions::PyValueError,
    "A model file (or bytes) failed validation; the message names the check that failed."
);

/// A `ValueError` carrying `e`'s message (the one the command line prints).
fn value_err(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// Python's error for a model file that could not be used: `OSError` (the matching subclass,
/// e.g. `FileNotFoundError`) for I/O, [`ModelFileError`] for invalid contents.
fn file_err(e: FileError) -> PyErr {
    match &e {
        FileError::Io { source, .. } => std::io::Error::new(source.kind(), e.to_string()).into(),
        FileError::Invalid { .. } => ModelFileError::new_err(e.to_string()),
    }
}

/// A float32/float64 array of shape (T, N) — or (T,) for one channel — as a checked series
/// (non-empty, finite), the checks and messages of the command line's data loader; `what`
/// names the argument in messages. Copies once (into the series' row-major f64 buffer).
fn series(a: &PyArrayLikeDyn<'_, f64, AllowTypeChange>, what: &str) -> PyResult<TimeSeries> {
    let arr = a.as_array();
    let (t, n) = match arr.shape() {
        [t] => (*t, 1),
        [t, n] => (*t, *n),
        s => {
            return Err(value_err(format!(
                "{what}: expected a 2-D array (time steps × channels), got {} dimensions",
                s.len()
            )))
        }
    };
    let data: Vec<f64> = match arr.as_slice() {
        Some(s) => s.to_vec(),
        None => arr.iter().copied().collect(),
    };
    let s = if t == 0 || n == 0 {
        TimeSeries::zeros(t, n.max(1))
    } else {
        TimeSeries::new(data, n).map_err(value_err)?
    };
    let ds = Dataset::from_series(s, what).map_err(value_err)?;
    Ok(ds.into_trials().remove(0))
}

/// A series as a new (T, N) float64 array.
fn to_numpy<'py>(py: Python<'py>, s: TimeSeries) -> Bound<'py, PyArray2<f64>> {
    let (t, n) = (s.len(), s.dims());
    Array2::from_shape_vec((t, n), s.into_vec())
        .expect("a series' buffer is T × N")
        .into_pyarray(py)
}

/// A JSON-serializable report as a Python dict (through `json.loads`, so the keys and values are
/// exactly those of the command line's `--json`).
fn json_dict<'py>(py: Python<'py>, v: &impl serde::Serialize) -> PyResult<Bound<'py, PyAny>> {
    let s = serde_json::to_string(v).map_err(value_err)?;
    py.import("json")?.call_method1("loads", (s,))
}

/// `"legacy"` or `"default"`.
fn bin_range(range: &str) -> PyResult<BinRange> {
    match range {
        "legacy" => Ok(BinRange::Legacy),
        "default" => Ok(BinRange::Default),
        r => Err(value_err(format!(
            "range: expected \"legacy\" or \"default\", got {r:?}"
        ))),
    }
}

/// A trained PLRNN as its model file holds it: the exported float32 parameters, run through the
/// device kernel (`plrnn-nostd`). `generate` and `plrnn.evaluate` on a `Model` equal
/// `plrnn generate` / `plrnn evaluate` on its saved file.
///
/// Get one from `plrnn.load(path)`, `Model.from_bytes(b)` or `plrnn.train(...)`.
#[pyclass(module = "plrnn", frozen)]
struct Model {
    inner: DesktopModel,
}

#[pymethods]
impl Model {
    /// Reads a model from the bytes of a model file; raises `ModelFileError` naming the failed
    /// check when they are not a valid model.
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        DesktopModel::from_bytes(data)
            .map(|inner| Model { inner })
            .map_err(|e| ModelFileError::new_err(format!("<bytes>: {e}")))
    }

    /// The bytes of the model file (what `save` writes).
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, pyo3::types::PyBytes> {
        pyo3::types::PyBytes::new(py, &self.inner.valid().encode())
    }

    /// Writes the model file atomically (a crash leaves the old file or the new one).
    fn save(&self, path: PathBuf) -> PyResult<()> {
        self.inner.save(&path).map_err(file_err)
    }

    /// Sizes as a dict: M latent states, N observations, P basis functions, K inputs.
    #[getter]
    fn dims<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let b = self.inner.buf();
        let d = PyDict::new(py);
        d.set_item("M", b.m)?;
        d.set_item("N", b.n)?;
        d.set_item("P", b.p)?;
        d.set_item("K", b.k)?;
        Ok(d)
    }

    /// The φ variant: "relu", "dendritic" or "clipped".
    #[getter]
    fn variant(&self) -> &'static str {
        self.inner.buf().variant.name()
    }

    /// The parameters as float32 arrays, exactly as stored: A (M,), W (M, M), h (M,),
    /// alpha (P,), theta (M, P), C (M, K), B (N, M), sigma_z (M,), sigma_x (N,),
    /// data_mean (N,), data_std (N,). Copies; changing them does not change the model.
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let b = self.inner.buf();
        let d = PyDict::new(py);
        let vec = |v: &[f32]| PyArray1::from_slice(py, v);
        let mat = |v: &[f32], r: usize, c: usize| -> PyResult<Bound<'py, PyAny>> {
            Ok(PyArray1::from_slice(py, v).reshape([r, c])?.into_any())
        };
        d.set_item("A", vec(&b.a))?;
        d.set_item("W", mat(&b.w, b.m, b.m)?)?;
        d.set_item("h", vec(&b.h))?;
        d.set_item("alpha", vec(&b.alpha))?;
        d.set_item("theta", mat(&b.theta, b.m, b.p)?)?;
        d.set_item("C", mat(&b.c, b.m, b.k)?)?;
        d.set_item("B", mat(&b.b, b.n, b.m)?)?;
        d.set_item("sigma_z", vec(&b.sigma_z))?;
        d.set_item("sigma_x", vec(&b.sigma_x))?;
        d.set_item("data_mean", vec(&b.data_mean))?;
        d.set_item("data_std", vec(&b.data_std))?;
        Ok(d)
    }

    /// The facts `plrnn inspect --json` prints, as a dict (sizes, file bytes, stability).
    fn inspect<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_dict(py, &self.inner.summary())
    }

    /// A free run of the model: `steps` observations (after `burn_in` discarded steps) as a
    /// (steps, N) float64 array in data units (model units with `model_units=True`).
    ///
    /// noise: False/"none" (deterministic), "process" (process noise only) or True/"full".
    /// inputs: (≥ burn_in + steps, K) external inputs, one row per step (zero without).
    /// seed: the noise seed. z0: the initial latent state (M,), zero without.
    /// clamp: limit every latent state to [−clamp, clamp] after each step.
    /// Equals `plrnn generate` with the same options bit for bit (same f32 kernel).
    #[pyo3(signature = (steps, noise=None, inputs=None, seed=0, z0=None, burn_in=0, clamp=None, model_units=false))]
    #[allow(clippy::too_many_arguments)]
    fn generate<'py>(
        &self,
        py: Python<'py>,
        steps: usize,
        noise: Option<&Bound<'py, PyAny>>,
        inputs: Option<PyArrayLikeDyn<'py, f64, AllowTypeChange>>,
        seed: u64,
        z0: Option<PyArrayLikeDyn<'py, f64, AllowTypeChange>>,
        burn_in: usize,
        clamp: Option<f32>,
        model_units: bool,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let noise = match noise {
            None => Noise::None,
            Some(v) => {
                if let Ok(b) = v.extract::<bool>() {
                    if b {
                        Noise::Full
                    } else {
                        Noise::None
                    }
                } else {
                    match v.extract::<String>()?.as_str() {
                        "none" => Noise::None,
                        "process" => Noise::Process,
                        "full" => Noise::Full,
                        o => {
                            return Err(value_err(format!(
                                "noise: expected False, True, \"none\", \"process\" or \"full\", got {o:?}"
                            )))
                        }
                    }
                }
            }
        };
        let inputs = inputs.map(|a| series(&a, "inputs")).transpose()?;
        let z0: Vec<f32> = match z0 {
            None => vec![0.0; self.inner.m()],
            Some(a) => a.as_array().iter().map(|&v| v as f32).collect(),
        };
        let run = FreeRun {
            steps,
            burn_in,
            seed,
            noise,
            clamp,
        };
        let model = &self.inner;
        let out = py
            .detach(|| {
                let mut out = model.generate(&z0, &run, inputs.as_ref(), &mut |_| {})?;
                if !model_units {
                    model.to_data_units(&mut out);
                }
                Ok::<_, plrnn_train::model::GenerateError>(out)
            })
            .map_err(value_err)?;
        Ok(to_numpy(py, out))
    }

    fn __repr__(&self) -> String {
        let b = self.inner.buf();
        format!(
            "<plrnn.Model {} M={} N={} P={} K={}>",
            b.variant.name(),
            b.m,
            b.n,
            b.p,
            b.k
        )
    }
}

/// Reads and validates a model file. Raises `FileNotFoundError`/`OSError` when it cannot be
/// read and `plrnn.ModelFileError` (naming the failed check) when its contents are invalid.
#[pyfunction]
fn load(path: PathBuf) -> PyResult<Model> {
    DesktopModel::load(&path)
        .map(|inner| Model { inner })
        .map_err(file_err)
}

/// Simulates a benchmark system: "lorenz63", "lorenz96" or "rossler". Returns a
/// (steps, N) float64 array sampled every `dt` (default 0.01) after `transient` dropped samples;
/// the options are those of `plrnn simulate`, which writes the same numbers.
#[pyfunction]
#[pyo3(signature = (system, steps=10_000, dt=None, seed=0, *, dim=10, forcing=8.0, transient=1000, substeps=None, process_noise=0.0, obs_noise=0.0))]
#[allow(clippy::too_many_arguments)]
fn simulate<'py>(
    py: Python<'py>,
    system: &str,
    steps: usize,
    dt: Option<f64>,
    seed: u64,
    dim: usize,
    forcing: f64,
    transient: usize,
    substeps: Option<usize>,
    process_noise: f64,
    obs_noise: f64,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let mut sys: System = system.parse().map_err(value_err)?;
    if let System::Lorenz96 { dim: d, forcing: f } = &mut sys {
        *d = dim;
        *f = forcing;
    }
    let opts = SimOptions {
        steps,
        dt: dt.unwrap_or(0.01),
        substeps,
        transient,
        process_noise,
        obs_noise,
        seed,
        initial: None,
    };
    let s = py
        .detach(|| sim::simulate(&sys, &opts))
        .map_err(value_err)?;
    Ok(to_numpy(py, s))
}

/// The evaluation protocol of `plrnn evaluate` on `x_test` (T, N) in data units. Returns a dict
/// with the keys and values of `plrnn evaluate --json` (d_stsp, d_h, psc, pe, lyapunov_max, …);
/// the options are the command line's, with the same defaults.
#[pyfunction]
#[pyo3(signature = (model, x_test, *, trajectories=100, burn_in=1000, keep=1000, seed=0, bins=30, range="legacy", sigma=20.0, pe=vec![1, 5, 10, 20], data_lyapunov=true))]
#[allow(clippy::too_many_arguments)]
fn evaluate<'py>(
    py: Python<'py>,
    model: &Model,
    x_test: PyArrayLikeDyn<'py, f64, AllowTypeChange>,
    trajectories: usize,
    burn_in: usize,
    keep: usize,
    seed: u64,
    bins: usize,
    range: &str,
    sigma: f64,
    pe: Vec<usize>,
    data_lyapunov: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let test = series(&x_test, "x_test")?;
    let mut protocol = EvalProtocol {
        n_trajectories: trajectories,
        burn_in,
        keep,
        seed,
        bins,
        bin_range: bin_range(range)?,
        sigma,
        psc_sigma: sigma,
        pe_ns: pe,
        ..EvalProtocol::default()
    };
    if !data_lyapunov {
        protocol.rosenstein = None;
    }
    let m = &model.inner;
    let report = py
        .detach(|| m.evaluate(&test, &protocol))
        .map_err(value_err)?;
    json_dict(py, &report)
}

/// D_stsp, the state-space divergence between two (T, N) arrays: `method="binned"` (KL of
/// `bins`-per-dimension histograms over `range`, "legacy" [−2s, 2s] or "default") or "gmm"
/// (Gaussian-mixture Monte-Carlo estimate, for N > 3).
#[pyfunction]
#[pyo3(signature = (x, y, *, method="binned", bins=30, range="legacy"))]
fn d_stsp<'py>(
    py: Python<'py>,
    x: PyArrayLikeDyn<'py, f64, AllowTypeChange>,
    y: PyArrayLikeDyn<'py, f64, AllowTypeChange>,
    method: &str,
    bins: usize,
    range: &str,
) -> PyResult<f64> {
    let (x, y) = (series(&x, "x")?, series(&y, "y")?);
    let range = bin_range(range)?;
    match method {
        "binned" => py.detach(|| metrics::d_stsp_binned(&x, &y, bins, range)),
        "gmm" => py.detach(|| metrics::d_stsp_gmm(&x, &y, &GmmOptions::default())),
        o => {
            return Err(value_err(format!(
                "method: expected \"binned\" or \"gmm\", got {o:?}"
            )))
        }
    }
    .map_err(value_err)
}

/// D_H, the mean Hellinger distance between the Gaussian-smoothed (σ = `sigma`) power spectra
/// of each channel of two (T, N) arrays.
#[pyfunction]
#[pyo3(signature = (x, y, *, sigma=20.0))]
fn d_h<'py>(
    py: Python<'py>,
    x: PyArrayLikeDyn<'py, f64, AllowTypeChange>,
    y: PyArrayLikeDyn<'py, f64, AllowTypeChange>,
    sigma: f64,
) -> PyResult<f64> {
    let (x, y) = (series(&x, "x")?, series(&y, "y")?);
    py.detach(|| metrics::d_h(&x, &y, sigma)).map_err(value_err)
}

/// PSC, the mean correlation of the smoothed (σ = `sigma`) power spectra of each channel of two
/// (T, N) arrays.
#[pyfunction]
#[pyo3(signature = (x, y, *, sigma=20.0))]
fn psc<'py>(
    py: Python<'py>,
    x: PyArrayLikeDyn<'py, f64, AllowTypeChange>,
    y: PyArrayLikeDyn<'py, f64, AllowTypeChange>,
    sigma: f64,
) -> PyResult<f64> {
    let (x, y) = (series(&x, "x")?, series(&y, "y")?);
    py.detach(|| metrics::psc(&x, &y, sigma)).map_err(value_err)
}

/// Dendritic PLRNN generative models of dynamical systems, from Python and NumPy.
///
/// The same Rust code as the `plrnn` command line — no second implementation:
///
///     x = plrnn.simulate("lorenz63", steps=100_000)        # (steps, 3) float64
///     m = plrnn.load("m.plrnn")                            # the model file
///     y = m.generate(10_000)                               # data units, f32 device kernel
///     r = plrnn.evaluate(m, x)                             # dict, keys of `plrnn evaluate --json`
///     plrnn.metrics.d_stsp(x, y), plrnn.metrics.d_h(x, y), plrnn.metrics.psc(x, y)
///
/// Arrays may be float32 or float64, C- or Fortran-ordered. Bad input raises ValueError with
/// the command line's message; an invalid model file raises plrnn.ModelFileError.
#[pymodule]
fn plrnn(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Model>()?;
    m.add("ModelFileError", py.get_type::<ModelFileError>())?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    let metrics = PyModule::new(py, "metrics")?;
    metrics.add(
        "__doc__",
        "The metrics of `plrnn evaluate` on any (T, N) arrays.",
    )?;
    metrics.add_function(wrap_pyfunction!(d_stsp, &metrics)?)?;
    metrics.add_function(wrap_pyfunction!(d_h, &metrics)?)?;
    metrics.add_function(wrap_pyfunction!(psc, &metrics)?)?;
    m.add_submodule(&metrics)?;
    // `import plrnn.metrics` / `from plrnn.metrics import d_h` work too.
    py.import("sys")?
        .getattr("modules")?
        .set_item("plrnn.metrics", &metrics)?;
    Ok(())
}
