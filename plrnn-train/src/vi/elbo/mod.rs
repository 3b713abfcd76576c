//! The negative ELBO of one training sequence and its gradient with respect to every parameter,
//! derived by hand (derivations beside the code).
//!
//! With c_l = (1 − a)/T and c_o = a/T, for one sequence x_1..T, inputs s, and a fixed
//! reparameterisation sample ε (z_t = μ_t + σ_t ⊙ ε_t):
//!
//! ```text
//! loss = c_l · (initial + transition) + c_o · observation − c_l · entropy
//! entropy     = Σ_t Σ_i log σ_ti
//! initial     = ½ Σ_i (z_1i − z0_i)²/σ_z0,i² + Σ_i log σ_z0,i
//! transition  = ½ Σ_{t≥2} Σ_i r_ti²/σ_z,i² + (T−1) Σ_i log σ_z,i,   r_t = z_t − F(z_{t−1}, s_t)
//! observation = ½ Σ_t Σ_j e_tj²/σ_x,j² + T Σ_j log σ_x,j,           e_t = x_t − B z_t
//! F(z, s)     = A ∘ z + W φ(z) + h + C s
//! ```
//! (constants log 2π dropped; initial + transition is minus the latent log-likelihood,
//! observation minus the observation log-likelihood). Each term has its own file:
//! `encoder` (μ, σ, the entropy, the sample z and the chain rule back through it),
//! `transition`, `initial`, `observation`. Each term adds its part of ∂L/∂z into the
//! shared `Workspace::dz`; the encoder term carries that back to the encoder's parameters.
//! The transition term at t depends only on z_{t−1} and z_t, so the forward and backward passes
//! of the transition are fused into one pass over t, and nothing is recurrent.
//!
//! The lane arithmetic is that of `vi/simd.rs`; the whole kernel is generic over its lane
//! type and compiled once per `Kernel`. Speed: see [`loss_grad`] and BENCHMARKS.md.
//!
//! Its functions are inlined into each copy by force (`inline(always)`) when optimising: a
//! function that is not inlined is compiled without the copy's target features and its
//! intrinsics become calls. Unoptimised (`cfg(plrnn_unoptimised)`, set by `build.rs` at
//! opt-level 0), nothing is forced: there LLVM gives every local of every inlined function its
//! own stack slot, so the fully inlined copy, with all eight lane counts V of `latent`, had a
//! frame of ≈ 1.4 MB and overflowed a 2 MiB thread stack; called, the largest frame is ≈ 8 kB.

mod encoder;
mod initial;
mod observation;
mod transition;

pub use encoder::exp_fast;

use super::basis::SortedBasis;
use super::config::InitialState;
use super::params::Layout;
#[cfg(target_arch = "x86_64")]
use super::simd::{Avx, Avx2Fma, Avx512};
use super::simd::{Baseline, Lane, Portable, Simd};

/// One training sequence.
#[derive(Clone, Copy, Debug)]
pub struct SeqRef<'a> {
    /// Observations, T×N row-major.
    pub x: &'a [f64],
    /// Inputs, T×K row-major (empty when K = 0).
    pub s: &'a [f64],
    /// Index of this sequence's learned initial state (ignored for `InitialState::Encoder`).
    pub z0_index: usize,
}

/// Settings of one loss evaluation that are not parameters.
#[derive(Clone, Copy, Debug)]
pub struct LossSettings {
    /// Observation weight a.
    pub obs_weight: f64,
    /// Floor on σ_z: σ_z = sigma_z_min + exp(log_sigma_z).
    pub sigma_z_min: f64,
    /// Prior of z_1.
    pub initial_state: InitialState,
}

