//! The `vi_update` bench's update (M = 20, P = 20, N = 3, T = 1000, one thread), run a few
//! times so that an instruction counter can measure it on a shared machine, where wall and
//! even CPU times move with the neighbours' load:
//!
//! ```text
//! cargo build --release -p plrnn-train --example vi_update_count
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*measured_updates*' \
//!     target/release/examples/vi_update_count dendritic 10
//! ```
//! Instructions per update = the total callgrind reports / the count (second argument).
//! First argument: `dendritic` (default), `clipped`, `relu` or `clipped_mlp`.

use plrnn_train::vi::config::{EncoderKind, InitialState, TrainConfig, Variant};
use plrnn_train::vi::elbo::{loss_grad, LossSettings, SeqRef, Workspace};
use plrnn_train::vi::optim::{clip_grad_norm, Adam};
use plrnn_train::vi::params::{init, Layout};
use rand::RngExt;
use rand_distr::StandardNormal;
use rand_xoshiro::rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

struct Setup {
    layout: Layout,
    params: Vec<f64>,
    x: Vec<f64>,
    adam: Adam,
    ws: Workspace,
    grad: Vec<f64>,
    eps: Vec<f64>,
    rng: Xoshiro256PlusPlus,
}

/// Exactly the closure the bench times.
fn update(s: &mut Setup) -> f64 {
    let set = LossSettings {
        obs_weight: 0.5,
        sigma_z_min: 0.0,
        initial_state: InitialState::PerSequence,
    };
    let rng = &mut s.rng;
    s.eps
        .iter_mut()
        .for_each(|e| *e = rng.sample(StandardNormal));
    let seq = SeqRef {
        x: &s.x,
        s: &[],
        z0_index: 7,
    };
    let loss = loss_grad(
        &s.layout,
        &s.params,
        seq,
        &s.eps,
        set,
        &mut s.ws,
        &mut s.grad,
    );
    clip_grad_norm(&mut s.grad, 1.0);
    s.adam.step(&mut s.params, &s.grad);
    loss
}

#[inline(never)]
fn measured_updates(s: &mut Setup, count: usize) -> f64 {
    (0..count).map(|_| update(s)).sum()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "dendritic".into());
    let count: usize = args.next().map_or(10, |c| c.parse().expect("count"));
    let (variant, encoder) = match name.as_str() {
        "dendritic" => (Variant::Dendritic, EncoderKind::Smoothing),
        "clipped" => (Variant::ClippedDendritic, EncoderKind::Smoothing),
        "relu" => (Variant::Relu, EncoderKind::Smoothing),
        "clipped_mlp" => (Variant::ClippedDendritic, EncoderKind::Mlp),
        other => panic!("unknown variant {other}"),
    };
    let cfg = TrainConfig {
        latent_dim: 20,
        bases: 20,
        variant,
        encoder,
        ..TrainConfig::default()
    }
    .validate()
    .unwrap();
    let (n, t) = (3, 1000);
    let layout = Layout::new(&cfg, n, 0, 100);
    let params = init(&layout, 1);
    let x: Vec<f64> = (0..t * n)
        .map(|i| ((i / n) as f64 * 0.05 * (1.0 + (i % n) as f64)).sin())
        .collect();
    let mut s = Setup {
        adam: Adam::new(layout.len, 1e-3),
        ws: Workspace::default(),
        grad: vec![0.0; layout.len],
        eps: vec![0.0; t * layout.m],
        rng: Xoshiro256PlusPlus::seed_from_u64(3),
        params,
        x,
        layout,
    };
    update(&mut s); // buffers sized outside the measured part
    let total = measured_updates(&mut s, count);
    println!("{name}: {count} updates, summed loss {total}");
}
