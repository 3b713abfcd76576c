//! The teacher-forcing term of the `elbo_tf` objective: the latent model run forward from
//! states forced toward the encoder's inferred path, its observations scored against the data.
//! Added to the negative ELBO (see [`super::elbo`]), it trains the same full model (encoder,
//! σ_z, σ_x, C s_t, B) so that the deterministic map, run for many steps, reproduces the data —
//! which the ELBO alone does not ask for (its transition term only scores one step at a time,
//! so a contracting map with a large σ_z explains the data as noise: the collapse of issue 14).
//!
//! # The term (one sequence x_0..x_{T−1}, inputs s, encoder means μ_t)
//!
//! The teacher signal is the encoder's mean ẑ_t = μ_t (its σ_t does not enter). With the
//! forcing weight κ_t = 1 on sparse-forcing steps (t mod τ = 0, when τ > 0) and κ_t = α
//! otherwise (generalised teacher forcing, Hess et al. 2023), applied to the forced latents
//! i < K (d_i = 1; K = M, or K = min(N, M) with `tf_force = "observed"`, d_i = 0 beyond):
//!
//! ```text
//! z̃_0 = μ_0
//! y_t = F(z̃_{t−1}) + C s_t                     t = 1..T−1,  F(z) = A∘z + W φ(z) + h
//! z̃_t = (1 − κ_t D) y_t + κ_t D μ_t            D = diag(d)
//! L   = λ_N / ((T−1) N) · Σ_{t=1}^{T−1} ‖x_t − B y_t‖²,   λ_N = λ (M + max(N, 3)) / (M + 3)
//! ```
//!
//! (a squared error, not a likelihood under σ_x: σ_x is left to the ELBO, so this term cannot be
//! lowered by widening σ_x). It is the mean squared error over steps and channels, weighted by
//! λ for up to three channels and beyond by λ (M + N)/(M + 3): the ELBO it is added to grows
//! with M + N (its transition term sums over the M latents, its observation term over the N
//! channels), so the term keeps its share of the loss as N grows. λ = 10 was chosen on the
//! suite's two- and three-channel systems, which train exactly as before this scale. With the
//! plain λ the term weighed 3.7 × less on the 64-channel EEG; there VI's free runs missed the
//! D_stsp goal by 2.8 × or left the data's range (BENCHMARKS.md, "The teacher-forcing term and
//! the number of channels").
//!
//! y_t is the model's prediction from the forced state before forcing: with α = 0, τ = 0 it is
//! a free run from μ_0; with α = 1 one-step prediction from the encoder. The forcing rule and
//! its backward pass are [`crate::core::Forcing`], the rule BPTT runs its model by toward the
//! data.
//!
//! # Gradient (backpropagation through time)
//!
//! Let ḡ_t = ∂L/∂z̃_t (ḡ_{T−1} = 0: nothing reads z̃_{T−1}), c = λ_N/((T−1) N), e_t = x_t − B y_t.
//! From z̃_t's definition and L's direct dependence on y_t, for t = T−1 down to 1:
//!
//! ```text
//! g_t      = ∂L/∂y_t = (1 − κ_t D) ḡ_t − 2c Bᵀ e_t
//! ∂L/∂μ_t += κ_t D ḡ_t
//! ∂L/∂B   += −2c e_t y_tᵀ
//! ∂L/∂C   += g_t s_tᵀ
//! ∂L/∂(A, W, h, α, θ) += step backward of F at z̃_{t−1} with g_t     (crate::core)
//! ḡ_{t−1}  = J(z̃_{t−1})ᵀ g_t,   J = diag(A) + W diag(φ′)
//! ```
//!
//! and finally ∂L/∂μ_0 += ḡ_0. The encoder's backward pass (`EncView::backward`) carries
//! ∂L/∂μ into the encoder's parameters (∂L/∂ log σ = 0).
//!
//! # The forcing weight from the data
//!
//! Generalised teacher forcing keeps gradients bounded when (1 − α) G ≤ 1, G the growth rate of
//! the Jacobian products along the trajectory (Hess et al. 2023 bound the products by the
//! geometric mean of their norms). [`auto_alpha`] takes G = e^{λ₁}, λ₁ the largest Lyapunov
//! exponent of the model's Jacobians along the encoder's path μ (the data-driven trajectory),
//! estimated by one renormalised tangent vector, and returns α = max(0, 1 − e^{−λ₁}): no forcing
//! while the model contracts along the data, just enough forcing once it expands. α is treated as
//! a constant of the update (no gradient flows through its estimate).

