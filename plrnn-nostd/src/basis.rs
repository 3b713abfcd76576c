//! The dendritic basis as a piecewise-linear function per unit, evaluated by table look-up.
//!
//! For unit j, φ_j(z) = Σ_b α_b relu(z − θ_jb) is linear between consecutive thresholds. With the
//! thresholds of row j sorted, θ_(0) ≤ θ_(1) ≤ …, and k = #{b : θ_jb < z} (strictly less: relu is
//! 0 at z = θ), it equals
//!
//! ```text
//! φ_j(z) = z · S_j[k] − O_j[k],   S_j[k] = Σ_{r<k} α_(r),   O_j[k] = Σ_{r<k} α_(r) θ_(r)
//! ```
//!
//! (α_(r) is the weight of the threshold at sorted position r). The clipped variant subtracts
//! (Σ_b α_b) relu(z), i.e. for z > 0 its slope is S_j[k] − S_j[P]; for z above every threshold
//! that slope is exactly 0, so the computed φ is exactly constant there, as the true one is.
//!
//! Stored per row: the sorted thresholds as order-preserving integer keys ([`key`]), and the
//! pairs (S_j[k], O_j[k]) for k = 1..P, summed in f32 in sorted order (`fill_pairs`). k = 0 is
//! the empty sum (0, 0) and is not stored. A step costs, per unit, one key, a branch-free binary
//! search of fixed length (⌊log₂ P⌋ + 1 probes, the same for every z) and one multiply-subtract,
//! instead of P relu terms. On the Cortex-M4F that is one inline-assembly loop over the units
//! (`kernel::dendritic`: the search of [`count_less`] with loads at fixed offsets, a static zero
//! pair for k = 0), 37 instructions per unit for P = 20; elsewhere the Rust loop in module `step`.

/// Maps an f32 to a u32 whose unsigned order is the numeric order of finite floats (−0.0 sorts
/// just below +0.0). A bijection: [`from_key`] inverts it bit for bit.
#[inline(always)]
pub(crate) const fn key(x: f32) -> u32 {
    let b = x.to_bits();
    b ^ ((((b as i32) >> 31) as u32) | 0x8000_0000)
}

/// The f32 with the given [`key`].
#[inline(always)]
pub(crate) const fn from_key(k: u32) -> f32 {
    let b = k ^ (((((!k) as i32) >> 31) as u32) | 0x8000_0000);
    f32::from_bits(b)
}

/// `key(+0.0)`: z > 0 exactly when `key(z) > KEY_POS_ZERO` (for non-NaN z).
pub(crate) const KEY_POS_ZERO: u32 = 0x8000_0000;

/// #{i : keys[i] < kz} for ascending `keys`, by a branch-free binary search whose probes depend
/// only on `keys.len()`: first keys[n − h] with h the largest power of two ≤ n, which leaves a
/// window of h candidate counts, then h/2, h/4, …, 1 (⌊log₂ n⌋ + 1 probes in all). Written out
/// level by level, so that for a length known at compile time only the probes remain (each a
/// load, a compare and a conditional add) and no loop.
#[inline(always)]
pub(crate) fn count_less(keys: &[u32], kz: u32) -> usize {
    let n = keys.len();
    if n == 0 {
        return 0;
    }
    let top = 1usize << (usize::BITS - 1 - n.leading_zeros());
    let first = n - top;
    // `get` rather than indexing: every index is < n (the window [base, base + h] never passes
    // n), so the fallbacks are dead, but no panic path is left if the optimiser cannot see it.
    let less = |i: usize| keys.get(i).is_some_and(|&t| t < kz);
    let mut base = if less(first) { first + 1 } else { 0 };
    // Invariant: the count lies in [base, base + h − 1] after the level of h.
    macro_rules! level {
        ($h:expr) => {
            if $h < top && less(base + $h - 1) {
                base += $h;
            }
        };
    }
    level!(1 << 15);
    level!(1 << 14);
    level!(1 << 13);
    level!(1 << 12);
    level!(1 << 11);
    level!(1 << 10);
    level!(1 << 9);
    level!(1 << 8);
    level!(1 << 7);
    level!(1 << 6);
    level!(1 << 5);
    level!(1 << 4);
    level!(1 << 3);
    level!(1 << 2);
    level!(1 << 1);
    level!(1);
    base
}

