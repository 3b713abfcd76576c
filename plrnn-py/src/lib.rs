//! `import plrnn`: the Python package over the Rust library — the same simulators, the same model
//! file, the same f32 kernel (`plrnn-nostd`) and the same metrics as the `plrnn` command line,
//! with NumPy arrays in and out. Nothing here computes on its own: every function converts its
//! arguments, calls `plrnn-train`, and converts the answer back.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use numpy::ndarray::{Array2, ArrayViewD};
use numpy::{
    AllowTypeChange, IntoPyArray, PyArray1, PyArray2, PyArrayDyn, PyArrayLikeDyn, PyArrayMethods,
    PyReadonlyArrayDyn,
};
use plrnn_nostd::Noise;
use plrnn_train::bptt::BpttConfig;
use plrnn_train::data::Dataset;
use plrnn_train::embed::{self, EmbedRecord, EmbedSpec, SidecarError};
use plrnn_train::fit::{self, Checkpoint, FitError, FitParams, Fitted, Hooks, Method, Progress};
use plrnn_train::metrics::{self, BinRange, EvalProtocol, GmmOptions};
use plrnn_train::model::{DesktopModel, FreeRun, ModelFileError as FileError};
use plrnn_train::ranges::{self as R, IntRange, RealRange};
use plrnn_train::simulate::{self as sim, SimOptions, System};
use plrnn_train::vi::TrainConfig;
use plrnn_train::TimeSeries;
use pyo3::create_exception;
use pyo3::exceptions::{PyOverflowError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyModule, PyTuple};

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

/// A Python integer of any size (an `int`, or anything with `__index__` such as NumPy's
/// integers), to be checked against a range by [`Int::within`]: a value beyond 128 bits is out
/// of range with the command line's message, not an `OverflowError`.
#[derive(Clone, Debug)]
enum Int {
    /// The value.
    Small(i128),
    /// The decimal text of a value beyond 128 bits.
    Huge(String),
}

impl<'a, 'py> FromPyObject<'a, 'py> for Int {
    type Error = PyErr;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        match obj.extract::<i128>() {
            Ok(v) => Ok(Int::Small(v)),
            Err(e) if e.is_instance_of::<PyOverflowError>(obj.py()) => {
                Ok(Int::Huge(obj.str()?.to_string()))
            }
            Err(e) => Err(e),
        }
    }
}

impl Int {
    /// The value in decimal.
    fn text(&self) -> String {
        match self {
            Int::Small(v) => v.to_string(),
            Int::Huge(s) => s.clone(),
        }
    }

    /// The value if it is in `r`; else `ValueError("name: V is not in RANGE")`, the text the
    /// command line prints after `--flag`.
    fn within(&self, name: &str, r: IntRange) -> PyResult<usize> {
        match self {
            Int::Small(v) => r.check(*v),
            Int::Huge(s) => r.parse(s),
        }
        .map_err(|e| value_err(format!("{name}: {e}")))
    }
}

/// `v` if it is in `r`; else `ValueError("name: V is not in RANGE")` (the command line's text).
fn real_within(name: &str, v: f64, r: RealRange) -> PyResult<f64> {
    r.check(v).map_err(|e| value_err(format!("{name}: {e}")))
}

/// Python's error for an embedding record beside a model file that could not be used: `OSError`
/// for I/O, [`ModelFileError`] for invalid contents.
fn sidecar_err(e: SidecarError) -> PyErr {
    match &e {
        SidecarError::Io { source, .. } => std::io::Error::new(source.kind(), e.to_string()).into(),
        _ => ModelFileError::new_err(e.to_string()),
    }
}

/// Python's error for a model file that could not be used: `OSError` (the matching subclass,
/// e.g. `FileNotFoundError`) for I/O, [`ModelFileError`] for invalid contents.
fn file_err(e: FileError) -> PyErr {
    match &e {
        FileError::Io { source, .. } => std::io::Error::new(source.kind(), e.to_string()).into(),
        FileError::Invalid { .. } => ModelFileError::new_err(e.to_string()),
    }
}

