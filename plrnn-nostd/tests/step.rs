//! The kernel against an independent f64 reference, and the entry points against each other.
#![allow(clippy::needless_range_loop)] // the reference checks mirror the equations' indices

mod common;

use common::{random_model, reference_step, Uniform, VARIANTS};
use plrnn_nostd::{Generator, Model, Noise, Variant};
use proptest::prelude::*;

const U: f64 = 1.0 / 16_777_216.0; // unit roundoff of f32, 2^-24
const ETA: f64 = f32::from_bits(1) as f64 / 2.0; // half the smallest f32 subnormal, 2^-150

/// Rounding bound of the kernel's φ_j, in units of u·Φ_j (Φ_j = A|z_j| + B_j, A = Σ_b|α_b|,
/// B_j = Σ_b |α_b θ_jb|; `common::reference_step`), to first order in u. The stored prefix sums
/// are recursive f32 sums of at most P terms (Higham §3.1): |S̃ − S| ≤ (P − 1)u·A and
/// |Õ − O| ≤ P u·B_j (P rounded products and P − 1 additions per term). Then
/// φ̃ = fl(fl(z s̃) − Õ) gives
///   |φ̃ − φ| ≤ |z||s̃ − s| + u|z||s̃| + |Õ − O| + u|φ̃|,
/// with |s| ≤ A, |O| ≤ B_j, |φ| ≤ A|z| + B_j:
/// Dendritic (s̃ = S̃): |z|A((P − 1) + 2)u + B_j(P + 1)u ≤ (P + 1)u·Φ_j.
/// Clipped with z > 0 (s̃ = fl(S̃[k] − S̃[P]), |s̃ − s| ≤ (2(P − 1) + 1)u·A):
///   |z|A(2(P − 1) + 3)u + B_j(P + 1)u ≤ (2P + 1)u·Φ_j.
/// Relu: φ is exact.
fn phi_coefficient(variant: Variant, p: usize) -> f64 {
    let p = p as f64;
    match variant {
        Variant::Relu => 0.0,
        Variant::Dendritic => p + 1.0,
        Variant::ClippedDendritic => 2.0 * p + 1.0,
    }
}

