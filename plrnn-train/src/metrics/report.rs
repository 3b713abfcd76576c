//! The evaluation protocol and its serialisable report.

use std::collections::BTreeMap;

use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Deserializer, Serialize};

use super::{
    check_finite, d_h, d_stsp_binned, d_stsp_gmm, generate, lyapunov_max, lyapunov_max_from_series,
    prediction_error, psc, BinRange, Dynamics, GmmOptions, MetricsError, RosensteinOptions,
};
use crate::TimeSeries;

/// Which estimator of D_stsp a report used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DstspMethod {
    /// [`d_stsp_binned`] (the published choice for N < 5).
    Binned,
    /// [`d_stsp_gmm`] (the published choice for N ≥ 5).
    Gmm,
}

/// How the initial states of the generated trajectories are picked from the latent states
/// inferred on the test data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitSelection {
    /// Test times ⌊k T / n⌋ for k = 0..n: deterministic, spread over the whole test orbit.
    EvenlySpaced,
    /// n test times drawn uniformly (with replacement) by a `Xoshiro256PlusPlus` seeded with
    /// the protocol's seed.
    Random,
}

/// Everything that fixes an evaluation; stored in the report so that a number always comes
/// with the protocol that produced it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalProtocol {
    /// Number of generated trajectories (100 published).
    pub n_trajectories: usize,
    /// Steps discarded at the start of each trajectory (1000 published).
    pub burn_in: usize,
    /// Steps kept from each trajectory (1000 published; 100 × 1000 = 10⁵ points).
    pub keep: usize,
    /// Seed for random initial-state selection and the GMM sampler (copied into it).
    pub seed: u64,
    /// How initial states are picked.
    pub init_selection: InitSelection,
    /// Bins per dimension of the binned D_stsp (30).
    pub bins: usize,
    /// Bin range of the binned D_stsp (legacy: [−2s, 2s], the ICML 2022 convention).
    pub bin_range: BinRange,
    /// Options of the GMM D_stsp (its `seed` is replaced by the protocol's `seed`).
    pub gmm: GmmOptions,
    /// Forced D_stsp estimator; `None`: binned if N < 5, GMM otherwise.
    pub d_stsp_method: Option<DstspMethod>,
    /// Gaussian smoothing σ (in frequency bins) of D_H (20; 20 for Lorenz-63, 10 for Lorenz-96).
    pub sigma: f64,
    /// Gaussian smoothing σ of the dB spectra of PSC (default: the D_H σ).
    pub psc_sigma: f64,
    /// Horizons of the prediction error, PE(n) (1, 5, 10, 20; the headline is 20).
    pub pe_ns: Vec<usize>,
    /// `true`: D_H and PSC use one extra long trajectory (from the first initial state, after
    /// burn-in, as long as the test series) instead of the concatenated short ones, whose
    /// joins every `keep` steps would add broadband power and whose length limits the
    /// frequency resolution that σ assumes.
    pub spectrum_long_trajectory: bool,
    /// Steps of the orbit before the model's Lyapunov exponent is measured.
    pub lyapunov_transient: usize,
    /// Steps averaged for the model's Lyapunov exponent.
    pub lyapunov_steps: usize,
    /// Options of the data's Lyapunov estimate; `None` skips it.
    pub rosenstein: Option<RosensteinOptions>,
    /// Warn when generated std / data std falls below this in any channel (0.2), or exceeds its
    /// inverse.
    pub collapse_ratio: f64,
    /// Warn when D_H exceeds this (0.5).
    pub d_h_warn: f64,
    /// The data (and a model) count as chaotic when their estimated exponent exceeds this, per
    /// step (0.001; Lorenz-63 sampled at dt = 0.01 has ≈ 0.009).
    pub chaos_threshold: f64,
}

impl EvalProtocol {
    /// Whether a generated channel's std is below `collapse_ratio` × the data's (a fixed point,
    /// a small cycle).
    pub fn too_narrow(&self, gen_std: f64, data_std: f64) -> bool {
        gen_std < self.collapse_ratio * data_std
    }

    /// Whether a generated channel's std is above the data's / `collapse_ratio` (an orbit far
    /// outside the data's range).
    pub fn too_wide(&self, gen_std: f64, data_std: f64) -> bool {
        gen_std * self.collapse_ratio > data_std
    }

