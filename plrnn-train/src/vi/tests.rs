//! Tests of the trainer: gradients against finite differences for every block of every variant
//! and encoder, the loss against an independent evaluation, reproducibility across thread
//! counts, and bit-exact resume from a checkpoint.

use std::sync::atomic::{AtomicBool, Ordering};

use rand::RngExt;
use rand_distr::StandardNormal;
use rand_xoshiro::rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::elbo::{loss_grad, loss_grad_with, Kernel, LossSettings, SeqRef, Workspace};
use super::encoder::EncView;
use super::params::Layout;
use super::*;
use plrnn_nostd::Variant;

use crate::core::Forcing;
use crate::train_loop::{Hooks, Progress, TrainError};
use crate::TimeSeries;

fn normals(rng: &mut Xoshiro256PlusPlus, len: usize, scale: f64) -> Vec<f64> {
    (0..len)
        .map(|_| scale * rng.sample::<f64, _>(StandardNormal))
        .collect()
}

struct Case {
    /// The settings the layout was made from (M, P, variant, encoder, initial state).
    cfg: ValidConfig,
    layout: Layout,
    params: Vec<f64>,
    x: Vec<f64>,
    s: Vec<f64>,
    eps: Vec<f64>,
    set: LossSettings,
}

fn case(variant: Variant, encoder: EncoderKind, initial: InitialState, seed: u64) -> Case {
    case_sized(variant, encoder, initial, seed, (3, 2, 7))
}

/// The teacher-forcing tests' case: dendritic, smoothing encoder, initial state from the
/// encoder, with M latent units, P bases and T steps.
fn tf_case(seed: u64, size: (usize, usize, usize)) -> Case {
    case_sized(
        Variant::Dendritic,
        EncoderKind::Smoothing,
        InitialState::Encoder,
        seed,
        size,
    )
}

/// A case with M latent units, P bases and T steps.
fn case_sized(
    variant: Variant,
    encoder: EncoderKind,
    initial: InitialState,
    seed: u64,
    (m, p, t): (usize, usize, usize),
) -> Case {
    let cfg = TrainConfig {
        latent_dim: m,
        bases: p,
        variant,
        encoder,
        encoder_hidden: 3,
        encoder_window: 1,
        initial_state: initial,
        ..TrainConfig::default()
    }
    .validate()
    .unwrap();
    let (n, k) = (2, 1);
    let layout = Layout::new(&cfg, n, k, 2);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut params = normals(&mut rng, layout.len, 0.5);
    for i in 0..layout.core.m {
        params[layout.core.w.start + i * layout.core.m + i] = 0.0;
    }
    let x = normals(&mut rng, t * n, 1.0);
    let s = normals(&mut rng, t * k, 1.0);
    let eps = normals(&mut rng, t * layout.core.m, 1.0);
    let set = LossSettings {
        obs_weight: 0.3,
        sigma_z_min: if seed.is_multiple_of(2) { 0.0 } else { 0.1 },
        initial_state: initial,
    };
    Case {
        cfg,
        layout,
        params,
        x,
        s,
        eps,
        set,
    }
}

fn eval(c: &Case, params: &[f64], grad: &mut [f64]) -> f64 {
    let seq = SeqRef {
        x: &c.x,
        s: &c.s,
        z0_index: 1,
    };
    loss_grad(
        &c.layout,
        params,
        seq,
        &c.eps,
        c.set,
        &mut Workspace::default(),
        grad,
    )
}

/// Checks the analytic gradient `g` of case `c` at flat index `idx` against the central
/// difference with step 1e-6 (tolerance 1e-6 + 1e-5·max(|fd|, |g|)); on the W diagonal, which
/// is masked, `g` must be exactly 0 and no difference is taken. Returns whether one was.
/// `label` names the case and index in a failure message.
fn check_fd(
    c: &Case,
    g: &[f64],
    idx: usize,
    scratch: &mut [f64],
    label: impl Fn() -> String,
) -> bool {
    let l = &c.layout;
    let is_w_diag = l.core.w.contains(&idx) && {
        let q = idx - l.core.w.start;
        q / l.core.m == q % l.core.m
    };
    if is_w_diag {
        assert_eq!(
            g[idx],
            0.0,
            "{}: W diagonal gradient must be masked",
            label()
        );
        return false;
    }
    let step = 1e-6;
    let mut pp = c.params.clone();
    pp[idx] += step;
    let up = eval(c, &pp, scratch);
    pp[idx] -= 2.0 * step;
    let down = eval(c, &pp, scratch);
    let fd = (up - down) / (2.0 * step);
    let tol = 1e-6 + 1e-5 * fd.abs().max(g[idx].abs());
    assert!(
        (fd - g[idx]).abs() <= tol,
        "{}: analytic {} fd {fd}",
        label(),
        g[idx]
    );
    true
}

#[test]
fn gradients_match_finite_differences_for_every_block() {
    let variants = [Variant::Relu, Variant::Dendritic, Variant::ClippedDendritic];
    let encoders = [EncoderKind::Smoothing, EncoderKind::Mlp];
    let initials = [InitialState::PerSequence, InitialState::Encoder];
    let mut seed = 0;
    for v in variants {
        for e in encoders {
            for init in initials {
                for _ in 0..2 {
                    seed += 1;
                    let c = case(v, e, init, seed);
                    let l = &c.layout;
                    let mut g = vec![0.0; l.len];
                    eval(&c, &c.params, &mut g);
                    let mut scratch = vec![0.0; l.len];
                    let mut checked = 0;
                    for (name, range) in l.blocks() {
                        let start = range.start;
                        for idx in range {
                            let label = || {
                                format!(
                                    "{v:?} {e:?} {init:?} seed {seed}: block {name} index {}",
                                    idx - start
                                )
                            };
                            if check_fd(&c, &g, idx, &mut scratch, label) {
                                checked += 1;
                            }
                        }
                    }
                    // Every block that exists for this configuration was visited.
                    assert!(checked > 30, "{checked}");
                }
            }
        }
    }
}

