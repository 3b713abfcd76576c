use super::*;
use npyz::WriterBuilder;
use std::fs;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn write_text(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.path().join(name);
    fs::write(&p, text).unwrap();
    p
}

/// Writes an `.npy` with the given dtype string, shape and order; `values` in file order.
fn write_npy<T: npyz::Serialize + Copy>(
    path: &Path,
    dtype: &str,
    shape: &[u64],
    order: npyz::Order,
    values: &[T],
) {
    let ts: npyz::TypeStr = dtype.parse().unwrap();
    let mut buf = Vec::new();
    let mut w = npyz::WriteOptions::<T>::new()
        .dtype(npyz::DType::Plain(ts))
        .shape(shape)
        .order(order)
        .writer(&mut buf)
        .begin_nd()
        .unwrap();
    w.extend(values.iter().copied()).unwrap();
    w.finish().unwrap();
    fs::write(path, buf).unwrap();
}

fn err_of<T: std::fmt::Debug>(r: Result<T, DataError>) -> (DataError, String) {
    let e = r.unwrap_err();
    let msg = e.to_string();
    assert!(!msg.contains('\n'), "one-line message: {msg}");
    (e, msg)
}

#[test]
fn csv_with_and_without_header() {
    let d = tmp();
    let a = write_text(&d, "a.csv", "x,y\n1,2\n3,4.5\n");
    let b = write_text(&d, "b.csv", "1,2\r\n\r\n3,4.5\r\n");
    let ta = read_file(&a).unwrap();
    let tb = read_file(&b).unwrap();
    assert_eq!(ta, tb);
    assert_eq!(ta[0].as_slice(), &[1.0, 2.0, 3.0, 4.5]);
    assert_eq!(ta[0].dims(), 2);
}

#[test]
fn whitespace_semicolon_quotes_comments_bom() {
    let d = tmp();
    let a = write_text(&d, "a.txt", "# numpy header\n 1.0\t 2e0   3\n4 5 -6.5E-1\n");
    let t = read_file(&a).unwrap();
    assert_eq!(t[0].as_slice(), &[1.0, 2.0, 3.0, 4.0, 5.0, -0.65]);
    let b = write_text(&d, "b.csv", "\u{feff}\"t 1\";\"t 2\"\n1;2\n");
    assert_eq!(read_file(&b).unwrap()[0].as_slice(), &[1.0, 2.0]);
    let c = write_text(&d, "c.csv", "\"1.5\",'2'\n");
    assert_eq!(read_file(&c).unwrap()[0].as_slice(), &[1.5, 2.0]);
}

#[test]
fn ragged_row_names_line_and_widths() {
    let d = tmp();
    let p = write_text(&d, "r.csv", "a,b,c\n1,2,3\n# c\n4,5\n");
    let (e, msg) = err_of(read_file(&p));
    assert!(matches!(
        e,
        DataError::Ragged {
            line: 4,
            expected: 3,
            found: 2,
            ..
        }
    ));
    assert!(msg.contains("r.csv") && msg.contains("line 4"), "{msg}");
}

#[test]
fn non_numeric_field_names_line_column_text() {
    let d = tmp();
    let p = write_text(&d, "n.csv", "1,2\n3,abc\n");
    let (e, msg) = err_of(read_file(&p));
    assert!(matches!(
        e,
        DataError::NonNumeric {
            line: 2,
            column: 2,
            ..
        }
    ));
    assert!(msg.contains("n.csv") && msg.contains("\"abc\""), "{msg}");
    // An empty field between separators is reported, not skipped.
    let p = write_text(&d, "m.csv", "1,2,3\n1,,2\n");
    let (e, _) = err_of(read_file(&p));
    assert!(matches!(
        e,
        DataError::NonNumeric {
            line: 2,
            column: 2,
            ..
        }
    ));
}

