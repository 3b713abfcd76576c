//! The lane layer of the ELBO kernel: four f64 lanes as one value ([`Simd`]), in a portable
//! copy ([`Portable`], plain arrays) and an x86 copy (`Avx`, one AVX register), and the
//! tokens that make the x86 copy safe to use.
//!
//! Soundness rests on types, not on where the code happens to be called from. The x86 copy's
//! operations are AVX2/FMA instructions; executing one on a CPU without them is undefined
//! behaviour. So:
//! - every [`Simd`] type names a zero-sized [`Simd::Token`]; a value of the lane type can only
//!   be made from a token ([`Simd::splat`], [`Simd::load`]) or from other values of the type;
//! - the x86 tokens (`Avx2Fma`, `Avx512`) have private fields and exactly one constructor,
//!   `detect`, which returns `None` unless `is_x86_feature_detected!` reports every feature;
//! - [`Simd`] is an `unsafe trait`: an implementation promises that its token can only exist
//!   where its instructions run (see the trait's safety section).
//!
//! Hence, in safe code, holding an `Avx` value or an `Avx2Fma` token proves that the CPU runs
//! AVX2 and FMA; the `unsafe` blocks of the x86 copy rely on that proof and nothing else.
//!
//! Why lanes at all: written on plain `[f64; 4]` arrays, LLVM scalarised the register-resident
//! accumulators of the transition (vmulsd/vaddsd with spills; 9.6 M instructions per update).
//! Why both copies give the same bits: each operation is one correctly rounded IEEE operation
//! per lane, a plain add or multiply or a fused multiply-add (one rounding of the exact
//! a·b + c: `vfmadd` in the x86 copy, `f64::mul_add` in the portable one); tested in
//! `vector_and_portable_kernels_agree_bit_for_bit`.

/// Four f64 lanes: the unit of every latent-index loop (one AVX2 register). The latent index is
/// padded to whole lanes (zero units: their φ, rows and columns of W, A, h are zero, so they
/// contribute nothing) so that no loop has a scalar remainder; with M = 20 the old axpy loops
/// over 20 elements compiled to one 16-wide vector pass plus four scalar iterations.
pub(super) type Lane = [f64; 4];

/// Four f64 lanes held as one value, with the operations the ELBO kernel uses.
///
/// Every operation is, lane by lane, one correctly rounded IEEE operation (or an exact one:
/// compares, selects, integer counts), so that every implementation gives the same bits.
///
/// # Safety
///
/// An implementation may use instructions that not every CPU of the target runs (it is called
/// from safe code). It must make sure that a value of [`Simd::Token`] can only be obtained
/// after the running CPU was found to execute every instruction that the implementation's
/// methods use, and that a value of `Self` can only be made through [`Simd::splat`],
/// [`Simd::load`] (which take a token) or from other values of `Self`. Its methods must not
/// read or write memory outside the references they are given (bounds are checked, with a
/// panic, where an index comes from data).
pub(super) unsafe trait Simd: Copy {
    /// Zero-sized proof that the running CPU executes this type's instructions.
    type Token: Copy;
    /// x in every lane.
    fn splat(tok: Self::Token, x: f64) -> Self;
    /// The four lanes of `x`.
    fn load(tok: Self::Token, x: &Lane) -> Self;
    /// Writes the four lanes to `out`.
    fn store(self, out: &mut Lane);
    /// self + o.
    fn add(self, o: Self) -> Self;
    /// self − o.
    fn sub(self, o: Self) -> Self;
    /// self · o.
    fn mul(self, o: Self) -> Self;
    /// self·b + c with one rounding (FMA).
    fn mul_add(self, b: Self, c: Self) -> Self;
    /// c − self·b with one rounding (FMA).
    fn neg_mul_add(self, b: Self, c: Self) -> Self;
    /// self·b − c with one rounding (FMA).
    fn mul_sub(self, b: Self, c: Self) -> Self;
    /// Lane j: (a_j[0] + a_j[1]) + (a_j[2] + a_j[3]), the four sums of `a` in one value.
    fn hsum4(a: [Self; 4]) -> Self;
    /// 1.0 in the lanes where self < o (ordered), else 0.0.
    fn lt_one(self, o: Self) -> Self;
    /// max(self, 0) lane-wise (relu; NaN-free inputs).
    fn relu(self) -> Self;
    /// `count` holds integers as u64 bit patterns: returns count + [self > th] lane-wise
    /// (ordered compare; an integer subtract of the all-ones mask in the AVX2 copy, two
    /// instructions per lane against four for a 1.0-valued compare and a float add).
    fn gt_count(self, th: Self, count: Self) -> Self;
    /// Lanes hold flat indices into `table` as u64 bit patterns: writes them to `idx` and
    /// returns (table[i][0], table[i][1]) lane-wise. Panics if an index is out of bounds.
    fn gather2(self, table: &[[f64; 2]], idx: &mut [u64; 4]) -> (Self, Self);
}

