//! The transition term: c_l [½ Σ_t Σ_i r_ti²/σ_z,i² + (T−1) Σ_i log σ_z,i] with
//! r_t = z_{t+1} − F(z_t, s_{t+1}), F(z, s) = A ∘ z + W φ(z) + h + C s (t = 0..T−2 here).
//!
//! φ(z_t) and φ′(z_t) (the diagonal of ∂φ/∂z): Dendritic, φ_i = Σ_b α_b relu(z_i − θ_ib),
//! through the sorted thresholds (see `SortedBasis`): per (t, i) one bucket k_ti,
//! φ = z S_α[k] − S_αθ[k], φ′ = S_α[k]. Clipped adds −(Σ_b α_b) relu(z_i), so φ′_i gets
//! −(Σ_b α_b)[z_i > 0]. Relu: φ = relu(z).
//!
//! Gradient, with g_t = c_l r_t/σ_z²:
//! ```text
//! dz_{t+1} += g_t;  dF = −g_t
//! dA_i = −Σ_t g_ti z_ti;  dh = −Σ_t g_t;  dW_ij = −Σ_t g_ti φ_tj (diagonal masked);
//! dC_ik = −Σ_t g_ti s_{t+1,k};  dφ_t = −Wᵀ g_t;  dz_t += −A∘g_t + φ′(z_t)∘dφ_t
//! ```
//! Dendritic: dα, dθ from the per-(i, bucket) sums of dφ_ti (see `SortedBasis`); clipped adds
//! −Σ_t Σ_i dφ_ti relu(z_ti) to every dα_b. σ_z = σ_min + e^ℓ:
//! dℓ_i = c_l [−Σ_t r_ti²/σ_i³ + (T−1)/σ_i] e^ℓ_i.
//!
//! The term at t reads only z_t and z_{t+1}, so each step's forward and backward are done
//! together, in blocks of [`TW`] steps: per block φ and φ′ of its steps, then the forward of
//! each step, then the backward of each step, then the block's share of dW. φ, φ′, g and the
//! buckets live in block-sized buffers (in L1) rather than T-sized ones: the whole-sequence
//! version streamed ≈ 0.5 MB more through the caches per update. Each step's F is a
//! register-resident row of V lanes updated by M broadcast-multiply-adds (columns of W), and
//! likewise dφ (rows of W); on plain arrays LLVM scalarised these rows.

use super::super::basis::SortedBasis;
use super::super::simd::{arr, arr_mut, load, madd, nmadd, relu, store, Lane, Simd};
use super::{fit, size, Eval, Workspace};
use plrnn_nostd::Variant;

/// Largest P for which the bucket of every (t, i) is found by counting (vector compares against
/// all P thresholds, P·⌈M/4⌉ compare-and-adds per step) rather than by binary search. Measured
/// at M = P = 20: the search (5 dependent loads and compares per unit, then the prefix lookup)
/// cost ≈ 70 instructions per (t, i) in callgrind, the count ≈ 25, and the update went from
/// 860 to 530 µs CPU.
const COUNT_MAX_P: usize = 32;

/// Time steps per block of the transition.
const TW: usize = 32;

/// Adds the term's part of ∂L/∂z to `ws.dz` (zeroed by the caller; rows of `nl` = V·tiles
/// lanes), writes the gradients of A, W, h, C, α, θ and log σ_z into `grad`, and returns the
/// term without the factor c_l.
#[cfg_attr(not(plrnn_unoptimised), inline(always))]
pub(super) fn term<S: Simd, const V: usize>(
    tok: S::Token,
    ev: &Eval<'_>,
    tiles: usize,
    ws: &mut Workspace,
    grad: &mut [f64],
) -> f64 {
    let (l, params, c_l) = (ev.l, ev.params, ev.c_l);
    let (m, p, k) = (l.core.m, l.core.p, l.core.k);
    let nl = V * tiles;
    let mp = 4 * nl;
    let steps = ev.len.saturating_sub(1);
    let variant = l.core.variant;
    let alpha = &params[l.core.alpha.clone()];
    let alpha_sum: f64 = alpha.iter().sum();
    let log_sigma_z_sum = pad_parameters(ev, nl, ws);

    size(&mut ws.phi, TW * nl);
    size(&mut ws.phid, TW * nl);
    size(&mut ws.g, TW * nl);
    size(&mut ws.kidx, TW * mp);
    size(&mut ws.dphi, TW * nl);
    fit(&mut ws.ga, nl);
    fit(&mut ws.gh, nl);
    fit(&mut ws.rsq, nl);
    fit(&mut ws.gc, k * nl);
    fit(&mut ws.gw, m * nl);
    fit(&mut ws.acc_relu, m);
    fit(&mut ws.unit_off, nl);
    if variant != Variant::Relu {
        ws.basis
            .build(m, p, nl, alpha, &params[l.core.theta.clone()]);
        for (i, o) in ws.unit_off.as_flattened_mut()[..m].iter_mut().enumerate() {
            *o = f64::from_bits((i * (p + 1)) as u64);
        }
    }
    let phi_pass = PhiPass {
        variant,
        m,
        p,
        nl,
        tiles,
        count: p <= COUNT_MAX_P,
        alpha_sum,
    };
    let clipped = variant == Variant::ClippedDendritic;
    // The block's view of the buffers, built once; t0 moves with the block.
    let mut blk = Block {
        m,
        k,
        nl,
        tiles,
        c_l,
        s: ev.seq.s,
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
        phi_pass.block::<S, V>(tok, basis, unit_off, zb, blk.phi, blk.phid, kidx);
        // Forward of every step of the block (g_t needs nothing from the backward), then the
        // backward of every step, then the bucket sums, then dW: two steps (rows of dW) at a
        // time, with the shared W column, W row or φ row loaded once. Each step's sums keep
        // their order, so the bits are those of one step at a time; measured (perf samples),
        // one step at a time ran as one chain of M dependent multiply-adds per lane (F, dφ) or
        // of 32 (dW), latency-bound.
        blk.t0 = t0;
        let pairs = 2 * V <= 12;
        blk.in_pairs::<S, V>(tok, Pass::Forward, nb, pairs);
        blk.in_pairs::<S, V>(tok, Pass::Backward, nb, pairs);
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
        // dW_ij −= Σ_t g_ti φ_tj over the block: per row i a register-resident row of lanes
        // over j, two rows at a time.
        blk.in_pairs::<S, V>(tok, Pass::Dw { steps: nb }, m, pairs);
        t0 += nb;
    }
    gradients(ev, nl, ws, grad);
    sigma_z(ev, ws, grad, log_sigma_z_sum)
}

