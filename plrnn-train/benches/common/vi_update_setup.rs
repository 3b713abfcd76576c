//! The update measured by the `vi_update` bench and by the `vi_update_count` example (one file,
//! included by both with `#[path]`, so the callgrind counts and the criterion times measure the
//! same work): M = 20, P = 20, N = 3, one sequence of T = 1000, one thread.

use plrnn_nostd::Variant;
use plrnn_train::optim::{clip_grad_norm, Adam};
use plrnn_train::vi::config::{EncoderKind, InitialState, TrainConfig};
use plrnn_train::vi::elbo::{loss_grad, LossSettings, SeqRef, Workspace};
use plrnn_train::vi::normal::NormalSampler;
use plrnn_train::vi::params::{init, Layout};
use plrnn_train::vi::tf::{auto_alpha, loss_grad as tf_loss_grad, TfSettings, TfWorkspace};

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
    /// The `elbo_tf` objective's term (weight, sparse interval; α estimated every update).
    tf: Option<(TfSettings, TfWorkspace)>,
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
        }
    }

    /// [`Setup::new`] with the `elbo_tf` objective at its defaults (λ = 1, α estimated from
    /// the Jacobians every update, no sparse forcing).
    #[allow(dead_code)] // used by the bench, not the example
    pub fn with_teacher_forcing(variant: Variant, encoder: EncoderKind) -> Self {
        let set = TfSettings {
            weight: 1.0,
            alpha: 0.0,
            interval: 0,
        };
        Self {
            tf: Some((set, TfWorkspace::default())),
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
        if let Some((set, ws)) = &mut self.tf {
            set.alpha = auto_alpha(&self.layout, &self.params, seq, ws);
            tf_loss_grad(&self.layout, &self.params, seq, *set, ws, &mut self.grad);
        }
        clip_grad_norm(&mut self.grad, 1.0);
        self.adam.step(&mut self.params, &self.grad);
        loss
    }
}
