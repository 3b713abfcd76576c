//! The allowed range of every numeric setting, in one place for every front end (the integer
//! training-configuration keys are checked by the configurations' `validate` with the ranges
//! here, and `plrnn train` refuses a negative value of them with the same text): the
//! command line builds each flag's parser from here (so clap rejects an out-of-range value before
//! any work starts with `invalid value 'V' for '--FLAG': V is not in RANGE`, exit 2), and the
//! Python package checks its arguments with the same ranges and the same message text.

use std::fmt;

/// Why a number was refused: the value and the range it is not in. Its text is the whole
/// message (`0 is not in 2..=1000`); front ends prefix the flag or argument name.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RangeError {
    /// The text is not a number.
    #[error("{0:?} is not a number")]
    NotANumber(String),
    /// The number is outside the range (or not finite).
    #[error("{value} is not in {range}")]
    Outside {
        /// The value as given.
        value: String,
        /// The range, as `LO..=HI`, `[LO, HI]` or `(LO, HI]`.
        range: String,
    },
}

/// Integers in `lo..=hi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntRange {
    /// Smallest allowed value.
    pub lo: u64,
    /// Largest allowed value.
    pub hi: u64,
}

impl IntRange {
    /// Checks an integer.
    pub fn check(&self, v: i128) -> Result<usize, RangeError> {
        if self.contains(v) {
            Ok(v as usize)
        } else {
            Err(self.outside(v.to_string()))
        }
    }

    /// Whether `v` is in the range.
    pub fn contains(&self, v: i128) -> bool {
        v >= self.lo as i128 && v <= self.hi as i128
    }

    /// Reads and checks a decimal integer (any size: a number too large for 128 bits is out of
    /// range, not "not a number").
    pub fn parse(&self, s: &str) -> Result<usize, RangeError> {
        let t = s.trim();
        match t.parse::<i128>() {
            Ok(v) => self.check(v),
            Err(_) => {
                let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
                if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                    Err(self.outside(t.to_owned()))
                } else {
                    Err(RangeError::NotANumber(s.to_owned()))
                }
            }
        }
    }

    fn outside(&self, value: String) -> RangeError {
        RangeError::Outside {
            value,
            range: self.to_string(),
        }
    }
}

impl fmt::Display for IntRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..={}", self.lo, self.hi)
    }
}

/// Finite reals in `[lo, hi]`, or `(lo, hi]` when `open_lo`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RealRange {
    /// Lower bound.
    pub lo: f64,
    /// Upper bound (included).
    pub hi: f64,
    /// Whether `lo` itself is excluded.
    pub open_lo: bool,
}

impl RealRange {
    /// Checks a real number (NaN and infinities are outside every range).
    pub fn check(&self, v: f64) -> Result<f64, RangeError> {
        let above = if self.open_lo {
            v > self.lo
        } else {
            v >= self.lo
        };
        if v.is_finite() && above && v <= self.hi {
            Ok(v)
        } else {
            Err(RangeError::Outside {
                value: v.to_string(),
                range: self.to_string(),
            })
        }
    }

    /// Reads and checks a real number.
    pub fn parse(&self, s: &str) -> Result<f64, RangeError> {
        let v: f64 = s
            .trim()
            .parse()
            .map_err(|_| RangeError::NotANumber(s.to_owned()))?;
        self.check(v)
    }
}

/// A bound as a person writes it: `1000`, `0.9`, `1e30`.
fn bound(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e7 || v.abs() < 1e-4) {
        format!("{v:e}")
    } else {
        v.to_string()
    }
}

impl fmt::Display for RealRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let open = if self.open_lo { "(" } else { "[" };
        write!(f, "{open}{}, {}]", bound(self.lo), bound(self.hi))
    }
}

const fn int(lo: u64, hi: u64) -> IntRange {
    IntRange { lo, hi }
}

const fn real(lo: f64, hi: f64) -> RealRange {
    RealRange {
        lo,
        hi,
        open_lo: false,
    }
}

const fn positive(hi: f64) -> RealRange {
    RealRange {
        lo: 0.0,
        hi,
        open_lo: true,
    }
}

/// Largest number of steps a command writes or simulates (10⁸: ~2.4 GB for 3 channels of f64).
pub const MAX_STEPS: u64 = 100_000_000;
/// Largest transient, burn-in or window offset.
pub const MAX_SKIP: u64 = 100_000_000;

/// Steps written by `simulate` and `generate`.
pub const STEPS: IntRange = int(1, MAX_STEPS);
/// Steps run and dropped first: `simulate --transient`, `generate --burn-in`.
pub const SKIP: IntRange = int(0, MAX_SKIP);
/// Bound L of `--clamp` (latent states kept in [−L, L]).
pub const CLAMP: RealRange = positive(1e30);