/// An array argument as NumPy holds it. A float32 array is kept as it is and converted while it
/// is copied into a series (no float64 intermediate: one pass over the data instead of two);
/// anything else is read as float64 — in place for a float64 array, through NumPy's conversion
/// for lists and other dtypes.
enum Array<'py> {
    F32(PyReadonlyArrayDyn<'py, f32>),
    F64(PyArrayLikeDyn<'py, f64, AllowTypeChange>),
}

impl<'py> Array<'py> {
    fn new(obj: &Bound<'py, PyAny>) -> PyResult<Self> {
        if let Ok(a) = obj.cast::<PyArrayDyn<f32>>() {
            return Ok(Array::F32(a.readonly()));
        }
        Ok(Array::F64(obj.extract()?))
    }

    fn shape(&self) -> Vec<usize> {
        match self {
            Array::F32(a) => a.as_array().shape().to_vec(),
            Array::F64(a) => a.as_array().shape().to_vec(),
        }
    }

    /// The array (1-D or 2-D) as a series; see [`raw_series`].
    fn series(&self, what: &str) -> PyResult<TimeSeries> {
        match self {
            Array::F32(a) => raw_series(a.as_array(), what),
            Array::F64(a) => raw_series(a.as_array(), what),
        }
    }

    /// A 3-D array's trials (trials, T, N), each named `what[i]`.
    fn trials(&self, what: &str) -> PyResult<Vec<(TimeSeries, String)>> {
        fn each<T: Copy + Into<f64>>(
            v: ArrayViewD<'_, T>,
            what: &str,
        ) -> PyResult<Vec<(TimeSeries, String)>> {
            v.outer_iter()
                .enumerate()
                .map(|(i, t)| {
                    let name = format!("{what}[{i}]");
                    Ok((raw_series(t, &name)?, name))
                })
                .collect()
        }
        match self {
            Array::F32(a) => each(a.as_array(), what),
            Array::F64(a) => each(a.as_array(), what),
        }
    }
}

/// A 1-D (T,) or 2-D (T, N) array as a series, shape checked only; `what` names the argument in
/// messages. Copies once (into the series' row-major f64 buffer), converting on the way.
fn raw_series<T: Copy + Into<f64>>(arr: ArrayViewD<'_, T>, what: &str) -> PyResult<TimeSeries> {
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
    if t == 0 || n == 0 {
        // An empty series, for the data checks to name.
        return Ok(TimeSeries::zeros(0, n.max(1)));
    }
    let data: Vec<f64> = match (arr.as_slice(), arr.t().as_slice()) {
        (Some(s), _) => s.iter().map(|&v| v.into()).collect(),
        // Fortran order: channel after channel, written into rows (an element-wise strided
        // iteration is ~10 times slower on 10^6 rows).
        (None, Some(cols)) => {
            // Row after row: sequential writes, one sequential read stream per channel.
            let cols: Vec<&[T]> = cols.chunks_exact(t).collect();
            let mut data = Vec::with_capacity(t * n);
            for i in 0..t {
                data.extend(cols.iter().map(|c| c[i].into()));
            }
            data
        }
        (None, None) => arr.iter().map(|&v| v.into()).collect(),
    };
    TimeSeries::new(data, n).map_err(value_err)
}

/// A float32/float64 array of shape (T, N) — or (T,) for one channel — as a checked series
/// (non-empty, finite), the checks and messages of the command line's data loader; `what`
/// names the argument in messages.
fn series(a: &Bound<'_, PyAny>, what: &str) -> PyResult<TimeSeries> {
    let s = Array::new(a)?.series(what)?;
    let ds = Dataset::from_series(s, what).map_err(value_err)?;
    Ok(ds.into_trials().remove(0))
}

/// Trials from Python: one (T, N) array, a 3-D (trials, T, N) array (as a 3-D `.npy` file is
/// read by the command line) or a list/tuple of (T, N) arrays; checked as the command line
/// checks its data files (non-empty, finite, equal widths). Trial `i` is named `what[i]`.
fn dataset(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Dataset> {
    let mut trials = Vec::new();
    let mut sources = Vec::new();
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        for (i, item) in obj.try_iter()?.enumerate() {
            let name = format!("{what}[{i}]");
            trials.push(Array::new(&item?)?.series(&name)?);
            sources.push(name);
        }
        if trials.is_empty() {
            return Err(value_err(format!(
                "{what}: an empty list; give at least one trial"
            )));
        }
    } else {
        let a = Array::new(obj)?;
        let ndim = a.shape().len();
        if ndim == 3 {
            for (t, name) in a.trials(what)? {
                trials.push(t);
                sources.push(name);
            }
            if trials.is_empty() {
                return Err(value_err(format!(
                    "{what}: no trial (shape {:?})",
                    a.shape()
                )));
            }
        } else if ndim > 3 {
            return Err(value_err(format!(
                "{what}: expected a 2-D array (time steps × channels), a 3-D array (trials × \
                 time steps × channels) or a list of 2-D arrays, got {} dimensions",
                ndim
            )));
        } else {
            trials.push(a.series(what)?);
            sources.push(what.to_owned());
        }
    }
    Dataset::from_trials(trials, sources).map_err(value_err)
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
/// device kernel (`plrnn-nostd`), with the delay embedding recorded beside the file
/// (`PATH.embed.json`) when it was trained on delay-embedded data. `generate` and
/// `plrnn.evaluate` on a `Model` equal `plrnn generate` / `plrnn evaluate` on its saved file.
///
/// Get one from `plrnn.load(path)`, `Model.from_bytes(b)` or `plrnn.train(...)`.
#[pyclass(module = "plrnn", frozen)]
struct Model {
    inner: DesktopModel,
    /// The run summary (JSON) when the model comes from `plrnn.train`.
    training: Option<String>,
    /// The delay embedding its observations were built with (`plrnn.train(embed=...)`, or the
    /// record beside the file it was loaded from).
    embedding: Option<EmbedRecord>,
}

impl Model {
    fn new(inner: DesktopModel) -> Self {
        Model {
            inner,
            training: None,
            embedding: None,
        }
    }
}

#[pymethods]
impl Model {
    /// Reads a model from the bytes of a model file (without a delay embedding: that is kept
    /// beside the file); raises `ModelFileError` naming the failed check when they are not a
    /// valid model.
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        DesktopModel::from_bytes(data)
            .map(Model::new)
            .map_err(|e| ModelFileError::new_err(format!("<bytes>: {e}")))
    }

    /// The bytes of the model file (what `save` writes).
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, pyo3::types::PyBytes> {
        pyo3::types::PyBytes::new(py, &self.inner.valid().encode())
    }

    /// Writes the model file atomically (a crash leaves the old file or the new one), and
    /// beside it the delay-embedding record `PATH.embed.json` of a model trained with `embed`
    /// (the file `plrnn train --embed` writes; a stale one is removed for a model without).
    fn save(&self, path: PathBuf) -> PyResult<()> {
        self.inner.save(&path).map_err(file_err)?;
        embed::save_beside(&path, self.embedding.as_ref()).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("{}: writing the embedding record: {e}", path.display()),
            )
            .into()
        })
    }

    /// The delay embedding the model's observations were built with, as a dict (channels, dim,
    /// lag; with `embed="auto"` also how it was chosen: lag_rule, ami, fnn), or None.
    /// `generate` answers, and `plrnn.evaluate` accepts recordings, in the recording's own
    /// `channels`.
    #[getter]
    fn embedding<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.embedding
            .as_ref()
            .map(|r| embed_dict(py, r))
            .transpose()
    }

    /// Sizes as a dict: M latent states, N observations, P basis functions, K inputs.
    #[getter]
    fn dims<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let b = self.inner.buf();
        let d = PyDict::new(py);
        d.set_item("M", b.dims.m)?;
        d.set_item("N", b.dims.n)?;
        d.set_item("P", b.dims.p)?;
        d.set_item("K", b.dims.k)?;
        Ok(d)
    }

    /// How `plrnn.train` made this model, as a dict (the keys of the `.metrics.json` that
    /// `plrnn train` writes but `data`: epochs_done, updates, seconds, eval_secs,
    /// evals_skipped, kept, best_epoch, held_out, collapsed, starts, chosen_start, stopped);
    /// None for a model read from a file or bytes.
    #[getter]
    fn training<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.training
            .as_deref()
            .map(|s| py.import("json")?.call_method1("loads", (s,)))
            .transpose()
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
        d.set_item("W", mat(&b.w, b.dims.m, b.dims.m)?)?;
        d.set_item("h", vec(&b.h))?;
        d.set_item("alpha", vec(&b.alpha))?;
        d.set_item("theta", mat(&b.theta, b.dims.m, b.dims.p)?)?;
        d.set_item("C", mat(&b.c, b.dims.m, b.dims.k)?)?;
        d.set_item("B", mat(&b.b, b.dims.n, b.dims.m)?)?;
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
    /// (steps, N) float64 array in data units (model units with `model_units=True`); for a
    /// delay-embedded model N is the recording's own channel count.
    ///
    /// noise: False/"none" (deterministic), "process" (process noise only) or True/"full".
    /// inputs: (≥ burn_in + steps, K) external inputs, one row per step (zero without).
    /// seed: the noise seed. z0: the initial latent state (M,), zero without.
    /// clamp: limit every latent state to [−clamp, clamp] after each step.
    /// Equals `plrnn generate` with the same options bit for bit (same f32 kernel).
    #[pyo3(signature = (steps, noise=None, inputs=None, seed=0, z0=None, burn_in=Int::Small(0), clamp=None, model_units=false))]
    #[allow(clippy::too_many_arguments)]
    fn generate<'py>(
        &self,
        py: Python<'py>,
        steps: Int,
        noise: Option<&Bound<'py, PyAny>>,
        inputs: Option<&Bound<'py, PyAny>>,
        seed: u64,
        z0: Option<PyArrayLikeDyn<'py, f64, AllowTypeChange>>,
        burn_in: Int,
        clamp: Option<f64>,
        model_units: bool,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let steps = steps.within("steps", R::STEPS)?;
        let burn_in = burn_in.within("burn_in", R::SKIP)?;
        let clamp = clamp
            .map(|c| real_within("clamp", c, R::CLAMP).map(|c| c as f32))
            .transpose()?;
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
        let inputs = inputs.map(|a| series(a, "inputs")).transpose()?;
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
        let embedding = self.embedding.as_ref().map(|r| r.embedding);
        let out = py.detach(|| {
            let mut out = model
                .generate(&z0, &run, inputs.as_ref(), &mut |_| {})
                .map_err(value_err)?;
            if !model_units {
                model.to_data_units(&mut out);
            }
            match embedding {
                // The recording's own channels: the first columns of each delay vector.
                Some(e) => e.project(&out).map_err(value_err),
                None => Ok(out),
            }
        })?;
        Ok(to_numpy(py, out))
    }

    fn __repr__(&self) -> String {
        let b = self.inner.buf();
        let embedded = match &self.embedding {
            Some(r) => format!(
                " embed={}x{},lag={}",
                r.embedding.channels, r.embedding.dim, r.embedding.lag
            ),
            None => String::new(),
        };
        format!(
            "<plrnn.Model {} M={} N={} P={} K={}{embedded}>",
            b.variant.name(),
            b.dims.m,
            b.dims.n,
            b.dims.p,
            b.dims.k
        )
    }
}

