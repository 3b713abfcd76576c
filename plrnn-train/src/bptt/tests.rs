//! Tests of the BPTT trainer: finite-difference gradients of every block and variant,
//! reproducibility, validation, errors on bad input, and that training fits a simple signal.

use std::sync::atomic::AtomicBool;

use rand::RngExt;
use rand_distr::StandardNormal;
use rand_xoshiro::rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::model::{init, loss_grad, Layout, Workspace};
use super::*;
use crate::core::Forcing;
use plrnn_nostd::Variant;

use crate::train_loop::{Hooks, Progress, TrainError};
use crate::TimeSeries;

fn random_params(layout: &Layout, seed: u64) -> Vec<f64> {
    let mut p = init(layout, seed);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed + 100);
    // Perturb every block (including L, which starts at 0) so no gradient is trivially zero.
    for v in p.iter_mut() {
        let g: f64 = rng.sample(StandardNormal);
        *v += 0.2 * g;
    }
    let d = &layout.core;
    let m = d.m;
    for i in 0..m {
        p[d.w.start + i * m + i] = 0.0;
        p[d.a.start + i] = p[d.a.start + i].clamp(-0.95, 0.95);
    }
    p
}

fn sine_data(len: usize, n: usize) -> Vec<f64> {
    (0..len)
        .flat_map(|t| (0..n).map(move |c| (0.1 * t as f64 + c as f64).sin() * 1.3))
        .collect()
}

/// The storage order of checkpoints: A, W, h, α, θ, then L, at the offsets the trainer has
/// always used (M = 5, N = 2, P = 3).
#[test]
fn layout_keeps_the_storage_order() {
    let l = Layout::new(Variant::Dendritic, 5, 2, 3);
    let d = &l.core;
    assert_eq!(
        [&d.a, &d.w, &d.h, &d.alpha, &d.theta, &d.c, &l.l],
        [
            &(0..5),
            &(5..30),
            &(30..35),
            &(35..38),
            &(38..53),
            &(53..53),
            &(53..59)
        ]
    );
    assert_eq!(l.len(), 59);
}

#[test]
fn gradient_matches_central_differences_for_every_block_and_variant() {
    for variant in [Variant::Relu, Variant::Dendritic, Variant::ClippedDendritic] {
        for forcing in [
            Forcing {
                alpha: 0.0,
                interval: 0,
                forced: 2,
            },
            Forcing {
                alpha: 0.3,
                interval: 0,
                forced: 2,
            },
            Forcing {
                alpha: 0.0,
                interval: 4,
                forced: 2,
            },
            Forcing {
                alpha: 0.2,
                interval: 3,
                forced: 2,
            },
            // One of the two channels forced; the other runs free like a hidden latent.
            Forcing {
                alpha: 0.2,
                interval: 3,
                forced: 1,
            },
        ] {
            let p = if variant == Variant::Relu { 0 } else { 3 };
            let layout = Layout::new(variant, 5, 2, p);
            let d = &layout.core;
            let params = random_params(&layout, 7);
            let x = sine_data(13, 2);
            let mut ws = Workspace::default();
            let mut grad = vec![0.0; layout.len()];
            loss_grad(&layout, &params, &x, forcing, &mut ws, &mut grad);
            let blocks = [
                ("A", &d.a),
                ("W", &d.w),
                ("h", &d.h),
                ("alpha", &d.alpha),
                ("theta", &d.theta),
                ("L", &layout.l),
            ];
            for (name, r) in blocks {
                let (lo, hi) = (r.start, r.end);
                if variant == Variant::Relu && (name == "alpha" || name == "theta") {
                    assert_eq!(lo, hi);
                    continue;
                }
                assert!(hi > lo, "{variant:?} {name} is empty");
                let mut max_abs = 0.0f64;
                for k in lo..hi {
                    let is_w_diag =
                        d.w.contains(&k) && (k - d.w.start) / d.m == (k - d.w.start) % d.m;
                    if is_w_diag {
                        assert_eq!(grad[k], 0.0, "W diagonal gradient must be masked");
                        continue;
                    }
                    let eps = 1e-6;
                    let mut pp = params.clone();
                    pp[k] += eps;
                    let mut dummy = vec![0.0; layout.len()];
                    let lp = loss_grad(&layout, &pp, &x, forcing, &mut ws, &mut dummy);
                    pp[k] -= 2.0 * eps;
                    let lm = loss_grad(&layout, &pp, &x, forcing, &mut ws, &mut dummy);
                    let fd = (lp - lm) / (2.0 * eps);
                    let err = (fd - grad[k]).abs();
                    assert!(
                        err <= 1e-6 * (1.0 + fd.abs()),
                        "{variant:?} {forcing:?} {name}[{}]: analytic {} vs FD {fd}",
                        k - lo,
                        grad[k]
                    );
                    max_abs = max_abs.max(grad[k].abs());
                }
                assert!(
                    max_abs > 0.0,
                    "{variant:?} {forcing:?} {name}: all-zero gradient"
                );
            }
        }
    }
}