/// Reusable buffers for one sequence (one per worker thread).
///
/// Two layouts. Encoder-side buffers are unpadded and row-major (T×M: row t, unit i at
/// t·M + i). Latent-side buffers hold rows of `nl` lanes (`[f64; 4]`), the latent index
/// padded to whole lanes (unit i at lane i/4, slot i mod 4 of its row; nl ≥ ⌈M/4⌉, see
/// `loss_grad_impl`); padding units are zero in every parameter copy, so they stay zero in
/// every result. "Block" buffers hold the rows of one block of the transition (`TW` steps,
/// see `transition`) or of the encoder's head sums (`HB` steps, see `encoder`).
#[derive(Clone, Debug, Default)]
pub struct Workspace {
    // ---- encoder side, unpadded ----
    /// The linear heads' weights Wm, Ws in lanes: entry c·N + j holds [Wm, Ws] rows
    /// 4c..4c+4, column j, for the ⌊M/4⌋ whole lanes (see `encoder::linear_heads`).
    head_w: Vec<[Lane; 2]>,
    /// μ_t, T×M.
    mu: Vec<f64>,
    /// ℓ_t = log σ_t, T×M.
    logsd: Vec<f64>,
    /// σ_t = e^ℓ_t, T×M; overwritten by ∂L/∂ℓ_t once the sample's gradient is known (the
    /// encoder's backward pass reads it there).
    sd: Vec<f64>,
    /// ∂L/∂μ_t, T×M.
    dmu: Vec<f64>,
    /// The linear heads' inputs u_t, T×N (see `EncView::inputs`).
    u: Vec<f64>,
    /// The MLP encoder's hidden activations a_t, T×H (empty for H = 0).
    act: Vec<f64>,
    /// Scratch for ∂L/∂a_t of the MLP encoder, T×H.
    dact: Vec<f64>,
    // ---- latent side, rows of nl lanes ----
    /// The sample z_t = μ_t + σ_t ∘ ε_t, T rows.
    z: Vec<Lane>,
    /// ∂L/∂z_t, T rows: the sum of the transition, initial and observation terms' parts.
    dz: Vec<Lane>,
    /// φ(z_t) of one transition block, `TW` rows. In the dendritic φ pass a row first holds
    /// the flat bucket indices as u64 bit patterns (overwritten by φ).
    phi: Vec<Lane>,
    /// φ′(z_t) (the diagonal of ∂φ/∂z) of one transition block, `TW` rows.
    phid: Vec<Lane>,
    /// g_t = c_l r_t / σ_z² of one transition block, `TW` rows.
    g: Vec<Lane>,
    /// ∂L/∂φ(z_t) = −Wᵀ g_t of one transition block, `TW` rows.
    dphi: Vec<Lane>,
    /// The flat bucket indices i·(P+1) + k_ti of one transition block, `TW` rows of 4·nl.
    kidx: Vec<u64>,
    /// Wᵀ: row j holds column j of W (W_ij at lane slot i), M rows. The forward of the
    /// transition adds column j times φ_j.
    wt: Vec<Lane>,
    /// W: row i holds row i of W (W_ij at slot j), M rows. The backward adds row i times g_i.
    wr: Vec<Lane>,
    /// Cᵀ: row k holds column k of C, K rows.
    ct: Vec<Lane>,
    /// B: row j holds row j of B, N rows.
    bp: Vec<Lane>,
    /// The diagonal of A, one row.
    av: Vec<Lane>,
    /// h, one row.
    hv: Vec<Lane>,
    /// 1/σ_z,i², one row.
    iv: Vec<Lane>,
    /// ∂L/∂A (diagonal), one row.
    ga: Vec<Lane>,
    /// ∂L/∂h, one row.
    gh: Vec<Lane>,
    /// Σ_t r_ti², one row (for the σ_z gradient).
    rsq: Vec<Lane>,
    /// ∂L/∂W, row i = ∂L/∂W_i·, M rows (the diagonal is dropped when unpadding).
    gw: Vec<Lane>,
    /// ∂L/∂C transposed, row k = ∂L/∂C_·k, K rows.
    gc: Vec<Lane>,
    /// ∂L/∂B, row j = ∂L/∂B_j·, N rows.
    gb: Vec<Lane>,
    /// Σ_t e_tj², N rounded up to whole lanes (the observations go in groups of four).
    esq: Vec<f64>,
    /// The linear heads' sums over t that `EncView::backward` reads (2N + 1 rows, 4N + 1 for
    /// the smoothing encoder; the row order is documented there).
    head: Vec<Lane>,
    /// ∂L/∂ℓ_t of one block of the head sums, `HB` rows.
    dl: Vec<Lane>,
    /// The head sums' coefficient series of one block, `HB` rows of u_t (N), for the smoothing
    /// encoder Δ_t (N), then 1.
    coef: Vec<f64>,
    /// Unit i's first flat bucket index i·(P+1) as a u64 bit pattern, one row (where the
    /// bucket count of every step starts).
    unit_off: Vec<Lane>,
    /// Every unit's sorted thresholds, prefix sums and gradient buckets (dendritic variants).
    basis: SortedBasis,
    /// Σ_t ∂L/∂φ_ti relu(z_ti) per unit, M (the clipped variant's dα share).
    acc_relu: Vec<f64>,
}

