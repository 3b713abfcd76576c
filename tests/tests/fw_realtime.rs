//! The firmware's real-time mode, its hardware-independent parts on the host
//! (`firmware-example/src/realtime.rs`, included as the firmware compiles it): input lines,
//! the hold of the newest input, the drop-oldest record queue, the tick against a plain
//! generator, and the log converter `fw_realtime` (good log, dropped step, wrong model). The
//! device itself runs under QEMU in `firmware-example/ci.sh`, replayed through `plrnn generate`.

#[path = "../../firmware-example/src/realtime.rs"]
#[allow(dead_code)]
mod realtime;
#[path = "../../firmware-example/src/scenario.rs"]
#[allow(dead_code)]
mod scenario;

use std::path::{Path, PathBuf};
use std::process::Command;

use plrnn_nostd::input::InputError;
use plrnn_nostd::{Generator, Noise};
use realtime::{BadLine, Counters, Inbox, LineReader, Record, Ring, Ticker, LINE_CAPACITY};
use scenario::{Line, Sink};

type Model = plrnn_nostd::Model<20, 3, 20, 1>;

fn model_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../firmware-example/models/lorenz63-m20-p20.plrnn")
}

fn model() -> Box<Model> {
    let mut m = Box::new(Model::new_zeroed());
    m.decode_into(&std::fs::read(model_path()).unwrap())
        .unwrap();
    m
}

/// Feeds `text` byte by byte; returns every line's outcome.
fn feed<const K: usize>(r: &mut LineReader<K>, text: &[u8]) -> Vec<Result<[f32; K], BadLine>> {
    text.iter().filter_map(|&b| r.push(b)).collect()
}

#[test]
fn line_reader_parses_skips_and_rejects() {
    let mut r = LineReader::<2>::new();
    assert_eq!(feed(&mut r, b"1.5, -2\r\n"), vec![Ok([1.5, -2.0])]);
    // A line split over several pushes, blank and comment lines skipped.
    assert_eq!(feed(&mut r, b"3,"), vec![]);
    assert_eq!(feed(&mut r, b"4\n\n  \n# s1,s2\n"), vec![Ok([3.0, 4.0])]);
    assert_eq!(
        feed(&mut r, b"1\nx,1\n1,nan\n"),
        vec![
            Err(BadLine::Parse(InputError::Count {
                expected: 2,
                found: 1
            })),
            Err(BadLine::Parse(InputError::NotANumber { column: 1 })),
            Err(BadLine::Parse(InputError::NonFinite { column: 2 })),
        ]
    );
    assert_eq!(feed(&mut r, b"\xff,1\n"), vec![Err(BadLine::NotText)]);
    let mut long = vec![b' '; LINE_CAPACITY + 1];
    long.extend_from_slice(b"1,2\n");
    assert_eq!(feed(&mut r, &long), vec![Err(BadLine::TooLong)]);
    // After bad lines the reader starts afresh; exactly LINE_CAPACITY bytes still fit.
    let mut fits = vec![b' '; LINE_CAPACITY - 3];
    fits.extend_from_slice(b"5,6\n");
    assert_eq!(feed(&mut r, &fits), vec![Ok([5.0, 6.0])]);
}

#[test]
fn inbox_hands_out_the_newest_and_counts_the_superseded() {
    let mut inbox = Inbox::<1>::new();
    assert_eq!(inbox.take(), None);
    inbox.put([1.0]);
    assert_eq!(inbox.take(), Some(([1.0], 0)));
    assert_eq!(inbox.take(), None);
    inbox.put([2.0]);
    inbox.put([3.0]);
    inbox.put([4.0]);
    assert_eq!(inbox.take(), Some(([4.0], 2)));
    assert_eq!(inbox.received(), 4);
}

