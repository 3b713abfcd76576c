//! Standard-normal draws for the reparameterisation noise ε, a whole buffer at a time.
//!
//! Why not `rand_distr::StandardNormal` (used before): it is the same 256-layer ziggurat, but
//! one scalar draw per call; drawing the 20 000 values of one `vi_update` bench update cost
//! ≈ 0.87 M instructions (≈ 43 per normal, callgrind), ≈ 16 % of the update. rand_distr has no
//! batch API and its tables are private. Here four xoshiro256++ streams run side by side, one
//! per lane of an AVX2 register, and the ziggurat's fast path (≈ 98.8 % of draws) is done for
//! four draws at once with one 128-bit table load per lane; see [`NormalSampler::fill`] for the measured cost.
//!
//! The algorithm is the ziggurat of Marsaglia and Tsang (2000) in the form rand_distr uses
//! (Doornik's variant: layer index and uniform from one 64-bit word): with bits b,
//! layer i = b mod 256, u = a uniform on [−1, 1) from the top 52 bits, x = u·X_i; accept if
//! |x| < X_{i+1}; otherwise layer 0 draws from the tail beyond R (Marsaglia's exponential
//! method), and layers 1..255 accept x with probability (f(x) − f(X_i))/(f(X_{i+1}) − f(X_i))
//! (the wedge test), else start over with a fresh word. Only the fast path is vectorised; the
//! rest runs per lane on that lane's own stream, in one shared scalar function, so the AVX2
//! copy and the portable copy give the same numbers (tested).

use std::sync::OnceLock;

use rand_xoshiro::rand_core::{Rng, SeedableRng};
use rand_xoshiro::SplitMix64;

/// Start of the tail (the rightmost layer edge), as in rand_distr's tables.
const R: f64 = 3.654_152_885_361_009;
/// Area of each of the 256 layers (rectangle plus its share of curve), as in rand_distr's
/// generator script.
const V: f64 = 0.004_928_673_233_99;

/// Layer edges X_0 > … > X_256 = 0 (X_0 = V/f(R) is the base layer's virtual width) and
/// F_i = f(X_i) = exp(−X_i²/2).
struct Tables {
    x: [f64; 257],
    f: [f64; 257],
}

fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| {
        let pdf = |x: f64| (-0.5 * x * x).exp();
        let mut x = [0.0; 257];
        x[0] = V / pdf(R);
        x[1] = R;
        for i in 2..256 {
            x[i] = (-2.0 * (V / x[i - 1] + pdf(x[i - 1])).ln()).sqrt();
        }
        x[256] = 0.0;
        let f = x.map(pdf);
        Tables { x, f }
    })
}

/// Four xoshiro256++ states side by side: `s[k][j]` is word k of lane j.
type States = [[u64; 4]; 4];

/// Draws N(0, 1) values into buffers. Seeded deterministically; the numbers for a given seed
/// and sequence of buffer lengths are the same on every machine (AVX2 or not).
#[derive(Clone, Debug)]
pub struct NormalSampler {
    s: States,
}

/// One xoshiro256++ step of lane j (Blackman and Vigna 2018).
#[inline(always)]
fn next_lane(s: &mut States, j: usize) -> u64 {
    let out = s[0][j]
        .wrapping_add(s[3][j])
        .rotate_left(23)
        .wrapping_add(s[0][j]);
    let t = s[1][j] << 17;
    s[2][j] ^= s[0][j];
    s[3][j] ^= s[1][j];
    s[1][j] ^= s[2][j];
    s[0][j] ^= s[3][j];
    s[2][j] ^= t;
    s[3][j] = s[3][j].rotate_left(45);
    out
}

/// The uniform on [−1, 1) from the top 52 bits of `bits`: [2, 4) by the exponent, minus 3.
#[inline(always)]
fn signed_uniform(bits: u64) -> f64 {
    f64::from_bits((bits >> 12) | 0x4000_0000_0000_0000) - 3.0
}

/// A uniform on the open (0, 1) from lane j.
fn open01(s: &mut States, j: usize) -> f64 {
    ((next_lane(s, j) >> 12) as f64 + 0.5) * (1.0 / (1u64 << 52) as f64)
}