/// The kernel's other code paths: M > 32 (several tiles of lanes), M not a multiple of 4, and
/// P > 32 (binary search for the buckets instead of counting), T beyond one block. A sample of
/// every block.
#[test]
fn gradients_match_finite_differences_for_wide_models() {
    let mut seed = 100;
    for (v, e, size) in [
        (Variant::Dendritic, EncoderKind::Smoothing, (37, 3, 6)),
        (
            Variant::ClippedDendritic,
            EncoderKind::Smoothing,
            (5, 40, 6),
        ),
        (Variant::Dendritic, EncoderKind::Mlp, (9, 33, 6)),
        (Variant::Relu, EncoderKind::Mlp, (34, 2, 6)),
        // T = 150: across the blocks of the transition (32 steps) and the encoder sums (64).
        (
            Variant::ClippedDendritic,
            EncoderKind::Smoothing,
            (6, 5, 150),
        ),
    ] {
        seed += 1;
        let mut c = case_sized(v, e, InitialState::PerSequence, seed, size);
        let l = &c.layout;
        // W of N(0, 0.5²) entries has spectral radius ≈ 0.5 √M: scale it as for M = 3, or the
        // loss grows so large (≈ 1e6) that the central difference loses its digits.
        for w in &mut c.params[l.core.w.clone()] {
            *w *= (3.0 / l.core.m as f64).sqrt();
        }
        // Unit noise scales likewise keep the loss (and so the difference's rounding) moderate.
        for r in [
            l.log_sigma_z.clone(),
            l.log_sigma_x.clone(),
            l.log_sigma_z0.clone(),
        ] {
            c.params[r].iter_mut().for_each(|v| *v = 0.0);
        }
        let c = c;
        let l = &c.layout;
        let mut g = vec![0.0; l.len];
        // (Relu at M = 34 with the Smoothing encoder and this seed had a loss of 1.5e6, where
        // the central difference keeps only ~4 digits; hence the MLP encoder there.)
        eval(&c, &c.params, &mut g);
        let mut scratch = vec![0.0; l.len];
        for (name, range) in l.blocks() {
            for idx in range.step_by(7) {
                let label = || format!("{v:?} {e:?} {size:?}: block {name} flat index {idx}");
                check_fd(&c, &g, idx, &mut scratch, label);
            }
        }
    }
}

/// Every copy of the kernel runs on a thread with the usual 2 MiB stack at the bench's size and
/// beyond (M = 20 and 32 latents, P = 20, T = 1000, both encoders), and gives the bits it gives
/// on the test's own thread. The case this guards is the unoptimised build (a debug build of a
/// crate that uses this one), where forced inlining once made the kernel's frame ≈ 1.4 MB;
/// `cargo test` optimises, so run it unoptimised with
/// `CARGO_PROFILE_TEST_OPT_LEVEL=0 cargo test -p plrnn-train --lib two_mib`.
#[test]
fn every_kernel_runs_on_a_two_mib_stack() {
    let kernels = Kernel::available();
    for (v, e, size) in [
        (Variant::Dendritic, EncoderKind::Smoothing, (20, 20, 1000)),
        (Variant::ClippedDendritic, EncoderKind::Mlp, (32, 20, 1000)),
    ] {
        let run = move |k: Kernel| {
            let c = case_sized(v, e, InitialState::PerSequence, 3, size);
            let seq = SeqRef {
                x: &c.x,
                s: &c.s,
                z0_index: 1,
            };
            let mut g = vec![0.0; c.layout.len];
            let mut ws = Workspace::default();
            let loss = loss_grad_with(k, &c.layout, &c.params, seq, &c.eps, c.set, &mut ws, &mut g);
            (
                loss.to_bits(),
                g.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            )
        };
        for &k in &kernels {
            let on_small_stack = std::thread::Builder::new()
                .stack_size(2 << 20)
                .spawn(move || run(k))
                .unwrap()
                .join()
                .unwrap();
            assert!(f64::from_bits(on_small_stack.0).is_finite());
            assert!(on_small_stack == run(k), "{k:?} {v:?} {e:?} {size:?}");
        }
    }
}

/// Every copy of the kernel this CPU runs (portable, AVX2, AVX-512) gives the portable copy's
/// bits. T = 150 crosses the blocks of the transition (32 steps) and of the encoder sums (64).
#[test]
fn vector_and_portable_kernels_agree_bit_for_bit() {
    let kernels = Kernel::available();
    eprintln!("kernels compared: {kernels:?}");
    for (v, e, size) in [
        (Variant::Dendritic, EncoderKind::Smoothing, (20, 20, 150)),
        (Variant::ClippedDendritic, EncoderKind::Mlp, (7, 3, 20)),
        (Variant::Relu, EncoderKind::Smoothing, (37, 2, 20)),
        (Variant::Dendritic, EncoderKind::Smoothing, (6, 40, 20)),
        (
            Variant::ClippedDendritic,
            EncoderKind::Smoothing,
            (3, 5, 67),
        ),
    ] {
        let c = case_sized(v, e, InitialState::PerSequence, 5, size);
        let seq = SeqRef {
            x: &c.x,
            s: &c.s,
            z0_index: 1,
        };
        let mut ws = Workspace::default();
        let mut reference = vec![0.0; c.layout.len];
        let want = loss_grad_with(
            Kernel::Portable,
            &c.layout,
            &c.params,
            seq,
            &c.eps,
            c.set,
            &mut ws,
            &mut reference,
        );
        for &k in &kernels {
            let mut g = vec![0.0; c.layout.len];
            let got = loss_grad_with(k, &c.layout, &c.params, seq, &c.eps, c.set, &mut ws, &mut g);
            assert_eq!(got.to_bits(), want.to_bits(), "{k:?} {v:?} {e:?} {size:?}");
            assert!(
                g.iter()
                    .zip(&reference)
                    .all(|(x, y)| x.to_bits() == y.to_bits()),
                "{k:?} {v:?} {e:?} {size:?}"
            );
        }
    }
}

