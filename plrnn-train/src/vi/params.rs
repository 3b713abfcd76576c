//! All trainable parameters live in one flat `Vec<f64>`; a [`Layout`] names the block of each.
//! One flat vector makes Adam, clipping, gradient sums and checkpoints a few lines each. The
//! dynamics' blocks come first, laid out by [`DynLayout`]; the observation model, noise
//! scales, initial states and encoder follow.

use std::ops::Range;

use rand::RngExt;
use rand_distr::StandardNormal;
use rand_xoshiro::rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::config::{EncoderKind, InitialState, ValidConfig};
use crate::core::DynLayout;

/// Positions of every parameter block inside the flat parameter vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// The dynamics' blocks A, W, h, α, θ, C (first in the vector) with φ's variant and M, P, K.
    pub core: DynLayout,
    /// Encoder kind.
    pub encoder: EncoderKind,
    /// Observation dimension N.
    pub n: usize,
    /// Hidden units H of the MLP encoder (0 for `Smoothing`).
    pub hidden: usize,
    /// Window half-width r of the MLP encoder.
    pub window: usize,
    /// Number of learned initial states (training sequences; 0 for `InitialState::Encoder`).
    pub n_z0: usize,
    /// B, N×M row-major.
    pub b: Range<usize>,
    /// log σ_z (M).
    pub log_sigma_z: Range<usize>,
    /// log σ_x (N).
    pub log_sigma_x: Range<usize>,
    /// log σ_z0 (M).
    pub log_sigma_z0: Range<usize>,
    /// Initial states z0, one M-row per training sequence.
    pub z0: Range<usize>,
    /// Smoothing weight w (1 for `Smoothing`, else 0 values).
    pub enc_smooth: Range<usize>,
    /// Linear map to the mean, M×N.
    pub enc_wm: Range<usize>,
    /// Linear map to log σ, M×N.
    pub enc_ws: Range<usize>,
    /// Bias of log σ (M).
    pub enc_bs: Range<usize>,
    /// MLP first layer, H×D with D = (2r+1)·N.
    pub enc_w1: Range<usize>,
    /// MLP first bias (H).
    pub enc_b1: Range<usize>,
    /// MLP hidden → mean, M×H.
    pub enc_w2m: Range<usize>,
    /// MLP hidden → log σ, M×H.
    pub enc_w2s: Range<usize>,
    /// Total number of parameters.
    pub len: usize,
}

impl Layout {
    /// Lays out the parameters of a model with `n` observed channels, `k` inputs and `n_seq`
    /// training sequences.
    pub fn new(cfg: &ValidConfig, n: usize, k: usize, n_seq: usize) -> Self {
        let m = cfg.latent_dim;
        let p = cfg.effective_bases();
        let (hidden, window) = match cfg.encoder {
            EncoderKind::Smoothing => (0, 0),
            EncoderKind::Mlp => (cfg.encoder_hidden, cfg.encoder_window),
        };
        let n_z0 = match cfg.initial_state {
            InitialState::PerSequence => n_seq,
            InitialState::Encoder => 0,
        };
        let d = (2 * window + 1) * n;
        let core = DynLayout::new(cfg.variant, m, p, k);
        let mut at = core.rest();
        let mut take = |len: usize| at.take(len);
        // After the dynamics: the storage order of checkpoints, do not reorder.
        let b = take(n * m);
        let log_sigma_z = take(m);
        let log_sigma_x = take(n);
        let log_sigma_z0 = take(m);
        let z0 = take(n_z0 * m);
        let enc_smooth = take(usize::from(cfg.encoder == EncoderKind::Smoothing));
        let enc_wm = take(m * n);
        let enc_ws = take(m * n);
        let enc_bs = take(m);
        let enc_w1 = take(hidden * d);
        let enc_b1 = take(hidden);
        let enc_w2m = take(m * hidden);
        let enc_w2s = take(m * hidden);
        let len = at.end();
        Self {
            core,
            encoder: cfg.encoder,
            n,
            hidden,
            window,
            n_z0,
            b,
            log_sigma_z,
            log_sigma_x,
            log_sigma_z0,
            z0,
            enc_smooth,
            enc_wm,
            enc_ws,
            enc_bs,
            enc_w1,
            enc_b1,
            enc_w2m,
            enc_w2s,
            len,
        }
    }

    /// Every block with its name, in storage order (used by the gradient check and reports).
    pub fn blocks(&self) -> Vec<(&'static str, Range<usize>)> {
        let mut all = self.core.blocks().to_vec();
        all.extend([
            ("b", self.b.clone()),
            ("log_sigma_z", self.log_sigma_z.clone()),
            ("log_sigma_x", self.log_sigma_x.clone()),
            ("log_sigma_z0", self.log_sigma_z0.clone()),
            ("z0", self.z0.clone()),
            ("enc_smooth", self.enc_smooth.clone()),
            ("enc_wm", self.enc_wm.clone()),
            ("enc_ws", self.enc_ws.clone()),
            ("enc_bs", self.enc_bs.clone()),
            ("enc_w1", self.enc_w1.clone()),
            ("enc_b1", self.enc_b1.clone()),
            ("enc_w2m", self.enc_w2m.clone()),
            ("enc_w2s", self.enc_w2s.clone()),
        ]);
        all
    }

    /// Input width of the MLP encoder, (2r+1)·N.
    pub fn enc_input(&self) -> usize {
        (2 * self.window + 1) * self.n
    }
}