/// The token of [`Portable`]: every CPU runs it, so anyone may make one.
#[derive(Clone, Copy, Debug)]
pub(super) struct Baseline;

/// Four lanes as a plain array: the copy for every target (and the reference of the tests).
#[derive(Clone, Copy)]
pub(super) struct Portable(Lane);

/// max(x, 0) (0 for NaN).
#[inline(always)]
pub(super) fn relu(x: f64) -> f64 {
    if x > 0.0 {
        x
    } else {
        0.0
    }
}

// SAFETY: plain Rust arithmetic on arrays; runs on every CPU (`Baseline` is always available),
// and `gather2` indexes with bounds checks.
unsafe impl Simd for Portable {
    type Token = Baseline;
    #[inline(always)]
    fn splat(_: Baseline, x: f64) -> Self {
        Portable([x; 4])
    }
    #[inline(always)]
    fn load(_: Baseline, x: &Lane) -> Self {
        Portable(*x)
    }
    #[inline(always)]
    fn store(self, out: &mut Lane) {
        *out = self.0;
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        let (a, b) = (self.0, o.0);
        Portable([a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]])
    }
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        let (a, b) = (self.0, o.0);
        Portable([a[0] - b[0], a[1] - b[1], a[2] - b[2], a[3] - b[3]])
    }
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        let (a, b) = (self.0, o.0);
        Portable([a[0] * b[0], a[1] * b[1], a[2] * b[2], a[3] * b[3]])
    }
    // `f64::mul_add` is correctly rounded (one rounding of the exact a·b + c), exactly what
    // vfmadd does, so this copy gives the AVX2+FMA copy's bits. Without hardware FMA it is a
    // libm call (slow, but this copy only runs where FMA is missing, and in the tests).
    #[inline(always)]
    fn mul_add(self, b: Self, c: Self) -> Self {
        let (a, b, c) = (self.0, b.0, c.0);
        Portable(std::array::from_fn(|q| a[q].mul_add(b[q], c[q])))
    }
    #[inline(always)]
    fn neg_mul_add(self, b: Self, c: Self) -> Self {
        // −a·b + c: the negation is exact, so this is the one rounding of c − a·b (vfnmadd).
        let (a, b, c) = (self.0, b.0, c.0);
        Portable(std::array::from_fn(|q| (-a[q]).mul_add(b[q], c[q])))
    }
    #[inline(always)]
    fn mul_sub(self, b: Self, c: Self) -> Self {
        let (a, b, c) = (self.0, b.0, c.0);
        Portable(std::array::from_fn(|q| a[q].mul_add(b[q], -c[q])))
    }
    #[inline(always)]
    fn relu(self) -> Self {
        Portable(self.0.map(relu))
    }
    #[inline(always)]
    fn gt_count(self, th: Self, count: Self) -> Self {
        Portable(std::array::from_fn(|q| {
            f64::from_bits(count.0[q].to_bits() + u64::from(self.0[q] > th.0[q]))
        }))
    }
    #[inline(always)]
    fn gather2(self, table: &[[f64; 2]], idx: &mut [u64; 4]) -> (Self, Self) {
        let (mut a, mut b) = ([0.0; 4], [0.0; 4]);
        for q in 0..4 {
            idx[q] = self.0[q].to_bits();
            [a[q], b[q]] = table[idx[q] as usize];
        }
        (Portable(a), Portable(b))
    }
    #[inline(always)]
    fn hsum4(a: [Self; 4]) -> Self {
        Portable(a.map(|a| (a.0[0] + a.0[1]) + (a.0[2] + a.0[3])))
    }
    #[inline(always)]
    fn lt_one(self, o: Self) -> Self {
        Portable(std::array::from_fn(|q| {
            if self.0[q] < o.0[q] {
                1.0
            } else {
                0.0
            }
        }))
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) use avx::{Avx, Avx2Fma, Avx512};

