//! The observation term: c_o [½ Σ_t Σ_j e_tj²/σ_x,j² + T Σ_j log σ_x,j], e_t = x_t − B z_t.
//!
//! With q_t = c_o e_t/σ_x²: dB_j· = −Σ_t q_tj z_t, dz_t −= Bᵀ q_t,
//! dℓ_x,j = c_o (T − Σ_t e_tj²/σ_x,j²) (σ_x = e^ℓ_x).
//!
//! Observations go in groups of four: the four dot products B_j·z_t of a group reduced
//! together ([`Simd::hsum4`], the same pairwise order as one at a time), e, e² and q for the
//! group in one lane, then dz_t loaded once for all of the group's rows. Measured (perf
//! samples): one row at a time, with a store and four scalar loads per reduction and dz_t
//! loaded and stored per row, this pass was ≈ 10 % of an update.

use super::super::simd::{lanes, lanes_mut, Lane, Simd};
use super::{fit, Eval, Workspace};

/// Subtracts the term's part of ∂L/∂z_t from `ws.dz` (rows of `nl` lanes), writes the
/// gradients of B and log σ_x into `grad`, and returns the term without the factor c_o.
#[cfg_attr(not(plrnn_unoptimised), inline(always))]
pub(super) fn term<S: Simd>(
    tok: S::Token,
    ev: &Eval<'_>,
    nl: usize,
    ws: &mut Workspace,
    grad: &mut [f64],
) -> f64 {
    let (l, params, x, c_o) = (ev.l, ev.params, ev.seq.x, ev.c_o);
    let (m, n) = (l.core.m, l.n);
    let (mp, tf) = (4 * nl, ev.len as f64);
    // B padded: row j holds B_j·.
    fit(&mut ws.bp, n * nl);
    {
        let bp = ws.bp.as_flattened_mut();
        for j in 0..n {
            bp[j * mp..][..m].copy_from_slice(&params[l.b.start + j * m..][..m]);
        }
    }
    let mut term = 0.0;
    let groups = n.div_ceil(4);
    fit(&mut ws.gb, n * nl);
    fit(&mut ws.esq, 4 * groups);
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
            let group = Group {
                x: &x[t * n + j0..],
                z: zt,
                dz: &mut *dzt,
                b: &bp[j0 * nl..],
                gb: &mut gb[j0 * nl..],
                esq: es,
                inv_var: iv,
            };
            match n - j0 {
                1 => group.step::<S, 1>(tok, nl, co),
                2 => group.step::<S, 2>(tok, nl, co),
                3 => group.step::<S, 3>(tok, nl, co),
                _ => group.step::<S, 4>(tok, nl, co),
            }
        }
    }
    let gb = gb.as_flattened();
    for j in 0..n {
        grad[l.b.start + j * m..][..m].copy_from_slice(&gb[j * mp..][..m]);
        let lx = params[l.log_sigma_x.start + j];
        term += 0.5 * esq[j] * inv_var[j] + tf * lx;
        grad[l.log_sigma_x.start + j] = c_o * (tf - esq[j] * inv_var[j]);
    }
    term
}

/// One step t and one group of J ≤ 4 observation rows j0..j0+J.
struct Group<'a> {
    /// x_t from channel j0 on (at least J values).
    x: &'a [f64],
    /// z_t, `nl` lanes.
    z: &'a [Lane],
    /// ∂L/∂z_t, `nl` lanes.
    dz: &'a mut [Lane],
    /// The padded B from row j0 on (rows of `nl` lanes).
    b: &'a [Lane],
    /// ∂L/∂B from row j0 on (rows of `nl` lanes).
    gb: &'a mut [Lane],
    /// Σ_t e_tj² of the group's rows, lane j − j0.
    esq: &'a mut Lane,
    /// 1/σ_x,j² of the group's rows, lane j − j0.
    inv_var: &'a Lane,
}

impl Group<'_> {
    /// B_j·z_t, e, Σe², q = c_o e/σ_x², dB_j −= q_j z_t, dz_t −= Σ_j q_j B_j for the J rows;
    /// `co` is c_o in every lane.
    #[cfg_attr(not(plrnn_unoptimised), inline(always))]
    fn step<S: Simd, const J: usize>(self, tok: S::Token, nl: usize, co: S) {
        let Group {
            x: xg,
            z: zt,
            dz: dzt,
            b,
            gb,
            esq: es,
            inv_var: iv,
        } = self;
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
}
