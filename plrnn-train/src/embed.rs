//! Delay embedding of scalar and low-dimensional recordings (Takens' theorem).
//!
//! A 1-D recording (an ECG lead, an LFP channel) is the projection of a higher-dimensional
//! attractor. Stacking delayed copies, `y_t = (x_t, x_{t−τ}, …, x_{t−(d−1)τ})`, reconstructs a
//! space in which the dynamics are again a function of the state, so a latent model can learn
//! them. The first `N` columns of `y_t` are the recording itself: a model trained on `y` answers
//! in the recording's own channels by reading those columns ([`DelayEmbedding::project`]).
//!
//! The two numbers are chosen from the data by the standard recipes:
//! - the lag τ: the first local minimum of the auto-mutual information I(τ) (Fraser & Swinney,
//!   Phys. Rev. A 33, 1134, 1986), estimated with an equal-width 2-D histogram; if I(τ) has no
//!   minimum within the searched range, the first lag at which the autocorrelation falls below
//!   1/e;
//! - the dimension d: false nearest neighbours (Kennel, Brown & Abarbanel, Phys. Rev. A 45, 3403,
//!   1992): the smallest d at which at most [`FNN_THRESHOLD`] (5 %) of the nearest neighbours in
//!   d dimensions are "false" (they separate when the (d+1)-th coordinate is added:
//!   |Δx| / R_d > 15, or R_{d+1} / R_A > 2 with R_A the data's standard deviation). Neighbours
//!   closer in time than the Theiler window (the autocorrelation time) are excluded, otherwise
//!   oversampled signals find their own next sample as neighbour in every dimension.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::data::Dataset;
use crate::series::TimeSeries;

/// Share of false nearest neighbours at or below which a dimension is accepted. Finite data
/// leave a floor of a few percent (references whose nearest neighbour is far away); 5 % is the
/// common practical cut.
pub const FNN_THRESHOLD: f64 = 0.05;
/// Kennel et al.'s distance-ratio criterion R_tol.
const FNN_RTOL: f64 = 15.0;
/// Kennel et al.'s attractor-size criterion A_tol.
const FNN_ATOL: f64 = 2.0;
/// Largest dimension tried by [`choose`].
pub const MAX_AUTO_DIM: usize = 10;
/// Histogram bins per axis of the mutual-information estimate.
const AMI_BINS: usize = 32;
/// Reference points whose nearest neighbours the FNN test examines (evenly spread in time).
const FNN_REFERENCES: usize = 1000;
/// Candidate neighbours searched per reference (evenly spread in time; the search is exact within
/// them).
const FNN_CANDIDATES: usize = 20_000;

/// A delay embedding: `dim` copies of the `channels` recorded channels, each `lag` steps apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelayEmbedding {
    /// Channels of the recording (N); the embedded series has `channels · dim` columns.
    pub channels: usize,
    /// Number of delayed copies d (1 = no embedding).
    pub dim: usize,
    /// Lag τ in samples.
    pub lag: usize,
}

/// Why an embedding could not be applied or chosen.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// `dim` or `lag` is zero, or a size overflows.
    #[error("delay embedding needs dim ≥ 1 and lag ≥ 1 (got dim {dim}, lag {lag})")]
    BadParameters {
        /// The dimension given.
        dim: usize,
        /// The lag given.
        lag: usize,
    },
    /// The series has another channel count than the embedding was made for.
    #[error("the embedding is for {expected} channel(s), the data have {found}")]
    WrongWidth {
        /// Channels the embedding expects.
        expected: usize,
        /// Channels found.
        found: usize,
    },
    /// The series is too short for the window (d−1)·τ plus a useful remainder.
    #[error("{len} steps are too short for a delay embedding spanning {span} steps")]
    TooShort {
        /// Steps in the series.
        len: usize,
        /// Steps one embedded vector spans.
        span: usize,
    },
    /// The embedded trials do not form a data set (the data loader's message).
    #[error("{0}")]
    Data(String),
    /// A spec string could not be read.
    #[error(
        "cannot read delay embedding {0:?}: expected `auto`, `none` or `DIM,LAG` (e.g. `3,8`)"
    )]
    Parse(String),
}

