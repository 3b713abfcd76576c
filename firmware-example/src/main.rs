//! Loads the embedded PLRNN model into static storage, runs the closed-loop scenario (or, with
//! the `icount` feature, the instruction-count loop) and exits through semihosting.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
#[cfg(feature = "defmt")]
use defmt_semihosting as _;
use firmware_example::out;
#[cfg(not(feature = "icount"))]
use firmware_example::scenario;

#[cfg(feature = "large-model")]
use firmware_example::models::large as fw_model;
#[cfg(not(feature = "large-model"))]
use firmware_example::models::selected as fw_model;

#[entry]
fn main() -> ! {
    let model = firmware_example::load_model(
        cortex_m::singleton!(MODEL: fw_model::Model = fw_model::Model::new_zeroed()),
        fw_model::FILE,
    );
    let mut sink = out::Out::new();
    #[cfg(not(feature = "icount"))]
    scenario::run(
        model,
        fw_model::NAME,
        fw_model::FILE,
        scenario::Units::data_if(fw_model::DATA_UNITS),
        &mut sink,
    );
    #[cfg(feature = "icount")]
    icount::run(model, &mut sink);
    out::exit(true)
}

#[cfg(feature = "icount")]
mod icount {
    use firmware_example::scenario::{Line, Sink};
    use plrnn_nostd::{Generator, Model, Noise};

    /// Deterministic steps measured.
    pub const STEPS: usize = 200;

    /// Called before every measured step and once after the last: the QEMU plugin in
    /// `qemu-icount/` counts the instructions between consecutive calls.
    #[no_mangle]
    #[inline(never)]
    pub extern "C" fn plrnn_icount_marker() {
        cortex_m::asm::nop();
    }

    pub fn run<const M: usize, const N: usize, const P: usize, const K: usize>(
        model: &Model<M, N, P, K>,
        sink: &mut impl Sink,
    ) {
        let mut line = Line::new();
        line.str("icount ")
            .dims(M, N, P, K)
            .str(" steps=")
            .dec(STEPS as u32)
            .str(" macs/step=")
            .dec(Model::<M, N, P, K>::DIMS.macs_per_step(model.variant()) as u32);
        line.emit(sink);
        let mut gen = Generator::new(model, 1);
        let s = core::hint::black_box([0.0f32; K]);
        let mut x = [0.0f32; N];
        for _ in 0..STEPS {
            plrnn_icount_marker();
            gen.step(&s, Noise::None, &mut x);
            core::hint::black_box(&mut x);
        }
        plrnn_icount_marker();
    }
}

firmware_example::exit_on_fault!();