/// Sizes a buffer and zeroes it.
fn fit<T: Clone + Default>(v: &mut Vec<T>, len: usize) {
    v.clear();
    v.resize(len, T::default());
}

/// Sizes a buffer whose every element is written before it is read (no zeroing: these are the
/// T×M buffers, and zeroing them showed up in the profile).
fn size<T: Clone + Default>(v: &mut Vec<T>, len: usize) {
    v.resize(len, T::default());
}

/// What every term of one evaluation reads.
#[derive(Clone, Copy)]
struct Eval<'a> {
    /// Where each parameter block sits in `params` and `grad`.
    l: &'a Layout,
    /// The flat parameters.
    params: &'a [f64],
    /// The sequence.
    seq: SeqRef<'a>,
    /// The reparameterisation noise ε, T×M.
    eps: &'a [f64],
    /// The settings.
    set: LossSettings,
    /// T, the sequence length.
    len: usize,
    /// Weight of the latent terms (initial, transition, entropy): (1 − a)/T.
    c_l: f64,
    /// Weight of the observation term: a/T.
    c_o: f64,
}

/// Computes the loss of one sequence and writes its gradient into `grad` (overwritten; length
/// `l.len`). `eps` is the reparameterisation noise, T×M.
///
/// Speed (BENCHMARKS.md, "VI: one parameter update"): ≈ 0.3 ms of thread CPU time at
/// M = P = 20, N = 3, T = 1000. The choices that give it, each measured with the bench and a
/// profile:
/// - the dendritic basis is evaluated through each unit's sorted thresholds and prefix sums
///   (`SortedBasis`): one bucket index per (t, i) instead of P terms, and dα, dθ from
///   per-bucket sums (O(T·M + M·P) instead of O(T·M·P)); the bucket is counted with vector
///   compares (see `transition`);
/// - the latent index is padded to whole 4-lanes and each step's F and dφ are rows of
///   register-resident lanes (a compile-time count V = ⌈M/4⌉ up to M = 32);
/// - time is processed in blocks (32 steps for the transition, 64 for the encoder's head
///   sums) whose buffers stay in L1;
/// - fused multiply-adds wherever a product is added; the portable copy uses `f64::mul_add`,
///   which rounds once exactly like the FMA instruction, so every copy gives the same bits;
/// - independent chains side by side: the transition two steps at a time, dW two rows at a
///   time, the entropy sum in four lane accumulators, the observations four rows at a time;
/// - the kernel is compiled three times (see `Kernel`) and picked at run time; f64
///   throughout (the finite-difference test needs it).
pub fn loss_grad(
    l: &Layout,
    params: &[f64],
    seq: SeqRef<'_>,
    eps: &[f64],
    set: LossSettings,
    ws: &mut Workspace,
    grad: &mut [f64],
) -> f64 {
    // The most capable copy, lowered to what this CPU runs.
    loss_grad_with(Kernel::Avx512, l, params, seq, eps, set, ws, grad)
}

/// The compiled copies of the kernel: the same source and the same operations in the same order,
/// so the same bits (tested), at different speeds. Ordered by what they need: a CPU that runs
/// one runs all the lesser ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kernel {
    /// Baseline x86-64 (or any other target): plain arrays, `f64::mul_add`. (Requested by
    /// name only in the tests; otherwise it is the fallback of the others.)
    #[cfg_attr(not(test), allow(dead_code))]
    Portable,
    /// AVX2 + FMA: one 256-bit register per lane of 4.
    Avx2,
    /// The AVX2 copy compiled with AVX-512F/VL enabled: the same 256-bit operations, but LLVM
    /// may use the EVEX encodings, 32 vector registers instead of 16 (the register-resident
    /// rows of the transition no longer spill) and mask registers for the compares. Measured on
    /// the CI-class AMD EPYC (criterion thread CPU, `vi_update` Dendritic, three alternating
    /// runs each): 0.342 ms against 0.357 ms for the AVX2 copy. Wider 512-bit lanes would
    /// halve the instruction count of the lane loops but are split in two on this CPU (Zen 4)
    /// and pad M = 20 to 24; not tried.
    Avx512,
}

