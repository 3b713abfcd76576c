//! A multichannel time series: the one container that data, simulators, metrics and the
//! trainer exchange.

use std::fmt;

/// A time series stored row-major: `len()` time steps × `dims()` channels, in f64.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeSeries {
    data: Vec<f64>,
    dims: usize,
}

/// Why a buffer could not become a [`TimeSeries`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeError {
    /// Length of the buffer given.
    pub len: usize,
    /// Channel count asked for.
    pub dims: usize,
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a buffer of {} values cannot be split into rows of {} channels",
            self.len, self.dims
        )
    }
}

impl std::error::Error for ShapeError {}

impl TimeSeries {
    /// Wraps a row-major buffer; its length must be a multiple of `dims` (and `dims > 0`).
    pub fn new(data: Vec<f64>, dims: usize) -> Result<Self, ShapeError> {
        if dims == 0 || !data.len().is_multiple_of(dims) {
            return Err(ShapeError {
                len: data.len(),
                dims,
            });
        }
        Ok(Self { data, dims })
    }

    /// An all-zero series of `len` steps and `dims` channels.
    pub fn zeros(len: usize, dims: usize) -> Self {
        Self {
            data: vec![0.0; len * dims.max(1)],
            dims: dims.max(1),
        }
    }

    /// Builds a series from rows; every row must have the same, non-zero length.
    pub fn from_rows<R: AsRef<[f64]>>(rows: &[R]) -> Result<Self, ShapeError> {
        let dims = rows.first().map_or(0, |r| r.as_ref().len());
        let mut data = Vec::with_capacity(rows.len() * dims);
        for r in rows {
            let r = r.as_ref();
            if r.len() != dims {
                return Err(ShapeError { len: r.len(), dims });
            }
            data.extend_from_slice(r);
        }
        Self::new(data, dims)
    }

    /// Number of time steps.
    pub fn len(&self) -> usize {
        self.data.len() / self.dims
    }

    /// True when the series has no time step.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Number of channels.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// The observation at time `t`.
    pub fn row(&self, t: usize) -> &[f64] {
        &self.data[t * self.dims..(t + 1) * self.dims]
    }

    /// The observation at time `t`, mutable.
    pub fn row_mut(&mut self, t: usize) -> &mut [f64] {
        &mut self.data[t * self.dims..(t + 1) * self.dims]
    }

    /// All rows in time order.
    pub fn rows(&self) -> std::slice::ChunksExact<'_, f64> {
        self.data.chunks_exact(self.dims)
    }

    /// Channel `j` as its own vector.
    pub fn column(&self, j: usize) -> Vec<f64> {
        self.rows().map(|r| r[j]).collect()
    }

    /// The row-major buffer.
    pub fn as_slice(&self) -> &[f64] {
        &self.data
    }

    /// The row-major buffer, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [f64] {
        &mut self.data
    }

    /// Consumes the series, returning the row-major buffer.
    pub fn into_vec(self) -> Vec<f64> {
        self.data
    }

    /// Steps `start..end` as a new series.
    pub fn slice(&self, start: usize, end: usize) -> Self {
        Self {
            data: self.data[start * self.dims..end * self.dims].to_vec(),
            dims: self.dims,
        }
    }

    /// Per-channel mean and (population) standard deviation.
    pub fn mean_std(&self) -> (Vec<f64>, Vec<f64>) {
        let n = self.len().max(1) as f64;
        let mut mean = vec![0.0; self.dims];
        for r in self.rows() {
            for (m, v) in mean.iter_mut().zip(r) {
                *m += v;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0.0; self.dims];
        for r in self.rows() {
            for ((s, v), m) in var.iter_mut().zip(r).zip(&mean) {
                *s += (v - m) * (v - m);
            }
        }
        let std = var.into_iter().map(|s| (s / n).sqrt()).collect();
        (mean, std)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_is_checked() {
        assert!(TimeSeries::new(vec![1.0; 5], 2).is_err());
        assert!(TimeSeries::new(vec![], 0).is_err());
        let s = TimeSeries::new(vec![1.0, 2.0, 3.0, 4.0], 2).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s.row(1), &[3.0, 4.0]);
        assert_eq!(s.column(0), vec![1.0, 3.0]);
    }

    #[test]
    fn mean_std_by_hand() {
        let s = TimeSeries::from_rows(&[[1.0, 10.0], [3.0, 10.0]]).unwrap();
        let (m, sd) = s.mean_std();
        assert_eq!(m, vec![2.0, 10.0]);
        assert_eq!(sd, vec![1.0, 0.0]);
    }
}