/// Largest eigenvalue of a symmetric positive semi-definite matrix by power iteration.
fn top_eigenvalue(s: &[f64], m: usize) -> f64 {
    let mut v = vec![1.0 / (m as f64).sqrt(); m];
    let mut lambda = 0.0;
    for _ in 0..200 {
        let mut u = vec![0.0; m];
        for i in 0..m {
            for j in 0..m {
                u[i] += s[i * m + j] * v[j];
            }
        }
        let norm = u.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 {
            return 0.0;
        }
        lambda = norm;
        v = u.into_iter().map(|x| x / norm).collect();
    }
    lambda
}

/// Initial parameters.
///
/// Dynamics as the reference: one symmetric matrix S = I + R Rᵀ / M (R standard normal) scaled
/// so its largest eigenvalue is 0.95, A = diag(S), W = off-diagonal part of S (a stable,
/// slowly decaying start). h ~ N(0, 0.1²) (the reference draws N(0, 1); on z-scored data that
/// pushes the initial fixed point far from the data). α, θ ~ 2·N(0,1) − 1 as the reference —
/// but α scaled by 1/P so that φ starts at the scale of one ReLU. Noise scales σ_z = σ_x = σ_z0 = 1
/// as the reference (σ_z configurable: `sigma_z_init`).
///
/// Better than the reference for the observation/encoder pair: B = [I_N | 0] (the first N latents
/// start as the observations) and the encoder's mean map is Bᵀ, so q starts at a sensible latent
/// path instead of noise; encoder log σ starts at log 0.1 (the bias) with zero weights. With more
/// channels than latents (N > M) and the data's principal components given ([`ObsStart`]), latent
/// j starts as the j-th principal component in units of its standard deviation instead: B's
/// column j is √λ_j u_j and the encoder's mean map row j is u_jᵀ / √λ_j, so the M latents
/// start on the data's M strongest directions rather than on the first M channels.
pub fn init(layout: &Layout, seed: u64) -> Vec<f64> {
    init_with(layout, seed, 1.0, 0.0, 0.1, None)
}

/// The data's principal components (see [`crate::linalg::principal_components`]), from which
/// [`init_with`] starts the observation model when N > M.
#[derive(Clone, Copy, Debug)]
pub struct ObsStart<'a> {
    /// Variances λ_j, descending (at least M of them).
    pub variances: &'a [f64],
    /// The unit axes u_j (length N each), in the order of `variances`.
    pub axes: &'a [Vec<f64>],
}

/// [`init`] with the initial process-noise scale `sigma_z` (σ_z = sigma_z_min + e^ℓ), the
/// initial encoder scale `enc_sigma` and, for N > M, the principal components to start the
/// observation model from.
pub fn init_with(
    layout: &Layout,
    seed: u64,
    sigma_z: f64,
    sigma_z_min: f64,
    enc_sigma: f64,
    obs_start: Option<ObsStart<'_>>,
) -> Vec<f64> {
    let l = layout;
    let (m, n, p) = (l.core.m, l.n, l.core.p);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x1D1E_0000_0000_0001);
    let mut normal = move || -> f64 { rng.sample(StandardNormal) };
    let mut v = vec![0.0; l.len];

    let mut r = vec![0.0; m * m];
    r.iter_mut().for_each(|x| *x = normal());
    let mut s = vec![0.0; m * m];
    for i in 0..m {
        for j in 0..m {
            let mut acc = 0.0;
            for q in 0..m {
                acc += r[i * m + q] * r[j * m + q];
            }
            s[i * m + j] = acc / m as f64 + if i == j { 1.0 } else { 0.0 };
        }
    }
    let scale = 0.95 / top_eigenvalue(&s, m);
    for i in 0..m {
        for j in 0..m {
            let x = s[i * m + j] * scale;
            if i == j {
                v[l.core.a.start + i] = x;
            } else {
                v[l.core.w.start + i * m + j] = x;
            }
        }
    }
    for x in &mut v[l.core.h.clone()] {
        *x = 0.1 * normal();
    }
    for x in &mut v[l.core.alpha.clone()] {
        *x = (2.0 * normal() - 1.0) / p.max(1) as f64;
    }
    for x in &mut v[l.core.theta.clone()] {
        *x = 2.0 * normal() - 1.0;
    }
    for x in &mut v[l.core.c.clone()] {
        *x = 0.1 * normal();
    }
    match obs_start {
        Some(pc) if n > m && pc.variances.len() >= m && pc.axes.len() >= m => {
            for (j, (var, u)) in pc.variances.iter().zip(pc.axes).take(m).enumerate() {
                // A direction without variance keeps a unit scale (its latent starts unused).
                let sd = if *var > 1e-12 { var.sqrt() } else { 1.0 };
                for (i, ui) in u.iter().enumerate().take(n) {
                    v[l.b.start + i * m + j] = ui * sd;
                    v[l.enc_wm.start + j * n + i] = ui / sd;
                }
            }
        }
        _ => {
            for j in 0..n.min(m) {
                v[l.b.start + j * m + j] = 1.0;
                v[l.enc_wm.start + j * n + j] = 1.0;
            }
        }
    }
    // log σ = 0 (σ = 1) for σ_x, σ_z0: already zero.
    for x in &mut v[l.log_sigma_z.clone()] {
        *x = (sigma_z - sigma_z_min).ln();
    }
    for x in &mut v[l.enc_bs.clone()] {
        *x = enc_sigma.ln();
    }
    let d = l.enc_input();
    for x in &mut v[l.enc_w1.clone()] {
        *x = normal() / (d as f64).sqrt();
    }
    for x in &mut v[l.enc_w2m.clone()] {
        *x = 0.01 * normal();
    }
    for x in &mut v[l.enc_w2s.clone()] {
        *x = 0.01 * normal();
    }
    // z0 starts at 0; the encoder quickly pulls z_1 to the data.
    v
}