use super::config::{Objective, TfForce, ValidConfig};
use super::elbo::SeqRef;
use super::encoder::EncView;
use super::params::Layout;
use crate::core::{Forcing, StepScratch, StepTrace};

/// Up to this many channels λ is the weight of the mean squared error; with N channels beyond it
/// and M latents the weight is λ (M + N)/(M + 3) (see the module docs).
pub const REFERENCE_CHANNELS: usize = 3;

/// Settings of one evaluation of the term.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TfSettings {
    /// Weight λ of the term (`tf_weight`), scaled by (M + N)/(M + 3) beyond three channels.
    pub weight: f64,
    /// The forcing rule toward the encoder's means: α, the sparse interval τ, and the number K
    /// of leading latents forced (capped at M; the rest run free from μ_0).
    pub forcing: Forcing,
}

/// Reusable buffers of the term (one per worker thread).
#[derive(Clone, Debug, Default)]
pub struct TfWorkspace {
    mu: Vec<f64>,
    logsd: Vec<f64>,
    u: Vec<f64>,
    act: Vec<f64>,
    dact: Vec<f64>,
    dmu: Vec<f64>,
    zt: Vec<f64>,
    y: Vec<f64>,
    e: Vec<f64>,
    trace: StepTrace,
    g: Vec<f64>,
    gbar: Vec<f64>,
    heads: Vec<f64>,
    zeros: Vec<f64>,
    step: StepScratch,
}

/// The encoder means μ (T×M) of `x` into `ws.mu`.
fn encode(l: &Layout, params: &[f64], x: &[f64], ws: &mut TfWorkspace) {
    let len = x.len() / l.n;
    ws.mu.resize(len * l.core.m, 0.0);
    ws.logsd.resize(len * l.core.m, 0.0);
    ws.u.resize(len * l.n, 0.0);
    ws.act.resize(len * l.hidden, 0.0);
    EncView::from_flat(l, params).forward(x, &mut ws.mu, &mut ws.logsd, &mut ws.u, &mut ws.act);
}

/// The forcing weight α = max(0, 1 − e^{−λ₁}) from the model's largest Lyapunov exponent λ₁
/// along the encoder's mean path of `seq` (see the module docs).
pub fn auto_alpha(l: &Layout, params: &[f64], seq: SeqRef<'_>, ws: &mut TfWorkspace) -> f64 {
    encode(l, params, seq.x, ws);
    alpha_from_means(l, params, ws)
}

/// [`auto_alpha`] on the means already in `ws.mu`.
fn alpha_from_means(l: &Layout, params: &[f64], ws: &mut TfWorkspace) -> f64 {
    let m = l.core.m;
    let len = ws.mu.len() / m;
    if len < 2 {
        return 0.0;
    }
    let d = l.core.dynamics(params);
    let mut v = vec![1.0 / (m as f64).sqrt(); m];
    let (mut next, mut dv) = (vec![0.0; m], vec![0.0; m]);
    let mut sum = 0.0;
    for t in 1..len {
        d.jvp(&ws.mu[(t - 1) * m..t * m], &v, &mut dv, &mut next);
        let norm = next.iter().map(|x| x * x).sum::<f64>().sqrt();
        if !(norm > 0.0 && norm.is_finite()) {
            // A singular step: the tangent vector is gone, the product contracts.
            return 0.0;
        }
        sum += norm.ln();
        v.iter_mut().zip(&next).for_each(|(v, x)| *v = x / norm);
    }
    let lambda = sum / (len - 1) as f64;
    (1.0 - (-lambda).exp()).clamp(0.0, 1.0)
}

