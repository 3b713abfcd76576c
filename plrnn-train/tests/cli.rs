//! The `plrnn` binary end to end: every class of bad input gets exit status 2 and a one-line
//! message naming the file and the problem, never a panic; the good paths produce what they say.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use plrnn_nostd::{Dims, ModelBuf, ValidModel, Variant};
use plrnn_train::model::DesktopModel;

fn plrnn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plrnn"))
        .args(args)
        .output()
        .expect("run plrnn")
}

/// Asserts a clean input error: status 2, one `error:` line naming `needle`s, no panic.
fn assert_input_error(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "want one error line: {err}");
    for n in needles {
        assert!(lines[0].contains(n), "{:?} lacks {n:?}", lines[0]);
    }
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A small stable 3-channel model with data statistics, written to `dir`.
fn write_model(dir: &Path) -> PathBuf {
    let mut b = ModelBuf::zeroed(
        Variant::ClippedDendritic,
        Dims {
            m: 4,
            n: 3,
            p: 2,
            k: 1,
        },
    );
    b.a = vec![0.9, 0.8, 0.7, 0.95];
    b.w = vec![
        0.0, 0.3, -0.2, 0.1, 0.2, 0.0, 0.4, -0.3, -0.1, 0.5, 0.0, 0.2, 0.3, -0.4, 0.1, 0.0,
    ];
    b.h = vec![0.1, -0.1, 0.2, 0.0];
    b.alpha = vec![1.0, -0.5];
    b.theta = vec![0.5, -0.5, 0.2, 0.1, -0.3, 0.4, 0.0, 0.6];
    b.c = vec![1.0, 0.0, 0.0, 0.5];
    b.b = vec![1.0, 0.0, 0.0, 0.5, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, -0.5];
    b.normalized = true;
    b.data_mean = vec![1.0, 2.0, 3.0];
    b.data_std = vec![2.0, 2.0, 2.0];
    let path = dir.join("m.plrnn");
    DesktopModel::new(ValidModel::new(b).unwrap())
        .save(&path)
        .unwrap();
    path
}

