//! What the two trainers' configurations share: the checks of the training-loop settings both
//! have (`LoopSettings`, one range per key from [`crate::ranges`]) and the error they report
//! ([`ConfigError`]).
//!
//! It lives beside the trainers rather than in either (so neither [`crate::vi`] nor
//! [`crate::bptt`] imports the other), and apart from [`crate::ranges`], which holds only the
//! numbers every front end shares, because this is the configurations' validation: the field
//! names, their requirements and the error type. The command line checks its integer flags here
//! too, so a flag and a TOML key are refused with the same text.

use thiserror::Error;

use crate::ranges::{self as R, IntRange};

/// A setting that cannot be used, with the field's name and the value given (both trainers'
/// configurations report through it).
#[derive(Clone, Debug, PartialEq, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A field is out of its allowed range.
    #[error("{field} must be {requirement}, got {value}")]
    Invalid {
        /// The TOML name of the field.
        field: &'static str,
        /// What the field must satisfy.
        requirement: String,
        /// The value given, formatted.
        value: String,
    },
    /// The TOML text could not be parsed.
    #[error("config is not valid TOML for this training method: {0}")]
    Parse(String),
}

/// `Ok` when `ok`, else [`ConfigError::Invalid`] naming the field, the requirement and the value.
pub(crate) fn check(
    ok: bool,
    field: &'static str,
    requirement: impl ToString,
    value: impl ToString,
) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            field,
            requirement: requirement.to_string(),
            value: value.to_string(),
        })
    }
}

/// The check of `a_max`, the projection bound of A that both trainers apply after each update
/// ([`crate::optim::project_a`]): finite and ≥ 0 (0 = off).
pub(crate) fn check_a_max(a_max: f64) -> Result<(), ConfigError> {
    check(
        a_max.is_finite() && a_max >= 0.0,
        "a_max",
        ">= 0 and finite (0 = off)",
        a_max,
    )
}

/// `Ok` when the integer `value` of `field` is in `range`, else [`ConfigError::Invalid`] with the
/// requirement `in LO..=HI` followed by `note` (any integer: the command line checks negative
/// values with it too).
pub(crate) fn check_int(
    field: &'static str,
    range: IntRange,
    value: i128,
    note: &str,
) -> Result<(), ConfigError> {
    check(
        range.contains(value),
        field,
        format!("in {range}{note}"),
        value,
    )
}

/// The range and note of an integer key of the training loop, as [`check_loop_settings`] checks
/// it (`seq_len` in the method's `seq_len_range`); `None` for other keys.
pub(crate) fn loop_int_range(
    key: &str,
    seq_len_range: IntRange,
) -> Option<(IntRange, &'static str)> {
    Some(match key {
        "latent_dim" => (R::LATENT_DIM, ""),
        "bases" => (R::BASES, BASES_NOTE),
        "seq_len" => (seq_len_range, ""),
        "threads" => (R::THREADS, THREADS_NOTE),
        "epochs" => (R::EPOCHS, ""),
        "batch_size" => (R::BATCH, ""),
        _ => return None,
    })
}

const BASES_NOTE: &str = " for the dendritic variants";
const THREADS_NOTE: &str = " (0 = all cores)";

/// The settings of the training loop that both trainers have, checked one way.
pub(crate) struct LoopSettings {
    pub(crate) latent_dim: usize,
    pub(crate) bases: usize,
    pub(crate) relu: bool,
    pub(crate) seq_len: usize,
    /// The method's range of `seq_len`.
    pub(crate) seq_len_range: IntRange,
    pub(crate) threads: usize,
    pub(crate) epochs: usize,
    pub(crate) time_budget_secs: Option<f64>,
    pub(crate) batch_size: usize,
    pub(crate) learning_rate: f64,
    pub(crate) lr_final_ratio: f64,
    pub(crate) grad_clip: f64,
}

/// Checks [`LoopSettings`], naming the first field out of range.
/// The upper bounds are far beyond useful settings; they exist so that no value asks for an
/// absurd amount of memory, threads or time (a model file stores sizes as 16-bit numbers).
pub(crate) fn check_loop_settings(c: &LoopSettings) -> Result<(), ConfigError> {
    check_int("latent_dim", R::LATENT_DIM, c.latent_dim as i128, "")?;
    if !c.relu {
        check_int("bases", R::BASES, c.bases as i128, BASES_NOTE)?;
    }
    check(
        c.bases as u64 <= R::BASES.hi,
        "bases",
        format!("<= {}", R::BASES.hi),
        c.bases,
    )?;
    check_int("seq_len", c.seq_len_range, c.seq_len as i128, "")?;
    check_int("threads", R::THREADS, c.threads as i128, THREADS_NOTE)?;
    check_int("epochs", R::EPOCHS, c.epochs as i128, "")?;
    if let Some(b) = c.time_budget_secs {
        check(
            b.is_finite() && b > 0.0 && b <= 1e8,
            "time_budget_secs",
            "in (0, 1e8] seconds",
            b,
        )?;
    }
    check_int("batch_size", R::BATCH, c.batch_size as i128, "")?;
    check(
        c.learning_rate.is_finite() && c.learning_rate > 0.0 && c.learning_rate <= 10.0,
        "learning_rate",
        "in (0, 10]",
        c.learning_rate,
    )?;
    check(
        c.lr_final_ratio.is_finite() && c.lr_final_ratio > 0.0 && c.lr_final_ratio <= 1.0,
        "lr_final_ratio",
        "in (0, 1]",
        c.lr_final_ratio,
    )?;
    check(
        c.grad_clip.is_finite() && c.grad_clip >= 0.0,
        "grad_clip",
        ">= 0",
        c.grad_clip,
    )
}
