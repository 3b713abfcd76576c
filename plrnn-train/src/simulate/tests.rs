use super::*;
use rand::SeedableRng;

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
    let l63 = System::lorenz63();
    let o = SimOptions::default();
    assert_eq!(o.resolved_substeps(&l63), 10);
    let o = SimOptions { dt: 0.05, ..o };
    assert_eq!(o.resolved_substeps(&l63), 50);
    let o = SimOptions { dt: 0.0001, ..o };
    assert_eq!(o.resolved_substeps(&l63), 1);
    let o = SimOptions {
        substeps: Some(3),
        ..o
    };
    assert_eq!(o.resolved_substeps(&l63), 3);
    // Other systems use their own inner step.
    let o = SimOptions::for_system(&System::morris_lecar());
    assert_eq!(o.resolved_substeps(&System::morris_lecar()), 10);
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
    let msg = "van_der_pol".parse::<System>().unwrap_err().to_string();
    assert!(msg.contains("van_der_pol") && msg.contains("lorenz63") && msg.contains("sprott_b"));
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

// ---- The quality-suite systems ----

/// The root of `f` in [lo, hi] by bisection (f(lo) and f(hi) of opposite signs).
fn bisect(f: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64) -> f64 {
    let flo = f(lo);
    assert!(flo * f(hi) < 0.0, "no sign change in [{lo}, {hi}]");
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if (f(mid) > 0.0) == (flo > 0.0) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Every sign change of `f` on a grid of `n` cells over [lo, hi], refined by bisection.
fn roots(f: impl Fn(f64) -> f64 + Copy, lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let h = (hi - lo) / n as f64;
    (0..n)
        .filter_map(|k| {
            let (a, b) = (lo + k as f64 * h, lo + (k + 1) as f64 * h);
            (f(a) * f(b) < 0.0).then(|| bisect(f, a, b))
        })
        .collect()
}

/// ‖f(x)‖∞.
fn residual(sys: &System, x: &[f64]) -> f64 {
    sys.vector_field(x)
        .unwrap()
        .iter()
        .fold(0.0, |m, v| m.max(v.abs()))
}

/// Trace and determinant of a 2 × 2 Jacobian.
fn trace_det(j: &[f64]) -> (f64, f64) {
    (j[0] + j[3], j[0] * j[3] - j[1] * j[2])
}

fn lyapunov_at(sys: &System, time: f64, seed: u64) -> f64 {
    let base = SimOptions::for_system(sys);
    let opts = SimOptions {
        steps: (time / base.dt).round() as usize,
        seed,
        ..base
    };
    lyapunov_max(sys, &opts).unwrap()
}

/// Times at which channel `c` crosses `level` upwards (linear interpolation).
fn up_crossings(s: &TimeSeries, c: usize, level: f64, dt: f64) -> Vec<f64> {
    let x = s.column(c);
    (1..x.len())
        .filter(|&k| x[k - 1] < level && x[k] >= level)
        .map(|k| (k as f64 - 1.0 + (level - x[k - 1]) / (x[k] - x[k - 1])) * dt)
        .collect()
}

#[test]
fn registry_names_parse_and_round_trip() {
    let all = System::all();
    assert_eq!(all.len(), SYSTEM_NAMES.len());
    assert!(all.len() >= 11);
    for (sys, name) in all.iter().zip(SYSTEM_NAMES) {
        assert_eq!(sys.name(), name);
        assert_eq!(&System::from_name(name).unwrap(), sys);
        // Case, dashes and spaces are ignored.
        let loose = name.replace('_', "-").to_uppercase();
        assert_eq!(&loose.parse::<System>().unwrap(), sys);
        let j = serde_json::to_string(sys).unwrap();
        assert!(j.contains(&format!("\"system\":\"{name}\"")), "{j}");
        assert_eq!(&serde_json::from_str::<System>(&j).unwrap(), sys);
        assert!(sys.to_string().starts_with(name));
        sys.validate().unwrap();
        assert_eq!(
            sys.vector_field(&vec![0.1; sys.dim()]).unwrap().len(),
            sys.dim()
        );
    }
    assert_eq!(
        System::from_name("Hindmarsh-Rose").unwrap(),
        System::hindmarsh_rose()
    );
    assert_eq!(
        System::from_name("FitzHugh Nagumo").unwrap(),
        System::fitzhugh_nagumo()
    );
    assert_eq!(System::from_name("ueda").unwrap(), System::duffing());
    assert_eq!(System::from_name("sprott").unwrap(), System::sprott_b());
    // For Lorenz-63 the per-system defaults are the historical ones.
    assert_eq!(
        SimOptions::for_system(&System::lorenz63()),
        SimOptions::default()
    );
}

#[test]
fn new_parameters_are_validated() {
    let bad = [
        System::Duffing {
            delta: 0.05,
            alpha: 0.0,
            beta: 1.0,
            gamma: 7.5,
            omega: 0.0,
        },
        System::Chua {
            alpha: f64::NAN,
            beta: 1.0,
            m0: 0.0,
            m1: 0.0,
        },
        {
            let mut m = System::morris_lecar();
            if let System::MorrisLecar { v4, .. } = &mut m {
                *v4 = 0.0;
            }
            m
        },
    ];
    for sys in bad {
        let e = sys.validate().unwrap_err().to_string();
        assert!(e.contains(sys.name()), "{e}");
        assert!(simulate(&sys, &SimOptions::for_system(&System::duffing())).is_err());
    }
}

#[test]
fn every_jacobian_matches_finite_differences() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
    for sys in System::all() {
        let n = sys.dim();
        for _ in 0..3 {
            let x = sys.default_initial(&mut rng);
            let jac = sys.jacobian(&x).unwrap();
            for j in 0..n {
                let eps = 1e-6 * (1.0 + x[j].abs());
                let mut xp = x.clone();
                let mut xm = x.clone();
                xp[j] += eps;
                xm[j] -= eps;
                let fp = sys.vector_field(&xp).unwrap();
                let fm = sys.vector_field(&xm).unwrap();
                for i in 0..n {
                    let fd = (fp[i] - fm[i]) / (2.0 * eps);
                    let tol = 1e-6 * (1.0 + fd.abs());
                    assert!(
                        (fd - jac[i * n + j]).abs() < tol,
                        "{sys} J[{i},{j}] at {x:?}"
                    );
                }
            }
            let v: Vec<f64> = (0..n).map(|k| 0.3 * k as f64 - 0.7).collect();
            let mut jv = vec![0.0; n];
            sys.jvp(&x, &v, &mut jv);
            for i in 0..n {
                let m: f64 = (0..n).map(|j| jac[i * n + j] * v[j]).sum();
                assert!((m - jv[i]).abs() < 1e-9 * (1.0 + m.abs()), "{sys}");
            }
        }
    }
}

