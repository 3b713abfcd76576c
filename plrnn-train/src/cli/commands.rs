//! One function per subcommand.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use plrnn_nostd::Noise;

use super::{input_err, ranges};
use crate::data::{self, Dataset};
use crate::embed::{DelayEmbedding, EmbedRecord};
use crate::metrics::{self, BinRange, EvalProtocol};
use crate::model::{DesktopModel, EvaluateError, FreeRun, GenerateError};
use crate::ranges as R;
use crate::series::TimeSeries;
use crate::simulate::{self, SimOptions, System};

pub use super::train_cmd::{demo, train, DemoArgs, TrainArgs};

/// `--clamp`: a finite bound in (0, 1e30].
pub(super) fn clamp_parser() -> impl clap::builder::TypedValueParser<Value = f32> {
    use clap::builder::TypedValueParser;
    ranges::real(R::CLAMP).map(|v| v as f32)
}

/// Options of `plrnn simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The system: lorenz63, lorenz96, rossler, hindmarsh_rose, fitzhugh_nagumo, morris_lecar,
    /// wilson_cowan, chua, aizawa, duffing (Ueda) or sprott_b (standard parameters; see the
    /// crate docs of `plrnn_train::simulate::System`).
    pub system: String,
    /// Number of samples written, 1..=10^8.
    #[arg(long, default_value_t = 10_000, allow_negative_numbers = true, value_parser = ranges::int(R::STEPS))]
    pub steps: usize,
    /// Time between samples, in (0, 1000] (default: the system's own, e.g. 0.01 for lorenz63,
    /// 0.1 for hindmarsh_rose).
    #[arg(long, allow_negative_numbers = true, value_parser = ranges::real(R::SIM_DT))]
    pub dt: Option<f64>,
    /// Output file (.csv, .tsv, .txt or .npy).
    #[arg(long)]
    pub out: PathBuf,
    /// Seed of the initial state and of the noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Lorenz-96: number of variables, 4..=1000.
    #[arg(long, default_value_t = 10, allow_negative_numbers = true, value_parser = ranges::int(R::L96_DIM))]
    pub dim: usize,
    /// Lorenz-96: forcing F, in [-1000, 1000].
    #[arg(long, default_value_t = 8.0, allow_negative_numbers = true, value_parser = ranges::real(R::L96_FORCING))]
    pub forcing: f64,
    /// Samples simulated and dropped first, 0..=10^8 (default: the system's transient time,
    /// e.g. 1000 samples for lorenz63).
    #[arg(long, allow_negative_numbers = true, value_parser = ranges::int(R::SKIP))]
    pub transient: Option<usize>,
    /// RK4 sub-steps per sample, 1..=10^6 (default: the system's inner step, e.g. ≤ 0.001 for
    /// lorenz63).
    #[arg(long, allow_negative_numbers = true, value_parser = ranges::int(R::SUBSTEPS))]
    pub substeps: Option<usize>,
    /// Diffusion σ of additive process noise, in [0, 1000].
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true, value_parser = ranges::real(R::NOISE_STD))]
    pub process_noise: f64,
    /// Standard deviation of observation noise, in [0, 1000].
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true, value_parser = ranges::real(R::NOISE_STD))]
    pub obs_noise: f64,
}

/// `plrnn simulate`.
pub fn simulate(a: SimulateArgs) -> Result<()> {
    let mut system: System = a.system.parse().map_err(input_err)?;
    if let System::Lorenz96 { dim, forcing } = &mut system {
        *dim = a.dim;
        *forcing = a.forcing;
    }
    let opts = SimOptions {
        steps: a.steps,
        substeps: a.substeps,
        process_noise: a.process_noise,
        obs_noise: a.obs_noise,
        seed: a.seed,
        ..SimOptions::for_system_at(&system, a.dt, a.transient)
    };
    let t0 = Instant::now();
    let series = simulate::simulate(&system, &opts).map_err(input_err)?;
    data::write_series(&a.out, &series).map_err(input_err)?;
    eprintln!(
        "simulated {} × {} of {} in {:.2} s -> {}",
        series.len(),
        series.dims(),
        system.name(),
        t0.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(())
}

/// Noise modes on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum NoiseArg {
    /// Deterministic.
    None,
    /// Process noise ε_t only.
    Process,
    /// Process and observation noise.
    Full,
}