#[test]
fn simulate_inspect_generate_evaluate() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("l63.csv");
    let out = plrnn(&[
        "simulate",
        "lorenz63",
        "--steps",
        "3000",
        "--out",
        p(&data),
        "--seed",
        "3",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&data).unwrap();
    assert_eq!(text.lines().count(), 3001); // header + rows

    let model = write_model(dir.path());
    let out = plrnn(&["inspect", p(&model), "--json"]);
    assert!(out.status.success());
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["m"], 4);
    assert_eq!(j["variant"], "clipped-dendritic");
    assert!(j["spectral_radius_a_plus_w"].as_f64().unwrap() > 0.0);

    let gen = dir.path().join("gen.npy");
    let out = plrnn(&[
        "generate",
        "--model",
        p(&model),
        "--steps",
        "500",
        "--noise",
        "--seed",
        "4",
        "--out",
        p(&gen),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["steps"], 500);
    let series = plrnn_train::data::read_file(&gen).unwrap();
    assert_eq!((series[0].len(), series[0].dims()), (500, 3));
    // Same seed, same file.
    let gen2 = dir.path().join("gen2.npy");
    plrnn(&[
        "generate",
        "--model",
        p(&model),
        "--steps",
        "500",
        "--noise",
        "--seed",
        "4",
        "--out",
        p(&gen2),
    ]);
    assert_eq!(std::fs::read(&gen).unwrap(), std::fs::read(&gen2).unwrap());

    // Evaluate the model against its own output: JSON with the promised keys.
    let long = dir.path().join("long.csv");
    plrnn(&[
        "generate",
        "--model",
        p(&model),
        "--steps",
        "5000",
        "--out",
        p(&long),
    ]);
    let out = plrnn(&[
        "evaluate",
        "--model",
        p(&model),
        "--test",
        p(&long),
        "--json",
        "--trajectories",
        "5",
        "--burn-in",
        "100",
        "--keep",
        "500",
        "--no-data-lyapunov",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "d_stsp",
        "d_h",
        "psc",
        "pe",
        "n_dims",
        "gen_std",
        "data_std",
        "lyapunov_max",
        "protocol",
    ] {
        assert!(j.get(key).is_some(), "missing {key}: {j}");
    }
    assert!(j["pe"].get("20").is_some());
    assert_eq!(j["n_dims"], 3);
}

#[test]
fn bad_data_files_are_named_with_their_problem() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_model(dir.path());
    let gen_out = dir.path().join("o.csv");
    let cases: Vec<(&str, &[u8], Vec<&str>)> = vec![
        ("empty.csv", b"", vec!["empty.csv"]),
        ("ragged.csv", b"1,2,3\n4,5\n", vec!["ragged.csv", "line 2"]),
        ("text.csv", b"1,2,3\n4,x,6\n", vec!["text.csv", "line 2"]),
        ("nan.csv", b"1,2,3\n4,nan,6\n", vec!["nan.csv"]),
        ("inf.csv", b"1,2,3\n4,5,inf\n", vec!["inf.csv"]),
    ];
    for (name, content, needles) in cases {
        let f = dir.path().join(name);
        std::fs::write(&f, content).unwrap();
        let out = plrnn(&["evaluate", "--model", p(&model), "--test", p(&f)]);
        assert_input_error(&out, &needles);
        let out = plrnn(&["train", "--data", p(&f), "--out", p(&gen_out)]);
        assert_input_error(&out, &needles);
    }
    // Missing file.
    let out = plrnn(&[
        "evaluate",
        "--model",
        p(&model),
        "--test",
        "/nonexistent/x.csv",
    ]);
    assert_input_error(&out, &["/nonexistent/x.csv"]);
    // Width differs from the model's N.
    let two = dir.path().join("two.csv");
    std::fs::write(&two, "1,2\n3,4\n5,6\n").unwrap();
    let out = plrnn(&["evaluate", "--model", p(&model), "--test", p(&two)]);
    assert_input_error(&out, &["2 channels", "N = 3"]);
    // Series shorter than the sequence length.
    let short = dir.path().join("short.csv");
    std::fs::write(&short, "1,2,3\n4,5,6\n7,8,9\n").unwrap();
    let out = plrnn(&[
        "train",
        "--data",
        p(&short),
        "--seq-len",
        "100",
        "--out",
        p(&gen_out),
    ]);
    assert_input_error(&out, &["short.csv", "100"]);
    // Unsupported .npy dtype (int32) and rank (1-D).
    let npy = |descr: &str, shape: &str, payload: &[u8]| {
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut v = b"\x93NUMPY\x01\x00".to_vec();
        v.extend_from_slice(&(header.len() as u16).to_le_bytes());
        v.extend_from_slice(header.as_bytes());
        v.extend_from_slice(payload);
        v
    };
    let int = dir.path().join("int.npy");
    std::fs::write(&int, npy("<i4", "(2, 3)", &[0u8; 24])).unwrap();
    assert_input_error(
        &plrnn(&["evaluate", "--model", p(&model), "--test", p(&int)]),
        &["int.npy"],
    );
    let one = dir.path().join("onedim.npy");
    std::fs::write(&one, npy("<f8", "(3,)", &[0u8; 24])).unwrap();
    assert_input_error(
        &plrnn(&["evaluate", "--model", p(&model), "--test", p(&one)]),
        &["onedim.npy"],
    );
}

#[test]
fn bad_model_files_and_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_model(dir.path());
    let out_csv = dir.path().join("o.csv");
    // Unknown format version.
    let mut bytes = std::fs::read(&model).unwrap();
    bytes[4] = 7;
    let v7 = dir.path().join("v7.plrnn");
    std::fs::write(&v7, &bytes).unwrap();
    let out = plrnn(&[
        "generate",
        "--model",
        p(&v7),
        "--steps",
        "10",
        "--out",
        p(&out_csv),
    ]);
    assert_input_error(&out, &["v7.plrnn", "version 7"]);
    // A flipped bit is a checksum error.
    let mut bytes = std::fs::read(&model).unwrap();
    bytes[40] ^= 4;
    let bad = dir.path().join("bad.plrnn");
    std::fs::write(&bad, &bytes).unwrap();
    assert_input_error(&plrnn(&["inspect", p(&bad)]), &["bad.plrnn", "checksum"]);
    // Output folder that does not exist / is not writable.
    let out = plrnn(&[
        "generate",
        "--model",
        p(&model),
        "--steps",
        "10",
        "--out",
        "/nonexistent-dir/o.csv",
    ]);
    assert_input_error(&out, &["/nonexistent-dir/o.csv"]);
    // Unknown output extension.
    let out = plrnn(&[
        "generate",
        "--model",
        p(&model),
        "--steps",
        "10",
        "--out",
        p(&dir.path().join("o.xyz")),
    ]);
    assert_input_error(&out, &["o.xyz"]);
    assert!(!dir.path().join("o.xyz").exists());
}

