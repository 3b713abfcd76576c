//! The inner loops of the step (module `step`) on the Cortex-M4F, in inline assembly:
//!
//! - [`mac_blocks`], [`mac_blocks2`]: the multiply-add loop of the dot products, `acc += a[t] *
//!   b[t]` for t = 0, 1, … in order, one accumulator per row, over the whole blocks of four
//!   terms (B z, and the rows [`latent_pairs`] does not take);
//! - [`dendritic`]: φ for every unit by the table look-up of module `basis` (key, fixed-length
//!   search, prefix pair, one multiply-subtract), P from 1 to 127;
//! - [`latent_pairs`]: the rows of the latent step two at a time, in place (A∘z, W φ, h, C s),
//!   for K ≤ 1.
//!
//! On 32-bit Arm with the hard-float ABI (`thumbv7em-none-eabihf`: Cortex-M4F, M7) these are
//! inline assembly: LLVM loads each f32 with its own `vldr` (two loads per multiply-add), while
//! `vldmia` loads eight consecutive floats in one instruction; it keeps accumulators in core
//! registers between blocks; and it does not write the search as loads at fixed offsets. The
//! arithmetic is the same as the portable code's: `vmla.f32` rounds the product, then the sum
//! (it is not fused; `vfma` is), which is what `acc + a * b` compiles to on that FPU; `vnmls`
//! computes −o + z·s with the product rounded, then the sum, the same bits as `z * s - o` (LLVM
//! emits it for that expression); `vmul`, `vadd`, `vsub` are the plain operations; all in the
//! portable code's order. So the results are bit-identical to the portable path, the host's
//! included (checked by the firmware's parity runs and kernel sweep in
//! `firmware-example/ci.sh`). Every other target uses the portable Rust below and in module
//! `step` ([`dendritic`] and [`latent_pairs`] then do nothing and say so). No branch in the
//! assembly depends on a value, only on the sizes.
//!
//! This module holds the crate's only `unsafe` code.
#![allow(unsafe_code)]

/// The multiply-adds of one block of `$n` terms (8, 4, 2 or 1) of two rows that share their
/// vector, as assembly text for the two-row kernels ([`mac_blocks2`], [`latent_pairs`]): the
/// vector's terms in s0…, row 0's in s8…, row 1's in s16…; the sums in s24 (row 0) and s25
/// (row 1), term after term (`vmla.f32`: product rounded, then the sum).
#[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
macro_rules! pair_terms {
    (@ $($v:literal $r0:literal $r1:literal)*) => {
        concat!($(
            "vmla.f32 s24, s", $r0, ", s", $v, "\n",
            "vmla.f32 s25, s", $r1, ", s", $v, "\n",
        )*)
    };
    (1) => { pair_terms!(@ 0 8 16) };
    (2) => { pair_terms!(@ 0 8 16 1 9 17) };
    (4) => { pair_terms!(@ 0 8 16 1 9 17 2 10 18 3 11 19) };
    (8) => { pair_terms!(@ 0 8 16 1 9 17 2 10 18 3 11 19 4 12 20 5 13 21 6 14 22 7 15 23) };
}

