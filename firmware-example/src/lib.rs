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

/// The embedded model, decoded into the binary's static storage: what every binary that runs it
/// starts with. `storage` comes from `cortex_m::singleton!` (in .bss: a `static` initialised with
/// `new_zeroed()` would sit in .data and cost its full size in flash too, for the initial
/// image); it is `None` only on a second call. A load error is reported through [`out`], and
/// then, as for `None`, the program exits with failure.
///
/// ```ignore
/// let model = firmware_example::load_model(
///     cortex_m::singleton!(MODEL: fw_model::Model = fw_model::Model::new_zeroed()),
///     fw_model::FILE,
/// );
/// ```
pub fn load_model<const M: usize, const N: usize, const P: usize, const K: usize>(
    storage: Option<&'static mut plrnn_nostd::Model<M, N, P, K>>,
    file: &[u8],
) -> &'static plrnn_nostd::Model<M, N, P, K> {
    let Some(model) = storage else {
        out::exit(false)
    };
    if let Err(e) = model.decode_into(file) {
        out::load_error(&e);
        out::exit(false);
    }
    model
}

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