impl From<NoiseArg> for Noise {
    fn from(n: NoiseArg) -> Self {
        match n {
            NoiseArg::None => Noise::None,
            NoiseArg::Process => Noise::Process,
            NoiseArg::Full => Noise::Full,
        }
    }
}

/// Options of `plrnn generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Model file.
    #[arg(long)]
    pub model: PathBuf,
    /// Number of steps written, 1..=10^8.
    #[arg(long, allow_negative_numbers = true, value_parser = ranges::int(R::STEPS))]
    pub steps: usize,
    /// Noise seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Noise mode (`--noise` alone means full).
    #[arg(long, value_enum, default_value = "none", num_args = 0..=1, default_missing_value = "full")]
    pub noise: NoiseArg,
    /// External inputs s_t, one row per step, K columns (.csv/.npy).
    #[arg(long)]
    pub inputs: Option<PathBuf>,
    /// Initial state: `zero`, or a file whose first row is a latent state (M columns), or a
    /// recording in data units (N columns) whose inferred final state is continued.
    #[arg(long, default_value = "zero")]
    pub init: String,
    /// Steps run and discarded before the first written one, 0..=10^8.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true, value_parser = ranges::int(R::SKIP))]
    pub burn_in: usize,
    /// Write model units instead of mapping back to data units.
    #[arg(long)]
    pub model_units: bool,
    /// Limit every latent state to [−L, L] after each step (keeps a Relu or Dendritic model
    /// finite on long free runs; clipped models with |A| < 1 are bounded without it).
    /// In (0, 1e30].
    #[arg(long, allow_negative_numbers = true, value_parser = clamp_parser())]
    pub clamp: Option<f32>,
    /// Output file (.csv, .tsv, .txt or .npy).
    #[arg(long)]
    pub out: PathBuf,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}

pub(super) fn load_model(path: &Path) -> Result<DesktopModel> {
    DesktopModel::load(path).map_err(input_err)
}

pub(super) fn read_series(path: &Path) -> Result<TimeSeries> {
    let ds = Dataset::load(&[path]).map_err(input_err)?;
    let mut trials = ds.into_trials();
    if trials.len() != 1 {
        return Err(input_err(anyhow::anyhow!(
            "{}: expected one series, found {} trials",
            path.display(),
            trials.len()
        )));
    }
    Ok(trials.remove(0))
}

/// The delay embedding recorded beside a model file, if any (see [`crate::embed`]).
fn load_embedding(path: &Path, model: &DesktopModel) -> Result<Option<DelayEmbedding>> {
    Ok(EmbedRecord::load_beside(path, model.n())
        .map_err(input_err)?
        .map(|r| r.embedding))
}

/// A recording in the model's observation space: delay-embedded when the model was trained so.
fn observed(
    series: TimeSeries,
    embedding: Option<&DelayEmbedding>,
    what: &Path,
) -> Result<TimeSeries> {
    match embedding {
        Some(e) => e
            .observe(series)
            .with_context(|| format!("{}: delay embedding", what.display()))
            .map_err(input_err),
        None => Ok(series),
    }
}

fn initial_state(
    model: &DesktopModel,
    embedding: Option<&DelayEmbedding>,
    init: &str,
) -> Result<Vec<f32>> {
    let m = model.m();
    if init == "zero" {
        return Ok(vec![0.0; m]);
    }
    let path = Path::new(init);
    let series = observed(read_series(path)?, embedding, path)?;
    if series.dims() == m {
        return Ok(series.row(0).iter().map(|&v| v as f32).collect());
    }
    if series.dims() == model.n() {
        let mut x = series;
        model.to_model_units(&mut x);
        let z = model.infer_states(&x);
        return Ok(z.row(z.len() - 1).iter().map(|&v| v as f32).collect());
    }
    Err(input_err(anyhow::anyhow!(
        "{}: initial state needs {m} columns (latent) or {} (observations), found {}",
        path.display(),
        model.n(),
        series.dims()
    )))
}

fn progress(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(what.to_owned());
    pb
}