#[test]
fn default_sampling_is_converged_and_bounded() {
    // At each system's default dt and inner step: a run stays finite and no channel is flat;
    // and, from a state on the attractor, halving the inner step changes the next 5 time
    // units by less than 1e-6 of the attractor's spread (RK4's error at the chosen step is far
    // below any noise level we simulate). The comparison starts after the transient: chaos
    // would amplify the integration error of a long transient (Lorenz-63: e^{0.9·15}).
    for sys in System::all() {
        let base = SimOptions::for_system(&sys);
        let opts = SimOptions {
            steps: 2000,
            seed: 4,
            ..base.clone()
        };
        let s = simulate(&sys, &opts).unwrap();
        assert!(s.as_slice().iter().all(|v| v.is_finite()), "{sys}");
        let (_, sd) = s.mean_std();
        assert!(
            sd.iter().all(|&v| v > 1e-3),
            "{sys}: flat channel, std {sd:?}"
        );
        let short = SimOptions {
            steps: (5.0 / base.dt).ceil() as usize,
            transient: 0,
            initial: Some(s.row(0).to_vec()),
            ..opts.clone()
        };
        let coarse = simulate(&sys, &short).unwrap();
        let fine = simulate(
            &sys,
            &SimOptions {
                substeps: Some(2 * short.resolved_substeps(&sys)),
                ..short.clone()
            },
        );
        let scale = sd.iter().fold(0.0_f64, |m, &v| m.max(v));
        let err = max_abs_diff(coarse.as_slice(), fine.unwrap().as_slice());
        assert!(err < 1e-6 * scale, "{sys}: step-halving difference {err}");
    }
}

// The finite-time Benettin estimates below scatter between starts like 1/√T. The tolerances
// are three standard deviations of that scatter, measured over four seeds at a shorter T and
// scaled by √(T_short/T) (plus the rounding of the published digits); the long T's make them
// tight enough to reject a wrong parameter or vector field.

