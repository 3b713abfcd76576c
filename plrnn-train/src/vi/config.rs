//! Training configuration: a serde struct read from TOML, validated once into [`ValidConfig`].

use serde::{Deserialize, Serialize};

use crate::ranges as R;
use crate::train_config::ConfigError;
use crate::train_config::{check, check_a_max, check_loop_settings, LoopSettings};

/// The φ variant of the model (the device crate's type; its `serde` spelling is the TOML's).
use plrnn_nostd::Variant;

/// Which recognition model q(z_t | x) to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EncoderKind {
    /// The reference's encoder: learned 3-tap smoothing (w, 1−2w, w) then linear maps to μ and log σ.
    Smoothing,
    /// A one-hidden-layer tanh MLP over a window of observations, plus the linear map of the
    /// centre observation (so it starts as expressive as `Smoothing` with w = 0).
    Mlp,
}

/// Where the prior of the first latent state of each training sequence comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitialState {
    /// The reference: z_1 ~ N(z0_seq, diag σ_z0²) with one learned z0 per training sequence.
    /// Sequences are cut at fixed, non-overlapping positions so that each keeps its z0.
    PerSequence,
    /// z_1 is inferred by the encoder alone; its prior is a broad N(0, diag σ_z0²) with learned
    /// σ_z0. No per-sequence parameters.
    Encoder,
}

/// What the VI trainer minimises. The default is [`Objective::ElboTf`]: on the quality suite
/// (BENCHMARKS.md) the ELBO alone often trains a latent map that fits one step at a time but,
/// run freely, settles on a fixed point, a small cycle or a torus; the teacher-forcing term
/// trains the same model to run free like the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// The negative ELBO (the reference).
    Elbo,
    /// The negative ELBO plus the teacher-forcing term of `vi::tf` (the default): the latent
    /// model run forward from states forced toward the encoder's path, scored against the data
    /// (`tf_weight`, `tf_alpha`, `tf_interval`, `tf_window`, `tf_force`).
    ElboTf,
}

/// Which latents the teacher-forcing term (`elbo_tf`) forces toward the encoder's path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TfForce {
    /// All M latents.
    All,
    /// The first min(N, M) latents, the ones the observation model starts out reading (B
    /// starts as [I | 0] for N ≤ M): the others run free through the window, as BPTT's hidden
    /// latents do, so they can carry what the channels do not show (a phase, a slow variable).
    Observed,
}

/// Schedule of the observation weight `a` of the loss over epochs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Annealing {
    /// `a = obs_weight` throughout.
    None,
    /// `a` goes linearly from `anneal_start` to `obs_weight` over `anneal_epochs`.
    Linear,
    /// `a` goes quadratically (fast first, then slowly) from `anneal_start` to `obs_weight`.
    Quadratic,
}

