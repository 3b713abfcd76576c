//! `plrnn run` end to end: live inputs (stdin, UDP on the loopback interface) replayed through
//! `plrnn generate` give the same x text; Ctrl-C ends a run cleanly with complete files; a slow
//! consumer loses the oldest lines, not the schedule; bad options exit 2. Durations are short
//! and bounded; timing numbers are not asserted (the machine may be loaded).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn plrnn() -> Command {
    Command::new(env!("CARGO_BIN_EXE_plrnn"))
}

/// The firmware's trained model (M = 20, N = 3, P = 20, K = 1).
fn model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware-example/models/lorenz63-m20-p20.plrnn")
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn stats(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Checks the output CSV's shape and returns its rows.
fn rows(text: &str) -> Vec<Vec<String>> {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("t,s1,x1,x2,x3"));
    assert!(text.ends_with('\n'), "last line incomplete");
    lines
        .map(|l| {
            let r: Vec<String> = l.split(',').map(str::to_owned).collect();
            assert_eq!(r.len(), 5, "line {l:?}");
            r
        })
        .collect()
}

/// Replays the applied inputs (column s1) through `plrnn generate` and asserts its x text
/// equals the run's, line by line.
fn assert_replay_equal(dir: &Path, rows: &[Vec<String>], extra: &[&str]) {
    let s_path = dir.join("applied.csv");
    let mut s = String::from("s1\n");
    for r in rows {
        s.push_str(&r[1]);
        s.push('\n');
    }
    std::fs::write(&s_path, s).unwrap();
    let g_path = dir.join("replay.csv");
    let steps = rows.len().to_string();
    let model = model();
    let mut args = vec![
        "generate",
        "--model",
        p(&model),
        "--steps",
        &steps,
        "--inputs",
        p(&s_path),
        "--out",
        p(&g_path),
    ];
    args.extend_from_slice(extra);
    let out = plrnn().args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let g = std::fs::read_to_string(&g_path).unwrap();
    let mut gl = g.lines();
    assert_eq!(gl.next(), Some("x1,x2,x3"));
    let mut n = 0;
    for (t, (r, want)) in rows.iter().zip(gl).enumerate() {
        assert_eq!(r[0], t.to_string());
        assert_eq!(r[2..].join(","), want, "step {t}");
        n += 1;
    }
    assert_eq!(n, rows.len());
}