/// `plrnn generate`.
pub fn generate(a: GenerateArgs) -> Result<()> {
    let model = load_model(&a.model)?;
    let embedding = load_embedding(&a.model, &model)?;
    let inputs = match &a.inputs {
        Some(p) => Some(read_series(p)?),
        None => None,
    };
    let z0 = initial_state(&model, embedding.as_ref(), &a.init)?;
    let run = FreeRun {
        steps: a.steps,
        burn_in: a.burn_in,
        seed: a.seed,
        noise: a.noise.into(),
        clamp: a.clamp,
    };
    let total = a.burn_in + a.steps;
    let pb = progress(total as u64, "generating");
    let t0 = Instant::now();
    let mut out = model
        .generate(&z0, &run, inputs.as_ref(), &mut |t| {
            pb.set_position(t as u64)
        })
        .map_err(|e| match (&e, &a.inputs) {
            (GenerateError::InputWidth { .. } | GenerateError::InputRows { .. }, Some(p)) => {
                input_err(anyhow::anyhow!("{}: {e}", p.display()))
            }
            _ => anyhow::Error::new(e),
        })?;
    pb.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();
    if !a.model_units {
        model.to_data_units(&mut out);
    }
    if let Some(e) = &embedding {
        // The recording's own channels: the first columns of each delay vector.
        out = e.project(&out)?;
    }
    data::write_series(&a.out, &out).map_err(input_err)?;
    let rate = total as f64 / secs.max(1e-12);
    eprintln!(
        "generated {} steps ({} burn-in) in {:.3} s ({:.3e} steps/s) -> {}",
        a.steps,
        a.burn_in,
        secs,
        rate,
        a.out.display()
    );
    if a.json {
        let j = serde_json::json!({
            "steps": a.steps, "burn_in": a.burn_in, "seconds": secs, "steps_per_second": rate,
            "out": a.out.display().to_string(),
        });
        println!("{j}");
    }
    Ok(())
}

/// D_stsp bin range on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RangeArg {
    /// [−2s, +2s] (ICML 2022).
    Legacy,
    /// [min − 0.1s, max + 0.1s].
    Default,
}

/// Options of `plrnn evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Model file.
    #[arg(long)]
    pub model: PathBuf,
    /// Test data in data units (.csv/.npy), N columns.
    #[arg(long)]
    pub test: PathBuf,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Trajectories generated, from data-derived initial states spread over the test data,
    /// 1..=10000.
    #[arg(long, default_value_t = 100, allow_negative_numbers = true, value_parser = ranges::int(R::EVAL_TRAJECTORIES))]
    pub trajectories: usize,
    /// Steps discarded at the start of each trajectory, 0..=10^6.
    #[arg(long, default_value_t = 1000, allow_negative_numbers = true, value_parser = ranges::int(R::EVAL_BURN_IN))]
    pub burn_in: usize,
    /// Steps kept of each trajectory, 2..=10^6.
    #[arg(long, default_value_t = 1000, allow_negative_numbers = true, value_parser = ranges::int(R::EVAL_KEEP))]
    pub keep: usize,
    /// Seed of the protocol's random choices (GMM samples).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Bins per dimension of binned D_stsp, 2..=1000.
    #[arg(long, default_value_t = 30, allow_negative_numbers = true, value_parser = ranges::int(R::BINS))]
    pub bins: usize,
    /// Range of the D_stsp bins.
    #[arg(long, value_enum, default_value = "legacy")]
    pub range: RangeArg,
    /// Gaussian smoothing σ of the power spectra (D_H, PSC), in (0, 10000].
    #[arg(long, default_value_t = 20.0, allow_negative_numbers = true, value_parser = ranges::real(R::SIGMA))]
    pub sigma: f64,
    /// Horizons n of PE(n), comma-separated, each 1..=100000.
    #[arg(long, value_delimiter = ',', default_value = "1,5,10,20", allow_negative_numbers = true, value_parser = ranges::int(R::PE_HORIZON))]
    pub pe: Vec<usize>,
    /// Skip the data-based Lyapunov estimate (the slowest part on long data).
    #[arg(long)]
    pub no_data_lyapunov: bool,
}