#[test]
fn lyapunov_chua_double_scroll() {
    // Sprott (2003, App. A): λ = 0.3271 for α = 9, β = 100/7, m0 = −8/7, m1 = −5/7. Seeds 0–3
    // over T = 2000 give 0.323, 0.335, 0.325, 0.319 (sd 0.0067), so sd ≈ 0.003 at T = 10 000
    // and the tolerance is ±0.01; T = 20 000 gives 0.3272 and 0.3274 (seeds 0, 1).
    let l = lyapunov_at(&System::chua(), 10_000.0, 0);
    assert!((l - 0.3271).abs() < 0.01, "λ = {l}");
    // The three equilibria: the origin and the scroll centres (±1.5, 0, ∓1.5).
    for p in [[0.0, 0.0, 0.0], [1.5, 0.0, -1.5], [-1.5, 0.0, 1.5]] {
        assert!(residual(&System::chua(), &p) < 1e-12, "{p:?}");
    }
    // Both scrolls are visited.
    let s = simulate(&System::chua(), &SimOptions::for_system(&System::chua())).unwrap();
    let x = s.column(0);
    assert!(x.iter().any(|&v| v > 1.5) && x.iter().any(|&v| v < -1.5));
}

#[test]
fn lyapunov_ueda_duffing() {
    // Sprott (2003, App. A): λ = 0.1034 for ẍ + 0.05ẋ + x³ = 7.5 sin t (the phase of the
    // forcing does not matter on the attractor). Seeds 0–3 over T = 5000 give 0.098, 0.105,
    // 0.097, 0.100 (sd 0.0036), so sd ≈ 0.0011 at T = 50 000: tolerance ±0.0035. Measured
    // 0.10350 and 0.10373 (seeds 0, 1).
    let l = lyapunov_at(&System::duffing(), 50_000.0, 0);
    assert!((l - 0.1034).abs() < 0.0035, "λ = {l}");
    // The forcing channels stay on the unit circle: u = cos(t + φ0).
    let s = simulate(
        &System::duffing(),
        &SimOptions::for_system(&System::duffing()),
    )
    .unwrap();
    for r in s.rows() {
        assert!((r[2] * r[2] + r[3] * r[3] - 1.0).abs() < 1e-9, "{r:?}");
    }
    // ... and turn at ω = 1: 64 samples per period.
    let t = up_crossings(&s, 2, 0.0, System::duffing().default_dt());
    let period = (t[t.len() - 1] - t[0]) / (t.len() - 1) as f64;
    assert!(
        (period - std::f64::consts::TAU).abs() < 1e-6,
        "period {period}"
    );
}

#[test]
fn lyapunov_sprott_b() {
    // Sprott (1994), case B: λ = 0.210. Seeds 0–3 over T = 5000 give 0.2118, 0.2105, 0.2104,
    // 0.2120 (sd 0.00084), so sd ≈ 0.00027 at T = 50 000; 3 sd plus the half-digit of the
    // published 0.210: ±0.0013. Measured 0.21040 and 0.21038 (seeds 0, 1).
    let l = lyapunov_at(&System::sprott_b(), 50_000.0, 0);
    assert!((l - 0.210).abs() < 0.0013, "λ = {l}");
    for p in [[1.0, 1.0, 0.0], [-1.0, -1.0, 0.0]] {
        assert!(residual(&System::sprott_b(), &p) < 1e-15);
    }
}

#[test]
fn aizawa_is_chaotic_with_its_axis_equilibrium() {
    // Equilibrium on the z axis: c + a z − z³/3 = 0 (hand-derived, x = y = 0).
    let Some((a, c)) = (match System::aizawa() {
        System::Aizawa { a, c, .. } => Some((a, c)),
        _ => None,
    }) else {
        unreachable!()
    };
    let zs = roots(|z| c + a * z - z * z * z / 3.0, -5.0, 5.0, 1000);
    assert!(!zs.is_empty());
    for z in zs {
        assert!(residual(&System::aizawa(), &[0.0, 0.0, z]) < 1e-12);
    }
    // No published λ that we trust for these parameters; ours is 0.095 (T = 2000, two
    // seeds within 0.001). The test asserts chaos with a margin, not the digits.
    let l = lyapunov_at(&System::aizawa(), 2000.0, 0);
    assert!(l > 0.05 && l < 0.2, "λ = {l}");
}

