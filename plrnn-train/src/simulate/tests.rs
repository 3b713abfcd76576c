use super::*;

/// Integrates ẋ = f(x) over [0, t_end] with `n` RK4 steps.
fn integrate(f: impl Fn(&[f64], &mut [f64]) + Copy, x0: &[f64], t_end: f64, n: usize) -> Vec<f64> {
    let mut x = x0.to_vec();
    let mut rk = Rk4::new(x.len());
    for _ in 0..n {
        rk.step(f, &mut x, t_end / n as f64);
    }
    x
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn rk4_is_fourth_order_on_a_linear_oscillator() {
    // ẍ = −x as a first-order system; exact solution (cos t, −sin t).
    let f = |x: &[f64], dx: &mut [f64]| {
        dx[0] = x[1];
        dx[1] = -x[0];
    };
    let t: f64 = 2.0;
    let exact = [t.cos(), -t.sin()];
    let e1 = max_abs_diff(&integrate(f, &[1.0, 0.0], t, 20), &exact);
    let e2 = max_abs_diff(&integrate(f, &[1.0, 0.0], t, 40), &exact);
    let ratio = e1 / e2;
    assert!((14.0..18.0).contains(&ratio), "error ratio {ratio}");
}

#[test]
fn rk4_is_fourth_order_on_lorenz63() {
    let sys = System::lorenz63();
    let f = |x: &[f64], dx: &mut [f64]| sys.field(x, dx);
    let x0 = [1.0, 2.0, 20.0];
    let reference = integrate(f, &x0, 0.5, 20_000);
    let e1 = max_abs_diff(&integrate(f, &x0, 0.5, 200), &reference);
    let e2 = max_abs_diff(&integrate(f, &x0, 0.5, 400), &reference);
    let ratio = e1 / e2;
    assert!((13.0..19.0).contains(&ratio), "error ratio {ratio}");
}

#[test]
fn jacobians_match_finite_differences() {
    let cases = [
        (System::lorenz63(), vec![1.3, -2.1, 20.5]),
        (System::rossler(), vec![-3.0, 1.5, 0.7]),
        (System::lorenz96(6), vec![1.0, -2.0, 3.5, 0.25, 8.0, -1.5]),
    ];
    for (sys, x) in cases {
        let n = x.len();
        let jac = sys.jacobian(&x).unwrap();
        let eps = 1e-6;
        for j in 0..n {
            let mut xp = x.clone();
            let mut xm = x.clone();
            xp[j] += eps;
            xm[j] -= eps;
            let fp = sys.vector_field(&xp).unwrap();
            let fm = sys.vector_field(&xm).unwrap();
            for i in 0..n {
                let fd = (fp[i] - fm[i]) / (2.0 * eps);
                assert!((fd - jac[i * n + j]).abs() < 1e-6, "{sys} J[{i},{j}]");
            }
        }
        // The matrix-free product used by the Lyapunov code agrees with the matrix.
        let v: Vec<f64> = (0..n).map(|k| 0.3 * k as f64 - 0.7).collect();
        let mut jv = vec![0.0; n];
        sys.jvp(&x, &v, &mut jv);
        for i in 0..n {
            let m: f64 = (0..n).map(|j| jac[i * n + j] * v[j]).sum();
            assert!((m - jv[i]).abs() < 1e-12);
        }
    }
}

#[test]
fn lorenz63_stays_on_its_attractor() {
    let opts = SimOptions {
        steps: 50_000,
        seed: 3,
        ..SimOptions::default()
    };
    let s = simulate(&System::lorenz63(), &opts).unwrap();
    assert_eq!((s.len(), s.dims()), (50_000, 3));
    for r in s.rows() {
        assert!(r[0].abs() < 25.0 && r[1].abs() < 30.0, "{r:?}");
        assert!(r[2] > 0.0 && r[2] < 55.0, "{r:?}");
    }
    // It visits both wings.
    let x = s.column(0);
    assert!(x.iter().any(|&v| v > 10.0) && x.iter().any(|&v| v < -10.0));
}

#[test]
fn lorenz96_f8_statistics() {
    // Known climate of Lorenz-96 with F = 8: mean ≈ 2.3, std ≈ 3.6 per variable (usually quoted
    // for 36–40 variables; this run at 10 gives 2.30 and 3.62). Over 2000 time units pooled
    // over 10 variables the sampling error is a few hundredths, so ±0.25 tolerates seeds and
    // the dimension effect without accepting a wrong vector field (F = 7 or 9 misses).
    let opts = SimOptions {
        steps: 200_000,
        dt: 0.01,
        seed: 1,
        ..SimOptions::default()
    };
    let s = simulate(&System::lorenz96(10), &opts).unwrap();
    let all = TimeSeries::new(s.as_slice().to_vec(), 1).unwrap();
    let (m, sd) = all.mean_std();
    assert!((m[0] - 2.3).abs() < 0.25, "mean {}", m[0]);
    assert!((sd[0] - 3.6).abs() < 0.25, "std {}", sd[0]);
}

#[test]
fn rossler_stays_bounded_from_random_starts() {
    for seed in 0..20 {
        let opts = SimOptions {
            steps: 2000,
            dt: 0.05,
            seed,
            ..SimOptions::default()
        };
        let s = simulate(&System::rossler(), &opts).unwrap();
        for r in s.rows() {
            assert!(r[0].abs() < 15.0 && r[1].abs() < 15.0 && r[2] > -0.1 && r[2] < 30.0);
        }
    }
}

#[test]
fn deterministic_for_a_seed_and_seed_matters() {
    let sys = System::lorenz63();
    let opts = SimOptions {
        steps: 500,
        seed: 42,
        process_noise: 0.5,
        obs_noise: 0.1,
        ..SimOptions::default()
    };
    let a = simulate(&sys, &opts).unwrap();
    let b = simulate(&sys, &opts).unwrap();
    assert_eq!(a, b);
    let c = simulate(
        &sys,
        &SimOptions {
            seed: 43,
            ..opts.clone()
        },
    )
    .unwrap();
    assert_ne!(a, c);
}

#[test]
fn observation_noise_does_not_touch_the_dynamics() {
    let sys = System::lorenz63();
    let clean = SimOptions {
        steps: 20_000,
        seed: 7,
        ..SimOptions::default()
    };
    let noisy = SimOptions {
        obs_noise: 0.5,
        ..clean.clone()
    };
    let a = simulate(&sys, &clean).unwrap();
    let b = simulate(&sys, &noisy).unwrap();
    let diff: Vec<f64> = a
        .as_slice()
        .iter()
        .zip(b.as_slice())
        .map(|(x, y)| y - x)
        .collect();
    let (m, sd) = TimeSeries::new(diff, 1).unwrap().mean_std();
    assert!(
        m[0].abs() < 0.02 && (sd[0] - 0.5).abs() < 0.02,
        "{m:?} {sd:?}"
    );
}

#[test]
fn process_noise_perturbs_but_keeps_the_attractor() {
    let sys = System::lorenz63();
    let opts = SimOptions {
        steps: 5000,
        seed: 7,
        process_noise: 1.0,
        ..SimOptions::default()
    };
    let clean = simulate(
        &sys,
        &SimOptions {
            process_noise: 0.0,
            ..opts.clone()
        },
    )
    .unwrap();
    let noisy = simulate(&sys, &opts).unwrap();
    assert_ne!(clean, noisy);
    assert!(noisy.rows().all(|r| r[2] > -5.0 && r[2] < 60.0));
}

#[test]
fn initial_state_is_row_zero_without_transient() {
    let opts = SimOptions {
        steps: 3,
        transient: 0,
        initial: Some(vec![1.0, 2.0, 3.0]),
        ..SimOptions::default()
    };
    let s = simulate(&System::lorenz63(), &opts).unwrap();
    assert_eq!(s.row(0), &[1.0, 2.0, 3.0]);
    assert_ne!(s.row(1), s.row(0));
}

#[test]
fn substeps_default_keeps_inner_step_small() {
    let o = SimOptions::default();
    assert_eq!(o.resolved_substeps(), 10);
    let o = SimOptions { dt: 0.05, ..o };
    assert_eq!(o.resolved_substeps(), 50);
    let o = SimOptions { dt: 0.0001, ..o };
    assert_eq!(o.resolved_substeps(), 1);
    let o = SimOptions {
        substeps: Some(3),
        ..o
    };
    assert_eq!(o.resolved_substeps(), 3);
}

#[test]
fn bad_options_are_errors_naming_the_value() {
    let sys = System::lorenz63();
    let cases: Vec<(SimOptions, &str)> = vec![
        (
            SimOptions {
                dt: 0.0,
                ..Default::default()
            },
            "dt",
        ),
        (
            SimOptions {
                dt: -0.1,
                ..Default::default()
            },
            "-0.1",
        ),
        (
            SimOptions {
                dt: f64::NAN,
                ..Default::default()
            },
            "NaN",
        ),
        (
            SimOptions {
                dt: 1e9,
                ..Default::default()
            },
            "dt",
        ),
        (
            SimOptions {
                steps: 0,
                ..Default::default()
            },
            "steps",
        ),
        (
            SimOptions {
                substeps: Some(0),
                ..Default::default()
            },
            "substeps",
        ),
        (
            SimOptions {
                process_noise: -1.0,
                ..Default::default()
            },
            "process_noise",
        ),
        (
            SimOptions {
                obs_noise: f64::INFINITY,
                ..Default::default()
            },
            "obs_noise",
        ),
        (
            SimOptions {
                initial: Some(vec![1.0]),
                ..Default::default()
            },
            "dimension 3",
        ),
        (
            SimOptions {
                initial: Some(vec![1.0, f64::NAN, 0.0]),
                ..Default::default()
            },
            "initial",
        ),
        (
            SimOptions {
                steps: usize::MAX,
                ..Default::default()
            },
            "too large",
        ),
    ];
    for (o, needle) in cases {
        let msg = simulate(&sys, &o).unwrap_err().to_string();
        assert!(msg.contains(needle), "{msg:?} should mention {needle:?}");
        assert!(lyapunov_max(&sys, &o).is_err());
    }
    let msg = simulate(&System::lorenz96(3), &SimOptions::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("dim") && msg.contains('3'), "{msg}");
    let bad = System::Rossler {
        a: f64::NAN,
        b: 0.2,
        c: 5.7,
    };
    assert!(simulate(&bad, &SimOptions::default()).is_err());
    assert!(System::lorenz63().vector_field(&[1.0, 2.0]).is_err());
    assert!(System::lorenz63().jacobian(&[1.0; 4]).is_err());
}

#[test]
fn divergence_is_an_error() {
    // Rössler escapes to infinity from a large x with z > 0.
    let opts = SimOptions {
        steps: 10_000,
        dt: 0.1,
        transient: 0,
        initial: Some(vec![50.0, 0.0, 10.0]),
        ..SimOptions::default()
    };
    let e = simulate(&System::rossler(), &opts).unwrap_err();
    assert!(matches!(e, SimError::Diverged { .. }), "{e}");
}

#[test]
fn names_parse() {
    for (s, want) in [
        ("lorenz63", "lorenz63"),
        ("Lorenz-63", "lorenz63"),
        ("LORENZ_96", "lorenz96"),
        ("rossler", "rossler"),
        ("Rössler", "rossler"),
        ("roessler", "rossler"),
    ] {
        assert_eq!(s.parse::<System>().unwrap().name(), want);
    }
    assert_eq!("lorenz96".parse::<System>().unwrap().dim(), 10);
    let msg = "duffing".parse::<System>().unwrap_err().to_string();
    assert!(msg.contains("duffing") && msg.contains("lorenz63"));
}

#[test]
fn serde_round_trip() {
    let s = System::lorenz96(20);
    let j = serde_json::to_string(&s).unwrap();
    assert_eq!(serde_json::from_str::<System>(&j).unwrap(), s);
    let o: SimOptions = serde_json::from_str(r#"{"steps": 5, "dt": 0.02}"#).unwrap();
    assert_eq!((o.steps, o.dt, o.transient), (5, 0.02, 1000));
}

#[test]
fn lyapunov_lorenz63() {
    // Literature: λ_max ≈ 0.9056 (Sprott 2003).
    let opts = SimOptions {
        steps: 200_000, // T = 2000
        dt: 0.01,
        seed: 11,
        ..SimOptions::default()
    };
    let l = lyapunov_max(&System::lorenz63(), &opts).unwrap();
    assert!((l - 0.906).abs() < 0.05, "λ = {l}");
}

#[test]
fn lyapunov_rossler() {
    // Literature: λ_max ≈ 0.0714 (Sprott 2003) for a = b = 0.2, c = 5.7.
    let opts = SimOptions {
        steps: 100_000, // T = 10000
        dt: 0.1,
        substeps: Some(10),
        seed: 5,
        ..SimOptions::default()
    };
    let l = lyapunov_max(&System::rossler(), &opts).unwrap();
    assert!((l - 0.0714).abs() < 0.015, "λ = {l}");
}

#[test]
fn lyapunov_lorenz96_is_positive() {
    // F = 8 is chaotic at any dimension ≥ 5 or so; λ_max ≈ 1.2–1.7 per unit time.
    let opts = SimOptions {
        steps: 20_000,
        dt: 0.01,
        ..SimOptions::default()
    };
    let l = lyapunov_max(&System::lorenz96(10), &opts).unwrap();
    assert!(l > 0.5 && l < 2.5, "λ = {l}");
}