#[test]
fn loss_matches_an_independent_evaluation() {
    for (v, size) in [
        (Variant::Relu, (3, 2, 7)),
        (Variant::Dendritic, (3, 2, 7)),
        (Variant::ClippedDendritic, (3, 2, 7)),
        (Variant::Relu, (34, 2, 6)),
        (Variant::Dendritic, (37, 40, 6)),
        (Variant::ClippedDendritic, (6, 33, 6)),
        (Variant::Dendritic, (5, 4, 150)),
    ] {
        let c = case_sized(v, EncoderKind::Mlp, InitialState::PerSequence, 4, size);
        let l = &c.layout;
        let mut g = vec![0.0; l.len];
        let loss = eval(&c, &c.params, &mut g);

        let model = TrainedModel::from_flat(l, &c.params, c.set.sigma_z_min);
        let (m, n, t) = (l.core.m, l.n, c.x.len() / l.n);
        let mut mu = vec![0.0; t * m];
        let mut ls = vec![0.0; t * m];
        EncView::from_flat(l, &c.params).forward(
            &c.x,
            &mut mu,
            &mut ls,
            &mut vec![0.0; t * n],
            &mut vec![0.0; t * l.hidden],
        );
        let z: Vec<Vec<f64>> = (0..t)
            .map(|s| {
                (0..m)
                    .map(|i| mu[s * m + i] + ls[s * m + i].exp() * c.eps[s * m + i])
                    .collect()
            })
            .collect();
        let entropy: f64 = ls.iter().sum();
        let sz0: Vec<f64> = c.params[l.log_sigma_z0.clone()]
            .iter()
            .map(|v| v.exp())
            .collect();
        let z0 = &c.params[l.z0.start + m..l.z0.start + 2 * m];
        let mut lat = 0.0;
        for i in 0..m {
            lat += -0.5 * ((z[0][i] - z0[i]) / sz0[i]).powi(2) - sz0[i].ln();
        }
        for s in 1..t {
            let f = model.step(&z[s - 1], &c.s[s..s + 1]);
            for i in 0..m {
                lat += -0.5 * ((z[s][i] - f[i]) / model.sigma_z[i]).powi(2) - model.sigma_z[i].ln();
            }
        }
        let mut obs = 0.0;
        for s in 0..t {
            let xh = model.observe(&z[s]);
            for j in 0..n {
                obs += -0.5 * ((c.x[s * n + j] - xh[j]) / model.sigma_x[j]).powi(2)
                    - model.sigma_x[j].ln();
            }
        }
        let a = c.set.obs_weight;
        let want = (-(1.0 - a) * (entropy + lat) - a * obs) / t as f64;
        assert!(
            (loss - want).abs() < 1e-10 * want.abs().max(1.0),
            "{v:?}: {loss} vs {want}"
        );
    }
}

#[test]
fn jacobian_matches_finite_differences() {
    let c = case(
        Variant::ClippedDendritic,
        EncoderKind::Smoothing,
        InitialState::PerSequence,
        6,
    );
    let model = TrainedModel::from_flat(&c.layout, &c.params, 0.0);
    let z = [0.3, -0.7, 1.1];
    let j = model.jacobian(&z);
    for col in 0..3 {
        let mut zp = z;
        let mut zm = z;
        zp[col] += 1e-6;
        zm[col] -= 1e-6;
        let (fp, fm) = (model.step(&zp, &[0.0]), model.step(&zm, &[0.0]));
        for row in 0..3 {
            let fd = (fp[row] - fm[row]) / 2e-6;
            assert!((fd - j[row * 3 + col]).abs() < 1e-6);
        }
    }
}

/// A short noisy oscillation, two trials.
fn toy_trials() -> Vec<TimeSeries> {
    (0..2)
        .map(|tr| {
            let rows: Vec<[f64; 2]> = (0..120)
                .map(|t| {
                    let ph = 0.2 * t as f64 + tr as f64;
                    [ph.sin(), ph.cos() + 0.1 * (3.0 * ph).sin()]
                })
                .collect();
            TimeSeries::from_rows(&rows).unwrap()
        })
        .collect()
}

fn toy_config(threads: usize) -> ValidConfig {
    toy_config_with(threads, Objective::Elbo)
}

fn toy_config_with(threads: usize, objective: Objective) -> ValidConfig {
    TrainConfig {
        objective,
        tf_interval: 4,
        latent_dim: 4,
        bases: 3,
        encoder: EncoderKind::Mlp,
        encoder_hidden: 4,
        seq_len: 30,
        batch_size: 3,
        epochs: 6,
        eval_every: 2,
        threads,
        seed: 11,
        ..TrainConfig::default()
    }
    .validate()
    .unwrap()
}