#[test]
fn nan_and_inf_are_rejected_with_position() {
    let d = tmp();
    let p = write_text(&d, "f.csv", "x,y\n1,2\n3,NaN\n");
    let (e, msg) = err_of(read_file(&p));
    assert!(matches!(
        e,
        DataError::NonFinite {
            at: Position::Line { line: 3, column: 2 },
            ..
        }
    ));
    assert!(
        msg.contains("line 3, column 2") && msg.contains("NaN"),
        "{msg}"
    );
    let p = write_text(&d, "g.txt", "1 -inf\n");
    assert!(matches!(
        read_file(&p).unwrap_err(),
        DataError::NonFinite { .. }
    ));
}

#[test]
fn missing_empty_and_binary_files() {
    let d = tmp();
    let (e, msg) = err_of(read_file(&d.path().join("nope.csv")));
    assert!(matches!(e, DataError::Missing { .. }));
    assert!(msg.contains("nope.csv") && msg.contains("not found"));
    let p = write_text(&d, "e.csv", "");
    assert!(matches!(
        read_file(&p).unwrap_err(),
        DataError::Empty { .. }
    ));
    let p = write_text(&d, "h.csv", "# only\nx,y\n");
    assert!(matches!(
        read_file(&p).unwrap_err(),
        DataError::Empty { .. }
    ));
    let p = d.path().join("b.csv");
    fs::write(&p, b"1,2\n\xff\xfe\n").unwrap();
    assert!(matches!(
        read_file(&p).unwrap_err(),
        DataError::NotText { line: 2, .. }
    ));
    // A folder is not readable as a file.
    let (e, _) = err_of(read_file(d.path()));
    assert!(matches!(e, DataError::Unreadable { .. }));
}

#[test]
fn npy_2d_f64_c_order() {
    let d = tmp();
    let p = d.path().join("a.npy");
    write_npy(
        &p,
        "<f8",
        &[3, 2],
        npyz::Order::C,
        &[1.0f64, 2., 3., 4., 5., 6.],
    );
    let t = read_file(&p).unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].as_slice(), &[1., 2., 3., 4., 5., 6.]);
    let ds = Dataset::load(&[&p]).unwrap();
    assert_eq!(ds.sources()[0], p.display().to_string());
}

#[test]
fn npy_f32_fortran_and_big_endian() {
    let d = tmp();
    // The 3×2 array [[1,2],[3,4],[5,6]] in Fortran (column-major) order.
    let p = d.path().join("f.npy");
    write_npy(
        &p,
        "<f4",
        &[3, 2],
        npyz::Order::Fortran,
        &[1.0f32, 3., 5., 2., 4., 6.],
    );
    assert_eq!(
        read_file(&p).unwrap()[0].as_slice(),
        &[1., 2., 3., 4., 5., 6.]
    );
    let p = d.path().join("b.npy");
    write_npy(&p, ">f8", &[2, 2], npyz::Order::C, &[1.5f64, -2., 3., 4.]);
    assert_eq!(read_file(&p).unwrap()[0].as_slice(), &[1.5, -2., 3., 4.]);
}

#[test]
fn npy_3d_is_several_trials_in_both_orders() {
    let d = tmp();
    // Trials × time × channels = 2 × 3 × 2, element value = 100 r + 10 t + c.
    let val = |r: usize, t: usize, c: usize| (100 * r + 10 * t + c) as f64;
    let mut c_order = Vec::new();
    for r in 0..2 {
        for t in 0..3 {
            for c in 0..2 {
                c_order.push(val(r, t, c));
            }
        }
    }
    let mut f_order = Vec::new();
    for c in 0..2 {
        for t in 0..3 {
            for r in 0..2 {
                f_order.push(val(r, t, c));
            }
        }
    }
    let pc = d.path().join("c.npy");
    let pf = d.path().join("f.npy");
    write_npy(&pc, "<f8", &[2, 3, 2], npyz::Order::C, &c_order);
    write_npy(&pf, "<f8", &[2, 3, 2], npyz::Order::Fortran, &f_order);
    let a = Dataset::load(&[&pc]).unwrap();
    let b = Dataset::load(&[&pf]).unwrap();
    assert_eq!(a.trials(), b.trials());
    assert_eq!(a.num_trials(), 2);
    assert_eq!(a.trials()[1].row(2), &[val(1, 2, 0), val(1, 2, 1)]);
    assert!(a.sources()[1].ends_with("c.npy[1]"));
}