#[test]
fn invalid_config_values_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.csv");
    let rows: String = (0..300)
        .map(|t| format!("{},{}\n", (t as f64 * 0.1).sin(), (t as f64 * 0.1).cos()))
        .collect();
    std::fs::write(&data, rows).unwrap();
    let out = dir.path().join("m.plrnn");
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "learning_rate = -1.0\n").unwrap();
    assert_input_error(
        &plrnn(&[
            "train",
            "--data",
            p(&data),
            "--config",
            p(&cfg),
            "--out",
            p(&out),
        ]),
        &["learning_rate", "-1"],
    );
    std::fs::write(&cfg, "no_such_key = 3\n").unwrap();
    assert_input_error(
        &plrnn(&[
            "train",
            "--data",
            p(&data),
            "--config",
            p(&cfg),
            "--out",
            p(&out),
        ]),
        &["c.toml", "no_such_key"],
    );
    assert_input_error(
        &plrnn(&[
            "train",
            "--data",
            p(&data),
            "--latent-dim",
            "0",
            "--out",
            p(&out),
        ]),
        &["latent_dim"],
    );
    assert!(!out.exists());
}

#[test]
fn train_by_bptt_writes_a_loadable_model() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.csv");
    let out = plrnn(&["simulate", "lorenz63", "--steps", "1500", "--out", p(&data)]);
    assert!(out.status.success());
    let model = dir.path().join("b.plrnn");
    let out = plrnn(&[
        "train",
        "--method",
        "bptt",
        "--data",
        p(&data),
        "--latent-dim",
        "6",
        "--bases",
        "3",
        "--epochs",
        "2",
        "--seq-len",
        "50",
        "--out",
        p(&model),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["epochs_done"], 2);
    let m = DesktopModel::load(&model).unwrap();
    assert_eq!((m.m(), m.n()), (6, 3));
    assert!(m.buf().normalized);
    // The VI-only option is rejected by name under BPTT.
    let out = plrnn(&[
        "train",
        "--method",
        "bptt",
        "--data",
        p(&data),
        "--encoder",
        "mlp",
        "--out",
        p(&model),
    ]);
    assert_input_error(&out, &["encoder"]);
}

