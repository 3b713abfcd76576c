//! The fixed-rate real-time mode (`src/bin/realtime.rs`): its hardware-independent parts,
//! shared with the host (`tests/tests/fw_realtime.rs` includes this file with `#[path]` and
//! checks them; `tests/src/bin/fw_realtime.rs` reads what they print).
//!
//! - [`LineReader`] assembles received bytes into input lines and parses them with the host's
//!   parser (`plrnn_nostd::input`, as `plrnn run` does): K comma-separated numbers per line,
//!   blank and `#` lines skipped, bad lines counted and never applied.
//! - [`Inbox`] holds the newest parsed input until the next tick takes it; inputs that arrive
//!   between two ticks supersede each other (counted).
//! - [`Ticker`] is one tick's work: apply the newest input if one arrived (else hold the last;
//!   zero before the first), step the model once without noise, and return the record
//!   (t, s_t, x_t). Nothing in it allocates, and stepping cannot panic (`no-panic-check`).
//! - [`Ring`] carries records from the tick to the output loop; when full it drops the
//!   **oldest** record and counts it, as `plrnn run` does.
//! - The printed form: a header line, one `r` line per step (f32 values as IEEE-754 bit patterns
//!   in hex), and an `end` line with the counters.

use plrnn_nostd::input::{is_input_line, parse_csv_line, InputError};
use plrnn_nostd::{Generator, Model, Noise};

use crate::scenario::Line;

/// Ticks per second.
pub const RATE_HZ: u32 = 1_000;
/// Steps per run (the run then reports and ends).
pub const STEPS: u32 = 3_000;
/// The clock SysTick counts under QEMU (mps2-an386: the CPU clock, 25 MHz). On a board, the
/// core clock of the part (the reload value is `CLOCK_HZ / RATE_HZ - 1`).
pub const CLOCK_HZ: u32 = 25_000_000;
/// Longest input line kept (bytes, without the newline); longer lines are bad inputs.
pub const LINE_CAPACITY: usize = 64;
/// Records buffered between the tick and the output loop.
pub const RING_CAPACITY: usize = 64;
/// First word of the header line.
pub const HEADER: &str = "plrnn realtime v1";
/// First word of a step record line.
pub const RECORD: &str = "r";
/// First word of the final counters line.
pub const END: &str = "end";

/// Why a received line was not applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadLine {
    /// Longer than [`LINE_CAPACITY`].
    TooLong,
    /// Not UTF-8.
    NotText,
    /// Rejected by the parser.
    Parse(InputError),
}

/// Assembles received bytes into lines and parses each into K values (receive side only).
pub struct LineReader<const K: usize> {
    buf: [u8; LINE_CAPACITY],
    len: usize,
    overlong: bool,
    s: [f32; K],
}

impl<const K: usize> LineReader<K> {
    /// Nothing received yet.
    pub const fn new() -> Self {
        Self {
            buf: [0; LINE_CAPACITY],
            len: 0,
            overlong: false,
            s: [0.0; K],
        }
    }

    /// Takes one received byte. At the end of a line (`\n`) returns the parsed input, or why
    /// the line is bad; `None` otherwise (also for blank and `#` lines).
    pub fn push(&mut self, b: u8) -> Option<Result<[f32; K], BadLine>> {
        if b != b'\n' {
            match self.buf.get_mut(self.len) {
                Some(slot) => {
                    *slot = b;
                    self.len += 1;
                }
                None => self.overlong = true,
            }
            return None;
        }
        let (len, overlong) = (self.len, self.overlong);
        self.len = 0;
        self.overlong = false;
        if overlong {
            return Some(Err(BadLine::TooLong));
        }
        let Ok(text) = core::str::from_utf8(self.buf.get(..len).unwrap_or(&[])) else {
            return Some(Err(BadLine::NotText));
        };
        if !is_input_line(text) {
            return None;
        }
        // On error the parser leaves `s` as it was; `s` is only scratch here.
        Some(
            parse_csv_line(text, &mut self.s)
                .map(|()| self.s)
                .map_err(BadLine::Parse),
        )
    }
}