#[test]
fn same_seed_same_model_on_one_and_two_threads() {
    let data = toy_trials();
    // The teacher-forcing objective too, and it trains a different model.
    let a = train(
        &data,
        &toy_config_with(1, Objective::ElboTf),
        &mut Hooks::default(),
    )
    .unwrap();
    let b = train(
        &data,
        &toy_config_with(2, Objective::ElboTf),
        &mut Hooks::default(),
    )
    .unwrap();
    assert_eq!(a.checkpoint.params, b.checkpoint.params);
    let elbo_only = train(&data, &toy_config(1), &mut Hooks::default()).unwrap();
    assert_ne!(a.checkpoint.params, elbo_only.checkpoint.params);
    let a = train(&data, &toy_config(1), &mut Hooks::default()).unwrap();
    let b = train(&data, &toy_config(2), &mut Hooks::default()).unwrap();
    assert_eq!(a.checkpoint.params, b.checkpoint.params);
    assert_eq!(a.model, b.model);
    assert_eq!(a.updates, 6 * 3); // 8 sequences, batches of 3
                                  // Training moved the parameters and kept W's diagonal at zero.
    let m = a.model.m;
    assert!((0..m).all(|i| a.model.w[i * m + i] == 0.0));
    let c = train(
        &data,
        &TrainConfig {
            seed: 12,
            ..toy_config(1).get().clone()
        }
        .validate()
        .unwrap(),
        &mut Hooks::default(),
    )
    .unwrap();
    assert_ne!(a.checkpoint.params, c.checkpoint.params);
}

#[test]
fn training_lowers_the_loss() {
    let data = toy_trials();
    let cfg = TrainConfig {
        epochs: 40,
        learning_rate: 1e-2,
        ..toy_config(1).get().clone()
    }
    .validate()
    .unwrap();
    let mut losses = Vec::new();
    let mut hooks = Hooks {
        on_progress: Some(Box::new(|p: &Progress| losses.push(p.loss))),
        ..Hooks::default()
    };
    train(&data, &cfg, &mut hooks).unwrap();
    drop(hooks);
    assert_eq!(losses.len(), 40);
    assert!(
        losses[39] < losses[0] - 0.1,
        "{} -> {}",
        losses[0],
        losses[39]
    );
}

#[test]
fn interrupted_and_resumed_run_equals_uninterrupted_run() {
    for objective in [Objective::Elbo, Objective::ElboTf] {
        interrupted_and_resumed_run_equals_uninterrupted_run_for(objective);
    }
}

fn interrupted_and_resumed_run_equals_uninterrupted_run_for(objective: Objective) {
    let data = toy_trials();
    let cfg = toy_config_with(2, objective);
    let mut evals = 0;
    let mut full_hooks = Hooks {
        evaluator: Some(Box::new(|m: &TrainedModel| {
            evals += 1;
            Some(m.a.iter().map(|a| (a - 0.5).abs()).sum())
        })),
        ..Hooks::default()
    };
    let full = train(&data, &cfg, &mut full_hooks).unwrap();
    drop(full_hooks);
    assert_eq!(evals, 3);
    assert!(full.best.is_some());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ckpt.json");
    let stop = AtomicBool::new(false);
    let mut hooks = Hooks {
        // Stop mid-run: after epoch 3 plus one update of epoch 4 (the flag is read after
        // every update).
        on_progress: Some(Box::new(|p: &Progress| {
            if p.epoch == 3 {
                stop.store(true, Ordering::SeqCst)
            }
        })),
        evaluator: Some(Box::new(|m: &TrainedModel| {
            Some(m.a.iter().map(|a| (a - 0.5).abs()).sum())
        })),
        stop: Some(&stop),
        checkpoint: Some(&path),
    };
    let part = train(&data, &cfg, &mut hooks).unwrap();
    assert!(part.stopped);
    assert_eq!(part.epochs_done, 3);
    let ckpt = Checkpoint::load(&path).unwrap();
    assert_eq!(ckpt, part.checkpoint);
    assert_eq!(ckpt.batch, 1);
    let mut hooks = Hooks {
        evaluator: Some(Box::new(|m: &TrainedModel| {
            Some(m.a.iter().map(|a| (a - 0.5).abs()).sum())
        })),
        ..Hooks::default()
    };
    let rest = resume(&data, &[], &cfg, ckpt, &mut hooks).unwrap();
    assert_eq!(rest.epochs_done, 6);
    assert_eq!(rest.checkpoint.params, full.checkpoint.params);
    assert_eq!(rest.checkpoint.adam, full.checkpoint.adam);
    assert_eq!(rest.best, full.best);
}

#[test]
fn resume_rejects_a_different_model_shape() {
    let data = toy_trials();
    let out = train(&data, &toy_config(1), &mut Hooks::default()).unwrap();
    let other = TrainConfig {
        latent_dim: 5,
        ..toy_config(1).get().clone()
    }
    .validate()
    .unwrap();
    let e = resume(&data, &[], &other, out.checkpoint, &mut Hooks::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("latent_dim is 4 in the checkpoint, 5 now"),
        "{e}"
    );
}

#[test]
fn bad_data_is_rejected_with_its_position() {
    let mut d = toy_trials();
    d[1].row_mut(5)[0] = f64::NAN;
    let e = train(&d, &toy_config(1), &mut Hooks::default()).unwrap_err();
    assert_eq!(e.to_string(), "trial 1 has a non-finite value at step 5");
    assert!(matches!(
        train(&[], &toy_config(1), &mut Hooks::default()),
        Err(TrainError::NoData)
    ));
}

#[test]
fn inputs_are_used() {
    let data = toy_trials();
    let inputs: Vec<TimeSeries> = data
        .iter()
        .map(|x| TimeSeries::new(x.column(0).iter().map(|v| v * 0.5).collect(), 1).unwrap())
        .collect();
    let out = train_with_inputs(&data, &inputs, &toy_config(1), &mut Hooks::default()).unwrap();
    assert_eq!(out.model.k, 1);
    assert_eq!(out.model.c.len(), 4);
    assert!(out.model.c.iter().any(|c| *c != 0.0));
    let states = out.model.infer_states(&data[0]);
    assert_eq!((states.len(), states.dims()), (120, 4));
}

