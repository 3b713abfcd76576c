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