#[test]
fn hindmarsh_rose_bursts_chaotically() {
    let sys = System::hindmarsh_rose();
    let System::HindmarshRose {
        a,
        b,
        c,
        d,
        s,
        x_rest,
        current,
        ..
    } = sys
    else {
        unreachable!()
    };
    // The single equilibrium (hand-derived): y = c − d x², z = s(x − x_R) and
    // −a x³ + (b − d) x² − s x + c + s x_R + I = 0, monotone for the standard parameters.
    let xs = roots(
        |x| -a * x * x * x + (b - d) * x * x - s * x + c + s * x_rest + current,
        -5.0,
        5.0,
        1000,
    );
    assert_eq!(xs.len(), 1);
    let x = xs[0];
    assert!(residual(&sys, &[x, c - d * x * x, s * (x - x_rest)]) < 1e-12);
    // Bursting: spikes (x crossing 1 upwards) come in groups; the silences between bursts
    // are several times longer than the intervals inside a burst.
    let opts = SimOptions {
        steps: 50_000, // 5000 time units, some 40 bursts
        ..SimOptions::for_system(&sys)
    };
    let run = simulate(&sys, &opts).unwrap();
    let spikes = up_crossings(&run, 0, 1.0, opts.dt);
    let isi: Vec<f64> = spikes.windows(2).map(|w| w[1] - w[0]).collect();
    let (lo, hi) = isi
        .iter()
        .fold((f64::INFINITY, 0.0_f64), |(l, h), &v| (l.min(v), h.max(v)));
    assert!(hi > 3.0 * lo, "ISIs {lo}..{hi}");
    let silences = isi.iter().filter(|&&v| v > 0.5 * hi).count();
    let per_burst = spikes.len() as f64 / silences as f64;
    assert!(per_burst >= 2.0, "{per_burst} spikes per burst");
    // Chaotic (Innocenti et al. 2007 place I = 3.25, r = 0.006 in the chaotic-bursting
    // region): λ_max > 0. Ours is 0.013 (T = 20 000; seeds 0, 1: 0.0131, 0.0135).
    let l = lyapunov_at(&sys, 20_000.0, 0);
    assert!(l > 0.005, "λ = {l}");
}

/// Checks a planar oscillator and returns its period:
/// - the hand-derived `equilibrium` is one, and it is an unstable focus or node (trace > 0,
///   det > 0), so by Poincaré–Bendixson a bounded orbit goes to a limit cycle;
/// - the orbit is periodic: successive periods (upward crossings of `level` by `channel`,
///   linearly interpolated between samples) agree to 1e-3 relative — the interpolation error
///   of a crossing time is about dt²·|ẍ|/(8|ẋ|), below 1e-4 of a period at ≥ 50 samples per
///   period even on the fast upstroke of a spike;
/// - the period does not depend on the sampling: a run at dt/4 (and so a 4× finer inner step)
///   gives the mean period within 1e-5 relative;
/// - λ_max = 0: on a limit cycle the tangent vector aligns with the flow, so its log-growth
///   over [T, 2T] is ln(‖f(x(2T))‖/‖f(x(T))‖), bounded by ln(max‖f‖/min‖f‖) on the cycle
///   however long T is; a chaotic orbit would grow it like λT. Measured as the difference of
///   the accumulated logs of two Benettin runs (T = 100 periods and 2T, same start).
fn check_limit_cycle(sys: &System, equilibrium: &[f64], channel: usize, level: f64) -> f64 {
    assert!(residual(sys, equilibrium) < 1e-10, "{sys}: {equilibrium:?}");
    let (tr, det) = trace_det(&sys.jacobian(equilibrium).unwrap());
    assert!(tr > 0.0 && det > 0.0, "{sys}: trace {tr}, det {det}");
    let base = SimOptions::for_system(sys);
    let mean_period = |k: usize| {
        let opts = SimOptions {
            steps: 20_000 * k,
            dt: base.dt / k as f64,
            transient: base.transient * k,
            ..base.clone()
        };
        let run = simulate(sys, &opts).unwrap();
        let t = up_crossings(&run, channel, level, opts.dt);
        assert!(t.len() > 10, "{sys}: {} crossings", t.len());
        let periods: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
        let p = periods[periods.len() - 1];
        for q in &periods[1..] {
            assert!((q - p).abs() < 1e-3 * p, "{sys}: periods {q} vs {p}");
        }
        ((t[t.len() - 1] - t[0]) / periods.len() as f64, run)
    };
    let (p, run) = mean_period(1);
    let (p_fine, _) = mean_period(4);
    assert!(
        (p - p_fine).abs() < 1e-5 * p,
        "{sys}: period {p} vs {p_fine} at dt/4"
    );
    let speeds: Vec<f64> = run
        .rows()
        .map(|r| {
            let f = sys.vector_field(r).unwrap();
            f.iter().map(|v| v * v).sum::<f64>().sqrt()
        })
        .collect();
    let bound = (speeds.iter().fold(0.0_f64, |m, &v| m.max(v))
        / speeds.iter().fold(f64::INFINITY, |m, &v| m.min(v)))
    .ln();
    let n = (100.0 * p / base.dt).round() as usize;
    let log_growth = |steps: usize| {
        let opts = SimOptions {
            steps,
            ..base.clone()
        };
        lyapunov_max(sys, &opts).unwrap() * steps as f64 * base.dt
    };
    let late = log_growth(2 * n) - log_growth(n);
    assert!(
        late.abs() <= bound,
        "{sys}: log-growth {late} over 100 periods, bound {bound}"
    );
    p
}

