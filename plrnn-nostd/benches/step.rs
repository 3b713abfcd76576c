//! ns per deterministic closed-loop step (latent update + observation) for the sizes of the
//! core issue, through the const-generic path the firmware uses. The multiply-add count of each
//! size is printed beside it (`Dims::macs_per_step`).

use criterion::{criterion_group, criterion_main, Criterion};
use plrnn_nostd::{Generator, Model, ModelParams, Noise, Variant};
use std::hint::black_box;

fn model<const M: usize, const N: usize, const P: usize>(
    variant: Variant,
) -> Box<Model<M, N, P, 0>> {
    // Deterministic pseudo-random weights, small enough that the orbit stays bounded.
    let mut s = 12345u32;
    let mut r = move || {
        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (s >> 8) as f32 / 16_777_216.0 - 0.5
    };
    let mut w = [[0.0f32; M]; M];
    for (i, row) in w.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = if i == j {
                0.0
            } else {
                0.3 * r() / (M as f32).sqrt()
            };
        }
    }
    let params = ModelParams::<M, N, P, 0> {
        a: core::array::from_fn(|_| 0.5 + 0.4 * r()),
        w,
        h: core::array::from_fn(|_| r()),
        alpha: core::array::from_fn(|_| r()),
        theta: core::array::from_fn(|_| core::array::from_fn(|_| 2.0 * r())),
        c: [[]; M],
        b: core::array::from_fn(|_| core::array::from_fn(|_| r())),
        sigma_z: [0.1; M],
        sigma_x: [0.1; N],
    };
    Box::new(Model::from_params(variant, params).expect("valid"))
}

fn bench_size<const M: usize, const N: usize, const P: usize>(c: &mut Criterion, variant: Variant) {
    let m = model::<M, N, P>(variant);
    let macs = Model::<M, N, P, 0>::DIMS.macs_per_step(variant);
    let name = format!("step {variant} M={M} N={N} P={P} ({macs} MACs)");
    let mut g = Generator::new(&m, 1);
    g.set_state([0.1; M]);
    let mut x = [0.0f32; N];
    c.bench_function(&name, |b| {
        b.iter(|| {
            g.step(black_box(&[]), Noise::None, &mut x);
            black_box(&x);
        })
    });
}

fn steps(c: &mut Criterion) {
    bench_size::<3, 3, 0>(c, Variant::Relu);
    bench_size::<20, 3, 20>(c, Variant::ClippedDendritic);
    bench_size::<50, 10, 30>(c, Variant::ClippedDendritic);
    bench_size::<20, 3, 20>(c, Variant::Dendritic);
}

criterion_group!(benches, steps);
criterion_main!(benches);