#[test]
fn exported_model_loads_in_plrnn_nostd_and_steps_alike() {
    for v in [Variant::Relu, Variant::Dendritic, Variant::ClippedDendritic] {
        let cfg = TrainConfig {
            variant: v,
            epochs: 2,
            ..toy_config(1).get().clone()
        }
        .validate()
        .unwrap();
        let out = train(&toy_trials(), &cfg, &mut Hooks::default()).unwrap();
        let buf = out.model.to_model_buf();
        let bytes = buf.encode().unwrap();
        let back = plrnn_nostd::ModelBuf::decode(&bytes).unwrap();
        assert_eq!(back, buf);
        // One deterministic step in f32 on the device kernel agrees with the f64 step.
        let z0 = [0.3, -0.2, 0.5, 0.1];
        let want = out.model.observe(&out.model.step(&z0, &[]));
        let valid = plrnn_nostd::ValidModel::new(back).unwrap();
        let mut gen = plrnn_nostd::DynGenerator::new(valid.model_ref(), 1);
        gen.set_state(&z0.map(|x| x as f32)).unwrap();
        let mut x = vec![0.0f32; 2];
        gen.step(&[], plrnn_nostd::Noise::None, &mut x).unwrap();
        for (a, b) in x.iter().zip(&want) {
            assert!((*a as f64 - b).abs() < 1e-4, "{v:?}: {x:?} vs {want:?}");
        }
    }
}

#[test]
fn exp_fast_is_accurate() {
    let mut x = -30.0;
    while x < 30.0 {
        let (a, b) = (super::elbo::exp_fast(x), x.exp());
        assert!(((a - b) / b).abs() < 4e-16, "{x}: {a} vs {b}");
        x += 0.0123;
    }
    assert!(super::elbo::exp_fast(-1e6) > 0.0);
    assert!(super::elbo::exp_fast(1e6).is_finite());
}

#[test]
fn frozen_process_noise_stays_at_its_initial_value() {
    let cfg = TrainConfig {
        sigma_z_init: 0.05,
        freeze_sigma_z_epochs: 100,
        ..toy_config(1).get().clone()
    }
    .validate()
    .unwrap();
    let out = train(&toy_trials(), &cfg, &mut Hooks::default()).unwrap();
    for s in &out.model.sigma_z {
        assert!((s - 0.05).abs() < 1e-12, "{:?}", out.model.sigma_z);
    }
}

#[test]
fn time_budget_and_periodic_checkpoints() {
    let cfg = TrainConfig {
        time_budget_secs: Some(1e-9),
        ..toy_config(1).get().clone()
    }
    .validate()
    .unwrap();
    let mut scores = 0;
    let mut hooks = Hooks {
        evaluator: Some(Box::new(|_: &TrainedModel| {
            scores += 1;
            Some(1.0)
        })),
        ..Hooks::default()
    };
    let out = train(&toy_trials(), &cfg, &mut hooks).unwrap();
    drop(hooks);
    assert!(out.out_of_time);
    assert_eq!(out.updates, 1);
    assert_eq!(scores, 1, "the last parameters are evaluated");
    assert!(out.best.is_some());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("periodic.json");
    let cfg = TrainConfig {
        checkpoint_every: 2,
        epochs: 3,
        ..toy_config(1).get().clone()
    }
    .validate()
    .unwrap();
    let mut hooks = Hooks {
        checkpoint: Some(&path),
        ..Hooks::default()
    };
    train(&toy_trials(), &cfg, &mut hooks).unwrap();
    let c = Checkpoint::load(&path).unwrap();
    assert_eq!((c.epoch, c.batch), (2, 0));
}

#[test]
fn regulariser_gradient_matches_finite_differences() {
    let c = case(
        Variant::Dendritic,
        EncoderKind::Smoothing,
        InitialState::PerSequence,
        8,
    );
    let l = &c.layout;
    let mut g = vec![0.0; l.len];
    let r = super::elbo::regulariser(l, &c.params, 0.7, 0.67, &mut g);
    assert!(r > 0.0);
    let mut scratch = vec![0.0; l.len];
    for idx in 0..l.len {
        let mut p = c.params.clone();
        p[idx] += 1e-6;
        let up = super::elbo::regulariser(l, &p, 0.7, 0.67, &mut scratch);
        p[idx] -= 2e-6;
        let down = super::elbo::regulariser(l, &p, 0.7, 0.67, &mut scratch);
        let fd = (up - down) / 2e-6;
        let is_w_diag = l.core.w.contains(&idx)
            && (idx - l.core.w.start) / l.core.m == (idx - l.core.w.start) % l.core.m;
        if is_w_diag {
            assert_eq!(g[idx], 0.0);
        } else {
            assert!(
                (fd - g[idx]).abs() < 1e-6,
                "index {idx}: {} vs {fd}",
                g[idx]
            );
        }
    }
    // Only the first ⌊0.67·3⌋ = 2 units are regularised.
    assert_eq!(g[l.core.a.start + 2], 0.0);
    assert_eq!(g[l.core.h.start + 2], 0.0);
}

