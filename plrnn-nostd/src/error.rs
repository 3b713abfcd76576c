//! Typed errors: cheap, `Copy`, printable on the host and (with the `defmt` feature) on a device.

use core::fmt;

use crate::model::{Param, Variant};

/// Which dimension of a model a [`LoadError::DimensionMismatch`] or [`ShapeError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Dim {
    /// Latent size M.
    M,
    /// Observation size N.
    N,
    /// Number of basis functions P.
    P,
    /// External input size K.
    K,
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dim::M => "latent size M",
            Dim::N => "observation size N",
            Dim::P => "basis count P",
            Dim::K => "input size K",
        })
    }
}

/// Why a model file or a set of parameters was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum LoadError {
    /// The first four bytes are not `PLRN`.
    BadMagic {
        /// The four bytes found.
        found: [u8; 4],
    },
    /// The file's format version is not one this library reads.
    UnsupportedVersion {
        /// Version in the file.
        found: u16,
        /// Version this library reads.
        supported: u16,
    },
    /// The variant tag is not a known φ variant.
    UnknownVariant {
        /// The tag byte found.
        tag: u8,
    },
    /// The file holds another variant than the caller asked for.
    VariantMismatch {
        /// Variant asked for.
        expected: Variant,
        /// Variant in the file.
        found: Variant,
    },
    /// A header flag this version does not define is set.
    UnknownFlags {
        /// The flags byte found.
        flags: u8,
    },
    /// The file's model has other dimensions than the storage it is loaded into.
    DimensionMismatch {
        /// Which dimension.
        dim: Dim,
        /// Size of the storage.
        expected: usize,
        /// Size in the file.
        found: usize,
    },
    /// A dimension is zero where at least one is needed (M and N).
    ZeroDimension {
        /// Which dimension.
        dim: Dim,
    },
    /// The file is shorter than its header says it must be.
    Truncated {
        /// Length the header implies.
        expected: usize,
        /// Length given.
        found: usize,
    },
    /// The file is longer than its header says it must be.
    TrailingBytes {
        /// Length the header implies.
        expected: usize,
        /// Length given.
        found: usize,
    },
    /// The CRC-32 at the end does not match the bytes before it.
    ChecksumMismatch {
        /// CRC stored in the file.
        stored: u32,
        /// CRC computed over the file.
        computed: u32,
    },
    /// A parameter is NaN or infinite.
    NonFinite {
        /// Which parameter block.
        param: Param,
        /// Flat (row-major) index inside the block.
        index: usize,
    },
    /// A noise scale (σ_z, σ_x) or data standard deviation is zero or negative.
    NonPositiveScale {
        /// Which parameter block.
        param: Param,
        /// Index inside the block.
        index: usize,
    },
    /// W has a non-zero diagonal entry (the model defines W with a zero diagonal).
    NonZeroDiagonal {
        /// Row (= column) of the entry.
        index: usize,
    },
    /// The payload is not the postcard encoding the header announces.
    PayloadDecode,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LoadError::BadMagic { found } => {
                write!(f, "not a plrnn model file (magic bytes {found:02x?}, expected \"PLRN\")")
            }
            LoadError::UnsupportedVersion { found, supported } => write!(
                f,
                "model file format version {found} is not supported (this library reads version {supported})"
            ),
            LoadError::UnknownVariant { tag } => write!(f, "unknown model variant tag {tag}"),
            LoadError::VariantMismatch { expected, found } => {
                write!(f, "model variant is {found}, expected {expected}")
            }
            LoadError::UnknownFlags { flags } => write!(f, "unknown header flags {flags:#04x}"),
            LoadError::DimensionMismatch {
                dim,
                expected,
                found,
            } => write!(f, "{dim} is {found} in the file, expected {expected}"),
            LoadError::ZeroDimension { dim } => write!(f, "{dim} must be at least 1"),
            LoadError::Truncated { expected, found } => write!(
                f,
                "model file is truncated: {found} bytes, the header implies {expected}"
            ),
            LoadError::TrailingBytes { expected, found } => write!(
                f,
                "model file has trailing bytes: {found} bytes, the header implies {expected}"
            ),
            LoadError::ChecksumMismatch { stored, computed } => write!(
                f,
                "model file checksum mismatch (stored {stored:#010x}, computed {computed:#010x}): the file is corrupt"
            ),
            LoadError::NonFinite { param, index } => {
                write!(f, "parameter {param}[{index}] is not finite")
            }
            LoadError::NonPositiveScale { param, index } => {
                write!(f, "scale {param}[{index}] must be > 0")
            }
            LoadError::NonZeroDiagonal { index } => {
                write!(f, "W[{index},{index}] must be zero (W has a zero diagonal)")
            }
            LoadError::PayloadDecode => f.write_str("model payload is not valid postcard data"),
        }
    }
}

impl core::error::Error for LoadError {}

/// A caller's buffer has the wrong length for the model (slice-based entry points only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ShapeError {
    /// Which dimension the buffer should have.
    pub dim: Dim,
    /// Length the model needs.
    pub expected: usize,
    /// Length given.
    pub found: usize,
}

impl ShapeError {
    /// `Ok` when a buffer for `dim` has the `expected` length, else the error naming both.
    pub(crate) fn check(dim: Dim, expected: usize, found: usize) -> Result<(), Self> {
        if expected == found {
            Ok(())
        } else {
            Err(Self {
                dim,
                expected,
                found,
            })
        }
    }
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "buffer for {} has length {}, expected {}",
            self.dim, self.found, self.expected
        )
    }
}

impl core::error::Error for ShapeError {}

/// The output buffer is too small for the encoded model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BufferTooSmall {
    /// Bytes needed.
    pub needed: usize,
    /// Bytes available.
    pub available: usize,
}

impl fmt::Display for BufferTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "buffer of {} bytes is too small for the encoded model ({} bytes)",
            self.available, self.needed
        )
    }
}

impl core::error::Error for BufferTooSmall {}
