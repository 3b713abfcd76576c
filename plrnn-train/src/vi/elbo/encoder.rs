//! The encoder's term: the posterior q(z | x) = N(μ_t, diag σ_t²) of every step, its
//! entropy Σ_t Σ_i log σ_ti, the reparameterised sample z_t = μ_t + σ_t ∘ ε_t, and the chain rule
//! from ∂L/∂z back to the encoder's outputs μ and ℓ = log σ (and from there, through
//! `EncView::backward`, to its parameters).
//!
//! z = μ + e^ℓ ε ⇒ dμ = dz, dℓ = dz ∘ σ ∘ ε; the entropy term −c_l Σ ℓ adds −c_l to dℓ.

use super::super::config::EncoderKind;
use super::super::encoder::EncView;
use super::super::simd::{arr, arr_mut, lanes, lanes_mut, load, madd, store, sum, Lane, Simd};
use super::{fit, size, Eval, Workspace};

/// Time steps per block of the head sums (see [`reparameterisation`]).
const HB: usize = 64;

/// The posterior's parameters for every step: μ, ℓ = log σ (`ws.mu`, `ws.logsd`) and
/// σ = e^ℓ (`ws.sd`), with what the encoder's backward pass needs (`ws.u`, `ws.act`). Returns
/// the entropy Σ_t Σ_i ℓ_ti (without the constant).
#[cfg_attr(not(plrnn_unoptimised), inline(always))]
pub(super) fn posterior<S: Simd>(tok: S::Token, ev: &Eval<'_>, ws: &mut Workspace) -> f64 {
    let (l, x, len) = (ev.l, ev.seq.x, ev.len);
    let (m, n) = (l.core.m, l.n);
    size(&mut ws.mu, len * m);
    size(&mut ws.logsd, len * m);
    size(&mut ws.sd, len * m);
    size(&mut ws.dmu, len * m);
    size(&mut ws.u, len * n);
    size(&mut ws.act, len * l.hidden);
    fit(&mut ws.dact, len * l.hidden);
    let enc = EncView::from_flat(l, ev.params);
    enc.inputs(x, &mut ws.u);
    linear_heads::<S>(tok, &enc, &ws.u, &mut ws.mu, &mut ws.logsd, &mut ws.head_w);
    if l.encoder == EncoderKind::Mlp {
        enc.mlp_forward(x, &mut ws.mu, &mut ws.logsd, &mut ws.act);
    }
    for (sd, &ls) in ws.sd.iter_mut().zip(&ws.logsd) {
        *sd = exp_fast(ls);
    }
    sum::<S>(tok, &ws.logsd)
}

/// The sample z_t = μ_t + σ_t ∘ ε_t into `ws.z`, padded to rows of `nl` lanes.
#[cfg_attr(not(plrnn_unoptimised), inline(always))]
pub(super) fn sample(ev: &Eval<'_>, nl: usize, ws: &mut Workspace) {
    let (m, len, eps) = (ev.l.core.m, ev.len, ev.eps);
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
}

/// From ∂L/∂z (`ws.dz`, complete: every other term has added its part) to the encoder's
/// outputs: dμ into `ws.dmu` and dℓ (with the entropy's −c_l) into `ws.sd`, both unpadded for
/// the MLP part of the encoder, and the sums the linear heads need into `ws.head` (see
/// `EncView::backward`), computed here in lanes. `V` lanes per tile, `tiles` tiles.
///
/// Measured (callgrind, per `vi_update` update): inside the encoder's own loop over t, 13
/// unpadded axpys per step, ≈ 1.3 M instructions; per step here with each head row's lanes
/// loaded, updated and stored, ≈ 0.35 M; as products over t with register-resident rows (two
/// head rows per coefficient series, one broadcast for both), ≈ 0.1 M.
#[cfg_attr(not(plrnn_unoptimised), inline(always))]
pub(super) fn reparameterisation<S: Simd, const V: usize>(
    tok: S::Token,
    ev: &Eval<'_>,
    tiles: usize,
    ws: &mut Workspace,
) {
    let (l, x, eps, len, c_l) = (ev.l, ev.seq.x, ev.eps, ev.len, ev.c_l);
    let (m, n) = (l.core.m, l.n);
    let nl = V * tiles;
    let smoothing = l.encoder == EncoderKind::Smoothing;
    let heads = if smoothing { 4 * n + 1 } else { 2 * n + 1 };
    fit(&mut ws.head, heads * nl);
    // Coefficient series per step: u_t (N), for Smoothing Δ_t (N), then 1.
    let na = if smoothing { 2 * n + 1 } else { n + 1 };
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
}

/// The encoder's backward pass (`EncView::backward`) from what [`reparameterisation`] left:
/// dμ in `ws.dmu`, dℓ in `ws.sd`, the linear heads' sums in `ws.head` (rows of `stride` f64).
#[cfg_attr(not(plrnn_unoptimised), inline(always))]
pub(super) fn backward(ev: &Eval<'_>, stride: usize, ws: &mut Workspace, grad: &mut [f64]) {
    let enc = EncView::from_flat(ev.l, ev.params);
    enc.backward(
        ev.l,
        ev.seq.x,
        &ws.act,
        &ws.dmu,
        &ws.sd,
        (ws.head.as_flattened(), stride),
        &mut ws.dact,
        grad,
    );
}

/// e^x to within a few ulp, branch-free so that a loop over it vectorises (the libm call was
/// ~15 % of an update in the profile). x = k ln 2 + r with |r| ≤ ln2/2; e^r by its Taylor
/// polynomial of degree 13 (remainder < 2e-17 relative); 2^k assembled in the exponent bits.
/// Arguments are clamped to [−700, 700] (e^±700 is the end of the normal range anyway).
#[cfg_attr(not(plrnn_unoptimised), inline(always))]
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

/// The encoder's linear heads μ_t = Wm u_t, log σ_t = Ws u_t + b_s (what `EncView::forward`
/// computes with axpys) on the unpadded T×M rows: whole lanes of 4 with fused multiply-adds,
/// the last M mod 4 units scalar (also fused, so both copies agree). Measured: the axpy version
/// cost ≈ 0.37 M instructions per `vi_update` update (callgrind; separate multiplies and adds,
/// run-time remainder checks), this one ≈ 0.1 M. `wl` is a reused buffer for the weights in
/// lanes.
#[cfg_attr(not(plrnn_unoptimised), inline(always))]
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
