//! Cross-crate test support.
#![deny(missing_docs)]

pub mod fw_models;