/// Reads and validates a model file, with the delay-embedding record beside it
/// (`PATH.embed.json`) if there is one. Raises `FileNotFoundError`/`OSError` when it cannot be
/// read and `plrnn.ModelFileError` (naming the failed check) when its contents are invalid.
#[pyfunction]
fn load(path: PathBuf) -> PyResult<Model> {
    let inner = DesktopModel::load(&path).map_err(file_err)?;
    let embedding = EmbedRecord::load_beside(&path, inner.n()).map_err(sidecar_err)?;
    Ok(Model {
        embedding,
        ..Model::new(inner)
    })
}

/// An embedding record as a dict (its JSON file's keys, flattened: channels, dim, lag, and for
/// a chosen one lag_rule, ami, fnn).
fn embed_dict<'py>(py: Python<'py>, r: &EmbedRecord) -> PyResult<Bound<'py, PyAny>> {
    let d = PyDict::new(py);
    d.set_item("channels", r.embedding.channels)?;
    d.set_item("dim", r.embedding.dim)?;
    d.set_item("lag", r.embedding.lag)?;
    if let Some(c) = &r.choice {
        d.set_item("lag_rule", &c.lag_rule)?;
        d.set_item("ami", &c.ami)?;
        d.set_item("fnn", &c.fnn)?;
    }
    Ok(d.into_any())
}