/// The term L of one sequence (module docs); its gradient is **added** to `grad` (length
/// `l.len`). Returns L.
pub fn loss_grad(
    l: &Layout,
    params: &[f64],
    seq: SeqRef<'_>,
    set: TfSettings,
    ws: &mut TfWorkspace,
    grad: &mut [f64],
) -> f64 {
    if set.weight == 0.0 {
        return 0.0;
    }
    encode(l, params, seq.x, ws);
    loss_grad_encoded(l, params, seq, set, ws, grad)
}

/// [`loss_grad`] with the encoder's outputs of `seq` already in `ws`.
fn loss_grad_encoded(
    l: &Layout,
    params: &[f64],
    seq: SeqRef<'_>,
    set: TfSettings,
    ws: &mut TfWorkspace,
    grad: &mut [f64],
) -> f64 {
    let (m, n, k) = (l.core.m, l.n, l.core.k);
    let x = seq.x;
    let len = x.len() / n;
    if len < 2 || set.weight == 0.0 {
        return 0.0;
    }
    let d = l.core.dynamics(params);
    let forcing = set.forcing;
    let (b, cm) = (&params[l.b.clone()], &params[l.core.c.clone()]);
    let share = (m + n.max(REFERENCE_CHANNELS)) as f64 / (m + REFERENCE_CHANNELS) as f64;
    let c = set.weight * share / ((len - 1) * n) as f64;
    ws.zt.resize(len * m, 0.0);
    ws.y.resize(len * m, 0.0);
    ws.e.resize(len * n, 0.0);
    // Row t: φ and φ′ at z̃_{t−1}, kept for the backward pass.
    ws.trace.reset(len, m);
    ws.zt[..m].copy_from_slice(&ws.mu[..m]);
    let mut loss = 0.0;
    for t in 1..len {
        let (prev, rest) = ws.zt.split_at_mut(t * m);
        let yt = &mut ws.y[t * m..(t + 1) * m];
        d.step_traced(&prev[(t - 1) * m..], &mut ws.trace, t, yt);
        if k > 0 {
            let st = &seq.s[t * k..(t + 1) * k];
            for i in 0..m {
                yt[i] += (0..k).map(|q| cm[i * k + q] * st[q]).sum::<f64>();
            }
        }
        forcing.force(t, yt, &ws.mu[t * m..(t + 1) * m], &mut rest[..m]);
        for j in 0..n {
            let by: f64 = (0..m).map(|i| b[j * m + i] * yt[i]).sum();
            let e = x[t * n + j] - by;
            ws.e[t * n + j] = e;
            loss += e * e;
        }
    }
    loss *= c;
    if !loss.is_finite() {
        return loss;
    }

    // Backward.
    ws.dmu.clear();
    ws.dmu.resize(len * m, 0.0);
    ws.g.resize(m, 0.0);
    ws.gbar.clear();
    ws.gbar.resize(m, 0.0);
    {
        // C follows the dynamics' other blocks; B comes after C.
        let (gdyn, grest) = grad.split_at_mut(l.core.c.start);
        let mut dgrad = l.core.grad(gdyn);
        let (gc, gb) = grest.split_at_mut(l.b.start - l.core.c.start);
        let (gc, gb) = (&mut gc[..l.core.c.len()], &mut gb[..l.b.len()]);
        for t in (1..len).rev() {
            let et = &ws.e[t * n..(t + 1) * n];
            let yt = &ws.y[t * m..(t + 1) * m];
            let dmu_t = &mut ws.dmu[t * m..(t + 1) * m];
            forcing.backward(t, &ws.gbar, &mut ws.g, Some(dmu_t));
            for j in 0..n {
                let ce = -2.0 * c * et[j];
                for i in 0..m {
                    ws.g[i] += ce * b[j * m + i];
                    gb[j * m + i] += ce * yt[i];
                }
            }
            if k > 0 {
                let st = &seq.s[t * k..(t + 1) * k];
                for i in 0..m {
                    for q in 0..k {
                        gc[i * k + q] += ws.g[i] * st[q];
                    }
                }
            }
            let u = &ws.zt[(t - 1) * m..t * m];
            let (g, gbar) = (&ws.g, &mut ws.gbar);
            d.backward_traced(u, &ws.trace, t, g, &mut ws.step, &mut dgrad, gbar);
        }
    }
    for i in 0..m {
        ws.dmu[i] += ws.gbar[i];
    }

    // Into the encoder: the heads' sums `EncView::backward` expects (rows of stride M; the
    // log σ rows are zero since ∂L/∂ log σ = 0).
    let clamp = |t: isize| t.clamp(0, len as isize - 1) as usize;
    ws.heads.clear();
    ws.heads.resize((4 * n + 1) * m, 0.0);
    for t in 0..len {
        let dm = &ws.dmu[t * m..(t + 1) * m];
        let (tp, tn) = (clamp(t as isize - 1), clamp(t as isize + 1));
        for j in 0..n {
            let uj = ws.u[t * n + j];
            let delta = x[tp * n + j] - 2.0 * x[t * n + j] + x[tn * n + j];
            for i in 0..m {
                ws.heads[j * m + i] += dm[i] * uj;
                ws.heads[(2 * n + 1 + j) * m + i] += dm[i] * delta;
            }
        }
    }
    ws.zeros.clear();
    ws.zeros.resize(len * m, 0.0);
    ws.dact.resize(len * l.hidden, 0.0);
    EncView::from_flat(l, params).backward(
        l,
        x,
        &ws.act,
        &ws.dmu,
        &ws.zeros,
        (&ws.heads, m),
        &mut ws.dact,
        grad,
    );
    loss
}