    /// Whether the data look chaotic (exponent `lyapunov_data` above `chaos_threshold`) while
    /// the model does not (`lyapunov_model` not above it, or not computed): a fixed point, a
    /// cycle or a quasi-periodic torus (λ ≈ 0) in place of a chaotic attractor.
    pub fn regular_for_chaotic(&self, lyapunov_data: f64, lyapunov_model: f64) -> bool {
        lyapunov_data > self.chaos_threshold
            && (lyapunov_model.is_nan() || lyapunov_model <= self.chaos_threshold)
    }
}

impl Default for EvalProtocol {
    fn default() -> Self {
        Self {
            n_trajectories: 100,
            burn_in: 1000,
            keep: 1000,
            seed: 0,
            init_selection: InitSelection::EvenlySpaced,
            bins: 30,
            bin_range: BinRange::Legacy,
            gmm: GmmOptions::default(),
            d_stsp_method: None,
            sigma: 20.0,
            psc_sigma: 20.0,
            pe_ns: vec![1, 5, 10, 20],
            spectrum_long_trajectory: true,
            lyapunov_transient: 1000,
            lyapunov_steps: 10_000,
            rosenstein: Some(RosensteinOptions::default()),
            collapse_ratio: 0.2,
            d_h_warn: 0.5,
            chaos_threshold: 0.001,
        }
    }
}

/// The result of [`evaluate`], serialised with exactly these keys. Non-finite numbers (a metric
/// that could not be computed, a diverged model) are written as JSON `null` and read back as
/// NaN.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// State-space divergence (nats).
    #[serde(deserialize_with = "f64_or_nan")]
    pub d_stsp: f64,
    /// The estimator that produced `d_stsp`.
    pub d_stsp_method: DstspMethod,
    /// Power-spectrum Hellinger distance, in [0, 1].
    #[serde(deserialize_with = "f64_or_nan")]
    pub d_h: f64,
    /// Power-spectrum correlation (1 is best).
    #[serde(deserialize_with = "f64_or_nan")]
    pub psc: f64,
    /// PE(n), keyed by n written in decimal.
    #[serde(deserialize_with = "map_f64_or_nan")]
    pub pe: BTreeMap<String, f64>,
    /// Observation dimension N.
    pub n_dims: usize,
    /// Per-channel std of the generated (concatenated kept) data.
    #[serde(deserialize_with = "vec_f64_or_nan")]
    pub gen_std: Vec<f64>,
    /// Per-channel std of the test data.
    pub data_std: Vec<f64>,
    /// Largest Lyapunov exponent of the model, per step.
    #[serde(deserialize_with = "f64_or_nan")]
    pub lyapunov_max: f64,
    /// Largest Lyapunov exponent estimated from the test data, per step, if computed.
    pub lyapunov_data: Option<f64>,
    /// Human-readable warnings (collapse, divergence, non-chaotic model, failed metrics).
    pub warnings: Vec<String>,
    /// The protocol used.
    pub protocol: EvalProtocol,
}

impl EvalReport {
    /// The held-out score that picks the best model (lower is better): D_stsp + 4 D_H, or +∞
    /// when either is not finite.
    pub fn score(&self) -> f64 {
        let s = self.d_stsp + 4.0 * self.d_h;
        if s.is_finite() {
            s
        } else {
            f64::INFINITY
        }
    }

    /// Whether the generated trajectories collapsed (or blew up): some channel's generated std
    /// is not finite, below the protocol's `collapse_ratio` × the data's std (a fixed point, a
    /// small cycle) or above the data's std / `collapse_ratio` (an orbit far outside the data's
    /// range), or the data are chaotic while the model is not
    /// ([`EvalProtocol::regular_for_chaotic`]).
    pub fn collapsed(&self) -> bool {
        let p = &self.protocol;
        let small = self
            .gen_std
            .iter()
            .zip(&self.data_std)
            .any(|(g, s)| !g.is_finite() || p.too_narrow(*g, *s) || p.too_wide(*g, *s));
        // Chaotic data, regular model: it settled on a fixed point or a cycle.
        let not_chaotic = self
            .lyapunov_data
            .is_some_and(|ld| self.protocol.regular_for_chaotic(ld, self.lyapunov_max));
        small || not_chaotic
    }
}

fn f64_or_nan<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

fn vec_f64_or_nan<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    Ok(Vec::<Option<f64>>::deserialize(d)?
        .into_iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect())
}