#[test]
fn npy_bad_dtype_rank_nan_and_damage() {
    let d = tmp();
    let p = d.path().join("i.npy");
    write_npy(&p, "<i8", &[2, 2], npyz::Order::C, &[1i64, 2, 3, 4]);
    let (e, msg) = err_of(read_file(&p));
    assert!(matches!(e, DataError::NpyDtype { .. }));
    assert!(msg.contains("<i8"), "{msg}");

    let p = d.path().join("r1.npy");
    write_npy(&p, "<f8", &[4], npyz::Order::C, &[1.0f64, 2., 3., 4.]);
    let (e, msg) = err_of(read_file(&p));
    assert!(matches!(e, DataError::NpyRank { .. }));
    assert!(msg.contains("rank 1"), "{msg}");

    let p = d.path().join("n.npy");
    write_npy(
        &p,
        "<f8",
        &[2, 2],
        npyz::Order::C,
        &[1.0f64, 2., f64::INFINITY, 4.],
    );
    let (e, msg) = err_of(read_file(&p));
    assert!(matches!(e, DataError::NonFinite { .. }));
    assert!(msg.contains("index [1, 0]") && msg.contains("inf"), "{msg}");

    let p = d.path().join("z.npy");
    write_npy::<f64>(&p, "<f8", &[0, 3], npyz::Order::C, &[]);
    assert!(matches!(
        read_file(&p).unwrap_err(),
        DataError::Empty { .. }
    ));

    // Truncated data.
    let good = d.path().join("g.npy");
    write_npy(&good, "<f8", &[3, 2], npyz::Order::C, &[0.0f64; 6]);
    let bytes = fs::read(&good).unwrap();
    let p = d.path().join("t.npy");
    fs::write(&p, &bytes[..bytes.len() - 5]).unwrap();
    assert!(matches!(
        read_file(&p).unwrap_err(),
        DataError::NpyMalformed { .. }
    ));
    // A .npy name without the magic bytes.
    let p = write_text(&d, "fake.npy", "1,2\n");
    assert!(matches!(
        read_file(&p).unwrap_err(),
        DataError::NpyMalformed { .. }
    ));
}

/// Builds a version-1 `.npy` preamble around an arbitrary header dict.
fn raw_npy(header: &str, data: &[u8]) -> Vec<u8> {
    let mut h = header.to_string();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn hostile_npy_headers_are_errors_not_panics() {
    let d = tmp();
    let cases: Vec<Vec<u8>> = vec![
        // Shape product overflows u64.
        raw_npy(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }",
            &[0; 64],
        ),
        // A zero dimension hides an overflowing product from a naive check.
        raw_npy(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 4294967296, 4294967296), }",
            &[],
        ),
        // Shape far larger than the data.
        raw_npy(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000, 3), }",
            &[0; 8],
        ),
        raw_npy("{'descr': '<f8', 'fortran_order': False, }", &[]),
        raw_npy("garbage", &[]),
        raw_npy(
            "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1, 1), }",
            &[0; 8],
        ),
        raw_npy(
            "{'descr': '|O', 'fortran_order': False, 'shape': (1, 1), }",
            &[0; 8],
        ),
        b"\x93NUMPY\x01\x00\xff\xff{".to_vec(),
        b"\x93NUMPY\x09\x00".to_vec(),
        b"\x93NUM".to_vec(),
    ];
    for (i, bytes) in cases.iter().enumerate() {
        let p = d.path().join(format!("h{i}.npy"));
        fs::write(&p, bytes).unwrap();
        let r = read_file(&p);
        assert!(r.is_err(), "case {i} must fail");
        let msg = r.unwrap_err().to_string();
        assert!(msg.contains(&format!("h{i}.npy")), "{msg}");
    }
}

