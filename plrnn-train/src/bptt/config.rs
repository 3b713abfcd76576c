//! Configuration of the BPTT trainer: a serde struct (TOML), validated once into
//! [`ValidBpttConfig`].

use serde::{Deserialize, Serialize};

use crate::train_config::{check, check_a_max, check_loop_settings, ConfigError, LoopSettings};

/// The φ variant of the model (the device crate's type; its `serde` spelling is the TOML's).
use plrnn_nostd::Variant;

/// Everything that controls a BPTT training run. Every field has a default; unknown TOML keys are
/// rejected. The defaults are the setting measured fastest and steadiest on Lorenz-63 (see
/// `BENCHMARKS-bptt.md`): the reference's table-1 model and forcing (M = 22, P = 20, clipped,
/// T = 200, sparse forcing every τ = 25 steps, no generalised forcing) but batch 4 and learning
/// rate 5e-3 (decaying exponentially to 5e-4 over the run), which gives many more, cheaper
/// updates per second than the reference's batch 16 at 1e-3 (that setting is still far from the
/// attractor after 30 s). τ = 10 reaches a lower D_stsp at 60 s but is less steady at 30 s.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BpttConfig {
    /// Latent dimension M (at least the number of observed channels N).
    pub latent_dim: usize,
    /// Number of bases P (ignored, stored as 0, for `Relu`).
    pub bases: usize,
    /// The φ variant.
    pub variant: Variant,
    /// Number of epochs. One epoch = as many random sequences as fit, non-overlapping, into
    /// the trials (Σ ⌊(len − 1) / seq_len⌋), in mini-batches.
    pub epochs: usize,
    /// Optional training-time budget in seconds (time spent in the evaluator is not counted);
    /// training stops after the update that exceeds it.
    pub time_budget_secs: Option<f64>,
    /// Length T of the training sequences (T predicted steps after the initial observation).
    pub seq_len: usize,
    /// Sequences per parameter update.
    pub batch_size: usize,
    /// Initial (RAdam) learning rate.
    pub learning_rate: f64,
    /// Learning rate at the end of the run, as a fraction of `learning_rate`; the rate decays
    /// exponentially with the run's progress (max of epoch fraction and time-budget fraction).
    pub lr_final_ratio: f64,
    /// Global gradient-norm clipping threshold (0 disables clipping).
    pub grad_clip: f64,
    /// Generalised teacher forcing: the observed latents are replaced by
    /// (1 − α) z_t + α x_t after every step (0 = off).
    pub tf_alpha: f64,
    /// Value of α at the end of the run (linear in progress); `None` keeps α fixed.
    pub tf_alpha_final: Option<f64>,
    /// Sparse teacher forcing: every `tf_interval` steps the observed latents are set to the
    /// data (0 = off).
    pub tf_interval: usize,
    /// After every update A is projected onto [−a_max, a_max] (0 = no projection). With
    /// a_max < 1 the `ClippedDendritic` model is bounded by construction, so long free runs
    /// cannot diverge even if a hidden unit's A drifted above 1 within the training horizon.
    pub a_max: f64,
    /// Seed of every random choice (initialisation, sequence positions).
    pub seed: u64,
    /// Worker threads (0 = as many as rayon would use by default). Results do not depend on it.
    pub threads: usize,
    /// Call the evaluator every this many epochs (0 = only at the end).
    pub eval_every: usize,
    /// Write a checkpoint every this many epochs when a checkpoint path is given (0 = only when
    /// stopped by the stop flag or the time budget).
    pub checkpoint_every: usize,
}

impl Default for BpttConfig {
    fn default() -> Self {
        Self {
            latent_dim: 22,
            bases: 20,
            variant: Variant::ClippedDendritic,
            epochs: 5000,
            time_budget_secs: None,
            seq_len: 200,
            batch_size: 4,
            learning_rate: 5e-3,
            lr_final_ratio: 0.1,
            grad_clip: 1.0,
            tf_alpha: 0.0,
            tf_alpha_final: None,
            tf_interval: 25,
            a_max: 0.999,
            seed: 0,
            threads: 0,
            eval_every: 5,
            checkpoint_every: 10,
        }
    }
}

/// A configuration that passed [`BpttConfig::validate`]; only this form reaches the trainer.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidBpttConfig(BpttConfig);

impl ValidBpttConfig {
    /// The validated settings.
    pub fn get(&self) -> &BpttConfig {
        &self.0
    }

    /// Number of bases actually used (0 for `Relu`).
    pub fn effective_bases(&self) -> usize {
        match self.0.variant {
            Variant::Relu => 0,
            _ => self.0.bases,
        }
    }

    /// Teacher-forcing α at run progress `frac` ∈ [0, 1].
    pub fn alpha_at(&self, frac: f64) -> f64 {
        let c = &self.0;
        match c.tf_alpha_final {
            None => c.tf_alpha,
            Some(end) => c.tf_alpha + (end - c.tf_alpha) * frac.clamp(0.0, 1.0),
        }
    }

    /// Learning rate at run progress `frac` ∈ [0, 1].
    pub fn lr_at(&self, frac: f64) -> f64 {
        self.0.learning_rate * self.0.lr_final_ratio.powf(frac.clamp(0.0, 1.0))
    }
}

impl std::ops::Deref for ValidBpttConfig {
    type Target = BpttConfig;
    fn deref(&self) -> &BpttConfig {
        &self.0
    }
}

impl BpttConfig {
    /// Parses TOML text (unknown keys are errors; missing keys take defaults).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))
    }

    /// Checks every field and returns the validated form.
    pub fn validate(&self) -> Result<ValidBpttConfig, ConfigError> {
        let c = self;
        check_loop_settings(&LoopSettings {
            latent_dim: c.latent_dim,
            bases: c.bases,
            relu: c.variant == Variant::Relu,
            seq_len: c.seq_len,
            seq_len_range: crate::ranges::BPTT_SEQ_LEN,
            threads: c.threads,
            epochs: c.epochs,
            time_budget_secs: c.time_budget_secs,
            batch_size: c.batch_size,
            learning_rate: c.learning_rate,
            lr_final_ratio: c.lr_final_ratio,
            grad_clip: c.grad_clip,
        })?;
        check(
            (0.0..=1.0).contains(&c.tf_alpha),
            "tf_alpha",
            "in [0, 1]",
            c.tf_alpha,
        )?;
        if let Some(a) = c.tf_alpha_final {
            check((0.0..=1.0).contains(&a), "tf_alpha_final", "in [0, 1]", a)?;
        }
        check_a_max(c.a_max)?;
        Ok(ValidBpttConfig(c.clone()))
    }
}
