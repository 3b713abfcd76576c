//! Quality experiment: train by BPTT with teacher forcing on the paper's Lorenz-63 data and
//! report D_stsp / D_H on the test trajectory after 15, 30 and 60 s of training. Not a test
//! (reads the paper's data from the folder named by `PLRNN_BENCH_DATA`).
//!
//! Usage: `cargo run --release -p plrnn-train --example bptt_lorenz -- [toml lines...]`, e.g.
//! `-- 'seed = 3' 'tf_interval = 25'`. Each argument is one TOML line of `BpttConfig`;
//! `time_budget_secs` defaults to 60 here, `threads` to 2, `eval_every` to 8.
//!
//! Protocol. Test metrics: initial states from `DesktopModel::infer_states` on the test series
//! (observations put into the first N latents, hidden latents synchronised by the dynamics), at
//! 100 evenly spaced test times (from step 100 on); 1000 burn-in + 1000 kept steps each (10⁵
//! points); binned D_stsp, 30 bins, legacy ±2σ range; D_H (σ = 20) of one trajectory as long as
//! the test series (from the first initial state, after 1000 burn-in). Model selection (the
//! trainer's `best`) uses the same metrics computed on the *training* series (score D_stsp +
//! 5·D_H), never on the test series. Times are training time: evaluator time is excluded.
//! Output: one `mark` line per time mark with the current and the best-so-far model's test metrics.

use std::time::Instant;

use plrnn_train::bptt::{train, BpttConfig};
use plrnn_train::data::Dataset;
use plrnn_train::metrics::{d_h, d_stsp_binned, generate, BinRange};
use plrnn_train::model::DesktopModel;
use plrnn_train::train_loop::{Hooks, Progress};
use plrnn_train::TimeSeries;

fn concat(parts: &[TimeSeries]) -> TimeSeries {
    let n = parts[0].dims();
    TimeSeries::new(
        parts.iter().flat_map(|p| p.as_slice().to_vec()).collect(),
        n,
    )
    .unwrap()
}

/// (D_stsp, D_H) of a model on a series.
fn quick_eval(buf: &plrnn_nostd::ModelBuf, data: &TimeSeries) -> (f64, f64) {
    let Ok(valid) = plrnn_nostd::ValidModel::new(buf.clone()) else {
        return (f64::INFINITY, 1.0);
    };
    let model = DesktopModel::new(valid);
    let states = model.infer_states(data);
    let z0s: Vec<Vec<f64>> = (0..100)
        .map(|q| states.row(100 + q * (data.len() - 100) / 100).to_vec())
        .collect();
    if z0s.iter().flatten().any(|v| !v.is_finite()) {
        return (f64::INFINITY, 1.0);
    }
    let Ok(trajs) = generate(&model, &z0s, 1000, 1000) else {
        return (f64::NAN, f64::NAN);
    };
    let gen = concat(&trajs);
    if gen.as_slice().iter().any(|v| !v.is_finite()) {
        return (f64::INFINITY, 1.0);
    }
    let ds = d_stsp_binned(data, &gen, 30, BinRange::Legacy).unwrap_or(f64::NAN);
    let long = generate(&model, &z0s[..1], 1000, data.len()).map(|t| t.into_iter().next());
    let dh = match long {
        Ok(Some(l)) if l.as_slice().iter().all(|v| v.is_finite()) => {
            d_h(data, &l, 20.0).unwrap_or(f64::NAN)
        }
        _ => 1.0,
    };
    (ds, dh)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut cfg = BpttConfig {
        time_budget_secs: Some(60.0),
        threads: 2,
        eval_every: 8,
        ..BpttConfig::default()
    };
    let overrides = BpttConfig::from_toml(&args.join("\n")).expect("config");
    let text = args.join("\n");
    let table: toml::Table = toml::from_str(&text).expect("toml");
    // Only the keys given on the command line override the example's defaults.
    let mut merged = toml::Table::try_from(&cfg).expect("serialise");
    for (k, v) in table {
        merged.insert(k, v);
    }
    cfg = merged.try_into().expect("config");
    let _ = overrides;
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
    let train_series = train_set.trials()[0].clone();
    eprintln!("config: {cfg:?}");
    let marks = [15.0, 30.0, 60.0];
    let mut next_mark = 0usize;
    let start = Instant::now();
    let mut eval_secs = 0.0;
    let mut best_local: Option<(f64, plrnn_nostd::ModelBuf)> = None;
    let evaluator = |buf: &plrnn_nostd::ModelBuf| -> Option<f64> {
        let t = Instant::now();
        let train_secs = start.elapsed().as_secs_f64() - eval_secs;
        let (ds, dh) = quick_eval(buf, &train_series);
        let score = if ds.is_finite() {
            ds + 5.0 * dh.min(1.0)
        } else {
            1e9
        };
        if best_local.as_ref().is_none_or(|b| score < b.0) {
            best_local = Some((score, buf.clone()));
        }
        // A mark is reported at the first evaluation at or after it (the last one at the end).
        while next_mark < marks.len() && train_secs >= marks[next_mark] - 0.5 {
            let (cds, cdh) = quick_eval(buf, &test);
            let (bds, bdh) = quick_eval(&best_local.as_ref().unwrap().1, &test);
            println!(
                "mark {:.0}s train_secs={train_secs:.1} current d_stsp={cds:.3} d_h={cdh:.3} best d_stsp={bds:.3} d_h={bdh:.3}",
                marks[next_mark]
            );
            next_mark += 1;
        }
        let amax = buf.a.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        println!("eval train_secs={train_secs:.1} train-series d_stsp={ds:.3} d_h={dh:.3} max_abs_a={amax:.3}");
        eval_secs += t.elapsed().as_secs_f64();
        Some(score)
    };
    let progress = |p: &Progress| {
        if p.epoch.is_multiple_of(10) {
            println!("epoch {} loss {:.5}", p.epoch, p.loss);
        }
    };
    let mut hooks = Hooks {
        evaluator: Some(Box::new(evaluator)),
        on_progress: Some(Box::new(progress)),
        ..Hooks::default()
    };
    let out = train(train_set.trials(), &cfg, &mut hooks).expect("training");
    drop(hooks);
    println!(
        "done: epochs {} updates {} train {:.1}s ({:.2} ms/update) diverged {} loss {:.5}",
        out.epochs_done,
        out.updates,
        out.train_secs,
        1000.0 * out.train_secs / out.updates.max(1) as f64,
        out.diverged,
        out.last_loss
    );
    if let Some(b) = &out.best {
        let (ds, dh) = quick_eval(&b.model, &test);
        println!("best: epoch {} test d_stsp {ds:.3} d_h {dh:.3}", b.epoch);
    }
}