/// What the user asked for: no embedding, a given one, or one chosen from the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmbedSpec {
    /// Use the data as they are.
    None,
    /// Choose lag and dimension from the training data ([`choose`]).
    Auto,
    /// `dim` copies `lag` steps apart.
    Fixed {
        /// Number of copies d.
        dim: usize,
        /// Lag τ in samples.
        lag: usize,
    },
}

impl FromStr for EmbedSpec {
    type Err = EmbedError;
    fn from_str(s: &str) -> Result<Self, EmbedError> {
        let t = s.trim();
        match t {
            "auto" => return Ok(Self::Auto),
            "none" | "off" => return Ok(Self::None),
            _ => {}
        }
        let bad = || EmbedError::Parse(s.to_owned());
        let (d, l) = t.split_once(',').ok_or_else(bad)?;
        let dim: usize = d.trim().parse().map_err(|_| bad())?;
        let lag: usize = l.trim().parse().map_err(|_| bad())?;
        Self::fixed(dim, lag)
    }
}

impl EmbedSpec {
    /// `dim` copies `lag` steps apart, checked: 1 ≤ dim ≤ 64, 1 ≤ lag ≤ 10⁵.
    pub fn fixed(dim: usize, lag: usize) -> Result<Self, EmbedError> {
        if dim == 0 || lag == 0 || dim > 64 || lag > 100_000 {
            return Err(EmbedError::BadParameters { dim, lag });
        }
        Ok(Self::Fixed { dim, lag })
    }
}

impl fmt::Display for EmbedSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("none"),
            Self::Auto => f.write_str("auto"),
            Self::Fixed { dim, lag } => write!(f, "{dim},{lag}"),
        }
    }
}

impl DelayEmbedding {
    /// An embedding of `channels` channels; checks `dim, lag ≥ 1`.
    pub fn new(channels: usize, dim: usize, lag: usize) -> Result<Self, EmbedError> {
        if dim == 0 || lag == 0 || channels == 0 || dim.checked_mul(channels).is_none() {
            return Err(EmbedError::BadParameters { dim, lag });
        }
        Ok(Self { channels, dim, lag })
    }

    /// Columns of the embedded series.
    pub fn width(&self) -> usize {
        self.channels * self.dim
    }

    /// Steps lost at the start: an embedded vector at time t reaches back to t − span.
    pub fn span(&self) -> usize {
        (self.dim - 1) * self.lag
    }

    /// Whether this embedding changes nothing (d = 1).
    pub fn is_identity(&self) -> bool {
        self.dim == 1
    }

    /// The embedded series: row `t − span` is `(x_t, x_{t−τ}, …, x_{t−(d−1)τ})`, each a full row
    /// of the recording, for t = span … len − 1.
    pub fn embed(&self, x: &TimeSeries) -> Result<TimeSeries, EmbedError> {
        if x.dims() != self.channels {
            return Err(EmbedError::WrongWidth {
                expected: self.channels,
                found: x.dims(),
            });
        }
        let span = self.span();
        if x.len() <= span + 1 {
            return Err(EmbedError::TooShort { len: x.len(), span });
        }
        let mut data = Vec::with_capacity((x.len() - span) * self.width());
        for t in span..x.len() {
            for k in 0..self.dim {
                data.extend_from_slice(x.row(t - k * self.lag));
            }
        }
        Ok(TimeSeries::new(data, self.width()).expect("rows of width channels·dim"))
    }

    /// The recording's own channels of an embedded series (its first `channels` columns).
    pub fn project(&self, y: &TimeSeries) -> Result<TimeSeries, EmbedError> {
        if y.dims() != self.width() {
            return Err(EmbedError::WrongWidth {
                expected: self.width(),
                found: y.dims(),
            });
        }
        let data = y
            .rows()
            .flat_map(|r| r[..self.channels].iter().copied())
            .collect();
        Ok(TimeSeries::new(data, self.channels).expect("rows of width channels"))
    }
}

