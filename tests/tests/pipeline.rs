//! Cross-crate: simulate -> train -> export -> load on the fixed-size device type -> generate,
//! bit for bit against the host; a long free run of a trained model.

use plrnn_nostd::{DynGenerator, Generator, Model, Noise, ValidModel, Variant};
use plrnn_train::data::{Dataset, Normalization};
use plrnn_train::simulate::{simulate, SimOptions, System};
use plrnn_train::train_loop::Hooks;
use plrnn_train::vi::{self, TrainConfig, TrainedModel};
use plrnn_train::TimeSeries;

fn lorenz(steps: usize, seed: u64) -> TimeSeries {
    simulate(
        &System::lorenz63(),
        &SimOptions {
            steps,
            dt: 0.01,
            seed,
            ..SimOptions::default()
        },
    )
    .unwrap()
}

fn small_config(variant: Variant, m: usize, p: usize) -> TrainConfig {
    TrainConfig {
        latent_dim: m,
        bases: p,
        variant,
        epochs: 3,
        seq_len: 200,
        eval_every: 0,
        seed: 5,
        ..TrainConfig::default()
    }
}

fn train_small(variant: Variant, m: usize, p: usize) -> (TrainedModel, Normalization) {
    let data = Dataset::from_series(lorenz(4000, 1), "l63").unwrap();
    let norm = Normalization::fit(&data);
    let data = data.normalized(&norm).unwrap();
    let cfg = small_config(variant, m, p).validate().unwrap();
    let out = vi::train(data.trials(), &cfg, &mut Hooks::default()).unwrap();
    (out.model, norm)
}

#[test]
fn trained_model_runs_identically_on_device_type_and_host() {
    let (trained, norm) = train_small(Variant::ClippedDendritic, 6, 4);
    let mut buf = trained.to_model_buf();
    buf.normalized = true;
    buf.data_mean = norm.mean.iter().map(|&v| v as f32).collect();
    buf.data_std = norm.std.iter().map(|&v| v as f32).collect();
    let bytes = ValidModel::new(buf).unwrap().encode();

    // The device's path: fixed sizes, static-style storage.
    let mut device = Box::new(Model::<6, 3, 4, 0>::new_zeroed());
    device.decode_into(&bytes).unwrap();
    assert_eq!(device.variant(), Variant::ClippedDendritic);
    // The host's path: run-time sizes.
    let host = ValidModel::decode(&bytes).unwrap();

    let z0: [f32; 6] = std::array::from_fn(|i| 0.1 * i as f32);
    for noise in [Noise::None, Noise::Process, Noise::Full] {
        let mut g = Generator::with_state(&device, z0, 42);
        let mut h = DynGenerator::new(host.model_ref(), 42);
        h.set_state(&z0).unwrap();
        let (mut x, mut y) = ([0.0f32; 3], [0.0f32; 3]);
        for _ in 0..2000 {
            g.step(&[], noise, &mut x);
            h.step(&[], noise, &mut y).unwrap();
            assert_eq!(
                x.map(f32::to_bits),
                [y[0].to_bits(), y[1].to_bits(), y[2].to_bits()]
            );
        }
    }
    // The exported f32 model follows the trainer's f64 model up to f32 rounding.
    let mut z = z0.map(f64::from).to_vec();
    let mut zf = z0;
    for _ in 0..20 {
        z = trained.step(&z, &[]);
        let mut next = [0.0f32; 6];
        device.latent_step(&zf, &[], &mut next);
        zf = next;
    }
    for (a, b) in z.iter().zip(zf) {
        assert!((a - b as f64).abs() < 1e-3 * (1.0 + a.abs()), "{a} vs {b}");
    }
}

#[test]
fn trained_clipped_model_free_runs_ten_million_steps() {
    let (trained, _) = train_small(Variant::ClippedDendritic, 8, 4);
    let bytes = ValidModel::new(trained.to_model_buf()).unwrap().encode();
    let mut model = Box::new(Model::<8, 3, 4, 0>::new_zeroed());
    model.decode_into(&bytes).unwrap();
    let bound = model.clipped_bound(0.0);
    let z0 = [0.5f32; 8];
    let mut g = Generator::with_state(&model, z0, 7);
    let mut x = [0.0f32; 3];
    let mut max_abs = [0.0f32; 8];
    for _ in 0..10_000_000u32 {
        g.step(&[], Noise::None, &mut x);
        for (m, v) in max_abs.iter_mut().zip(g.state()) {
            *m = m.max(v.abs());
        }
    }
    assert!(x.iter().all(|v| v.is_finite()));
    assert!(max_abs.iter().all(|v| v.is_finite()), "{max_abs:?}");
    // The trainer's seeded result has every |A_ii| < 1, so the documented bound applies.
    let r = bound.expect("trained clipped model with max |A_ii| < 1");
    for i in 0..8 {
        let lim = r[i].max(z0[i].abs());
        assert!(
            max_abs[i] <= lim * (1.0 + 1e-5) + 1e-6,
            "unit {i}: {} > {lim}",
            max_abs[i]
        );
    }
}
