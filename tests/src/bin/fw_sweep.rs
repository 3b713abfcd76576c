//! Host replay of the firmware's kernel sweep: runs the same source file
//! (`firmware-example/src/sweep.rs`) through plrnn-nostd's portable code and prints exactly what
//! the `kernel-sweep` firmware binary prints with the Cortex-M4F assembly kernels.
//! `firmware-example/ci.sh` diffs the two.
//!
//! Usage: `cargo run -p plrnn-tests --bin fw_sweep`

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
    sweep::run(&mut Stdout(std::io::stdout().lock()));
}