/// Builds the protocol of `evaluate` from its options.
pub fn protocol_from(a: &EvaluateArgs) -> EvalProtocol {
    let mut p = EvalProtocol {
        n_trajectories: a.trajectories,
        burn_in: a.burn_in,
        keep: a.keep,
        seed: a.seed,
        bins: a.bins,
        bin_range: match a.range {
            RangeArg::Legacy => BinRange::Legacy,
            RangeArg::Default => BinRange::Default,
        },
        sigma: a.sigma,
        psc_sigma: a.sigma,
        pe_ns: a.pe.clone(),
        ..EvalProtocol::default()
    };
    if a.no_data_lyapunov {
        p.rosenstein = None;
    }
    p
}

/// Runs the evaluation protocol of a model on test data given in data units
/// ([`DesktopModel::evaluate`]); a test width that does not match the model is an input error.
pub fn evaluate_model(
    model: &DesktopModel,
    test_data_units: &TimeSeries,
    protocol: &EvalProtocol,
) -> Result<metrics::EvalReport> {
    model
        .evaluate(test_data_units, protocol)
        .map_err(|e| match e {
            EvaluateError::Width { .. } => input_err(e),
            EvaluateError::Metrics(e) => e.into(),
        })
}

/// Prints an evaluation report as a table on stderr.
pub fn print_report(r: &metrics::EvalReport) {
    eprintln!("  D_stsp ({:?})   {:.4}", r.d_stsp_method, r.d_stsp);
    eprintln!("  D_H (σ={})      {:.4}", r.protocol.sigma, r.d_h);
    eprintln!("  PSC             {:.4}", r.psc);
    let mut pe: Vec<(usize, f64)> =
        r.pe.iter()
            .filter_map(|(n, v)| n.parse().ok().map(|n| (n, *v)))
            .collect();
    pe.sort_by_key(|&(n, _)| n);
    for (n, v) in pe {
        eprintln!("  PE({n:>3})         {v:.4e}");
    }
    eprintln!("  gen std         {:?}", rounded(&r.gen_std));
    eprintln!("  data std        {:?}", rounded(&r.data_std));
    eprintln!("  λ_max model     {:.4} per step", r.lyapunov_max);
    if let Some(l) = r.lyapunov_data {
        eprintln!("  λ_max data      {l:.4} per step");
    }
    for w in &r.warnings {
        eprintln!("  warning: {w}");
    }
}

fn rounded(v: &[f64]) -> Vec<f64> {
    v.iter().map(|x| (x * 1e4).round() / 1e4).collect()
}

/// `plrnn evaluate`.
pub fn evaluate(a: EvaluateArgs) -> Result<()> {
    let model = load_model(&a.model)?;
    let embedding = load_embedding(&a.model, &model)?;
    let test = observed(read_series(&a.test)?, embedding.as_ref(), &a.test)?;
    if let Some(e) = &embedding {
        eprintln!(
            "delay-embedded model ({} copies {} steps apart): the test data are embedded the same \
             way and compared in that space",
            e.dim, e.lag
        );
    }
    let protocol = protocol_from(&a);
    let pb = ProgressBar::new_spinner();
    pb.set_message("evaluating");
    pb.enable_steady_tick(std::time::Duration::from_millis(200));
    let t0 = Instant::now();
    let report = evaluate_model(&model, &test, &protocol)
        .with_context(|| format!("evaluating {} on {}", a.model.display(), a.test.display()))?;
    pb.finish_and_clear();
    eprintln!(
        "{} on {} ({} steps, {:.2} s):",
        a.model.display(),
        a.test.display(),
        test.len(),
        t0.elapsed().as_secs_f64()
    );
    print_report(&report);
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}

/// Options of `plrnn inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Model file.
    pub model: PathBuf,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `plrnn inspect`.
