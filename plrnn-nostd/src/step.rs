//! The one arithmetic kernel: the latent step and the observation. Every entry point — the
//! const-generic [`Model`](crate::Model), the run-time-sized [`ModelRef`], the generators on the
//! host and on the device — ends here, so equal inputs give equal bits everywhere.
//!
//! The order of every sum is fixed by the code below (Rust never reassociates or fuses float
//! operations on its own), which is what makes host and Cortex-M4F results bit-identical:
//!
//! ```text
//! φ_j      = Σ_b α_b · r_jb               (b = 0, 1, …; r as per variant)
//! z'_i     = ((A_i · z_i + Σ_j W_ij · φ_j) + h_i) + Σ_k C_ik · s_k   (left to right)
//! x_n      = Σ_i B_ni · z_i
//! ```
//!
//! Written with iterator zips rather than indexing: there is no bounds check, hence no panic
//! path, in the step. A zero-length block (P = 0 or K = 0) is handled before `chunks_exact`,
//! which would panic on a chunk size of zero.

use crate::model::{ModelRef, Variant};

#[inline(always)]
fn relu(x: f32) -> f32 {
    // Not f32::max: this form gives +0.0 for every non-positive input on every target.
    if x > 0.0 {
        x
    } else {
        0.0
    }
}

/// φ(z) into `phi` (length M).
#[inline(always)]
pub(crate) fn basis(model: &ModelRef<'_>, z: &[f32], phi: &mut [f32]) {
    let p = model.params();
    let nb = model.dims().p;
    match model.variant() {
        Variant::Relu => {
            for (o, &zi) in phi.iter_mut().zip(z) {
                *o = relu(zi);
            }
        }
        Variant::Dendritic => {
            if nb == 0 {
                phi.fill(0.0);
                return;
            }
            for ((o, &zi), th) in phi.iter_mut().zip(z).zip(p.theta.chunks_exact(nb)) {
                let mut acc = 0.0f32;
                for (&al, &t) in p.alpha.iter().zip(th) {
                    acc += al * relu(zi - t);
                }
                *o = acc;
            }
        }
        Variant::ClippedDendritic => {
            if nb == 0 {
                phi.fill(0.0);
                return;
            }
            for ((o, &zi), th) in phi.iter_mut().zip(z).zip(p.theta.chunks_exact(nb)) {
                let r0 = relu(zi);
                let mut acc = 0.0f32;
                for (&al, &t) in p.alpha.iter().zip(th) {
                    acc += al * (relu(zi - t) - r0);
                }
                *o = acc;
            }
        }
    }
}

/// z_next = A∘z + W φ(z) + h + C s, with `phi` as scratch (length M).
#[inline(always)]
pub(crate) fn latent(
    model: &ModelRef<'_>,
    z: &[f32],
    s: &[f32],
    phi: &mut [f32],
    z_next: &mut [f32],
) {
    let d = model.dims();
    if d.m == 0 {
        return;
    }
    basis(model, z, phi);
    let p = model.params();
    let rows = z_next
        .iter_mut()
        .zip(z)
        .zip(p.a)
        .zip(p.h)
        .zip(p.w.chunks_exact(d.m));
    if d.k == 0 {
        for ((((zn, &zi), &ai), &hi), wr) in rows {
            let mut acc = ai * zi;
            for (&wij, &fj) in wr.iter().zip(phi.iter()) {
                acc += wij * fj;
            }
            *zn = acc + hi;
        }
    } else {
        for (((((zn, &zi), &ai), &hi), wr), cr) in rows.zip(p.c.chunks_exact(d.k)) {
            let mut acc = ai * zi;
            for (&wij, &fj) in wr.iter().zip(phi.iter()) {
                acc += wij * fj;
            }
            acc += hi;
            for (&cik, &sk) in cr.iter().zip(s) {
                acc += cik * sk;
            }
            *zn = acc;
        }
    }
}

/// x = B z.
#[inline(always)]
pub(crate) fn observe(model: &ModelRef<'_>, z: &[f32], x: &mut [f32]) {
    let d = model.dims();
    if d.m == 0 {
        return;
    }
    for (xn, br) in x.iter_mut().zip(model.params().b.chunks_exact(d.m)) {
        let mut acc = 0.0f32;
        for (&bni, &zi) in br.iter().zip(z) {
            acc += bni * zi;
        }
        *xn = acc;
    }
}