/// acc + Σ_{t<n} a_t·b_t with n = min(len a, len b) rounded down to a multiple of 4, added left
/// to right (eight terms at a time, then four); returns the sum and n.
#[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
#[inline(always)]
pub(crate) fn mac_blocks(acc: f32, a: &[f32], b: &[f32]) -> (f32, usize) {
    let len = a.len().min(b.len()) & !3;
    if len == 0 {
        return (acc, 0);
    }
    let mut bits = acc.to_bits();
    // SAFETY: `len` ≤ min(a.len(), b.len()) and is a multiple of 4. The asm reads from each
    // pointer ⌊len/8⌋ blocks of 8 consecutive f32, then 4 more if bit 2 of `len` is set, that is
    // exactly `len` f32 from each slice's start, all within the slices (f32 slices are 4-byte
    // aligned, as `vldmia` requires). It writes no memory and no stack; the registers it changes
    // are the `inout`/`out` operands, s0–s15 and s16 (declared clobbered) and the flags.
    // The sum lives in s16 (an f32 operand cannot be passed in an S register on a
    // single-precision FPU, whose `sreg` class needs the `vfp2` feature), hence the two `vmov`.
    unsafe {
        core::arch::asm!(
            "vmov s16, {acc}",
            "lsrs {n}, {len}, #3",
            "beq 3f",
            "2:",
            "vldmia {pa}!, {{s0-s7}}",
            "vldmia {pb}!, {{s8-s15}}",
            "vmla.f32 s16, s0, s8",
            "vmla.f32 s16, s1, s9",
            "vmla.f32 s16, s2, s10",
            "vmla.f32 s16, s3, s11",
            "vmla.f32 s16, s4, s12",
            "vmla.f32 s16, s5, s13",
            "vmla.f32 s16, s6, s14",
            "vmla.f32 s16, s7, s15",
            "subs {n}, {n}, #1",
            "bne 2b",
            "3:",
            // Bit 2 of len into the carry.
            "lsls {n}, {len}, #30",
            "bcc 4f",
            "vldmia {pa}, {{s0-s3}}",
            "vldmia {pb}, {{s8-s11}}",
            "vmla.f32 s16, s0, s8",
            "vmla.f32 s16, s1, s9",
            "vmla.f32 s16, s2, s10",
            "vmla.f32 s16, s3, s11",
            "4:",
            "vmov {acc}, s16",
            acc = inout(reg) bits,
            len = in(reg) len,
            n = out(reg) _,
            pa = inout(reg) a.as_ptr() => _,
            pb = inout(reg) b.as_ptr() => _,
            out("s0") _, out("s1") _, out("s2") _, out("s3") _,
            out("s4") _, out("s5") _, out("s6") _, out("s7") _,
            out("s8") _, out("s9") _, out("s10") _, out("s11") _,
            out("s12") _, out("s13") _, out("s14") _, out("s15") _,
            out("s16") _,
            options(pure, readonly, nostack),
        );
    }
    (f32::from_bits(bits), len)
}

/// Portable version of the above: the same additions in the same order.
#[cfg(not(all(target_arch = "arm", target_abi = "eabihf")))]
#[inline(always)]
pub(crate) fn mac_blocks(acc: f32, a: &[f32], b: &[f32]) -> (f32, usize) {
    /// `acc += x[t] * y[t]` for the listed t, in order (written out: opt-level "s" does not
    /// unroll).
    macro_rules! mac {
        ($acc:ident, $x:ident, $y:ident; $($t:literal)+) => {
            $( $acc += $x[$t] * $y[$t]; )+
        };
    }
    let len = a.len().min(b.len()) & !3;
    let (mut acc, mut a, mut b) = (acc, a, b);
    while let (Some((x, ra)), Some((y, rb))) =
        (a.split_first_chunk::<8>(), b.split_first_chunk::<8>())
    {
        mac!(acc, x, y; 0 1 2 3 4 5 6 7);
        (a, b) = (ra, rb);
    }
    if let (Some((x, _)), Some((y, _))) = (a.split_first_chunk::<4>(), b.split_first_chunk::<4>()) {
        mac!(acc, x, y; 0 1 2 3);
    }
    (acc, len)
}