/// How an automatic embedding was chosen: the curves behind the choice, for the user to see.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmbedChoice {
    /// The chosen embedding.
    pub embedding: DelayEmbedding,
    /// Which rule gave the lag: `"ami_first_minimum"` or `"autocorrelation_1/e"`.
    pub lag_rule: String,
    /// I(τ) in nats for τ = 0 … (per channel, averaged over channels).
    pub ami: Vec<f64>,
    /// Share of false nearest neighbours for d = 1 … (index 0 is d = 1).
    pub fnn: Vec<f64>,
}

/// Auto-mutual information I(τ) of one channel for τ = 0 … `max_lag`, in nats, from an
/// equal-width histogram of `bins × bins` cells over the channel's range.
pub fn auto_mutual_information(x: &[f64], max_lag: usize, bins: usize) -> Vec<f64> {
    let (lo, hi) = x
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let width = hi - lo;
    let bin = |v: f64| -> usize {
        if width > 0.0 {
            (((v - lo) / width * bins as f64) as usize).min(bins - 1)
        } else {
            0
        }
    };
    let idx: Vec<usize> = x.iter().map(|&v| bin(v)).collect();
    let mut out = Vec::with_capacity(max_lag + 1);
    let mut joint = vec![0u32; bins * bins];
    let mut pa = vec![0u32; bins];
    let mut pb = vec![0u32; bins];
    for tau in 0..=max_lag.min(x.len().saturating_sub(2)) {
        joint.iter_mut().for_each(|c| *c = 0);
        pa.iter_mut().for_each(|c| *c = 0);
        pb.iter_mut().for_each(|c| *c = 0);
        let n = x.len() - tau;
        for t in 0..n {
            let (a, b) = (idx[t], idx[t + tau]);
            joint[a * bins + b] += 1;
            pa[a] += 1;
            pb[b] += 1;
        }
        let nf = n as f64;
        let mut mi = 0.0;
        for a in 0..bins {
            for b in 0..bins {
                let c = joint[a * bins + b];
                if c > 0 {
                    let pab = c as f64 / nf;
                    mi += pab * (pab * nf * nf / (pa[a] as f64 * pb[b] as f64)).ln();
                }
            }
        }
        out.push(mi);
    }
    out
}

/// The first τ ≥ 1 with I(τ−1) > I(τ) ≤ I(τ+1), if any.
pub fn first_minimum(curve: &[f64]) -> Option<usize> {
    (1..curve.len().saturating_sub(1))
        .find(|&t| curve[t] < curve[t - 1] && curve[t] <= curve[t + 1])
}

/// The first lag at which the autocorrelation of `x` falls below 1/e (at most `max_lag`).
pub fn autocorrelation_time(x: &[f64], max_lag: usize) -> usize {
    let n = x.len();
    let mean = x.iter().sum::<f64>() / n.max(1) as f64;
    let var: f64 = x.iter().map(|v| (v - mean) * (v - mean)).sum();
    if var <= 0.0 {
        return 1;
    }
    for tau in 1..=max_lag.min(n.saturating_sub(1)) {
        let c: f64 = (0..n - tau)
            .map(|t| (x[t] - mean) * (x[t + tau] - mean))
            .sum();
        if c / var < (-1.0f64).exp() {
            return tau;
        }
    }
    max_lag.max(1)
}

