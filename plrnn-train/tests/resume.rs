//! Interrupted training: `plrnn train` killed with SIGKILL mid-run and resumed from its last
//! checkpoint ends with exactly the model of an uninterrupted run.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use plrnn_train::simulate::{simulate, SimOptions, System};
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

fn plrnn() -> Command {
    Command::new(env!("CARGO_BIN_EXE_plrnn"))
}

fn write_csv(path: &Path, s: &TimeSeries) {
    plrnn_train::data::write_series(path, s).unwrap();
}

/// `plrnn train` killed with SIGKILL mid-run and resumed from its last checkpoint ends with
/// exactly the model file of an uninterrupted run (VI, the default method).
#[test]
fn sigkill_then_resume_equals_uninterrupted() {
    sigkill_then_resume(
        &[],
        "latent_dim = 6\nbases = 4\nepochs = 150\nseq_len = 200\ncheckpoint_every = 1\neval_every = 0\nseed = 9\nthreads = 1\n",
    );
}

/// The same for `--method bptt`.
#[test]
fn bptt_sigkill_then_resume_equals_uninterrupted() {
    sigkill_then_resume(
        &["--method", "bptt"],
        "latent_dim = 6\nbases = 4\nepochs = 2000\nseq_len = 100\nbatch_size = 2\ncheckpoint_every = 1\neval_every = 0\nseed = 9\nthreads = 1\n",
    );
}

fn sigkill_then_resume(method: &[&str], config: &str) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.csv");
    write_csv(&data, &lorenz(3000, 2));
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, config).unwrap();
    let args = |out: &Path| {
        let mut v: Vec<String> = vec![
            "train".to_owned(),
            "--data".into(),
            data.display().to_string(),
            "--config".into(),
            cfg.display().to_string(),
            "--holdout".into(),
            "0".into(),
            "--out".into(),
            out.display().to_string(),
        ];
        v.extend(method.iter().map(|s| s.to_string()));
        v
    };
    let full = dir.path().join("full.plrnn");
    let st = plrnn().args(args(&full)).output().unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );

    let cut = dir.path().join("cut.plrnn");
    let ckpt = dir.path().join("cut.plrnn.ckpt");
    let mut child = plrnn()
        .args(args(&cut))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !ckpt.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no checkpoint appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        child.try_wait().unwrap().is_none(),
        "training finished before it could be killed"
    );
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    assert!(!cut.exists(), "a killed run must not leave a model file");

    let mut resume = args(&cut);
    resume.extend(["--resume".to_owned(), ckpt.display().to_string()]);
    let st = plrnn().args(&resume).output().unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    assert_eq!(std::fs::read(&full).unwrap(), std::fs::read(&cut).unwrap());
}