/// The padded copies of the parameters that the transition reads (Wᵀ, W, A, h, C, 1/σ_z²;
/// see the `Workspace` fields). Returns Σ_i log σ_z,i.
#[cfg_attr(not(plrnn_unoptimised), inline(always))]
fn pad_parameters(ev: &Eval<'_>, nl: usize, ws: &mut Workspace) -> f64 {
    let (l, params, set) = (ev.l, ev.params, ev.set);
    let (m, k) = (l.core.m, l.core.k);
    let mp = 4 * nl;
    let w = &params[l.core.w.clone()];
    fit(&mut ws.wt, m * nl);
    fit(&mut ws.wr, m * nl);
    fit(&mut ws.av, nl);
    fit(&mut ws.hv, nl);
    fit(&mut ws.iv, nl);
    fit(&mut ws.ct, k * nl);
    let (wt, wr) = (ws.wt.as_flattened_mut(), ws.wr.as_flattened_mut());
    for i in 0..m {
        for j in 0..m {
            wt[j * mp + i] = w[i * m + j];
            wr[i * mp + j] = w[i * m + j];
        }
    }
    ws.av.as_flattened_mut()[..m].copy_from_slice(&params[l.core.a.clone()]);
    ws.hv.as_flattened_mut()[..m].copy_from_slice(&params[l.core.h.clone()]);
    let ct = ws.ct.as_flattened_mut();
    for i in 0..m {
        for kk in 0..k {
            ct[kk * mp + i] = params[l.core.c.start + i * k + kk];
        }
    }
    let mut log_sigma_z_sum = 0.0;
    let iv = ws.iv.as_flattened_mut();
    for i in 0..m {
        let sz = set.sigma_z_min + params[l.log_sigma_z.start + i].exp();
        iv[i] = 1.0 / (sz * sz);
        log_sigma_z_sum += sz.ln();
    }
    log_sigma_z_sum
}

/// What the φ pass of a block needs besides its buffers.
struct PhiPass {
    variant: Variant,
    m: usize,
    p: usize,
    nl: usize,
    tiles: usize,
    /// Find the buckets by counting (P ≤ [`COUNT_MAX_P`]) rather than by binary search.
    count: bool,
    /// Σ_b α_b (the clipped variant's slope).
    alpha_sum: f64,
}