/// Shares of false nearest neighbours for d = 1 … `max_dim` (index 0 is d = 1) of the
/// delay vectors of `x` (all channels) with lag `lag`, excluding neighbours closer in time than
/// `theiler` steps.
pub fn false_nearest_neighbours(
    x: &TimeSeries,
    lag: usize,
    max_dim: usize,
    theiler: usize,
) -> Vec<f64> {
    let n_ch = x.dims();
    let (_, std) = x.mean_std();
    // R_A: the attractor's size, the root of the summed channel variances.
    let r_a = std
        .iter()
        .map(|s| s * s)
        .sum::<f64>()
        .sqrt()
        .max(f64::MIN_POSITIVE);
    let mut out = Vec::with_capacity(max_dim);
    for d in 1..=max_dim {
        // Vectors in d + 1 dimensions must exist: t ≥ d·lag.
        let start = d * lag;
        if x.len() <= start + 2 * theiler + 2 {
            break;
        }
        let times: Vec<usize> = (start..x.len()).collect();
        let pick = |count: usize| -> Vec<usize> {
            let step = (times.len() as f64 / count as f64).max(1.0);
            (0..count.min(times.len()))
                .map(|i| times[((i as f64 * step) as usize).min(times.len() - 1)])
                .collect()
        };
        let refs = pick(FNN_REFERENCES);
        let cands = pick(FNN_CANDIDATES);
        let coord = |t: usize, k: usize, c: usize| x.row(t - k * lag)[c];
        let mut false_count = 0usize;
        let mut judged = 0usize;
        for &i in &refs {
            let mut best = (f64::INFINITY, usize::MAX);
            for &j in &cands {
                if i.abs_diff(j) <= theiler {
                    continue;
                }
                let mut r2 = 0.0;
                for k in 0..d {
                    for c in 0..n_ch {
                        let diff = coord(i, k, c) - coord(j, k, c);
                        r2 += diff * diff;
                    }
                    if r2 >= best.0 {
                        break;
                    }
                }
                if r2 < best.0 {
                    best = (r2, j);
                }
            }
            if best.1 == usize::MAX {
                continue;
            }
            let (r2, j) = best;
            let extra: f64 = (0..n_ch)
                .map(|c| {
                    let diff = coord(i, d, c) - coord(j, d, c);
                    diff * diff
                })
                .sum();
            // Distances below 1e-9 of the attractor's size are rounding: a signal that
            // recurs exactly (a whole number of periods) would otherwise be judged by the ratio
            // of two rounding errors.
            let r_d = r2.sqrt().max(1e-9 * r_a);
            let r_next = (r2 + extra).sqrt();
            judged += 1;
            let is_false = extra.sqrt() / r_d > FNN_RTOL || r_next / r_a > FNN_ATOL;
            if is_false {
                false_count += 1;
            }
        }
        out.push(if judged > 0 {
            false_count as f64 / judged as f64
        } else {
            1.0
        });
    }
    out
}

/// Chooses a delay embedding for `x` (one or a few channels): the lag from the auto-mutual
/// information (averaged over channels), the dimension from false nearest neighbours.
pub fn choose(x: &TimeSeries) -> Result<EmbedChoice, EmbedError> {
    let n = x.len();
    if n < 200 {
        return Err(EmbedError::TooShort { len: n, span: 200 });
    }
    let max_lag = (n / 20).clamp(10, 2000);
    let cols: Vec<Vec<f64>> = (0..x.dims()).map(|c| x.column(c)).collect();
    let mut ami = vec![0.0; max_lag + 1];
    for col in &cols {
        let a = auto_mutual_information(col, max_lag, AMI_BINS);
        for (s, v) in ami.iter_mut().zip(&a) {
            *s += v / cols.len() as f64;
        }
    }
    ami.truncate(max_lag.min(n.saturating_sub(2)) + 1);
    let acf_time = cols
        .iter()
        .map(|c| autocorrelation_time(c, max_lag))
        .max()
        .unwrap_or(1);
    let (lag, lag_rule) = match first_minimum(&ami) {
        Some(t) => (t, "ami_first_minimum"),
        None => (acf_time, "autocorrelation_1/e"),
    };
    let max_dim = MAX_AUTO_DIM.min((n / 4) / lag.max(1)).max(1);
    let theiler = acf_time.max(lag);
    let fnn = false_nearest_neighbours(x, lag, max_dim, theiler);
    let dim = fnn
        .iter()
        .position(|&f| f <= FNN_THRESHOLD)
        .map(|i| i + 1)
        .unwrap_or_else(|| {
            // Noise keeps a floor of false neighbours: take the dimension with the fewest.
            fnn.iter()
                .enumerate()
                .min_by(|a, b| a.1.total_cmp(b.1))
                .map_or(1, |(i, _)| i + 1)
        });
    Ok(EmbedChoice {
        embedding: DelayEmbedding::new(x.dims(), dim, lag)?,
        lag_rule: lag_rule.to_owned(),
        ami,
        fnn,
    })
}