fn check_against_reference<const M: usize, const N: usize, const P: usize, const K: usize>(
    seed: u64,
    variant: Variant,
) {
    let model: Model<M, N, P, K> = random_model(seed, variant, 0.99);
    let mut r = Uniform::new(seed ^ 0xABCD);
    for _ in 0..20 {
        let z: [f32; M] = r.fill(-5.0, 5.0);
        let s: [f32; K] = r.fill(-1.0, 1.0);
        let mut next = [0.0f32; M];
        model.latent_step(&z, &s, &mut next);
        let (want, mag) = reference_step(&model, &z, &s);
        // z'_i is a recursive sum of n = M + K + 2 terms (A z, the M products W φ̃, h, the K
        // products C s), so |error| ≤ γ_n Σ|terms| (Higham, Accuracy and Stability, §3.1) plus
        // Σ_j |W_ij||φ̃_j − φ_j| ≤ c_φ u Σ_j |W_ij| Φ_j: in all ≤ (n + c_φ) u · mag_i, to first
        // order. The factor 1 + 10⁻⁴ covers the second-order terms ((n + c_φ) u < 10⁻⁵ here) and
        // the f64 reference's own rounding; ETA per rounding covers underflow. (The kernel before
        // the table look-up had the bound 2(M + P + K + 4) u · mag.)
        let n = (M + K + 2) as f64;
        let c_phi = phi_coefficient(variant, P);
        for i in 0..M {
            let tol = (n + c_phi) * U * mag[i] * (1.0 + 1e-4) + 4.0 * (n + P as f64) * ETA;
            let err = (next[i] as f64 - want[i]).abs();
            assert!(
                err <= tol,
                "{variant} seed {seed} unit {i}: f32 {} vs f64 {} (err {err:e} > tol {tol:e})",
                next[i],
                want[i]
            );
        }
        // Observation: x = B z.
        let mut x = [0.0f32; N];
        model.observe(&z, &mut x);
        for n in 0..N {
            let want: f64 = (0..M).map(|i| model.b()[n][i] as f64 * z[i] as f64).sum();
            let mag: f64 = (0..M)
                .map(|i| (model.b()[n][i] as f64 * z[i] as f64).abs())
                .sum();
            assert!(
                (x[n] as f64 - want).abs() <= 2.0 * (M as f64 + 1.0) * U * mag + f64::MIN_POSITIVE
            );
        }
        // The run-time-sized entry point is the same kernel: identical bits.
        let mref = model.as_model_ref();
        let mut scratch = [0.0f32; M];
        let mut next2 = [0.0f32; M];
        mref.latent_step(&z, &s, &mut scratch, &mut next2).unwrap();
        assert_eq!(next.map(f32::to_bits), next2.map(f32::to_bits));
        let mut x2 = [0.0f32; N];
        mref.observe(&z, &mut x2).unwrap();
        assert_eq!(x.map(f32::to_bits), x2.map(f32::to_bits));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn step_matches_f64_reference(seed in any::<u64>(), v in 0usize..3) {
        let variant = VARIANTS[v];
        check_against_reference::<3, 3, 0, 0>(seed, variant);
        check_against_reference::<5, 2, 4, 2>(seed, variant);
        check_against_reference::<20, 3, 20, 0>(seed, variant);
        check_against_reference::<12, 4, 7, 3>(seed, variant);
    }

    #[test]
    fn run_equals_single_steps(seed in any::<u64>(), v in 0usize..3, mode in 0usize..3) {
        let noise = [Noise::None, Noise::Process, Noise::Full][mode];
        let model: Model<6, 3, 5, 2> = random_model(seed, VARIANTS[v], 0.9);
        let mut r = Uniform::new(seed);
        let z0: [f32; 6] = r.fill(-1.0, 1.0);
        let inputs: Vec<[f32; 2]> = (0..100).map(|_| r.fill(-1.0, 1.0)).collect();

        let mut g1 = Generator::with_state(&model, z0, seed);
        let mut out = vec![[0.0f32; 3]; 100];
        prop_assert_eq!(g1.run_driven(&inputs, noise, &mut out), 100);

        let mut g2 = Generator::with_state(&model, z0, seed);
        for (t, s) in inputs.iter().enumerate() {
            let mut x = [0.0f32; 3];
            g2.step(s, noise, &mut x);
            prop_assert_eq!(x.map(f32::to_bits), out[t].map(f32::to_bits));
        }
        prop_assert_eq!(g1.state().map(f32::to_bits), g2.state().map(f32::to_bits));

        // The host's run-time-sized generator produces the same bits.
        let buf = plrnn_nostd::ModelBuf::decode(&encode(&model)).unwrap();
        let valid = plrnn_nostd::ValidModel::new(buf).unwrap();
        let mref = valid.model_ref();
        let mut g3 = plrnn_nostd::DynGenerator::new(mref, seed);
        g3.set_state(&z0).unwrap();
        for (t, s) in inputs.iter().enumerate() {
            let mut x = [0.0f32; 3];
            g3.step(s, noise, &mut x).unwrap();
            prop_assert_eq!(x.map(f32::to_bits), out[t].map(f32::to_bits));
        }
    }
}

fn encode<const M: usize, const N: usize, const P: usize, const K: usize>(
    m: &Model<M, N, P, K>,
) -> Vec<u8> {
    m.as_model_ref().encode()
}

#[test]
fn autonomous_run_uses_zero_input_and_reset_restarts() {
    let model: Model<4, 2, 3, 1> = random_model(3, Variant::Dendritic, 0.9);
    let mut g = Generator::new(&model, 11);
    let mut a = [[0.0f32; 2]; 50];
    g.run(Noise::Full, &mut a);
    g.reset();
    let mut b = [[0.0f32; 2]; 50];
    for x in b.iter_mut() {
        g.step(&[0.0], Noise::Full, x);
    }
    assert_eq!(a, b);
    // Different seeds give different noisy trajectories; deterministic runs ignore the seed.
    let mut g2 = Generator::new(&model, 12);
    let mut c = [[0.0f32; 2]; 50];
    g2.run(Noise::Full, &mut c);
    assert_ne!(a, c);
    let (mut d1, mut d2) = ([[0.0f32; 2]; 50], [[0.0f32; 2]; 50]);
    Generator::new(&model, 1).run(Noise::None, &mut d1);
    Generator::new(&model, 2).run(Noise::None, &mut d2);
    assert_eq!(d1, d2);
}

/// `DynGenerator` is `Generator` over another storage: every method gives the same bits, with
/// row-major slices for runs, and wrong lengths are errors naming the dimension.
#[test]
fn dyn_generator_runs_resets_and_reseeds_as_the_device() {
    use plrnn_nostd::{Dim, DynGenerator, ModelBuf, ShapeError, ValidModel};
    let model: Model<5, 3, 4, 2> = random_model(21, Variant::ClippedDendritic, 0.9);
    let valid = ValidModel::new(ModelBuf::decode(&encode(&model)).unwrap()).unwrap();
    let mut r = Uniform::new(5);
    let z0: [f32; 5] = r.fill(-1.0, 1.0);
    let inputs: Vec<[f32; 2]> = (0..40).map(|_| r.fill(-1.0, 1.0)).collect();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();

    let mut dev = Generator::with_state(&model, z0, 9);
    let mut host = DynGenerator::with_state(valid.model_ref(), &z0, 9).unwrap();
    let (mut a, mut b) = ([[0.0f32; 3]; 30], vec![0.0f32; 90]);
    // Driven: as many steps as both have rows (30 outputs, 40 inputs).
    assert_eq!(dev.run_driven(&inputs, Noise::Full, &mut a), 30);
    assert_eq!(
        host.run_driven(inputs.as_flattened(), Noise::Full, &mut b),
        Ok(30)
    );
    assert_eq!(bits(a.as_flattened()), bits(&b));
    assert_eq!(bits(dev.state()), bits(host.state()));
    // Autonomous, after a reseed.
    dev.reseed(3);
    host.reseed(3);
    dev.run(Noise::Process, &mut a);
    host.run(Noise::Process, &mut b).unwrap();
    assert_eq!(bits(a.as_flattened()), bits(&b));
    // Reset: back to z0 and the first noise stream of seed 3, for both.
    dev.reset();
    host.reset();
    assert_eq!(bits(host.state()), bits(&z0));
    let (mut a2, mut b2) = (a, b.clone());
    dev.run(Noise::Process, &mut a2);
    host.run(Noise::Process, &mut b2).unwrap();
    assert_eq!(bits(a2.as_flattened()), bits(&b2));
    assert_ne!(
        bits(&b2),
        bits(&b),
        "a reset run starts from z0, not where the last one ended"
    );

    fn err<T>(dim: Dim, expected: usize, found: usize) -> Result<T, ShapeError> {
        Err(ShapeError {
            dim,
            expected,
            found,
        })
    }
    assert_eq!(host.run(Noise::None, &mut [0.0; 7]), err(Dim::N, 6, 7));
    assert_eq!(
        host.run_driven(&[0.0; 3], Noise::None, &mut b),
        err(Dim::K, 2, 3)
    );
    assert_eq!(host.set_state(&[0.0; 4]), err(Dim::M, 5, 4));
    assert!(DynGenerator::with_state(valid.model_ref(), &[0.0; 6], 1).is_err());
    assert_eq!(
        host.step(&[0.0; 3], Noise::None, &mut [0.0; 3]),
        err(Dim::K, 2, 3)
    );
    // An empty input is the zero input.
    let mut twin = host.clone();
    let (mut x, mut y) = ([0.0f32; 3], [0.0f32; 3]);
    host.step(&[], Noise::Full, &mut x).unwrap();
    twin.step(&[0.0; 2], Noise::Full, &mut y).unwrap();
    assert_eq!(bits(&x), bits(&y));
}

#[test]
fn hand_computed_relu_step() {
    // z = (1, -2): φ = (1, 0); z' = A∘z + W φ + h = (0.5·1 + 0 + 0.1, −0.5·2·... ) by hand.
    let params = plrnn_nostd::ModelParams::<2, 1, 0, 1> {
        a: [0.5, 0.25],
        w: [[0.0, 3.0], [2.0, 0.0]],
        h: [0.1, -0.1],
        alpha: [],
        theta: [[], []],
        c: [[1.0], [-1.0]],
        b: [[1.0, 10.0]],
        sigma_z: [1.0; 2],
        sigma_x: [1.0],
    };
    let m = Model::from_params(Variant::Relu, params).unwrap();
    let mut next = [0.0; 2];
    m.latent_step(&[1.0, -2.0], &[0.5], &mut next);
    // unit 0: 0.5·1 + 3·φ(−2)=0 + 0.1 + 0.5 = 1.1; unit 1: 0.25·(−2) + 2·φ(1)=2 − 0.1 − 0.5 = 0.9
    assert_eq!(next, [1.1, 0.9]);
    let mut x = [0.0];
    m.observe(&next, &mut x);
    assert_eq!(x, [1.1 + 9.0]);
}
