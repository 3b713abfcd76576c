//! Support for the `firmware-example` binaries: the embedded models, the closed-loop scenario
//! shared with the host, and output over semihosting (or defmt with the `defmt` feature).
#![no_std]
#![deny(missing_docs)]

pub mod models;
pub mod out;
pub mod realtime;
pub mod scenario;
pub mod sweep;
pub mod uart;

/// The panic and HardFault handlers of a binary that reports through [`out`] and then exits
/// with failure; invoke once at the binary's top level: `firmware_example::exit_on_fault!();`.
/// (The handlers themselves cannot live in this library: `no-panic-check` links it too and
/// brings its own panic handler.)
#[macro_export]
macro_rules! exit_on_fault {
    () => {
        #[panic_handler]
        fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
            $crate::out::panic(info);
            $crate::out::exit(false)
        }

        #[cortex_m_rt::exception]
        unsafe fn HardFault(ef: &cortex_m_rt::ExceptionFrame) -> ! {
            $crate::out::hard_fault(ef.pc());
            $crate::out::exit(false)
        }
    };
}
