use super::*;

fn setup() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("a.csv"), "1\n2\n").unwrap();
    std::fs::write(d.path().join("b.csv"), "1\n2\n").unwrap();
    d
}

fn parse(d: &tempfile::TempDir, text: &str) -> Result<Sweep, SweepError> {
    Sweep::parse(text, Path::new("s.toml"), d.path())
}

const DATA: &str = "[[data]]\nname = \"a\"\ntrain = [\"a.csv\"]\n[[data]]\nname = \"b\"\ntrain = [\"b.csv\"]\ntest = \"b.csv\"\n";

#[test]
fn grid_expands_every_combination_per_data_set() {
    let d = setup();
    let s = parse(
        &d,
        &format!("[train]\nepochs = 2\n[grid]\nseed = [0, 1]\nmethod = [\"vi\", \"bptt\"]\n{DATA}"),
    )
    .unwrap();
    assert_eq!(s.runs.len(), 8);
    assert_eq!(s.grid_keys, vec!["method", "seed"]);
    let ids: Vec<&str> = s.runs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids[0], "a__method-vi__seed-0");
    assert_eq!(ids[7], "b__method-bptt__seed-1");
    assert_eq!(s.runs[2].method, "bptt");
    assert!(s.runs[3].config.contains("seed = 1"));
    assert!(s.runs[3].config.contains("epochs = 2"));
    assert_eq!(
        s.runs[5].test.as_deref(),
        Some(d.path().join("b.csv").as_path())
    );
    assert!(s.runs.iter().enumerate().all(|(i, r)| r.index == i));
}

fn bad(d: &tempfile::TempDir, text: &str, key: &str, msg: &str) {
    let e = parse(d, text).unwrap_err();
    assert_eq!(e.file, "s.toml");
    assert!(e.key.contains(key), "{e}");
    assert!(e.to_string().contains(msg), "{e}");
}

#[test]
fn bad_sweep_files_are_refused_naming_the_key() {
    let d = setup();
    bad(
        &d,
        &format!("typo = 1\n[grid]\nseed = [0]\n{DATA}"),
        "-",
        "typo",
    );
    bad(&d, &format!("[grid]\n{DATA}"), "grid", "no grid keys");
    bad(
        &d,
        &format!("[grid]\nseed = []\n{DATA}"),
        "grid.seed",
        "empty list",
    );
    bad(
        &d,
        &format!("[grid]\nseed = [1, 1]\n{DATA}"),
        "grid.seed",
        "twice",
    );
    bad(&d, "[grid]\nseed = [0]\n", "data", "no [[data]]");
    bad(
        &d,
        "[grid]\nseed = [0]\n[[data]]\nname = \"a\"\ntrain = [\"nope.csv\"]\n",
        "data[0].train",
        "no such file",
    );
    bad(
        &d,
        "[grid]\nseed = [0]\n[[data]]\nname = \"a\"\ntrain = [\"a.csv\"]\n[[data]]\nname = \"a\"\ntrain = [\"a.csv\"]\n",
        "data[1].name",
        "twice",
    );
    bad(
        &d,
        &format!("[train]\nnot_a_key = 3\n[grid]\nseed = [0]\n{DATA}"),
        "train/grid",
        "not_a_key",
    );
    bad(
        &d,
        &format!("method = \"sgd\"\n[grid]\nseed = [0]\n{DATA}"),
        "method",
        "sgd",
    );
    bad(
        &d,
        &format!("[train]\nseed = 1\n[grid]\nseed = [0]\n{DATA}"),
        "grid.seed",
        "one place",
    );
}

fn row(data: &str, status: &str, score: Option<f64>, d_stsp: Option<f64>) -> Row {
    Row {
        id: format!("{data}-{status}"),
        data: data.into(),
        method: "vi".into(),
        params: vec![("seed".into(), "0".into())],
        status: status.into(),
        error: None,
        placement: Some(Placement::local()),
        wall_secs: Some(2.0),
        train_secs: Some(1.0),
        held_out_score: score,
        d_stsp,
        d_h: d_stsp.map(|v| v / 10.0),
        psc: None,
        lambda_max: None,
    }
}

#[test]
fn best_is_the_lowest_held_out_score_among_ok_runs() {
    let rows = vec![
        row("a", "ok", Some(3.0), Some(1.0)),
        row("a", "collapsed", Some(0.5), Some(1.0)),
        row("a", "ok", Some(2.0), Some(1.0)),
        row("a", "failed", None, None),
        row("b", "ok", None, Some(1.0)),
        row("c", "failed", None, None),
    ];
    let b = best_per_data(&rows);
    assert_eq!(b.get("a"), Some(&2));
    assert_eq!(b.get("b"), Some(&4));
    assert_eq!(b.get("c"), None);
}

#[test]
fn summary_has_median_worst_and_counts() {
    let rows = vec![
        row("a", "ok", Some(3.0), Some(1.0)),
        row("a", "collapsed", Some(0.5), Some(5.0)),
        row("a", "ok", Some(2.0), Some(2.0)),
        row("a", "failed", None, None),
    ];
    let s = summary(&rows);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].runs, 4);
    assert_eq!(s[0].done, 3);
    assert_eq!(s[0].collapsed, 1);
    assert_eq!(s[0].failed, 1);
    assert_eq!(s[0].d_stsp, (Some(2.0), Some(5.0)));
    assert_eq!(s[0].d_h, (Some(0.2), Some(0.5)));
    let md = summary_markdown(&s);
    assert!(
        md.contains("| a | vi | 4 | 2.000 | 5.000 | 0.200 | 0.500 | 1 | 1 | 2.0 |"),
        "{md}"
    );
}

