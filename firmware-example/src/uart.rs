//! The Arm CMSDK APB UART of the MPS2 boards (QEMU `mps2-an386`: UART0 at 0x4000_4000, its
//! receive interrupt is IRQ 0; QEMU connects it to the first `-serial`). Polled transmit,
//! interrupt-driven receive. On another part, replace this module by the part's UART driver.

use crate::scenario::Sink;

/// UART0 of mps2-an386.
pub const UART0_BASE: usize = 0x4000_4000;
/// UART0's receive interrupt (IRQ number, exception number 16 + this).
pub const UART0_RX_IRQ: u16 = 0;

const DATA: usize = 0x00;
const STATE: usize = 0x04;
const CTRL: usize = 0x08;
const INTCLEAR: usize = 0x0C;
const BAUDDIV: usize = 0x10;

const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const STATE_RX_OVERRUN: u32 = 1 << 3;
const CTRL_TX_EN: u32 = 1 << 0;
const CTRL_RX_EN: u32 = 1 << 1;
const CTRL_RX_INTEN: u32 = 1 << 3;
const INT_RX: u32 = 1 << 1;

/// UART0's receive interrupt, for `NVIC::unmask`.
#[derive(Clone, Copy)]
pub struct Uart0Rx;

// SAFETY: IRQ 0 exists on mps2-an386 (UART0 receive).
unsafe impl cortex_m::interrupt::InterruptNumber for Uart0Rx {
    fn number(self) -> u16 {
        UART0_RX_IRQ
    }
}

/// A CMSDK APB UART at a fixed address.
pub struct Uart {
    base: usize,
}

impl Uart {
    /// UART0 of mps2-an386 (the only UART this firmware touches).
    pub const fn uart0() -> Self {
        Self { base: UART0_BASE }
    }

    fn read(&self, reg: usize) -> u32 {
        // SAFETY: an aligned device register of the UART at `base` (fixed by `uart0`).
        unsafe { core::ptr::read_volatile((self.base + reg) as *const u32) }
    }

    fn write(&self, reg: usize, v: u32) {
        // SAFETY: as in `read`.
        unsafe { core::ptr::write_volatile((self.base + reg) as *mut u32, v) }
    }

    /// Enables transmit, receive and the receive interrupt (the NVIC line is unmasked by the
    /// caller). The baud-rate divisor is the smallest allowed (QEMU ignores it; on hardware set
    /// it for the part's clock).
    pub fn init(&self) {
        self.write(BAUDDIV, 16);
        self.write(CTRL, CTRL_TX_EN | CTRL_RX_EN | CTRL_RX_INTEN);
    }

    /// Acknowledges the receive interrupt (before reading, so a byte that arrives after the
    /// last read raises it again).
    pub fn clear_rx_interrupt(&self) {
        self.write(INTCLEAR, INT_RX);
    }

    /// A received byte, if one is waiting.
    pub fn try_read(&self) -> Option<u8> {
        (self.read(STATE) & STATE_RX_FULL != 0).then(|| self.read(DATA) as u8)
    }

    /// Whether a byte was lost (received while the buffer was full); clears the flag.
    pub fn take_rx_overrun(&self) -> bool {
        let lost = self.read(STATE) & STATE_RX_OVERRUN != 0;
        if lost {
            self.write(STATE, STATE_RX_OVERRUN);
        }
        lost
    }

    /// Sends one byte (waits while the transmit buffer is full).
    pub fn write_byte(&self, b: u8) {
        while self.read(STATE) & STATE_TX_FULL != 0 {}
        self.write(DATA, b as u32);
    }
}

impl Sink for Uart {
    fn line(&mut self, line: &str) {
        for &b in line.as_bytes() {
            self.write_byte(b);
        }
        self.write_byte(b'\n');
    }
}