#[test]
fn several_files_several_trials_and_width_mismatch() {
    let d = tmp();
    let a = write_text(&d, "a.csv", "1,2\n3,4\n5,6\n");
    let b = write_text(&d, "b.csv", "7,8\n");
    let c = write_text(&d, "c.csv", "1,2,3\n");
    let ds = Dataset::load(&[&a, &b]).unwrap();
    assert_eq!(ds.num_trials(), 2);
    assert_eq!(ds.total_len(), 4);
    assert_eq!(ds.dims(), 2);
    let (e, msg) = err_of(Dataset::load(&[&a, &c]));
    assert!(matches!(
        e,
        DataError::WidthMismatch {
            first_width: 2,
            other_width: 3,
            ..
        }
    ));
    assert!(msg.contains("a.csv") && msg.contains("c.csv"), "{msg}");
    assert!(matches!(
        Dataset::load::<&Path>(&[]).unwrap_err(),
        DataError::NoFiles
    ));
}

#[test]
fn min_len_and_model_width_checks() {
    let d = tmp();
    let a = write_text(&d, "a.csv", "1,2\n3,4\n5,6\n");
    let b = write_text(&d, "b.csv", "7,8\n");
    let ds = Dataset::load(&[&a, &b]).unwrap();
    assert!(ds.validate_min_len(1).is_ok());
    let (e, msg) = err_of(ds.validate_min_len(2));
    assert!(matches!(
        e,
        DataError::TooShort {
            len: 1,
            needed: 2,
            ..
        }
    ));
    assert!(msg.contains("b.csv"), "{msg}");
    assert!(ds.check_width(2).is_ok());
    let (_, msg) = err_of(ds.check_width(5));
    assert!(
        msg.contains("2 channels") && msg.contains("expects 5"),
        "{msg}"
    );
}

#[test]
fn from_trials_checks_everything() {
    let ok = TimeSeries::from_rows(&[[1.0, 2.0]]).unwrap();
    let nan = TimeSeries::from_rows(&[[1.0, 2.0], [f64::NAN, 0.0]]).unwrap();
    let (e, msg) = err_of(Dataset::from_trials(
        vec![ok.clone(), nan],
        vec!["a".into(), "b".into()],
    ));
    assert!(matches!(e, DataError::NonFinite { .. }));
    assert!(msg.starts_with("b: index [1, 0]"), "{msg}");
    assert!(Dataset::from_trials(vec![ok.clone()], vec![]).is_err());
    assert!(
        Dataset::from_trials(vec![TimeSeries::new(vec![], 2).unwrap()], vec!["e".into()]).is_err()
    );
    assert!(Dataset::from_series(ok, "x").is_ok());
}

fn ramp(len: usize, dims: usize) -> TimeSeries {
    TimeSeries::new((0..len * dims).map(|v| v as f64).collect(), dims).unwrap()
}

#[test]
fn sequences_cut_within_trials() {
    let ds = Dataset::from_trials(
        vec![ramp(10, 1), ramp(4, 1), ramp(2, 1)],
        vec!["a".into(), "b".into(), "c".into()],
    )
    .unwrap();
    let ix = ds.sequence_indices(4, 3).unwrap();
    assert_eq!(
        ix,
        vec![
            SequenceIndex { trial: 0, start: 0 },
            SequenceIndex { trial: 0, start: 3 },
            SequenceIndex { trial: 0, start: 6 },
            SequenceIndex { trial: 1, start: 0 },
        ]
    );
    let seqs = ds.sequences(4, 3).unwrap();
    assert_eq!(seqs.len(), 4);
    assert_eq!(seqs[2].as_slice(), &[6., 7., 8., 9.]);
    assert!(seqs.iter().all(|s| s.len() == 4));
    // Non-overlapping cut of one long trial.
    assert_eq!(ds.sequences(5, 5).unwrap().len(), 2);
    let (e, msg) = err_of(ds.sequences(11, 1));
    assert!(matches!(
        e,
        DataError::TooShort {
            len: 10,
            needed: 11,
            ..
        }
    ));
    assert!(msg.starts_with("a:"), "{msg}");
    assert!(matches!(
        ds.sequences(0, 1).unwrap_err(),
        DataError::InvalidArgument { .. }
    ));
    assert!(ds.sequences(3, 0).is_err());
    // Out-of-range indices are clamped, not a panic.
    assert_eq!(
        ds.sequence(
            SequenceIndex {
                trial: 9,
                start: 99
            },
            3
        )
        .len(),
        0
    );
}

