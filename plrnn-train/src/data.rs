//! The data layer: read time series from text tables (CSV or whitespace-separated) and NumPy
//! `.npy` files, validate them, z-score them with stored statistics, cut them into training
//! sequences, and write series back to disk.
//!
//! A [`Dataset`] can only be built through the checks here, so holding one proves that every
//! trial is non-empty, finite, and as wide as every other trial.

use std::fmt;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::io::atomic_write_with;
use crate::series::TimeSeries;

/// Where in a file a problem sits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Position {
    /// A place in a text table, both 1-based as an editor shows them.
    Line {
        /// Line number in the file (1-based, counting headers, comments and blank lines).
        line: usize,
        /// Field number on that line (1-based).
        column: usize,
    },
    /// An element of an array, 0-based in array order (as NumPy indexes it): `[time, channel]`
    /// for a 2-D array, `[trial, time, channel]` for a 3-D one.
    Index(Vec<usize>),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Line { line, column } => write!(f, "line {line}, column {column}"),
            Position::Index(ix) => {
                let parts: Vec<String> = ix.iter().map(|i| i.to_string()).collect();
                write!(f, "index [{}]", parts.join(", "))
            }
        }
    }
}

/// Everything that can go wrong while reading, checking, transforming or writing data.
///
/// Each message is one line that names the file (or trial) and, where it applies, the position.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// No input file was given.
    #[error("no data files given")]
    NoFiles,
    /// The file does not exist.
    #[error("{path}: file not found")]
    Missing {
        /// The file.
        path: String,
    },
    /// The file exists but could not be read.
    #[error("{path}: cannot read: {source}")]
    Unreadable {
        /// The file.
        path: String,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// A text file holds bytes that are not UTF-8.
    #[error("{path}: line {line}: not UTF-8 text (a binary file with the wrong extension?)")]
    NotText {
        /// The file.
        path: String,
        /// First line with invalid bytes (1-based).
        line: usize,
    },
    /// The file (or array) holds no value.
    #[error("{path}: no data: {detail}")]
    Empty {
        /// The file.
        path: String,
        /// What is missing.
        detail: String,
    },
    /// A row of a text table has a different number of fields than the first data row.
    #[error(
        "{path}: line {line}: row has {found} fields, expected {expected} as in the first data row"
    )]
    Ragged {
        /// The file.
        path: String,
        /// Line number (1-based).
        line: usize,
        /// Width of the first data row.
        expected: usize,
        /// Width of this row.
        found: usize,
    },
    /// A field of a text table is not a number.
    #[error("{path}: line {line}, column {column}: cannot read {text:?} as a number")]
    NonNumeric {
        /// The file.
        path: String,
        /// Line number (1-based).
        line: usize,
        /// Field number (1-based).
        column: usize,
        /// The offending text.
        text: String,
    },
    /// A value is NaN or infinite.
    #[error("{path}: {at}: value is {value} (data must be finite)")]
    NonFinite {
        /// The file or trial.
        path: String,
        /// Where the value sits.
        at: Position,
        /// The value (NaN, inf or -inf).
        value: f64,
    },
    /// A `.npy` file holds elements of a type other than float32/float64.
    #[error("{path}: unsupported .npy dtype {dtype} (expected float32 '<f4' or float64 '<f8')")]
    NpyDtype {
        /// The file.
        path: String,
        /// The dtype as the file declares it.
        dtype: String,
    },
    /// A `.npy` array is neither 2-D nor 3-D.
    #[error("{path}: unsupported .npy rank {} (shape {shape:?}); expected 2-D (time, channels) or 3-D (trials, time, channels)", .shape.len())]
    NpyRank {
        /// The file.
        path: String,
        /// The array's shape.
        shape: Vec<u64>,
    },
    /// A `.npy` file is damaged or not a `.npy` file at all.
    #[error("{path}: not a readable .npy file: {reason}")]
    NpyMalformed {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Two trials have different channel counts.
    #[error("{other} has {other_width} channels but {first} has {first_width}: all trials must have the same width")]
    WidthMismatch {
        /// The first trial (its source).
        first: String,
        /// Its channel count.
        first_width: usize,
        /// The trial that differs.
        other: String,
        /// Its channel count.
        other_width: usize,
    },
    /// The data's channel count differs from the model's observation width N.
    #[error("{source_name}: data has {found} channels but the model expects {expected}")]
    ModelWidth {
        /// The first trial (its source).
        source_name: String,
        /// The data's channel count.
        found: usize,
        /// The model's N.
        expected: usize,
    },
    /// A trial is shorter than needed.
    #[error("{source_name}: {len} time steps, too short: need at least {needed}")]
    TooShort {
        /// The trial (its source).
        source_name: String,
        /// Its number of time steps.
        len: usize,
        /// The number required.
        needed: usize,
    },
    /// External inputs hold a different number of trials than the data.
    #[error("{inputs} hold {found} trial(s), but {data} holds {expected}; give one input series per data trial")]
    InputTrials {
        /// The inputs, as the caller names them.
        inputs: String,
        /// Their number of trials.
        found: usize,
        /// The data, as the caller names them.
        data: String,
        /// The data's number of trials.
        expected: usize,
    },
    /// An input series is not as long as its data trial.
    #[error("{input}: {len} time steps, but its data trial {trial} has {trial_len}; inputs and data must be equally long")]
    InputLength {
        /// The input series (its source).
        input: String,
        /// Its number of time steps.
        len: usize,
        /// The data trial (its source).
        trial: String,
        /// The data trial's number of time steps.
        trial_len: usize,
    },
    /// An argument is out of range.
    #[error("{name} must be {requirement}, got {value}")]
    InvalidArgument {
        /// Which argument.
        name: &'static str,
        /// What it must satisfy.
        requirement: &'static str,
        /// The value given.
        value: String,
    },
    /// A normalization does not fit the series or holds unusable statistics.
    #[error("normalization: {0}")]
    Normalization(String),
    /// The output format could not be told from the file name.
    #[error("{path}: unknown output format; use the extension .csv, .tsv, .txt, .dat or .npy")]
    UnknownFormat {
        /// The file.
        path: String,
    },
    /// Writing an output file failed (the previous file, if any, is untouched).
    #[error("{path}: cannot write: {source}")]
    Write {
        /// The file.
        path: String,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
}

/// A set of trials of equal width, each a finite, non-empty time series, with the source each
/// came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    trials: Vec<TimeSeries>,
    sources: Vec<String>,
}

