//! Host replay of the firmware scenario: runs the same source file (`firmware-example/src/
//! scenario.rs`) on the same embedded model through plrnn-nostd and prints exactly what the
//! firmware prints over semihosting. `firmware-example/ci.sh` diffs the two.
//!
//! Usage: `cargo run -p plrnn-tests --bin fw_parity [large|sweep]` (no argument: the model the
//! firmware embeds by default, selected at build time by `PLRNN_MODEL` and printed in the units
//! of `PLRNN_UNITS`, see `firmware-example/model_select.rs`; `large`: the M = 50 model of
//! the firmware's `large-model` feature; `sweep`: the kernel sweep of
//! `firmware-example/src/sweep.rs`, the host side of the `kernel-sweep` firmware binary, through
//! plrnn-nostd's portable code).

#[path = "../../../firmware-example/src/models.rs"]
#[allow(dead_code)]
mod models;
#[path = "../../../firmware-example/src/scenario.rs"]
#[allow(dead_code)]
mod scenario;
#[path = "../../../firmware-example/src/sweep.rs"]
mod sweep;

use std::io::Write;

struct Stdout(std::io::StdoutLock<'static>);

impl scenario::Sink for Stdout {
    fn line(&mut self, line: &str) {
        // Nothing sensible to do on a closed pipe but stop.
        if writeln!(self.0, "{line}").is_err() {
            std::process::exit(1);
        }
    }
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("large") => {
            let mut model = Box::new(models::large::Model::new_zeroed());
            let units = scenario::Units::data_if(models::large::DATA_UNITS);
            replay(&mut model, models::large::NAME, models::large::FILE, units);
        }
        Some("sweep") => sweep::run(&mut Stdout(std::io::stdout().lock())),
        _ => {
            let mut model = Box::new(models::selected::Model::new_zeroed());
            let units = scenario::Units::data_if(models::selected::DATA_UNITS);
            replay(
                &mut model,
                models::selected::NAME,
                models::selected::FILE,
                units,
            );
        }
    }
}

fn replay<const M: usize, const N: usize, const P: usize, const K: usize>(
    // Boxed by the caller: the device keeps the model in static storage, the host on the heap.
    model: &mut plrnn_nostd::Model<M, N, P, K>,
    name: &str,
    file: &[u8],
    units: scenario::Units,
) {
    if let Err(e) = model.decode_into(file) {
        eprintln!("error: cannot load the embedded model: {e}");
        std::process::exit(1);
    }
    let mut out = Stdout(std::io::stdout().lock());
    scenario::run(model, name, file, units, &mut out);
}
