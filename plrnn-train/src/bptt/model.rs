//! The trained parameters (f64), initialisation, and the loss of one sequence with its
//! hand-derived BPTT gradient.
//!
//! # Forward pass (one sequence x_0..x_T, N observed channels, M ≥ N latents)
//!
//! ```text
//! z̄_0      = [x_0 ; L x_0]                      (L: (M−N)×N, learned map to the hidden latents)
//! z_t      = F(z̄_{t−1}) = A∘z̄_{t−1} + W φ(z̄_{t−1}) + h          t = 1..T
//! loss    += Σ_{i<N} (z_ti − x_ti)² / (T N)                       (before forcing)
//! z̄_ti     = x_ti                        if τ > 0 and t mod τ = 0    (sparse TF, i < N)
//!          = (1 − α) z_ti + α x_ti       otherwise                  (generalised TF, i < N)
//! z̄_ti     = z_ti                                                   (hidden, i ≥ N)
//! ```
//!
//! # Backward pass
//!
//! Write ḡ_t = ∂loss/∂z̄_t (ḡ_T = 0) and g_t = ∂loss/∂z_t. From the forcing rule,
//! g_ti = (1 − κ_t) ḡ_ti + 2 (z_ti − x_ti)/(T N) for i < N, with κ_t = 1 on sparse-forcing steps
//! and α otherwise; g_ti = ḡ_ti for hidden i. (The forcing rule and its backward pass are the
//! ones VI's teacher-forcing term uses: [`crate::core::Forcing`], with the data as the target
//! and K = N.) With u = z̄_{t−1} and q = Wᵀ g_t:
//!
//! ```text
//! ∂/∂A_i      += g_ti u_i
//! ∂/∂W_ij     += g_ti φ_j(u)              (i ≠ j; the diagonal is masked)
//! ∂/∂h_i      += g_ti
//! ∂/∂α_b      += Σ_j q_j ψ_b(u_j)         ψ_b(v) = relu(v − θ_jb) [− relu(v) clipped]
//! ∂/∂θ_jb     += −q_j α_b 1[u_j > θ_jb]
//! ḡ_{t−1,j}    = A_j g_tj + q_j φ'_j(u_j),  φ'_j = Σ_b α_b (1[u_j > θ_jb] [− 1[u_j > 0]])
//! ```
//!
//! (`Relu`: φ_j = relu(u_j), φ'_j = 𝟙(u_j > 0).) Finally ∂/∂L_kc = ḡ_{0,N+k} x_0c.

use std::ops::Range;

use rand::RngExt;
use rand_distr::StandardNormal;
use rand_xoshiro::rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::core::{DynLayout, Forcing, StepScratch, StepTrace};
use plrnn_nostd::Variant;

/// Sizes of a model and its blocks in the flat parameter vector
/// `[A (M) | W (M·M) | h (M) | α (P) | θ (M·P) | L ((M−N)·N)]`: the dynamics' blocks
/// ([`DynLayout`], no inputs) followed by L.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The dynamics' blocks (K = 0).
    pub core: DynLayout,
    /// Observed size N (≤ M).
    pub n: usize,
    /// L, (M−N)×N row-major: the map from x_0 to the hidden latents of z̄_0.
    pub l: Range<usize>,
}

impl Layout {
    /// The layout of a model with `m` latents, `n` ≤ `m` observed channels and `p` bases.
    pub fn new(variant: Variant, m: usize, n: usize, p: usize) -> Self {
        let core = DynLayout::new(variant, m, p, 0);
        let l = core.rest().take((m - n) * n);
        Self { core, n, l }
    }
    /// Total parameter count.
    pub fn len(&self) -> usize {
        self.l.end
    }
    /// Whether there are no parameters (never, since M ≥ 1).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Initial parameters (documented choices, tuned on Lorenz-63):
/// A_i ~ U(0.9, 0.99) (slow, stable linear part); W_ij ~ N(0, (0.1/√M)²) with zero diagonal;
/// h = 0; α_b ~ N(0, 1)/√P and θ_jb ~ N(0, 1) (thresholds spread over the z-scored data
/// range, as the reference's random θ); L = 0 (hidden latents start at 0).
pub fn init(layout: &Layout, seed: u64) -> Vec<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0xB977_0000_0000_0001);
    let (m, p) = (layout.core.m, layout.core.p);
    let d = &layout.core;
    let mut v = vec![0.0; layout.len()];
    for i in 0..m {
        v[d.a.start + i] = rng.random_range(0.9..0.99);
    }
    let ws = 0.1 / (m as f64).sqrt();
    for i in 0..m {
        for j in 0..m {
            let g: f64 = rng.sample(StandardNormal);
            if i != j {
                v[d.w.start + i * m + j] = ws * g;
            }
        }
    }
    for b in 0..p {
        let g: f64 = rng.sample(StandardNormal);
        v[d.alpha.start + b] = g / (p as f64).sqrt();
    }
    for k in 0..m * p {
        v[d.theta.start + k] = rng.sample(StandardNormal);
    }
    v
}