/// The start of one training sequence: `trial` and first time step `start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SequenceIndex {
    /// Index of the trial in [`Dataset::trials`].
    pub trial: usize,
    /// First time step of the sequence in that trial.
    pub start: usize,
}

impl Dataset {
    /// Reads every file as one or more trials (a 3-D `.npy` holds several) and checks them.
    ///
    /// A file is read as `.npy` when it starts with the NumPy magic bytes, whatever its name;
    /// otherwise as a text table (see [`read_file`]).
    pub fn load<P: AsRef<Path>>(paths: &[P]) -> Result<Self, DataError> {
        if paths.is_empty() {
            return Err(DataError::NoFiles);
        }
        let mut trials = Vec::new();
        let mut sources = Vec::new();
        for p in paths {
            let (t, s) = read_file_with_sources(p.as_ref())?;
            trials.extend(t);
            sources.extend(s);
        }
        Self::from_trials(trials, sources)
    }

    /// Reads one file (see [`Dataset::load`]).
    pub fn load_file(path: &Path) -> Result<Self, DataError> {
        Self::load(&[path])
    }

    /// Builds a dataset from series already in memory, with one source name per trial.
    ///
    /// Checks that there is at least one trial, that every trial is non-empty and finite, and
    /// that all have the same width.
    pub fn from_trials(trials: Vec<TimeSeries>, sources: Vec<String>) -> Result<Self, DataError> {
        if trials.is_empty() {
            return Err(DataError::NoFiles);
        }
        if sources.len() != trials.len() {
            return Err(DataError::InvalidArgument {
                name: "number of source names",
                requirement: "equal to the number of trials",
                value: format!("{} for {} trials", sources.len(), trials.len()),
            });
        }
        for (t, s) in trials.iter().zip(&sources) {
            if t.is_empty() {
                return Err(DataError::Empty {
                    path: s.clone(),
                    detail: "no time step".into(),
                });
            }
            check_finite_series(t, s)?;
        }
        let first_width = trials[0].dims();
        for (t, s) in trials.iter().zip(&sources).skip(1) {
            if t.dims() != first_width {
                return Err(DataError::WidthMismatch {
                    first: sources[0].clone(),
                    first_width,
                    other: s.clone(),
                    other_width: t.dims(),
                });
            }
        }
        Ok(Self { trials, sources })
    }