pub fn inspect(a: InspectArgs) -> Result<()> {
    let model = load_model(&a.model)?;
    let s = model.summary();
    if a.json {
        println!("{}", serde_json::to_string(&s)?);
        return Ok(());
    }
    eprintln!("{}", a.model.display());
    eprintln!("  format version    {}", s.format_version);
    eprintln!("  variant           {}", s.variant);
    eprintln!(
        "  sizes             M={} N={} P={} K={}",
        s.m, s.n, s.p, s.k
    );
    eprintln!(
        "  parameters        {} ({} bytes on file)",
        s.param_count, s.file_bytes
    );
    eprintln!("  MACs per step     {}", s.macs_per_step);
    if s.normalized {
        eprintln!("  data mean         {:?}", rounded(&s.data_mean));
        eprintln!("  data std          {:?}", rounded(&s.data_std));
    } else {
        eprintln!("  data statistics   none (model units)");
    }
    eprintln!("  max |A_ii|        {:.4}", s.max_abs_a);
    eprintln!("  ρ(diag(A) + W)    {:.4}", s.spectral_radius_a_plus_w);
    eprintln!(
        "  mean σ_z, σ_x     {:.4}, {:.4}",
        s.sigma_z_mean, s.sigma_x_mean
    );
    if let Some(e) = load_embedding(&a.model, &model)? {
        eprintln!(
            "  delay embedding   {} channel(s) × {} copies, lag {} (from {})",
            e.channels,
            e.dim,
            e.lag,
            crate::embed::sidecar_path(&a.model).display()
        );
    }
    if s.variant == "clipped-dendritic" && s.max_abs_a < 1.0 {
        eprintln!("  bounded           yes (clipped basis and max |A_ii| < 1)");
    }
    Ok(())
}

/// Options of `plrnn plot`.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// Generated trajectory (.csv/.npy).
    #[arg(long)]
    pub generated: PathBuf,
    /// True trajectory to compare with.
    #[arg(long = "true")]
    pub true_: Option<PathBuf>,
    /// Output PNG.
    #[arg(long)]
    pub out: PathBuf,
    /// Title line.
    #[arg(long)]
    pub title: Option<String>,
    /// Steps drawn in the time-series panels, 2..=10^7 (default 1000, from --window's start or
    /// the first step).
    #[arg(long, allow_negative_numbers = true, value_parser = ranges::int(R::PLOT_STEPS), conflicts_with = "window")]
    pub steps: Option<usize>,
    /// The steps drawn, START:END (time series, projections and delay plot).
    #[arg(long)]
    pub window: Option<ranges::Window>,
    /// Sampling step in seconds, in (0, 10^6]: time axes in seconds instead of steps.
    #[arg(long, allow_negative_numbers = true, value_parser = ranges::real(R::PLOT_DT))]
    pub dt: Option<f64>,
    /// Lag τ of the delay plot x_t vs x_{t+τ} drawn for 1-D data, in steps, 1..=10^6
    /// (default: the first minimum of the auto-mutual information).
    #[arg(long, allow_negative_numbers = true, value_parser = ranges::int(R::PLOT_LAG))]
    pub lag: Option<usize>,
}

/// `plrnn plot`.
pub fn plot(a: PlotArgs) -> Result<()> {
    let gen = read_series(&a.generated)?;
    let truth = a.true_.as_deref().map(read_series).transpose()?;
    let len = gen.len().max(truth.as_ref().map_or(0, TimeSeries::len));
    let defaults = crate::plot::PlotOptions::default();
    let (start, steps) = match (a.window, a.steps) {
        (Some(w), _) => {
            if w.start >= len {
                return Err(input_err(anyhow::anyhow!(
                    "--window {}:{}: the data have {len} steps",
                    w.start,
                    w.end
                )));
            }
            if w.end > len {
                eprintln!(
                    "--window {}:{}: the data end at step {len}; drawing {}:{len}",
                    w.start, w.end, w.start
                );
            }
            (w.start, w.end.min(len) - w.start)
        }
        (None, Some(n)) => (0, n),
        (None, None) => (0, defaults.time_steps),
    };
    let opts = crate::plot::PlotOptions {
        title: a.title.clone(),
        start,
        time_steps: steps,
        projection_steps: if a.window.is_some() {
            steps
        } else {
            defaults.projection_steps.max(steps)
        },
        dt: a.dt,
        delay: a.lag,
        ..defaults
    };
    crate::plot::plot_trajectories(&a.out, truth.as_ref(), &gen, &opts).map_err(input_err)?;
    eprintln!("wrote {}", a.out.display());
    Ok(())
}