/// `--inputs` trains C s_t (K = 1 here: a pulse train; with all-zero inputs C gets no gradient
/// and keeps its initial value, so a C that differs was trained), and inputs that do not match
/// the data trial for trial are rejected by name.
#[test]
fn train_with_inputs_learns_c_and_rejects_mismatched_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.csv");
    let out = plrnn(&["simulate", "lorenz63", "--steps", "3000", "--out", p(&data)]);
    assert!(out.status.success());
    let pulses = |rows: usize| {
        let mut t = String::from("s\n");
        for i in 0..rows {
            t.push_str(if i % 50 < 5 { "1.0\n" } else { "0.0\n" });
        }
        t
    };
    let inputs = dir.path().join("s.csv");
    std::fs::write(&inputs, pulses(3000)).unwrap();
    let model = dir.path().join("m.plrnn");
    let train = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--data",
            p(&data),
            "--latent-dim",
            "6",
            "--bases",
            "3",
            "--epochs",
            "3",
            "--seq-len",
            "200",
            "--holdout",
            "0",
            "--out",
            p(&model),
        ];
        args.extend_from_slice(extra);
        plrnn(&args)
    };
    let out = train(&["--inputs", p(&inputs)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = DesktopModel::load(&model).unwrap();
    assert_eq!((m.m(), m.n(), m.buf().dims.k), (6, 3, 1));
    let zeros = dir.path().join("zeros.csv");
    std::fs::write(&zeros, format!("s\n{}", "0.0\n".repeat(3000))).unwrap();
    let out = train(&["--inputs", p(&zeros)]);
    assert!(out.status.success());
    let untrained = DesktopModel::load(&model).unwrap();
    assert_eq!(untrained.buf().dims.k, 1);
    assert_ne!(
        m.buf().c,
        untrained.buf().c,
        "C did not move with the pulses"
    );

    // Two input series for one data trial.
    let out = train(&["--inputs", p(&inputs), p(&inputs)]);
    assert_input_error(&out, &["--inputs", "2 trial(s)", "holds 1"]);
    // One step short.
    let short = dir.path().join("short.csv");
    std::fs::write(&short, pulses(2999)).unwrap();
    let out = train(&["--inputs", p(&short)]);
    assert_input_error(&out, &["short.csv", "2999", "equally long"]);
    // BPTT has no C.
    let out = train(&["--method", "bptt", "--inputs", p(&inputs)]);
    assert_input_error(&out, &["--inputs needs --method vi"]);
}

/// `--embed`: a scalar recording (Lorenz-63's x) is delay-embedded for training; the embedding is
/// recorded beside the model, `generate` answers in the recording's one channel, `evaluate`
/// takes the one-channel test file, `inspect` names the embedding; retraining without `--embed`
/// removes the stale record; a bad spec is an input error naming the flag.
#[test]
fn delay_embedding_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("l63.csv");
    let out = plrnn(&["simulate", "lorenz63", "--steps", "4000", "--out", p(&full)]);
    assert!(out.status.success());
    let ds = plrnn_train::data::Dataset::load(&[&full]).unwrap();
    let x = plrnn_train::TimeSeries::new(ds.trials()[0].column(0), 1).unwrap();
    let scalar = dir.path().join("x.csv");
    plrnn_train::data::write_series(&scalar, &x).unwrap();
    let model = dir.path().join("e.plrnn");
    let train = |embed: &str| {
        plrnn(&[
            "train",
            "--data",
            p(&scalar),
            "--embed",
            embed,
            "--latent-dim",
            "6",
            "--bases",
            "2",
            "--epochs",
            "1",
            "--seq-len",
            "100",
            "--out",
            p(&model),
        ])
    };
    let out = train("auto");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("false nearest neighbours"), "{err}");
    let rec: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("e.plrnn.embed.json")).unwrap(),
    )
    .unwrap();
    let dim = rec["embedding"]["dim"].as_u64().unwrap() as usize;
    let lag = rec["embedding"]["lag"].as_u64().unwrap() as usize;
    assert!(dim >= 2 && lag >= 1, "{rec}");
    assert_eq!(DesktopModel::load(&model).unwrap().n(), dim);

    let gen = dir.path().join("g.csv");
    let out = plrnn(&[
        "generate",
        "--model",
        p(&model),
        "--steps",
        "50",
        "--out",
        p(&gen),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let g = plrnn_train::data::Dataset::load(&[&gen]).unwrap();
    assert_eq!((g.trials()[0].len(), g.dims()), (50, 1));
    // A one-channel recording as initial state is embedded like the training data.
    let out = plrnn(&[
        "generate",
        "--model",
        p(&model),
        "--steps",
        "5",
        "--init",
        p(&scalar),
        "--out",
        p(&gen),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = plrnn(&[
        "evaluate",
        "--model",
        p(&model),
        "--test",
        p(&scalar),
        "--trajectories",
        "3",
        "--burn-in",
        "10",
        "--keep",
        "200",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = plrnn(&["inspect", p(&model)]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("delay embedding"));

    // A fixed spec, then none: the record follows the model.
    assert!(train("3,7").status.success());
    assert!(
        std::fs::read_to_string(dir.path().join("e.plrnn.embed.json"))
            .unwrap()
            .contains("\"lag\": 7")
    );
    assert!(train("none").status.success());
    assert!(!dir.path().join("e.plrnn.embed.json").exists());
    let out = plrnn(&[
        "generate",
        "--model",
        p(&model),
        "--steps",
        "5",
        "--out",
        p(&gen),
    ]);
    assert!(out.status.success());
    assert_eq!(plrnn_train::data::Dataset::load(&[&gen]).unwrap().dims(), 1);

    let out = train("3");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--embed"));
}

/// With stderr not a terminal (a pipe here, a log file in a long job), training prints plain
/// progress lines: the first epoch, every held-out measurement with the best score so far,
/// and the last epoch.
#[test]
fn training_logs_progress_lines_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.npy");
    let out = plrnn(&["simulate", "lorenz63", "--steps", "4500", "--out", p(&data)]);
    assert!(out.status.success());
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "eval_every = 2\n").unwrap();
    let model = dir.path().join("b.plrnn");
    let out = plrnn(&[
        "train",
        "--method",
        "bptt",
        "--data",
        p(&data),
        "--config",
        p(&cfg),
        "--latent-dim",
        "4",
        "--bases",
        "2",
        "--epochs",
        "4",
        "--seq-len",
        "50",
        "--holdout",
        "0.5",
        "--threads",
        "1",
        "--out",
        p(&model),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("epoch ")).collect();
    assert!(lines[0].starts_with("epoch 1/4, "), "{err}");
    assert!(lines[0].contains(" s elapsed, loss "), "{err}");
    let last = lines.last().unwrap();
    assert!(last.starts_with("epoch 4/4, "), "{err}");
    // Evaluated after epoch 2 (and 4): the latest score and the best so far are shown.
    let scored = lines
        .iter()
        .find(|l| l.contains("held-out score"))
        .expect(&err);
    assert!(
        scored.contains("(D_stsp ") && scored.contains(", best "),
        "{err}"
    );
}

/// VI with fewer latents than channels says what share of the variance the principal
/// components it starts from hold.
#[test]
fn vi_with_fewer_latents_than_channels_reports_their_variance_share() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.npy");
    let out = plrnn(&["simulate", "lorenz63", "--steps", "600", "--out", p(&data)]);
    assert!(out.status.success());
    let small = [
        "--latent-dim",
        "2",
        "--bases",
        "2",
        "--epochs",
        "1",
        "--seq-len",
        "50",
        "--holdout",
        "0",
        "--threads",
        "1",
    ];
    let out = train_with(&data, &dir.path().join("v.plrnn"), &small);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let note = err
        .lines()
        .find(|l| l.starts_with("M = 2 latents for 3 channels"))
        .expect(&err);
    assert!(note.contains("principal components, which hold "), "{err}");
}

/// A run that collapses (one epoch of a tiny model) is said on stderr and in the metrics file;
/// with `--require-ok` it exits 1 after writing the files. `--restarts` trains several starts
/// and says which was kept; out-of-range starts are refused by name.
#[test]
fn collapse_is_reported_and_require_ok_fails() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.npy");
    let out = plrnn(&["simulate", "lorenz63", "--steps", "6000", "--out", p(&data)]);
    assert!(out.status.success());
    let model = dir.path().join("m.plrnn");
    let base = [
        "train",
        "--data",
        p(&data),
        "--latent-dim",
        "6",
        "--bases",
        "4",
        "--seq-len",
        "100",
        "--threads",
        "1",
        "--holdout",
        "0.35",
        "--out",
        p(&model),
    ];
    let mut args = base.to_vec();
    args.extend(["--epochs", "1"]);
    let warn = plrnn(&args);
    let err = String::from_utf8_lossy(&warn.stderr);
    assert!(warn.status.success(), "{err}");
    assert!(err.contains("warning: the kept model collapsed"), "{err}");
    let metrics = dir.path().join("m.plrnn.metrics.json");
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&metrics).unwrap()).unwrap();
    assert_eq!(j["collapsed"], true);

    std::fs::remove_file(&model).unwrap();
    args.push("--require-ok");
    let fail = plrnn(&args);
    let err = String::from_utf8_lossy(&fail.stderr);
    assert_eq!(fail.status.code(), Some(1), "{err}");
    assert!(err.contains("--require-ok"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(model.is_file(), "the model must be written before exiting");

    let mut args = base.to_vec();
    args.extend(["--epochs", "3", "--restarts", "2", "--json"]);
    let two = plrnn(&args);
    let err = String::from_utf8_lossy(&two.stderr);
    assert!(two.status.success(), "{err}");
    assert!(
        err.contains("start 0 (seed 0)") && err.contains("start 1 (seed 1)"),
        "{err}"
    );
    assert_eq!(err.matches("<- kept").count(), 1, "{err}");
    let j: serde_json::Value = serde_json::from_slice(&two.stdout).unwrap();
    assert_eq!(j["starts"].as_array().unwrap().len(), 2);

    let mut args = base.to_vec();
    args.extend(["--restarts", "0"]);
    assert_input_error(&plrnn(&args), &["--restarts", "0"]);
}

/// `--time-budget` without `--epochs` trains until the budget: the resolved configuration says
/// so; an explicit epoch count (flag or config file) is kept.
#[test]
fn time_budget_without_epochs_means_until_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.npy");
    let out = plrnn(&["simulate", "lorenz63", "--steps", "1500", "--out", p(&data)]);
    assert!(out.status.success());
    let model = dir.path().join("m.plrnn");
    let cfg_file = dir.path().join("c.toml");
    std::fs::write(
        &cfg_file,
        "epochs = 2\nlatent_dim = 4\nbases = 2\nseq_len = 100\n",
    )
    .unwrap();
    let resolved = |extra: &[&str]| -> toml::Table {
        let mut args = vec![
            "train",
            "--data",
            p(&data),
            "--latent-dim",
            "4",
            "--bases",
            "2",
            "--seq-len",
            "100",
            "--holdout",
            "0",
            "--out",
            p(&model),
        ];
        args.extend(extra);
        let o = plrnn(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read_to_string(dir.path().join("m.plrnn.config.toml"))
            .unwrap()
            .parse()
            .unwrap()
    };
    let t = resolved(&["--time-budget", "0.5"]);
    assert_eq!(t["epochs"].as_integer(), Some(1_000_000_000));
    let t = resolved(&["--time-budget", "0.5", "--epochs", "2"]);
    assert_eq!(t["epochs"].as_integer(), Some(2));
    let t = resolved(&["--time-budget", "0.5", "--config", p(&cfg_file)]);
    assert_eq!(t["epochs"].as_integer(), Some(2));
    let t = resolved(&["--epochs", "2"]);
    assert_eq!(t["epochs"].as_integer(), Some(2));
}

/// The defaults `plrnn train --help` states are the configurations' real defaults.
#[test]
fn train_help_states_the_real_defaults() {
    use plrnn_train::{bptt::BpttConfig, vi::TrainConfig};
    let out = plrnn(&["train", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout).replace('\n', " ");
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    let (v, b) = (TrainConfig::default(), BpttConfig::default());
    let lr = |x: f64| format!("{x:e}");
    for want in [
        format!(
            "[default: {} for vi, {} for bptt]",
            v.latent_dim, b.latent_dim
        ),
        format!("[default: {}]", v.bases),
        format!("(vi {}, bptt {})", v.epochs, b.epochs),
        format!("[default: {} for vi, {} for bptt]", v.seq_len, b.seq_len),
        format!(
            "[default: {} for vi, {} for bptt]",
            v.batch_size, b.batch_size
        ),
        format!(
            "[default: {} for vi, {} for bptt]",
            lr(v.learning_rate),
            lr(b.learning_rate)
        ),
        format!("Seed, 0..=2^63−1 [default: {}]", v.seed),
        format!("(0 = all cores) [default: {}]", v.threads),
    ] {
        assert!(help.contains(&want), "--help lacks {want:?}");
    }
    assert_eq!((v.seed, v.threads), (b.seed, b.threads));
    assert_eq!(v.bases, b.bases);
    assert!(help.contains(&format!(
        "[default: {} for vi, {} for bptt]",
        format!("{:?}", v.variant).to_lowercase(),
        "clipped_dendritic"
    )));
    assert_eq!(format!("{:?}", b.variant), "ClippedDendritic");
}

/// `plrnn train` on a data file and an output, then `extra` flags: the messages below are about
/// the flags alone, so the data need not exist when the flags are refused first.
fn train_with(data: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["train", "--data", p(data), "--out", p(out)];
    args.extend(extra);
    plrnn(&args)
}

/// Asserts a refused flag value: status 2, the flag, the value and `reason` on the error line.
fn assert_flag_refused(out: &Output, flag: &str, value: &str, reason: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let line = err.lines().find(|l| l.starts_with("error:")).expect(&err);
    for want in [flag, value, reason] {
        assert!(line.contains(want), "{line:?} lacks {want:?}");
    }
}

/// `plrnn generate` of `model` into `out`, then `extra` flags.
fn generate_with(model: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["generate", "--model", p(model), "--out", p(out)];
    args.extend(extra);
    plrnn(&args)
}

/// An out-of-range value is refused by clap before any work, naming the flag, the value and the
/// allowed range (one text for every command, from `plrnn_train::ranges`); a negative number is
/// a value, not a flag: it reaches the range check and is refused by it.
#[test]
fn out_of_range_values_name_flag_value_and_range() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_model(dir.path());
    let o = dir.path().join("o.csv");
    let none = dir.path().join("none.npy");
    let generate = |extra: &[&str]| generate_with(&model, &o, extra);
    let train = |extra: &[&str]| train_with(&none, &o, extra);
    let evaluate = |extra: &[&str]| {
        let mut args = vec!["evaluate", "--model", p(&model), "--test", p(&o)];
        args.extend(extra);
        plrnn(&args)
    };
    type Run<'a> = &'a dyn Fn(&[&str]) -> Output;
    #[rustfmt::skip]
    let cases: [(Run, &[&str], &str, &str, &str); 6] = [
        (&generate, &["--steps", "0"], "'--steps <STEPS>'", "'0'", "0 is not in 1..=100000000"),
        (&evaluate, &["--bins", "1"], "'--bins <BINS>'", "'1'", "1 is not in 2..=1000"),
        (&train, &["--holdout", "0.95"], "'--holdout <HOLDOUT>'", "'0.95'", "0.95 is not in [0, 0.9]"),
        (&generate, &["--steps", "10", "--burn-in", "-5"], "'--burn-in <BURN_IN>'", "'-5'", "-5 is not in 0..=100000000"),
        (&generate, &["--steps", "10", "--clamp", "-1"], "'--clamp <CLAMP>'", "'-1'", "-1 is not in (0, 1e30]"),
        (&train, &["--time-budget", "-5"], "--time-budget", "-5", "must be in (0, 1e8] seconds"),
    ];
    for (run, extra, flag, value, reason) in cases {
        assert_flag_refused(&run(extra), flag, value, reason);
    }
    assert!(!o.exists());
}

/// A negative value of an integer training flag reaches the range check too (for both methods),
/// naming the flag, the value and the range.
#[test]
fn negative_integer_training_flags_reach_the_range_check() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("none.npy");
    let o = dir.path().join("m.plrnn");
    for (method, flag, range) in [
        ("vi", "--latent-dim", "1..=4096"),
        ("vi", "--bases", "1..=4096"),
        ("vi", "--epochs", "1..=1000000000"),
        ("vi", "--seq-len", "2..=10000000"),
        ("bptt", "--seq-len", "1..=10000000"),
        ("vi", "--batch", "1..=1000000"),
        ("bptt", "--threads", "0..=1024"),
        ("vi", "--seed", "0..=9223372036854775807"),
        ("vi", "--restarts", "1..=64"),
    ] {
        let out = train_with(&data, &o, &["--method", method, flag, "-1"]);
        assert_flag_refused(&out, flag, "-1", range);
    }
    assert!(!o.exists());
}

/// `--variant foo` lists the variants (not a TOML error about a file the user never wrote);
/// `--encoder mlp --method bptt` names the flag that does not apply.
#[test]
fn wrong_choices_are_explained_by_flag() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("none.npy");
    let m = dir.path().join("m.plrnn");
    let out = train_with(&data, &m, &["--variant", "foo"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_flag_refused(&out, "'--variant <VARIANT>'", "'foo'", "invalid value");
    assert!(
        err.contains("[possible values: relu, dendritic, clipped_dendritic, clipped-dendritic]"),
        "{err}"
    );
    assert!(!err.contains("TOML") && !err.contains("line"), "{err}");
    let out = train_with(&data, &m, &["--method", "bptt", "--encoder", "mlp"]);
    assert_input_error(&out, &["--encoder does not apply to --method bptt"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("unknown field"));
}

/// Output paths are checked before the data are read: a folder as `--out`, or a file in a
/// folder that does not exist, is refused by name — the data file named here does not exist,
/// so a message about it would mean the data were read first.
#[test]
fn output_paths_are_refused_before_the_data_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("missing-data.npy");
    let missing = dir.path().join("no").join("m.plrnn");
    for (out, want) in [
        (dir.path().to_path_buf(), "is a folder; give a file name"),
        (missing.clone(), "does not exist"),
    ] {
        let o = train_with(&data, &out, &[]);
        assert_input_error(&o, &["--out", p(&out), want]);
        assert!(!String::from_utf8_lossy(&o.stderr).contains("missing-data"));
    }
    assert!(!missing.parent().unwrap().exists());
}