    /// One series as a one-trial dataset.
    pub fn from_series(series: TimeSeries, source: impl Into<String>) -> Result<Self, DataError> {
        Self::from_trials(vec![series], vec![source.into()])
    }

    /// The trials, in the order the files (and, within a 3-D `.npy`, the first axis) gave them.
    pub fn trials(&self) -> &[TimeSeries] {
        &self.trials
    }

    /// One source name per trial: the file path, with `[i]` appended for trial `i` of a 3-D
    /// `.npy` file.
    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    /// Consumes the dataset, returning its trials.
    pub fn into_trials(self) -> Vec<TimeSeries> {
        self.trials
    }

    /// Number of channels (the same for every trial).
    pub fn dims(&self) -> usize {
        self.trials[0].dims()
    }

    /// Number of trials (at least 1).
    pub fn num_trials(&self) -> usize {
        self.trials.len()
    }

    /// Total number of time steps over all trials.
    pub fn total_len(&self) -> usize {
        self.trials.iter().map(TimeSeries::len).sum()
    }

    /// Checks that every trial has at least `n` time steps; the error names the first that has
    /// not.
    pub fn validate_min_len(&self, n: usize) -> Result<(), DataError> {
        match self
            .trials
            .iter()
            .zip(&self.sources)
            .find(|(t, _)| t.len() < n)
        {
            Some((t, s)) => Err(DataError::TooShort {
                source_name: s.clone(),
                len: t.len(),
                needed: n,
            }),
            None => Ok(()),
        }
    }

    /// Checks external inputs against the data, trial for trial: as many trials, each as long as
    /// its data trial. `inputs_name` and `data_name` name the two collections in the message.
    pub fn check_inputs(
        &self,
        inputs: &Dataset,
        inputs_name: &str,
        data_name: &str,
    ) -> Result<(), DataError> {
        if inputs.num_trials() != self.num_trials() {
            return Err(DataError::InputTrials {
                inputs: inputs_name.to_owned(),
                found: inputs.num_trials(),
                data: data_name.to_owned(),
                expected: self.num_trials(),
            });
        }
        for (i, (s, x)) in inputs.trials.iter().zip(&self.trials).enumerate() {
            if s.len() != x.len() {
                return Err(DataError::InputLength {
                    input: inputs.sources[i].clone(),
                    len: s.len(),
                    trial: self.sources[i].clone(),
                    trial_len: x.len(),
                });
            }
        }
        Ok(())
    }

    /// Checks that the data has exactly `n` channels, the observation width N of a model.
    pub fn check_width(&self, n: usize) -> Result<(), DataError> {
        if self.dims() == n {
            Ok(())
        } else {
            Err(DataError::ModelWidth {
                source_name: self.sources[0].clone(),
                found: self.dims(),
                expected: n,
            })
        }
    }