impl Kernel {
    /// The fastest copy this CPU runs.
    #[cfg(test)]
    pub(crate) fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if Avx512::detect().is_some() {
                return Kernel::Avx512;
            }
            if Avx2Fma::detect().is_some() {
                return Kernel::Avx2;
            }
        }
        Kernel::Portable
    }

    /// Every copy this CPU runs, slowest first.
    #[cfg(test)]
    pub(crate) fn available() -> Vec<Self> {
        let best = Self::detect();
        [Kernel::Portable, Kernel::Avx2, Kernel::Avx512]
            .into_iter()
            .filter(|&k| k <= best)
            .collect()
    }
}

/// [`loss_grad`] with the given copy of the kernel, or the best one this CPU runs if it cannot
/// run that one. The x86 copies are reached only through the token that their CPU check
/// returns (see `super::simd`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn loss_grad_with(
    kernel: Kernel,
    l: &Layout,
    params: &[f64],
    seq: SeqRef<'_>,
    eps: &[f64],
    set: LossSettings,
    ws: &mut Workspace,
    grad: &mut [f64],
) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if kernel >= Kernel::Avx512 {
            if let Some(tok) = Avx512::detect() {
                return loss_grad_avx512(tok, l, params, seq, eps, set, ws, grad);
            }
        }
        if kernel >= Kernel::Avx2 {
            if let Some(tok) = Avx2Fma::detect() {
                return loss_grad_avx2(tok, l, params, seq, eps, set, ws, grad);
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = kernel;
    loss_grad_impl::<Portable>(Baseline, l, params, seq, eps, set, ws, grad)
}

/// The x86 copies of the kernel: `loss_grad_impl::<Avx>` compiled under a set of target
/// features, callable only with the token that proves the CPU has them. Every copy runs the
/// same operations, vectorised 4-wide, with `f64::mul_add` and the FMA intrinsics as single FMA
/// instructions; no other contraction happens (Rust never contracts), so the results are
/// bit-identical to the baseline build.
macro_rules! x86_copy {
    ($name:ident, $token:ty, $features:literal, |$tok:ident| $avx:expr) => {
        #[cfg(target_arch = "x86_64")]
        #[allow(clippy::too_many_arguments)]
        fn $name(
            tok: $token,
            l: &Layout,
            params: &[f64],
            seq: SeqRef<'_>,
            eps: &[f64],
            set: LossSettings,
            ws: &mut Workspace,
            grad: &mut [f64],
        ) -> f64 {
            #[target_feature(enable = $features)]
            #[allow(clippy::too_many_arguments)]
            fn compiled(
                $tok: $token,
                l: &Layout,
                params: &[f64],
                seq: SeqRef<'_>,
                eps: &[f64],
                set: LossSettings,
                ws: &mut Workspace,
                grad: &mut [f64],
            ) -> f64 {
                loss_grad_impl::<Avx>($avx, l, params, seq, eps, set, ws, grad)
            }
            // SAFETY: `tok` is made only by its `detect`, after the CPU was found to have
            // every feature enabled on `compiled`.
            unsafe { compiled(tok, l, params, seq, eps, set, ws, grad) }
        }
    };
}

x86_copy!(loss_grad_avx2, Avx2Fma, "avx2,fma", |tok| tok);
// The same operations with the AVX-512 register file and encodings available to LLVM.
x86_copy!(
    loss_grad_avx512,
    Avx512,
    "avx2,fma,avx512f,avx512vl",
    |tok| tok.avx2_fma()
);

/// The kernel: every term of the loss, in lanes of type `S`, proven runnable by `tok`.
#[cfg_attr(not(plrnn_unoptimised), inline(always))]
#[allow(clippy::too_many_arguments)]
fn loss_grad_impl<S: Simd>(
    tok: S::Token,
    l: &Layout,
    params: &[f64],
    seq: SeqRef<'_>,
    eps: &[f64],
    set: LossSettings,
    ws: &mut Workspace,
    grad: &mut [f64],
) -> f64 {
    let m = l.core.m;
    let len = seq.x.len() / l.n;
    debug_assert_eq!(eps.len(), len * m);
    debug_assert_eq!(grad.len(), l.len);
    grad.iter_mut().for_each(|g| *g = 0.0);
    let tf = len as f64;
    let ev = Eval {
        l,
        params,
        seq,
        eps,
        set,
        len,
        c_l: (1.0 - set.obs_weight) / tf,
        c_o: set.obs_weight / tf,
    };
    let entropy = encoder::posterior::<S>(tok, &ev, ws);
    // The latent index padded to whole lanes: up to M = 32 one tile of V = ⌈M/4⌉ lanes, a
    // compile-time length, so that a row of the transition's accumulators lives in registers;
    // beyond, tiles of 4 lanes.
    let (v, tiles) = if m <= 32 {
        (m.div_ceil(4).max(1), 1)
    } else {
        (4, m.div_ceil(16))
    };
    let latent = match v {
        1 => latent::<S, 1>(tok, &ev, tiles, ws, grad),
        2 => latent::<S, 2>(tok, &ev, tiles, ws, grad),
        3 => latent::<S, 3>(tok, &ev, tiles, ws, grad),
        4 => latent::<S, 4>(tok, &ev, tiles, ws, grad),
        5 => latent::<S, 5>(tok, &ev, tiles, ws, grad),
        6 => latent::<S, 6>(tok, &ev, tiles, ws, grad),
        7 => latent::<S, 7>(tok, &ev, tiles, ws, grad),
        _ => latent::<S, 8>(tok, &ev, tiles, ws, grad),
    };
    encoder::backward(&ev, 4 * v * tiles, ws, grad);
    latent - ev.c_l * entropy
}

/// Everything between the encoder's output and its gradient, on rows of nl = V·tiles lanes:
/// the sample z, the transition, initial-state and observation terms (each adding its part of
/// ∂L/∂z to `ws.dz` and writing its parameters' gradients into `grad`), then ∂L/∂z back to
/// the encoder's outputs. Returns c_l (initial + transition) + c_o observation.
#[cfg_attr(not(plrnn_unoptimised), inline(always))]
fn latent<S: Simd, const V: usize>(
    tok: S::Token,
    ev: &Eval<'_>,
    tiles: usize,
    ws: &mut Workspace,
    grad: &mut [f64],
) -> f64 {
    let nl = V * tiles;
    encoder::sample(ev, nl, ws);
    fit(&mut ws.dz, ev.len * nl);
    let transition = transition::term::<S, V>(tok, ev, tiles, ws, grad);
    let initial = initial::term(ev, nl, ws, grad);
    let observation = observation::term::<S>(tok, ev, nl, ws, grad);
    encoder::reparameterisation::<S, V>(tok, ev, tiles, ws);
    ev.c_l * (initial + transition) + ev.c_o * observation
}

/// Manifold-attractor regulariser over the first ⌊share·M⌋ units, added to the loss and its
/// gradient: λ Σ_i [(A_ii − 1)² + Σ_j W_ij² + h_i²] ⇒ dA_i = 2λ(A_i − 1), dW_ij = 2λ W_ij,
/// dh_i = 2λ h_i.
pub fn regulariser(l: &Layout, params: &[f64], lambda: f64, share: f64, grad: &mut [f64]) -> f64 {
    if lambda == 0.0 {
        return 0.0;
    }
    let m = l.core.m;
    let units = ((share * m as f64).floor() as usize).min(m);
    let mut r = 0.0;
    for i in 0..units {
        let ai = params[l.core.a.start + i];
        r += (ai - 1.0) * (ai - 1.0);
        grad[l.core.a.start + i] += 2.0 * lambda * (ai - 1.0);
        for j in 0..m {
            if j != i {
                let wij = params[l.core.w.start + i * m + j];
                r += wij * wij;
                grad[l.core.w.start + i * m + j] += 2.0 * lambda * wij;
            }
        }
        let hi = params[l.core.h.start + i];
        r += hi * hi;
        grad[l.core.h.start + i] += 2.0 * lambda * hi;
    }
    lambda * r
}