/// The teacher-forcing term (`vi::tf`): its gradient against central differences in every
/// parameter, for every variant and encoder, with inputs, for generalised forcing with sparse
/// resets, a pure free run (α = 0, no resets), one-step prediction (α = 1), and forcing of the
/// observed latents only.
#[test]
fn teacher_forcing_gradient_matches_finite_differences() {
    use super::tf::{loss_grad as tf_loss_grad, TfSettings, TfWorkspace};
    let settings = [
        TfSettings {
            weight: 0.7,
            forcing: Forcing {
                alpha: 0.3,
                interval: 3,
                forced: 3,
            },
        },
        TfSettings {
            weight: 1.3,
            forcing: Forcing {
                alpha: 0.0,
                interval: 0,
                forced: 3,
            },
        },
        TfSettings {
            weight: 1.0,
            forcing: Forcing {
                alpha: 1.0,
                interval: 0,
                forced: 3,
            },
        },
        // `tf_force = "observed"`: the first N = 2 of the 3 latents forced.
        TfSettings {
            weight: 0.9,
            forcing: Forcing {
                alpha: 0.4,
                interval: 3,
                forced: 2,
            },
        },
    ];
    let mut seed = 500;
    for v in [Variant::Relu, Variant::Dendritic, Variant::ClippedDendritic] {
        for e in [EncoderKind::Smoothing, EncoderKind::Mlp] {
            for set in settings {
                seed += 1;
                let mut c = case_sized(v, e, InitialState::Encoder, seed, (3, 2, 9));
                // A tamer start than the ELBO cases' (the free run compounds over 8 steps).
                let l = c.layout.clone();
                for x in &mut c.params[l.core.a.start..l.core.h.end] {
                    *x *= 0.5;
                }
                let f = |p: &[f64], g: &mut [f64]| {
                    g.iter_mut().for_each(|g| *g = 0.0);
                    let seq = SeqRef {
                        x: &c.x,
                        s: &c.s,
                        z0_index: 0,
                    };
                    tf_loss_grad(&l, p, seq, set, &mut TfWorkspace::default(), g)
                };
                let mut g = vec![0.0; l.len];
                let loss = f(&c.params, &mut g);
                assert!(loss > 0.0 && loss.is_finite());
                let mut scratch = vec![0.0; l.len];
                let mut nonzero = 0;
                for (name, range) in l.blocks() {
                    for idx in range.clone() {
                        let is_w_diag = l.core.w.contains(&idx) && {
                            let q = idx - l.core.w.start;
                            q / l.core.m == q % l.core.m
                        };
                        if is_w_diag {
                            assert_eq!(g[idx], 0.0);
                            continue;
                        }
                        let step = 1e-6;
                        let mut pp = c.params.clone();
                        pp[idx] += step;
                        let up = f(&pp, &mut scratch);
                        pp[idx] -= 2.0 * step;
                        let down = f(&pp, &mut scratch);
                        let fd = (up - down) / (2.0 * step);
                        let tol = 1e-6 + 1e-5 * fd.abs().max(g[idx].abs());
                        assert!(
                            (fd - g[idx]).abs() <= tol,
                            "{v:?} {e:?} {set:?}: block {name} index {}: analytic {} fd {fd}",
                            idx - range.start,
                            g[idx]
                        );
                        nonzero += usize::from(g[idx] != 0.0);
                    }
                }
                // The term reaches the dynamics, C, B and the encoder's mean head.
                for block in [&l.core.a, &l.core.w, &l.core.h, &l.core.c, &l.b, &l.enc_wm] {
                    assert!(g[block.clone()].iter().any(|&x| x != 0.0), "{v:?} {e:?}");
                }
                assert!(nonzero > 20);
            }
        }
    }
}

/// `tf_window`: the term is the whole-sequence term of the window the seed picks, every start
/// position 0..=T−W is reachable, and no window runs past the end; a window as long as the
/// sequence is the whole sequence.
#[test]
fn teacher_forcing_window_is_the_term_of_a_slice() {
    use super::tf::{add_term, loss_grad as tf_loss_grad, TfSettings, TfWorkspace};
    let c = tf_case(11, (3, 2, 12));
    let l = c.layout.clone();
    let (n, k, t, w) = (l.n, l.core.k, 12, 5);
    let cfg = |window: usize| {
        TrainConfig {
            objective: super::config::Objective::ElboTf,
            tf_weight: 0.8,
            tf_alpha: Some(0.25),
            tf_interval: 2,
            tf_window: window,
            ..(*c.cfg).clone()
        }
        .validate()
        .unwrap()
    };
    let set = TfSettings {
        weight: 0.8,
        forcing: Forcing {
            alpha: 0.25,
            interval: 2,
            forced: l.core.m,
        },
    };
    let seq = SeqRef {
        x: &c.x,
        s: &c.s,
        z0_index: 0,
    };
    // The term of each start position.
    let by_start: Vec<(f64, Vec<f64>)> = (0..=t - w)
        .map(|t0| {
            let mut g = vec![0.0; l.len];
            let sub = SeqRef {
                x: &c.x[t0 * n..(t0 + w) * n],
                s: &c.s[t0 * k..(t0 + w) * k],
                z0_index: 0,
            };
            let loss = tf_loss_grad(&l, &c.params, sub, set, &mut TfWorkspace::default(), &mut g);
            (loss, g)
        })
        .collect();
    let mut seen = vec![false; t - w + 1];
    for seed in 0..400u64 {
        let mixed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (seed << 29);
        let mut g = vec![0.0; l.len];
        let loss = add_term(
            &cfg(w),
            &l,
            &c.params,
            seq,
            mixed,
            &mut TfWorkspace::default(),
            &mut g,
        );
        let t0 = by_start
            .iter()
            .position(|(want, wg)| want.to_bits() == loss.to_bits() && *wg == g)
            .expect("the windowed term equals the term of some slice of length W");
        seen[t0] = true;
    }
    assert!(seen.iter().all(|&s| s), "start positions reached: {seen:?}");
    // W ≥ T and W = 0: the whole sequence.
    let mut whole = vec![0.0; l.len];
    let want = tf_loss_grad(
        &l,
        &c.params,
        seq,
        set,
        &mut TfWorkspace::default(),
        &mut whole,
    );
    for window in [0, t, t + 3] {
        let mut g = vec![0.0; l.len];
        let got = add_term(
            &cfg(window),
            &l,
            &c.params,
            seq,
            12345,
            &mut TfWorkspace::default(),
            &mut g,
        );
        assert_eq!(got.to_bits(), want.to_bits());
        assert_eq!(g, whole);
    }
}