    /// Starts of all windows of `len` steps, `stride` steps apart, within each trial (windows
    /// never cross a trial boundary; a trial's tail shorter than a window is left out).
    ///
    /// Fails when `len` or `stride` is 0, or when no trial is at least `len` long.
    pub fn sequence_indices(
        &self,
        len: usize,
        stride: usize,
    ) -> Result<Vec<SequenceIndex>, DataError> {
        if len == 0 {
            return Err(DataError::InvalidArgument {
                name: "sequence length",
                requirement: "> 0",
                value: "0".into(),
            });
        }
        if stride == 0 {
            return Err(DataError::InvalidArgument {
                name: "sequence stride",
                requirement: "> 0",
                value: "0".into(),
            });
        }
        let mut out = Vec::new();
        for (trial, t) in self.trials.iter().enumerate() {
            if t.len() >= len {
                out.extend(
                    (0..=t.len() - len)
                        .step_by(stride)
                        .map(|start| SequenceIndex { trial, start }),
                );
            }
        }
        if out.is_empty() {
            // Name the longest trial: it is the one that came closest.
            let (i, t) = self
                .trials
                .iter()
                .enumerate()
                .max_by_key(|(_, t)| t.len())
                .unwrap_or((0, &self.trials[0]));
            return Err(DataError::TooShort {
                source_name: self.sources[i].clone(),
                len: t.len(),
                needed: len,
            });
        }
        Ok(out)
    }

    /// The windows of [`Dataset::sequence_indices`], copied out as series of `len` steps each.
    pub fn sequences(&self, len: usize, stride: usize) -> Result<Vec<TimeSeries>, DataError> {
        Ok(self
            .sequence_indices(len, stride)?
            .into_iter()
            .map(|ix| self.sequence(ix, len))
            .collect())
    }

    /// One window of `len` steps; indices past the end are clamped to the trial's end.
    pub fn sequence(&self, ix: SequenceIndex, len: usize) -> TimeSeries {
        let t = &self.trials[ix.trial.min(self.trials.len() - 1)];
        let start = ix.start.min(t.len());
        let end = start.saturating_add(len).min(t.len());
        t.slice(start, end)
    }

    /// The per-channel z-scoring statistics over all trials (see [`Normalization::fit`]).
    pub fn normalization(&self) -> Normalization {
        Normalization::fit(self)
    }

    /// A copy with every trial z-scored by `norm`.
    pub fn normalized(&self, norm: &Normalization) -> Result<Self, DataError> {
        let trials = self
            .trials
            .iter()
            .map(|t| norm.apply(t))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            trials,
            sources: self.sources.clone(),
        })
    }
}

/// Per-channel z-scoring statistics: `z = (x − mean) / std`. Stored with a trained model so
/// generated data can be mapped back to data units.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Per-channel mean, in data units.
    pub mean: Vec<f64>,
    /// Per-channel standard deviation, in data units; always finite and > 0 when computed by
    /// [`Normalization::fit`].
    pub std: Vec<f64>,
}

impl Normalization {
    /// Pooled mean and population standard deviation of each channel over all time steps of
    /// all trials.
    ///
    /// A constant channel (std ≤ 1e-12 · max(1, |mean|), which also absorbs rounding noise)
    /// gets std = 1, so it is only centred, never divided by ~0.
    pub fn fit(data: &Dataset) -> Self {
        let n = data.dims();
        let count = data.total_len() as f64;
        let mut mean = vec![0.0; n];
        for r in data.trials.iter().flat_map(TimeSeries::rows) {
            for (m, v) in mean.iter_mut().zip(r) {
                *m += v;
            }
        }
        mean.iter_mut().for_each(|m| *m /= count);
        // Two passes: summing squared deviations from the mean avoids the cancellation of
        // E[x²] − E[x]² on data far from zero.
        let mut var = vec![0.0; n];
        for r in data.trials.iter().flat_map(TimeSeries::rows) {
            for ((s, v), m) in var.iter_mut().zip(r).zip(&mean) {
                *s += (v - m) * (v - m);
            }
        }
        let std = var
            .iter()
            .zip(&mean)
            .map(|(s, m)| {
                let sd = (s / count).sqrt();
                if sd.is_finite() && sd > 1e-12 * m.abs().max(1.0) {
                    sd
                } else {
                    1.0
                }
            })
            .collect();
        Self { mean, std }
    }

    /// The identity map for `dims` channels (mean 0, std 1).
    pub fn identity(dims: usize) -> Self {
        Self {
            mean: vec![0.0; dims],
            std: vec![1.0; dims],
        }
    }

