//! The one arithmetic kernel: the latent step and the observation. Every entry point — the
//! const-generic [`Model`](crate::Model), the run-time-sized [`ModelRef`], the generators on the
//! host and on the device — ends here, so equal inputs give equal bits everywhere.
//!
//! The order of every operation is fixed by the code below (Rust never reassociates or fuses
//! float operations on its own), which is what makes host and Cortex-M4F results bit-identical:
//!
//! ```text
//! k_j      = #{b : θ_jb < z_j}                       (sorted keys, fixed-length binary search)
//! φ_j      = z_j · s_j − O_j[k_j]                    (one product, one subtraction)
//!            s_j = S_j[k_j]                           (dendritic; clipped with z_j ≤ 0)
//!            s_j = S_j[k_j] − S_j[P]                  (clipped with z_j > 0; exactly 0 for k_j = P)
//! z'_i     = ((A_i · z_i + Σ_j W_ij · φ_j) + h_i) + Σ_k C_ik · s_k   (left to right)
//! x_n      = Σ_i B_ni · z_i                           (left to right, from 0)
//! ```
//!
//! S_j, O_j are the prefix sums of α and α·θ over row j's sorted thresholds, summed in f32 in
//! sorted order when the model is built (module `basis`); (S_j[0], O_j[0]) = (0, 0).
//! Every sum Σ is one accumulator, added in index order: the dot products are written out eight
//! (then four) terms at a time, which changes the instructions, not the order.
//!
//! Written with slices, iterators and `get` rather than indexing: there is no bounds check that
//! can fail, hence no panic path, in the step. A zero-length block (P = 0 or K = 0) is handled
//! before `chunks_exact`, which would panic on a chunk size of zero. The instructions executed
//! do not depend on the values (no data-dependent branch): the search always takes
//! ⌊log₂ P⌋ + 1 probes.

use crate::basis::{count_less, key, BasisRef, KEY_POS_ZERO};
use crate::kernel;
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

/// acc + Σ_i a_i·b_i, added left to right into the one accumulator (each product rounded, then
/// each sum: no fused multiply-add, no reassociation), over the common length. The whole blocks
/// of four terms go through module `kernel` (inline assembly with block loads on the Cortex-M4F,
/// written-out Rust elsewhere; eight terms at a time, then four), the last 0–3 terms through the
/// loop below; the order of the additions is the plain loop's.
#[inline(always)]
fn dot_from(acc: f32, a: &[f32], b: &[f32]) -> f32 {
    let (mut acc, done) = kernel::mac_blocks(acc, a, b);
    let (a, b) = (a.get(done..).unwrap_or(&[]), b.get(done..).unwrap_or(&[]));
    for (&x, &y) in a.iter().zip(b) {
        acc += x * y;
    }
    acc
}

/// The dendritic basis by table look-up (module `basis`): per unit a key, a fixed-length binary
/// search for k = #{θ_jb < z_j} and φ_j = z_j·s − o with (s, o) = (S_j[k], O_j[k]); for the
/// clipped variant and z_j > 0 the slope is S_j[k] − S_j[P].
#[inline(always)]
fn dendritic<const CLIPPED: bool>(basis: BasisRef<'_>, nb: usize, z: &[f32], phi: &mut [f32]) {
    let (mut keys, mut pairs) = (basis.keys, basis.pairs);
    for (o, &zj) in phi.iter_mut().zip(z) {
        let (Some((kr, keys_rest)), Some((pr, pairs_rest))) =
            (keys.split_at_checked(nb), pairs.split_at_checked(nb))
        else {
            return;
        };
        (keys, pairs) = (keys_rest, pairs_rest);
        let kz = key(zj);
        let k = count_less(kr, kz);
        // k = 0 is the empty sum; `get` maps it (wrapped to usize::MAX) to (0, 0).
        let [mut slope, offset] = pr.get(k.wrapping_sub(1)).copied().unwrap_or([0.0; 2]);
        if CLIPPED {
            // Loaded and subtracted whatever z is (x − 0.0 = x exactly, −0.0 included), so the
            // step takes the same instructions for every z.
            let total = pr.last().map_or(0.0, |t| t[0]);
            slope -= if kz > KEY_POS_ZERO { total } else { 0.0 };
        }
        *o = zj * slope - offset;
    }
}

/// φ(z) into `phi` (length M).
#[inline(always)]
pub(crate) fn basis(model: &ModelRef<'_>, z: &[f32], phi: &mut [f32]) {
    let nb = model.dims().p;
    match model.variant() {
        Variant::Relu => {
            for (o, &zi) in phi.iter_mut().zip(z) {
                *o = relu(zi);
            }
        }
        // No basis functions: φ = 0 (`chunks_exact` would panic on a chunk size of 0).
        _ if nb == 0 => phi.fill(0.0),
        Variant::Dendritic => dendritic::<false>(model.basis(), nb, z, phi),
        Variant::ClippedDendritic => dendritic::<true>(model.basis(), nb, z, phi),
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
    // z'_i = ((A_i z_i + Σ_j W_ij φ_j) + h_i) + Σ_k C_ik s_k, in that order.
    let rows = z_next
        .iter_mut()
        .zip(z)
        .zip(p.a)
        .zip(p.h)
        .zip(p.w.chunks_exact(d.m));
    if d.k == 0 {
        for ((((zn, &zi), &ai), &hi), wr) in rows {
            *zn = dot_from(ai * zi, wr, phi) + hi;
        }
    } else {
        for (((((zn, &zi), &ai), &hi), wr), cr) in rows.zip(p.c.chunks_exact(d.k)) {
            let acc = dot_from(ai * zi, wr, phi) + hi;
            *zn = dot_from(acc, cr, s);
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
        *xn = dot_from(0.0, br, z);
    }
}