/// The ziggurat after a fast-path rejection of x = u·X_i in lane j: tail for layer 0, wedge
/// test otherwise, then fresh attempts on the same lane until one is accepted. Never inlined:
/// one compiled copy serves both the AVX2 and the portable fill, so they agree bit for bit.
#[inline(never)]
#[cold]
fn finish(s: &mut States, j: usize, t: &Tables, mut i: usize, mut u: f64, mut x: f64) -> f64 {
    loop {
        if i == 0 {
            // Tail beyond R: a = −ln(U1)/R, b = −ln(U2), accept when 2b > a² (Marsaglia 1964);
            // then R + a has the normal density restricted to (R, ∞). Sign from u.
            let a = loop {
                let a = -open01(s, j).ln() / R;
                let b = -open01(s, j).ln();
                if 2.0 * b > a * a {
                    break a;
                }
            };
            return if u < 0.0 { -(R + a) } else { R + a };
        }
        // Wedge: y uniform on (F_i, F_{i+1}]; accept when y < f(x).
        let w = (next_lane(s, j) >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        if t.f[i + 1] + (t.f[i] - t.f[i + 1]) * w < (-0.5 * x * x).exp() {
            return x;
        }
        let bits = next_lane(s, j);
        i = (bits & 0xff) as usize;
        u = signed_uniform(bits);
        x = u * t.x[i];
        if x.abs() < t.x[i + 1] {
            return x;
        }
    }
}

/// Fast path of four draws, lane by lane (the portable copy, and the model of the AVX2 one):
/// writes x = u·X_i into `out` and returns the mask of lanes that need [`finish`], with their
/// layer and uniform in `li`, `lu`.
#[inline(always)]
fn chunk_portable(
    s: &mut States,
    t: &Tables,
    out: &mut [f64; 4],
    li: &mut [usize; 4],
    lu: &mut [f64; 4],
) -> u32 {
    let mut reject = 0;
    for j in 0..4 {
        let bits = next_lane(s, j);
        let i = (bits & 0xff) as usize;
        let u = signed_uniform(bits);
        let x = u * t.x[i];
        out[j] = x;
        li[j] = i;
        lu[j] = u;
        // (x is never NaN: u and the table are finite.)
        if x.abs() >= t.x[i + 1] {
            reject |= 1 << j;
        }
    }
    reject
}

/// Completes the rejected lanes of one chunk, lanes in order.
#[inline(always)]
fn fix(s: &mut States, t: &Tables, out: &mut [f64], reject: u32, li: &[usize; 4], lu: &[f64; 4]) {
    for j in 0..4 {
        if reject & (1 << j) != 0 {
            out[j] = finish(s, j, t, li[j], lu[j], out[j]);
        }
    }
}

fn fill_portable(s: &mut States, t: &Tables, out: &mut [f64]) {
    let (mut li, mut lu) = ([0; 4], [0.0; 4]);
    let mut chunks = out.chunks_exact_mut(4);
    for o in &mut chunks {
        let o: &mut [f64; 4] = o.try_into().unwrap();
        let reject = chunk_portable(s, t, o, &mut li, &mut lu);
        if reject != 0 {
            fix(s, t, o, reject, &li, &lu);
        }
    }
    fill_rest(s, t, chunks.into_remainder());
}

/// The last len mod 4 values: one whole chunk, of which the first lanes are kept (both copies).
fn fill_rest(s: &mut States, t: &Tables, rest: &mut [f64]) {
    if rest.is_empty() {
        return;
    }
    let (mut o, mut li, mut lu) = ([0.0; 4], [0; 4], [0.0; 4]);
    let reject = chunk_portable(s, t, &mut o, &mut li, &mut lu);
    fix(s, t, &mut o, reject, &li, &lu);
    rest.copy_from_slice(&o[..rest.len()]);
}

#[cfg(target_arch = "x86_64")]
mod avx {
    use super::{fill_rest, fix, States, Tables};
    use std::arch::x86_64::*;

    #[inline(always)]
    unsafe fn rotl<const L: i32, const R: i32>(x: __m256i) -> __m256i {
        _mm256_or_si256(_mm256_slli_epi64::<L>(x), _mm256_srli_epi64::<R>(x))
    }

    /// The portable fill's arithmetic four lanes at a time: xoshiro256++ in 64-bit integer
    /// lanes, the pair (X_i, X_{i+1}) of each lane by one 128-bit load, the same IEEE multiply
    /// and compare. (Two `vgatherqpd` per four draws were the loop's bottleneck on the CI-class
    /// AMD EPYC: the four loads and the regrouping made the whole update ≈ 3 % faster.)
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn fill(st: &mut States, t: &Tables, out: &mut [f64]) {
        let ld = |w: &[u64; 4]| _mm256_loadu_si256(w.as_ptr().cast());
        let (mut s0, mut s1, mut s2, mut s3) = (ld(&st[0]), ld(&st[1]), ld(&st[2]), ld(&st[3]));
        let low8 = _mm256_set1_epi64x(0xff);
        let two = _mm256_set1_epi64x(0x4000_0000_0000_0000);
        let three = _mm256_set1_pd(3.0);
        let abs = _mm256_castsi256_pd(_mm256_set1_epi64x(i64::MAX));
        let xt = t.x.as_ptr();
        let mut chunks = out.chunks_exact_mut(4);
        for o in &mut chunks {
            // xoshiro256++
            let bits = _mm256_add_epi64(rotl::<23, 41>(_mm256_add_epi64(s0, s3)), s0);
            let tt = _mm256_slli_epi64::<17>(s1);
            s2 = _mm256_xor_si256(s2, s0);
            s3 = _mm256_xor_si256(s3, s1);
            s1 = _mm256_xor_si256(s1, s2);
            s0 = _mm256_xor_si256(s0, s3);
            s2 = _mm256_xor_si256(s2, tt);
            s3 = rotl::<45, 19>(s3);
            // ziggurat fast path; i ≤ 255, so i and i + 1 index the 257-entry table (the
            // pointer reads below stay inside `t.x`).
            let idx = _mm256_and_si256(bits, low8);
            let (lo, hi) = (
                _mm256_castsi256_si128(idx),
                _mm256_extracti128_si256::<1>(idx),
            );
            let pair = |i: i64| _mm_loadu_pd(xt.add(i as usize));
            let (p0, p1) = (
                pair(_mm_cvtsi128_si64(lo)),
                pair(_mm_extract_epi64::<1>(lo)),
            );
            let (p2, p3) = (
                pair(_mm_cvtsi128_si64(hi)),
                pair(_mm_extract_epi64::<1>(hi)),
            );
            let a = _mm256_insertf128_pd::<1>(_mm256_castpd128_pd256(p0), p2);
            let b = _mm256_insertf128_pd::<1>(_mm256_castpd128_pd256(p1), p3);
            let (xi, xn) = (_mm256_unpacklo_pd(a, b), _mm256_unpackhi_pd(a, b));
            let u = _mm256_sub_pd(
                _mm256_castsi256_pd(_mm256_or_si256(_mm256_srli_epi64::<12>(bits), two)),
                three,
            );
            let x = _mm256_mul_pd(u, xi);
            let ok = _mm256_cmp_pd::<_CMP_LT_OQ>(_mm256_and_pd(x, abs), xn);
            _mm256_storeu_pd(o.as_mut_ptr(), x);
            let reject = (!_mm256_movemask_pd(ok) & 0xf) as u32;
            if reject != 0 {
                let (mut li, mut lu, mut ix) = ([0usize; 4], [0.0; 4], [0u64; 4]);
                _mm256_storeu_si256(ix.as_mut_ptr().cast(), idx);
                _mm256_storeu_pd(lu.as_mut_ptr(), u);
                for j in 0..4 {
                    li[j] = ix[j] as usize;
                }
                for (w, v) in st.iter_mut().zip([s0, s1, s2, s3]) {
                    _mm256_storeu_si256(w.as_mut_ptr().cast(), v);
                }
                fix(st, t, o, reject, &li, &lu);
                (s0, s1, s2, s3) = (ld(&st[0]), ld(&st[1]), ld(&st[2]), ld(&st[3]));
            }
        }
        for (w, v) in st.iter_mut().zip([s0, s1, s2, s3]) {
            _mm256_storeu_si256(w.as_mut_ptr().cast(), v);
        }
        fill_rest(st, t, chunks.into_remainder());
    }
}

impl NormalSampler {
    /// Four xoshiro256++ streams whose states are consecutive SplitMix64 outputs of `seed`.
    /// (SplitMix64 is the usual way to expand a 64-bit seed into xoshiro states; rand_xoshiro's
    /// own `seed_from_u64` does the same.)
    pub fn seed_from_u64(seed: u64) -> Self {
        let mut sm = SplitMix64::seed_from_u64(seed);
        let mut s = [[0u64; 4]; 4];
        for j in 0..4 {
            for k in 0..4 {
                s[k][j] = sm.next_u64();
            }
            // The all-zero state is xoshiro's one fixed point (SplitMix64 never gives four
            // zeros in a row in practice; guarded anyway).
            if (0..4).all(|k| s[k][j] == 0) {
                s[0][j] = 1;
            }
        }
        Self { s }
    }

    /// Fills `out` with independent N(0, 1) draws. `out[4c + j]` comes from lane j.
    ///
    /// Measured (callgrind, 20 000 draws as in the `vi_update` bench): ≈ 0.87 M instructions
    /// with rand_distr's `StandardNormal` one draw at a time, ≈ 0.17 M here with AVX2.
    pub fn fill(&mut self, out: &mut [f64]) {
        let t = tables();
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2, checked just above.
                unsafe { avx::fill(&mut self.s, t, out) };
                return;
            }
        }
        fill_portable(&mut self.s, t, out);
    }

    /// [`NormalSampler::fill`] without the AVX2 dispatch (for the equality test).
    #[cfg(test)]
    fn fill_portable(&mut self, out: &mut [f64]) {
        fill_portable(&mut self.s, tables(), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_xoshiro::Xoshiro256PlusPlus;

    /// Φ(x) via erfc: W. J. Cody's rational approximations are overkill here; this is the
    /// Numerical Recipes erfc (Chebyshev fit, fractional error < 1.2e-7 everywhere), far below
    /// the KS tolerance of ~2e-3.
    fn normal_cdf(x: f64) -> f64 {
        let z = x.abs() / std::f64::consts::SQRT_2;
        let t = 1.0 / (1.0 + 0.5 * z);
        let poly = -z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77))))))));
        let erfc = t * poly.exp();
        if x >= 0.0 {
            1.0 - 0.5 * erfc
        } else {
            0.5 * erfc
        }
    }

    fn draws(seed: u64, n: usize) -> Vec<f64> {
        let mut v = vec![0.0; n];
        NormalSampler::seed_from_u64(seed).fill(&mut v);
        v
    }

    #[test]
    fn tables_match_rand_distr() {
        // Values from rand_distr 0.6's ziggurat_tables.rs.
        let t = tables();
        assert!((t.x[0] - 3.910_757_959_537_09).abs() < 1e-12);
        assert!((t.x[2] - 3.449_278_298_560_964_5).abs() < 1e-12);
        assert!(t.x.windows(2).all(|w| w[0] > w[1]), "edges decrease");
        assert!(t.x[255] > 0.0 && t.x[255] < 0.3, "{}", t.x[255]);
    }

    #[test]
    fn lane_generator_is_xoshiro256plusplus() {
        let mut s = NormalSampler::seed_from_u64(9).s;
        let mut bytes = [0u8; 32];
        for k in 0..4 {
            bytes[8 * k..8 * k + 8].copy_from_slice(&s[k][2].to_le_bytes());
        }
        let mut reference = Xoshiro256PlusPlus::from_seed(bytes);
        for _ in 0..100 {
            assert_eq!(next_lane(&mut s, 2), reference.next_u64());
        }
    }

    /// Mean, variance, 4th moment and the tail share against their standard errors (5 SE),
    /// and a Kolmogorov–Smirnov test against Φ (critical value at α = 0.001: 1.95/√n).
    #[test]
    fn draws_are_standard_normal() {
        for seed in [0, 1] {
            let n = 1_000_000;
            let v = draws(seed, n);
            let nf = n as f64;
            let mean = v.iter().sum::<f64>() / nf;
            let m2 = v.iter().map(|x| x * x).sum::<f64>() / nf;
            let m4 = v.iter().map(|x| x.powi(4)).sum::<f64>() / nf;
            // SE: mean 1/√n; E x² has variance 2; E x⁴ has variance E x⁸ − 9 = 105 − 9 = 96.
            assert!(mean.abs() < 5.0 / nf.sqrt(), "seed {seed} mean {mean}");
            assert!(
                (m2 - 1.0).abs() < 5.0 * (2.0 / nf).sqrt(),
                "seed {seed} E x² {m2}"
            );
            assert!(
                (m4 - 3.0).abs() < 5.0 * (96.0 / nf).sqrt(),
                "seed {seed} E x⁴ {m4}"
            );
            // The tail beyond R (layer 0's slow path): probability 2(1 − Φ(R)) ≈ 2.58e-4.
            let p_tail = 2.0 * (1.0 - normal_cdf(R));
            let tail = v.iter().filter(|x| x.abs() > R).count() as f64;
            let se = (nf * p_tail * (1.0 - p_tail)).sqrt();
            assert!(
                (tail - nf * p_tail).abs() < 5.0 * se,
                "seed {seed} tail {tail}"
            );
            let mut s = v.clone();
            s.sort_by(f64::total_cmp);
            let d = s
                .iter()
                .enumerate()
                .map(|(k, &x)| {
                    let c = normal_cdf(x);
                    (c - k as f64 / nf).abs().max((k as f64 + 1.0) / nf - c)
                })
                .fold(0.0, f64::max);
            assert!(d < 1.95 / nf.sqrt(), "seed {seed} KS distance {d}");
            // Neighbours come from different lanes, and every 4th from the same: no correlation.
            for lag in [1, 4] {
                let c = v.iter().zip(&v[lag..]).map(|(a, b)| a * b).sum::<f64>() / nf;
                assert!(c.abs() < 5.0 / nf.sqrt(), "seed {seed} lag {lag} corr {c}");
            }
        }
    }

    /// Within a wedge the accepted values follow the density: the share of draws in
    /// (X_20, X_19], a layer's wedge region, matches Φ.
    #[test]
    fn a_wedge_region_has_its_probability() {
        let (n, t) = (1_000_000, tables());
        let v = draws(5, n);
        let (lo, hi) = (t.x[20], t.x[19]);
        let p = 2.0 * (normal_cdf(hi) - normal_cdf(lo));
        let c = v.iter().filter(|x| x.abs() > lo && x.abs() <= hi).count() as f64;
        let se = (n as f64 * p * (1.0 - p)).sqrt();
        assert!(
            (c - n as f64 * p).abs() < 5.0 * se,
            "count {c} expected {}",
            n as f64 * p
        );
    }

    #[test]
    fn seeded_and_the_same_with_and_without_avx2() {
        for len in [0, 1, 3, 4, 7, 1000, 4097] {
            let a = draws(11, len);
            assert_eq!(a, draws(11, len), "same seed, same draws");
            let mut b = vec![0.0; len];
            let mut p = NormalSampler::seed_from_u64(11);
            p.fill_portable(&mut b);
            assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
            // Continuing the stream agrees too.
            let (mut d, mut q) = (
                NormalSampler::seed_from_u64(3),
                NormalSampler::seed_from_u64(3),
            );
            let (mut e, mut f) = (vec![0.0; len], vec![0.0; len]);
            for _ in 0..3 {
                d.fill(&mut e);
                q.fill_portable(&mut f);
                assert!(e.iter().zip(&f).all(|(x, y)| x.to_bits() == y.to_bits()));
            }
        }
        assert_ne!(draws(1, 8), draws(2, 8));
    }
}