/// Everything that controls a training run. Every field has a default; unknown TOML keys are
/// rejected. Validate with [`TrainConfig::validate`] before training.
///
/// Defaults follow the reference (M = 20, P = 20, sequences of 1000, batch 1, Adam 1e-3, clip 1,
/// a = 0.5, σ_z starting at 1) except where a measurement on Lorenz-63 said otherwise
/// (BENCHMARKS.md): the variant is `Dendritic` (with `ClippedDendritic` the same run stayed at
/// a fixed point for 500 epochs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Latent dimension M.
    pub latent_dim: usize,
    /// Number of bases P (ignored, stored as 0, for `Relu`).
    pub bases: usize,
    /// The φ variant.
    pub variant: Variant,
    /// The recognition model.
    pub encoder: EncoderKind,
    /// Hidden units of the `Mlp` encoder.
    pub encoder_hidden: usize,
    /// Half-width r of the `Mlp` encoder's window (it sees x_{t−r..=t+r}).
    pub encoder_window: usize,
    /// Prior of the first latent state of each sequence.
    pub initial_state: InitialState,
    /// Number of epochs (passes over all training sequences).
    pub epochs: usize,
    /// Optional wall-clock budget in seconds; training stops after the update that exceeds it.
    pub time_budget_secs: Option<f64>,
    /// Length T of the training sequences cut from the trials.
    pub seq_len: usize,
    /// Sequences per parameter update.
    pub batch_size: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Learning rate at the last epoch as a fraction of `learning_rate`; the rate decays
    /// exponentially over `epochs` (1 = constant, the reference).
    pub lr_final_ratio: f64,
    /// Global gradient-norm clipping threshold (0 disables clipping).
    pub grad_clip: f64,
    /// Seed of every random choice (initialisation, order, reparameterisation noise).
    pub seed: u64,
    /// Weight `a` of the observation log-likelihood (the latent part gets 1 − a).
    pub obs_weight: f64,
    /// Annealing schedule of `a`.
    pub annealing: Annealing,
    /// Starting value of `a` when annealing.
    pub anneal_start: f64,
    /// Epochs over which `a` is annealed.
    pub anneal_epochs: usize,
    /// Manifold-attractor regularisation strength λ (0 disables it).
    pub reg_lambda: f64,
    /// Share of the latent units (the first ⌊share·M⌋) that are regularised.
    pub reg_share: f64,
    /// Lower bound on the process-noise scale σ_z (0 = none). A floor keeps the latent path from
    /// collapsing onto the deterministic map before the map is any good.
    pub sigma_z_min: f64,
    /// Initial process-noise scale σ_z (the reference starts at 1; for `ClippedDendritic` 0.02
    /// measured far better, for `Dendritic` it made no clear difference; see BENCHMARKS.md).
    pub sigma_z_init: f64,
    /// Initial scale of the encoder's σ_t (through the bias of its log σ head).
    pub encoder_sigma_init: f64,
    /// Epochs during which σ_z is held at `sigma_z_init` (its gradient is masked). A small fixed
    /// σ_z forces a clean latent path early (q's σ_t must stay below σ_z), so the transition is
    /// fitted on states rather than on noise; see BENCHMARKS.md.
    pub freeze_sigma_z_epochs: usize,
    /// The objective.
    pub objective: Objective,
    /// Weight λ of the teacher-forcing term (`elbo_tf`; default 10): the weight of its mean
    /// squared error for up to three channels. With N > 3 channels and M latents the weight is
    /// λ (M + N)/(M + 3), as the ELBO grows with M + N (see `vi::tf`).
    pub tf_weight: f64,
    /// Generalised teacher-forcing weight α ∈ [0, 1] of the encoder's path (`elbo_tf`; default
    /// 0: only the sparse resets force). `None` (library only; a TOML file always sets a
    /// number): estimated per sequence and update from the model's Jacobians along the
    /// encoder's path, α = max(0, 1 − e^{−λ₁}) (see `vi::tf`).
    pub tf_alpha: Option<f64>,
    /// Sparse teacher forcing (`elbo_tf`): every this many steps the forward run is reset to
    /// the encoder's mean (0 = off; default 25).
    pub tf_interval: usize,
    /// Length of the window of each sequence that the teacher-forcing term (`elbo_tf`) scores,
    /// placed at random per sequence and update (0 = the whole sequence). The term is a mean
    /// over steps, so a window is an unbiased sample of it at a fraction of the cost (default
    /// 200).
    pub tf_window: usize,
    /// Which latents the teacher-forcing term (`elbo_tf`) forces: `all` or `observed` (the
    /// first min(N, M); see [`TfForce`]).
    pub tf_force: TfForce,
    /// After every update A is projected onto [−a_max, a_max] (0 = no projection); with
    /// a_max < 1 the `ClippedDendritic` model is bounded by construction.
    pub a_max: f64,
    /// Call the evaluator every this many epochs (0 = never).
    pub eval_every: usize,
    /// Write a checkpoint every this many epochs (0 = only on stop requests).
    pub checkpoint_every: usize,
    /// Worker threads (0 = as many as rayon would use by default).
    pub threads: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            latent_dim: 20,
            bases: 20,
            variant: Variant::Dendritic,
            encoder: EncoderKind::Smoothing,
            encoder_hidden: 32,
            encoder_window: 2,
            initial_state: InitialState::PerSequence,
            epochs: 1000,
            time_budget_secs: None,
            seq_len: 1000,
            batch_size: 1,
            learning_rate: 1e-3,
            lr_final_ratio: 1.0,
            grad_clip: 1.0,
            seed: 0,
            obs_weight: 0.5,
            annealing: Annealing::None,
            anneal_start: 1.0,
            anneal_epochs: 100,
            reg_lambda: 0.0,
            reg_share: 1.0,
            sigma_z_min: 0.0,
            sigma_z_init: 1.0,
            encoder_sigma_init: 0.1,
            freeze_sigma_z_epochs: 0,
            objective: Objective::ElboTf,
            tf_weight: 10.0,
            tf_alpha: Some(0.0),
            tf_interval: 25,
            tf_window: 200,
            tf_force: TfForce::All,
            a_max: 0.0,
            eval_every: 10,
            checkpoint_every: 10,
            threads: 0,
        }
    }
}