    /// Number of channels.
    pub fn dims(&self) -> usize {
        self.mean.len()
    }

    /// Checks that mean and std have the same length, every mean is finite and every std is
    /// finite and > 0 (a deserialized normalization may not be).
    pub fn validate(&self) -> Result<(), DataError> {
        if self.mean.len() != self.std.len() {
            return Err(DataError::Normalization(format!(
                "{} means but {} standard deviations",
                self.mean.len(),
                self.std.len()
            )));
        }
        if let Some((j, m)) = self.mean.iter().enumerate().find(|(_, m)| !m.is_finite()) {
            return Err(DataError::Normalization(format!(
                "mean of channel {} must be finite, got {m}",
                j + 1
            )));
        }
        if let Some((j, s)) = self
            .std
            .iter()
            .enumerate()
            .find(|(_, s)| !(s.is_finite() && **s > 0.0))
        {
            return Err(DataError::Normalization(format!(
                "std of channel {} must be finite and > 0, got {s}",
                j + 1
            )));
        }
        Ok(())
    }

    fn check(&self, series: &TimeSeries) -> Result<(), DataError> {
        self.validate()?;
        if series.dims() != self.dims() {
            return Err(DataError::Normalization(format!(
                "statistics for {} channels, but the series has {}",
                self.dims(),
                series.dims()
            )));
        }
        Ok(())
    }

    /// Z-scores `series` in place: `(x − mean) / std`.
    pub fn apply_in_place(&self, series: &mut TimeSeries) -> Result<(), DataError> {
        self.check(series)?;
        let n = self.dims();
        for r in series.as_mut_slice().chunks_exact_mut(n) {
            for ((v, m), s) in r.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = (*v - m) / s;
            }
        }
        Ok(())
    }

    /// Maps z-scored values back to data units in place: `z · std + mean`.
    pub fn invert_in_place(&self, series: &mut TimeSeries) -> Result<(), DataError> {
        self.check(series)?;
        let n = self.dims();
        for r in series.as_mut_slice().chunks_exact_mut(n) {
            for ((v, m), s) in r.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = *v * s + m;
            }
        }
        Ok(())
    }

    /// A z-scored copy of `series`.
    pub fn apply(&self, series: &TimeSeries) -> Result<TimeSeries, DataError> {
        let mut out = series.clone();
        self.apply_in_place(&mut out)?;
        Ok(out)
    }

    /// A copy of `series` (e.g. generated, z-scored data) in data units.
    pub fn invert(&self, series: &TimeSeries) -> Result<TimeSeries, DataError> {
        let mut out = series.clone();
        self.invert_in_place(&mut out)?;
        Ok(out)
    }
}

const NPY_MAGIC: &[u8] = b"\x93NUMPY";

/// Reads one file as one or more trials, without the cross-trial checks of [`Dataset`].
///
/// - `.npy` (recognised by its magic bytes): 2-D `(time, channels)` is one trial, 3-D
///   `(trials, time, channels)` is several; float32 or float64, either byte order, C or
///   Fortran order.
/// - Anything else is read as a text table: comma-separated when the first data line holds a
///   comma, semicolon-separated when it holds a semicolon, otherwise separated by runs of
///   whitespace (spaces or tabs). Blank lines and lines starting with `#` are skipped. A first
///   row that does not parse as numbers is a header and is skipped. Fields may be quoted.
pub fn read_file(path: &Path) -> Result<Vec<TimeSeries>, DataError> {
    read_file_with_sources(path).map(|(t, _)| t)
}

fn read_file_with_sources(path: &Path) -> Result<(Vec<TimeSeries>, Vec<String>), DataError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => DataError::Missing { path: name.clone() },
        _ => DataError::Unreadable {
            path: name.clone(),
            source: e,
        },
    })?;
    if bytes.starts_with(NPY_MAGIC) || has_extension(path, "npy") {
        let (trials, is_3d) = parse_npy(&bytes, &name)?;
        let sources = if !is_3d {
            vec![name]
        } else {
            (0..trials.len()).map(|i| format!("{name}[{i}]")).collect()
        };
        Ok((trials, sources))
    } else {
        let text = std::str::from_utf8(&bytes).map_err(|e| DataError::NotText {
            path: name.clone(),
            line: 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count(),
        })?;
        Ok((vec![parse_text(text, &name)?], vec![name]))
    }
}

fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

#[derive(Clone, Copy)]
enum Separator {
    Char(char),
    Whitespace,
}

fn unquote(f: &str) -> &str {
    let f = f.trim();
    for q in ['"', '\''] {
        if let Some(inner) = f.strip_prefix(q).and_then(|g| g.strip_suffix(q)) {
            return inner.trim();
        }
    }
    f
}

fn split_fields(line: &str, sep: Separator) -> Vec<&str> {
    match sep {
        Separator::Char(c) => line.split(c).map(unquote).collect(),
        Separator::Whitespace => line.split_whitespace().map(unquote).collect(),
    }
}

/// Parses a text table (see [`read_file`]); `path` only names the source in errors.
fn parse_text(text: &str, path: &str) -> Result<TimeSeries, DataError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut sep = None;
    let mut width = 0;
    let mut data: Vec<f64> = Vec::new();
    let mut header_allowed = true;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let sep = *sep.get_or_insert(if line.contains(',') {
            Separator::Char(',')
        } else if line.contains(';') {
            Separator::Char(';')
        } else {
            Separator::Whitespace
        });
        let fields = split_fields(line, sep);
        let parsed: Vec<Result<f64, _>> = fields.iter().map(|f| f.parse::<f64>()).collect();
        if header_allowed {
            header_allowed = false;
            if parsed.iter().any(Result::is_err) {
                continue; // a header row
            }
        }
        if width == 0 {
            width = fields.len();
        } else if fields.len() != width {
            return Err(DataError::Ragged {
                path: path.into(),
                line: line_no,
                expected: width,
                found: fields.len(),
            });
        }
        for (j, (f, p)) in fields.iter().zip(parsed).enumerate() {
            let column = j + 1;
            let v = p.map_err(|_| DataError::NonNumeric {
                path: path.into(),
                line: line_no,
                column,
                text: (*f).into(),
            })?;
            if !v.is_finite() {
                return Err(DataError::NonFinite {
                    path: path.into(),
                    at: Position::Line {
                        line: line_no,
                        column,
                    },
                    value: v,
                });
            }
            data.push(v);
        }
    }
    if width == 0 {
        return Err(DataError::Empty {
            path: path.into(),
            detail: "no numeric row (the file is empty or holds only a header or comments)".into(),
        });
    }
    TimeSeries::new(data, width).map_err(|e| DataError::Empty {
        path: path.into(),
        detail: e.to_string(),
    })
}

/// The layout of a `.npy` file as read from its preamble, before `npyz` sees it.
struct NpyPreamble {
    shape: Vec<u64>,
    data_offset: usize,
}

/// Reads the magic, header length and shape ourselves so that a damaged or hostile header is
/// rejected before `npyz` sizes buffers from it (its shape products are unchecked).
fn npy_preamble(bytes: &[u8], path: &str) -> Result<NpyPreamble, DataError> {
    let bad = |reason: String| DataError::NpyMalformed {
        path: path.into(),
        reason,
    };
    if !bytes.starts_with(NPY_MAGIC) {
        return Err(bad("missing the NumPy magic bytes".into()));
    }
    let major = *bytes
        .get(6)
        .ok_or_else(|| bad("file ends inside the preamble".into()))?;
    let (len_bytes, header_start) = match major {
        1 => (2, 10),
        2 | 3 => (4, 12),
        v => return Err(bad(format!("unknown format version {v}"))),
    };
    let len_field = bytes
        .get(8..8 + len_bytes)
        .ok_or_else(|| bad("file ends inside the preamble".into()))?;
    let header_len = len_field
        .iter()
        .rev()
        .fold(0usize, |acc, &b| (acc << 8) | b as usize);
    let data_offset = header_start + header_len;
    let header = bytes.get(header_start..data_offset).ok_or_else(|| {
        bad(format!(
            "header length {header_len} runs past the end of the file ({} bytes)",
            bytes.len()
        ))
    })?;
    let header = String::from_utf8_lossy(header);
    let shape = parse_shape(&header).ok_or_else(|| bad("cannot read the 'shape' entry".into()))?;
    Ok(NpyPreamble { shape, data_offset })
}