fn small_cfg() -> BpttConfig {
    BpttConfig {
        latent_dim: 6,
        bases: 3,
        epochs: 30,
        seq_len: 20,
        batch_size: 4,
        learning_rate: 5e-3,
        tf_interval: 5,
        eval_every: 0,
        ..BpttConfig::default()
    }
}

fn sine_series(len: usize) -> TimeSeries {
    TimeSeries::new(sine_data(len, 2), 2).unwrap()
}

#[test]
fn training_is_reproducible_and_thread_count_independent() {
    let data = [sine_series(300)];
    let mut c1 = small_cfg();
    c1.threads = 1;
    let mut c2 = small_cfg();
    c2.threads = 2;
    let a = train(&data, &c1.validate().unwrap(), &mut Hooks::default()).unwrap();
    let b = train(&data, &c1.validate().unwrap(), &mut Hooks::default()).unwrap();
    let c = train(&data, &c2.validate().unwrap(), &mut Hooks::default()).unwrap();
    assert_eq!(a.model, b.model);
    assert_eq!(a.model, c.model);
    assert_eq!(a.last_loss.to_bits(), c.last_loss.to_bits());
    let mut c3 = small_cfg();
    c3.seed = 1;
    let d = train(&data, &c3.validate().unwrap(), &mut Hooks::default()).unwrap();
    assert_ne!(a.model, d.model);
}

#[test]
fn training_fits_a_sine_and_returns_a_loadable_model() {
    let data = [sine_series(400)];
    let mut cfg = small_cfg();
    cfg.epochs = 150;
    for variant in [Variant::Relu, Variant::Dendritic, Variant::ClippedDendritic] {
        cfg.variant = variant;
        let mut losses = Vec::new();
        let mut evals = 0;
        let mut hooks = Hooks {
            on_progress: Some(Box::new(|p: &Progress| losses.push(p.loss))),
            evaluator: Some(Box::new(|_m: &plrnn_nostd::ModelBuf| {
                evals += 1;
                Some(-(evals as f64))
            })),
            ..Hooks::default()
        };
        let out = train(&data, &cfg.validate().unwrap(), &mut hooks).unwrap();
        drop(hooks);
        assert!(!out.diverged);
        assert!(
            losses.last().unwrap() < &(0.5 * losses[0]),
            "{variant:?}: {} -> {}",
            losses[0],
            losses.last().unwrap()
        );
        plrnn_nostd::ValidModel::new(out.model.clone()).unwrap();
        let best = out.best.unwrap();
        assert_eq!(best.score, -1.0);
        assert_eq!(best.epoch, out.epochs_done);
        let dm = crate::model::DesktopModel::new(plrnn_nostd::ValidModel::new(best.model).unwrap());
        assert_eq!(dm.n(), 2);
    }
}

#[test]
fn best_model_is_kept_when_a_later_one_scores_worse() {
    let data = [sine_series(300)];
    let mut cfg = small_cfg();
    cfg.eval_every = 5;
    let mut k = 0;
    let mut hooks = Hooks {
        evaluator: Some(Box::new(|_m: &plrnn_nostd::ModelBuf| {
            k += 1;
            Some(if k == 2 { 0.1 } else { 1.0 + k as f64 })
        })),
        ..Hooks::default()
    };
    let out = train(&data, &cfg.validate().unwrap(), &mut hooks).unwrap();
    let best = out.best.unwrap();
    assert_eq!(best.epoch, 10);
    assert_eq!(best.score, 0.1);
    assert_ne!(best.model, out.model);
}