#[cfg(target_arch = "x86_64")]
mod avx {
    use super::{Lane, Simd};
    use std::arch::x86_64::*;

    /// Proof that this CPU runs AVX2 and FMA: made only by [`Avx2Fma::detect`] (the field is
    /// private), so safe code holding one may execute AVX2 and FMA instructions.
    #[derive(Clone, Copy, Debug)]
    pub(in crate::vi) struct Avx2Fma(());

    impl Avx2Fma {
        /// The token if the running CPU has AVX2 and FMA, else `None`.
        #[inline]
        pub(in crate::vi) fn detect() -> Option<Self> {
            (is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
                .then_some(Avx2Fma(()))
        }
    }

    /// Proof that this CPU runs AVX2, FMA, AVX-512F and AVX-512VL: made only by
    /// [`Avx512::detect`].
    #[derive(Clone, Copy, Debug)]
    pub(in crate::vi) struct Avx512(Avx2Fma);

    impl Avx512 {
        /// The token if the running CPU has AVX2, FMA, AVX-512F and AVX-512VL, else `None`.
        #[inline]
        pub(in crate::vi) fn detect() -> Option<Self> {
            let avx2 = Avx2Fma::detect()?;
            (is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vl"))
                .then_some(Avx512(avx2))
        }

        /// The lesser proof this one implies.
        #[inline(always)]
        pub(in crate::vi) fn avx2_fma(self) -> Avx2Fma {
            self.0
        }
    }

    /// Four lanes in one AVX register. Made only from an [`Avx2Fma`] token or from other
    /// `Avx` values (the field is private), so a value proves that the CPU runs AVX2 and FMA.
    /// The methods are `#[inline(always)]`: inlined into a function compiled with those
    /// features enabled, each intrinsic is one instruction (elsewhere each would be a call,
    /// correct but slow).
    #[derive(Clone, Copy)]
    pub(in crate::vi) struct Avx(__m256d);