/// `embed=` of `plrnn.train`: None, "none", "auto", "DIM,LAG" or a (dim, lag) pair of ints,
/// read by the parser of `plrnn train --embed` (so the messages are the same).
fn embed_spec(v: Option<&Bound<'_, PyAny>>) -> PyResult<EmbedSpec> {
    let text = match v {
        None => return Ok(EmbedSpec::None),
        Some(v) if v.is_none() => return Ok(EmbedSpec::None),
        Some(v) => {
            if let Ok(s) = v.extract::<String>() {
                s
            } else if let Ok((d, l)) = v.extract::<(Int, Int)>() {
                format!("{},{}", d.text(), l.text())
            } else {
                return Err(PyTypeError::new_err(
                    "embed: expected None, \"auto\", \"none\" or a (dim, lag) pair of ints",
                ));
            }
        }
    };
    text.parse().map_err(|e| value_err(format!("embed: {e}")))
}

/// Simulates a benchmark system: "lorenz63", "lorenz96", "rossler", "hindmarsh_rose",
/// "fitzhugh_nagumo", "morris_lecar", "wilson_cowan", "chua", "aizawa", "duffing" (Ueda) or
/// "sprott_b". Returns a (steps, N) float64 array sampled every `dt` after `transient` dropped
/// samples. The options and their defaults are those of `plrnn simulate`, which writes the same
/// numbers: `dt` defaults to the system's own step (0.01 for lorenz63, 0.1 for hindmarsh_rose),
/// `transient` to the system's transient time at that step (1000 samples for lorenz63),
/// `substeps` to the fewest RK4 sub-steps that keep the inner step small enough.
/// dim, forcing: Lorenz-96's number of variables and forcing F.
/// process_noise: diffusion σ of additive process noise; obs_noise: std of observation noise.
#[pyfunction]
#[pyo3(signature = (system, steps=Int::Small(10_000), dt=None, seed=0, *, dim=Int::Small(10), forcing=8.0, transient=None, substeps=None, process_noise=0.0, obs_noise=0.0))]
#[allow(clippy::too_many_arguments)]
fn simulate<'py>(
    py: Python<'py>,
    system: &str,
    steps: Int,
    dt: Option<f64>,
    seed: u64,
    dim: Int,
    forcing: f64,
    transient: Option<Int>,
    substeps: Option<Int>,
    process_noise: f64,
    obs_noise: f64,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let steps = steps.within("steps", R::STEPS)?;
    let dt = dt.map(|v| real_within("dt", v, R::SIM_DT)).transpose()?;
    let dim = dim.within("dim", R::L96_DIM)?;
    let forcing = real_within("forcing", forcing, R::L96_FORCING)?;
    let transient = transient
        .map(|v| v.within("transient", R::SKIP))
        .transpose()?;
    let substeps = substeps
        .map(|v| v.within("substeps", R::SUBSTEPS))
        .transpose()?;
    let process_noise = real_within("process_noise", process_noise, R::NOISE_STD)?;
    let obs_noise = real_within("obs_noise", obs_noise, R::NOISE_STD)?;
    let mut sys: System = system.parse().map_err(value_err)?;
    if let System::Lorenz96 { dim: d, forcing: f } = &mut sys {
        *d = dim;
        *f = forcing;
    }
    let opts = SimOptions {
        steps,
        substeps,
        process_noise,
        obs_noise,
        seed,
        ..SimOptions::for_system_at(&sys, dt, transient)
    };
    let s = py
        .detach(|| sim::simulate(&sys, &opts))
        .map_err(value_err)?;
    Ok(to_numpy(py, s))
}

