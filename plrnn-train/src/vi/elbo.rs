//! The negative ELBO of one training sequence and its gradient with respect to every parameter,
//! derived by hand (derivations beside the code).
//!
//! With c_l = (1 − a)/T and c_o = a/T, for one sequence x_1..T, inputs s, and a fixed
//! reparameterisation sample ε (z_t = μ_t + σ_t ⊙ ε_t):
//!
//! ```text
//! loss = − c_l · (entropy + latent ll) − c_o · obs ll
//! entropy   = Σ_t Σ_i log σ_ti
//! latent ll = − ½ Σ_i (z_1i − z0_i)²/σ_z0,i² − Σ_i log σ_z0,i
//!             − ½ Σ_{t≥2} Σ_i r_ti²/σ_z,i² − (T−1) Σ_i log σ_z,i,   r_t = z_t − F(z_{t−1}, s_t)
//! obs ll    = − ½ Σ_t Σ_j e_tj²/σ_x,j² − T Σ_j log σ_x,j,           e_t = x_t − B z_t
//! F(z, s)   = A ∘ z + W φ(z) + h + C s
//! ```
//! (constants log 2π dropped). The transition term at t depends only on z_{t−1} and z_t, so the
//! forward and backward passes of the transition are fused into one pass over t, and nothing is
//! recurrent.
//!
//! Speed: see the comment on [`loss_grad`] and BENCHMARKS.md.

use super::basis::SortedBasis;
use super::config::{EncoderKind, InitialState, Variant};
use super::encoder::EncView;
use super::params::Layout;
use super::simd::{
    arr, arr_mut, lanes, lanes_mut, load, madd, nmadd, relu, store, sum, Baseline, Lane, Portable,
    Simd,
};
#[cfg(target_arch = "x86_64")]
use super::simd::{Avx, Avx2Fma, Avx512};

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
#[derive(Clone, Debug, Default)]
pub struct Workspace {
    // Encoder side, T×M.
    /// The linear heads' weights in lanes (see `linear_heads`).
    head_w: Vec<[Lane; 2]>,
    mu: Vec<f64>,
    logsd: Vec<f64>,
    sd: Vec<f64>,
    dmu: Vec<f64>,
    u: Vec<f64>,
    act: Vec<f64>,
    dact: Vec<f64>,
    // Latent side: rows of `nl` lanes (the padded latent index).
    z: Vec<Lane>,
    dz: Vec<Lane>,
    phi: Vec<Lane>,
    phid: Vec<Lane>,
    g: Vec<Lane>,
    dphi: Vec<Lane>,
    kidx: Vec<u64>,
    wt: Vec<Lane>,
    wr: Vec<Lane>,
    ct: Vec<Lane>,
    bp: Vec<Lane>,
    av: Vec<Lane>,
    hv: Vec<Lane>,
    iv: Vec<Lane>,
    ga: Vec<Lane>,
    gh: Vec<Lane>,
    rsq: Vec<Lane>,
    gw: Vec<Lane>,
    gc: Vec<Lane>,
    gb: Vec<Lane>,
    esq: Vec<f64>,
    head: Vec<Lane>,
    dl: Vec<Lane>,
    coef: Vec<f64>,
    unit_off: Vec<Lane>,
    basis: SortedBasis,
    acc_relu: Vec<f64>,
}

/// Largest P for which the bucket of every (t, i) is found by counting (vector compares against
/// all P thresholds) rather than by binary search; see the φ pass in `latent`.
const COUNT_MAX_P: usize = 32;

/// Time steps per block of the transition (see `latent`).
const TW: usize = 32;

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

/// e^x to within a few ulp, branch-free so that a loop over it vectorises (the libm call was
/// ~15 % of an update in the profile). x = k ln 2 + r with |r| ≤ ln2/2; e^r by its Taylor
/// polynomial of degree 13 (remainder < 2e-17 relative); 2^k assembled in the exponent bits.
/// Arguments are clamped to [−700, 700] (e^±700 is the end of the normal range anyway).
#[inline(always)]
pub fn exp_fast(x: f64) -> f64 {
    const LN2_HI: f64 = 6.931_471_803_691_238e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    const SHIFT: f64 = 6_755_399_441_055_744.0; // 1.5 · 2^52: k lands in the low mantissa bits
    let x = x.clamp(-700.0, 700.0);
    let kf = (x * std::f64::consts::LOG2_E).round_ties_even();
    let r = (x - kf * LN2_HI) - kf * LN2_LO;
    let mut p: f64 = 1.0 / 6_227_020_800.0;
    for c in [
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p.mul_add(r, c);
    }
    let k = (kf + SHIFT).to_bits().wrapping_sub(SHIFT.to_bits());
    p * f64::from_bits(k.wrapping_add(1023) << 52)
}