/// Writes the pairs (S[k], O[k]), k = 1..=len, for one row given its (θ, α) in ascending θ
/// order: entry k − 1 holds (Σ_{r<k} α_(r), Σ_{r<k} α_(r) θ_(r)), summed in f32 in sorted order.
/// (Not f64: on a single-precision FPU that is software floating point, about 2 kB of flash,
/// which the defmt firmware's 16 kB goal does not have room for.)
#[cfg_attr(not(feature = "alloc"), allow(dead_code))]
pub(crate) fn fill_pairs(sorted: impl Iterator<Item = (f32, f32)>, pairs: &mut [[f32; 2]]) {
    let (mut sa, mut so) = (0.0f32, 0.0f32);
    for ((theta, alpha), out) in sorted.zip(pairs.iter_mut()) {
        sa += alpha;
        so += alpha * theta;
        *out = [sa, so];
    }
}

/// Builds one row in place for the fixed-size storage. On entry `pairs[b][0]` holds θ_b in file
/// order; on exit `keys` holds the sorted keys, `rank[b]` the sorted position of θ_b (ties in file
/// order, so this is the order of a stable sort), and `pairs` the prefix sums. No allocation,
/// O(P²) comparisons (P ≤ 256).
pub(crate) fn build_row_in_place(
    alpha: &[f32],
    keys: &mut [u32],
    rank: &mut [u8],
    pairs: &mut [[f32; 2]],
) {
    for (b, r) in rank.iter_mut().enumerate() {
        let kb = pairs.get(b).map_or(0, |p| key(p[0]));
        let mut below = 0usize;
        for (i, p) in pairs.iter().enumerate() {
            let ki = key(p[0]);
            below += (ki < kb || (ki == kb && i < b)) as usize;
        }
        *r = below as u8;
    }
    for (&r, p) in rank.iter().zip(pairs.iter()) {
        if let Some(k) = keys.get_mut(r as usize) {
            *k = key(p[0]);
        }
    }
    // α in sorted order, into the second half of each pair (not read until the prefix pass).
    for (&r, &a) in rank.iter().zip(alpha) {
        if let Some(p) = pairs.get_mut(r as usize) {
            p[1] = a;
        }
    }
    let (mut sa, mut so) = (0.0f32, 0.0f32);
    for (&k, p) in keys.iter().zip(pairs.iter_mut()) {
        // Same arithmetic as `fill_pairs`.
        let (theta, a) = (from_key(k), p[1]);
        sa += a;
        so += a * theta;
        *p = [sa, so];
    }
}

/// The basis tables a step reads: per row (unit) P sorted keys and P prefix pairs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BasisRef<'a> {
    /// Sorted threshold keys, M×P row-major.
    pub(crate) keys: &'a [u32],
    /// (S[k], O[k]) for k = 1..=P at index k − 1, M×P row-major.
    pub(crate) pairs: &'a [[f32; 2]],
}

/// Where a model's θ values come from, for encoding and inspection.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ThetaRef<'a> {
    /// θ as given, M×P row-major (host storage).
    #[cfg_attr(not(feature = "alloc"), allow(dead_code))]
    Values(&'a [f32]),
    /// Sorted keys per row and each θ's position among them (fixed-size storage).
    Ranked {
        keys: &'a [u32],
        rank: &'a [u8],
        p: usize,
    },
}

impl ThetaRef<'_> {
    /// θ at row-major index `i` (unit i / P, basis i % P), exactly as stored in the file.
    pub(crate) fn get(&self, i: usize) -> Option<f32> {
        match *self {
            ThetaRef::Values(v) => v.get(i).copied(),
            ThetaRef::Ranked { keys, rank, p } => {
                let r = *rank.get(i)? as usize;
                let row = i.checked_div(p)?;
                keys.get(row * p + r).map(|&k| from_key(k))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_order_and_invert() {
        let xs = [
            f32::NEG_INFINITY,
            -3.5,
            -1e-40,
            -0.0,
            0.0,
            1e-45,
            1.0,
            2.5e30,
            f32::INFINITY,
        ];
        for w in xs.windows(2) {
            assert!(key(w[0]) < key(w[1]), "{} {}", w[0], w[1]);
        }
        for x in xs {
            assert_eq!(from_key(key(x)).to_bits(), x.to_bits());
        }
        assert_eq!(key(0.0), KEY_POS_ZERO);
    }

    #[test]
    fn count_less_is_a_count() {
        for n in 0..40usize {
            let keys: [u32; 40] = core::array::from_fn(|i| 10 * (i as u32 / 2));
            let keys = &keys[..n];
            for kz in 0..(10 * n as u32 + 12) {
                let want = keys.iter().filter(|&&t| t < kz).count();
                assert_eq!(count_less(keys, kz), want, "n {n} kz {kz}");
            }
        }
    }
}
