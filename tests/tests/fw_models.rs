//! The committed firmware models are exactly what `fw_models` generates, and their dynamics are
//! bounded but not trivial.

use plrnn_nostd::{DynGenerator, ModelBuf, Noise, ValidModel};
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

#[test]
fn deterministic_orbits_are_bounded_and_not_fixed_points() {
    for spec in ALL {
        let buf = ModelBuf::decode(&committed(spec.file)).unwrap();
        let valid = ValidModel::new(buf).unwrap();
        let mut gen = DynGenerator::new(valid.model_ref(), 0);
        let n = spec.dims.n;
        let mut x = vec![0.0f32; n];
        let mut tail = Vec::new();
        for t in 0..3000 {
            gen.step(&[], Noise::None, &mut x).unwrap();
            assert!(
                x.iter().all(|v| v.is_finite() && v.abs() < 1e3),
                "{} t={t}",
                spec.file
            );
            if t >= 2000 {
                tail.push(x[0]);
            }
        }
        let mean = tail.iter().sum::<f32>() / tail.len() as f32;
        let var = tail.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / tail.len() as f32;
        eprintln!("{}: tail mean {mean} std {}", spec.file, var.sqrt());
        assert!(
            var.sqrt() > 1e-2,
            "{}: orbit settles (std {})",
            spec.file,
            var.sqrt()
        );
    }
}