/// Extracts the tuple after `'shape':` in a `.npy` header dict.
fn parse_shape(header: &str) -> Option<Vec<u64>> {
    let key = header
        .find("'shape'")
        .or_else(|| header.find("\"shape\""))?;
    let rest = &header[key + 7..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('(')?;
    let inner = &rest[..rest.find(')')?];
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches(['L', 'l']).parse::<u64>().ok())
        .collect()
}

/// Parses a whole `.npy` file held in memory into trials; also says whether the array was 3-D.
fn parse_npy(bytes: &[u8], path: &str) -> Result<(Vec<TimeSeries>, bool), DataError> {
    let bad = |reason: String| DataError::NpyMalformed {
        path: path.into(),
        reason,
    };
    let pre = npy_preamble(bytes, path)?;
    let shape = pre.shape.clone();
    if shape.len() != 2 && shape.len() != 3 {
        return Err(DataError::NpyRank {
            path: path.into(),
            shape,
        });
    }
    // Every partial product of the non-zero dimensions fits in u64 and in the file, so no
    // arithmetic on the shape below (ours or npyz's) can overflow.
    let data_bytes = (bytes.len() - pre.data_offset) as u64;
    let nonzero_product = shape
        .iter()
        .filter(|&&d| d > 0)
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| bad(format!("shape {shape:?} is too large")))?;
    if shape.contains(&0) {
        return Err(DataError::Empty {
            path: path.into(),
            detail: format!("array shape {shape:?}"),
        });
    }
    // Each element takes at least one byte.
    if nonzero_product > data_bytes {
        return Err(bad(format!(
            "shape {shape:?} needs more data than the file's {data_bytes} bytes"
        )));
    }
    let npy = npyz::NpyFile::new(bytes).map_err(|e| bad(e.to_string()))?;
    if npy.shape() != shape.as_slice() {
        return Err(bad("inconsistent shape in the header".into()));
    }
    let dtype = npy.dtype();
    let size = match &dtype {
        npyz::DType::Plain(ts) if ts.type_char() == npyz::TypeChar::Float => ts.size_field(),
        _ => 0,
    };
    let strides = npy.strides().to_vec();
    let values: Vec<f64> = match size {
        8 => npy
            .into_vec::<f64>()
            .map_err(|e| bad(format!("reading the data: {e}")))?,
        4 => npy
            .into_vec::<f32>()
            .map_err(|e| bad(format!("reading the data: {e}")))?
            .into_iter()
            .map(f64::from)
            .collect(),
        _ => {
            return Err(DataError::NpyDtype {
                path: path.into(),
                dtype: dtype.descr(),
            })
        }
    };
    if values.len() as u64 != nonzero_product {
        return Err(bad(format!("{} values for shape {shape:?}", values.len())));
    }
    // The checks above bound every dimension by the file size, so these fit in usize.
    let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    let st: Vec<usize> = strides.iter().map(|&s| s as usize).collect();
    let (n_trials, t_len, width) = if dims.len() == 3 {
        (dims[0], dims[1], dims[2])
    } else {
        (1, dims[0], dims[1])
    };
    let (s_trial, s_time, s_chan) = if st.len() == 3 {
        (st[0], st[1], st[2])
    } else {
        (0, st[0], st[1])
    };
    let mut trials = Vec::with_capacity(n_trials);
    for r in 0..n_trials {
        let mut buf = Vec::with_capacity(t_len * width);
        for t in 0..t_len {
            for c in 0..width {
                let v = values[r * s_trial + t * s_time + c * s_chan];
                if !v.is_finite() {
                    let at = if dims.len() == 3 {
                        Position::Index(vec![r, t, c])
                    } else {
                        Position::Index(vec![t, c])
                    };
                    return Err(DataError::NonFinite {
                        path: path.into(),
                        at,
                        value: v,
                    });
                }
                buf.push(v);
            }
        }
        trials.push(TimeSeries::new(buf, width).map_err(|e| bad(e.to_string()))?);
    }
    Ok((trials, dims.len() == 3))
}