/// Two dot products with a common right-hand side, as [`mac_blocks`] for each:
/// (acc0 + Σ_{t<n} a0_t·b_t, acc1 + Σ_{t<n} a1_t·b_t) with n = min(len a0, len a1, len b)
/// rounded down to a multiple of 4, each added left to right into its own accumulator (the
/// two sums are interleaved, which changes neither); returns both sums and n.
#[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
#[inline(always)]
pub(crate) fn mac_blocks2(
    acc0: f32,
    acc1: f32,
    a0: &[f32],
    a1: &[f32],
    b: &[f32],
) -> (f32, f32, usize) {
    let len = a0.len().min(a1.len()).min(b.len()) & !3;
    if len == 0 {
        return (acc0, acc1, 0);
    }
    let (mut bits0, mut bits1) = (acc0.to_bits(), acc1.to_bits());
    // SAFETY: as in `mac_blocks`, with three pointers: `len` ≤ the length of each slice and is
    // a multiple of 4; the asm reads exactly `len` consecutive f32 from the start of each slice
    // (blocks of 8, then 4 if bit 2 of `len` is set), 4-byte aligned. No memory writes, no
    // stack; it changes only its operands, the clobbered s0–s25 and the flags.
    unsafe {
        core::arch::asm!(
            "vmov s24, {acc0}",
            "vmov s25, {acc1}",
            "lsrs {n}, {len}, #3",
            "beq 3f",
            "2:",
            "vldmia {pb}!, {{s0-s7}}",
            "vldmia {pa0}!, {{s8-s15}}",
            "vldmia {pa1}!, {{s16-s23}}",
            pair_terms!(8),
            "subs {n}, {n}, #1",
            "bne 2b",
            "3:",
            "lsls {n}, {len}, #30",
            "bcc 4f",
            "vldmia {pb}, {{s0-s3}}",
            "vldmia {pa0}, {{s8-s11}}",
            "vldmia {pa1}, {{s16-s19}}",
            pair_terms!(4),
            "4:",
            "vmov {acc0}, s24",
            "vmov {acc1}, s25",
            acc0 = inout(reg) bits0,
            acc1 = inout(reg) bits1,
            len = in(reg) len,
            n = out(reg) _,
            pa0 = inout(reg) a0.as_ptr() => _,
            pa1 = inout(reg) a1.as_ptr() => _,
            pb = inout(reg) b.as_ptr() => _,
            out("s0") _, out("s1") _, out("s2") _, out("s3") _,
            out("s4") _, out("s5") _, out("s6") _, out("s7") _,
            out("s8") _, out("s9") _, out("s10") _, out("s11") _,
            out("s12") _, out("s13") _, out("s14") _, out("s15") _,
            out("s16") _, out("s17") _, out("s18") _, out("s19") _,
            out("s20") _, out("s21") _, out("s22") _, out("s23") _,
            out("s24") _, out("s25") _,
            options(pure, readonly, nostack),
        );
    }
    (f32::from_bits(bits0), f32::from_bits(bits1), len)
}

/// Portable version of the above: each sum exactly as [`mac_blocks`] computes it.
#[cfg(not(all(target_arch = "arm", target_abi = "eabihf")))]
#[inline(always)]
pub(crate) fn mac_blocks2(
    acc0: f32,
    acc1: f32,
    a0: &[f32],
    a1: &[f32],
    b: &[f32],
) -> (f32, f32, usize) {
    let len = a0.len().min(a1.len()).min(b.len()) & !3;
    let b = b.get(..len).unwrap_or(&[]);
    let (r0, _) = mac_blocks(acc0, a0, b);
    let (r1, _) = mac_blocks(acc1, a1, b);
    (r0, r1, len)
}

/// The zero pair (S[0], O[0]) = (0, 0) that the basis kernel reads for k = 0 (the tables store
/// only k = 1..=P).
#[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
static ZERO_PAIR: [f32; 2] = [0.0; 2];

/// Largest P the basis kernel handles: the first probe is a load with a negative 8-bit offset,
/// 4·(2^⌊log₂ P⌋ − 1) ≤ 255.
#[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
const DENDRITIC_MAX_P: usize = 127;

/// φ_j = z_j·s − o for every unit j < min(len z, len phi), by the table look-up of module
/// `basis` (rows of `p` sorted keys and `p` prefix pairs), exactly as the portable loop in module
/// `step` computes it; returns `false` without writing anything when the kernel does not apply
/// (P = 0 or P > 127, tables shorter than M·P), and the caller runs the portable loop.
///
/// The search is `basis::count_less` in pointer form, written out per level: with
/// `kn = &keys[P − 1]` of the row and top = 2^L the largest power of two ≤ P, the first probe is
/// keys[P − top] at the fixed offset −4(top − 1) from `kn`; then levels h = top/2, …, 1 each
/// load keys[base + h − 1] at a fixed offset from the pointer `b = &keys[base − 1]`, compare and
/// conditionally advance `b`. k = 0 (b = &keys[−1]) reads [`ZERO_PAIR`].
#[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
#[inline(always)]
pub(crate) fn dendritic<const CLIPPED: bool>(
    keys: &[u32],
    pairs: &[[f32; 2]],
    p: usize,
    z: &[f32],
    phi: &mut [f32],
) -> bool {
    let m = z.len().min(phi.len());
    let fits = m
        .checked_mul(p)
        .is_some_and(|n| keys.len() >= n && pairs.len() >= n);
    if p == 0 || p > DENDRITIC_MAX_P || m == 0 || !fits {
        return false;
    }
    match usize::BITS - 1 - p.leading_zeros() {
        0 => dendritic_rows::<CLIPPED, 0>(keys, pairs, p, m, z, phi),
        1 => dendritic_rows::<CLIPPED, 1>(keys, pairs, p, m, z, phi),
        2 => dendritic_rows::<CLIPPED, 2>(keys, pairs, p, m, z, phi),
        3 => dendritic_rows::<CLIPPED, 3>(keys, pairs, p, m, z, phi),
        4 => dendritic_rows::<CLIPPED, 4>(keys, pairs, p, m, z, phi),
        5 => dendritic_rows::<CLIPPED, 5>(keys, pairs, p, m, z, phi),
        _ => dendritic_rows::<CLIPPED, 6>(keys, pairs, p, m, z, phi),
    }
    true
}