/// `tf_force`: forcing no latent is the free run from μ_0 whatever α and τ say (the forcing
/// rule touches only the forced latents), and `tf_force = "observed"` in the configuration is
/// the term with the first min(N, M) latents forced, which differs from forcing all of them.
#[test]
fn teacher_forcing_reaches_only_the_forced_latents() {
    use super::config::{Objective, TfForce};
    use super::tf::{add_term, loss_grad as tf_loss_grad, TfSettings, TfWorkspace};
    let c = tf_case(31, (3, 2, 12));
    let l = c.layout.clone();
    let seq = SeqRef {
        x: &c.x,
        s: &c.s,
        z0_index: 0,
    };
    let term = |set: TfSettings| {
        let mut g = vec![0.0; l.len];
        let loss = tf_loss_grad(&l, &c.params, seq, set, &mut TfWorkspace::default(), &mut g);
        (loss, g)
    };
    let set = |alpha: f64, interval: usize, forced: usize| TfSettings {
        weight: 0.6,
        forcing: Forcing {
            alpha,
            interval,
            forced,
        },
    };
    let free = term(set(0.0, 0, l.core.m));
    let unforced = term(set(0.6, 2, 0));
    assert!(free.0 > 0.0 && free.0.is_finite());
    assert_eq!(unforced.0.to_bits(), free.0.to_bits());
    assert_eq!(unforced.1, free.1);

    let observed = term(set(0.25, 2, l.n.min(l.core.m)));
    let all = term(set(0.25, 2, l.core.m));
    assert_ne!(observed.0.to_bits(), all.0.to_bits());
    for (force, want) in [(TfForce::Observed, &observed), (TfForce::All, &all)] {
        let cfg = TrainConfig {
            objective: Objective::ElboTf,
            tf_weight: 0.6,
            tf_alpha: Some(0.25),
            tf_interval: 2,
            tf_window: 0,
            tf_force: force,
            ..(*c.cfg).clone()
        }
        .validate()
        .unwrap();
        let mut g = vec![0.0; l.len];
        let got = add_term(
            &cfg,
            &l,
            &c.params,
            seq,
            7,
            &mut TfWorkspace::default(),
            &mut g,
        );
        assert_eq!(got.to_bits(), want.0.to_bits(), "{force:?}");
        assert_eq!(&g, &want.1, "{force:?}");
    }
}

/// The term's scale over channels: the same data and model with every channel given twice
/// (each data column and row of B repeated, the encoder blind to the copies; α and resets on)
/// have the same mean squared error, so the term grows only by its weight's factor
/// (M + max(2N, 3))/(M + max(N, 3)): it keeps its share of an ELBO that grows with M + N. From
/// N = 2 to 4 with M = 3 that is 7/6; a plain mean over channels would score the same (ratio
/// 1), a plain sum twice (ratio 2).
#[test]
fn teacher_forcing_term_grows_with_the_elbo_over_channels() {
    use super::tf::{loss_grad as tf_loss_grad, TfSettings, TfWorkspace};
    let c = tf_case(23, (3, 2, 10));
    let l = &c.layout;
    let (n, m, k) = (l.n, l.core.m, l.core.k);
    let l2 = Layout::new(&c.cfg, 2 * n, k, 2);
    let mut p2 = vec![0.0; l2.len];
    for ((name, r), (name2, r2)) in l.blocks().into_iter().zip(l2.blocks()) {
        assert_eq!(name, name2);
        match name {
            // Rows of B (N×M): the first N, then the same N again.
            "b" | "log_sigma_x" => {
                p2[r2.start..r2.start + r.len()].copy_from_slice(&c.params[r.clone()]);
                p2[r2.start + r.len()..r2.end].copy_from_slice(&c.params[r.clone()]);
            }
            // The encoder's maps (M×N): the copies' columns stay zero.
            "enc_wm" | "enc_ws" => {
                for i in 0..m {
                    p2[r2.start + i * 2 * n..][..n]
                        .copy_from_slice(&c.params[r.start + i * n..][..n]);
                }
            }
            _ => {
                assert_eq!(r.len(), r2.len(), "block {name}");
                p2[r2].copy_from_slice(&c.params[r]);
            }
        }
    }
    let t = c.x.len() / n;
    let x2: Vec<f64> = (0..t)
        .flat_map(|i| {
            let row = &c.x[i * n..(i + 1) * n];
            row.iter().chain(row).copied()
        })
        .collect();
    let set = TfSettings {
        weight: 0.9,
        forcing: Forcing {
            alpha: 0.2,
            interval: 4,
            forced: m,
        },
    };
    let term = |l: &Layout, p: &[f64], x: &[f64]| {
        let seq = SeqRef {
            x,
            s: &c.s,
            z0_index: 0,
        };
        let mut g = vec![0.0; l.len];
        tf_loss_grad(l, p, seq, set, &mut TfWorkspace::default(), &mut g)
    };
    let once = term(l, &c.params, &c.x);
    let twice = term(&l2, &p2, &x2);
    assert!(once > 0.0 && once.is_finite());
    let ratio = (m + (2 * n).max(3)) as f64 / (m + n.max(3)) as f64;
    assert_eq!(
        (m, n),
        (3, 2),
        "the case this test was written for: ratio 7/6"
    );
    assert!(
        (twice - ratio * once).abs() <= 1e-12 * once,
        "N = {n}: {once}; each channel twice: {twice}, want {ratio} ×"
    );
}

