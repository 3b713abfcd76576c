//! The fixed-rate real-time mode: the embedded model stepped once per SysTick tick
//! (`realtime::RATE_HZ`), its input read from UART0 (K comma-separated numbers per line, applied
//! at the next tick and held until the next input; zero before the first), and every step's
//! (t, s_t, x_t) logged on UART0. After `realtime::STEPS` steps it prints the counters and exits.
//!
//! - SysTick (highest priority): takes the newest input, steps, queues the record; a step that
//!   ends after the next tick is already due is counted (`missed_deadlines`); the pending tick
//!   then runs at once, never silently.
//! - UART0 receive interrupt (lower priority): bytes into lines, lines parsed into inputs.
//! - Main loop (thread mode): prints queued records, sleeps (`wfi`) when there is nothing to do.
//!
//! `plrnn_rt_tick_begin` / `plrnn_rt_tick_end` mark one tick's work for the instruction-count
//! plugin (`qemu-icount/`, `begin=`/`end=`); `firmware-example/ci.sh` checks the cycle budget
//! from them.
#![no_std]
#![no_main]

use core::cell::RefCell;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use cortex_m::interrupt::{self, Mutex};
use cortex_m::peripheral::scb::SystemHandler;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::{NVIC, SCB, SYST};
use cortex_m_rt::{entry, exception};
use firmware_example::models::selected as fw_model;
use firmware_example::out;
use firmware_example::realtime::{
    self, Counters, Inbox, LineReader, Ring, Ticker, CLOCK_HZ, RATE_HZ, RING_CAPACITY, STEPS,
};
use firmware_example::scenario::{file_crc, Line};
use firmware_example::uart::{Uart, Uart0Rx, UART0_RX_IRQ};

use fw_model::{K, M, N, P};

type Tick = Ticker<'static, M, N, P, K>;

static TICKER: Mutex<RefCell<Option<Tick>>> = Mutex::new(RefCell::new(None));
static INBOX: Mutex<RefCell<Inbox<K>>> = Mutex::new(RefCell::new(Inbox::new()));
static RING: Mutex<RefCell<Ring<K, N, RING_CAPACITY>>> = Mutex::new(RefCell::new(Ring::new()));
static DONE: AtomicBool = AtomicBool::new(false);
static BAD: AtomicU32 = AtomicU32::new(0);
static RX_OVERRUN: AtomicU32 = AtomicU32::new(0);

/// SysTick reload: one tick per `1 / RATE_HZ` s at `CLOCK_HZ`.
const RELOAD: u32 = CLOCK_HZ / RATE_HZ - 1;

/// Called at the start of each tick's work (instruction-count marker).
#[no_mangle]
#[inline(never)]
pub extern "C" fn plrnn_rt_tick_begin() {
    cortex_m::asm::nop();
}

/// Called at the end of each tick's work (instruction-count marker).
#[no_mangle]
#[inline(never)]
pub extern "C" fn plrnn_rt_tick_end() {
    // Two instructions, so the linker cannot fold it into `plrnn_rt_tick_begin`.
    cortex_m::asm::nop();
    cortex_m::asm::nop();
}