/// The basis kernel for 2^L ≤ P < 2^(L+1): `m` ≥ 1 units, P ≤ 127, tables of at least m·P
/// entries (checked by [`dendritic`]).
#[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
#[inline(always)]
fn dendritic_rows<const CLIPPED: bool, const L: u32>(
    keys: &[u32],
    pairs: &[[f32; 2]],
    p: usize,
    m: usize,
    z: &[f32],
    phi: &mut [f32],
) {
    // Row j: keys at keys + 4Pj, pairs at pairs + 8Pj. `kn` starts at &keys[−1] (never read
    // there) and is advanced by 4P at the top of each unit to &keys[P − 1] of that row. The pair
    // for count k ≥ 1 is pairs_row[k − 1] = d + 2·b with b = &keys_row[k − 1] and
    // d = pairs − 2·keys (the same for every row: pairs advance by 8P, keys by 4P); the row's
    // S[P] is pairs_row[P − 1] = d + 2·kn. Plain integers (wrapping), only the asm dereferences.
    let kn = (keys.as_ptr() as usize).wrapping_sub(4);
    let d = (pairs.as_ptr() as usize).wrapping_sub((keys.as_ptr() as usize).wrapping_mul(2));
    // SAFETY: m ≥ 1, 1 ≤ P ≤ 127 with 2^L ≤ P < 2^(L+1), `keys` and `pairs` hold at least m·P
    // entries, `z` and `phi` at least m (checked by `dendritic`). For each unit j < m the asm
    // reads z[j] and writes phi[j] (one f32 each, through the post-incremented pointers); reads
    // keys_row_j[P − 2^L] and, per level h = 2^(L−1), …, 1, keys_row_j[base + h − 1] with
    // base + h − 1 ≤ P − 1 (the invariant of `basis::count_less`); reads pairs_row_j[k − 1] for
    // the count k ≥ 1 (k ≤ P) or the two f32 of `ZERO_PAIR` for k = 0; with `CLIPPED` also
    // pairs_row_j[P − 1][0]. All in bounds and 4-byte aligned. Nothing else is read or written,
    // no stack. Registers changed: the operands, s0, s2–s4, s6, s7 (clobbered) and the flags.
    unsafe {
        core::arch::asm!(
            "vmov s6, {t}",
            ".if {clipped}",
            "vldr s7, [{t}]",
            ".endif",
            "2:",
            "ldr {key}, [{z}], #4",
            "vmov s0, {key}",
            // key = bits ^ ((bits >> 31, arithmetic) | 0x8000_0000): `basis::key`.
            "asr {t}, {key}, #31",
            "orr {t}, {t}, #0x80000000",
            "eor {key}, {key}, {t}",
            "add {kn}, {kn}, {f}",
            // Clipped: s4 = S[P] if z > 0 (key > key(+0.0)), else +0.0 (s7).
            ".if {clipped}",
            "add {t}, {d}, {kn}, lsl #1",
            "vldr s4, [{t}]",
            "cmp {key}, #0x80000000",
            "it ls",
            "vmovls.f32 s4, s7",
            ".endif",
            // First probe keys[P − top]: b = &keys[P − top] if it is below the key, else &keys[−1].
            "ldr {t}, [{kn}, #-{off}]",
            "cmp {t}, {key}",
            "ite lo",
            "sublo {b}, {kn}, #{off}",
            "subhs {b}, {kn}, {f}",
            ".if {l} >= 6",
            "ldr {t}, [{b}, #128]",
            "cmp {t}, {key}",
            "it lo",
            "addlo {b}, {b}, #128",
            ".endif",
            ".if {l} >= 5",
            "ldr {t}, [{b}, #64]",
            "cmp {t}, {key}",
            "it lo",
            "addlo {b}, {b}, #64",
            ".endif",
            ".if {l} >= 4",
            "ldr {t}, [{b}, #32]",
            "cmp {t}, {key}",
            "it lo",
            "addlo {b}, {b}, #32",
            ".endif",
            ".if {l} >= 3",
            "ldr {t}, [{b}, #16]",
            "cmp {t}, {key}",
            "it lo",
            "addlo {b}, {b}, #16",
            ".endif",
            ".if {l} >= 2",
            "ldr {t}, [{b}, #8]",
            "cmp {t}, {key}",
            "it lo",
            "addlo {b}, {b}, #8",
            ".endif",
            ".if {l} >= 1",
            "ldr {t}, [{b}, #4]",
            "cmp {t}, {key}",
            "it lo",
            "addlo {b}, {b}, #4",
            ".endif",
            // (s2, s3) = pairs_row[k − 1], or (0, 0) for k = 0 (b + 4P = kn).
            "add {key}, {b}, {f}",
            "cmp {key}, {kn}",
            "add {t}, {d}, {b}, lsl #1",
            "it eq",
            "vmoveq {t}, s6",
            "vldmia {t}, {{s2, s3}}",
            ".if {clipped}",
            // slope − 0.0 is the slope exactly, as in the portable code.
            "vsub.f32 s2, s2, s4",
            ".endif",
            // s3 = −o + z·s: the product rounded, then the sum (= z·s − o, not fused).
            "vnmls.f32 s3, s0, s2",
            "vstmia {phi}!, {{s3}}",
            "subs {n}, {n}, #1",
            "bne 2b",
            clipped = const CLIPPED as u32,
            l = const L,
            off = const 4 * ((1u32 << L) - 1),
            z = inout(reg) z.as_ptr() => _,
            phi = inout(reg) phi.as_mut_ptr() => _,
            kn = inout(reg) kn => _,
            n = inout(reg) m => _,
            t = inout(reg) ZERO_PAIR.as_ptr() => _,
            d = in(reg) d,
            f = in(reg) 4 * p,
            key = out(reg) _,
            b = out(reg) _,
            out("s0") _, out("s2") _, out("s3") _, out("s4") _, out("s6") _, out("s7") _,
            options(nostack),
        );
    }
}