/// `auto_alpha` on a model whose Jacobian is known: W = 0 makes J = diag(A), so λ₁ = ln max|A_i|
/// and α = 1 − 1/max|A_i| for an expanding map, 0 for a contracting one.
#[test]
fn auto_alpha_from_a_known_jacobian() {
    use super::tf::{auto_alpha, TfWorkspace};
    let mut c = tf_case(7, (3, 2, 2000));
    let l = c.layout.clone();
    c.params[l.core.w.clone()].iter_mut().for_each(|w| *w = 0.0);
    let seq = SeqRef {
        x: &c.x,
        s: &c.s,
        z0_index: 0,
    };
    for (a, want) in [([1.5, -0.5, 0.9], 1.0 - 1.0 / 1.5), ([0.8, -0.7, 0.2], 0.0)] {
        c.params[l.core.a.clone()].copy_from_slice(&a);
        let got = auto_alpha(&l, &c.params, seq, &mut TfWorkspace::default());
        assert!((got - want).abs() < 1e-3, "A = {a:?}: {got} vs {want}");
    }
}

/// With more channels than latents, the observation model starts on the data's principal
/// components: the encoder's mean map inverts B on the latent space (E B = I_M), and x's
/// projection onto the strongest direction lands in latent 0 in units of its std.
/// The storage order of checkpoints and the offsets the trainer has always used: the
/// dynamics' blocks, then B, the noise scales, initial states and the encoder (M = 3, P = 2,
/// N = 2, K = 1, two sequences; MLP encoder with H = 4, r = 1, and the smoothing encoder).
#[test]
fn layout_keeps_the_storage_order() {
    let layout = |encoder| {
        let cfg = TrainConfig {
            latent_dim: 3,
            bases: 2,
            variant: Variant::Dendritic,
            encoder,
            encoder_hidden: 4,
            encoder_window: 1,
            initial_state: InitialState::PerSequence,
            ..TrainConfig::default()
        }
        .validate()
        .unwrap();
        Layout::new(&cfg, 2, 1, 2)
    };
    let head = [
        ("a", 0..3),
        ("w", 3..12),
        ("h", 12..15),
        ("alpha", 15..17),
        ("theta", 17..23),
        ("c", 23..26),
        ("b", 26..32),
        ("log_sigma_z", 32..35),
        ("log_sigma_x", 35..37),
        ("log_sigma_z0", 37..40),
        ("z0", 40..46),
    ];
    let mlp = layout(EncoderKind::Mlp);
    let tail = [
        ("enc_smooth", 46..46),
        ("enc_wm", 46..52),
        ("enc_ws", 52..58),
        ("enc_bs", 58..61),
        ("enc_w1", 61..85),
        ("enc_b1", 85..89),
        ("enc_w2m", 89..101),
        ("enc_w2s", 101..113),
    ];
    assert_eq!(mlp.blocks(), [&head[..], &tail[..]].concat());
    assert_eq!(mlp.len, 113);
    let smoothing = layout(EncoderKind::Smoothing);
    let tail = [
        ("enc_smooth", 46..47),
        ("enc_wm", 47..53),
        ("enc_ws", 53..59),
        ("enc_bs", 59..62),
        ("enc_w1", 62..62),
        ("enc_b1", 62..62),
        ("enc_w2m", 62..62),
        ("enc_w2s", 62..62),
    ];
    assert_eq!(smoothing.blocks(), [&head[..], &tail[..]].concat());
    assert_eq!(smoothing.len, 62);
}

#[test]
fn many_channels_start_from_principal_components() {
    let cfg = TrainConfig {
        latent_dim: 2,
        bases: 2,
        ..TrainConfig::default()
    }
    .validate()
    .unwrap();
    let n = 4;
    let layout = Layout::new(&cfg, n, 0, 1);
    // Two data-like signals spread over four channels.
    let rows: Vec<f64> = (0..400)
        .flat_map(|t| {
            let (a, b) = ((t as f64 * 0.1).sin() * 3.0, (t as f64 * 0.37).cos());
            [a + b, a - b, 0.5 * a, 0.01 * ((t * 7919) % 13) as f64]
        })
        .collect();
    let x = TimeSeries::new(rows, n).unwrap();
    let (vars, axes) = crate::linalg::principal_components(std::slice::from_ref(&x));
    let start = super::params::ObsStart {
        variances: &vars,
        axes: &axes,
    };
    let p = super::params::init_with(&layout, 3, 1.0, 0.0, 0.1, Some(start));
    let (m, b, e) = (
        layout.core.m,
        &p[layout.b.clone()],
        &p[layout.enc_wm.clone()],
    );
    for i in 0..m {
        for j in 0..m {
            let eb: f64 = (0..n).map(|c| e[i * n + c] * b[c * m + j]).sum();
            assert!(
                (eb - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12,
                "({i},{j}) {eb}"
            );
        }
        // Column i of B is √λ_i u_i.
        for c in 0..n {
            assert!((b[c * m + i] - vars[i].sqrt() * axes[i][c]).abs() < 1e-12);
        }
    }
    // Without principal components, or with N ≤ M, B = [I | 0] as before.
    let plain = super::params::init_with(&layout, 3, 1.0, 0.0, 0.1, None);
    assert_eq!(plain[layout.b.start], 1.0);
    assert_eq!(plain[layout.b.start + m + 1], 1.0);
    assert_eq!(plain[layout.b.start + 2 * m], 0.0);
    // Everything but B and the mean map is the same start.
    for (i, (a, c)) in p.iter().zip(&plain).enumerate() {
        if !layout.b.contains(&i) && !layout.enc_wm.contains(&i) {
            assert_eq!(a.to_bits(), c.to_bits(), "parameter {i}");
        }
    }
}