/// Computes the loss of one sequence and writes its gradient into `grad` (overwritten; length
/// `l.len`). `eps` is the reparameterisation noise, T×M.
///
/// Speed (criterion bench `vi_update`, M = P = 20, N = 3, T = 1000, one thread, on the 2-vCPU
/// CI-class AMD EPYC): 0.30 ms of thread CPU time per update for `Dendritic` (0.296–0.309 ms
/// over five runs; the 0.35 ms goal is met), from 0.36 ms for the previous version measured
/// alternately with it (0.47 ms before that, 2.9 ms for the first). See BENCHMARKS.md for every
/// variant.
/// What the bench and profile showed, and why the choices:
/// - the dendritic basis is evaluated through each unit's sorted thresholds and prefix sums
///   (`SortedBasis`): one bucket index per (t, i) instead of P terms, and dα, dθ from per-bucket
///   sums (O(T·M + M·P) instead of O(T·M·P));
/// - the bucket is found by counting with vector compares against all P sorted thresholds
///   when P ≤ 32 (a binary search beyond): at P = 20 the branch-free search cost ≈ 70
///   instructions per (t, i) and the update took 860 µs CPU, the count ≈ 25 and 530 µs (as a
///   loop, LLVM even turned the search's conditional add into a mispredicted branch); the
///   count is kept in integer lanes (compare, then subtract the all-ones mask: 2 instructions
///   per 4 units and threshold instead of 4; 0.48 → 0.28 M per update) and the flat indices go
///   to 64-bit gathers with one vector bounds check;
/// - the latent index is padded to whole 4-lanes and each step's F and dφ are rows of
///   register-resident lanes (a compile-time count V = ⌈M/4⌉ up to M = 32), written with
///   explicit AVX intrinsics in the AVX2 copy: on plain arrays LLVM scalarised them;
/// - time is processed in blocks of 32 steps with block-sized φ, φ', g buffers (in L1); dW
///   over a block has no bounds checks in its inner loop (they were 13 of its 19
///   instructions per (i, step): −0.18 M);
/// - fused multiply-adds wherever a product is added (F, dφ, dW, residual sums, φ from the
///   prefix sums, observations, `exp_fast`'s polynomial): 5.56 → 5.12 M. The AVX2 copy needs
///   AVX2 and FMA; the portable copy uses `f64::mul_add`, which rounds once exactly like the
///   FMA instruction, so both copies still give identical bits (tested). Without hardware FMA
///   (x86 before 2013) `f64::mul_add` is a libm call, correct but several times slower;
/// - the encoder's linear heads μ, log σ are computed here in lanes with FMA (`linear_heads`,
///   ≈ 0.37 → 0.13 M), and the sums their gradients need (Σ_t dμ_t u_tj, Σ_t dℓ_t u_tj, …) as
///   products over t with register-resident rows (≈ 0.35 → 0.1 M; 13 unpadded axpys per step
///   in the encoder originally, ≈ 1.3 M);
/// - independent chains side by side (measured with alternating criterion runs and perf
///   samples; the instruction count went up, 3.58 → 3.79 M, the time down ≈ 17 %): the
///   transition two steps at a time (all forwards of a block, then all backwards, then dW two
///   rows at a time, each W or φ row loaded once for both), the entropy sum in four lane
///   accumulators, the observations four rows at a time with one joint reduction
///   (`Simd::hsum4`), the encoder's head sums in blocks of 64 steps (in L1);
/// - the kernel is compiled three times (baseline, AVX2+FMA, and AVX2+FMA with AVX-512F/VL
///   enabled for its register file; see `Kernel`), picked at run time; f64 throughout (the
///   finite-difference test needs it).
///
/// Left (share of perf samples, approximate): the φ pass ≈ 16 % (bucket count, φ/φ' look-ups),
/// F, dφ and dW ≈ 18 % (near the FMA throughput bound), the encoder-side passes ≈ 17 %, ε ≈ 9 %
/// ([`super::normal::NormalSampler`]), the observations ≈ 7 %, the dφ scatter into the buckets
/// ≈ 6.5 % (a vectorised version with 128-bit pair adds saved only 0.02 M instructions and was
/// dropped), `exp_fast` ≈ 5 %.
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

#[inline(always)]
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
    let (m, n) = (l.m, l.n);
    let x = seq.x;
    let len = x.len() / n;
    debug_assert_eq!(eps.len(), len * m);
    debug_assert_eq!(grad.len(), l.len);
    grad.iter_mut().for_each(|g| *g = 0.0);
    let tf = len as f64;
    let c_l = (1.0 - set.obs_weight) / tf;
    let c_o = set.obs_weight / tf;

    // ---- encoder ---------------------------------------------------------------------------
    size(&mut ws.mu, len * m);
    size(&mut ws.logsd, len * m);
    size(&mut ws.sd, len * m);
    size(&mut ws.dmu, len * m);
    size(&mut ws.u, len * n);
    size(&mut ws.act, len * l.hidden);
    fit(&mut ws.dact, len * l.hidden);
    let enc = EncView::from_flat(l, params);
    enc.inputs(x, &mut ws.u);
    linear_heads::<S>(tok, &enc, &ws.u, &mut ws.mu, &mut ws.logsd, &mut ws.head_w);
    if l.encoder == EncoderKind::Mlp {
        enc.mlp_forward(x, &mut ws.mu, &mut ws.logsd, &mut ws.act);
    }
    for (sd, &ls) in ws.sd.iter_mut().zip(&ws.logsd) {
        *sd = exp_fast(ls);
    }
    let entropy = sum::<S>(tok, &ws.logsd);

    // ---- latent part, on the latent index padded to whole lanes ------------------------------
    // Up to M = 32 one tile of V = ⌈M/4⌉ lanes, a compile-time length, so that a row of the
    // transition's accumulators lives in registers; beyond, tiles of 4 lanes.
    let args = (l, params, seq, eps, set, c_l, c_o);
    let (v, tiles) = if m <= 32 {
        (m.div_ceil(4).max(1), 1)
    } else {
        (4, m.div_ceil(16))
    };
    let latent_terms = match v {
        1 => latent::<S, 1>(tok, args, tiles, ws, grad),
        2 => latent::<S, 2>(tok, args, tiles, ws, grad),
        3 => latent::<S, 3>(tok, args, tiles, ws, grad),
        4 => latent::<S, 4>(tok, args, tiles, ws, grad),
        5 => latent::<S, 5>(tok, args, tiles, ws, grad),
        6 => latent::<S, 6>(tok, args, tiles, ws, grad),
        7 => latent::<S, 7>(tok, args, tiles, ws, grad),
        _ => latent::<S, 8>(tok, args, tiles, ws, grad),
    };

    // `latent` left dμ in dmu, dℓ in sd and the linear heads' sums in head.
    let stride = 4 * v * tiles;
    enc.backward(
        l,
        x,
        &ws.act,
        &ws.dmu,
        &ws.sd,
        (ws.head.as_flattened(), stride),
        &mut ws.dact,
        grad,
    );

    latent_terms - c_l * entropy
}

