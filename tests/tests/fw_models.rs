//! The committed firmware models: the generated stand-in is exactly what `fw_models` writes, the
//! trained one has the sizes the firmware's storage expects, and the dynamics of both are
//! bounded but not trivial.

use plrnn_nostd::{Dims, DynGenerator, ModelBuf, Noise, ValidModel, Variant};
use plrnn_tests::fw_models::{self, ALL};

fn committed(file: &str) -> Vec<u8> {
    let path = format!(
        "{}/../firmware-example/models/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

#[test]
fn committed_models_match_generator() {
    for spec in ALL {
        assert!(
            committed(spec.file) == fw_models::encode(spec),
            "firmware-example/models/{} differs from the generator: rerun \
             `cargo run -p plrnn-tests --bin fw_models -- firmware-example/models`",
            spec.file
        );
    }
}

/// The scenario's model, written by `plrnn train` (the commands are in
/// `firmware-example/README.md`), in the sizes the README, the size budgets and the instruction counts of `firmware-example` state.
const TRAINED: &str = "lorenz63-m20-p20.plrnn";

#[test]
fn trained_model_has_the_firmware_sizes() {
    let buf = ModelBuf::decode(&committed(TRAINED)).unwrap();
    assert_eq!(
        buf.dims(),
        Dims {
            m: 20,
            n: 3,
            p: 20,
            k: 1
        }
    );
    assert_eq!(buf.variant, Variant::Dendritic);
    assert!(buf.normalized, "trained on data: statistics attached");
    assert!(buf.c.iter().any(|&c| c != 0.0));
}

#[test]
fn deterministic_orbits_are_bounded_and_not_fixed_points() {
    for file in ALL.iter().map(|s| s.file).chain([TRAINED]) {
        let buf = ModelBuf::decode(&committed(file)).unwrap();
        let n = buf.dims.n;
        let valid = ValidModel::new(buf).unwrap();
        let mut gen = DynGenerator::new(valid.model_ref(), 0);
        let mut x = vec![0.0f32; n];
        let mut tail = Vec::new();
        for t in 0..3000 {
            gen.step(&[], Noise::None, &mut x).unwrap();
            assert!(
                x.iter().all(|v| v.is_finite() && v.abs() < 1e3),
                "{file} t={t}"
            );
            if t >= 2000 {
                tail.push(x[0]);
            }
        }
        let mean = tail.iter().sum::<f32>() / tail.len() as f32;
        let var = tail.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / tail.len() as f32;
        eprintln!("{file}: tail mean {mean} std {}", var.sqrt());
        assert!(
            var.sqrt() > 1e-2,
            "{file}: orbit settles (std {})",
            var.sqrt()
        );
    }
}