/// Portable targets: no kernel; the caller runs the portable loop.
#[cfg(not(all(target_arch = "arm", target_abi = "eabihf")))]
#[inline(always)]
pub(crate) fn dendritic<const CLIPPED: bool>(
    _keys: &[u32],
    _pairs: &[[f32; 2]],
    _p: usize,
    _z: &[f32],
    _phi: &mut [f32],
) -> bool {
    false
}

/// The row pairs of the latent step, in place: for i = 0, 2, …, 2·⌊M/2⌋ − 2 and each of the
/// rows i, i + 1,
///
/// ```text
/// z_i ← ((A_i·z_i + Σ_j W_ij·φ_j) + h_i) + C_i0·s_0        (the C term only for K = 1)
/// ```
///
/// with the sum over j left to right (eight terms at a time, then four, two, one), each
/// product rounded and then each sum (`vmul`, `vmla`, `vadd`: as the portable code in module
/// `step`). Returns the number of rows done: 2·⌊M/2⌋, or 0 (nothing written) when the kernel
/// does not apply (K > 1, fewer than two rows, slices shorter than the sizes); the caller does
/// the remaining rows.
#[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn latent_pairs(
    m: usize,
    k: usize,
    z: &mut [f32],
    a: &[f32],
    w: &[f32],
    h: &[f32],
    c: &[f32],
    s: &[f32],
    phi: &[f32],
) -> usize {
    let rows = m & !1;
    let fits = m.checked_mul(rows).is_some_and(|n| w.len() >= n)
        && z.len() >= rows
        && a.len() >= rows
        && h.len() >= rows
        && c.len() >= rows * k
        && s.len() >= k
        && phi.len() >= m;
    if rows == 0 || k > 1 || !fits {
        return 0;
    }
    if k == 1 {
        latent_pairs_asm::<true>(m, rows / 2, z, a, w, h, c, s, phi);
    } else {
        latent_pairs_asm::<false>(m, rows / 2, z, a, w, h, c, s, phi);
    }
    rows
}