/// A configuration that passed [`TrainConfig::validate`]; only this form reaches the trainer.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidConfig(TrainConfig);

impl ValidConfig {
    /// The validated settings.
    pub fn get(&self) -> &TrainConfig {
        &self.0
    }

    /// Number of bases actually used (0 for `Relu`).
    pub fn effective_bases(&self) -> usize {
        match self.0.variant {
            Variant::Relu => 0,
            _ => self.0.bases,
        }
    }

    /// Learning rate at `epoch` (0-based) under the exponential decay, `elapsed_secs` into the
    /// run: the decay follows the larger of the epoch share and the time-budget share, so a
    /// run that trains until its budget ([`crate::fit::EPOCHS_UNTIL_BUDGET`]) still decays.
    pub fn learning_rate_at(&self, epoch: usize, elapsed_secs: f64) -> f64 {
        let c = &self.0;
        let mut frac = epoch as f64 / c.epochs.max(1) as f64;
        if let Some(b) = c.time_budget_secs {
            frac = frac.max((elapsed_secs / b).min(1.0));
        }
        c.learning_rate * c.lr_final_ratio.powf(frac)
    }

    /// Observation weight `a` at `epoch` (0-based) under the annealing schedule.
    pub fn obs_weight_at(&self, epoch: usize) -> f64 {
        let c = &self.0;
        let frac = if c.anneal_epochs == 0 {
            1.0
        } else {
            (epoch as f64 / c.anneal_epochs as f64).min(1.0)
        };
        let left = match c.annealing {
            Annealing::None => return c.obs_weight,
            Annealing::Linear => 1.0 - frac,
            Annealing::Quadratic => (1.0 - frac) * (1.0 - frac),
        };
        c.obs_weight + (c.anneal_start - c.obs_weight) * left
    }
}

impl std::ops::Deref for ValidConfig {
    type Target = TrainConfig;
    fn deref(&self) -> &TrainConfig {
        &self.0
    }
}

