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
//! Every sum Σ is one accumulator, added in index order. The rows of W φ and B z go two at a
//! time so that the two rows share the loads of φ or z: that changes the instructions, not the
//! order of any row's additions. The latent step updates z in place: φ(z) is computed first,
//! and row i reads only z_i (and z_{i+1} of its pair) before writing them.
//!
//! On the Cortex-M4F three loops are inline assembly (module `kernel`, with the same operations
//! in the same order): the basis look-up of every unit (P ≤ 127), the row pairs of the latent
//! step (K ≤ 1), and the dot products in blocks of eight, then four terms (B z, other rows).
//! Elsewhere, and for the sizes the assembly does not take, the Rust below (the dot products'
//! blocks written out in module `kernel`).
//!
//! Written with slices, iterators and `get` rather than indexing: there is no bounds check that
//! can fail, hence no panic path, in the step. A zero-length block (P = 0) is handled before
//! the basis tables are split into rows; an empty C row (K = 0) leaves the sum unchanged. The
//! instructions executed do not depend on the values (no data-dependent branch): the search
//! always takes ⌊log₂ P⌋ + 1 probes. In the firmware's counts (`firmware-example/README.md`,
//! "Cost of a step") a step of the M = 20, P = 20 model takes 1 657 instructions, 1.84 per
//! multiply-add.

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

/// (acc0 + a0·b, acc1 + a1·b), each exactly as [`dot_from`] computes it; the block loads of `b`
/// are shared by the two rows (module `kernel`).
#[inline(always)]
fn dot2_from(acc0: f32, acc1: f32, a0: &[f32], a1: &[f32], b: &[f32]) -> (f32, f32) {
    let (acc0, acc1, done) = kernel::mac_blocks2(acc0, acc1, a0, a1, b);
    let b = b.get(done..).unwrap_or(&[]);
    let (a0, a1) = (a0.get(done..).unwrap_or(&[]), a1.get(done..).unwrap_or(&[]));
    (dot_from(acc0, a0, b), dot_from(acc1, a1, b))
}

/// The dendritic basis by table look-up (module `basis`): per unit a key, a fixed-length binary
/// search for k = #{θ_jb < z_j} and φ_j = z_j·s − o with (s, o) = (S_j[k], O_j[k]); for the
/// clipped variant and z_j > 0 the slope is S_j[k] − S_j[P].
#[inline(always)]
fn dendritic<const CLIPPED: bool>(basis: BasisRef<'_>, nb: usize, z: &[f32], phi: &mut [f32]) {
    if kernel::dendritic::<CLIPPED>(basis.keys, basis.pairs, nb, z, phi) {
        return;
    }
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

/// z_next = A∘z + W φ(z) + h + C s, with `phi` as scratch (length M): z copied into `z_next`,
/// then [`latent_in_place`].
#[inline(always)]
pub(crate) fn latent(
    model: &ModelRef<'_>,
    z: &[f32],
    s: &[f32],
    phi: &mut [f32],
    z_next: &mut [f32],
) {
    for (n, &v) in z_next.iter_mut().zip(z) {
        *n = v;
    }
    latent_in_place(model, z_next, s, phi);
}

/// z ← A∘z + W φ(z) + h + C s, with `phi` as scratch (length M). φ(z) is computed first; row i
/// then reads only z_i (and z_{i+1} of its pair) before writing them, so the update can be in
/// place: the generators need no second state array and no copy.
#[inline(always)]
pub(crate) fn latent_in_place(model: &ModelRef<'_>, z: &mut [f32], s: &[f32], phi: &mut [f32]) {
    let d = model.dims();
    if d.m == 0 {
        return;
    }
    basis(model, z, phi);
    let p = model.params();
    let (m, k) = (d.m, d.k);
    // z'_i = ((A_i z_i + Σ_j W_ij φ_j) + h_i) + Σ_k C_ik s_k, in that order; rows two at a time
    // (sharing the loads of φ), the last one alone when M is odd. On the Cortex-M4F the pairs
    // go through one assembly loop for K ≤ 1 (module `kernel`), which returns the rows it did.
    // `get` with ranges: no panic path (an empty C row for K = 0 leaves the sum as it is).
    let done = kernel::latent_pairs(m, k, z, p.a, p.w, p.h, p.c, s, phi);
    let finish = |acc: f32, hi: f32, i: usize| {
        let cr = p.c.get(i * k..(i + 1) * k).unwrap_or(&[]);
        dot_from(acc + hi, cr, s)
    };
    for i in (done..m - 1).step_by(2) {
        let (Some([z0, z1]), Some(&[a0, a1]), Some(&[h0, h1]), Some(w0), Some(w1)) = (
            z.get_mut(i..i + 2),
            p.a.get(i..i + 2),
            p.h.get(i..i + 2),
            p.w.get(i * m..(i + 1) * m),
            p.w.get((i + 1) * m..(i + 2) * m),
        ) else {
            continue;
        };
        let (r0, r1) = dot2_from(a0 * *z0, a1 * *z1, w0, w1, phi);
        *z0 = finish(r0, h0, i);
        *z1 = finish(r1, h1, i + 1);
    }
    if m % 2 == 1 {
        let i = m - 1;
        if let (Some(zi), Some(&ai), Some(&hi), Some(wr)) = (
            z.get_mut(i),
            p.a.get(i),
            p.h.get(i),
            p.w.get(i * m..(i + 1) * m),
        ) {
            *zi = finish(dot_from(ai * *zi, wr, phi), hi, i);
        }
    }
}

/// x = B z, rows two at a time (sharing the loads of z), the last one alone when N is odd.
#[inline(always)]
pub(crate) fn observe(model: &ModelRef<'_>, z: &[f32], x: &mut [f32]) {
    let d = model.dims();
    if d.m == 0 {
        return;
    }
    let b = model.params().b;
    for (xx, bp) in x.chunks_exact_mut(2).zip(b.chunks_exact(2 * d.m)) {
        if let ([x0, x1], Some((b0, b1))) = (xx, bp.split_at_checked(d.m)) {
            (*x0, *x1) = dot2_from(0.0, 0.0, b0, b1, z);
        }
    }
    if d.n % 2 == 1 {
        let i = d.n - 1;
        if let (Some(xn), Some(br)) = (x.get_mut(i), b.get(i * d.m..(i + 1) * d.m)) {
            *xn = dot_from(0.0, br, z);
        }
    }
}