#[test]
fn stop_flag_and_time_budget_end_training() {
    let data = [sine_series(300)];
    let stop = AtomicBool::new(true);
    let mut hooks = Hooks {
        stop: Some(&stop),
        ..Hooks::default()
    };
    let out = train(&data, &small_cfg().validate().unwrap(), &mut hooks).unwrap();
    assert_eq!(out.updates, 1);
    let mut cfg = small_cfg();
    cfg.epochs = 1_000_000;
    cfg.time_budget_secs = Some(0.05);
    let out = train(&data, &cfg.validate().unwrap(), &mut Hooks::default()).unwrap();
    assert!(out.train_secs >= 0.05 && out.epochs_done < 1_000_000);
    // Held-out evaluations count against the budget, and under a budget they take at most
    // their share of it: with 50 ms per evaluation scheduled after every (fast) epoch and a
    // 0.2 s budget, most scheduled evaluations are skipped. The pacer lets one run only while
    // the time spent in evaluations is ≤ EVAL_SHARE of the time so far, so the total is at most
    // that share plus the last one plus the final evaluation.
    cfg.eval_every = 1;
    cfg.time_budget_secs = Some(0.2);
    let mut evals = 0;
    let mut longest = 0.0f64;
    let mut hooks = Hooks {
        evaluator: Some(Box::new(|_m: &plrnn_nostd::ModelBuf| {
            let t0 = std::time::Instant::now();
            evals += 1;
            std::thread::sleep(std::time::Duration::from_millis(50));
            longest = longest.max(t0.elapsed().as_secs_f64());
            Some(1.0)
        })),
        ..Hooks::default()
    };
    let out = train(&data, &cfg.validate().unwrap(), &mut hooks).unwrap();
    drop(hooks);
    assert!(out.train_secs >= 0.2);
    assert!(
        out.eval_secs <= crate::schedule::EVAL_SHARE * out.train_secs + 2.0 * longest + 1e-3,
        "{} s of {} s in evaluations",
        out.eval_secs,
        out.train_secs
    );
    // Every scheduled evaluation was either run or skipped (the final one is unscheduled).
    assert_eq!(evals, out.epochs_done - 1 - out.evals_skipped + 1);
    if out.epochs_done >= 3 {
        assert!(out.evals_skipped > 0);
    }
    // Without a budget the schedule is kept: an evaluation after every epoch but the last
    // (which gets the final one).
    cfg.time_budget_secs = None;
    cfg.epochs = 4;
    let mut evals = 0;
    let mut hooks = Hooks {
        evaluator: Some(Box::new(|_m: &plrnn_nostd::ModelBuf| {
            evals += 1;
            std::thread::sleep(std::time::Duration::from_millis(20));
            Some(1.0)
        })),
        ..Hooks::default()
    };
    let out = train(&data, &cfg.validate().unwrap(), &mut hooks).unwrap();
    drop(hooks);
    assert_eq!((evals, out.evals_skipped), (4, 0));
}

#[test]
fn validation_names_field_and_value() {
    let cases: Vec<(BpttConfig, &str)> = vec![
        (
            BpttConfig {
                latent_dim: 0,
                ..BpttConfig::default()
            },
            "latent_dim",
        ),
        (
            BpttConfig {
                bases: 0,
                ..BpttConfig::default()
            },
            "bases",
        ),
        (
            BpttConfig {
                learning_rate: f64::NAN,
                ..BpttConfig::default()
            },
            "learning_rate",
        ),
        (
            BpttConfig {
                tf_alpha: 1.5,
                ..BpttConfig::default()
            },
            "tf_alpha",
        ),
        (
            BpttConfig {
                seq_len: 0,
                ..BpttConfig::default()
            },
            "seq_len",
        ),
        (
            BpttConfig {
                time_budget_secs: Some(-1.0),
                ..BpttConfig::default()
            },
            "time_budget_secs",
        ),
    ];
    for (cfg, field) in cases {
        let e = cfg.validate().unwrap_err().to_string();
        assert!(e.starts_with(field), "{e}");
    }
    let relu = BpttConfig {
        variant: Variant::Relu,
        bases: 0,
        ..BpttConfig::default()
    };
    assert!(relu.validate().is_ok());
    assert!(BpttConfig::from_toml("tf_alhpa = 0.1").is_err());
    let c = BpttConfig::from_toml("tf_alpha = 0.1\nvariant = \"relu\"").unwrap();
    assert_eq!(c.tf_alpha, 0.1);
    assert_eq!(c.variant, Variant::Relu);
}

#[test]
fn bad_data_gives_typed_errors() {
    let cfg = small_cfg().validate().unwrap();
    assert!(matches!(
        train(&[], &cfg, &mut Hooks::default()),
        Err(TrainError::NoData)
    ));
    let mut v = sine_data(100, 2);
    v[31] = f64::NAN;
    let bad = TimeSeries::new(v, 2).unwrap();
    assert!(matches!(
        train(&[bad], &cfg, &mut Hooks::default()),
        Err(TrainError::NonFinite { trial: 0, step: 15 })
    ));
    let short = sine_series(10);
    assert!(matches!(
        train(&[short], &cfg, &mut Hooks::default()),
        Err(TrainError::ShorterThanSequence { .. })
    ));
    let wide = TimeSeries::new(sine_data(100, 7), 7).unwrap();
    assert!(matches!(
        train(&[wide], &cfg, &mut Hooks::default()),
        Err(TrainError::LatentTooSmall { .. })
    ));
    let mixed = [
        sine_series(100),
        TimeSeries::new(sine_data(100, 3), 3).unwrap(),
    ];
    assert!(matches!(
        train(&mixed, &cfg, &mut Hooks::default()),
        Err(TrainError::ChannelMismatch { trial: 1, .. })
    ));
}