impl PhiPass {
    /// φ(z_t) and φ′(z_t) of the block's steps `zb` into `phi` and `phid`; for the dendritic
    /// variants the flat bucket indices i·(P+1) + k_ti into `kidx` (rows of 4·nl).
    #[allow(clippy::too_many_arguments)]
    #[cfg_attr(not(plrnn_unoptimised), inline(always))]
    fn block<S: Simd, const V: usize>(
        &self,
        tok: S::Token,
        basis: &SortedBasis,
        unit_off: &[Lane],
        zb: &[Lane],
        phi: &mut [Lane],
        phid: &mut [Lane],
        kidx: &mut [u64],
    ) {
        let PhiPass {
            variant,
            m,
            p,
            nl,
            tiles,
            count,
            alpha_sum,
        } = *self;
        let mp = 4 * nl;
        let clipped = variant == Variant::ClippedDendritic;
        if variant == Variant::Relu {
            for ((fr, fdr), zr) in phi.iter_mut().zip(phid.iter_mut()).zip(zb) {
                for q in 0..4 {
                    fr[q] = relu(zr[q]);
                    fdr[q] = if zr[q] > 0.0 { 1.0 } else { 0.0 };
                }
            }
        } else {
            let ts_t = basis.transposed();
            for (((fr, fdr), zr), kr) in phi
                .chunks_exact_mut(nl)
                .zip(phid.chunks_exact_mut(nl))
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
    }
}

/// The gradients of A, W (zero diagonal), h, C, α and θ, unpadded into `grad`.
#[cfg_attr(not(plrnn_unoptimised), inline(always))]
fn gradients(ev: &Eval<'_>, nl: usize, ws: &mut Workspace, grad: &mut [f64]) {
    let (l, params) = (ev.l, ev.params);
    let (m, k) = (l.core.m, l.core.k);
    let mp = 4 * nl;
    let variant = l.core.variant;
    let alpha = &params[l.core.alpha.clone()];
    {
        let (ga, gh, gw) = (
            ws.ga.as_flattened(),
            ws.gh.as_flattened(),
            ws.gw.as_flattened(),
        );
        grad[l.core.a.clone()].copy_from_slice(&ga[..m]);
        grad[l.core.h.clone()].copy_from_slice(&gh[..m]);
        for i in 0..m {
            let row = &mut grad[l.core.w.start + i * m..][..m];
            row.copy_from_slice(&gw[i * mp..][..m]);
            row[i] = 0.0; // W keeps a zero diagonal
        }
        let gc = ws.gc.as_flattened();
        for i in 0..m {
            for kk in 0..k {
                grad[l.core.c.start + i * k + kk] = gc[kk * mp + i];
            }
        }
    }
    if variant != Variant::Relu {
        let galpha = ws.basis.gradients(
            alpha,
            &params[l.core.theta.clone()],
            &mut grad[l.core.theta.clone()],
        );
        let relu_total: f64 = ws.acc_relu.iter().sum();
        for (g, &ga) in grad[l.core.alpha.clone()].iter_mut().zip(galpha) {
            *g = if variant == Variant::ClippedDendritic {
                ga - relu_total
            } else {
                ga
            };
        }
    }
}

/// The gradient of log σ_z into `grad`; returns ½ Σ_i rsq_i/σ_z,i² + (T−1) Σ_i log σ_z,i
/// (`log_sigma_z_sum` = Σ_i log σ_z,i).
#[cfg_attr(not(plrnn_unoptimised), inline(always))]
fn sigma_z(ev: &Eval<'_>, ws: &Workspace, grad: &mut [f64], log_sigma_z_sum: f64) -> f64 {
    let (l, params, set, c_l) = (ev.l, ev.params, ev.set, ev.c_l);
    let m = l.core.m;
    let tf = ev.len as f64;
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
    0.5 * trans_sq + (tf - 1.0) * log_sigma_z_sum
}

/// One block of the transition's steps and the buffers its forward and backward passes read and
/// write (see [`term`]); rows of `nl` lanes, block rows (φ, φ', g, dφ) indexed by the step q
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

/// The passes of a [`Block`] that go over rows (steps or rows of dW) one or two at a time.
#[derive(Clone, Copy)]
enum Pass {
    /// [`Block::forward`] of the block's steps.
    Forward,
    /// [`Block::backward`] of the block's steps.
    Backward,
    /// [`Block::dw`] of every row of dW over the block's first `steps` steps.
    Dw { steps: usize },
}

impl Block<'_> {
    /// `pass` for rows 0..n: two rows per call (R = 2) while `pairs` holds and two rows are
    /// left, then one (R = 1). (A method with the calls written out rather than a helper
    /// taking closures: a closure is compiled as its own function, without the target
    /// features of the kernel copy it sits in, and was not inlined; its intrinsics became
    /// calls.)
    #[cfg_attr(not(plrnn_unoptimised), inline(always))]
    fn in_pairs<S: Simd, const V: usize>(
        &mut self,
        tok: S::Token,
        pass: Pass,
        n: usize,
        pairs: bool,
    ) {
        let mut i = 0;
        while i < n {
            if pairs && i + 1 < n {
                match pass {
                    Pass::Forward => self.forward::<S, V, 2>(tok, i),
                    Pass::Backward => self.backward::<S, V, 2>(tok, i),
                    Pass::Dw { steps } => self.dw::<S, V, 2>(tok, i, steps),
                }
                i += 2;
            } else {
                match pass {
                    Pass::Forward => self.forward::<S, V, 1>(tok, i),
                    Pass::Backward => self.backward::<S, V, 1>(tok, i),
                    Pass::Dw { steps } => self.dw::<S, V, 1>(tok, i, steps),
                }
                i += 1;
            }
        }
    }

    /// Steps q0..q0+R of the block, forward: F(z_t), r_t = z_{t+1} − F, g_t = c_l r_t/σ_z², and
    /// their sums (rsq, dA, dh, dC, dz_{t+1} += g_t); g_t into `g`.
    #[cfg_attr(not(plrnn_unoptimised), inline(always))]
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
    #[cfg_attr(not(plrnn_unoptimised), inline(always))]
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
    #[cfg_attr(not(plrnn_unoptimised), inline(always))]
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
