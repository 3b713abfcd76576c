//! The kernel sweep, shared word for word by the `kernel-sweep` firmware binary and the host
//! replay `fw_parity sweep` (`tests/src/bin/fw_parity.rs` includes this file with `#[path]`):
//! small models of many shapes, every variant, built from a fixed pseudo-random stream,
//! stepped from states placed on, next to and between the thresholds, then run freely with
//! noise. One FNV-1a checksum per shape and variant over every observation and state; `ci.sh`
//! diffs device against host.
//!
//! The device runs the inline-assembly kernels of plrnn-nostd (module `kernel`), the host the
//! portable code, so equal output means equal bits for: P = 0 (no basis), P from 1 to 127 with
//! every search length (1 to 7 probes) and P = 128 (beyond the assembly, portable on both), M
//! from 1 to 25 (odd M, every remainder of M mod 8), K = 0, 1, 2 (K = 2: portable rows).

use crate::scenario::{Fnv1a, Line, Sink};
use plrnn_nostd::{Generator, Model, ModelParams, Noise, Variant};

/// xorshift32: the pseudo-random stream of the sweep (the same on device and host).
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }

    /// Uniform in [−1, 1) on a grid of 2⁻²³ (full mantissas, so that different sums round
    /// differently).
    fn unit(&mut self) -> f32 {
        (self.next() >> 8) as f32 / 8_388_608.0 - 1.0
    }
}

/// Thresholds are drawn from a pool of six values in [−2, 2), −0.0 and +0.0, so that rows
/// share thresholds and hold equal ones.
fn theta_pool(rng: &mut Rng) -> [f32; 8] {
    let mut pool = [0.0f32; 8];
    for v in pool.iter_mut().take(6) {
        *v = 2.0 * rng.unit();
    }
    pool[6] = -0.0;
    pool
}

/// A state value for unit j: a threshold of row j exactly, one ulp either side of one, ±0, a
/// value between, or far outside (±10⁴: far enough for k = 0 and k = P, small enough that no
/// sum overflows towards a NaN, whose bits are not the same on x86 and on the Cortex-M4F).
fn probe(rng: &mut Rng, row: &[f32]) -> f32 {
    let theta = match row.len() {
        0 => 0.0,
        n => row.get(rng.next() as usize % n).copied().unwrap_or(0.0),
    };
    match rng.next() % 9 {
        0 | 1 => theta,
        2 => next_up(theta),
        3 => -next_up(-theta),
        4 => 0.0,
        5 => -0.0,
        6 => 1.0e4,
        7 => -1.0e4,
        _ => 3.0 * rng.unit(),
    }
}

/// The next f32 above a finite `x` (the smallest positive subnormal for ±0); `-next_up(-x)` is
/// the next below. Never NaN: with NaNs in the state (0x7fffffff and 0xffffffff) the host and
/// the Cortex-M4F gave different NaN bits, with the portable code on the device as with the
/// assembly (NaN propagation picks an operand's payload; which one differs between them).
fn next_up(x: f32) -> f32 {
    let b = x.to_bits();
    if b & 0x7FFF_FFFF == 0 {
        f32::from_bits(1)
    } else if b >> 31 == 0 {
        f32::from_bits(b + 1)
    } else {
        f32::from_bits(b - 1)
    }
}

/// Steps of each run.
const PROBES: usize = 40;
const FREE_STEPS: usize = 30;

/// One shape: prints `sweep M= N= P= K=` and a checksum per variant.
fn shape<const M: usize, const N: usize, const P: usize, const K: usize>(sink: &mut impl Sink) {
    let mut line = Line::new();
    line.str("sweep ").dims(M, N, P, K);
    let seed = 0x9E37_79B9u32 ^ ((M as u32) << 24 | (N as u32) << 16 | (P as u32) << 4 | K as u32);
    for variant in [Variant::Relu, Variant::Dendritic, Variant::ClippedDendritic] {
        let mut rng = Rng(seed);
        let pool = theta_pool(&mut rng);
        let params = ModelParams::<M, N, P, K> {
            a: core::array::from_fn(|_| 0.9 * rng.unit()),
            w: core::array::from_fn(|i| {
                core::array::from_fn(|j| if i == j { 0.0 } else { 0.5 * rng.unit() })
            }),
            h: core::array::from_fn(|_| 0.2 * rng.unit()),
            alpha: core::array::from_fn(|_| rng.unit()),
            theta: core::array::from_fn(|_| {
                core::array::from_fn(|_| pool[rng.next() as usize % pool.len()])
            }),
            c: core::array::from_fn(|_| core::array::from_fn(|_| rng.unit())),
            b: core::array::from_fn(|_| core::array::from_fn(|_| rng.unit())),
            sigma_z: [0.1; M],
            sigma_x: [0.1; N],
        };
        let theta = params.theta;
        line.str(" ").str(variant.name()).str("=");
        let Ok(model) = Model::from_params(variant, params) else {
            line.str("load-error");
            continue;
        };
        let mut hash = Fnv1a::new();
        let mut gen = Generator::new(&model, u64::from(seed));
        let mut x = [0.0f32; N];
        for _ in 0..PROBES {
            let z: [f32; M] = core::array::from_fn(|j| probe(&mut rng, &theta[j]));
            let s: [f32; K] = core::array::from_fn(|_| rng.unit());
            gen.set_state(z);
            gen.step(&s, Noise::None, &mut x);
            hash.f32s(&x);
            hash.f32s(gen.state());
        }
        gen.set_state(core::array::from_fn(|_| rng.unit()));
        gen.set_clamp(Some(8.0));
        for _ in 0..FREE_STEPS {
            let s: [f32; K] = core::array::from_fn(|_| rng.unit());
            gen.step(&s, Noise::Full, &mut x);
            hash.f32s(&x);
            hash.f32s(gen.state());
        }
        line.hex(hash.value());
    }
    line.emit(sink);
}

/// Runs every shape, one line each, then `end`.
pub fn run(sink: &mut impl Sink) {
    shape::<1, 1, 1, 0>(sink);
    shape::<2, 1, 0, 1>(sink);
    shape::<2, 1, 1, 1>(sink);
    shape::<3, 2, 2, 1>(sink);
    shape::<4, 1, 3, 0>(sink);
    shape::<5, 2, 4, 1>(sink);
    shape::<6, 3, 5, 2>(sink);
    shape::<7, 1, 7, 1>(sink);
    shape::<8, 2, 8, 0>(sink);
    shape::<9, 3, 9, 1>(sink);
    shape::<11, 2, 15, 1>(sink);
    shape::<12, 1, 16, 1>(sink);
    shape::<13, 3, 17, 0>(sink);
    shape::<16, 2, 20, 1>(sink);
    shape::<17, 3, 31, 1>(sink);
    shape::<20, 3, 32, 1>(sink);
    shape::<10, 2, 33, 1>(sink);
    shape::<24, 4, 6, 1>(sink);
    shape::<25, 2, 3, 1>(sink);
    shape::<3, 1, 63, 1>(sink);
    shape::<4, 2, 64, 0>(sink);
    shape::<5, 1, 65, 1>(sink);
    shape::<2, 1, 127, 1>(sink);
    shape::<3, 1, 128, 1>(sink);
    let mut line = Line::new();
    line.str("end").emit(sink);
}