impl TrainConfig {
    /// Parses TOML text (unknown keys are errors; missing keys take defaults).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))
    }

    /// Checks every field and returns the validated form.
    pub fn validate(&self) -> Result<ValidConfig, ConfigError> {
        let c = self;
        check(
            c.encoder_hidden <= 4096 && (c.encoder != EncoderKind::Mlp || c.encoder_hidden >= 1),
            "encoder_hidden",
            "in 1..=4096 for the mlp encoder (<= 4096 always)",
            c.encoder_hidden,
        )?;
        check(
            c.encoder_window <= 64,
            "encoder_window",
            "<= 64",
            c.encoder_window,
        )?;
        check_loop_settings(&LoopSettings {
            latent_dim: c.latent_dim,
            bases: c.bases,
            relu: c.variant == Variant::Relu,
            seq_len: c.seq_len,
            seq_len_range: R::VI_SEQ_LEN,
            threads: c.threads,
            epochs: c.epochs,
            time_budget_secs: c.time_budget_secs,
            batch_size: c.batch_size,
            learning_rate: c.learning_rate,
            lr_final_ratio: c.lr_final_ratio,
            grad_clip: c.grad_clip,
        })?;
        check(
            (0.0..=1.0).contains(&c.obs_weight),
            "obs_weight",
            "in [0, 1]",
            c.obs_weight,
        )?;
        check(
            (0.0..=1.0).contains(&c.anneal_start),
            "anneal_start",
            "in [0, 1]",
            c.anneal_start,
        )?;
        check(
            c.reg_lambda.is_finite() && c.reg_lambda >= 0.0,
            "reg_lambda",
            ">= 0",
            c.reg_lambda,
        )?;
        check(
            (0.0..=1.0).contains(&c.reg_share),
            "reg_share",
            "in [0, 1]",
            c.reg_share,
        )?;
        check(
            c.sigma_z_min.is_finite() && c.sigma_z_min >= 0.0,
            "sigma_z_min",
            ">= 0",
            c.sigma_z_min,
        )?;
        check(
            c.sigma_z_init.is_finite() && c.sigma_z_init > c.sigma_z_min,
            "sigma_z_init",
            "finite and > sigma_z_min",
            c.sigma_z_init,
        )?;
        check(
            c.encoder_sigma_init.is_finite() && c.encoder_sigma_init > 0.0,
            "encoder_sigma_init",
            "> 0 and finite",
            c.encoder_sigma_init,
        )?;
        check(
            c.tf_weight.is_finite() && c.tf_weight >= 0.0,
            "tf_weight",
            ">= 0 and finite",
            c.tf_weight,
        )?;
        if let Some(a) = c.tf_alpha {
            check((0.0..=1.0).contains(&a), "tf_alpha", "in [0, 1]", a)?;
        }
        check_a_max(c.a_max)?;
        Ok(ValidConfig(c.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_errors_name_field_and_value() {
        assert!(TrainConfig::default().validate().is_ok());
        let c = TrainConfig {
            learning_rate: -1.0,
            ..TrainConfig::default()
        };
        let e = c.validate().unwrap_err().to_string();
        assert_eq!(e, "learning_rate must be in (0, 10], got -1");
        for (c, field) in [
            (
                TrainConfig {
                    threads: 100_000,
                    ..TrainConfig::default()
                },
                "threads",
            ),
            (
                TrainConfig {
                    latent_dim: 0,
                    ..TrainConfig::default()
                },
                "latent_dim",
            ),
            (
                TrainConfig {
                    latent_dim: 70_000,
                    ..TrainConfig::default()
                },
                "latent_dim",
            ),
            (
                TrainConfig {
                    epochs: usize::MAX,
                    ..TrainConfig::default()
                },
                "epochs",
            ),
            (
                TrainConfig {
                    time_budget_secs: Some(f64::INFINITY),
                    ..TrainConfig::default()
                },
                "time_budget_secs",
            ),
            (
                TrainConfig {
                    seq_len: 1 << 40,
                    ..TrainConfig::default()
                },
                "seq_len",
            ),
        ] {
            match c.validate() {
                Err(ConfigError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn toml_defaults_and_unknown_fields() {
        let c = TrainConfig::from_toml("latent_dim = 7\nvariant = \"dendritic\"\n").unwrap();
        assert_eq!(c.latent_dim, 7);
        assert_eq!(c.variant, Variant::Dendritic);
        assert_eq!(c.bases, 20);
        assert!(TrainConfig::from_toml("latnt_dim = 7").is_err());
    }

    /// The variant is `plrnn_nostd::Variant`; its serde spelling is the one configuration files,
    /// sweep files and checkpoints were written with, both ways.
    #[test]
    fn variant_spelling_in_toml_and_json() {
        for (v, name) in [
            (Variant::Relu, "relu"),
            (Variant::Dendritic, "dendritic"),
            (Variant::ClippedDendritic, "clipped_dendritic"),
        ] {
            let c = TrainConfig::from_toml(&format!("variant = \"{name}\"")).unwrap();
            assert_eq!(c.variant, v);
            let back = toml::to_string(&c).unwrap();
            assert!(back.contains(&format!("variant = \"{name}\"")), "{back}");
            assert_eq!(serde_json::to_string(&v).unwrap(), format!("\"{name}\""));
            assert_eq!(
                serde_json::from_str::<Variant>(&format!("\"{name}\"")).unwrap(),
                v
            );
        }
        assert!(TrainConfig::from_toml("variant = \"clipped-dendritic\"").is_err());
        assert!(TrainConfig::from_toml("variant = \"ClippedDendritic\"").is_err());
    }

    #[test]
    fn annealing_schedule_ends_at_obs_weight() {
        let c = TrainConfig {
            annealing: Annealing::Quadratic,
            anneal_epochs: 10,
            ..TrainConfig::default()
        }
        .validate()
        .unwrap();
        assert_eq!(c.obs_weight_at(0), 1.0);
        assert_eq!(c.obs_weight_at(10), 0.5);
        assert_eq!(c.obs_weight_at(50), 0.5);
        assert!(c.obs_weight_at(5) > 0.5 && c.obs_weight_at(5) < 1.0);
    }
}
