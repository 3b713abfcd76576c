//! Live external inputs as text: one input per line, K comma-separated numbers. The one parser
//! behind `plrnn run` on the host (stdin, UDP) and the firmware's real-time mode (a UART), so the
//! same line gives the same applied f32 values on both.
//!
//! ```
//! use plrnn_nostd::input::{is_input_line, parse_csv_line, InputError};
//! let mut s = [0.0f32; 2];
//! assert!(is_input_line(" 1.5, -2\r\n"));
//! assert_eq!(parse_csv_line(" 1.5, -2\r\n", &mut s), Ok(()));
//! assert_eq!(s, [1.5, -2.0]);
//! assert_eq!(parse_csv_line("1", &mut s), Err(InputError::Count { expected: 2, found: 1 }));
//! assert_eq!(s, [1.5, -2.0]); // a bad line changes nothing
//! assert!(!is_input_line("# s1,s2"));
//! ```

use core::fmt;

/// Why an input line was not applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum InputError {
    /// The number of values differs from the model's K.
    Count {
        /// K.
        expected: usize,
        /// Values found.
        found: usize,
    },
    /// A field is not a number.
    NotANumber {
        /// 1-based column.
        column: usize,
    },
    /// A value is NaN or infinite (after rounding to f32).
    NonFinite {
        /// 1-based column.
        column: usize,
    },
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            InputError::Count { expected, found } => {
                write!(f, "{found} values, the model takes K = {expected}")
            }
            InputError::NotANumber { column } => write!(f, "value {column} is not a number"),
            InputError::NonFinite { column } => write!(f, "value {column} is not finite"),
        }
    }
}

/// Whether a text line carries an input: blank lines and lines starting with `#` are skipped
/// (neither applied nor counted as bad).
pub fn is_input_line(line: &str) -> bool {
    let l = line.trim();
    !l.is_empty() && !l.starts_with('#')
}

/// Parses one CSV input line (K comma-separated numbers, spaces around them allowed) into `s`
/// (length K). Numbers are read as f64 and rounded to f32, as `plrnn generate --inputs` reads
/// them; NaN and infinities (also from overflow in the rounding) are rejected. On error `s` is
/// unchanged.
pub fn parse_csv_line(line: &str, s: &mut [f32]) -> Result<(), InputError> {
    let line = line.trim();
    let found = if line.is_empty() {
        0
    } else {
        line.split(',').count()
    };
    if found != s.len() {
        return Err(InputError::Count {
            expected: s.len(),
            found,
        });
    }
    if found == 0 {
        return Ok(());
    }
    // Check every field before writing any, so a bad line leaves `s` as it was.
    for (j, field) in line.split(',').enumerate() {
        parse_field(field, j + 1)?;
    }
    for (j, (v, field)) in s.iter_mut().zip(line.split(',')).enumerate() {
        *v = parse_field(field, j + 1)?;
    }
    Ok(())
}

fn parse_field(field: &str, column: usize) -> Result<f32, InputError> {
    let v: f64 = field
        .trim()
        .parse()
        .map_err(|_| InputError::NotANumber { column })?;
    let v = v as f32;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(InputError::NonFinite { column })
    }
}
