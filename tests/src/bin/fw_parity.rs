//! Host replay of the firmware scenario: runs the same source file (`firmware-example/src/
//! scenario.rs`) on the same embedded model through plrnn-nostd and prints exactly what the
//! firmware prints over semihosting. `firmware-example/ci.sh` diffs the two.
//!
//! Usage: `cargo run -p plrnn-tests --bin fw_parity`

#[path = "../../../firmware-example/src/models.rs"]
#[allow(dead_code)]
mod models;
#[path = "../../../firmware-example/src/scenario.rs"]
#[allow(dead_code)]
mod scenario;

use std::io::Write;

use models::lorenz63 as fw_model;

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
    // Boxed: the device keeps the model in static storage, the host on the heap; same bits.
    let mut model = Box::new(fw_model::Model::new_zeroed());
    if let Err(e) = model.decode_into(fw_model::FILE) {
        eprintln!("error: cannot load the embedded model: {e}");
        std::process::exit(1);
    }
    let mut out = Stdout(std::io::stdout().lock());
    scenario::run(&*model, fw_model::NAME, fw_model::FILE, &mut out);
}