#[test]
fn stdin_inputs_replay_through_generate_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    for noise in [
        &["--noise", "none"][..],
        &["--noise", "full", "--seed", "3"][..],
    ] {
        let out_path = dir.path().join("run.csv");
        let stats_path = dir.path().join("stats.json");
        let mut args = vec![
            "run",
            "--rate",
            "1000",
            "--duration",
            "1.5",
            "--input",
            "stdin",
            "--output",
            p(&out_path),
            "--stats",
            p(&stats_path),
        ];
        args.extend_from_slice(noise);
        let mut child = plrnn()
            .args(&args)
            .args(["--model", p(&model())])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // Pulses arriving while the model runs, with bad lines among them.
        for i in 0..12 {
            std::thread::sleep(Duration::from_millis(20));
            let line = match i % 4 {
                0 => "2.5\n".to_string(),
                1 => "0\n".to_string(),
                2 => "oops\n1,2\nNaN\n".to_string(),
                _ => format!("{}\n", 0.1 * i as f64),
            };
            // The run may already be over on a very slow machine.
            let _ = stdin.write_all(line.as_bytes());
        }
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert!(err.contains("run: 1500 steps"), "{err}");
        let rows = rows(&std::fs::read_to_string(&out_path).unwrap());
        assert_eq!(rows.len(), 1500);
        assert_eq!(rows[0][1], "0.0", "zero before the first input");
        assert!(rows.iter().any(|r| r[1] == "2.5"));
        let st = stats(&stats_path);
        assert_eq!(st["steps"], 1500);
        assert_eq!(st["output_dropped"], 0);
        assert_eq!(st["bad_inputs"], 9, "{st}");
        assert_eq!(st["inputs_received"], 9, "{st}");
        for key in ["late_us", "step_us"] {
            for q in ["p50", "p99", "max"] {
                assert!(st[key][q].as_f64().unwrap() >= 0.0, "{st}");
            }
        }
        assert_replay_equal(dir.path(), &rows, noise);
    }
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends `datagrams` in turn, one every 10 ms, until the child exits.
fn feed_udp(child: &mut Child, port: u16, datagrams: &[Vec<u8>]) {
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let t0 = Instant::now();
    let mut i = 0;
    while child.try_wait().unwrap().is_none() {
        assert!(t0.elapsed() < Duration::from_secs(30), "run did not end");
        let _ = tx.send_to(&datagrams[i % datagrams.len()], ("127.0.0.1", port));
        i += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn udp_inputs_text_and_binary_replay_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let text: Vec<Vec<u8>> = vec![
        b"1.5\n".to_vec(),
        b"0\n".to_vec(),
        b"# comment\n-0.75\n".to_vec(),
        b"x\n".to_vec(),
    ];
    let bin: Vec<Vec<u8>> = vec![
        1.25f32.to_le_bytes().to_vec(),
        0.0f32.to_le_bytes().to_vec(),
        [3.0f32.to_le_bytes(), (-1.0f32).to_le_bytes()].concat(),
        vec![1, 2, 3],
    ];
    for (format, datagrams, pulse) in [("csv", &text, "1.5"), ("f32le", &bin, "1.25")] {
        let port = free_udp_port();
        let out_path = dir.path().join("run.csv");
        let stats_path = dir.path().join("stats.json");
        let mut child = plrnn()
            .args(["run", "--model", p(&model()), "--rate", "1000"])
            .args(["--duration", "0.5", "--input-format", format])
            .args(["--input", &format!("udp://127.0.0.1:{port}")])
            .args(["--output", p(&out_path), "--stats", p(&stats_path)])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        feed_udp(&mut child, port, datagrams);
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        let rows = rows(&std::fs::read_to_string(&out_path).unwrap());
        assert_eq!(rows.len(), 500);
        assert!(
            rows.iter().any(|r| r[1] == pulse),
            "{format}: no pulse applied"
        );
        let st = stats(&stats_path);
        assert!(st["bad_inputs"].as_u64().unwrap() >= 1, "{st}");
        assert!(
            st["first_bad_input"].as_str().unwrap().contains("datagram"),
            "{st}"
        );
        assert_replay_equal(dir.path(), &rows, &[]);
    }
}

#[test]
fn ctrl_c_ends_the_run_with_complete_files() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("run.csv");
    let stats_path = dir.path().join("stats.json");
    let mut child = plrnn()
        .args(["run", "--model", p(&model()), "--rate", "1000"])
        .args(["--output", p(&out_path), "--stats", p(&stats_path)])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The handler is in place once the run announces itself.
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    assert!(first.starts_with("running "), "{first}");
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0);
    let status = child.wait().unwrap();
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    let err = rest;
    assert!(status.success(), "{err}");
    let summary: Vec<&str> = err.lines().filter(|l| l.starts_with("run: ")).collect();
    assert_eq!(summary.len(), 1, "{err}");
    assert!(summary[0].contains("(interrupted)"), "{err}");
    let st = stats(&stats_path);
    assert_eq!(st["interrupted"], true);
    let steps = st["steps"].as_u64().unwrap();
    assert!(steps > 0, "{st}");
    let rows = rows(&std::fs::read_to_string(&out_path).unwrap());
    assert_eq!(rows.len() as u64, steps);
    assert_replay_equal(dir.path(), &rows, &[]);
}

#[test]
fn a_slow_consumer_loses_the_oldest_lines_not_the_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let stats_path = dir.path().join("stats.json");
    let mut child = plrnn()
        .args(["run", "--model", p(&model()), "--rate", "10000"])
        .args(["--duration", "0.5", "--queue", "200", "--spin-us", "0"])
        .args(["--stats", p(&stats_path)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Nobody reads stdout while the loop runs (0.5 s): the pipe fills, then the queue. The
    // output thread then waits for the reader; the stats are written once it is done.
    std::thread::sleep(Duration::from_millis(1500));
    let mut text = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    let out: Output = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let st = stats(&stats_path);
    assert_eq!(st["steps"], 5000);
    let dropped = st["output_dropped"].as_u64().unwrap();
    assert!(dropped > 0, "{st}");
    let rows = rows(&text);
    assert_eq!(rows.len() as u64 + dropped, 5000);
    let t: Vec<u64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
    assert!(t.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(*t.last().unwrap(), 4999, "the newest lines are kept");
}

#[test]
fn bad_options_exit_2_naming_the_flag() {
    let m = model();
    let cases: &[(&[&str], &str)] = &[
        (&["--rate", "0", "--duration", "1"], "--rate"),
        (&["--rate", "NaN", "--duration", "1"], "--rate"),
        (&["--rate", "100", "--duration=-1"], "--duration"),
        (
            &["--rate", "100", "--duration", "0.01", "--queue", "0"],
            "--queue",
        ),
        (
            &[
                "--rate",
                "100",
                "--duration",
                "0.01",
                "--input-format",
                "f32le",
            ],
            "--input-format",
        ),
        (
            &[
                "--rate",
                "100",
                "--duration",
                "0.01",
                "--input",
                "udp://256.0.0.1:1",
            ],
            "--input udp://256.0.0.1:1",
        ),
        (
            &[
                "--rate",
                "100",
                "--duration",
                "0.01",
                "--input",
                "/nonexistent/s.csv",
            ],
            "/nonexistent/s.csv",
        ),
    ];
    for (args, needle) in cases {
        let out = plrnn()
            .args(["run", "--model", p(&m)])
            .args(*args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}
