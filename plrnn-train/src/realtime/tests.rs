use super::*;

use std::sync::Arc;

use plrnn_nostd::{Dims, ModelBuf, ValidModel, Variant};

/// A small stable model with one input channel and data statistics.
fn model() -> DesktopModel {
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
    b.data_std = vec![2.0, 0.3, 7.0];
    DesktopModel::new(ValidModel::new(b).unwrap())
}

#[test]
fn ring_drops_the_oldest_when_full() {
    let r = Ring::new(4, 2);
    for i in 0..10u32 {
        r.push(&[i, 100 + i]);
    }
    assert_eq!(r.dropped(), 6);
    let mut out = [0u32; 2];
    let mut got = Vec::new();
    while r.pop(&mut out) {
        got.push(out);
    }
    assert_eq!(got, vec![[6, 106], [7, 107], [8, 108], [9, 109]]);
    assert!(r.is_empty());
    r.push(&[42, 43]);
    assert!(r.pop(&mut out));
    assert_eq!(out, [42, 43]);
    assert!(!r.pop(&mut out));
}

/// A producer much faster than the consumer: every popped record is whole (all words equal),
/// in order, and popped + dropped = pushed.
#[test]
fn ring_under_contention_never_tears_or_reorders() {
    const N: u32 = 200_000;
    let r = Arc::new(Ring::new(8, 5));
    let done = Arc::new(AtomicBool::new(false));
    let producer = {
        let (r, done) = (r.clone(), done.clone());
        std::thread::spawn(move || {
            for i in 1..=N {
                r.push(&[i; 5]);
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let mut out = [0u32; 5];
    let (mut popped, mut last) = (0u64, 0u32);
    loop {
        let finished = done.load(Ordering::SeqCst);
        if r.pop(&mut out) {
            assert!(out.iter().all(|&w| w == out[0]), "torn record {out:?}");
            assert!(out[0] > last, "{} after {last}", out[0]);
            last = out[0];
            popped += 1;
        } else if finished {
            break;
        }
    }
    producer.join().unwrap();
    assert_eq!(last, N);
    assert_eq!(popped + r.dropped(), N as u64);
}

#[test]
fn csv_lines_parse_strictly() {
    let mut s = [7.0f32; 2];
    assert_eq!(parse_csv_line("1.5,-2", &mut s), Ok(()));
    assert_eq!(s, [1.5, -2.0]);
    assert_eq!(parse_csv_line("  3 , 4e-3 \r\n", &mut s), Ok(()));
    assert_eq!(s, [3.0, 4e-3]);
    assert_eq!(parse_csv_line("-0,1E2", &mut s), Ok(()));
    assert!(s[0] == 0.0 && s[0].is_sign_negative() && s[1] == 100.0);
    // As `plrnn generate --inputs` reads: f64 first, then rounded to f32.
    assert_eq!(parse_csv_line("0.1,0.2", &mut s), Ok(()));
    assert_eq!(s, [0.1f64 as f32, 0.2f64 as f32]);

    let before = s;
    let count = |e: usize, f: usize| {
        Err(BadInput::Count {
            expected: e,
            found: f,
        })
    };
    assert_eq!(parse_csv_line("1", &mut s), count(2, 1));
    assert_eq!(parse_csv_line("1,2,3", &mut s), count(2, 3));
    assert_eq!(parse_csv_line("1,2,", &mut s), count(2, 3));
    assert_eq!(parse_csv_line("", &mut s), count(2, 0));
    assert_eq!(parse_csv_line("1;2", &mut s), count(2, 1));
    assert_eq!(
        parse_csv_line("1,", &mut s),
        Err(BadInput::NotANumber {
            column: 2,
            text: String::new()
        })
    );
    assert_eq!(
        parse_csv_line("1,abc", &mut s),
        Err(BadInput::NotANumber {
            column: 2,
            text: "abc".into()
        })
    );
    assert_eq!(
        parse_csv_line("0x10,1", &mut s),
        Err(BadInput::NotANumber {
            column: 1,
            text: "0x10".into()
        })
    );
    assert_eq!(
        parse_csv_line("NaN,1", &mut s),
        Err(BadInput::NonFinite { column: 1 })
    );
    assert_eq!(
        parse_csv_line("1,-inf", &mut s),
        Err(BadInput::NonFinite { column: 2 })
    );
    // Finite in f64, infinite once rounded to f32.
    assert_eq!(
        parse_csv_line("1,1e39", &mut s),
        Err(BadInput::NonFinite { column: 2 })
    );
    // A bad second field leaves the first unapplied too.
    assert_eq!(s, before);

    assert!(!is_input_line("   \r\n"));
    assert!(!is_input_line("# s1"));
    assert!(is_input_line("s1"));
    let mut none: [f32; 0] = [];
    assert_eq!(parse_csv_line("", &mut none), Ok(()));
    assert_eq!(parse_csv_line("1", &mut none), count(0, 1));
}

#[test]
fn binary_datagrams_parse_whole_or_not_at_all() {
    let bytes: Vec<u8> = [1.0f32, -2.5, 0.25, 8.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let mut got = Vec::new();
    parse_f32le(&bytes, 2, |r| {
        got.push(r.iter().map(|&w| f32::from_bits(w)).collect::<Vec<_>>())
    })
    .unwrap();
    assert_eq!(got, vec![vec![1.0, -2.5], vec![0.25, 8.0]]);

    let mut calls = 0;
    assert_eq!(
        parse_f32le(&bytes[..12], 2, |_| calls += 1),
        Err(BadInput::Length { len: 12, unit: 8 })
    );
    assert_eq!(
        parse_f32le(&[], 1, |_| calls += 1),
        Err(BadInput::Length { len: 0, unit: 4 })
    );
    assert_eq!(
        parse_f32le(&bytes, 0, |_| calls += 1),
        Err(BadInput::Length { len: 16, unit: 0 })
    );
    let mut nan = bytes.clone();
    nan[12..16].copy_from_slice(&f32::NAN.to_le_bytes());
    assert_eq!(
        parse_f32le(&nan, 2, |_| calls += 1),
        Err(BadInput::NonFinite { column: 2 })
    );
    assert_eq!(calls, 0);
}

#[test]
fn read_lines_counts_bad_lines_and_skips_comments() {
    let text = "# header\n1\n\nabc\n2,3\n nan \n4\r\n5";
    let ring = Ring::new(16, 1);
    let c = InputCounters::default();
    read_lines(text.as_bytes(), 1, &ring, &c, &AtomicBool::new(false)).unwrap();
    assert_eq!(c.received.load(Ordering::Relaxed), 3);
    assert_eq!(c.bad.load(Ordering::Relaxed), 3);
    let first = c.first_bad.lock().unwrap().clone().unwrap();
    assert!(first.starts_with("line 4:"), "{first}");
    let mut out = [0u32];
    let mut got = Vec::new();
    while ring.pop(&mut out) {
        got.push(f32::from_bits(out[0]));
    }
    assert_eq!(got, vec![1.0, 4.0, 5.0]);
}

#[test]
fn histogram_quantiles_are_within_a_bucket_of_the_exact_ones() {
    let mut h = Histogram::default();
    let mut vals: Vec<u64> = (0..10_000u64)
        .map(|i| (i * 7919 % 10_007) * (1 + i % 50) + i % 3)
        .collect();
    for &v in &vals {
        h.record(v);
    }
    vals.sort_unstable();
    for q in [0.01, 0.5, 0.9, 0.99, 1.0] {
        let exact = vals[((q * vals.len() as f64).ceil() as usize).max(1) - 1];
        let got = h.quantile(q);
        assert!(got >= exact, "q {q}: {got} < {exact}");
        assert!(
            got as f64 <= exact as f64 * (1.0 + 1.0 / 64.0) + 1.0,
            "q {q}: {got} vs {exact}"
        );
    }
    assert_eq!(h.quantile(1.0), *vals.last().unwrap());
    assert_eq!(h.count(), 10_000);
    // Small values are exact; every bucket's upper end maps back into it.
    for v in [0u64, 1, 63, 64, 65, 127, 128, 1000, 123_456_789, u64::MAX] {
        let i = Histogram::index(v);
        assert!(Histogram::upper(i) >= v);
        assert_eq!(Histogram::index(Histogram::upper(i)), i, "v {v}");
        if i > 0 {
            assert!(Histogram::upper(i - 1) < v);
        }
    }
    assert_eq!(Histogram::default().quantile(0.5), 0);
}

/// Runs the loop with live inputs arriving from another thread at arbitrary times and
/// collects its output text.
fn live_run(m: &DesktopModel, steps: u64, noise: Noise, seed: u64) -> (String, LoopReport) {
    let input = Arc::new(Ring::new(64, 1));
    let out = Ring::new(steps as usize + 1, record_width(1, 3));
    let stop = AtomicBool::new(false);
    let feeding = Arc::new(AtomicBool::new(true));
    let feeder = {
        let (input, feeding) = (input.clone(), feeding.clone());
        std::thread::spawn(move || {
            let mut i = 0u32;
            while feeding.load(Ordering::SeqCst) {
                // Pulses of irregular height and spacing.
                let v = if i.is_multiple_of(3) {
                    0.0
                } else {
                    0.5 + i as f32 * 0.37
                };
                input.push(&[v.to_bits()]);
                i += 1;
                std::thread::sleep(Duration::from_micros(300 + 170 * (i as u64 % 7)));
            }
        })
    };
    let cfg = LoopConfig {
        rate_hz: 5000.0,
        steps: Some(steps),
        noise,
        seed,
        clamp: None,
        spin: Duration::from_micros(100),
    };
    let report = run_loop(m, &cfg, Inputs::Live(&input), &out, &stop);
    feeding.store(false, Ordering::SeqCst);
    feeder.join().unwrap();
    let mut buf = Vec::new();
    let done = AtomicBool::new(true);
    let lines = write_output(m, &out, &done, &mut StreamSink(&mut buf)).unwrap();
    assert_eq!(lines, steps);
    assert_eq!(out.dropped(), 0);
    (String::from_utf8(buf).unwrap(), report)
}

/// The loop's x equal a replay of its applied s through the generation path of `plrnn
/// generate` (DynGenerator, to_data_units, write_series), as text.
#[test]
fn live_loop_equals_offline_replay_of_its_applied_inputs() {
    let m = model();
    for (noise, seed) in [(Noise::None, 0), (Noise::Full, 9)] {
        let (text, report) = live_run(&m, 1500, noise, seed);
        assert_eq!(report.steps, 1500);
        assert!(report.inputs_applied > 3, "{report:?}");
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("t,s1,x1,x2,x3"));
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
        assert_eq!(rows.len(), 1500);
        let s: Vec<f64> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
        assert!(s[0] == 0.0, "zero before the first input");
        assert!(s.iter().any(|&v| v > 0.0));
        for (t, r) in rows.iter().enumerate() {
            assert_eq!(r[0], t.to_string());
        }

        let mut gen = DynGenerator::new(m.valid().model_ref(), seed);
        let mut x = [0.0f32; 3];
        let mut out = TimeSeries::zeros(s.len(), 3);
        for (t, &v) in s.iter().enumerate() {
            gen.step(&[v as f32], noise, &mut x).unwrap();
            for (o, &xv) in out.row_mut(t).iter_mut().zip(&x) {
                *o = xv as f64;
            }
        }
        m.to_data_units(&mut out);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replay.csv");
        data::write_series(&path, &out).unwrap();
        let replay = std::fs::read_to_string(&path).unwrap();
        let mut rl = replay.lines();
        assert_eq!(rl.next(), Some("x1,x2,x3"));
        for (t, (r, want)) in rows.iter().zip(rl).enumerate() {
            assert_eq!(r[2..].join(","), want, "step {t}, noise {noise:?}");
        }
    }
}

#[test]
fn rows_are_applied_per_step_and_the_last_is_held() {
    let m = model();
    let rows = TimeSeries::new(vec![1.0, 0.0, 2.5], 1).unwrap();
    let out = Ring::new(16, record_width(1, 3));
    let cfg = LoopConfig {
        rate_hz: 50_000.0,
        steps: Some(6),
        noise: Noise::None,
        seed: 0,
        clamp: None,
        spin: Duration::from_micros(50),
    };
    let rep = run_loop(&m, &cfg, Inputs::Rows(&rows), &out, &AtomicBool::new(false));
    assert_eq!(rep.steps, 6);
    assert!(!rep.interrupted);
    assert_eq!(rep.late.count(), 6);
    let mut rec = [0u32; 6];
    let mut s = Vec::new();
    while out.pop(&mut rec) {
        s.push(f32::from_bits(rec[2]));
    }
    assert_eq!(s, vec![1.0, 0.0, 2.5, 2.5, 2.5, 2.5]);
}

#[test]
fn stop_ends_the_loop_and_is_reported() {
    let m = model();
    let out = Ring::new(4, record_width(1, 3));
    let stop = Arc::new(AtomicBool::new(false));
    let stopper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            stop.store(true, Ordering::SeqCst);
        })
    };
    let cfg = LoopConfig {
        rate_hz: 1000.0,
        steps: None,
        noise: Noise::None,
        seed: 0,
        clamp: None,
        spin: Duration::ZERO,
    };
    let rep = run_loop(&m, &cfg, Inputs::Zero, &out, &stop);
    stopper.join().unwrap();
    assert!(rep.interrupted);
    assert!(rep.steps >= 1 && rep.steps < 10_000, "{}", rep.steps);
    // The 4-record ring kept the newest four.
    assert_eq!(out.dropped(), rep.steps.saturating_sub(4));
    let mut rec = [0u32; 6];
    let mut last = 0;
    while out.pop(&mut rec) {
        last = rec[0] as u64;
    }
    assert_eq!(last, rep.steps - 1);
}

#[test]
fn header_and_record_format() {
    assert_eq!(header(2, 1), "t,s1,s2,x1\n");
    assert_eq!(header(0, 2), "t,x1,x2\n");
    let m = model();
    let t: u64 = (5 << 32) | 7;
    let rec = [
        t as u32,
        (t >> 32) as u32,
        0.1f32.to_bits(),
        1.0f32.to_bits(),
        (-1.0f32).to_bits(),
        0.5f32.to_bits(),
    ];
    let mut line = Vec::new();
    format_record(&m, &rec, &mut [0.0; 3], &mut line);
    // s: the exact f64 of 0.1f32; x: x·std + mean with std (2, 0.3, 7) and mean (1, 2, 3).
    let want = format!(
        "{t},{:?},{:?},{:?},{:?}\n",
        0.1f32 as f64,
        1.0 * 2.0 + 1.0,
        -(0.3f32 as f64) + 2.0,
        0.5 * 7.0 + 3.0
    );
    assert_eq!(String::from_utf8(line).unwrap(), want);
}
