//! The kernel sweep (`src/sweep.rs`) on the device: small models of many shapes through the
//! assembly kernels of plrnn-nostd, one checksum line per shape; `ci.sh` diffs the output
//! against the host's portable code (`fw_parity sweep`, in `tests/src/bin/fw_parity.rs`). Exits 0.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
#[cfg(feature = "defmt")]
use defmt_semihosting as _;
use firmware_example::{out, sweep};

#[entry]
fn main() -> ! {
    sweep::run(&mut out::Out::new());
    out::exit(true)
}

firmware_example::exit_on_fault!();