/// The file beside a model that records its delay embedding: `MODEL.embed.json`.
pub fn sidecar_path(model: &Path) -> PathBuf {
    let mut s = model.as_os_str().to_owned();
    s.push(".embed.json");
    PathBuf::from(s)
}

/// What `plrnn train` writes beside a model trained on delay-embedded data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedRecord {
    /// The embedding the model's N observations were built with.
    pub embedding: DelayEmbedding,
    /// How it was chosen (absent when given as `DIM,LAG`).
    pub choice: Option<EmbedChoice>,
}

/// Why an embedding record beside a model could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SidecarError {
    /// The file exists but could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid embedding record.
    #[error("{path}: not a delay-embedding record: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl EmbedRecord {
    /// Reads the record beside `model`, if there is one; checks it against the model's
    /// observation count `n` (which must be `channels · dim`).
    pub fn load_beside(model: &Path, n: usize) -> Result<Option<Self>, SidecarError> {
        let path = sidecar_path(model);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(SidecarError::Io {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        let invalid = |reason: String| SidecarError::Invalid {
            path: path.display().to_string(),
            reason,
        };
        let rec: Self = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let e = rec.embedding;
        DelayEmbedding::new(e.channels, e.dim, e.lag).map_err(|x| invalid(x.to_string()))?;
        if e.width() != n {
            return Err(invalid(format!(
                "{} channel(s) × {} copies = {} columns, but the model observes N = {n}",
                e.channels,
                e.dim,
                e.width()
            )));
        }
        Ok(Some(rec))
    }

    /// Writes the record beside `model` (atomically).
    pub fn save_beside(&self, model: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        crate::io::atomic_write(&sidecar_path(model), text.as_bytes())
    }

    /// Removes a record left beside `model` by an earlier run, so a model trained without an
    /// embedding is never read through a stale one.
    pub fn remove_beside(model: &Path) -> std::io::Result<()> {
        match std::fs::remove_file(sidecar_path(model)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Resolves `spec` on training trials: `None` for no embedding, else the embedding (chosen on
/// the longest trial for `Auto`) with how it was chosen.
pub fn resolve(spec: EmbedSpec, trials: &[TimeSeries]) -> Result<Option<EmbedRecord>, EmbedError> {
    let Some(longest) = trials.iter().max_by_key(|t| t.len()) else {
        return Ok(None);
    };
    match spec {
        EmbedSpec::None => Ok(None),
        EmbedSpec::Fixed { dim, lag } => Ok(Some(EmbedRecord {
            embedding: DelayEmbedding::new(longest.dims(), dim, lag)?,
            choice: None,
        })),
        EmbedSpec::Auto => {
            let choice = choose(longest)?;
            Ok(Some(EmbedRecord {
                embedding: choice.embedding,
                choice: Some(choice),
            }))
        }
    }
}

impl DelayEmbedding {
    /// Cuts a series aligned with the recording (inputs s_t) to the embedded series' steps:
    /// drops the first [`span`](Self::span) steps.
    pub fn align(&self, s: &TimeSeries) -> TimeSeries {
        s.slice(self.span().min(s.len()), s.len())
    }

    /// A recording in the observation space of a model trained on this embedding: embedded
    /// when it has the recording's channel count, as it is otherwise (already embedded, or of
    /// a width the model's own check will name).
    pub fn observe(&self, x: TimeSeries) -> Result<TimeSeries, EmbedError> {
        if x.dims() == self.channels {
            self.embed(&x)
        } else {
            Ok(x)
        }
    }

    /// Training data and their inputs as a model on this embedding is trained: every trial
    /// embedded (sources kept), every input series cut to the embedded steps.
    pub fn embed_dataset(
        &self,
        data: &Dataset,
        inputs: &[TimeSeries],
    ) -> Result<(Dataset, Vec<TimeSeries>), EmbedError> {
        let trials = data
            .trials()
            .iter()
            .map(|t| self.embed(t))
            .collect::<Result<Vec<_>, _>>()?;
        let data = Dataset::from_trials(trials, data.sources().to_vec())
            .map_err(|e| EmbedError::Data(e.to_string()))?;
        Ok((data, inputs.iter().map(|s| self.align(s)).collect()))
    }
}

/// Writes what belongs beside a model file: its embedding record, or — for a model without
/// one — no record (a stale one from an earlier model is removed).
pub fn save_beside(model: &Path, record: Option<&EmbedRecord>) -> std::io::Result<()> {
    match record {
        Some(r) => r.save_beside(model),
        None => EmbedRecord::remove_beside(model),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::{self, SimOptions, System};

    #[test]
    fn first_minimum_ignores_jitter() {
        // A dip at 2 that is no minimum of its neighbourhood, then the real one at 25.
        let curve: Vec<f64> = (0..60)
            .map(|t| {
                let base = (t as f64 - 25.0).powi(2) / 100.0;
                base + if t % 3 == 0 { 0.05 } else { 0.0 }
            })
            .collect();
        // The jitter at multiples of 3 shifts the smoothed minimum by a step or two.
        let t = first_minimum(&curve).unwrap();
        assert!((22..=27).contains(&t), "{t}");
        assert_eq!(first_minimum(&[3.0, 2.0, 1.0, 0.5, 0.2]), None);
    }

    #[test]
    fn embed_and_project_by_hand() {
        let x = TimeSeries::from_rows(&[[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]]).unwrap();
        let e = DelayEmbedding::new(1, 3, 2).unwrap();
        let y = e.embed(&x).unwrap();
        assert_eq!(y.dims(), 3);
        assert_eq!(y.len(), 2);
        assert_eq!(y.row(0), &[4.0, 2.0, 0.0]);
        assert_eq!(y.row(1), &[5.0, 3.0, 1.0]);
        assert_eq!(e.project(&y).unwrap().as_slice(), &[4.0, 5.0]);
        // Two channels: each delayed copy is a full row.
        let x2 = TimeSeries::from_rows(&[[0.0, 10.0], [1.0, 11.0], [2.0, 12.0]]).unwrap();
        let e2 = DelayEmbedding::new(2, 2, 1).unwrap();
        let y2 = e2.embed(&x2).unwrap();
        assert_eq!(y2.row(0), &[1.0, 11.0, 0.0, 10.0]);
        assert_eq!(e2.project(&y2).unwrap().row(1), &[2.0, 12.0]);
        assert!(matches!(e.embed(&x2), Err(EmbedError::WrongWidth { .. })));
        assert!(matches!(
            DelayEmbedding::new(1, 4, 2).unwrap().embed(&x),
            Err(EmbedError::TooShort { .. })
        ));
    }

    #[test]
    fn sidecar_round_trip_and_checks() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("m.plrnn");
        assert!(EmbedRecord::load_beside(&model, 3).unwrap().is_none());
        let rec = EmbedRecord {
            embedding: DelayEmbedding::new(1, 3, 7).unwrap(),
            choice: None,
        };
        rec.save_beside(&model).unwrap();
        assert_eq!(EmbedRecord::load_beside(&model, 3).unwrap(), Some(rec));
        // The model must observe channels · dim columns.
        let e = EmbedRecord::load_beside(&model, 4).unwrap_err().to_string();
        assert!(
            e.contains("m.plrnn.embed.json") && e.contains("N = 4"),
            "{e}"
        );
        std::fs::write(sidecar_path(&model), "{\"embedding\": 1}").unwrap();
        assert!(matches!(
            EmbedRecord::load_beside(&model, 3),
            Err(SidecarError::Invalid { .. })
        ));
        EmbedRecord::remove_beside(&model).unwrap();
        EmbedRecord::remove_beside(&model).unwrap();
        assert!(EmbedRecord::load_beside(&model, 3).unwrap().is_none());
    }

    #[test]
    fn spec_parsing() {
        assert_eq!("auto".parse::<EmbedSpec>().unwrap(), EmbedSpec::Auto);
        assert_eq!("none".parse::<EmbedSpec>().unwrap(), EmbedSpec::None);
        assert_eq!(
            " 3, 8 ".parse::<EmbedSpec>().unwrap(),
            EmbedSpec::Fixed { dim: 3, lag: 8 }
        );
        for bad in ["", "3", "3,", "0,5", "3,0", "a,b", "3,8,1", "-1,2"] {
            assert!(bad.parse::<EmbedSpec>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn mutual_information_of_independent_and_identical_samples() {
        // I(0) of a uniform variable over 32 equal bins is the entropy, ln 32.
        let x: Vec<f64> = (0..32_000).map(|i| (i % 32) as f64 + 0.5).collect();
        let ami = auto_mutual_information(&x, 1, 32);
        assert!((ami[0] - 32f64.ln()).abs() < 1e-9, "{}", ami[0]);
        // A period-2 alternation of two values: x_t determines x_{t+1}, so I(1) is the entropy
        // of x_t over the 999 pairs (500 zeros, 499 ones).
        let y: Vec<f64> = (0..1000).map(|i| (i % 2) as f64).collect();
        let ami = auto_mutual_information(&y, 1, 8);
        let (p, q) = (500.0 / 999.0, 499.0 / 999.0);
        let h = -(p * f64::ln(p) + q * f64::ln(q));
        assert!((ami[1] - h).abs() < 1e-12, "{} vs {h}", ami[1]);
    }

    #[test]
    fn rossler_x_needs_three_dimensions() {
        // Rössler's x at dt = 0.1 (about 60 samples a turn): a folded band, which a plane
        // cannot hold without crossings; three delays unfold it (d = 3 is the standard FNN
        // result for this attractor).
        let opts = SimOptions {
            steps: 20_000,
            dt: 0.1,
            ..SimOptions::default()
        };
        let full = simulate::simulate(&System::rossler(), &opts).unwrap();
        let x = TimeSeries::new(full.column(0), 1).unwrap();
        let c = choose(&x).unwrap();
        assert_eq!(
            c.embedding.dim, 3,
            "lag {} fnn {:?}",
            c.embedding.lag, c.fnn
        );
        assert!(c.fnn[0] > 0.3, "{:?}", c.fnn);
    }

    #[test]
    fn white_noise_falls_back_to_autocorrelation_and_stays_unfolded() {
        // Independent draws: I(τ) is flat (no first minimum beyond estimator noise, which the
        // smoothing removes) or the ACF drops at once; either way the lag is tiny.
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
        let v: Vec<f64> = (0..5000).map(|_| rng.random::<f64>()).collect();
        let c = choose(&TimeSeries::new(v, 1).unwrap()).unwrap();
        assert!(c.embedding.lag <= 3, "{c:?}");
    }

    #[test]
    fn lorenz_x_needs_three_dimensions() {
        // The x component of Lorenz-63 at dt = 0.01: the standard FNN result is d = 3
        // (Kennel et al. 1992 report FNN dropping to zero at d = 3 for Lorenz). The first
        // AMI minimum of x at this step lies near 0.16 time units.
        let sys = System::lorenz63();
        let opts = SimOptions {
            steps: 20_000,
            dt: 0.01,
            ..SimOptions::default()
        };
        let full = simulate::simulate(&sys, &opts).unwrap();
        let x = TimeSeries::new(full.column(0), 1).unwrap();
        let c = choose(&x).unwrap();
        assert_eq!(c.embedding.dim, 3, "fnn {:?}", c.fnn);
        assert!(
            (12..=20).contains(&c.embedding.lag),
            "lag {} ({})",
            c.embedding.lag,
            c.lag_rule
        );
    }
}
