//! Writes the stand-in model of `firmware-example/models/` (see `plrnn_tests::fw_models`; the
//! scenario's M = 20 model is trained, see `firmware-example/README.md`).
//!
//! Usage: `cargo run -p plrnn-tests --bin fw_models -- firmware-example/models`

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "firmware-example/models".into()),
    );
    for spec in plrnn_tests::fw_models::ALL {
        let bytes = plrnn_tests::fw_models::encode(spec);
        let path = dir.join(spec.file);
        std::fs::write(&path, &bytes).map_err(|e| format!("writing {}: {e}", path.display()))?;
        println!("{} ({} bytes)", path.display(), bytes.len());
    }
    Ok(())
}