fn check_finite_series(t: &TimeSeries, source: &str) -> Result<(), DataError> {
    if let Some(k) = t.as_slice().iter().position(|v| !v.is_finite()) {
        return Err(DataError::NonFinite {
            path: source.into(),
            at: Position::Index(vec![k / t.dims(), k % t.dims()]),
            value: t.as_slice()[k],
        });
    }
    Ok(())
}

/// Output formats of [`write_series`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// Comma-separated text with a header row `x1,x2,…`.
    Csv,
    /// Tab-separated text with a header row `x1<TAB>x2…`.
    Tsv,
    /// Space-separated text preceded by a comment line `# x1 x2 …` (as `numpy.savetxt` writes,
    /// `numpy.loadtxt` reads).
    Txt,
    /// NumPy `.npy`: 2-D `(time, channels)`, little-endian float64, C order.
    Npy,
}

impl OutputFormat {
    /// The format the file name's extension asks for: `.csv`, `.tsv`, `.txt`/`.dat`, `.npy`.
    pub fn from_path(path: &Path) -> Result<Self, DataError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("csv") => Ok(Self::Csv),
            Some("tsv") => Ok(Self::Tsv),
            Some("txt") | Some("dat") => Ok(Self::Txt),
            Some("npy") => Ok(Self::Npy),
            _ => Err(DataError::UnknownFormat {
                path: path.display().to_string(),
            }),
        }
    }
}

/// Writes `series` atomically, in the format the extension names (see [`OutputFormat`]).
///
/// `.npy` is written in float64 so that writing and reading back is exact (NumPy reads it
/// with `np.load`; cast with `.astype(np.float32)` where f32 is wanted). Text uses the
/// shortest decimal form that reads back to the same f64.
pub fn write_series(path: &Path, series: &TimeSeries) -> Result<(), DataError> {
    let format = OutputFormat::from_path(path)?;
    write_series_as(path, series, format)
}

/// Writes `series` atomically in the given format, whatever the extension.
pub fn write_series_as(
    path: &Path,
    series: &TimeSeries,
    format: OutputFormat,
) -> Result<(), DataError> {
    let n = series.dims();
    let names: Vec<String> = (1..=n).map(|j| format!("x{j}")).collect();
    let result = atomic_write_with(path, |w| match format {
        OutputFormat::Npy => {
            use npyz::WriterBuilder;
            let mut npy = npyz::WriteOptions::<f64>::new()
                .default_dtype()
                .shape(&[series.len() as u64, n as u64])
                .writer(w)
                .begin_nd()?;
            npy.extend(series.as_slice().iter().copied())?;
            npy.finish()
        }
        OutputFormat::Csv | OutputFormat::Tsv | OutputFormat::Txt => {
            let sep = match format {
                OutputFormat::Csv => ",",
                OutputFormat::Tsv => "\t",
                _ => " ",
            };
            if format == OutputFormat::Txt {
                write!(w, "# ")?;
            }
            writeln!(w, "{}", names.join(sep))?;
            for r in series.rows() {
                for (j, v) in r.iter().enumerate() {
                    if j > 0 {
                        w.write_all(sep.as_bytes())?;
                    }
                    write_value(w, *v)?;
                }
                writeln!(w)?;
            }
            Ok(())
        }
    });
    result.map_err(|source| DataError::Write {
        path: path.display().to_string(),
        source,
    })
}

/// Writes one value as text files hold it: the shortest decimal form that reads back to the
/// same f64 (`plrnn generate` and `plrnn run` print every number through here).
pub fn write_value(w: &mut impl Write, v: f64) -> std::io::Result<()> {
    write!(w, "{v:?}")
}

#[cfg(test)]
mod tests;