/// [`latent_pairs`] for `pairs` ≥ 1 row pairs of length `m`, K = 1 when `INPUT`, else K = 0
/// (sizes checked by the caller).
#[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn latent_pairs_asm<const INPUT: bool>(
    m: usize,
    pairs: usize,
    z: &mut [f32],
    a: &[f32],
    w: &[f32],
    h: &[f32],
    c: &[f32],
    s: &[f32],
    phi: &[f32],
) {
    // SAFETY: pairs ≥ 1; with R = 2·pairs rows: z, a, h hold at least R f32, W at least R·m,
    // phi at least m, and with `INPUT` C at least R and s at least 1 (checked by
    // `latent_pairs`). Per pair the asm reads z[i], z[i+1], a[i], a[i+1], h[i], h[i+1] (and
    // c[i], c[i+1]), rows i and i + 1 of W (m f32 each, from i·m) and phi[0..m], then writes
    // z[i], z[i+1]; with `INPUT` it reads s[0] once. Every pointer walks its slice forwards
    // and stays in bounds; all 4-byte aligned. Nothing else is read or written, no stack.
    // Registers changed: the operands, s0–s30 (clobbered) and the flags.
    unsafe {
        core::arch::asm!(
            ".if {input}",
            "vldr s30, [{n}]",
            ".endif",
            "1:",
            "vldmia {zo}, {{s26, s27}}",
            "vldmia {pa}!, {{s28, s29}}",
            "vmul.f32 s24, s28, s26",
            "vmul.f32 s25, s29, s27",
            "add {w1}, {w0}, {m}, lsl #2",
            "lsrs {n}, {m}, #3",
            "beq 3f",
            "2:",
            "vldmia {pb}!, {{s0-s7}}",
            "vldmia {w0}!, {{s8-s15}}",
            "vldmia {w1}!, {{s16-s23}}",
            pair_terms!(8),
            "subs {n}, {n}, #1",
            "bne 2b",
            "3:",
            // Bit 2 of m into the carry.
            "lsls {n}, {m}, #30",
            "bcc 4f",
            "vldmia {pb}!, {{s0-s3}}",
            "vldmia {w0}!, {{s8-s11}}",
            "vldmia {w1}!, {{s16-s19}}",
            pair_terms!(4),
            "4:",
            // Bit 1 of m into the carry, bit 0 into N (no instruction below changes the flags).
            "lsls {n}, {m}, #31",
            "bcc 5f",
            "vldmia {pb}!, {{s0-s1}}",
            "vldmia {w0}!, {{s8-s9}}",
            "vldmia {w1}!, {{s16-s17}}",
            pair_terms!(2),
            "5:",
            "bpl 6f",
            "vldmia {pb}!, {{s0}}",
            "vldmia {w0}!, {{s8}}",
            "vldmia {w1}!, {{s16}}",
            pair_terms!(1),
            "6:",
            // Back to phi[0]; w1 now points at row i + 2.
            "sub {pb}, {pb}, {m}, lsl #2",
            "vldmia {ph}!, {{s26, s27}}",
            "vadd.f32 s24, s24, s26",
            "vadd.f32 s25, s25, s27",
            ".if {input}",
            "vldmia {pc_}!, {{s26, s27}}",
            "vmla.f32 s24, s26, s30",
            "vmla.f32 s25, s27, s30",
            ".endif",
            "vstmia {zo}!, {{s24, s25}}",
            "mov {w0}, {w1}",
            "subs {cnt}, {cnt}, #1",
            "bne 1b",
            input = const INPUT as u32,
            m = in(reg) m,
            cnt = inout(reg) pairs => _,
            n = inout(reg) s.as_ptr() => _,
            zo = inout(reg) z.as_mut_ptr() => _,
            pa = inout(reg) a.as_ptr() => _,
            ph = inout(reg) h.as_ptr() => _,
            pc_ = inout(reg) c.as_ptr() => _,
            w0 = inout(reg) w.as_ptr() => _,
            w1 = out(reg) _,
            pb = inout(reg) phi.as_ptr() => _,
            out("s0") _, out("s1") _, out("s2") _, out("s3") _,
            out("s4") _, out("s5") _, out("s6") _, out("s7") _,
            out("s8") _, out("s9") _, out("s10") _, out("s11") _,
            out("s12") _, out("s13") _, out("s14") _, out("s15") _,
            out("s16") _, out("s17") _, out("s18") _, out("s19") _,
            out("s20") _, out("s21") _, out("s22") _, out("s23") _,
            out("s24") _, out("s25") _, out("s26") _, out("s27") _,
            out("s28") _, out("s29") _, out("s30") _,
            options(nostack),
        );
    }
}