impl<const K: usize> Default for LineReader<K> {
    fn default() -> Self {
        Self::new()
    }
}

/// The newest input not yet applied, shared by the receive side and the tick.
pub struct Inbox<const K: usize> {
    newest: [f32; K],
    waiting: u32,
    received: u32,
}

impl<const K: usize> Inbox<K> {
    /// Empty.
    pub const fn new() -> Self {
        Self {
            newest: [0.0; K],
            waiting: 0,
            received: 0,
        }
    }

    /// A parsed input arrived: it replaces any other not yet taken.
    pub fn put(&mut self, s: [f32; K]) {
        self.newest = s;
        self.waiting = self.waiting.saturating_add(1);
        self.received = self.received.saturating_add(1);
    }

    /// At a tick: the newest input that arrived since the last take, and how many inputs it
    /// superseded; `None` if nothing arrived.
    pub fn take(&mut self) -> Option<([f32; K], u32)> {
        if self.waiting == 0 {
            return None;
        }
        let superseded = self.waiting - 1;
        self.waiting = 0;
        Some((self.newest, superseded))
    }

    /// Inputs received (parsed good lines) so far.
    pub fn received(&self) -> u32 {
        self.received
    }
}

impl<const K: usize> Default for Inbox<K> {
    fn default() -> Self {
        Self::new()
    }
}

/// One step's record: the step index, the input applied and the observation (model units).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Record<const K: usize, const N: usize> {
    /// Step index.
    pub t: u32,
    /// Input applied at this step.
    pub s: [f32; K],
    /// Observation produced by this step.
    pub x: [f32; N],
}

impl<const K: usize, const N: usize> Record<K, N> {
    const ZERO: Self = Self {
        t: 0,
        s: [0.0; K],
        x: [0.0; N],
    };

    /// Appends the record line: `r t s_1 … s_K x_1 … x_N`, values as f32 bit patterns in hex.
    pub fn print(&self, line: &mut Line) {
        line.str(RECORD).str(" ").dec(self.t);
        for v in self.s.iter().chain(&self.x) {
            line.str(" ").hex(v.to_bits());
        }
    }
}

/// A bounded queue of records that drops its oldest record when full (counted).
pub struct Ring<const K: usize, const N: usize, const CAP: usize> {
    recs: [Record<K, N>; CAP],
    head: usize,
    len: usize,
    dropped: u32,
}

impl<const K: usize, const N: usize, const CAP: usize> Ring<K, N, CAP> {
    /// Empty.
    pub const fn new() -> Self {
        Self {
            recs: [Record::ZERO; CAP],
            head: 0,
            len: 0,
            dropped: 0,
        }
    }

    /// Appends `r`; when full, drops the oldest record first.
    pub fn push(&mut self, r: Record<K, N>) {
        if CAP == 0 {
            self.dropped = self.dropped.saturating_add(1);
            return;
        }
        if self.len == CAP {
            self.head = (self.head + 1) % CAP;
            self.len -= 1;
            self.dropped = self.dropped.saturating_add(1);
        }
        if let Some(slot) = self.recs.get_mut((self.head + self.len) % CAP) {
            *slot = r;
        }
        self.len += 1;
    }

    /// Takes the oldest record.
    pub fn pop(&mut self) -> Option<Record<K, N>> {
        if self.len == 0 {
            return None;
        }
        let r = self.recs.get(self.head).copied();
        self.head = (self.head + 1) % CAP;
        self.len -= 1;
        r
    }

    /// True when no record is waiting.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Records dropped because the ring was full.
    pub fn dropped(&self) -> u32 {
        self.dropped
    }
}

impl<const K: usize, const N: usize, const CAP: usize> Default for Ring<K, N, CAP> {
    fn default() -> Self {
        Self::new()
    }
}

