//! Quality experiment: train by VI on the paper's Lorenz-63 data and track D_stsp / D_H on the
//! test trajectory. Not a test (reads the paper's data from the folder named by `PLRNN_BENCH_DATA`).
//!
//! Usage: `PLRNN_BENCH_DATA=path/to/paper-benchmarks cargo run --release -p plrnn-train --example vi_lorenz -- [toml lines...]`, e.g.
//! `-- 'time_budget_secs = 60' 'batch_size = 2'`. Each argument is one TOML line of
//! `TrainConfig`; `eval_every` sets the evaluation interval.
//!
//! Evaluation protocol (fast form used during training): 100 initial states = encoder means at
//! evenly spaced test times, 1000 burn-in + 1000 kept steps each (10⁵ points), binned D_stsp with
//! 30 bins and the legacy ±2σ range; D_H (σ = 20) on one long trajectory (from the first initial
//! state, after burn-in) as long as the test series. The time spent evaluating is excluded from
//! the reported training time.

use std::time::Instant;

use plrnn_train::data::Dataset;
use plrnn_train::metrics::{d_h, d_stsp_binned, generate, BinRange};
use plrnn_train::train_loop::{Hooks, Progress};
use plrnn_train::vi::{train, TrainConfig, TrainedModel};
use plrnn_train::TimeSeries;

fn concat(parts: &[TimeSeries]) -> TimeSeries {
    let n = parts[0].dims();
    TimeSeries::new(
        parts.iter().flat_map(|p| p.as_slice().to_vec()).collect(),
        n,
    )
    .unwrap()
}

/// (D_stsp, D_H) of a model on the test series.
pub fn quick_eval(model: &TrainedModel, test: &TimeSeries) -> (f64, f64) {
    let states = model.infer_states(test);
    let z0s: Vec<Vec<f64>> = (0..100)
        .map(|q| states.row(q * test.len() / 100).to_vec())
        .collect();
    let Ok(trajs) = generate(model, &z0s, 1000, 1000) else {
        return (f64::NAN, f64::NAN);
    };
    let gen = concat(&trajs);
    if gen.as_slice().iter().any(|v| !v.is_finite()) {
        return (f64::INFINITY, 1.0);
    }
    let ds = d_stsp_binned(test, &gen, 30, BinRange::Legacy).unwrap_or(f64::NAN);
    let long = generate(model, &z0s[..1], 1000, test.len()).map(|t| t.into_iter().next().unwrap());
    let dh = match long {
        Ok(l) if l.as_slice().iter().all(|v| v.is_finite()) => {
            d_h(test, &l, 20.0).unwrap_or(f64::NAN)
        }
        _ => f64::NAN,
    };
    (ds, dh)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cfg = TrainConfig::from_toml(&args.join("\n")).expect("config");
    let cfg = cfg.validate().expect("valid config");
    // The paper's data is not part of the repository: name its folder, e.g.
    // PLRNN_BENCH_DATA=path/to/paper-benchmarks.
    let Ok(dir) = std::env::var("PLRNN_BENCH_DATA") else {
        eprintln!(
            "set PLRNN_BENCH_DATA to the folder holding lorenz63_train.npy and lorenz63_test.npy"
        );
        std::process::exit(2);
    };
    let train_set = Dataset::load_file(format!("{dir}/lorenz63_train.npy").as_ref()).unwrap();
    let test_set = Dataset::load_file(format!("{dir}/lorenz63_test.npy").as_ref()).unwrap();
    let test = test_set.trials()[0].clone();
    eprintln!("config: {cfg:?}");
    let start = Instant::now();
    let mut eval_secs = 0.0;
    let mut first_good: Option<(f64, usize)> = None;
    let mut hooks = Hooks {
        evaluator: Some(Box::new(|m: &TrainedModel| {
            let t = Instant::now();
            let (ds, dh) = quick_eval(m, &test);
            eval_secs += t.elapsed().as_secs_f64();
            let train_secs = start.elapsed().as_secs_f64() - eval_secs;
            println!("eval train_secs={train_secs:.1} d_stsp={ds:.3} d_h={dh:.3}");
            if ds <= 0.8 && dh <= 0.10 && first_good.is_none() {
                first_good = Some((train_secs, 0));
            }
            Some(if ds.is_finite() {
                ds + 5.0 * dh.min(1.0)
            } else {
                1e9
            })
        })),
        on_progress: Some(Box::new(|p: &Progress| {
            if p.eval.is_some() || p.epoch.is_multiple_of(10) {
                println!(
                    "epoch {} loss {:.4} a {:.2} updates {} ({:.0}/s) eval {:?}",
                    p.epoch,
                    p.loss,
                    cfg.obs_weight_at(p.epoch - 1),
                    p.updates,
                    p.updates_per_sec,
                    p.eval
                );
            }
        })),
        ..Hooks::default()
    };
    let out = train(train_set.trials(), &cfg, &mut hooks).expect("training");
    drop(hooks);
    let total = start.elapsed().as_secs_f64();
    println!(
        "done: epochs {} updates {} wall {:.1}s (eval {:.1}s) first (D_stsp<=0.8 & D_H<=0.1) at {:?}",
        out.epochs_done, out.updates, total, eval_secs, first_good
    );
    if let Some(b) = &out.best {
        let (ds, dh) = quick_eval(&b.model, &test);
        println!("best: epoch {} d_stsp {ds:.3} d_h {dh:.3}", b.epoch);
    }
    let (ds, dh) = quick_eval(&out.model, &test);
    println!("final: d_stsp {ds:.3} d_h {dh:.3}");
    println!(
        "sigma_z {:?}",
        out.model
            .sigma_z
            .iter()
            .map(|v| (v * 1000.0).round() / 1000.0)
            .collect::<Vec<_>>()
    );
}
