//! Puts memory.x on the linker search path and adds the linker scripts (no rustflags needed),
//! and selects the embedded model (`PLRNN_MODEL`, `PLRNN_UNITS`; see `model_select.rs`).

use std::{env, fs, path::PathBuf};

#[path = "model_select.rs"]
mod model_select;

fn main() {
    let here = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    model_select::Selection::emit_for_build_script(&here);
    println!("cargo:rerun-if-changed=model_select.rs");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(out.join("memory.x"), include_bytes!("memory.x")).expect("writing memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    if env::var_os("CARGO_FEATURE_DEFMT").is_some() {
        println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
    }
}
