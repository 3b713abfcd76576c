//! The embedded model files and the compile-time sizes they are loaded into. Shared with the
//! host replay (`tests/src/bin/fw_parity.rs` includes this file).

/// The model the firmware runs, chosen at build time: the file named by the environment
/// variable `PLRNN_MODEL` (relative paths from `firmware-example/`), else the committed
/// `models/lorenz63-m20-p20.plrnn` (M = 20, N = 3, P = 20, K = 1). Its sizes come from the file's
/// header (checked by the build script, `model_select.rs`), so any model file runs without a
/// source edit. `PLRNN_UNITS=data` makes the scenario print data units ([`selected::DATA_UNITS`]).
pub mod selected {
    include!(concat!(env!("OUT_DIR"), "/selected_model.rs"));
}

/// The larger model for instruction counts: M = 50, N = 10, P = 30, K = 1.
pub mod large {
    /// Storage type for this model.
    pub type Model = plrnn_nostd::Model<50, 10, 30, 1>;
    /// Name printed in the output.
    pub const NAME: &str = "m50-n10-p30";
    /// The model file (format v1, see plrnn-nostd).
    pub static FILE: &[u8] = include_bytes!("../models/m50-n10-p30.plrnn");
    /// Always model units: this generated model carries no data statistics.
    pub const DATA_UNITS: bool = false;
}