/// The evaluation protocol of `plrnn evaluate` on `x_test` (T, N) in data units (for a
/// delay-embedded model: the recording's own channels, embedded here as the model's were, or
/// already embedded columns). Returns a dict
/// with the keys and values of `plrnn evaluate --json` (d_stsp, d_h, psc, pe, lyapunov_max, …);
/// the options are the command line's, with the same defaults.
#[pyfunction]
#[pyo3(signature = (model, x_test, *, trajectories=Int::Small(100), burn_in=Int::Small(1000), keep=Int::Small(1000), seed=0, bins=Int::Small(30), range="legacy", sigma=20.0, pe=[1, 5, 10, 20].map(Int::Small).to_vec(), data_lyapunov=true))]
#[allow(clippy::too_many_arguments)]
fn evaluate<'py>(
    py: Python<'py>,
    model: &Model,
    x_test: &Bound<'py, PyAny>,
    trajectories: Int,
    burn_in: Int,
    keep: Int,
    seed: u64,
    bins: Int,
    range: &str,
    sigma: f64,
    pe: Vec<Int>,
    data_lyapunov: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let trajectories = trajectories.within("trajectories", R::EVAL_TRAJECTORIES)?;
    let burn_in = burn_in.within("burn_in", R::EVAL_BURN_IN)?;
    let keep = keep.within("keep", R::EVAL_KEEP)?;
    let bins = bins.within("bins", R::BINS)?;
    let sigma = real_within("sigma", sigma, R::SIGMA)?;
    let pe = pe
        .iter()
        .map(|n| n.within("pe", R::PE_HORIZON))
        .collect::<PyResult<Vec<_>>>()?;
    let mut test = series(x_test, "x_test")?;
    if let Some(r) = &model.embedding {
        test = r
            .embedding
            .observe(test)
            .map_err(|e| value_err(format!("x_test: delay embedding: {e}")))?;
    }
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
    // The converted copy is ours: z-scored in place, not copied again.
    let report = py
        .detach(|| m.evaluate_owned(test, &protocol))
        .map_err(value_err)?;
    json_dict(py, &report)
}

/// D_stsp, the state-space divergence between two (T, N) arrays: `method="binned"` (KL of
/// `bins`-per-dimension histograms over `range`, "legacy" [−2s, 2s] or "default") or "gmm"
/// (Gaussian-mixture Monte-Carlo estimate, for N > 3).
#[pyfunction]
#[pyo3(signature = (x, y, *, method="binned", bins=Int::Small(30), range="legacy"))]
fn d_stsp<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    method: &str,
    bins: Int,
    range: &str,
) -> PyResult<f64> {
    let bins = bins.within("bins", R::BINS)?;
    let (x, y) = (series(x, "x")?, series(y, "y")?);
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
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    sigma: f64,
) -> PyResult<f64> {
    let sigma = real_within("sigma", sigma, R::SIGMA)?;
    let (x, y) = (series(x, "x")?, series(y, "y")?);
    py.detach(|| metrics::d_h(&x, &y, sigma)).map_err(value_err)
}

/// PSC, the mean correlation of the smoothed (σ = `sigma`) power spectra of each channel of two
/// (T, N) arrays.
#[pyfunction]
#[pyo3(signature = (x, y, *, sigma=20.0))]
fn psc<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    sigma: f64,
) -> PyResult<f64> {
    let sigma = real_within("sigma", sigma, R::SIGMA)?;
    let (x, y) = (series(x, "x")?, series(y, "y")?);
    py.detach(|| metrics::psc(&x, &y, sigma)).map_err(value_err)
}

/// A Python value of a configuration key as TOML (None: `None`, the key's default).
fn toml_value(key: &str, v: &Bound<'_, PyAny>) -> PyResult<Option<toml::Value>> {
    if v.is_none() {
        Ok(None)
    } else if let Ok(b) = v.extract::<bool>() {
        Ok(Some(toml::Value::Boolean(b)))
    } else if v.is_instance_of::<pyo3::types::PyInt>() {
        let i: i64 = v
            .extract()
            .map_err(|_| value_err(format!("{key}: {v} is out of range")))?;
        Ok(Some(toml::Value::Integer(i)))
    } else if let Ok(f) = v.extract::<f64>() {
        Ok(Some(toml::Value::Float(f)))
    } else if let Ok(s) = v.extract::<String>() {
        Ok(Some(toml::Value::String(s)))
    } else {
        Err(PyTypeError::new_err(format!(
            "{key}: expected a number, a string, a bool or None, got {}",
            v.get_type().name()?
        )))
    }
}

