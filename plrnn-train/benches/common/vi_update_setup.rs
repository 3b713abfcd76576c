//! The update measured by the `vi_update` bench and by the `vi_update_count` example (one file,
//! included by both with `#[path]`, so the callgrind counts and the criterion times measure the
//! same work): M = 20, P = 20, N = 3, one sequence of T = 1000, one thread.

use plrnn_nostd::Variant;
use plrnn_train::optim::{clip_grad_norm, Adam};
use plrnn_train::vi::config::{EncoderKind, InitialState, Objective, TrainConfig, ValidConfig};
use plrnn_train::vi::elbo::{loss_grad, LossSettings, SeqRef, Workspace};
use plrnn_train::vi::normal::NormalSampler;
use plrnn_train::vi::params::{init, Layout};
use plrnn_train::vi::tf::{add_term, TfWorkspace};

/// The measured configurations: (name, variant, encoder).
pub const CASES: [(&str, Variant, EncoderKind); 4] = [
    (
        "clipped_smoothing",
        Variant::ClippedDendritic,
        EncoderKind::Smoothing,
    ),
    (
        "dendritic_smoothing",
        Variant::Dendritic,
        EncoderKind::Smoothing,
    ),
    ("relu_smoothing", Variant::Relu, EncoderKind::Smoothing),
    ("clipped_mlp", Variant::ClippedDendritic, EncoderKind::Mlp),
];

/// Everything one update reads and writes.
pub struct Setup {
    layout: Layout,
    params: Vec<f64>,
    x: Vec<f64>,
    adam: Adam,
    ws: Workspace,
    grad: Vec<f64>,
    eps: Vec<f64>,
    normals: NormalSampler,
    /// The `elbo_tf` objective's term, as the trainer adds it ([`add_term`]): its settings
    /// and buffers.
    tf: Option<(ValidConfig, TfWorkspace)>,
    /// Updates done (seeds the term's window).
    updates: u64,
}

impl Setup {
    /// Fresh state for one configuration.
    pub fn new(variant: Variant, encoder: EncoderKind) -> Self {
        let cfg = TrainConfig {
            latent_dim: 20,
            bases: 20,
            variant,
            encoder,
            ..TrainConfig::default()
        }
        .validate()
        .unwrap();
        let (n, t) = (3, 1000);
        let layout = Layout::new(&cfg, n, 0, 100);
        // A Lorenz-like smooth signal keeps the ReLU patterns realistic.
        let x: Vec<f64> = (0..t * n)
            .map(|i| ((i / n) as f64 * 0.05 * (1.0 + (i % n) as f64)).sin())
            .collect();
        Self {
            params: init(&layout, 1),
            x,
            adam: Adam::new(layout.len, 1e-3),
            ws: Workspace::default(),
            grad: vec![0.0; layout.len],
            eps: vec![0.0; t * layout.core.m],
            normals: NormalSampler::seed_from_u64(3),
            layout,
            tf: None,
            updates: 0,
        }
    }

    /// [`Setup::new`] with the `elbo_tf` term as it was before it became the default: λ = 1,
    /// α estimated from the Jacobians every update, no sparse forcing, the whole sequence.
    #[allow(dead_code)] // used by the bench, not the example
    pub fn with_teacher_forcing(variant: Variant, encoder: EncoderKind) -> Self {
        Self::with_term(variant, encoder, 1.0, None, 0, 0)
    }

    /// [`Setup::new`] with the `elbo_tf` term as the trainer runs it with `tf_alpha` set and
    /// `tf_window`: λ = 10, α = `alpha` fixed, sparse forcing every `interval` steps, scored on
    /// a window of `window` steps placed anew every update.
    #[allow(dead_code)] // used by the bench, not the example
    pub fn with_windowed_teacher_forcing(
        variant: Variant,
        encoder: EncoderKind,
        alpha: f64,
        interval: usize,
        window: usize,
    ) -> Self {
        Self::with_term(variant, encoder, 10.0, Some(alpha), interval, window)
    }

    #[allow(dead_code)] // used by the bench, not the example
    fn with_term(
        variant: Variant,
        encoder: EncoderKind,
        weight: f64,
        alpha: Option<f64>,
        interval: usize,
        window: usize,
    ) -> Self {
        let cfg = TrainConfig {
            objective: Objective::ElboTf,
            tf_weight: weight,
            tf_alpha: alpha,
            tf_interval: interval,
            tf_window: window,
            ..TrainConfig::default()
        }
        .validate()
        .expect("valid teacher-forcing settings");
        Self {
            tf: Some((cfg, TfWorkspace::default())),
            ..Self::new(variant, encoder)
        }
    }

    /// The current parameters (for checking that a faster kernel gives the same bits).
    #[allow(dead_code)] // used by the example, not the bench
    pub fn params(&self) -> &[f64] {
        &self.params
    }

    /// One update: draw ε, loss and gradient, clipping, Adam step. Returns the loss.
    pub fn update(&mut self) -> f64 {
        let set = LossSettings {
            obs_weight: 0.5,
            sigma_z_min: 0.0,
            initial_state: InitialState::PerSequence,
        };
        self.normals.fill(&mut self.eps);
        let seq = SeqRef {
            x: &self.x,
            s: &[],
            z0_index: 7,
        };
        let loss = loss_grad(
            &self.layout,
            &self.params,
            seq,
            &self.eps,
            set,
            &mut self.ws,
            &mut self.grad,
        );
        if let Some((cfg, ws)) = &mut self.tf {
            // A well-mixed seed per update, as the trainer's seed stream gives.
            let window_seed = self.updates.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            add_term(
                cfg,
                &self.layout,
                &self.params,
                seq,
                window_seed,
                ws,
                &mut self.grad,
            );
        }
        self.updates += 1;
        clip_grad_norm(&mut self.grad, 1.0);
        self.adam.step(&mut self.params, &self.grad);
        loss
    }
}