/// The tick's state: the model's generator, the input held, and the counters.
pub struct Ticker<'a, const M: usize, const N: usize, const P: usize, const K: usize> {
    gen: Generator<'a, M, N, P, K>,
    s: [f32; K],
    t: u32,
    /// Inputs applied (each at the first tick after it arrived).
    pub applied: u32,
    /// Inputs replaced by a newer one before a tick applied them.
    pub superseded: u32,
    /// Steps that ended after the next tick was due.
    pub missed_deadlines: u32,
    /// Longest step seen, in clock cycles from the tick (SysTick counts).
    pub step_cycles_max: u32,
    /// Longest delay from the tick to the start of the step, in clock cycles.
    pub latency_cycles_max: u32,
}

impl<'a, const M: usize, const N: usize, const P: usize, const K: usize> Ticker<'a, M, N, P, K> {
    /// Starts at step 0 with zero input and the latent state at zero (as `plrnn generate`).
    pub fn new(model: &'a Model<M, N, P, K>) -> Self {
        Self {
            gen: Generator::new(model, 0),
            s: [0.0; K],
            t: 0,
            applied: 0,
            superseded: 0,
            missed_deadlines: 0,
            step_cycles_max: 0,
            latency_cycles_max: 0,
        }
    }

    /// Steps taken.
    pub fn steps(&self) -> u32 {
        self.t
    }

    /// One tick: applies `input` (from [`Inbox::take`]) if there is one, else holds the last
    /// input, steps the model once and returns the record.
    pub fn tick(&mut self, input: Option<([f32; K], u32)>) -> Record<K, N> {
        if let Some((s, superseded)) = input {
            self.s = s;
            self.applied = self.applied.saturating_add(1);
            self.superseded = self.superseded.saturating_add(superseded);
        }
        let mut x = [0.0f32; N];
        self.gen.step(&self.s, Noise::None, &mut x);
        let r = Record {
            t: self.t,
            s: self.s,
            x,
        };
        self.t = self.t.wrapping_add(1);
        r
    }
}

/// Appends the header line: `plrnn realtime v1 model=NAME crc32=HEX M=.. N=.. P=.. K=..
/// rate_hz=.. clock_hz=.. steps=..`.
pub fn print_header(line: &mut Line, name: &str, crc: u32, dims: plrnn_nostd::Dims) {
    line.str(HEADER)
        .str(" model=")
        .str(name)
        .str(" crc32=")
        .hex(crc)
        .str(" ")
        .dims(dims.m, dims.n, dims.p, dims.k)
        .str(" rate_hz=")
        .dec(RATE_HZ)
        .str(" clock_hz=")
        .dec(CLOCK_HZ)
        .str(" steps=")
        .dec(STEPS);
}

/// The counters of a run, printed on the `end` line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Steps taken.
    pub steps: u32,
    /// Steps that ended after the next tick was due.
    pub missed_deadlines: u32,
    /// Good input lines received.
    pub received: u32,
    /// Inputs applied.
    pub applied: u32,
    /// Inputs superseded before a tick.
    pub superseded: u32,
    /// Bad input lines.
    pub bad: u32,
    /// Bytes lost by the UART (received while its buffer was full).
    pub rx_overrun: u32,
    /// Records dropped because the output fell behind.
    pub dropped: u32,
    /// Longest step, clock cycles (SysTick).
    pub step_cycles_max: u32,
    /// Longest tick-to-step delay, clock cycles (SysTick).
    pub latency_cycles_max: u32,
}

impl Counters {
    /// Appends the `end` line.
    pub fn print(&self, line: &mut Line) {
        line.str(END)
            .str(" steps=")
            .dec(self.steps)
            .str(" missed_deadlines=")
            .dec(self.missed_deadlines)
            .str(" received=")
            .dec(self.received)
            .str(" applied=")
            .dec(self.applied)
            .str(" superseded=")
            .dec(self.superseded)
            .str(" bad=")
            .dec(self.bad)
            .str(" rx_overrun=")
            .dec(self.rx_overrun)
            .str(" dropped=")
            .dec(self.dropped)
            .str(" step_cycles_max=")
            .dec(self.step_cycles_max)
            .str(" latency_cycles_max=")
            .dec(self.latency_cycles_max);
    }
}