/// The method's configuration: its defaults, then `seed` and `time_budget`, then the keys of
/// `config` (None = the default); a time budget without `epochs` trains until the budget is
/// spent, as in `plrnn train`. Each key is checked alone first, so an error names it: an
/// unknown key raises `TypeError`, a value of the wrong type or form `ValueError`. Ranges are
/// checked by [`FitParams::check`].
fn train_config<T>(
    method: &str,
    seed: u64,
    time_budget: Option<f64>,
    config: Option<&Bound<'_, PyDict>>,
) -> PyResult<T>
where
    T: Default + serde::Serialize + serde::de::DeserializeOwned,
{
    let mut table = toml::Table::try_from(T::default()).map_err(value_err)?;
    // The keys the caller set, to apply `epochs_until_budget` to (as `plrnn train` does).
    let mut set = toml::Table::new();
    let seed = i64::try_from(seed)
        .map_err(|_| value_err(format!("seed must be in 0..=2^63-1, got {seed}")))?;
    let mut given = vec![("seed".to_owned(), Some(toml::Value::Integer(seed)))];
    if let Some(b) = time_budget {
        given.push(("time_budget_secs".to_owned(), Some(toml::Value::Float(b))));
    }
    for (k, v) in config.into_iter().flatten() {
        let key: String = k.extract()?;
        if key == "time_budget_secs" {
            return Err(PyTypeError::new_err(
                "train(): give the time budget as time_budget=SECONDS (None for none)",
            ));
        }
        given.push((key.clone(), toml_value(&key, &v)?));
    }
    for (key, value) in given {
        let mut alone = toml::Table::new();
        if let Some(v) = &value {
            alone.insert(key.clone(), v.clone());
        } else {
            // The key alone with its default, to learn whether the method knows it.
            alone.insert(key.clone(), toml::Value::Table(toml::Table::new()));
        }
        if let Err(e) = T::deserialize(toml::Value::Table(alone)) {
            let e = e.to_string();
            if e.contains("unknown field") {
                return Err(PyTypeError::new_err(format!(
                    "train() got an unexpected keyword argument '{key}': not a key of the \
                     {method} configuration ({})",
                    e.trim()
                )));
            }
            if value.is_some() {
                // serde's message, without its trailing "in `key`" line.
                let msg = format!("{key}: {}", e.lines().next().unwrap_or("").trim());
                return Err(if e.starts_with("invalid type") {
                    PyTypeError::new_err(msg)
                } else {
                    value_err(msg)
                });
            }
        }
        match value {
            Some(v) => {
                set.insert(key.clone(), v.clone());
                table.insert(key, v)
            }
            None => table.remove(&key),
        };
    }
    fit::epochs_until_budget(&mut set);
    if let Some(e) = set.get("epochs") {
        table.insert("epochs".into(), e.clone());
    }
    T::deserialize(toml::Value::Table(table)).map_err(|e| value_err(e.to_string().trim()))
}

/// How training progress reaches Python.
enum Reporter {
    /// Nothing is reported.
    Silent,
    /// `progress(dict)` after every epoch.
    Callback(Py<PyAny>),
    /// A `tqdm` bar over the planned epochs.
    Tqdm(Py<PyAny>),
}

impl Reporter {
    fn new(
        py: Python<'_>,
        progress: Option<&Bound<'_, PyAny>>,
        epochs: usize,
        method: &str,
    ) -> PyResult<Self> {
        let auto = match progress {
            Some(p) if p.is_callable() => return Ok(Reporter::Callback(p.clone().unbind())),
            Some(p) => p.extract::<bool>().map_err(|_| {
                PyTypeError::new_err("progress: expected None, True, False or a callable")
            })?,
            None => true,
        };
        if !auto {
            return Ok(Reporter::Silent);
        }
        let Ok(tqdm) = py.import("tqdm.auto").and_then(|m| m.getattr("tqdm")) else {
            return Ok(Reporter::Silent);
        };
        let kw = PyDict::new(py);
        // Until the time budget is spent: no total, a counter.
        kw.set_item(
            "total",
            (epochs < fit::EPOCHS_UNTIL_BUDGET).then_some(epochs),
        )?;
        kw.set_item("unit", "epoch")?;
        kw.set_item("desc", format!("plrnn.train ({method})"))?;
        Ok(Reporter::Tqdm(tqdm.call((), Some(&kw))?.unbind()))
    }

    fn report(&self, py: Python<'_>, p: &Progress) -> PyResult<()> {
        match self {
            Reporter::Silent => Ok(()),
            Reporter::Callback(f) => f.call1(py, (progress_dict(py, p)?,)).map(drop),
            Reporter::Tqdm(bar) => {
                let bar = bar.bind(py);
                let n: usize = bar.getattr("n")?.extract()?;
                bar.call_method1("update", (p.epoch.saturating_sub(n),))?;
                let post = PyDict::new(py);
                post.set_item("loss", format!("{:.4}", p.loss))?;
                if let Some(h) = &p.held_out {
                    post.set_item("D_stsp", format!("{:.3}", h.d_stsp))?;
                    post.set_item("D_H", format!("{:.3}", h.d_h))?;
                }
                bar.call_method("set_postfix", (), Some(&post))?;
                Ok(())
            }
        }
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        if let Reporter::Tqdm(bar) = self {
            bar.bind(py).call_method0("close")?;
        }
        Ok(())
    }
}

