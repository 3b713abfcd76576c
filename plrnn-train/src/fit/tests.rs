use super::*;
use crate::simulate::{simulate, SimOptions, System};
use rand::RngExt;
use rand_distr::StandardNormal;
use rand_xoshiro::rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

fn lorenz(steps: usize, seed: u64) -> Dataset {
    let opts = SimOptions {
        steps,
        dt: 0.01,
        seed,
        ..SimOptions::default()
    };
    Dataset::from_series(simulate(&System::lorenz63(), &opts).unwrap(), "l63").unwrap()
}

fn small_vi(epochs: usize, threads: usize) -> TrainConfig {
    TrainConfig {
        latent_dim: 6,
        bases: 4,
        epochs,
        seq_len: 100,
        threads,
        eval_every: 5,
        ..TrainConfig::default()
    }
}

/// A single VI start of `epochs` on one thread, 35 % held out.
fn held_out_vi(epochs: usize) -> CheckedParams {
    FitParams::new(Method::Vi(small_vi(epochs, 1)))
        .holdout(0.35)
        .check()
        .unwrap()
}

fn model_bytes(f: &Fitted) -> Vec<u8> {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("m.plrnn");
    f.model.save(&p).unwrap();
    std::fs::read(p).unwrap()
}

/// Several starts give the same starts, the same choice and the same bits for any thread
/// count; start 0 is the single run with the same seed.
#[test]
fn restarts_are_deterministic_for_any_thread_count() {
    let data = lorenz(6000, 1);
    let run = |threads: usize, k: usize| {
        let p = FitParams::new(Method::Vi(small_vi(20, threads)))
            .holdout(0.35)
            .restarts(k)
            .check()
            .unwrap();
        fit(&p, &data, &[], &mut Hooks::default()).unwrap()
    };
    let a = run(1, 3);
    let b = run(2, 3);
    let untimed = |f: &Fitted| {
        f.starts
            .iter()
            .map(|s| StartOutcome {
                seconds: 0.0,
                ..s.clone()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(untimed(&a), untimed(&b));
    assert_eq!(a.chosen, b.chosen);
    assert_eq!(model_bytes(&a), model_bytes(&b));
    assert_eq!(a.starts.len(), 3);
    assert_eq!(
        a.starts.iter().map(|s| s.seed).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(a.chosen, choose_start(&a.starts));
    // The kept start is the best by (collapsed, score).
    let c = &a.starts[a.chosen];
    let key = |s: &StartOutcome| (s.collapsed, s.score.unwrap_or(f64::INFINITY));
    for s in &a.starts {
        assert!(key(c) <= key(s), "{c:?} kept over {s:?}");
    }
    // Start 0 alone is the single run with seed 0.
    let single = run(1, 1);
    assert_eq!(single.starts.len(), 1);
    assert_eq!(single.starts[0].score, a.starts[0].score);
    assert_eq!(single.starts[0].collapsed, a.starts[0].collapsed);
}

#[test]
fn choose_start_prefers_not_collapsed_then_score_then_index() {
    let st = |score: Option<f64>, collapsed: bool| StartOutcome {
        seed: 0,
        score,
        collapsed,
        epochs_done: 1,
        seconds: 0.0,
    };
    assert_eq!(
        choose_start(&[
            st(Some(1.0), true),
            st(Some(5.0), false),
            st(Some(3.0), false)
        ]),
        2
    );
    assert_eq!(choose_start(&[st(None, false), st(Some(9.0), false)]), 1);
    assert_eq!(choose_start(&[st(Some(2.0), true), st(Some(1.0), true)]), 1);
    assert_eq!(
        choose_start(&[st(Some(2.0), false), st(Some(2.0), false)]),
        0
    );
}

#[test]
fn restarts_out_of_range_and_resume_are_refused() {
    let m = Method::Vi(small_vi(1, 1));
    assert!(matches!(
        FitParams::new(m.clone()).restarts(0).check(),
        Err(FitError::Restarts(_))
    ));
    assert!(matches!(
        FitParams::new(m.clone()).restarts(MAX_RESTARTS + 1).check(),
        Err(FitError::Restarts(_))
    ));
    let p = FitParams::new(m).restarts(2).check().unwrap();
    let data = lorenz(3000, 1);
    let one = fit(
        &FitParams::new(Method::Vi(small_vi(1, 1))).check().unwrap(),
        &data,
        &[],
        &mut Hooks::default(),
    )
    .unwrap();
    assert_eq!(one.starts.len(), 1);
    let d = tempfile::tempdir().unwrap();
    let ck = d.path().join("c.ckpt");
    let mut h = Hooks {
        checkpoint: Some(ck.clone()),
        stop: Some(Arc::new(AtomicBool::new(true))),
        ..Hooks::default()
    };
    fit(
        &FitParams::new(Method::Vi(small_vi(1, 1))).check().unwrap(),
        &data,
        &[],
        &mut h,
    )
    .unwrap();
    let mut h = Hooks {
        resume: Some(Checkpoint::load(&ck).unwrap()),
        ..Hooks::default()
    };
    let e = fit(&p, &data, &[], &mut h).unwrap_err();
    assert!(matches!(e, FitError::ResumeRestarts));
    assert!(e.is_input_error());
}

/// A run too short to learn anything keeps a collapsed model and says so.
#[test]
fn a_collapsed_run_is_flagged() {
    let data = lorenz(6000, 1);
    let p = held_out_vi(1);
    let f = fit(&p, &data, &[], &mut Hooks::default()).unwrap();
    let r = f.held_out.as_ref().unwrap();
    assert!(
        r.collapsed(),
        "gen std {:?} vs data {:?}",
        r.gen_std,
        r.data_std
    );
    assert!(f.collapsed);
    assert!(f.starts[0].collapsed);
}

#[test]
fn budget_without_epochs_trains_until_the_budget() {
    let mut t: toml::Table = "time_budget_secs = 5.0".parse().unwrap();
    epochs_until_budget(&mut t);
    assert_eq!(t["epochs"].as_integer(), Some(EPOCHS_UNTIL_BUDGET as i64));
    let mut t: toml::Table = "time_budget_secs = 5.0\nepochs = 3".parse().unwrap();
    epochs_until_budget(&mut t);
    assert_eq!(t["epochs"].as_integer(), Some(3));
    let mut t: toml::Table = "seed = 1".parse().unwrap();
    epochs_until_budget(&mut t);
    assert!(!t.contains_key("epochs"));
    // The largest epoch count passes validation for both methods.
    let vi = TrainConfig {
        epochs: EPOCHS_UNTIL_BUDGET,
        time_budget_secs: Some(1.0),
        ..TrainConfig::default()
    };
    assert!(vi.validate().is_ok());
    let bptt = BpttConfig {
        epochs: EPOCHS_UNTIL_BUDGET,
        time_budget_secs: Some(1.0),
        ..BpttConfig::default()
    };
    assert!(bptt.validate().is_ok());
}

#[test]
fn short_trials_hold_out_the_minimum_tail_up_to_a_quarter() {
    let trials: Vec<TimeSeries> = [9640usize, 30_000, 20_000, 5000, 2500]
        .iter()
        .map(|&n| lorenz(n, 0).trials()[0].clone())
        .collect();
    let (train, held) = split_holdout(&trials, 0.1, 1000);
    let held_len: Vec<usize> = held.iter().map(TimeSeries::len).collect();
    let train_len: Vec<usize> = train.iter().map(TimeSeries::len).collect();
    // 9640: 10 % is 964 < 2000, and 2000 is 20.7 % ≤ 25 %: 2000 held out.
    // 30 000: 10 % = 3000. 20 000: 10 % = 2000. 5000 and 2500: 2000 would be > 25 %: kept whole.
    assert_eq!(held_len, vec![2000, 3000, 2000]);
    assert_eq!(train_len, vec![7640, 27_000, 18_000, 5000, 2500]);
    // The tail is the trial's end.
    assert_eq!(held[0].row(0), trials[0].row(7640));
    // No hold-out asked: none.
    let (train, held) = split_holdout(&trials, 0.0, 1000);
    assert!(held.is_empty());
    assert_eq!(train.len(), 5);
    // A rest shorter than one sequence keeps the trial whole.
    let (_, held) = split_holdout(&trials[..1], 0.1, 8000);
    assert!(held.is_empty());
}

#[test]
fn bptt_latent_dim_below_the_channel_count_is_raised_to_it() {
    let data = lorenz(1500, 0);
    let cfg = BpttConfig {
        latent_dim: 2,
        bases: 3,
        epochs: 2,
        seq_len: 50,
        batch_size: 2,
        threads: 1,
        ..BpttConfig::default()
    };
    let p = FitParams::new(Method::Bptt(cfg)).check().unwrap();
    let (sized, note) = p.sized_for(3);
    let note = note.unwrap();
    assert!(
        note.contains("latent_dim 2") && note.contains("M = 3"),
        "{note}"
    );
    match sized.method() {
        CheckedMethod::Bptt(c) => assert_eq!(c.latent_dim, 3),
        CheckedMethod::Vi(_) => panic!("method changed"),
    }
    // Large enough already, or VI (whose observation model maps M latents to any N): unchanged.
    assert!(sized.sized_for(3).1.is_none());
    let vi = FitParams::new(Method::Vi(small_vi(1, 1))).check().unwrap();
    assert!(vi.sized_for(64).1.is_none());
    assert!(
        p.latent_note(data.trials()).is_none(),
        "BPTT has no such note"
    );
    // `fit` sizes by itself: the model has M = N = 3.
    let f = fit(&p, &data, &[], &mut Hooks::default()).unwrap();
    assert_eq!((f.model.m(), f.model.n()), (3, 3));
}

#[test]
fn restarts_share_the_time_budget_by_rounds() {
    let cfg = TrainConfig {
        time_budget_secs: Some(60.0),
        seed: 7,
        ..small_vi(10, 1)
    };
    let p = FitParams {
        restarts: 4,
        ..FitParams::new(Method::Vi(cfg))
    }
    .check()
    .unwrap();
    let budget = |q: &CheckedParams| match q.method() {
        CheckedMethod::Vi(c) => (c.seed, c.threads, c.time_budget_secs),
        CheckedMethod::Bptt(_) => unreachable!(),
    };
    // Four starts on one worker: four rounds of 15 s. On two workers: two rounds of 30 s.
    assert_eq!(budget(&p.start(3, 1, 4).unwrap()), (10, 1, Some(15.0)));
    assert_eq!(budget(&p.start(0, 1, 2).unwrap()), (7, 1, Some(30.0)));
    // All at once: each start has the whole budget.
    assert_eq!(budget(&p.start(1, 2, 1).unwrap()), (8, 2, Some(60.0)));
}

/// A VI fit's held-out report is the model file's, started from the states `plrnn evaluate`
/// starts from (the file's own filter through B), not from the encoder's states, which the
/// file does not hold.
#[test]
fn vi_held_out_report_starts_from_the_model_files_states() {
    let data = lorenz(6000, 2);
    let p = held_out_vi(10);
    let f = fit(&p, &data, &[], &mut Hooks::default()).unwrap();
    let norm = Normalization::fit(&data);
    let (_, held) = p.split(data.normalized(&norm).unwrap().trials());
    let held = HeldOutData::new(held[0].clone());
    let (_, want) = held_out_score(f.model.buf(), &held).unwrap();
    let got = f.held_out.as_ref().unwrap();
    assert_eq!(got.d_stsp.to_bits(), want.d_stsp.to_bits());
    assert_eq!(got.d_h.to_bits(), want.d_h.to_bits());
    assert_eq!(got.gen_std, want.gen_std);
}

/// VI with N > M reports the share of the variance its M latents start from, and suggests a
/// `--latent-dim` only when that share is small.
#[test]
fn latent_note_reports_the_principal_components_share() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
    let (t, n) = (2000, 8);
    // Eight channels mixing two slow signals (plus a little noise): two components hold
    // nearly everything. Eight independent noise channels: each component about 1/8.
    let mut mixed = Vec::with_capacity(t * n);
    let mut noise = Vec::with_capacity(t * n);
    for i in 0..t {
        let (a, b) = ((i as f64 * 0.05).sin(), (i as f64 * 0.013).cos());
        for j in 0..n {
            let e: f64 = rng.sample(StandardNormal);
            mixed.push((j as f64 + 1.0) * a - (j as f64 - 3.0) * b + 1e-3 * e);
            noise.push(rng.sample(StandardNormal));
        }
    }
    let mixed = [TimeSeries::new(mixed, n).unwrap()];
    let noise = [TimeSeries::new(noise, n).unwrap()];
    let vi = |m: usize| {
        let mut c = small_vi(1, 1);
        c.latent_dim = m;
        FitParams::new(Method::Vi(c)).check().unwrap()
    };
    let note = vi(2).latent_note(&mixed).unwrap();
    assert!(
        note.contains("M = 2 latents for 8 channels") && note.contains("100.0 %"),
        "{note}"
    );
    assert!(!note.contains("--latent-dim"), "{note}");
    let note = vi(2).latent_note(&noise).unwrap();
    let k: usize = note
        .split("--latent-dim ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|k| k.parse().ok())
        .unwrap_or_else(|| panic!("no suggestion: {note}"));
    // Eight near-equal components: 90 % needs 7 or 8 of them.
    assert!((7..=8).contains(&k), "{note}");
    let share: f64 = note
        .split("hold ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!((20.0..32.0).contains(&share), "{note}");
    // As many latents as channels: nothing to say.
    assert!(vi(8).latent_note(&noise).is_none());
}