#[test]
fn ring_drops_the_oldest_when_full() {
    let rec = |t| Record::<1, 1> {
        t,
        s: [t as f32],
        x: [-(t as f32)],
    };
    let mut ring = Ring::<1, 1, 3>::new();
    assert!(ring.is_empty());
    for t in 0..5 {
        ring.push(rec(t));
    }
    assert_eq!(ring.dropped(), 2);
    let got: Vec<u32> = std::iter::from_fn(|| ring.pop()).map(|r| r.t).collect();
    assert_eq!(got, vec![2, 3, 4]);
    ring.push(rec(9));
    assert_eq!(ring.pop(), Some(rec(9)));
    assert_eq!(ring.pop(), None);
}

#[test]
fn ticker_holds_each_input_until_the_next_and_steps_like_the_generator() {
    let model = model();
    let mut ticker = Ticker::new(&model);
    let mut inbox = Inbox::<1>::new();
    // Inputs arriving before some ticks: (tick, values put before it).
    let arrivals: &[(u32, &[f32])] = &[(3, &[1.0]), (5, &[2.0, 0.5]), (9, &[0.0]), (12, &[-1.0])];
    let mut records = Vec::new();
    for t in 0..20u32 {
        for &(at, vals) in arrivals {
            if at == t {
                for &v in vals {
                    inbox.put([v]);
                }
            }
        }
        records.push(ticker.tick(inbox.take()));
    }
    assert_eq!(
        (ticker.applied, ticker.superseded, ticker.steps()),
        (4, 1, 20)
    );
    // The same held sequence, written out: zero before the first input.
    let held = |t: u32| match t {
        0..=2 => 0.0,
        3..=4 => 1.0,
        5..=8 => 0.5,
        9..=11 => 0.0,
        _ => -1.0,
    };
    let mut gen = Generator::new(&*model, 0);
    let mut x = [0.0f32; 3];
    for (t, r) in records.iter().enumerate() {
        let s = [held(t as u32)];
        gen.step(&s, Noise::None, &mut x);
        assert_eq!(r.t, t as u32);
        assert_eq!(r.s[0].to_bits(), s[0].to_bits(), "s at step {t}");
        assert_eq!(r.x.map(f32::to_bits), x.map(f32::to_bits), "x at step {t}");
    }
}

struct Text(String);

impl Sink for Text {
    fn line(&mut self, line: &str) {
        self.0.push_str(line);
        self.0.push('\n');
    }
}

/// A log as the firmware prints it, from the shared printing code, for `steps` steps with an
/// input of 1 from step 2 on.
fn device_log(steps: u32) -> String {
    let model = model();
    let bytes = std::fs::read(model_path()).unwrap();
    let mut out = Text(String::new());
    let mut line = Line::new();
    realtime::print_header(&mut line, "m", scenario::file_crc(&bytes), Model::DIMS);
    line.emit(&mut out);
    let mut ticker = Ticker::new(&model);
    for t in 0..steps {
        let r = ticker.tick((t == 2).then_some(([1.0], 0)));
        r.print(&mut line);
        line.emit(&mut out);
    }
    Counters {
        steps,
        ..Counters::default()
    }
    .print(&mut line);
    line.emit(&mut out);
    out.0
}

fn convert(log: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.log");
    std::fs::write(&path, log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_fw_realtime"))
        .arg("--model")
        .arg(model_path())
        .arg(&path)
        .output()
        .unwrap()
}

#[test]
fn converter_writes_plrnn_run_csv_and_refuses_gaps_and_other_models() {
    let log = device_log(5);
    let out = convert(&log);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "t,s1,x1,x2,x3");
    assert_eq!(lines.len(), 6);
    let s: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(s, ["0.0", "0.0", "1.0", "1.0", "1.0"]);
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("end steps=5 "));

    // A dropped record (step 3 missing): replay would be wrong, so it is an error.
    let gap: String = log
        .lines()
        .filter(|l| !l.starts_with("r 3 "))
        .map(|l| format!("{l}\n"))
        .collect();
    let out = convert(&gap);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("step 4 follows step 2"));

    // A log from another model file (other CRC).
    let other = log.replacen("crc32=", "crc32=0", 1);
    let out = convert(&other);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not match"));

    // An incomplete run (no end line).
    let cut: String = log
        .lines()
        .filter(|l| !l.starts_with("end"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(convert(&cut).status.code(), Some(2));
}
