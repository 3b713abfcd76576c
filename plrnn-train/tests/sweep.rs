//! `plrnn sweep` end to end with the local executor: a small sweep (2 data sets × 2 seeds) runs,
//! its table and best models are collected, a repeat skips finished runs, an interrupted run
//! resumes from its checkpoint to the same bits, and bad sweep files are refused with exit 2.
//! The Slurm executor is tested against a real one-node Slurm by `scripts/slurm-ci.sh`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn plrnn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plrnn"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run plrnn")
}

fn ok(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "plrnn failed: {err}");
    err
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Two simulated data sets (two Lorenz-63 "subjects" from different initial states; train and
/// test files) and a sweep file over
/// them with two seeds and a fixed number of epochs; returns the sweep file.
fn small_sweep(dir: &Path) -> PathBuf {
    for (sys, seed, name) in [
        ("lorenz63", "1", "l63a_train.npy"),
        ("lorenz63", "2", "l63a_test.npy"),
        ("lorenz63", "3", "l63b_train.npy"),
        ("lorenz63", "4", "l63b_test.npy"),
    ] {
        ok(&plrnn(&[
            "simulate",
            sys,
            "--steps",
            "6000",
            "--seed",
            seed,
            "--out",
            p(&dir.join(name)),
        ]));
    }
    let file = dir.join("sweep.toml");
    std::fs::write(
        &file,
        r#"
method = "vi"
[train]
epochs = 300
latent_dim = 10
bases = 8
seq_len = 100
threads = 1

[grid]
seed = [0, 1]
[[data]]
name = "l63a"
train = ["l63a_train.npy"]
test = "l63a_test.npy"
holdout = 0.35
[[data]]
name = "l63b"
train = ["l63b_train.npy"]
test = "l63b_test.npy"
holdout = 0.35
"#,
    )
    .unwrap();
    file
}

fn csv_rows(dir: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(dir.join("results.csv"))
        .unwrap()
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

#[test]
fn local_sweep_runs_collects_and_repeats() {
    let d = tempfile::tempdir().unwrap();
    let file = small_sweep(d.path());
    let out = d.path().join("out");
    let err = ok(&plrnn(&[
        "sweep",
        p(&file),
        "--out",
        p(&out),
        "--jobs",
        "2",
    ]));
    assert!(err.contains("4 runs (0 finished already)"), "{err}");

    let rows = csv_rows(&out);
    assert_eq!(rows.len(), 5, "header + 4 runs");
    let header = &rows[0];
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("{name} in {header:?}"))
    };
    let (data, seed, status, exec, dstsp) = (
        col("data"),
        col("seed"),
        col("status"),
        col("executor"),
        col("d_stsp"),
    );
    let mut seen: Vec<(String, String)> = rows[1..]
        .iter()
        .map(|r| (r[data].clone(), r[seed].clone()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [("l63a", "0"), ("l63a", "1"), ("l63b", "0"), ("l63b", "1")]
            .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    for r in &rows[1..] {
        assert!(
            r[status] == "ok" || r[status] == "collapsed",
            "a run failed: {r:?}"
        );
        assert_eq!(r[exec], "local");
        assert!(r[dstsp].parse::<f64>().is_ok(), "test D_stsp in {r:?}");
    }
    // The best model per data set is one of the run models, byte for byte.
    for name in ["l63a", "l63b"] {
        let best = std::fs::read(out.join("best").join(format!("{name}.plrnn"))).unwrap();
        let from_runs = std::fs::read_dir(out.join("runs"))
            .unwrap()
            .filter_map(|e| std::fs::read(e.unwrap().path().join("model.plrnn")).ok())
            .any(|m| m == best);
        assert!(from_runs, "best/{name}.plrnn is not a run's model");
        ok(&plrnn(&[
            "inspect",
            p(&out.join("best").join(format!("{name}.plrnn"))),
        ]));
    }
    assert!(out.join("report.md").is_file() && out.join("report.png").is_file());

    // A repeat finds every run finished and runs nothing.
    let err = ok(&plrnn(&["sweep", p(&file), "--out", p(&out)]));
    assert!(err.contains("4 runs (4 finished already)"), "{err}");
    let status = plrnn(&["sweep", "status", p(&out), "--json"]);
    ok(&status);
    let c: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(c["pending"], 0);
    assert_eq!(c["running"], 0);
    assert_eq!(c["failed"], 0);

    // Same sweep, same bits: a second folder holds byte-identical models.
    let out2 = d.path().join("out2");
    ok(&plrnn(&[
        "sweep",
        p(&file),
        "--out",
        p(&out2),
        "--jobs",
        "1",
    ]));
    for e in std::fs::read_dir(out.join("runs")).unwrap() {
        let e = e.unwrap();
        let a = std::fs::read(e.path().join("model.plrnn")).unwrap();
        let b = std::fs::read(out2.join("runs").join(e.file_name()).join("model.plrnn")).unwrap();
        assert_eq!(a, b, "run {:?} differs between two sweeps", e.file_name());
    }
}

/// A sweep killed (SIGKILL to the sweep and its `plrnn train` child) after a run wrote a
/// checkpoint: the repeat resumes that run from its checkpoint, and its model equals, byte for
/// byte, the model of the same sweep run without interruption.
#[test]
fn killed_sweep_resumes_to_the_same_model() {
    use std::os::unix::process::CommandExt;
    let d = tempfile::tempdir().unwrap();
    small_sweep(d.path());
    let file = d.path().join("long.toml");
    std::fs::write(
        &file,
        "[train]\nepochs = 400\ncheckpoint_every = 2\nlatent_dim = 10\nbases = 8\n\
         seq_len = 100\nthreads = 1\n[grid]\nseed = [3]\n[[data]]\nname = \"l63a\"\n\
         train = [\"l63a_train.npy\"]\nholdout = 0.35\n",
    )
    .unwrap();
    let whole = d.path().join("whole");
    ok(&plrnn(&["sweep", p(&file), "--out", p(&whole)]));
    let want = std::fs::read(whole.join("runs/l63a__seed-3/model.plrnn")).unwrap();

    let out = d.path().join("out");
    let rd = out.join("runs/l63a__seed-3");
    let mut child = Command::new(env!("CARGO_BIN_EXE_plrnn"))
        .args(["sweep", p(&file), "--out", p(&out)])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while !rd.join("model.plrnn.ckpt").is_file() {
        assert!(t0.elapsed().as_secs() < 120, "no checkpoint appeared");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // Let a few more checkpoints pass, then kill the whole process group.
    std::thread::sleep(std::time::Duration::from_millis(100));
    let killed = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .status()
        .unwrap();
    assert!(killed.success());
    child.wait().unwrap();
    assert!(
        !rd.join("model.plrnn").exists(),
        "the run finished before it could be killed"
    );
    let s = plrnn(&["sweep", "status", p(&out)]);
    assert!(
        ok(&s).contains("1 running"),
        "{}",
        String::from_utf8_lossy(&s.stderr)
    );

    let err = ok(&plrnn(&["sweep", p(&file), "--out", p(&out)]));
    assert!(err.contains("1 runs (0 finished already)"), "{err}");
    let log = std::fs::read_to_string(rd.join("train.log")).unwrap();
    assert!(
        log.contains("resuming from"),
        "the run did not resume: {log}"
    );
    assert_eq!(std::fs::read(rd.join("model.plrnn")).unwrap(), want);
}

#[test]
fn bad_sweep_files_exit_2_naming_file_and_key() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("a.npy"), b"not an array").unwrap();
    let cases: &[(&str, &str)] = &[
        ("[train]\nepochs = 1\n[grid]\nseed = [0]\n[[data]]\nname = \"a\"\ntrain = [\"a.npy\"]\nbogus = 1\n", "bogus"),
        ("[grid]\nseed = []\n[[data]]\nname = \"a\"\ntrain = [\"a.npy\"]\n", "seed"),
        ("[grid]\nseed = [0]\n[[data]]\nname = \"a\"\ntrain = [\"missing.npy\"]\n", "missing.npy"),
        ("[grid]\nseed = [0]\n[[data]]\nname = \"a\"\ntrain = [\"a.npy\"]\n[[data]]\nname = \"a\"\ntrain = [\"a.npy\"]\n", "a"),
        ("[train]\nno_such_key = 3\n[grid]\nseed = [0]\n[[data]]\nname = \"a\"\ntrain = [\"a.npy\"]\n", "no_such_key"),
    ];
    for (i, (text, key)) in cases.iter().enumerate() {
        let file = d.path().join(format!("bad{i}.toml"));
        std::fs::write(&file, text).unwrap();
        let out = d.path().join(format!("out{i}"));
        let o = plrnn(&["sweep", p(&file), "--out", p(&out)]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "case {i}: {err}");
        assert!(!err.contains("panicked"), "case {i}: {err}");
        assert!(
            err.contains(&format!("bad{i}.toml")),
            "case {i} lacks the file: {err}"
        );
        assert!(err.contains(key), "case {i} lacks {key:?}: {err}");
        assert!(!out.join("runs").exists(), "case {i} started runs");
    }
}