#[test]
fn fitzhugh_nagumo_relaxation_oscillation() {
    let sys = System::fitzhugh_nagumo();
    let System::FitzhughNagumo { a, b, current, .. } = sys else {
        unreachable!()
    };
    // Equilibrium: w = (v + a)/b and v − v³/3 − (v + a)/b + I = 0 (one root for b < 1).
    let vs = roots(
        |v| v - v * v * v / 3.0 - (v + a) / b + current,
        -3.0,
        3.0,
        1000,
    );
    assert_eq!(vs.len(), 1);
    let p = check_limit_cycle(&sys, &[vs[0], (vs[0] + a) / b], 0, 0.0);
    // Relaxation: v spends most of the cycle on the slow branches (|v| > 1).
    let run = simulate(&sys, &SimOptions::for_system(&sys)).unwrap();
    let slow = run.column(0).iter().filter(|v| v.abs() > 1.0).count();
    assert!(
        slow as f64 > 0.6 * run.len() as f64,
        "{slow} of {}",
        run.len()
    );
    // 100 samples a period at the default dt (39.47 time units; not a published number: the
    // test above shows it is independent of the sampling).
    assert!(p > 20.0 && p < 60.0, "period {p}");
    // The oscillation lives between the two Hopf points, where the equilibrium's trace
    // 1 − v² − εb vanishes: v_H = ∓√(1 − εb), I_H = v_H³/3 − v_H + (v_H + a)/b (closed form,
    // 0.3313 and 1.4187 here). Bisection of the Jacobian's trace at the numerically found
    // equilibrium, as a function of I, lands on them; I = 0.5 lies between.
    let System::FitzhughNagumo { eps, .. } = sys else {
        unreachable!()
    };
    let trace_at = |i: f64| {
        let v = bisect(|v| v - v * v * v / 3.0 - (v + a) / b + i, -3.0, 3.0);
        let with_i = System::FitzhughNagumo {
            a,
            b,
            eps,
            current: i,
        };
        trace_det(&with_i.jacobian(&[v, (v + a) / b]).unwrap()).0
    };
    for (sign, lo, hi) in [(-1.0, 0.0, 0.5), (1.0, 0.5, 3.0)] {
        let v_h: f64 = sign * (1.0 - eps * b).sqrt();
        let i_h = v_h.powi(3) / 3.0 - v_h + (v_h + a) / b;
        let found = bisect(trace_at, lo, hi);
        assert!(
            (found - i_h).abs() < 1e-9,
            "Hopf at {found}, closed form {i_h}"
        );
    }
    assert!(trace_at(0.5) > 0.0);
}

#[test]
fn morris_lecar_fires_periodically() {
    let sys = System::morris_lecar();
    // Equilibrium: w = w∞(V) and I_ion(V, w∞(V)) = I, by bisection on the voltage.
    let f = |v: f64| {
        sys.vector_field(&[v, 0.5 * (1.0 + ((v - 2.0) / 30.0).tanh())])
            .unwrap()[0]
    };
    let vs = roots(f, -100.0, 100.0, 2000);
    assert_eq!(vs.len(), 1, "{vs:?}");
    let v = vs[0];
    let p = check_limit_cycle(&sys, &[v, 0.5 * (1.0 + ((v - 2.0) / 30.0).tanh())], 0, 0.0);
    // Full spikes from below −40 mV to above +20 mV.
    let run = simulate(&sys, &SimOptions::for_system(&sys)).unwrap();
    let x = run.column(0);
    assert!(x.iter().any(|&v| v < -40.0) && x.iter().any(|&v| v > 20.0));
    assert!(p > 20.0 && p < 500.0, "period {p} ms");
}

#[test]
fn wilson_cowan_oscillates() {
    let sys = System::wilson_cowan();
    // Equilibria: for each E, İ = 0 has one root I(E) (İ decreases in I); then Ė(E, I(E)) = 0.
    let i_of = |e: f64| bisect(|i| sys.vector_field(&[e, i]).unwrap()[1], -1.0, 2.0);
    let es = roots(
        |e| sys.vector_field(&[e, i_of(e)]).unwrap()[0],
        -0.5,
        1.0,
        1500,
    );
    assert_eq!(es.len(), 1, "{es:?}");
    let eq = [es[0], i_of(es[0])];
    check_limit_cycle(&sys, &eq, 0, eq[0]);
}
