//! The multiply-add loop of the dot products (module `step`): `acc += a[t] * b[t]` for t = 0, 1,
//! … in order, one accumulator, over the whole blocks of four terms.
//!
//! On 32-bit Arm with the hard-float ABI (`thumbv7em-none-eabihf`: Cortex-M4F, M7) this is
//! inline assembly: LLVM loads each f32 with its own `vldr` (two loads per multiply-add), while
//! `vldmia` loads eight consecutive floats in one instruction. The arithmetic is the same as the
//! portable code's: `vmla.f32` rounds the product, then the sum (it is not fused; `vfma` is),
//! which is what `acc + a * b` compiles to on that FPU, in the same order — so the results are
//! bit-identical to the portable path, the host's included (checked by the firmware's parity run
//! in `firmware-example/ci.sh`). Every other target uses the portable Rust below.
//!
//! This module holds the crate's only `unsafe` code.
#![allow(unsafe_code)]

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
            "vmla.f32 s24, s8, s0",
            "vmla.f32 s25, s16, s0",
            "vmla.f32 s24, s9, s1",
            "vmla.f32 s25, s17, s1",
            "vmla.f32 s24, s10, s2",
            "vmla.f32 s25, s18, s2",
            "vmla.f32 s24, s11, s3",
            "vmla.f32 s25, s19, s3",
            "vmla.f32 s24, s12, s4",
            "vmla.f32 s25, s20, s4",
            "vmla.f32 s24, s13, s5",
            "vmla.f32 s25, s21, s5",
            "vmla.f32 s24, s14, s6",
            "vmla.f32 s25, s22, s6",
            "vmla.f32 s24, s15, s7",
            "vmla.f32 s25, s23, s7",
            "subs {n}, {n}, #1",
            "bne 2b",
            "3:",
            "lsls {n}, {len}, #30",
            "bcc 4f",
            "vldmia {pb}, {{s0-s3}}",
            "vldmia {pa0}, {{s8-s11}}",
            "vldmia {pa1}, {{s16-s19}}",
            "vmla.f32 s24, s8, s0",
            "vmla.f32 s25, s16, s0",
            "vmla.f32 s24, s9, s1",
            "vmla.f32 s25, s17, s1",
            "vmla.f32 s24, s10, s2",
            "vmla.f32 s25, s18, s2",
            "vmla.f32 s24, s11, s3",
            "vmla.f32 s25, s19, s3",
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