/// The deterministic latent step z_next = A∘z + W φ(z) + h.
pub fn step(layout: &Layout, params: &[f64], z: &[f64], z_next: &mut [f64]) {
    let mut phi = vec![0.0; layout.core.m];
    layout.core.dynamics(params).step(z, &mut phi, z_next);
}

/// Reusable buffers for [`loss_grad`].
#[derive(Clone, Debug, Default)]
pub struct Workspace {
    zbar: Vec<f64>,
    resid: Vec<f64>,
    trace: StepTrace,
    g: Vec<f64>,
    gbar: Vec<f64>,
    step: StepScratch,
}

/// Loss (MSE of the observed latents, see the module docs) of the sequence `x` (rows x_0..x_T
/// of `n` channels, row-major, T ≥ 1) and its gradient, **added** to `grad` (length
/// `layout.len()`). The data force the first `forcing.forced` latents (at most N; the trainer
/// forces all N). Returns the loss, or a non-finite value if the forward pass diverged.
pub fn loss_grad(
    layout: &Layout,
    params: &[f64],
    x: &[f64],
    forcing: Forcing,
    ws: &mut Workspace,
    grad: &mut [f64],
) -> f64 {
    let (m, n) = (layout.core.m, layout.n);
    let forcing = Forcing {
        forced: forcing.forced.min(n),
        ..forcing
    };
    let t_len = x.len() / n - 1;
    let scale = 1.0 / (t_len * n) as f64;
    ws.zbar.clear();
    ws.zbar.resize((t_len + 1) * m, 0.0);
    ws.resid.clear();
    ws.resid.resize(t_len * n, 0.0);
    // Row t − 1: φ and φ′ at z̄_{t−1}, kept for the backward pass.
    ws.trace.reset(t_len, m);
    ws.g.resize(m, 0.0);
    ws.gbar.resize(m, 0.0);

    // z̄_0 = [x_0 ; L x_0]
    ws.zbar[..n].copy_from_slice(&x[..n]);
    for k in 0..m - n {
        let row = &params[layout.l.start + k * n..layout.l.start + (k + 1) * n];
        ws.zbar[n + k] = row.iter().zip(&x[..n]).map(|(l, v)| l * v).sum();
    }
    let mut loss = 0.0;
    let dynamics = layout.core.dynamics(params);
    ws.g.fill(0.0);
    for t in 1..=t_len {
        let (prev, cur) = ws.zbar.split_at_mut(t * m);
        let z = &mut ws.g; // scratch for z_t during the forward pass
        dynamics.step_traced(&prev[(t - 1) * m..t * m], &mut ws.trace, t - 1, z);
        let xt = &x[t * n..(t + 1) * n];
        for i in 0..n {
            let e = z[i] - xt[i];
            ws.resid[(t - 1) * n + i] = e;
            loss += e * e;
        }
        forcing.force(t, z, xt, &mut cur[..m]);
    }
    loss *= scale;
    if !loss.is_finite() {
        return loss;
    }

    // Backward.
    ws.gbar.fill(0.0);
    for t in (1..=t_len).rev() {
        forcing.backward(t, &ws.gbar, &mut ws.g, None);
        for i in 0..n {
            ws.g[i] += 2.0 * scale * ws.resid[(t - 1) * n + i];
        }
        let u = &ws.zbar[(t - 1) * m..t * m];
        let mut dgrad = layout.core.grad(grad);
        let (g, gbar) = (&ws.g, &mut ws.gbar);
        dynamics.backward_traced(u, &ws.trace, t - 1, g, &mut ws.step, &mut dgrad, gbar);
    }
    for k in 0..m - n {
        for c in 0..n {
            grad[layout.l.start + k * n + c] += ws.gbar[n + k] * x[c];
        }
    }
    loss
}