/// Portable targets: no kernel; the caller does every row.
#[cfg(not(all(target_arch = "arm", target_abi = "eabihf")))]
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn latent_pairs(
    _m: usize,
    _k: usize,
    _z: &mut [f32],
    _a: &[f32],
    _w: &[f32],
    _h: &[f32],
    _c: &[f32],
    _s: &[f32],
    _phi: &[f32],
) -> usize {
    0
}

#[cfg(test)]
mod tests {
    use crate::basis::key;

    /// The basis kernel's search and addressing (`dendritic_rows`) replayed with integer
    /// addresses: row j of keys at `kb + 4Pj`, of pairs at `pb + 8Pj`. Returns the address of
    /// the pair it loads, `None` for the zero pair (k = 0), and the address of S[P].
    fn kernel_replay(
        keys: &[u32],
        p: usize,
        j: usize,
        kz: u32,
        kb: usize,
        pb: usize,
    ) -> (Option<usize>, usize) {
        let l = usize::BITS - 1 - p.leading_zeros();
        let top = 1usize << l;
        let off = 4 * (top - 1);
        let load = |addr: usize| keys[(addr - kb) / 4];
        let d = pb.wrapping_sub(kb.wrapping_mul(2));
        // kn after the advance at the top of unit j.
        let kn = kb - 4 + 4 * p * (j + 1);
        let mut b = if load(kn - off) < kz {
            kn - off
        } else {
            kn - 4 * p
        };
        for lev in (0..l).rev() {
            let h4 = 4usize << lev;
            if load(b + h4) < kz {
                b += h4;
            }
        }
        let pair = (b + 4 * p != kn).then(|| d.wrapping_add(b.wrapping_mul(2)));
        (pair, d.wrapping_add(kn.wrapping_mul(2)))
    }

    #[test]
    fn kernel_search_and_addresses_match_a_naive_count() {
        // Thresholds with repeats, ±0 and extremes; every probe key at, just above and just
        // below each threshold, and the ends of the key range.
        let pool = [
            -3.5f32, -1.0, -0.0, 0.0, 1e-45, 0.25, 0.25, 2.0, 1e30, -1e30,
        ];
        let mut state = 0x2545_f491u32;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        let (kb, pb) = (0x2000_0100usize, 0x2000_4000usize);
        for p in 1..=127usize {
            for rows in [1usize, 3] {
                let mut keys: Vec<u32> = (0..rows * p)
                    .map(|_| key(pool[next() as usize % pool.len()]))
                    .collect();
                for row in keys.chunks_mut(p) {
                    row.sort_unstable();
                }
                for (j, row) in keys.chunks(p).enumerate() {
                    let mut probes = vec![0u32, u32::MAX, key(0.0), key(-0.0)];
                    for &t in row {
                        probes.extend([t, t.wrapping_add(1), t.wrapping_sub(1)]);
                    }
                    for kz in probes {
                        let want = row.iter().filter(|&&t| t < kz).count();
                        let (pair, total) = kernel_replay(&keys, p, j, kz, kb, pb);
                        let row_pairs = pb + 8 * p * j;
                        let want_pair = (want > 0).then(|| row_pairs + 8 * (want - 1));
                        assert_eq!(pair, want_pair, "P {p} row {j} key {kz:#x}");
                        assert_eq!(total, row_pairs + 8 * (p - 1), "P {p} row {j}");
                    }
                }
            }
        }
    }
}