/// A deterministic score of a model, so that best-model keeping takes part in the comparison.
fn score_of(m: &plrnn_nostd::ModelBuf) -> Option<f64> {
    Some(m.w.iter().map(|&v| f64::from(v).sin()).sum::<f64>())
}

/// Hooks with [`score_of`] as the evaluator.
fn scored() -> Hooks<'static, plrnn_nostd::ModelBuf> {
    Hooks {
        evaluator: Some(Box::new(score_of)),
        ..Hooks::default()
    }
}

fn resumable_cfg() -> BpttConfig {
    BpttConfig {
        epochs: 12,
        eval_every: 2,
        checkpoint_every: 3,
        threads: 1,
        ..small_cfg()
    }
}

/// Interrupted twice (at an epoch boundary by the periodic checkpoint, then mid-epoch by the
/// stop flag) and resumed from the files: the same bits as an uninterrupted run, best model
/// included.
#[test]
fn interrupted_and_resumed_run_equals_uninterrupted() {
    let data = [sine_series(300)];
    let cfg = resumable_cfg().validate().unwrap();
    let full = train(&data, &cfg, &mut scored()).unwrap();
    assert!(!full.stopped);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.ckpt");
    // Run 1: stop on the first update after epoch 4 (mid-epoch: 14 sequences, batch 4).
    let stop = AtomicBool::new(false);
    let mut hooks = Hooks {
        evaluator: Some(Box::new(score_of)),
        on_progress: Some(Box::new(|p: &Progress| {
            if p.epoch == 4 {
                stop.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        })),
        stop: Some(&stop),
        checkpoint: Some(&path),
    };
    let first = train(&data, &cfg, &mut hooks).unwrap();
    assert!(first.stopped);
    let ck = BpttCheckpoint::load(&path).unwrap();
    assert_eq!((ck.epoch, ck.left), (4, Some(10)), "mid-epoch checkpoint");
    assert_eq!(ck.updates, 4 * 4 + 1);

    // Run 2: resume from the file to the end; the periodic checkpoints keep being written.
    let mut hooks = Hooks {
        checkpoint: Some(&path),
        ..scored()
    };
    let resumed = resume(&data, &cfg, ck, &mut hooks).unwrap();
    assert_eq!(resumed.model, full.model);
    assert_eq!(resumed.best, full.best);
    assert_eq!(resumed.updates, full.updates);
    assert_eq!(resumed.epochs_done, full.epochs_done);
    assert_eq!(resumed.last_loss.to_bits(), full.last_loss.to_bits());

    // The last periodic checkpoint (epoch 12) resumes to the same end with no work left.
    let ck = BpttCheckpoint::load(&path).unwrap();
    assert_eq!((ck.epoch, ck.left), (12, None));
    let again = resume(&data, &cfg, ck, &mut scored()).unwrap();
    assert_eq!(again.model, full.model);
    assert_eq!(again.updates, full.updates);
}

#[test]
fn resume_rejects_a_checkpoint_of_another_setting_or_method() {
    let data = [sine_series(300)];
    let cfg = resumable_cfg().validate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.ckpt");
    let stop = AtomicBool::new(true);
    let mut hooks = Hooks {
        stop: Some(&stop),
        checkpoint: Some(&path),
        ..Hooks::default()
    };
    train(&data, &cfg, &mut hooks).unwrap();
    let ck = BpttCheckpoint::load(&path).unwrap();
    let other = BpttConfig {
        seed: 7,
        ..resumable_cfg()
    };
    let err = resume(
        &data,
        &other.validate().unwrap(),
        ck.clone(),
        &mut Hooks::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, TrainError::CheckpointMismatch { field: "seed", .. }),
        "{err}"
    );
    // Settings that do not shape the run may change.
    let longer = BpttConfig {
        epochs: 13,
        threads: 2,
        eval_every: 0,
        ..resumable_cfg()
    };
    let out = resume(
        &data,
        &longer.validate().unwrap(),
        ck,
        &mut Hooks::default(),
    )
    .unwrap();
    assert_eq!(out.epochs_done, 13);
    // Another width of data.
    let wide = TimeSeries::new(sine_data(300, 3), 3).unwrap();
    let ck = BpttCheckpoint::load(&path).unwrap();
    let err = resume(&[wide], &cfg, ck, &mut Hooks::default()).unwrap_err();
    assert!(
        matches!(err, TrainError::CheckpointMismatch { field: "n", .. }),
        "{err}"
    );
    // A file that is not a BPTT checkpoint.
    std::fs::write(&path, br#"{"format": 1, "params": []}"#).unwrap();
    let err = BpttCheckpoint::load(&path).unwrap_err().to_string();
    assert!(err.contains("not a BPTT checkpoint"), "{err}");
    std::fs::write(&path, b"{ truncated").unwrap();
    let err = BpttCheckpoint::load(&path).unwrap_err().to_string();
    assert!(err.contains("run.ckpt"), "{err}");
}