    // SAFETY: the intrinsics below are AVX, AVX2 and FMA instructions, and every method is
    // reached only with an `Avx2Fma` token or an `Avx` value in hand, which exist only after
    // `Avx2Fma::detect` found both features (see the type docs). Loads and stores use the
    // unaligned forms through references to 4 f64; `gather2` checks its indices first.
    unsafe impl Simd for Avx {
        type Token = Avx2Fma;
        #[inline(always)]
        fn splat(_: Avx2Fma, x: f64) -> Self {
            // SAFETY: the token proves AVX (see the impl).
            unsafe { Avx(_mm256_set1_pd(x)) }
        }
        #[inline(always)]
        fn load(_: Avx2Fma, x: &Lane) -> Self {
            // SAFETY: the token proves AVX; `x` is 4 readable f64.
            unsafe { Avx(_mm256_loadu_pd(x.as_ptr())) }
        }
        #[inline(always)]
        fn store(self, out: &mut Lane) {
            // SAFETY: `self` proves AVX; `out` is 4 writable f64.
            unsafe { _mm256_storeu_pd(out.as_mut_ptr(), self.0) }
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            // SAFETY: `self` proves AVX.
            unsafe { Avx(_mm256_add_pd(self.0, o.0)) }
        }
        #[inline(always)]
        fn sub(self, o: Self) -> Self {
            // SAFETY: `self` proves AVX.
            unsafe { Avx(_mm256_sub_pd(self.0, o.0)) }
        }
        #[inline(always)]
        fn mul(self, o: Self) -> Self {
            // SAFETY: `self` proves AVX.
            unsafe { Avx(_mm256_mul_pd(self.0, o.0)) }
        }
        #[inline(always)]
        fn mul_add(self, b: Self, c: Self) -> Self {
            // SAFETY: `self` proves FMA.
            unsafe { Avx(_mm256_fmadd_pd(self.0, b.0, c.0)) }
        }
        #[inline(always)]
        fn neg_mul_add(self, b: Self, c: Self) -> Self {
            // SAFETY: `self` proves FMA.
            unsafe { Avx(_mm256_fnmadd_pd(self.0, b.0, c.0)) }
        }
        #[inline(always)]
        fn mul_sub(self, b: Self, c: Self) -> Self {
            // SAFETY: `self` proves FMA.
            unsafe { Avx(_mm256_fmsub_pd(self.0, b.0, c.0)) }
        }
        #[inline(always)]
        fn relu(self) -> Self {
            // max(x, 0) returns the second operand for NaN or equal; x = ±0 → +0 like relu().
            // SAFETY: `self` proves AVX.
            unsafe { Avx(_mm256_max_pd(self.0, _mm256_setzero_pd())) }
        }
        #[inline(always)]
        fn gt_count(self, th: Self, count: Self) -> Self {
            // SAFETY: `self` proves AVX and AVX2.
            unsafe {
                let gt = _mm256_castpd_si256(_mm256_cmp_pd::<_CMP_GT_OQ>(self.0, th.0));
                let c = _mm256_castpd_si256(count.0);
                Avx(_mm256_castsi256_pd(_mm256_sub_epi64(c, gt)))
            }
        }
        #[inline(always)]
        fn gather2(self, table: &[[f64; 2]], idx: &mut [u64; 4]) -> (Self, Self) {
            // SAFETY: `self` proves AVX and AVX2; the store writes the 4 u64 of `idx`; the
            // gathers read table[i][0] and table[i][1] for the four i, after the assert
            // checked i < table.len().
            unsafe {
                let i = _mm256_castpd_si256(self.0);
                _mm256_storeu_si256(idx.as_mut_ptr().cast(), i);
                // The gathers below read table[i] for these i: check i < len (unsigned, as a
                // signed compare after flipping the sign bits; one vector compare, where the
                // scalar check of the four indices cost ≈ 8 instructions).
                let flip = _mm256_set1_epi64x(i64::MIN);
                let len = _mm256_set1_epi64x(table.len() as i64);
                let lt = _mm256_cmpgt_epi64(_mm256_xor_si256(len, flip), _mm256_xor_si256(i, flip));
                assert!(_mm256_movemask_pd(_mm256_castsi256_pd(lt)) == 0xf);
                let twice = _mm256_slli_epi64::<1>(i);
                let base = table.as_ptr().cast::<f64>();
                (
                    Avx(_mm256_i64gather_pd::<8>(base, twice)),
                    Avx(_mm256_i64gather_pd::<8>(base.add(1), twice)),
                )
            }
        }
        #[inline(always)]
        fn hsum4(a: [Self; 4]) -> Self {
            // SAFETY: the values of `a` prove AVX.
            unsafe {
                // hadd(a, b) = [a0 + a1, b0 + b1, a2 + a3, b2 + b3]; the 128-bit halves
                // regrouped, then one add: lane j = (a_j0 + a_j1) + (a_j2 + a_j3).
                let h01 = _mm256_hadd_pd(a[0].0, a[1].0);
                let h23 = _mm256_hadd_pd(a[2].0, a[3].0);
                let lo = _mm256_permute2f128_pd::<0x20>(h01, h23);
                let hi = _mm256_permute2f128_pd::<0x31>(h01, h23);
                Avx(_mm256_add_pd(lo, hi))
            }
        }
        #[inline(always)]
        fn lt_one(self, o: Self) -> Self {
            // SAFETY: `self` proves AVX.
            unsafe {
                let lt = _mm256_cmp_pd::<_CMP_LT_OQ>(self.0, o.0);
                Avx(_mm256_and_pd(lt, _mm256_set1_pd(1.0)))
            }
        }
    }
}

/// `s` (length a multiple of 4) as lanes. (`chunks_exact(4)` with `try_into` here cost
/// ≈ 0.09 M more instructions per update in the linear heads (callgrind): the conversions kept
/// their checks.)
#[inline(always)]
pub(super) fn lanes(s: &[f64]) -> &[Lane] {
    let (whole, rest) = s.as_chunks();
    assert!(rest.is_empty());
    whole
}

/// [`lanes`] for a mutable slice.
#[inline(always)]
pub(super) fn lanes_mut(s: &mut [f64]) -> &mut [Lane] {
    let (whole, rest) = s.as_chunks_mut();
    assert!(rest.is_empty());
    whole
}

/// The first V lanes of `s` as an array (a compile-time length lets LLVM keep them in registers).
#[inline(always)]
pub(super) fn arr<const V: usize>(s: &[Lane]) -> &[Lane; V] {
    s[..V].try_into().unwrap()
}

/// [`arr`] for a mutable slice.
#[inline(always)]
pub(super) fn arr_mut<const V: usize>(s: &mut [Lane]) -> &mut [Lane; V] {
    (&mut s[..V]).try_into().unwrap()
}

/// acc += c·x, lane-wise.
#[inline(always)]
pub(super) fn madd<S: Simd, const V: usize>(
    tok: S::Token,
    acc: &mut [S; V],
    c: f64,
    x: &[Lane; V],
) {
    let c = S::splat(tok, c);
    for (a, x) in acc.iter_mut().zip(x) {
        *a = c.mul_add(S::load(tok, x), *a);
    }
}

/// acc −= c·x, lane-wise (one fused negative multiply-add: no separate negation of c).
#[inline(always)]
pub(super) fn nmadd<S: Simd, const V: usize>(
    tok: S::Token,
    acc: &mut [S; V],
    c: f64,
    x: &[Lane; V],
) {
    let c = S::splat(tok, c);
    for (a, x) in acc.iter_mut().zip(x) {
        *a = c.neg_mul_add(S::load(tok, x), *a);
    }
}

/// V lanes from memory into values.
#[inline(always)]
pub(super) fn load<S: Simd, const V: usize>(tok: S::Token, x: &[Lane; V]) -> [S; V] {
    // (not `array::from_fn`: it was left as an out-of-line call for some V)
    let mut out = [S::splat(tok, 0.0); V];
    for (o, x) in out.iter_mut().zip(x) {
        *o = S::load(tok, x);
    }
    out
}

/// V values to memory.
#[inline(always)]
pub(super) fn store<S: Simd, const V: usize>(a: &[S; V], out: &mut [Lane; V]) {
    for (a, o) in a.iter().zip(out) {
        a.store(o);
    }
}

/// Σ x in four independent lane accumulators (16 partial sums), then the rest. Measured (perf
/// samples of `vi_update`): the plain serial sum over the T·M = 20 000 log σ was one chain of
/// 20 000 dependent adds, ≈ 5 % of an update.
#[inline(always)]
pub(super) fn sum<S: Simd>(tok: S::Token, x: &[f64]) -> f64 {
    let whole = x.len() / 16 * 16;
    let mut acc = [S::splat(tok, 0.0); 4];
    for c in lanes(&x[..whole]).chunks_exact(4) {
        for (a, v) in acc.iter_mut().zip(c) {
            *a = a.add(S::load(tok, v));
        }
    }
    let mut out = [0.0; 4];
    acc[0].add(acc[1]).add(acc[2].add(acc[3])).store(&mut out);
    (out[0] + out[1]) + (out[2] + out[3]) + x[whole..].iter().sum::<f64>()
}