/// The encoder's linear heads μ_t = Wm u_t, log σ_t = Ws u_t + b_s (what `EncView::forward`
/// computes with axpys) on the unpadded T×M rows: whole lanes of 4 with fused multiply-adds,
/// the last M mod 4 units scalar (also fused, so both copies agree). Measured: the axpy version
/// cost ≈ 0.37 M instructions per `vi_update` update (callgrind; separate multiplies and adds,
/// run-time remainder checks), this one ≈ 0.1 M. `wl` is a reused buffer for the weights in
/// lanes.
#[inline(always)]
fn linear_heads<S: Simd>(
    tok: S::Token,
    enc: &EncView<'_>,
    u: &[f64],
    mu: &mut [f64],
    logsd: &mut [f64],
    wl: &mut Vec<[Lane; 2]>,
) {
    let (m, n) = (enc.m, enc.n);
    let m4 = m / 4 * 4;
    // Lane c of column j of both heads at wl[c·N + j] (so the inner loop is a plain zip):
    // Wm, Ws are M×N row-major, so lane q holds row 4c + q, column j.
    wl.clear();
    wl.extend(
        (0..m4 / 4)
            .flat_map(|c| (0..n).map(move |j| (c, j)))
            .map(|(c, j)| {
                let lane = |w: &[f64]| std::array::from_fn(|q| w[(4 * c + q) * n + j]);
                [lane(enc.wm), lane(enc.ws)]
            }),
    );
    for ((ut, mt), st) in u
        .chunks_exact(n)
        .zip(mu.chunks_exact_mut(m))
        .zip(logsd.chunks_exact_mut(m))
    {
        let ((mt4, mr), (st4, sr)) = (mt.split_at_mut(m4), st.split_at_mut(m4));
        for ((m4v, s4v), (b4, wc)) in lanes_mut(mt4)
            .iter_mut()
            .zip(lanes_mut(st4))
            .zip(lanes(&enc.bs[..m4]).iter().zip(wl.chunks_exact(n)))
        {
            let (mut am, mut al) = (S::splat(tok, 0.0), S::load(tok, b4));
            for (&uj, w) in ut.iter().zip(wc) {
                let uj = S::splat(tok, uj);
                am = uj.mul_add(S::load(tok, &w[0]), am);
                al = uj.mul_add(S::load(tok, &w[1]), al);
            }
            am.store(m4v);
            al.store(s4v);
        }
        for (r, (mi, si)) in mr.iter_mut().zip(sr.iter_mut()).enumerate() {
            let i = m4 + r;
            let (mut am, mut al) = (0.0, enc.bs[i]);
            for (j, &uj) in ut.iter().enumerate() {
                am = uj.mul_add(enc.wm[i * n + j], am);
                al = uj.mul_add(enc.ws[i * n + j], al);
            }
            *mi = am;
            *si = al;
        }
    }
}

/// `$call` for `$i` = 0, 1, …, $n − 1, two indices per call (`$r` = 2: the call covers $i and
/// $i + 1) while `$pairs` and two are left, else one (`$r` = 1). `$r` is a constant, for the
/// calls' const generic row counts.
macro_rules! by_twos {
    ($n:expr, $pairs:expr, |$i:ident, $r:ident| $call:expr) => {{
        let (n, pairs) = ($n, $pairs);
        let mut $i = 0;
        while $i < n {
            if pairs && $i + 1 < n {
                const $r: usize = 2;
                $call;
                $i += 2;
            } else {
                const $r: usize = 1;
                $call;
                $i += 1;
            }
        }
    }};
}

/// One block of the transition's steps and the buffers its forward and backward passes read and
/// write (see `latent`); rows of `nl` lanes, block rows (φ, φ', g, dφ) indexed by the step q
/// within the block, sequence rows (z, dz) by t = t0 + q.
struct Block<'a> {
    m: usize,
    k: usize,
    nl: usize,
    tiles: usize,
    c_l: f64,
    s: &'a [f64],
    t0: usize,
    z: &'a [Lane],
    dz: &'a mut [Lane],
    phi: &'a mut [Lane],
    phid: &'a mut [Lane],
    g: &'a mut [Lane],
    dphi: &'a mut [Lane],
    wt: &'a [Lane],
    wr: &'a [Lane],
    ct: &'a [Lane],
    av: &'a [Lane],
    hv: &'a [Lane],
    iv: &'a [Lane],
    ga: &'a mut [Lane],
    gh: &'a mut [Lane],
    rsq: &'a mut [Lane],
    gc: &'a mut [Lane],
    gw: &'a mut [Lane],
}

