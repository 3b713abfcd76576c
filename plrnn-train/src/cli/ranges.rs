//! Clap parsers for the numeric flags, built from the library's ranges ([`crate::ranges`]), so
//! clap rejects an out-of-range value before any work starts with `invalid value 'V' for
//! '--FLAG': V is not in RANGE` (exit 2) — the text the Python package raises for the same
//! value — and the `--help` text states the same range.

use clap::builder::TypedValueParser;

use crate::ranges::{IntRange, RangeError, RealRange, MAX_STEPS};

/// An integer flag in `r` (negative values reach the check: give the flag
/// `allow_negative_numbers = true`).
pub(crate) fn int(r: IntRange) -> impl TypedValueParser<Value = usize> {
    move |s: &str| -> Result<usize, RangeError> { r.parse(s) }
}

/// A finite real flag in `r`.
pub(crate) fn real(r: RealRange) -> impl TypedValueParser<Value = f64> {
    move |s: &str| -> Result<f64, RangeError> { r.parse(s) }
}

/// A time window `START:END` of steps, END > START.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// First step.
    pub start: usize,
    /// One past the last step.
    pub end: usize,
}

impl std::str::FromStr for Window {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not START:END (steps, START < END, e.g. 5000:8000)");
        let (a, b) = s.split_once(':').ok_or_else(bad)?;
        let start: usize = a.trim().parse().map_err(|_| bad())?;
        let end: usize = b.trim().parse().map_err(|_| bad())?;
        if start >= end || end > MAX_STEPS as usize {
            return Err(bad());
        }
        Ok(Self { start, end })
    }
}
