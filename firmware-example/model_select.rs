//! Build-time model selection, shared by the firmware's build script (`build.rs`) and the host
//! replay's (`tests/build.rs`, which includes this file with `#[path]`), so the device and the
//! host always embed the same model file in the same sizes and print in the same units.
//!
//! Environment, read at build time:
//! - `PLRNN_MODEL`: the model file to embed (a relative path is taken from `firmware-example/`).
//!   Unset or empty: the committed `models/lorenz63-m20-p20.plrnn`.
//! - `PLRNN_UNITS`: `model` (default; what the generator computes: for a model trained on
//!   z-scored data, z-scores) or `data` (mapped back with the training data's mean and standard
//!   deviation stored in the file, `Model::to_data_units`).
//!
//! The file is read and checked here with plrnn-nostd's own decoder (header, length, CRC,
//! values), so a bad file fails the build with a message naming it, and its header's sizes
//! become the const generics of `plrnn_nostd::Model<M, N, P, K>`: any model file runs without a
//! source edit. The generated Rust is `$OUT_DIR/selected_model.rs`, included by
//! `src/models.rs` as the module `models::selected`.

use std::path::{Path, PathBuf};

/// The environment variable naming the model file.
pub const MODEL_VAR: &str = "PLRNN_MODEL";
/// The environment variable choosing the printed units.
pub const UNITS_VAR: &str = "PLRNN_UNITS";
/// The committed model, relative to `firmware-example/`.
pub const DEFAULT_MODEL: &str = "models/lorenz63-m20-p20.plrnn";
/// Longest model name printed (the firmware's output lines have a fixed capacity).
const MAX_NAME: usize = 64;
/// Largest N whose observation line (`  t=999 x` and N hex words) fits the 192-byte line.
const MAX_PRINTED_N: usize = 20;

/// What was selected.
pub struct Selection {
    /// Absolute path of the model file.
    pub path: PathBuf,
    /// Name printed by the scenario (the file stem, restricted to `[A-Za-z0-9._-]`).
    pub name: String,
    /// The file's sizes.
    pub dims: plrnn_nostd::Dims,
    /// Print observations in data units.
    pub data_units: bool,
}

/// Reads the environment, checks the model file and returns the selection, or a message naming
/// the variable, the file and the problem. `fw_dir` is the `firmware-example/` folder.
pub fn select(fw_dir: &Path) -> Result<Selection, String> {
    let var = std::env::var_os(MODEL_VAR).filter(|v| !v.is_empty());
    let given = var.is_some();
    let rel = var.map_or_else(|| PathBuf::from(DEFAULT_MODEL), PathBuf::from);
    let path = fw_dir.join(&rel);
    let shown = if given {
        format!("{MODEL_VAR}={}", rel.display())
    } else {
        format!("the default model {}", path.display())
    };
    let bytes = std::fs::read(&path)
        .map_err(|e| format!("{shown}: cannot read {}: {e}", path.display()))?;
    let buf = plrnn_nostd::ModelBuf::decode(&bytes)
        .map_err(|e| format!("{shown}: not a valid model file ({}): {e}", path.display()))?;
    let dims = buf.dims();
    let data_units = match std::env::var(UNITS_VAR).as_deref() {
        Err(std::env::VarError::NotPresent) | Ok("") | Ok("model") => false,
        Ok("data") => true,
        Ok(other) => {
            return Err(format!(
                "{UNITS_VAR}={other}: expected `model` or `data` (the units the firmware prints)"
            ))
        }
        Err(std::env::VarError::NotUnicode(v)) => {
            return Err(format!(
                "{UNITS_VAR}={v:?}: expected `model` or `data` (the units the firmware prints)"
            ))
        }
    };
    if data_units && !buf.normalized {
        return Err(format!(
            "{UNITS_VAR}=data: {shown} carries no data statistics (not trained on z-scored \
             data), so its model units are its data units; unset {UNITS_VAR}"
        ));
    }
    let path = path
        .canonicalize()
        .map_err(|e| format!("{shown}: cannot resolve {}: {e}", path.display()))?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(MAX_NAME)
        .collect();
    if name.is_empty() {
        name.push_str("model");
    }
    Ok(Selection {
        path,
        name,
        dims,
        data_units,
    })
}

impl Selection {
    /// Warnings worth showing at build time (the build still succeeds).
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.dims.n > MAX_PRINTED_N {
            w.push(format!(
                "{}: N = {} observations; the scenario prints only the first {MAX_PRINTED_N} of \
                 each reported step (the checksums cover all)",
                self.path.display(),
                self.dims.n
            ));
        }
        w
    }

    /// The generated module body: the storage type, sizes, name, file and units.
    pub fn rust(&self) -> Result<String, String> {
        let path = self
            .path
            .to_str()
            .ok_or_else(|| format!("{}: path is not UTF-8", self.path.display()))?;
        let plrnn_nostd::Dims { m, n, p, k } = self.dims;
        Ok(format!(
            "// Generated by firmware-example/model_select.rs from {path:?}.\n\
             /// Latent units.\n\
             pub const M: usize = {m};\n\
             /// Observations.\n\
             pub const N: usize = {n};\n\
             /// Bases per unit.\n\
             pub const P: usize = {p};\n\
             /// Input channels.\n\
             pub const K: usize = {k};\n\
             /// Storage type for this model.\n\
             pub type Model = plrnn_nostd::Model<{m}, {n}, {p}, {k}>;\n\
             /// Name printed in the output.\n\
             pub const NAME: &str = {name:?};\n\
             /// The model file (format v1, see plrnn-nostd).\n\
             pub static FILE: &[u8] = include_bytes!({path:?});\n\
             /// Print observations in data units (`Model::to_data_units`) instead of model units.\n\
             pub const DATA_UNITS: bool = {data_units};\n",
            name = self.name,
            data_units = self.data_units,
        ))
    }

    /// Runs the selection for a build script: writes `$OUT_DIR/selected_model.rs`, prints the
    /// `cargo:` directives, and on a bad selection prints the message and exits with status 2.
    pub fn emit_for_build_script(fw_dir: &Path) {
        println!("cargo:rerun-if-env-changed={MODEL_VAR}");
        println!("cargo:rerun-if-env-changed={UNITS_VAR}");
        let sel = select(fw_dir).and_then(|s| s.rust().map(|r| (s, r)));
        let (sel, rust) = match sel {
            Ok(v) => v,
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(2);
            }
        };
        println!("cargo:rerun-if-changed={}", sel.path.display());
        for w in sel.warnings() {
            println!("cargo:warning={w}");
        }
        let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
        std::fs::write(out.join("selected_model.rs"), rust).expect("writing selected_model.rs");
    }
}
