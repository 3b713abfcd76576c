//! Selects the firmware's model for the host replay (`src/bin/fw_parity.rs`) exactly as the
//! firmware's build script does: the same file, `PLRNN_MODEL` and `PLRNN_UNITS`.

use std::path::PathBuf;

#[path = "../firmware-example/model_select.rs"]
mod model_select;

fn main() {
    let here = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    model_select::Selection::emit_for_build_script(&here.join("../firmware-example"));
    println!("cargo:rerun-if-changed=../firmware-example/model_select.rs");
    println!("cargo:rerun-if-changed=build.rs");
}