/// The term as configured by `cfg` (nothing for the `elbo` objective): α from `tf_alpha` or,
/// when that is unset, from [`auto_alpha`]; with `tf_window` > 0 scored on a window of that
/// length placed by `window_seed` (uniform over the sequence's start positions). Adds the
/// gradient to `grad`, returns the loss. The trainer calls it once per sequence and update
/// (`window_seed` from its seed stream 3); the `vi_update` bench calls it too.
pub fn add_term(
    cfg: &ValidConfig,
    l: &Layout,
    params: &[f64],
    seq: SeqRef<'_>,
    window_seed: u64,
    ws: &mut TfWorkspace,
    grad: &mut [f64],
) -> f64 {
    if cfg.objective != Objective::ElboTf || cfg.tf_weight == 0.0 {
        return 0.0;
    }
    let seq = window(seq, l.n, l.core.k, cfg.tf_window, window_seed);
    encode(l, params, seq.x, ws);
    let alpha = match cfg.tf_alpha {
        Some(a) => a,
        None => alpha_from_means(l, params, ws),
    };
    let set = TfSettings {
        weight: cfg.tf_weight,
        forcing: Forcing {
            alpha,
            interval: cfg.tf_interval,
            forced: match cfg.tf_force {
                TfForce::All => l.core.m,
                TfForce::Observed => l.n.min(l.core.m),
            },
        },
    };
    loss_grad_encoded(l, params, seq, set, ws, grad)
}

/// The window of `len` steps of `seq` that `seed` picks (the whole sequence when `len` is 0 or
/// not shorter than it).
fn window(seq: SeqRef<'_>, n: usize, k: usize, len: usize, seed: u64) -> SeqRef<'_> {
    let total = seq.x.len() / n;
    if len == 0 || len >= total {
        return seq;
    }
    // A multiply-shift of the seed onto [0, total − len]: the seed is already well mixed.
    let starts = (total - len + 1) as u64;
    let t0 = ((u128::from(seed) * u128::from(starts)) >> 64) as usize;
    SeqRef {
        x: &seq.x[t0 * n..(t0 + len) * n],
        s: if k == 0 {
            seq.s
        } else {
            &seq.s[t0 * k..(t0 + len) * k]
        },
        z0_index: seq.z0_index,
    }
}