#[test]
fn csv_and_status_from_run_folders() {
    let d = setup();
    let s = parse(&d, &format!("[grid]\nseed = [0, 1]\n{DATA}")).unwrap();
    let out = d.path().join("out");
    s.prepare(&out).unwrap();
    // Run 0 failed, run 1 started (interrupted), the others pending.
    let failed = RunResult {
        status: "failed".into(),
        error: Some("plrnn train: boom".into()),
        placement: Placement::local(),
        wall_secs: 1.5,
    };
    atomic_write(
        &run_dir(&out, &s.runs[0]).join("result.json"),
        &serde_json::to_vec(&failed).unwrap(),
    )
    .unwrap();
    atomic_write(&run_dir(&out, &s.runs[1]).join("started.json"), b"{}").unwrap();
    let c = status_counts(&out, &s);
    assert_eq!(
        c,
        StatusCounts {
            done: 0,
            collapsed: 0,
            running: 1,
            failed: 1,
            pending: 2
        }
    );
    assert_eq!(Sweep::open(&out).unwrap(), s);
    let rows = collect(&out, &s).unwrap();
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 5);
    assert!(lines[0].starts_with("data,method,seed,status,executor"));
    assert!(
        lines[1].starts_with("a,vi,0,failed,local,,,1.5,"),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains("plrnn train: boom"));
    assert!(lines[2].starts_with("a,vi,1,running,"));
    assert_eq!(rows[3].status, "pending");
    // A changed configuration for an existing run folder is refused.
    let s2 = parse(
        &d,
        &format!("[train]\nepochs = 7\n[grid]\nseed = [0, 1]\n{DATA}"),
    )
    .unwrap();
    assert!(s2
        .prepare(&out)
        .unwrap_err()
        .to_string()
        .contains("different configuration"));
}

#[test]
fn per_data_config_embed_and_holdout() {
    let d = setup();
    let s = parse(
        &d,
        "[train]\nepochs = 2\nlatent_dim = 8\n[grid]\nseed = [0]\n\
         [[data]]\nname = \"a\"\ntrain = [\"a.csv\"]\nembed = \"auto\"\nholdout = 0.2\n\
         [data.config]\nlatent_dim = 32\n\
         [[data]]\nname = \"b\"\ntrain = [\"b.csv\"]\n",
    )
    .unwrap();
    assert!(s.runs[0].config.contains("latent_dim = 32"));
    assert!(s.runs[0].config.contains("epochs = 2"));
    assert!(s.runs[1].config.contains("latent_dim = 8"));
    assert_eq!(s.runs[0].embed.as_deref(), Some("auto"));
    assert_eq!(s.runs[0].holdout, Some(0.2));
    assert_eq!(
        (s.runs[1].embed.as_deref(), s.runs[1].holdout),
        (None, None)
    );
    let base = "[grid]\nseed = [0]\n[[data]]\nname = \"a\"\ntrain = [\"a.csv\"]\n";
    bad(&d, &format!("{base}embed = \"3\"\n"), "data[0].embed", "");
    bad(
        &d,
        &format!("{base}holdout = 0.95\n"),
        "data[0].holdout",
        "0.95",
    );
    bad(
        &d,
        &format!("{base}[data.config]\nseed = 3\n"),
        "data[0].config.seed",
        "grid",
    );
    bad(
        &d,
        &format!("{base}[data.config]\nlatent_dim = 0\n"),
        "train/grid",
        "latent_dim",
    );
}

#[test]
fn restarts_at_the_top_level_or_in_the_grid() {
    let d = setup();
    let s = parse(&d, &format!("restarts = 3\n[grid]\nseed = [0]\n{DATA}")).unwrap();
    assert!(s.runs.iter().all(|r| r.restarts == Some(3)));
    assert!(!s.runs[0].config.contains("restarts"));
    let s = parse(&d, &format!("[grid]\nrestarts = [1, 2]\n{DATA}")).unwrap();
    let r: Vec<Option<usize>> = s.runs.iter().map(|r| r.restarts).collect();
    assert_eq!(r, vec![Some(1), Some(2), Some(1), Some(2)]);
    assert_eq!(s.runs[1].id, "a__restarts-2");
    assert!(!s.runs[1].config.contains("restarts"));
    let s = parse(&d, &format!("[grid]\nseed = [0]\n{DATA}")).unwrap();
    assert_eq!(s.runs[0].restarts, None);
    bad(
        &d,
        &format!("restarts = 0\n[grid]\nseed = [0]\n{DATA}"),
        "restarts",
        "must be in 1..=64, got 0",
    );
    bad(
        &d,
        &format!("[grid]\nrestarts = [1, 65]\n{DATA}"),
        "grid.restarts",
        "must be in 1..=64, got 65",
    );
    bad(
        &d,
        &format!("[train]\nrestarts = 2\n[grid]\nseed = [0]\n{DATA}"),
        "train.restarts",
        "top-level key",
    );
    bad(
        &d,
        &format!("restarts = 2\n[grid]\nrestarts = [1]\n{DATA}"),
        "grid.restarts",
        "give it in one place",
    );
}
