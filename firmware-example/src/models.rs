//! The embedded model files and the compile-time sizes they are loaded into. Shared with the
//! host replay (`tests/src/bin/fw_parity.rs` includes this file).
//!
//! To switch to a trained model, replace the file under `models/` (same sizes) or add a module
//! here with the new sizes and select it in `main.rs`.

/// The Lorenz-63-sized model: M = 20 latent units, N = 3 observations, P = 20 bases, K = 1 input.
pub mod lorenz63 {
    /// Storage type for this model.
    pub type Model = plrnn_nostd::Model<20, 3, 20, 1>;
    /// Name printed in the output.
    pub const NAME: &str = "lorenz63-m20-p20";
    /// The model file (format v1, see plrnn-nostd).
    pub static FILE: &[u8] = include_bytes!("../models/lorenz63-m20-p20.plrnn");
}

/// The larger model for instruction counts: M = 50, N = 10, P = 30, K = 1.
pub mod large {
    /// Storage type for this model.
    pub type Model = plrnn_nostd::Model<50, 10, 30, 1>;
    /// Name printed in the output.
    pub const NAME: &str = "m50-n10-p30";
    /// The model file (format v1, see plrnn-nostd).
    pub static FILE: &[u8] = include_bytes!("../models/m50-n10-p30.plrnn");
}