#[test]
fn normalization_round_trip_and_pooled_statistics() {
    let a = TimeSeries::from_rows(&[[1.0, 5.0, 100.0], [3.0, 5.0, 200.0]]).unwrap();
    let b = TimeSeries::from_rows(&[[5.0, 5.0, 300.0], [7.0, 5.0, 400.0]]).unwrap();
    let ds = Dataset::from_trials(vec![a.clone(), b], vec!["a".into(), "b".into()]).unwrap();
    let n = ds.normalization();
    assert_eq!(n.mean, vec![4.0, 5.0, 250.0]);
    assert!((n.std[0] - 5.0f64.sqrt()).abs() < 1e-12);
    assert_eq!(n.std[1], 1.0, "a constant channel gets std 1");
    let z = ds.normalized(&n).unwrap();
    let pooled = TimeSeries::new(
        z.trials()
            .iter()
            .flat_map(|t| t.as_slice().to_vec())
            .collect(),
        3,
    )
    .unwrap();
    let (m, s) = pooled.mean_std();
    for j in [0, 2] {
        assert!(m[j].abs() < 1e-12 && (s[j] - 1.0).abs() < 1e-12);
    }
    let back = n.invert(&n.apply(&a).unwrap()).unwrap();
    for (x, y) in back.as_slice().iter().zip(a.as_slice()) {
        assert!((x - y).abs() < 1e-9);
    }
    // Serde round trip (it travels in the model file).
    let json = serde_json::to_string(&n).unwrap();
    assert_eq!(serde_json::from_str::<Normalization>(&json).unwrap(), n);
}

#[test]
fn normalization_rejects_bad_statistics_and_widths() {
    let s = ramp(3, 2);
    let n = Normalization::identity(3);
    assert!(matches!(
        n.apply(&s).unwrap_err(),
        DataError::Normalization(_)
    ));
    let bad = Normalization {
        mean: vec![0.0, 0.0],
        std: vec![1.0, 0.0],
    };
    let msg = bad.invert(&s).unwrap_err().to_string();
    assert!(msg.contains("channel 2") && msg.contains("got 0"), "{msg}");
    let bad = Normalization {
        mean: vec![f64::NAN, 0.0],
        std: vec![1.0, 1.0],
    };
    assert!(bad.validate().is_err());
    assert!(Normalization {
        mean: vec![0.0],
        std: vec![]
    }
    .validate()
    .is_err());
}

#[test]
fn write_and_read_back_every_format_exactly() {
    let d = tmp();
    let s = TimeSeries::from_rows(&[[0.1, -2.5e-9, 1e300], [1.0 / 3.0, 7.0, -0.0]]).unwrap();
    for name in ["o.csv", "o.tsv", "o.txt", "o.DAT", "o.npy"] {
        let p = d.path().join(name);
        write_series(&p, &s).unwrap();
        let back = read_file(&p).unwrap();
        assert_eq!(back, vec![s.clone()], "{name}");
    }
    // The .npy is 2-D, float64, C order: readable by npyz (and NumPy) as such.
    let bytes = fs::read(d.path().join("o.npy")).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    assert_eq!(npy.shape(), &[2, 3]);
    assert_eq!(npy.order(), npyz::Order::C);
    assert_eq!(npy.dtype().descr(), "'<f8'");
    let (e, msg) = err_of(write_series(&d.path().join("o.xlsx"), &s));
    assert!(matches!(e, DataError::UnknownFormat { .. }));
    assert!(msg.contains("o.xlsx"));
    let (e, _) = err_of(write_series(Path::new("/nonexistent-dir/o.csv"), &s));
    assert!(matches!(e, DataError::Write { .. }));
    // No temporary file is left behind.
    assert_eq!(fs::read_dir(d.path()).unwrap().count(), 5);
}