/// A progress report as the dict a `progress` callback receives.
fn progress_dict<'py>(py: Python<'py>, p: &Progress) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("epoch", p.epoch)?;
    d.set_item("epochs", p.epochs)?;
    d.set_item("loss", p.loss)?;
    d.set_item("updates_per_sec", p.updates_per_sec)?;
    d.set_item("elapsed_secs", p.elapsed_secs)?;
    d.set_item("evaluated", p.evaluated)?;
    d.set_item("best", p.best)?;
    d.set_item("restart", p.restart)?;
    match &p.held_out {
        Some(h) => {
            let ho = PyDict::new(py);
            ho.set_item("score", h.score)?;
            ho.set_item("d_stsp", h.d_stsp)?;
            ho.set_item("d_h", h.d_h)?;
            d.set_item("held_out", ho)?;
        }
        None => d.set_item("held_out", py.None())?,
    }
    Ok(d)
}

/// Python's error for a failed training: `ValueError` for the caller's mistakes (data,
/// configuration, checkpoint), `RuntimeError` for a failure of the run itself.
fn fit_err(e: FitError) -> PyErr {
    if e.is_input_error() {
        value_err(e)
    } else {
        PyRuntimeError::new_err(format!("training: {e}"))
    }
}

/// How often the waiting thread looks for Ctrl-C and progress while training runs.
const POLL: Duration = Duration::from_millis(50);

/// Runs [`fit::fit`] on a worker thread with the GIL released. This (the calling) thread
/// relays progress to `reporter` and checks for signals every [`POLL`]; a pending signal (Ctrl-C:
/// `KeyboardInterrupt`) or an exception from the progress callback sets the library's stop flag,
/// training ends after the current update, and that exception is raised.
fn run_fit(
    py: Python<'_>,
    params: &fit::CheckedParams,
    data: &Dataset,
    inputs: &[TimeSeries],
    checkpoint: Option<PathBuf>,
    resume: Option<Checkpoint>,
    reporter: &Reporter,
) -> PyResult<Fitted> {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<Progress>();
    let hooks = Hooks {
        on_progress: Some(Box::new(move |p: &Progress| {
            // The receiver lives until training ends.
            let _ = tx.send(p.clone());
        })),
        stop: Some(stop.clone()),
        checkpoint,
        resume,
    };
    let (out, raised) = py.detach(move || {
        std::thread::scope(|s| {
            let worker = s.spawn(move || {
                let mut hooks = hooks;
                fit::fit(params, data, inputs, &mut hooks)
                // `hooks` (the sender) is dropped here: the loop below ends.
            });
            let mut raised: Option<PyErr> = None;
            loop {
                let next = rx.recv_timeout(POLL);
                let disconnected = matches!(next, Err(mpsc::RecvTimeoutError::Disconnected));
                if raised.is_none() {
                    let r = Python::attach(|py| -> PyResult<()> {
                        if let Ok(p) = &next {
                            reporter.report(py, p)?;
                        }
                        py.check_signals()
                    });
                    if let Err(e) = r {
                        stop.store(true, Ordering::SeqCst);
                        raised = Some(e);
                    }
                }
                if disconnected {
                    break;
                }
            }
            (worker.join(), raised)
        })
    });
    if let Some(e) = raised {
        return Err(e);
    }
    match out {
        Ok(r) => r.map_err(fit_err),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(PyRuntimeError::new_err(format!(
                "training failed (an internal error, please report it): {msg}"
            )))
        }
    }
}