#[entry]
fn main() -> ! {
    let model = firmware_example::load_model(
        cortex_m::singleton!(MODEL: fw_model::Model = fw_model::Model::new_zeroed()),
        fw_model::FILE,
    );
    let Some(mut cp) = cortex_m::Peripherals::take() else {
        out::exit(false)
    };
    let mut uart = Uart::uart0();
    uart.init();
    let mut line = Line::new();
    realtime::print_header(
        &mut line,
        fw_model::NAME,
        file_crc(fw_model::FILE),
        fw_model::Model::DIMS,
    );
    line.emit(&mut uart);
    interrupt::free(|cs| *TICKER.borrow(cs).borrow_mut() = Some(Ticker::new(model)));

    // SAFETY: priorities are set before the interrupts are enabled. SysTick is the most urgent
    // (0); the receive interrupt waits for a running step (0x80).
    unsafe {
        cp.SCB.set_priority(SystemHandler::SysTick, 0x00);
        cp.NVIC.set_priority(Uart0Rx, 0x80);
        NVIC::unmask(Uart0Rx);
    }
    cp.SYST.set_clock_source(SystClkSource::Core);
    cp.SYST.set_reload(RELOAD);
    cp.SYST.clear_current();
    cp.SYST.enable_interrupt();
    cp.SYST.enable_counter();

    loop {
        let rec = interrupt::free(|cs| RING.borrow(cs).borrow_mut().pop());
        match rec {
            Some(r) => {
                r.print(&mut line);
                line.emit(&mut uart);
            }
            None if DONE.load(Ordering::Acquire) => break,
            None => {
                // Sleep unless a record arrived between the check and here: with interrupts
                // masked, a pending interrupt still ends `wfi`, and runs after `enable`.
                interrupt::disable();
                let idle = interrupt::free(|cs| RING.borrow(cs).borrow().is_empty());
                if idle && !DONE.load(Ordering::Acquire) {
                    cortex_m::asm::wfi();
                }
                // SAFETY: re-enables what was disabled just above (no critical section open).
                unsafe { interrupt::enable() };
            }
        }
    }
    cp.SYST.disable_interrupt();
    cp.SYST.disable_counter();
    let counters = interrupt::free(|cs| {
        let t = TICKER.borrow(cs).borrow();
        let t = t.as_ref();
        Counters {
            steps: t.map_or(0, |t| t.steps()),
            missed_deadlines: t.map_or(0, |t| t.missed_deadlines),
            received: INBOX.borrow(cs).borrow().received(),
            applied: t.map_or(0, |t| t.applied),
            superseded: t.map_or(0, |t| t.superseded),
            bad: BAD.load(Ordering::Relaxed),
            rx_overrun: RX_OVERRUN.load(Ordering::Relaxed),
            dropped: RING.borrow(cs).borrow().dropped(),
            step_cycles_max: t.map_or(0, |t| t.step_cycles_max),
            latency_cycles_max: t.map_or(0, |t| t.latency_cycles_max),
        }
    });
    counters.print(&mut line);
    line.emit(&mut uart);
    out::exit(true)
}

#[exception]
fn SysTick() {
    plrnn_rt_tick_begin();
    // Cycles since the tick (SysTick counts down from RELOAD).
    let latency = RELOAD - SYST::get_current();
    interrupt::free(|cs| {
        let mut ticker = TICKER.borrow(cs).borrow_mut();
        let Some(ticker) = ticker.as_mut() else {
            return;
        };
        if ticker.steps() >= STEPS {
            return;
        }
        let input = INBOX.borrow(cs).borrow_mut().take();
        let rec = ticker.tick(input);
        RING.borrow(cs).borrow_mut().push(rec);
        // The next tick is already pending: this step ended after its deadline.
        let late = SCB::is_pendst_pending();
        let now = RELOAD - SYST::get_current();
        let cycles = if late { now + RELOAD + 1 } else { now };
        if rec.t > 0 {
            ticker.latency_cycles_max = ticker.latency_cycles_max.max(latency);
        }
        ticker.step_cycles_max = ticker.step_cycles_max.max(cycles.saturating_sub(latency));
        if late {
            ticker.missed_deadlines = ticker.missed_deadlines.saturating_add(1);
        }
        if ticker.steps() >= STEPS {
            DONE.store(true, Ordering::Release);
        }
    });
    plrnn_rt_tick_end();
}

#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    if irqn != UART0_RX_IRQ as i16 {
        out::error("unexpected interrupt");
        out::exit(false);
    }
    // The line reader belongs to this handler alone, which never preempts itself.
    static mut READER: LineReader<K> = LineReader::new();
    // SAFETY: no other reference to READER exists (see above).
    let reader = unsafe { &mut *core::ptr::addr_of_mut!(READER) };
    let uart = Uart::uart0();
    uart.clear_rx_interrupt();
    if uart.take_rx_overrun() {
        RX_OVERRUN.fetch_add(1, Ordering::Relaxed);
    }
    while let Some(b) = uart.try_read() {
        match reader.push(b) {
            Some(Ok(s)) => interrupt::free(|cs| INBOX.borrow(cs).borrow_mut().put(s)),
            Some(Err(_)) => {
                BAD.fetch_add(1, Ordering::Relaxed);
            }
            None => {}
        }
    }
}

firmware_example::exit_on_fault!();
