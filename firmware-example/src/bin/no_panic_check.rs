//! Links only if no panic is reachable: its panic handler calls a symbol that exists nowhere,
//! so if the optimised program can reach a panic from any path (loading the model through
//! `decode_into`, or stepping it with noise and inputs), the link fails with an undefined
//! reference to `plrnn_no_panic_check__a_panic_is_reachable`. The same for the real-time
//! mode's tick (`realtime::Inbox::take`, `Ticker::tick`, `Ring`). Not covered: its receive
//! side (`LineReader`), which parses numbers with `core`'s float parser, whose panic paths the
//! optimiser cannot rule out.
//!
//! Run in QEMU it steps a few hundred times and exits 0.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use firmware_example::models::selected as fw_model;
use firmware_example::realtime::{Inbox, Ring, Ticker, RING_CAPACITY};
use plrnn_nostd::{Generator, Noise};

#[entry]
fn main() -> ! {
    let Some(model) = cortex_m::singleton!(MODEL: fw_model::Model = fw_model::Model::new_zeroed())
    else {
        firmware_example::out::exit(false)
    };
    // Opaque to the optimiser, so decoding and every branch of the step stay in the program.
    let file: &[u8] = core::hint::black_box(fw_model::FILE);
    if model.decode_into(file).is_err() {
        firmware_example::out::exit(false);
    }
    let model: &fw_model::Model = model;
    let seed = core::hint::black_box(7u64);
    let mut gen = Generator::new(model, seed);
    let mut x = [0.0f32; fw_model::N];
    let steps = core::hint::black_box(300usize);
    for t in 0..steps {
        let s = core::hint::black_box([(t % 7) as f32; fw_model::K]);
        let noise = core::hint::black_box(match t % 3 {
            0 => Noise::None,
            1 => Noise::Process,
            _ => Noise::Full,
        });
        gen.step(&s, noise, &mut x);
        core::hint::black_box(&mut x);
    }
    // The real-time mode's tick path, with inputs arriving at opaque times.
    let mut inbox = Inbox::new();
    let mut ring = Ring::<{ fw_model::K }, { fw_model::N }, RING_CAPACITY>::new();
    let mut ticker = Ticker::new(model);
    for t in 0..steps {
        for _ in 0..core::hint::black_box(t % 3) {
            inbox.put(core::hint::black_box([t as f32; fw_model::K]));
        }
        ring.push(ticker.tick(inbox.take()));
        if t % 5 == 0 {
            core::hint::black_box(ring.pop());
        }
    }
    core::hint::black_box(ring.dropped());
    firmware_example::out::exit(true)
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    extern "Rust" {
        fn plrnn_no_panic_check__a_panic_is_reachable() -> !;
    }
    // SAFETY: never executed in a program that links; the undefined symbol makes the link fail
    // whenever this handler is reachable.
    unsafe { plrnn_no_panic_check__a_panic_is_reachable() }
}
