//! Support for the `firmware-example` binaries: the embedded models, the closed-loop scenario
//! shared with the host, and output over semihosting (or defmt with the `defmt` feature).
#![no_std]
#![deny(missing_docs)]

pub mod models;
pub mod out;
pub mod scenario;
pub mod sweep;