/// Trains a model on `x` with the library behind `plrnn train` (never the command line) and
/// returns it as its model file holds it (the exported float32 parameters): `m.save(path)` writes
/// the file `plrnn train` would, and `m.generate` equals `plrnn generate` on it bit for bit.
///
/// x: the data in data units (z-scored inside, the statistics stored in the model) — a (T, N)
///    array, a 3-D (trials, T, N) array, or a list of (T_i, N) arrays (trials).
/// inputs: external inputs s_t, trial for trial with `x` (same number of trials, equally long),
///    learned as C s_t (method "vi" only).
/// method: "vi" (variational inference) or "bptt" (backpropagation through time).
/// time_budget: seconds; training stops after the update that exceeds it, and without an
///    `epochs` key trains until it is spent (None: no budget, `epochs` decide).
/// seed: seed of every random choice; the same call gives the same model.
/// holdout: share of each trial's end held out to pick the best model (as `--holdout`).
/// embed: delay embedding of the data before training, as `plrnn train --embed`: None/"none",
///    "auto" (lag from the auto-mutual information, dimension from false nearest neighbours)
///    or (dim, lag). The model carries it (`m.embedding`, saved beside the file as
///    `PATH.embed.json`): `generate` answers and `evaluate` takes data in x's own channels.
/// restarts: independent starts in parallel (seeds seed, seed + 1, …); the best by held-out
///    score that did not collapse is kept (as `--restarts`).
/// progress: None (a tqdm bar if tqdm is installed), False (silent), or a callable receiving a
///    dict per epoch (epoch, epochs, loss, updates_per_sec, elapsed_secs, held_out, evaluated,
///    best); an exception it raises stops training after the current update and propagates.
/// checkpoint: file to write resumable checkpoints to (periodically and when stopped).
/// resume: a checkpoint file to continue from (same data and settings).
/// **config: keys of the method's configuration (those of `plrnn train --config` TOML files:
///    latent_dim, bases, variant, epochs, seq_len, batch_size, learning_rate, threads, …);
///    an unknown key raises TypeError naming it.
///
/// Bad data or settings raise ValueError with the message `plrnn train` prints. The GIL is
/// released while training; Ctrl-C raises KeyboardInterrupt after the current update.
#[pyfunction]
#[pyo3(signature = (x, inputs=None, method="vi", time_budget=Some(60.0), seed=0, *, holdout=0.1, restarts=Int::Small(1), embed=None, progress=None, checkpoint=None, resume=None, **config))]
#[allow(clippy::too_many_arguments)]
fn train(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    inputs: Option<&Bound<'_, PyAny>>,
    method: &str,
    time_budget: Option<f64>,
    seed: u64,
    holdout: f64,
    restarts: Int,
    embed: Option<&Bound<'_, PyAny>>,
    progress: Option<&Bound<'_, PyAny>>,
    checkpoint: Option<PathBuf>,
    resume: Option<PathBuf>,
    config: Option<&Bound<'_, PyDict>>,
) -> PyResult<Model> {
    let method = match method {
        "vi" => Method::Vi(train_config::<TrainConfig>(
            method,
            seed,
            time_budget,
            config,
        )?),
        "bptt" => Method::Bptt(train_config::<BpttConfig>(
            method,
            seed,
            time_budget,
            config,
        )?),
        m => {
            return Err(value_err(format!(
                "method: expected \"vi\" or \"bptt\", got {m:?}"
            )))
        }
    };
    let params = FitParams {
        method,
        holdout: real_within("holdout", holdout, R::HOLDOUT)?,
        restarts: restarts.within("restarts", R::RESTARTS)?,
    }
    .check()
    .map_err(fit_err)?;
    let embed = embed_spec(embed)?;
    let data = dataset(x, "x")?;
    let inputs = match inputs {
        Some(s) if !s.is_none() => {
            let s = dataset(s, "inputs")?;
            data.check_inputs(&s, "inputs", "x").map_err(value_err)?;
            s.into_trials()
        }
        _ => Vec::new(),
    };
    let embedding = py
        .detach(|| embed::resolve(embed, data.trials()))
        .map_err(|e| value_err(format!("embed: {e}")))?;
    let (data, inputs) = match &embedding {
        Some(r) => r
            .embedding
            .embed_dataset(&data, &inputs)
            .map_err(|e| value_err(format!("embed: {e}")))?,
        None => (data, inputs),
    };
    let resume = resume
        .map(|p| {
            let c = Checkpoint::load(&p).map_err(|e| value_err(format!("resume: {e}")))?;
            if c.method_name() != params.method_name() {
                return Err(value_err(format!(
                    "resume {}: written by method {:?}, but this run is method {:?}",
                    p.display(),
                    c.method_name(),
                    params.method_name()
                )));
            }
            Ok(c)
        })
        .transpose()?;
    let reporter = Reporter::new(py, progress, params.epochs(), params.method_name())?;
    let out = run_fit(py, &params, &data, &inputs, checkpoint, resume, &reporter);
    reporter.close(py)?;
    let fitted = out?;
    // What the file holds, decoded as `plrnn.load` decodes it.
    let inner = DesktopModel::from_bytes(&fitted.model.valid().encode())
        .map_err(|e| PyRuntimeError::new_err(format!("the trained model: {e}")))?;
    let summary = serde_json::to_value(fitted.summary(Vec::new()))
        .map_err(|e| PyRuntimeError::new_err(format!("the run summary: {e}")))?;
    if fitted.collapsed {
        let warn = py.import("warnings")?;
        warn.call_method1(
            "warn",
            (
                "plrnn.train: the kept model collapsed (its generated trajectories are near \
                 constant, or regular for chaotic data); try restarts=4, a longer time_budget \
                 or method=\"bptt\"",
            ),
        )?;
    }
    Ok(Model {
        inner,
        training: Some(summary.to_string()),
        embedding,
    })
}

/// Dendritic PLRNN generative models of dynamical systems, from Python and NumPy.
///
/// The same Rust code as the `plrnn` command line — no second implementation:
///
///     x = plrnn.simulate("lorenz63", steps=100_000)        # (steps, 3) float64
///     m = plrnn.train(x, time_budget=60)                   # plrnn_train::fit, as `plrnn train`
///     m.save("m.plrnn"); m = plrnn.load("m.plrnn")         # the model file
///     y = m.generate(10_000)                               # data units, f32 device kernel
///     r = plrnn.evaluate(m, x)                             # dict, keys of `plrnn evaluate --json`
///     plrnn.metrics.d_stsp(x, y), plrnn.metrics.d_h(x, y), plrnn.metrics.psc(x, y)
///
/// Arrays may be float32 or float64, C- or Fortran-ordered. Bad input raises ValueError with
/// the command line's message; an invalid model file raises plrnn.ModelFileError. Training
/// releases the GIL and stops on Ctrl-C (KeyboardInterrupt) after the current update.
#[pymodule]
fn plrnn(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Model>()?;
    m.add("ModelFileError", py.get_type::<ModelFileError>())?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    // The names `simulate` accepts, so that callers (and the stub's test) need not copy them.
    m.add("SYSTEMS", PyTuple::new(py, sim::SYSTEM_NAMES)?)?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(train, m)?)?;
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