fn map_f64_or_nan<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, f64>, D::Error> {
    Ok(BTreeMap::<String, Option<f64>>::deserialize(d)?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or(f64::NAN)))
        .collect())
}

/// Evaluates a model against test data with the field's protocol.
///
/// Protocol:
/// 1. Initial states: `n_trajectories` rows of `init_states` (the latent states inferred at each
///    test time), picked by [`InitSelection`] (default: evenly spaced over the test orbit).
/// 2. Generation: from each, `burn_in` steps discarded, `keep` kept ([`generate`]); the kept
///    parts are concatenated (100 × 1000 = 10⁵ points by default).
/// 3. D_stsp of test vs generated: [`d_stsp_binned`] (`bins`, `bin_range`) if N < 5, else
///    [`d_stsp_gmm`] (`gmm`, with the protocol's seed), unless `d_stsp_method` forces one.
///    The GMM takes the first `gmm.n_centres` points of each series as centres: of the test
///    orbit, and of the concatenation (with the defaults, the first 10 trajectories).
/// 4. D_H ([`d_h`], σ = `sigma`) and PSC ([`psc`], σ = `psc_sigma`) of test vs one long
///    generated trajectory (see `spectrum_long_trajectory`), or vs the concatenation;
///    unequal lengths are truncated to the shorter.
/// 5. PE(n) for n in `pe_ns` from every test time ([`prediction_error`]).
/// 6. Per-channel std of generated and test data; the model's largest Lyapunov exponent
///    ([`lyapunov_max`]) from the first initial state; the data's ([`lyapunov_max_from_series`])
///    if `rosenstein` is set.
/// 7. Warnings: generated values non-finite (diverged); any channel with generated std <
///    `collapse_ratio` × data std (collapse to a fixed point or small cycle) or >
///    data std / `collapse_ratio` (blow-up); model exponent ≤ 0 while the data's exceeds
///    `chaos_threshold`; D_H > `d_h_warn`; and any metric that could not be computed (its value
///    is then NaN).
///
/// Errors (the inputs, not the model's behaviour): channel counts or lengths that do not match
/// the model, empty or non-finite test data, or an invalid protocol (`n_trajectories == 0`,
/// `keep == 0`, non-positive `collapse_ratio`).
pub fn evaluate(
    model: &dyn Dynamics,
    test: &TimeSeries,
    init_states: &TimeSeries,
    protocol: &EvalProtocol,
) -> Result<EvalReport, MetricsError> {
    let n = model.obs_dim();
    if test.dims() != n {
        return Err(MetricsError::DimMismatch {
            what: "test series channels (model obs_dim)",
            expected: n,
            got: test.dims(),
        });
    }
    if init_states.dims() != model.latent_dim() {
        return Err(MetricsError::DimMismatch {
            what: "initial states channels (model latent_dim)",
            expected: model.latent_dim(),
            got: init_states.dims(),
        });
    }
    if init_states.len() != test.len() {
        return Err(MetricsError::DimMismatch {
            what: "initial states length (one per test step)",
            expected: test.len(),
            got: init_states.len(),
        });
    }
    if test.is_empty() {
        return Err(MetricsError::TooShort {
            what: "test series",
            len: 0,
            min: 1,
        });
    }
    check_finite(test, "test series")?;
    check_finite(init_states, "initial states")?;
    for (name, v) in [
        ("n_trajectories", protocol.n_trajectories),
        ("keep", protocol.keep),
    ] {
        if v == 0 {
            return Err(MetricsError::InvalidParameter {
                name,
                value: "0".into(),
                reason: "must be at least 1",
            });
        }
    }
    if protocol.collapse_ratio.is_nan() || protocol.collapse_ratio <= 0.0 {
        return Err(MetricsError::InvalidParameter {
            name: "collapse_ratio",
            value: protocol.collapse_ratio.to_string(),
            reason: "must be > 0",
        });
    }

    let mut warnings = Vec::new();
    let len = test.len();
    let k = protocol.n_trajectories;
    let idx: Vec<usize> = match protocol.init_selection {
        InitSelection::EvenlySpaced => (0..k).map(|i| i * len / k).collect(),
        InitSelection::Random => {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(protocol.seed);
            (0..k).map(|_| rng.random_range(0..len)).collect()
        }
    };
    let z0s: Vec<Vec<f64>> = idx.iter().map(|&t| init_states.row(t).to_vec()).collect();

    let trajectories = generate(model, &z0s, protocol.burn_in, protocol.keep)?;
    let mut buf = Vec::with_capacity(k * protocol.keep * n);
    for t in &trajectories {
        buf.extend_from_slice(t.as_slice());
    }
    let gen = TimeSeries::new(buf, n).map_err(|e| MetricsError::DimMismatch {
        what: "generated buffer",
        expected: e.dims,
        got: e.len,
    })?;
    if !gen.as_slice().iter().all(|v| v.is_finite()) {
        warnings.push(
            "generated trajectories diverged (non-finite values); binned D_stsp drops them, \
             the other distribution metrics are not computed"
                .to_string(),
        );
    }

    let mut or_nan = |what: &str, r: Result<f64, MetricsError>| match r {
        Ok(v) => v,
        Err(e) => {
            warnings.push(format!("{what} not computed: {e}"));
            f64::NAN
        }
    };

    let method = protocol.d_stsp_method.unwrap_or(if n < 5 {
        DstspMethod::Binned
    } else {
        DstspMethod::Gmm
    });
    let d_stsp = match method {
        DstspMethod::Binned => or_nan(
            "d_stsp",
            d_stsp_binned(test, &gen, protocol.bins, protocol.bin_range),
        ),
        DstspMethod::Gmm => {
            let opts = GmmOptions {
                seed: protocol.seed,
                ..protocol.gmm
            };
            or_nan("d_stsp", d_stsp_gmm(test, &gen, &opts))
        }
    };

    let long;
    let spec_gen = if protocol.spectrum_long_trajectory {
        long = generate(model, &z0s[..1], protocol.burn_in, len)?
            .pop()
            .unwrap_or_else(|| TimeSeries::zeros(0, n));
        &long
    } else {
        &gen
    };
    let d_h_value = or_nan("d_h", d_h(test, spec_gen, protocol.sigma));
    let psc_value = or_nan("psc", psc(test, spec_gen, protocol.psc_sigma));

    let mut pe = BTreeMap::new();
    let valid_ns: Vec<usize> = protocol
        .pe_ns
        .iter()
        .copied()
        .filter(|&m| m < len)
        .collect();
    if valid_ns.len() < protocol.pe_ns.len() {
        warnings.push(format!("PE horizons ≥ the test length ({len}) skipped"));
    }
    if !valid_ns.is_empty() {
        match prediction_error(model, test, init_states, &valid_ns) {
            Ok(v) => {
                for (m, e) in v {
                    pe.insert(m.to_string(), e);
                }
            }
            Err(e) => warnings.push(format!("pe not computed: {e}")),
        }
    }

    let (_, gen_std) = gen.mean_std();
    let (_, data_std) = test.mean_std();
    for (d, (g, s)) in gen_std.iter().zip(&data_std).enumerate() {
        if protocol.too_narrow(*g, *s) {
            warnings.push(format!(
                "model collapsed in channel {d}: generated std {g:.4} < {} × data std {s:.4} \
                 (fixed point or small cycle?)",
                protocol.collapse_ratio
            ));
        } else if protocol.too_wide(*g, *s) {
            warnings.push(format!(
                "generated spread too large in channel {d}: std {g:.4} vs data std {s:.4}"
            ));
        }
    }

    let lyap_model = lyapunov_max(
        model,
        &z0s[0],
        protocol.lyapunov_transient,
        protocol.lyapunov_steps.max(1),
    )?;
    let lyapunov_data =
        protocol
            .rosenstein
            .and_then(|opts| match lyapunov_max_from_series(test, &opts) {
                Ok(v) => Some(v),
                Err(e) => {
                    warnings.push(format!("lyapunov_data not computed: {e}"));
                    None
                }
            });
    if let Some(ld) = lyapunov_data {
        if protocol.regular_for_chaotic(ld, lyap_model) {
            warnings.push(format!(
                "data look chaotic (λ ≈ {ld:.4}/step) but the model is not (λ = {lyap_model:.4}/step)"
            ));
        }
    }
    if d_h_value > protocol.d_h_warn {
        warnings.push(format!(
            "D_H = {d_h_value:.3} > {}: power spectra differ strongly",
            protocol.d_h_warn
        ));
    }

    Ok(EvalReport {
        d_stsp,
        d_stsp_method: method,
        d_h: d_h_value,
        psc: psc_value,
        pe,
        n_dims: n,
        gen_std,
        data_std,
        lyapunov_max: lyap_model,
        lyapunov_data,
        warnings,
        protocol: protocol.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::test_models::Diagonal;
    use crate::metrics::Dynamics;

    /// A 2-D rotation by angle ω (x = z): a neutral, non-chaotic oscillator whose orbit from a
    /// point on the unit circle is exactly the test signal (cos ωt, sin ωt).
    struct Rotation(f64);

    impl Dynamics for Rotation {
        fn latent_dim(&self) -> usize {
            2
        }
        fn obs_dim(&self) -> usize {
            2
        }
        fn step(&self, z: &[f64], z_next: &mut [f64]) {
            let (c, s) = (self.0.cos(), self.0.sin());
            z_next[0] = c * z[0] - s * z[1];
            z_next[1] = s * z[0] + c * z[1];
        }
        fn observe(&self, z: &[f64], x: &mut [f64]) {
            x.copy_from_slice(z);
        }
        fn jacobian(&self, _z: &[f64], jac: &mut [f64]) {
            let (c, s) = (self.0.cos(), self.0.sin());
            jac.copy_from_slice(&[c, -s, s, c]);
        }
    }

    fn circle(len: usize, w: f64) -> TimeSeries {
        let v = (0..len)
            .flat_map(|t| [(w * t as f64).cos(), (w * t as f64).sin()])
            .collect();
        TimeSeries::new(v, 2).unwrap()
    }

    fn small_protocol() -> EvalProtocol {
        EvalProtocol {
            n_trajectories: 10,
            burn_in: 100,
            keep: 500,
            lyapunov_steps: 1000,
            rosenstein: None,
            ..EvalProtocol::default()
        }
    }

    /// An orbit ten times wider than the data counts as failed, as one five times narrower.
    #[test]
    fn a_far_too_wide_orbit_counts_as_collapsed() {
        let w = 2.0 * std::f64::consts::PI * 40.0 / 5000.0;
        let mut small = circle(5000, w);
        small.as_mut_slice().iter_mut().for_each(|v| *v *= 0.1);
        let wide = evaluate(&Rotation(w), &small, &circle(5000, w), &small_protocol()).unwrap();
        assert!(wide
            .gen_std
            .iter()
            .zip(&wide.data_std)
            .all(|(g, s)| *g > 9.0 * s));
        assert!(wide.warnings.iter().any(|m| m.contains("spread too large")));
        assert!(wide.collapsed());
        // The same orbit against data of its own size is fine.
        let same = evaluate(
            &Rotation(w),
            &circle(5000, w),
            &circle(5000, w),
            &small_protocol(),
        );
        assert!(!same.unwrap().collapsed());
    }

    /// ω = 2π · 40 / 5000: an exact number of cycles in the test window, so the long generated
    /// trajectory (another phase) has the same leakage-free power spectrum.
    #[test]
    fn perfect_oscillator_scores_well_and_round_trips() {
        let w = 2.0 * std::f64::consts::PI * 40.0 / 5000.0;
        let test = circle(5000, w);
        let report = evaluate(&Rotation(w), &test, &test, &small_protocol()).unwrap();
        assert!(report.d_stsp < 0.05, "{}", report.d_stsp);
        assert_eq!(report.d_stsp_method, DstspMethod::Binned);
        assert!(report.d_h < 1e-3, "{}", report.d_h);
        assert!(report.psc > 0.99, "{}", report.psc);
        assert!(report.pe["20"] < 1e-20);
        assert!(report.lyapunov_max.abs() < 1e-9);
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);

        let json = serde_json::to_value(&report).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(|s| s.as_str())
            .collect();
        for k in [
            "d_stsp",
            "d_stsp_method",
            "d_h",
            "psc",
            "pe",
            "n_dims",
            "gen_std",
            "data_std",
            "lyapunov_max",
            "lyapunov_data",
            "warnings",
            "protocol",
        ] {
            assert!(keys.contains(&k), "missing key {k}");
        }
        assert_eq!(keys.len(), 12);
        let back: EvalReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn collapsed_model_warns() {
        let test = circle(5000, 0.05);
        let report = evaluate(&Diagonal(vec![0.5, 0.5]), &test, &test, &small_protocol()).unwrap();
        assert!(report.warnings.iter().any(|w| w.contains("collapsed")));
        assert!(report.warnings.iter().any(|w| w.contains("D_H")));
        assert!(report.collapsed());
        assert!(report.d_h.is_nan() || report.d_h > 0.5);
        // A report with NaN values still round-trips through JSON (NaN ↔ null).
        let s = serde_json::to_string(&report).unwrap();
        let back: EvalReport = serde_json::from_str(&s).unwrap();
        assert_eq!(back.warnings, report.warnings);
    }

    /// Chaotic data (the r = 4 logistic map): the true model gets λ ≈ ln 2 and no chaos warning;
    /// a contracting model is flagged as collapsed and as non-chaotic.
    #[test]
    fn chaos_check_on_logistic_data() {
        use crate::metrics::test_models::Logistic;
        let mut x = 0.1234;
        let data = TimeSeries::new(
            (0..5000)
                .map(|_| {
                    let v = x;
                    x = 4.0 * x * (1.0 - x);
                    v
                })
                .collect(),
            1,
        )
        .unwrap();
        let p = EvalProtocol {
            rosenstein: Some(RosensteinOptions {
                n_reference: 300,
                theiler: 10,
                horizon: 40,
                fit: crate::metrics::FitRange::Auto,
            }),
            ..small_protocol()
        };
        let good = evaluate(&Logistic(4.0), &data, &data, &p).unwrap();
        assert!((good.lyapunov_max - 2f64.ln()).abs() < 0.05);
        assert!(good.lyapunov_data.unwrap() > 0.5);
        assert!(good.d_stsp < 0.1, "{}", good.d_stsp);
        assert!(!good.warnings.iter().any(|w| w.contains("chaotic")));
        assert!(!good.collapsed());
        let bad = evaluate(&Diagonal(vec![0.5]), &data, &data, &p).unwrap();
        assert!(bad.warnings.iter().any(|w| w.contains("chaotic")));
        assert!(bad.warnings.iter().any(|w| w.contains("collapsed")));
        assert!(bad.collapsed());
        // A period-2 cycle (r = 3.2) keeps a sizeable spread but is regular: collapsed by the
        // chaos condition alone.
        let cycle = evaluate(&Logistic(3.2), &data, &data, &p).unwrap();
        assert!(cycle
            .gen_std
            .iter()
            .zip(&cycle.data_std)
            .all(|(g, d)| *g > p.collapse_ratio * d));
        assert!(cycle.lyapunov_max < 0.0);
        assert!(cycle.collapsed());
    }

    /// A quasi-periodic model (λ ≈ 0, e.g. a torus) counts as regular for chaotic data, just as
    /// a contracting one; a chaotic model, or data that are not chaotic, do not.
    #[test]
    fn regular_for_chaotic_uses_the_chaos_threshold_for_the_model_too() {
        let p = EvalProtocol::default();
        assert_eq!(p.chaos_threshold, 0.001);
        assert!(p.regular_for_chaotic(0.01, -0.02));
        assert!(p.regular_for_chaotic(0.01, 0.0));
        assert!(p.regular_for_chaotic(0.01, 3.5e-6));
        assert!(p.regular_for_chaotic(0.01, 0.001));
        assert!(p.regular_for_chaotic(0.01, f64::NAN));
        assert!(!p.regular_for_chaotic(0.01, 0.0011));
        assert!(!p.regular_for_chaotic(0.001, -1.0));
        assert!(!p.regular_for_chaotic(f64::NAN, -1.0));
    }

    #[test]
    fn diverging_model_is_reported_not_an_error() {
        let test = circle(3000, 0.05);
        let mut p = small_protocol();
        p.burn_in = 2000;
        let report = evaluate(&Diagonal(vec![1.5, 1.5]), &test, &test, &p).unwrap();
        assert!(report.warnings.iter().any(|w| w.contains("diverged")));
        let s = serde_json::to_string(&report).unwrap();
        assert!(serde_json::from_str::<EvalReport>(&s).is_ok());
    }

    #[test]
    fn bad_inputs() {
        let test = circle(100, 0.05);
        let one = TimeSeries::new(vec![0.0; 100], 1).unwrap();
        assert!(evaluate(&Rotation(0.1), &one, &test, &small_protocol()).is_err());
        assert!(evaluate(&Rotation(0.1), &test, &one, &small_protocol()).is_err());
        let p = EvalProtocol {
            keep: 0,
            ..small_protocol()
        };
        assert!(evaluate(&Rotation(0.1), &test, &test, &p).is_err());
    }
}
