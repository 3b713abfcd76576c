//! Output and exit: plain semihosting text, or defmt frames over semihosting with the `defmt`
//! feature. The rest of the firmware never names either, so the choice stays here.

use cortex_m_semihosting::debug;
use plrnn_nostd::LoadError;

use crate::scenario::Sink;

/// Lines go to the host's stdout (semihosting) or to the defmt logger.
pub struct Out {
    #[cfg(not(feature = "defmt"))]
    stdout: Option<cortex_m_semihosting::hio::HostStream>,
}

impl Out {
    /// Opens the output.
    pub fn new() -> Self {
        Self {
            #[cfg(not(feature = "defmt"))]
            stdout: cortex_m_semihosting::hio::hstdout().ok(),
        }
    }
}

impl Default for Out {
    fn default() -> Self {
        Self::new()
    }
}

impl Sink for Out {
    #[cfg(not(feature = "defmt"))]
    fn line(&mut self, line: &str) {
        if let Some(s) = self.stdout.as_mut() {
            // A failed host write cannot be reported anywhere else; the checksums in the
            // output make a lost line visible.
            let _ = s.write_all(line.as_bytes());
            let _ = s.write_all(b"\n");
        }
    }

    #[cfg(feature = "defmt")]
    fn line(&mut self, line: &str) {
        defmt::println!("{=str}", line);
    }
}

/// Reports a model that failed to load.
pub fn load_error(e: &LoadError) {
    #[cfg(not(feature = "defmt"))]
    {
        use core::fmt::Write;
        if let Ok(mut s) = cortex_m_semihosting::hio::hstderr() {
            let _ = writeln!(s, "error: cannot load the embedded model: {e}");
        }
    }
    #[cfg(feature = "defmt")]
    defmt::error!("cannot load the embedded model: {}", e);
}

/// Reports an error message (stderr, or defmt error level).
pub fn error(msg: &str) {
    #[cfg(not(feature = "defmt"))]
    if let Ok(mut s) = cortex_m_semihosting::hio::hstderr() {
        let _ = s.write_all(msg.as_bytes());
        let _ = s.write_all(b"\n");
    }
    #[cfg(feature = "defmt")]
    defmt::error!("{=str}", msg);
}

/// Reports a panic (message and location).
pub fn panic(info: &core::panic::PanicInfo<'_>) {
    #[cfg(not(feature = "defmt"))]
    {
        use core::fmt::Write;
        if let Ok(mut s) = cortex_m_semihosting::hio::hstderr() {
            let _ = writeln!(s, "panic: {info}");
        }
    }
    #[cfg(feature = "defmt")]
    match info.location() {
        Some(l) => defmt::error!("panic at {=str}:{=u32}", l.file(), l.line()),
        None => defmt::error!("panic"),
    }
}

/// Reports a HardFault with the faulting program counter.
pub fn hard_fault(pc: u32) {
    #[cfg(not(feature = "defmt"))]
    {
        let mut line = crate::scenario::Line::new();
        line.str("HardFault at pc=0x").hex(pc);
        let mut err = ErrLine;
        line.emit(&mut err);
    }
    #[cfg(feature = "defmt")]
    defmt::error!("HardFault at pc={=u32:#010x}", pc);
}

#[cfg(not(feature = "defmt"))]
struct ErrLine;

#[cfg(not(feature = "defmt"))]
impl Sink for ErrLine {
    fn line(&mut self, line: &str) {
        error(line);
    }
}

/// Ends the program: QEMU exits with status 0 (`ok`) or 1. On a board with a debugger attached
/// the semihosting call stops the core; without one, do not call this.
pub fn exit(ok: bool) -> ! {
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    // Only reached if the host ignored the exit request.
    loop {
        cortex_m::asm::bkpt();
    }
}