impl Block<'_> {
    /// Steps q0..q0+R of the block, forward: F(z_t), r_t = z_{t+1} − F, g_t = c_l r_t/σ_z², and
    /// their sums (rsq, dA, dh, dC, dz_{t+1} += g_t); g_t into `g`.
    #[inline(always)]
    fn forward<S: Simd, const V: usize, const R: usize>(&mut self, tok: S::Token, q0: usize) {
        let (m, k, nl) = (self.m, self.k, self.nl);
        let ft: [&[f64]; R] =
            std::array::from_fn(|r| &self.phi[(q0 + r) * nl..][..nl].as_flattened()[..m]);
        for tile in 0..self.tiles {
            let o = tile * V;
            let (avt, hvt) = (
                load::<S, V>(tok, arr(&self.av[o..])),
                load::<S, V>(tok, arr(&self.hv[o..])),
            );
            let mut acc = [hvt; R];
            for (r, acc) in acc.iter_mut().enumerate() {
                let zt = load::<S, V>(tok, arr(&self.z[(self.t0 + q0 + r) * nl + o..]));
                for v in 0..V {
                    acc[v] = avt[v].mul_add(zt[v], hvt[v]);
                }
            }
            for (j, wtj) in (0..m).zip(self.wt.chunks_exact(nl)) {
                let w = load::<S, V>(tok, arr(&wtj[o..]));
                for (acc, ft) in acc.iter_mut().zip(&ft) {
                    let f = S::splat(tok, ft[j]);
                    for v in 0..V {
                        acc[v] = f.mul_add(w[v], acc[v]);
                    }
                }
            }
            let c = S::splat(tok, self.c_l);
            let ivt = load::<S, V>(tok, arr(&self.iv[o..]));
            for (r, acc) in acc.iter_mut().enumerate() {
                let (q, t) = (q0 + r, self.t0 + q0 + r);
                for kk in 0..k {
                    madd(
                        tok,
                        acc,
                        self.s[(t + 1) * k + kk],
                        arr::<V>(&self.ct[kk * nl + o..]),
                    );
                }
                let zt = load::<S, V>(tok, arr(&self.z[t * nl + o..]));
                let zn = load::<S, V>(tok, arr(&self.z[(t + 1) * nl + o..]));
                let mut gt = *acc;
                for v in 0..V {
                    let r = zn[v].sub(acc[v]);
                    gt[v] = c.mul(r).mul(ivt[v]);
                    let rs = &mut self.rsq[o + v];
                    r.mul_add(r, S::load(tok, rs)).store(rs);
                    let gat = &mut self.ga[o + v];
                    gt[v].neg_mul_add(zt[v], S::load(tok, gat)).store(gat);
                    let ght = &mut self.gh[o + v];
                    S::load(tok, ght).sub(gt[v]).store(ght);
                    let dzn = &mut self.dz[(t + 1) * nl + o + v];
                    S::load(tok, dzn).add(gt[v]).store(dzn);
                }
                store(&gt, arr_mut::<V>(&mut self.g[q * nl + o..]));
                for kk in 0..k {
                    let gck = arr_mut::<V>(&mut self.gc[kk * nl + o..]);
                    let mut a = load::<S, V>(tok, gck);
                    nmadd(
                        tok,
                        &mut a,
                        self.s[(t + 1) * k + kk],
                        arr(&self.g[q * nl + o..]),
                    );
                    store(&a, gck);
                }
            }
        }
    }

    /// Steps q0..q0+R of the block, backward: dφ_t = −Wᵀ g_t into `dphi`,
    /// dz_t += −A∘g_t + φ'(z_t)∘dφ_t.
    #[inline(always)]
    fn backward<S: Simd, const V: usize, const R: usize>(&mut self, tok: S::Token, q0: usize) {
        let (m, nl) = (self.m, self.nl);
        for tile in 0..self.tiles {
            let o = tile * V;
            let gf: [&[f64]; R] =
                std::array::from_fn(|r| &self.g[(q0 + r) * nl..][..nl].as_flattened()[..m]);
            let mut acc = [[S::splat(tok, 0.0); V]; R];
            for (i, wri) in (0..m).zip(self.wr.chunks_exact(nl)) {
                let w = load::<S, V>(tok, arr(&wri[o..]));
                for (acc, gf) in acc.iter_mut().zip(&gf) {
                    let gi = S::splat(tok, gf[i]);
                    for v in 0..V {
                        acc[v] = gi.neg_mul_add(w[v], acc[v]);
                    }
                }
            }
            let avt = load::<S, V>(tok, arr(&self.av[o..]));
            for (r, acc) in acc.iter().enumerate() {
                let (q, t) = (q0 + r, self.t0 + q0 + r);
                let (fd, gt) = (
                    load::<S, V>(tok, arr(&self.phid[q * nl + o..])),
                    load::<S, V>(tok, arr(&self.g[q * nl + o..])),
                );
                let dzt = arr_mut::<V>(&mut self.dz[t * nl + o..]);
                let mut d = load::<S, V>(tok, dzt);
                for v in 0..V {
                    d[v] = acc[v].mul_add(fd[v], gt[v].neg_mul_add(avt[v], d[v]));
                }
                store(&d, dzt);
                store(acc, arr_mut::<V>(&mut self.dphi[q * nl + o..]));
            }
        }
    }

    /// Rows i0..i0+R of dW over the block's nb steps: dW_ij −= Σ_q g_qi φ_qj.
    #[inline(always)]
    fn dw<S: Simd, const V: usize, const R: usize>(&mut self, tok: S::Token, i0: usize, nb: usize) {
        let nl = self.nl;
        for tile in 0..self.tiles {
            let o = tile * V;
            // (The asserts let LLVM drop the bounds checks of the inner loop: with them it was
            // 19 instructions per (i, step) for 6 useful ones, ≈ 0.36 M per update.)
            let mut acc = [[S::splat(tok, 0.0); V]; R];
            let mut pos = [(0, 0); R];
            for (r, (acc, pos)) in acc.iter_mut().zip(&mut pos).enumerate() {
                let i = i0 + r;
                *pos = (i / 4, i % 4);
                assert!(pos.0 < nl && o + V <= nl);
                *acc = load::<S, V>(tok, arr(&self.gw[i * nl + o..]));
            }
            for (gq, pq) in self.g[..nb * nl]
                .chunks_exact(nl)
                .zip(self.phi.chunks_exact(nl))
            {
                let p = load::<S, V>(tok, arr(&pq[o..]));
                for (acc, &(lane, q4)) in acc.iter_mut().zip(&pos) {
                    let gi = S::splat(tok, gq[lane][q4]);
                    for v in 0..V {
                        acc[v] = gi.neg_mul_add(p[v], acc[v]);
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                store(acc, arr_mut::<V>(&mut self.gw[(i0 + r) * nl + o..]));
            }
        }
    }
}

/// One step t and one group of J ≤ 4 observation rows j0..j0+J (see the observation pass in
/// `latent`): B_j·z_t, e, Σe², q = c_o e/σ_x², dB_j −= q_j z_t, dz_t −= Σ_j q_j B_j. `xg` (x_t
/// from channel j0), `b` and `gb` start at row j0 (rows of `nl` lanes).
type ObsArgs<'a> = (
    &'a [f64],
    &'a [Lane],
    &'a mut [Lane],
    &'a [Lane],
    &'a mut [Lane],
    &'a mut Lane,
    &'a Lane,
);

#[inline(always)]
fn obs_group<S: Simd, const J: usize>(
    tok: S::Token,
    nl: usize,
    co: S,
    (xg, zt, dzt, b, gb, es, iv): ObsArgs<'_>,
) {
    let b: [&[Lane]; J] = std::array::from_fn(|j| &b[j * nl..][..nl]);
    let mut acc = [S::splat(tok, 0.0); 4];
    for (a, bj) in acc.iter_mut().zip(&b) {
        for (bv, zv) in bj.iter().zip(zt) {
            *a = S::load(tok, bv).mul_add(S::load(tok, zv), *a);
        }
    }
    let mut xv = [0.0; 4];
    xv[..J].copy_from_slice(&xg[..J]);
    let e = S::load(tok, &xv).sub(S::hsum4(acc));
    S::load(tok, es).add(e.mul(e)).store(es);
    let mut qa = [0.0; 4];
    co.mul(e).mul(S::load(tok, iv)).store(&mut qa);
    let q: [S; J] = std::array::from_fn(|j| S::splat(tok, qa[j]));
    for (j, gj) in gb.chunks_exact_mut(nl).take(J).enumerate() {
        for (gv, zv) in gj.iter_mut().zip(zt) {
            q[j].neg_mul_add(S::load(tok, zv), S::load(tok, gv))
                .store(gv);
        }
    }
    for (v, dv) in dzt.iter_mut().enumerate() {
        let mut d = S::load(tok, dv);
        for (q, bj) in q.iter().zip(&b) {
            d = q.neg_mul_add(S::load(tok, &bj[v]), d);
        }
        d.store(dv);
    }
}

