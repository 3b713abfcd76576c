//! The allowed range of every numeric command-line flag that is not a training-configuration
//! key (those are checked by the configurations' `validate`, so a config file and a flag get the
//! same check). Each flag's `value_parser` comes from here, so clap rejects an out-of-range value
//! before any work starts with `invalid value 'V' for '--FLAG': V is not in RANGE` (exit 2), and
//! the `--help` text states the same range.

use clap::builder::{RangedU64ValueParser, TypedValueParser};

/// An integer flag in `lo..=hi`.
pub(crate) fn int(lo: u64, hi: u64) -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::<usize>::new().range(lo..=hi)
}

/// A finite real flag in `[lo, hi]` (`open_lo`: `(lo, hi]`).
pub(crate) fn real(lo: f64, hi: f64, open_lo: bool) -> impl TypedValueParser<Value = f64> {
    move |s: &str| -> Result<f64, String> {
        let v: f64 = s
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not a number"))?;
        let above = if open_lo { v > lo } else { v >= lo };
        if v.is_finite() && above && v <= hi {
            Ok(v)
        } else {
            Err(format!(
                "{v} is not in {}{lo}, {hi}]",
                if open_lo { "(" } else { "[" }
            ))
        }
    }
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

/// Largest number of steps a command writes or simulates (10⁸: ~2.4 GB for 3 channels of f64).
pub(crate) const MAX_STEPS: u64 = 100_000_000;
/// Largest transient, burn-in or window offset.
pub(crate) const MAX_SKIP: u64 = 100_000_000;