/// `simulate --dt`: time between samples.
pub const SIM_DT: RealRange = positive(1000.0);
/// `simulate --dim`: Lorenz-96 variables.
pub const L96_DIM: IntRange = int(4, 1000);
/// `simulate --forcing`: Lorenz-96 forcing F.
pub const L96_FORCING: RealRange = real(-1000.0, 1000.0);
/// `simulate --substeps`: RK4 sub-steps per sample.
pub const SUBSTEPS: IntRange = int(1, 1_000_000);
/// `simulate --process-noise` / `--obs-noise`: noise standard deviations.
pub const NOISE_STD: RealRange = real(0.0, 1000.0);

/// `evaluate --trajectories`.
pub const EVAL_TRAJECTORIES: IntRange = int(1, 10_000);
/// `evaluate --burn-in`: steps dropped from each generated trajectory.
pub const EVAL_BURN_IN: IntRange = int(0, 1_000_000);
/// `evaluate --keep`: steps kept of each generated trajectory.
pub const EVAL_KEEP: IntRange = int(2, 1_000_000);
/// `evaluate --bins`: bins per dimension of binned D_stsp.
pub const BINS: IntRange = int(2, 1000);
/// `evaluate --sigma`: Gaussian smoothing σ of the power spectra (D_H, PSC).
pub const SIGMA: RealRange = positive(10_000.0);
/// `evaluate --pe`: each horizon n of PE(n).
pub const PE_HORIZON: IntRange = int(1, 100_000);

/// `train --holdout`: share of each trial's end held out.
pub const HOLDOUT: RealRange = real(0.0, 0.9);
/// `train --restarts`: independent starts.
pub const RESTARTS: IntRange = int(1, 64);
/// `train --seed`: TOML integers are 64-bit signed.
pub const SEED: IntRange = int(0, i64::MAX as u64);
/// Training key `latent_dim` (`train --latent-dim`): latent size M.
pub const LATENT_DIM: IntRange = int(1, 4096);
/// Training key `bases` (`train --bases`): bases P of the dendritic variants (relu ignores it).
pub const BASES: IntRange = int(1, 4096);
/// Training key `epochs` (`train --epochs`).
pub const EPOCHS: IntRange = int(1, 1_000_000_000);
/// Training key `batch_size` (`train --batch`): sequences per update.
pub const BATCH: IntRange = int(1, 1_000_000);
/// Training key `threads` (`train --threads`): worker threads, 0 = all cores.
pub const THREADS: IntRange = int(0, 1024);
/// Training key `seq_len` (`train --seq-len`) of VI.
pub const VI_SEQ_LEN: IntRange = int(2, 10_000_000);
/// Training key `seq_len` (`train --seq-len`) of BPTT.
pub const BPTT_SEQ_LEN: IntRange = int(1, 10_000_000);
/// `demo --time-budget`, seconds.
pub const DEMO_TIME_BUDGET: RealRange = positive(1e6);

/// `plot --steps`: steps drawn.
pub const PLOT_STEPS: IntRange = int(2, 10_000_000);
/// `plot --dt`: sampling step in seconds.
pub const PLOT_DT: RealRange = positive(1e6);
/// `plot --lag`: lag of the delay plot.
pub const PLOT_LAG: IntRange = int(1, 1_000_000);

/// `run --rate`: steps per second.
pub const RUN_RATE: RealRange = positive(1e7);
/// `run --duration`: seconds.
pub const RUN_DURATION: RealRange = positive(1e9);
/// `run --spin-us`: microseconds of spinning before each deadline.
pub const RUN_SPIN_US: IntRange = int(0, 1_000_000);
/// `run --queue`: capacity of the output queue.
pub const RUN_QUEUE: IntRange = int(1, 1 << 24);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_value_and_the_range() {
        assert_eq!(
            BINS.parse("0").unwrap_err().to_string(),
            "0 is not in 2..=1000"
        );
        assert_eq!(
            SKIP.parse("-5").unwrap_err().to_string(),
            "-5 is not in 0..=100000000"
        );
        assert_eq!(
            SKIP.parse("1000000000000000000000000000000000000000000")
                .unwrap_err()
                .to_string(),
            "1000000000000000000000000000000000000000000 is not in 0..=100000000"
        );
        assert_eq!(
            BINS.parse("x").unwrap_err(),
            RangeError::NotANumber("x".into())
        );
        assert_eq!(
            CLAMP.check(-1.0).unwrap_err().to_string(),
            "-1 is not in (0, 1e30]"
        );
        assert_eq!(
            HOLDOUT.parse("0.95").unwrap_err().to_string(),
            "0.95 is not in [0, 0.9]"
        );
        assert!(SIGMA.check(f64::NAN).is_err());
        assert!(CLAMP.check(0.0).is_err());
        assert_eq!(NOISE_STD.check(0.0), Ok(0.0));
        assert_eq!(BINS.check(2), Ok(2));
        assert_eq!(BINS.check(1000), Ok(1000));
        assert!(BINS.check(1001).is_err());
    }
}