type LatentArgs<'a> = (
    &'a Layout,
    &'a [f64],
    SeqRef<'a>,
    &'a [f64],
    LossSettings,
    f64,
    f64,
);

/// Everything between the encoder's output and its gradient: z, the transition, the initial
/// state and the observations. Writes ∂L/∂z into `ws.dmu` (T×M) and the gradients of the
/// latent-model parameters into `grad`; returns the loss without the entropy term. `V` lanes
/// per tile, `tiles` tiles: nl = V·tiles lanes ≥ M/4.
#[inline(always)]
fn latent<S: Simd, const V: usize>(
    tok: S::Token,
    (l, params, seq, eps, set, c_l, c_o): LatentArgs<'_>,
    tiles: usize,
    ws: &mut Workspace,
    grad: &mut [f64],
) -> f64 {
    let (m, n, p, k) = (l.m, l.n, l.p, l.k);
    let x = seq.x;
    let len = x.len() / n;
    let tf = len as f64;
    let nl = V * tiles;
    let mp = 4 * nl;
    let steps = len.saturating_sub(1);
    let variant = l.variant;
    let w = &params[l.w.clone()];
    let alpha = &params[l.alpha.clone()];
    let alpha_sum: f64 = alpha.iter().sum();

    // ---- reparameterised sample, padded ----------------------------------------------------
    size(&mut ws.z, len * nl);
    for (t, zr) in ws.z.chunks_exact_mut(nl).enumerate() {
        let (zr, pad) = zr.as_flattened_mut().split_at_mut(m);
        for (((zi, &mu), &sd), &e) in zr
            .iter_mut()
            .zip(&ws.mu[t * m..][..m])
            .zip(&ws.sd[t * m..][..m])
            .zip(&eps[t * m..][..m])
        {
            *zi = sd.mul_add(e, mu);
        }
        pad.fill(0.0);
    }

    // ---- padded copies of the parameters -------------------------------------------------------
    fit(&mut ws.wt, m * nl);
    fit(&mut ws.wr, m * nl);
    fit(&mut ws.av, nl);
    fit(&mut ws.hv, nl);
    fit(&mut ws.iv, nl);
    fit(&mut ws.ct, k * nl);
    fit(&mut ws.bp, n * nl);
    {
        let (wt, wr) = (ws.wt.as_flattened_mut(), ws.wr.as_flattened_mut());
        for i in 0..m {
            for j in 0..m {
                wt[j * mp + i] = w[i * m + j];
                wr[i * mp + j] = w[i * m + j];
            }
        }
        ws.av.as_flattened_mut()[..m].copy_from_slice(&params[l.a.clone()]);
        ws.hv.as_flattened_mut()[..m].copy_from_slice(&params[l.h.clone()]);
        let ct = ws.ct.as_flattened_mut();
        for i in 0..m {
            for kk in 0..k {
                ct[kk * mp + i] = params[l.c.start + i * k + kk];
            }
        }
        let bp = ws.bp.as_flattened_mut();
        for j in 0..n {
            bp[j * mp..][..m].copy_from_slice(&params[l.b.start + j * m..][..m]);
        }
    }
    let mut log_sigma_z_sum = 0.0;
    {
        let iv = ws.iv.as_flattened_mut();
        for i in 0..m {
            let sz = set.sigma_z_min + params[l.log_sigma_z.start + i].exp();
            iv[i] = 1.0 / (sz * sz);
            log_sigma_z_sum += sz.ln();
        }
    }

    // ---- the transition, in blocks of TW steps ---------------------------------------------
    // Per block: φ and φ' of its steps, then forward and backward of each step, then the
    // block's share of dW. φ, φ', g and the buckets live in block-sized buffers (TW rows, in L1)
    // rather than T-sized ones: the whole-sequence version streamed ≈ 0.5 MB more through the
    // caches per update.
    //
    // φ(z_t) and φ'(z_t) (the diagonal of ∂φ/∂z): Dendritic, φ_i = Σ_b α_b relu(z_i − θ_ib),
    // through the sorted thresholds (see `SortedBasis`): per (t, i) one bucket k_ti,
    // φ = z S_α[k] − S_αθ[k], φ' = S_α[k]. Clipped adds −(Σ_b α_b) relu(z_i), so φ'_i gets
    // −(Σ_b α_b)[z_i > 0].
    //
    // r_t = z_{t+1} − F(z_t); loss part c_l · ½ Σ r²/σ_z² ⇒ with g_t = c_l r_t/σ_z²:
    //   dz_{t+1} += g_t;  dF = −g_t
    //   dA_i = −Σ_t g_ti z_ti;  dh = −Σ_t g_t;  dW_ij = −Σ_t g_ti φ_tj (diagonal masked);
    //   dC_ik = −Σ_t g_ti s_{t+1,k};  dφ_t = −Wᵀ g_t;  dz_t += −A∘g_t + φ'(z_t)∘dφ_t
    // Dendritic: dα, dθ from the per-(i, bucket) sums of dφ_ti (see `SortedBasis`); clipped adds
    //   −Σ_t Σ_i dφ_ti relu(z_ti) to every dα_b.
    // Each step's F is a register-resident row of V lanes updated by M broadcast-multiply-adds
    // (columns of W), and likewise dφ (rows of W).
    size(&mut ws.phi, TW * nl);
    size(&mut ws.phid, TW * nl);
    size(&mut ws.g, TW * nl);
    size(&mut ws.kidx, TW * mp);
    fit(&mut ws.dz, len * nl);
    size(&mut ws.dphi, TW * nl);
    fit(&mut ws.ga, nl);
    fit(&mut ws.gh, nl);
    fit(&mut ws.rsq, nl);
    fit(&mut ws.gc, k * nl);
    fit(&mut ws.gw, m * nl);
    fit(&mut ws.acc_relu, m);
    fit(&mut ws.unit_off, nl);
    if variant != Variant::Relu {
        ws.basis.build(m, p, nl, alpha, &params[l.theta.clone()]);
        for (i, o) in ws.unit_off.as_flattened_mut()[..m].iter_mut().enumerate() {
            *o = f64::from_bits((i * (p + 1)) as u64);
        }
    }
    let clipped = variant == Variant::ClippedDendritic;
    // k_ti by counting with vector compares, P·⌈M/4⌉ compare-and-adds per step, when
    // P ≤ COUNT_MAX_P; by the binary search otherwise. Measured at M = P = 20: the search
    // (5 dependent loads and compares per unit, then the prefix lookup) cost ≈ 70 instructions
    // per (t, i) in callgrind, the count ≈ 25, and the update went from 860 to 530 µs CPU.
    let count = p <= COUNT_MAX_P;
    {
        // The block's view of the buffers, built once; t0 moves with the block.
        let mut blk = Block {
            m,
            k,
            nl,
            tiles,
            c_l,
            s: seq.s,
            t0: 0,
            z: &ws.z,
            dz: &mut ws.dz,
            phi: &mut ws.phi,
            phid: &mut ws.phid,
            g: &mut ws.g,
            dphi: &mut ws.dphi,
            wt: &ws.wt,
            wr: &ws.wr,
            ct: &ws.ct,
            av: &ws.av,
            hv: &ws.hv,
            iv: &ws.iv,
            ga: &mut ws.ga,
            gh: &mut ws.gh,
            rsq: &mut ws.rsq,
            gc: &mut ws.gc,
            gw: &mut ws.gw,
        };
        let (kidx, basis, acc_relu, unit_off) =
            (&mut ws.kidx, &mut ws.basis, &mut ws.acc_relu, &ws.unit_off);
        let mut t0 = 0;
        while t0 < steps {
            let nb = TW.min(steps - t0);
            let zb = &blk.z[t0 * nl..(t0 + nb) * nl];
            // φ and φ'
            if variant == Variant::Relu {
                for ((fr, fdr), zr) in blk.phi.iter_mut().zip(blk.phid.iter_mut()).zip(zb) {
                    for q in 0..4 {
                        fr[q] = relu(zr[q]);
                        fdr[q] = if zr[q] > 0.0 { 1.0 } else { 0.0 };
                    }
                }
            } else {
                let ts_t = basis.transposed();
                for (((fr, fdr), zr), kr) in blk
                    .phi
                    .chunks_exact_mut(nl)
                    .zip(blk.phid.chunks_exact_mut(nl))
                    .zip(zb.chunks_exact(nl))
                    .zip(kidx.chunks_exact_mut(mp))
                {
                    // flat bucket indices i·(P+1) + k_ti, as u64 bit patterns, in φ's row (overwritten
                    // below)
                    if count {
                        for tile in 0..tiles {
                            let o = tile * V;
                            let zv = load::<S, V>(tok, arr(&zr[o..]));
                            let mut c = load::<S, V>(tok, arr(&unit_off[o..]));
                            for row in ts_t.chunks_exact(nl) {
                                let th = load::<S, V>(tok, arr(&row[o..]));
                                for v in 0..V {
                                    c[v] = zv[v].gt_count(th[v], c[v]);
                                }
                            }
                            store(&c, arr_mut::<V>(&mut fr[o..]));
                        }
                    } else {
                        let fr = fr.as_flattened_mut();
                        for (j, &zi) in zr.as_flattened()[..m].iter().enumerate() {
                            fr[j] = f64::from_bits((j * (p + 1) + basis.bucket(j, zi)) as u64);
                        }
                        fr[m..].fill(0.0);
                    }
                    // φ = z S_α[k] − S_αθ[k], φ' = S_α[k] by gathers from the prefix table
                    // (scalar lookups: ≈ 20 instructions per unit in callgrind).
                    let table = basis.prefix_table();
                    let (asum, zero) = (S::splat(tok, alpha_sum), S::splat(tok, 0.0));
                    for ((fv, fdv), (zv, kv)) in fr
                        .iter_mut()
                        .zip(fdr.iter_mut())
                        .zip(zr.iter().zip(kr.chunks_exact_mut(4)))
                    {
                        let z4 = S::load(tok, zv);
                        let kv: &mut [u64; 4] = kv.try_into().unwrap();
                        let (sa, sat) = S::load(tok, fv).gather2(table, kv);
                        let (mut f, mut fd) = (z4.mul_sub(sa, sat), sa);
                        if clipped {
                            f = asum.neg_mul_add(z4.relu(), f);
                            fd = asum.neg_mul_add(zero.lt_one(z4), fd);
                        }
                        f.store(fv);
                        fd.store(fdv);
                    }
                }
            }
            // Forward of every step of the block (g_t needs nothing from the backward), then
            // the backward of every step, then the bucket sums, then dW: two steps (rows of dW)
            // at a time, with the shared W column, W row or φ row loaded once. Each step's sums
            // keep their order, so the bits are those of one step at a time; measured (perf
            // samples), one step at a time ran as one chain of M dependent multiply-adds per
            // lane (F, dφ) or of 32 (dW), latency-bound.
            blk.t0 = t0;
            let pairs = 2 * V <= 12;
            by_twos!(nb, pairs, |q, R| blk.forward::<S, V, R>(tok, q));
            by_twos!(nb, pairs, |q, R| blk.backward::<S, V, R>(tok, q));
            if variant != Variant::Relu {
                for q in 0..nb {
                    let t = t0 + q;
                    let dr = &blk.dphi[q * nl..][..nl].as_flattened()[..m];
                    let zr = &blk.z[t * nl..][..nl].as_flattened()[..m];
                    for ((&df, &zi), &bk) in dr.iter().zip(zr).zip(&kidx[q * mp..][..m]) {
                        basis.accumulate(bk as usize, df, zi);
                    }
                    if clipped {
                        for ((ar, &zi), &df) in acc_relu.iter_mut().zip(zr).zip(dr) {
                            *ar += df * relu(zi);
                        }
                    }
                }
            }
            // dW_ij −= Σ_t g_ti φ_tj over the block: per row i a register-resident row of
            // lanes over j, two rows at a time.
            by_twos!(m, pairs, |i, R| blk.dw::<S, V, R>(tok, i, nb));
            t0 += nb;
        }
    }

    // ---- gradients of the transition parameters, unpadded ----------------------------------
    {
        let (ga, gh, gw) = (
            ws.ga.as_flattened(),
            ws.gh.as_flattened(),
            ws.gw.as_flattened(),
        );
        grad[l.a.clone()].copy_from_slice(&ga[..m]);
        grad[l.h.clone()].copy_from_slice(&gh[..m]);
        for i in 0..m {
            let row = &mut grad[l.w.start + i * m..][..m];
            row.copy_from_slice(&gw[i * mp..][..m]);
            row[i] = 0.0; // W keeps a zero diagonal
        }
        let gc = ws.gc.as_flattened();
        for i in 0..m {
            for kk in 0..k {
                grad[l.c.start + i * k + kk] = gc[kk * mp + i];
            }
        }
    }
    if variant != Variant::Relu {
        let galpha =
            ws.basis
                .gradients(alpha, &params[l.theta.clone()], &mut grad[l.theta.clone()]);
        let relu_total: f64 = ws.acc_relu.iter().sum();
        for (g, &ga) in grad[l.alpha.clone()].iter_mut().zip(galpha) {
            *g = if variant == Variant::ClippedDendritic {
                ga - relu_total
            } else {
                ga
            };
        }
    }
    // σ_z = σ_min + e^ℓ: loss part c_l [½ Σ_i rsq_i/σ_i² + (T−1) Σ_i log σ_i]
    //   ⇒ dℓ_i = c_l [−rsq_i/σ_i³ + (T−1)/σ_i] e^ℓ_i.
    let mut trans_sq = 0.0;
    {
        let (rsq, iv) = (ws.rsq.as_flattened(), ws.iv.as_flattened());
        for i in 0..m {
            let el = params[l.log_sigma_z.start + i].exp();
            let sz = set.sigma_z_min + el;
            trans_sq += rsq[i] * iv[i];
            grad[l.log_sigma_z.start + i] = c_l * (-rsq[i] / (sz * sz * sz) + (tf - 1.0) / sz) * el;
        }
    }
    let latent_trans = 0.5 * trans_sq + (tf - 1.0) * log_sigma_z_sum;

    // ---- initial state: c_l [½ Σ (z_1 − z0)²/σ_z0² + Σ log σ_z0] -------------------------
    // ⇒ dz_1 += c_l d/σ_z0², dz0 −= the same, dℓ_z0 = c_l (1 − d²/σ_z0²), d = z_1 − z0.
    let mut init_term = 0.0;
    {
        let (z1, dz1) = (ws.z[..nl].as_flattened(), ws.dz[..nl].as_flattened_mut());
        for i in 0..m {
            let lz0 = params[l.log_sigma_z0.start + i];
            let inv_var = (-2.0 * lz0).exp();
            let z0 = match set.initial_state {
                InitialState::PerSequence => params[l.z0.start + seq.z0_index * m + i],
                InitialState::Encoder => 0.0,
            };
            let d = z1[i] - z0;
            init_term += 0.5 * d * d * inv_var + lz0;
            let gz = c_l * d * inv_var;
            dz1[i] += gz;
            if set.initial_state == InitialState::PerSequence {
                grad[l.z0.start + seq.z0_index * m + i] = -gz;
            }
            grad[l.log_sigma_z0.start + i] = c_l * (1.0 - d * d * inv_var);
        }
    }

    // ---- observations: c_o [½ Σ e²/σ_x² + T Σ log σ_x],  e_t = x_t − B z_t ---------------
    // ⇒ with q_t = c_o e_t/σ_x²: dB_j· = −Σ_t q_tj z_t, dz_t −= Bᵀ q_t,
    //   dℓ_x,j = c_o (T − Σ_t e_tj²/σ_x,j²).
    // Observations in groups of four: the four dot products B_j·z_t of a group reduced together
    // (`hsum4`, the same pairwise order as one at a time), e, e² and q for the group in one lane,
    // then dz_t loaded once for all of the group's rows. Measured (perf samples): one row at a
    // time, with a store and four scalar loads per reduction and dz_t loaded and stored per
    // row, this pass was ≈ 10 % of an update.
    let mut obs_term = 0.0;
    let groups = n.div_ceil(4);
    fit(&mut ws.gb, n * nl);
    fit(&mut ws.esq, 4 * groups);
    {
        let mut inv_var = vec![0.0; 4 * groups];
        for (j, iv) in inv_var[..n].iter_mut().enumerate() {
            *iv = (-2.0 * params[l.log_sigma_x.start + j]).exp();
        }
        let Workspace {
            z, dz, bp, gb, esq, ..
        } = ws;
        let (esq4, iv4) = (lanes_mut(esq), lanes(&inv_var));
        let co = S::splat(tok, c_o);
        for ((t, zt), dzt) in z.chunks_exact(nl).enumerate().zip(dz.chunks_exact_mut(nl)) {
            for (gi, (es, iv)) in esq4.iter_mut().zip(iv4).enumerate() {
                let j0 = 4 * gi;
                let args = (
                    &x[t * n + j0..],
                    zt,
                    &mut *dzt,
                    &bp[j0 * nl..],
                    &mut gb[j0 * nl..],
                    es,
                    iv,
                );
                match n - j0 {
                    1 => obs_group::<S, 1>(tok, nl, co, args),
                    2 => obs_group::<S, 2>(tok, nl, co, args),
                    3 => obs_group::<S, 3>(tok, nl, co, args),
                    _ => obs_group::<S, 4>(tok, nl, co, args),
                }
            }
        }
        let gb = gb.as_flattened();
        for j in 0..n {
            grad[l.b.start + j * m..][..m].copy_from_slice(&gb[j * mp..][..m]);
            let lx = params[l.log_sigma_x.start + j];
            obs_term += 0.5 * esq[j] * inv_var[j] + tf * lx;
            grad[l.log_sigma_x.start + j] = c_o * (tf - esq[j] * inv_var[j]);
        }
    }

    // ---- to the encoder ------------------------------------------------------------------------
    // z = μ + e^ℓ ε ⇒ dμ = dz, dℓ = dz ∘ σ ∘ ε; the entropy −c_l Σ ℓ adds −c_l to dℓ. Both go
    // out unpadded (dℓ over σ in `ws.sd`) for the MLP part of the encoder; the sums the linear
    // heads need (see `EncView::backward`) are computed here in lanes. Measured (callgrind, per
    // `vi_update` update): inside the encoder's own loop over t, 13 unpadded axpys per step,
    // ≈ 1.3 M instructions; per step here with each head row's lanes loaded, updated and
    // stored, ≈ 0.35 M; now as products over t with register-resident rows (two head rows per
    // coefficient series, one broadcast for both), ≈ 0.1 M.
    let smoothing = l.encoder == EncoderKind::Smoothing;
    let heads = if smoothing { 4 * n + 1 } else { 2 * n + 1 };
    fit(&mut ws.head, heads * nl);
    // Coefficient series per step: u_t (N), for Smoothing Δ_t (N), then 1.
    let na = if smoothing { 2 * n + 1 } else { n + 1 };
    const HB: usize = 64;
    size(&mut ws.dl, HB * nl);
    size(&mut ws.coef, HB * na);
    {
        let Workspace {
            dz,
            dmu,
            sd,
            u,
            head,
            dl,
            coef,
            ..
        } = ws;
        // Head rows fed by coefficient a: from dμ (none for the constant), from dℓ.
        let rows = |a: usize| -> (Option<usize>, usize) {
            if a < n {
                (Some(a), n + a)
            } else if a == na - 1 {
                (None, 2 * n)
            } else {
                let j = a - n;
                (Some(2 * n + 1 + j), 3 * n + 1 + j)
            }
        };
        // In blocks of HB steps: the block's dμ, dℓ and coefficients, then its share of the
        // head sums (accumulators loaded from and stored to `head` around each block: the same
        // additions in the same order as one pass over t). Measured (perf samples): one pass
        // over all T per coefficient streamed dz and dℓ (2 × 160 kB) from L2 seven times,
        // ≈ 8 % of an update.
        let mut t0 = 0;
        while t0 < len {
            let nb = HB.min(len - t0);
            let range = t0..t0 + nb;
            for (q, ((((dzr, dmr), sdr), dlr), cf)) in dz[range.start * nl..range.end * nl]
                .chunks_exact(nl)
                .zip(dmu[range.start * m..range.end * m].chunks_exact_mut(m))
                .zip(sd[range.start * m..range.end * m].chunks_exact_mut(m))
                .zip(dl.chunks_exact_mut(nl))
                .zip(coef.chunks_exact_mut(na))
                .enumerate()
            {
                let t = t0 + q;
                dmr.copy_from_slice(&dzr.as_flattened()[..m]);
                let (dlv, pad) = dlr.as_flattened_mut().split_at_mut(m);
                for (((d, s), &dzi), &e) in dlv
                    .iter_mut()
                    .zip(sdr.iter_mut())
                    .zip(dmr.iter())
                    .zip(&eps[t * m..][..m])
                {
                    *d = (dzi * *s).mul_add(e, -c_l);
                    *s = *d;
                }
                pad.fill(0.0);
                cf[..n].copy_from_slice(&u[t * n..][..n]);
                if smoothing {
                    let (tp, tn) = (t.saturating_sub(1), (t + 1).min(len - 1));
                    for j in 0..n {
                        cf[n + j] = x[tp * n + j] - 2.0 * x[t * n + j] + x[tn * n + j];
                    }
                }
                cf[na - 1] = 1.0;
            }
            let (cb, dzb, dlb) = (
                &coef[..nb * na],
                &dz[range.start * nl..range.end * nl],
                &dl[..nb * nl],
            );
            for a in 0..na {
                let (rm, rl) = rows(a);
                for tile in 0..tiles {
                    let o = tile * V;
                    assert!(o + V <= nl);
                    let mut al = load::<S, V>(tok, arr(&head[rl * nl + o..]));
                    if let Some(rm) = rm {
                        let am_row = arr_mut::<V>(&mut head[rm * nl + o..]);
                        let mut am = load::<S, V>(tok, am_row);
                        for ((cf, dzr), dlr) in cb
                            .chunks_exact(na)
                            .zip(dzb.chunks_exact(nl))
                            .zip(dlb.chunks_exact(nl))
                        {
                            let c = cf[a];
                            madd(tok, &mut am, c, arr::<V>(&dzr[o..]));
                            madd(tok, &mut al, c, arr::<V>(&dlr[o..]));
                        }
                        store(&am, am_row);
                    } else {
                        for (cf, dlr) in cb.chunks_exact(na).zip(dlb.chunks_exact(nl)) {
                            madd(tok, &mut al, cf[a], arr::<V>(&dlr[o..]));
                        }
                    }
                    store(&al, arr_mut::<V>(&mut head[rl * nl + o..]));
                }
            }
            t0 += nb;
        }
    }

    c_l * (init_term + latent_trans) + c_o * obs_term
}

/// Manifold-attractor regulariser over the first ⌊share·M⌋ units, added to the loss and its
/// gradient: λ Σ_i [(A_ii − 1)² + Σ_j W_ij² + h_i²] ⇒ dA_i = 2λ(A_i − 1), dW_ij = 2λ W_ij,
/// dh_i = 2λ h_i.
pub fn regulariser(l: &Layout, params: &[f64], lambda: f64, share: f64, grad: &mut [f64]) -> f64 {
    if lambda == 0.0 {
        return 0.0;
    }
    let m = l.m;
    let units = ((share * m as f64).floor() as usize).min(m);
    let mut r = 0.0;
    for i in 0..units {
        let ai = params[l.a.start + i];
        r += (ai - 1.0) * (ai - 1.0);
        grad[l.a.start + i] += 2.0 * lambda * (ai - 1.0);
        for j in 0..m {
            if j != i {
                let wij = params[l.w.start + i * m + j];
                r += wij * wij;
                grad[l.w.start + i * m + j] += 2.0 * lambda * wij;
            }
        }
        let hi = params[l.h.start + i];
        r += hi * hi;
        grad[l.h.start + i] += 2.0 * lambda * hi;
    }
    lambda * r
}
