//! The real-time closed loop behind `plrnn run`: a model stepped at a fixed rate against the
//! monotonic clock, its inputs arriving while it runs, its answer written every step.
//!
//! - **Schedule.** Step k is due at `origin + k / rate` (absolute deadlines: no drift). The loop
//!   sleeps until `spin` before the deadline, then spins to it. A step that starts late is still
//!   run (never skipped); a step that ends after the next deadline is a missed deadline, counted;
//!   the steps after a late one run as soon as they are due, so the schedule catches up.
//! - **Inputs.** Live inputs (stdin, UDP) are parsed on an I/O thread and pushed into a bounded
//!   [`Ring`]; at each step the loop takes the newest input that arrived since the last step and
//!   holds it until a newer one arrives (a zero-order hold; earlier ones in the same interval are
//!   counted as superseded). Before the first input, s = 0. A file of inputs is read before the
//!   run and applied one row per step (row t at step t), its last row held after its end.
//! - **Output.** The loop pushes (t, s_t, x_t) as raw bits into a second bounded [`Ring`]; an I/O
//!   thread formats them. When the consumer is slower than the loop and the ring is full, the
//!   **oldest** record is dropped and counted (`output_dropped`): the model stays on time and
//!   the newest answers reach the consumer. x is written in data units with the arithmetic and
//!   number format of `plrnn generate` ([`DesktopModel::row_to_data_units`],
//!   [`data::write_value`]), and s as the exact f64 of the applied f32, so replaying the written
//!   s columns through `plrnn generate --inputs` gives the same x text.
//! - **Step loop.** No allocation, no lock, no system call but the clock and the sleep: the ring
//!   is atomics only, the statistics are fixed-size histograms.

use std::io::{self, BufRead, Write};
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use plrnn_nostd::{DynGenerator, Noise};
use serde::Serialize;

use crate::data;
use crate::model::DesktopModel;
use crate::series::TimeSeries;

/// A bounded single-producer, single-consumer queue of fixed-width records (`u32` words) that
/// drops its **oldest** record when a push finds it full.
///
/// Atomics only (no lock, no allocation after [`Ring::new`]). One thread may push and one
/// other thread may pop. A pop that races with the producer dropping the record it is reading
/// notices (the head moved) and retries, so a popped record is never torn.
#[derive(Debug)]
pub struct Ring {
    words: Box<[AtomicU32]>,
    width: usize,
    cap: u64,
    head: AtomicU64,
    tail: AtomicU64,
    dropped: AtomicU64,
}

impl Ring {
    /// A ring of `capacity` records of `width` words each (both at least 1).
    pub fn new(capacity: usize, width: usize) -> Self {
        let (capacity, width) = (capacity.max(1), width.max(1));
        Self {
            words: (0..capacity * width).map(|_| AtomicU32::new(0)).collect(),
            width,
            cap: capacity as u64,
            head: AtomicU64::new(0),
            tail: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Words per record.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Appends `rec` (at least `width` words; the rest is ignored); when full, drops the oldest
    /// record first. Producer side only.
    pub fn push(&self, rec: &[u32]) {
        let t = self.tail.load(Ordering::Relaxed);
        let h = self.head.load(Ordering::SeqCst);
        if t - h >= self.cap
            && self
                .head
                .compare_exchange(h, h + 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        // Either we dropped record h or the consumer just took it: slot t % cap is free.
        let base = (t % self.cap) as usize * self.width;
        for (slot, &v) in self.words[base..base + self.width].iter().zip(rec) {
            slot.store(v, Ordering::Relaxed);
        }
        self.tail.store(t + 1, Ordering::SeqCst);
    }

    /// Takes the oldest record into `out` (`width` words); false when empty (then `out` may
    /// hold garbage). Consumer side only.
    pub fn pop(&self, out: &mut [u32]) -> bool {
        loop {
            let h = self.head.load(Ordering::SeqCst);
            let t = self.tail.load(Ordering::SeqCst);
            if h == t {
                return false;
            }
            let base = (h % self.cap) as usize * self.width;
            for (o, slot) in out.iter_mut().zip(&self.words[base..base + self.width]) {
                *o = slot.load(Ordering::Relaxed);
            }
            if self
                .head
                .compare_exchange(h, h + 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                return true;
            }
            // The producer dropped record h while we read it: what we read may be torn.
        }
    }

    /// True when no record is waiting.
    pub fn is_empty(&self) -> bool {
        self.head.load(Ordering::SeqCst) == self.tail.load(Ordering::SeqCst)
    }

    /// Records dropped because the ring was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Why an input line or datagram was not applied.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BadInput {
    /// The number of values differs from the model's K.
    #[error("{found} values, the model takes K = {expected}")]
    Count {
        /// K.
        expected: usize,
        /// Values found.
        found: usize,
    },
    /// A field is not a number.
    #[error("value {column} ({text:?}) is not a number")]
    NotANumber {
        /// 1-based column.
        column: usize,
        /// The field (at most 40 characters of it).
        text: String,
    },
    /// A value is NaN or infinite (after rounding to f32).
    #[error("value {column} is not finite")]
    NonFinite {
        /// 1-based column.
        column: usize,
    },
    /// A binary datagram whose length is not a positive multiple of 4·K bytes.
    #[error("binary datagram of {len} bytes, want a positive multiple of 4·K = {unit}")]
    Length {
        /// Bytes received.
        len: usize,
        /// 4·K.
        unit: usize,
    },
    /// A text datagram that is not UTF-8.
    #[error("datagram is not UTF-8 text")]
    NotText,
}

pub use plrnn_nostd::input::is_input_line;

/// Parses one CSV input line (K comma-separated numbers, spaces around them allowed) into `s`
/// (length K) with the parser the firmware's real-time mode uses too
/// ([`plrnn_nostd::input::parse_csv_line`]): numbers are read as f64 and rounded to f32, as
/// `plrnn generate --inputs` reads them; NaN and infinities (also from overflow in the rounding)
/// are rejected. On error `s` is unchanged.
pub fn parse_csv_line(line: &str, s: &mut [f32]) -> Result<(), BadInput> {
    use plrnn_nostd::input::{self, InputError};
    input::parse_csv_line(line, s).map_err(|e| match e {
        InputError::Count { expected, found } => BadInput::Count { expected, found },
        InputError::NotANumber { column } => BadInput::NotANumber {
            column,
            text: line
                .trim()
                .split(',')
                .nth(column - 1)
                .unwrap_or_default()
                .trim()
                .chars()
                .take(40)
                .collect(),
        },
        InputError::NonFinite { column } => BadInput::NonFinite { column },
    })
}

/// Parses a binary datagram: one or more inputs of K little-endian IEEE-754 f32 values each
/// (4·K bytes per input, no header), calling `each` per input in order. A datagram of the
/// wrong length, or with a non-finite value, is rejected whole (nothing is passed on).
pub fn parse_f32le(bytes: &[u8], k: usize, mut each: impl FnMut(&[u32])) -> Result<(), BadInput> {
    let unit = 4 * k;
    if unit == 0 || bytes.is_empty() || !bytes.len().is_multiple_of(unit) {
        return Err(BadInput::Length {
            len: bytes.len(),
            unit,
        });
    }
    let word = |c: &[u8]| u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    for (j, c) in bytes.chunks_exact(4).enumerate() {
        if !f32::from_bits(word(c)).is_finite() {
            return Err(BadInput::NonFinite { column: j % k + 1 });
        }
    }
    let mut rec = vec![0u32; k];
    for chunk in bytes.chunks_exact(unit) {
        for (r, c) in rec.iter_mut().zip(chunk.chunks_exact(4)) {
            *r = word(c);
        }
        each(&rec);
    }
    Ok(())
}

/// How live inputs are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputFormat {
    /// CSV text: one input per line (a UDP datagram may hold several lines).
    Csv,
    /// Binary UDP datagrams of K little-endian f32 per input ([`parse_f32le`]).
    F32le,
}

/// What the input reader thread saw (shared with the loop's summary).
#[derive(Debug, Default)]
pub struct InputCounters {
    /// Inputs parsed and queued.
    pub received: AtomicU64,
    /// Lines or datagrams rejected.
    pub bad: AtomicU64,
    /// The first rejection, with its line or datagram number.
    pub first_bad: Mutex<Option<String>>,
}

impl InputCounters {
    fn reject(&self, what: &str, index: u64, e: &BadInput) {
        let n = self.bad.fetch_add(1, Ordering::Relaxed);
        if n == 0 {
            if let Ok(mut g) = self.first_bad.lock() {
                *g = Some(format!("{what} {index}: {e}"));
            }
        }
    }
}

/// Reads CSV input lines from `r` until end of input or `stop`, queueing each good one as its
/// f32 bits; bad lines are counted in `counters`.
pub fn read_lines(
    mut r: impl BufRead,
    k: usize,
    ring: &Ring,
    counters: &InputCounters,
    stop: &AtomicBool,
) -> io::Result<()> {
    let mut line = String::new();
    let mut s = vec![0.0f32; k];
    let mut rec = vec![0u32; k.max(1)];
    let mut index = 0u64;
    while !stop.load(Ordering::Relaxed) {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        index += 1;
        if !is_input_line(&line) {
            continue;
        }
        match parse_csv_line(&line, &mut s) {
            Ok(()) => {
                for (w, v) in rec.iter_mut().zip(&s) {
                    *w = v.to_bits();
                }
                ring.push(&rec);
                counters.received.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => counters.reject("line", index, &e),
        }
    }
    Ok(())
}

/// Receives input datagrams on `sock` until `stop` (checked every 50 ms), queueing each good
/// input; bad lines and datagrams are counted in `counters`.
pub fn read_udp(
    sock: &UdpSocket,
    format: InputFormat,
    k: usize,
    ring: &Ring,
    counters: &InputCounters,
    stop: &AtomicBool,
) -> io::Result<()> {
    sock.set_read_timeout(Some(Duration::from_millis(50)))?;
    let mut buf = vec![0u8; 65536];
    let mut s = vec![0.0f32; k];
    let mut rec = vec![0u32; k.max(1)];
    let mut index = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let len = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => return Err(e),
        };
        index += 1;
        let bytes = &buf[..len];
        match format {
            InputFormat::F32le => {
                let r = parse_f32le(bytes, k, |r| {
                    ring.push(r);
                    counters.received.fetch_add(1, Ordering::Relaxed);
                });
                if let Err(e) = r {
                    counters.reject("datagram", index, &e);
                }
            }
            InputFormat::Csv => {
                let Ok(text) = std::str::from_utf8(bytes) else {
                    counters.reject("datagram", index, &BadInput::NotText);
                    continue;
                };
                for line in text.lines().filter(|l| is_input_line(l)) {
                    match parse_csv_line(line, &mut s) {
                        Ok(()) => {
                            for (w, v) in rec.iter_mut().zip(&s) {
                                *w = v.to_bits();
                            }
                            ring.push(&rec);
                            counters.received.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => counters.reject("datagram", index, &e),
                    }
                }
            }
        }
    }
    Ok(())
}

/// Where the loop's inputs come from.
#[derive(Debug)]
pub enum Inputs<'a> {
    /// s = 0 throughout.
    Zero,
    /// Row t at step t; the last row held after the end.
    Rows(&'a TimeSeries),
    /// The newest record queued since the previous step, held ([`read_lines`], [`read_udp`]).
    Live(&'a Ring),
}

/// The loop's settings.
#[derive(Clone, Debug)]
pub struct LoopConfig {
    /// Steps per second (> 0).
    pub rate_hz: f64,
    /// Steps to run; `None` runs until `stop`.
    pub steps: Option<u64>,
    /// Noise mode.
    pub noise: Noise,
    /// Noise seed.
    pub seed: u64,
    /// Optional state clamp (as `plrnn generate --clamp`).
    pub clamp: Option<f32>,
    /// How long before a deadline the loop stops sleeping and spins.
    pub spin: Duration,
}

/// A fixed-size log-linear histogram of durations in nanoseconds (64 buckets per octave:
/// quantiles within 1.6 %, the maximum exact). Recording allocates nothing.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Box<[u64]>,
    total: u64,
    max: u64,
}

const SUB_BITS: u32 = 6;
const SUB: usize = 1 << SUB_BITS;

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; (64 - SUB_BITS as usize + 1) * SUB].into_boxed_slice(),
            total: 0,
            max: 0,
        }
    }
}

impl Histogram {
    fn index(v: u64) -> usize {
        if v < SUB as u64 {
            return v as usize;
        }
        let e = 63 - v.leading_zeros();
        let o = e - SUB_BITS;
        (o as usize + 1) * SUB + ((v >> o) as usize - SUB)
    }

    /// The largest value that falls in bucket `i`.
    fn upper(i: usize) -> u64 {
        if i < SUB {
            return i as u64;
        }
        let o = (i / SUB - 1) as u32;
        let m = (i % SUB + SUB) as u128;
        (((m + 1) << o) - 1).min(u64::MAX as u128) as u64
    }

    /// Records one value.
    pub fn record(&mut self, ns: u64) {
        self.counts[Self::index(ns)] += 1;
        self.total += 1;
        self.max = self.max.max(ns);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The q-quantile (0 < q ≤ 1) in ns: the upper end of the bucket holding it, at most the
    /// maximum; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::upper(i).min(self.max);
            }
        }
        self.max
    }

    /// p50, p99 and max in microseconds.
    pub fn percentiles(&self) -> Percentiles {
        Percentiles {
            p50: self.quantile(0.5) as f64 / 1e3,
            p99: self.quantile(0.99) as f64 / 1e3,
            max: self.max as f64 / 1e3,
        }
    }
}

/// Three points of a distribution, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
}

/// What the step loop measured.
#[derive(Clone, Debug)]
pub struct LoopReport {
    /// Steps run.
    pub steps: u64,
    /// Steps that ended after the next step's deadline.
    pub missed_deadlines: u64,
    /// Start of each step minus its deadline.
    pub late: Histogram,
    /// Duration of each step (input, model step, output push).
    pub step: Histogram,
    /// Wall time from the first deadline to the end of the last step.
    pub seconds: f64,
    /// Live inputs applied (each counted once, at the step that took it).
    pub inputs_applied: u64,
    /// Live inputs replaced by a newer one before any step took them.
    pub inputs_superseded: u64,
    /// Stopped by `stop` before the planned steps were done.
    pub interrupted: bool,
}

/// Words of one output record for K inputs and N observations: t (2 words), s, x.
pub fn record_width(k: usize, n: usize) -> usize {
    2 + k + n
}

fn sleep_until(deadline: Instant, spin: Duration) {
    let now = Instant::now();
    if deadline <= now {
        return;
    }
    let rem = deadline - now;
    if rem > spin {
        std::thread::sleep(rem - spin);
    }
    while Instant::now() < deadline {
        std::hint::spin_loop();
    }
}

/// Runs the fixed-rate loop on the calling thread: steps the model (through the plrnn-nostd
/// kernel, as `plrnn generate` does), pushes (t, s_t, x_t) per step into `out` (width
/// [`record_width`]), until `cfg.steps` are done or `stop` is set.
///
/// Allocation happens only before the first step.
pub fn run_loop(
    model: &DesktopModel,
    cfg: &LoopConfig,
    inputs: Inputs<'_>,
    out: &Ring,
    stop: &AtomicBool,
) -> LoopReport {
    let d = model.buf().dims();
    let (k, n) = (d.k, d.n);
    let mut gen = DynGenerator::new(model.valid().model_ref(), cfg.seed);
    gen.set_clamp(cfg.clamp);
    let mut s = vec![0.0f32; k];
    let mut x = vec![0.0f32; n];
    let mut rec = vec![0u32; record_width(k, n)];
    let mut incoming = vec![0u32; k.max(1)];
    let mut late = Histogram::default();
    let mut step_h = Histogram::default();
    let (mut missed, mut applied, mut superseded) = (0u64, 0u64, 0u64);
    let ns_per_step = 1e9 / cfg.rate_hz;
    let due = |origin: Instant, k: u64| {
        origin + Duration::from_nanos((k as f64 * ns_per_step).round() as u64)
    };
    let limit = cfg.steps.unwrap_or(u64::MAX);
    // The first deadline a little ahead, so step 0 is on time like the others.
    let origin = Instant::now() + Duration::from_micros(100);
    let mut t = 0u64;
    let mut end = origin;
    let mut interrupted = false;
    while t < limit {
        if stop.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        let deadline = due(origin, t);
        sleep_until(deadline, cfg.spin);
        let start = Instant::now();
        late.record(start.saturating_duration_since(deadline).as_nanos() as u64);
        match inputs {
            Inputs::Zero => {}
            Inputs::Rows(rows) => {
                if (t as usize) < rows.len() {
                    for (v, &u) in s.iter_mut().zip(rows.row(t as usize)) {
                        *v = u as f32;
                    }
                }
            }
            Inputs::Live(ring) => {
                let mut got = 0u64;
                while ring.pop(&mut incoming) {
                    got += 1;
                    for (v, &w) in s.iter_mut().zip(&incoming) {
                        *v = f32::from_bits(w);
                    }
                }
                if got > 0 {
                    applied += 1;
                    superseded += got - 1;
                }
            }
        }
        // Cannot fail: s has K values and x has N.
        let _ = gen.step(&s, cfg.noise, &mut x);
        rec[0] = t as u32;
        rec[1] = (t >> 32) as u32;
        for (w, v) in rec[2..].iter_mut().zip(s.iter().chain(&x)) {
            *w = v.to_bits();
        }
        out.push(&rec);
        end = Instant::now();
        step_h.record((end - start).as_nanos() as u64);
        if end > due(origin, t + 1) {
            missed += 1;
        }
        t += 1;
    }
    LoopReport {
        steps: t,
        missed_deadlines: missed,
        late,
        step: step_h,
        seconds: end.saturating_duration_since(origin).as_secs_f64(),
        inputs_applied: applied,
        inputs_superseded: superseded,
        interrupted,
    }
}

/// Where formatted output lines go.
pub trait LineSink {
    /// One complete line (with its newline).
    fn line(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Called when no record is waiting (flush buffered lines here).
    fn idle(&mut self) -> io::Result<()>;
}

/// A byte stream (stdout, a file): lines buffered, flushed when the queue runs empty.
#[derive(Debug)]
pub struct StreamSink<W: Write>(pub W);

impl<W: Write> LineSink for StreamSink<W> {
    fn line(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes)
    }
    fn idle(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// A connected UDP socket: one datagram per line (the header first). Datagrams nobody
/// receives are lost, as UDP's are; a refused send is not an error.
#[derive(Debug)]
pub struct UdpSink(pub UdpSocket);

impl LineSink for UdpSink {
    fn line(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self.0.send(bytes) {
            Err(e) if e.kind() != io::ErrorKind::ConnectionRefused => Err(e),
            _ => Ok(()),
        }
    }
    fn idle(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The output header: `t,s1,…,sK,x1,…,xN`.
pub fn header(k: usize, n: usize) -> String {
    let mut h = String::from("t");
    for j in 1..=k {
        h.push_str(&format!(",s{j}"));
    }
    for j in 1..=n {
        h.push_str(&format!(",x{j}"));
    }
    h.push('\n');
    h
}

/// Formats one record (see [`run_loop`]) as a CSV line into `line` (cleared first): t, s as
/// the exact f64 of each f32, x mapped to data units as `plrnn generate` maps and prints it.
pub fn format_record(model: &DesktopModel, rec: &[u32], xs: &mut [f64], line: &mut Vec<u8>) {
    let d = model.buf().dims();
    let (k, n) = (d.k, d.n);
    line.clear();
    let t = rec[0] as u64 | (rec[1] as u64) << 32;
    // Writing into a Vec cannot fail.
    let _ = write!(line, "{t}");
    for &w in &rec[2..2 + k] {
        line.push(b',');
        let _ = data::write_value(line, f32::from_bits(w) as f64);
    }
    for (v, &w) in xs.iter_mut().zip(&rec[2 + k..2 + k + n]) {
        *v = f32::from_bits(w) as f64;
    }
    model.row_to_data_units(xs);
    for &v in xs.iter() {
        line.push(b',');
        let _ = data::write_value(line, v);
    }
    line.push(b'\n');
}

/// The output thread's work: writes the header, then every record popped from `ring`, until
/// `done` is set and the ring is empty. Returns the number of lines written after the header.
pub fn write_output(
    model: &DesktopModel,
    ring: &Ring,
    done: &AtomicBool,
    sink: &mut dyn LineSink,
) -> io::Result<u64> {
    let d = model.buf().dims();
    sink.line(header(d.k, d.n).as_bytes())?;
    let mut rec = vec![0u32; ring.width()];
    let mut xs = vec![0.0f64; d.n];
    let mut line = Vec::with_capacity(32 * ring.width());
    let mut lines = 0u64;
    loop {
        if ring.pop(&mut rec) {
            format_record(model, &rec, &mut xs, &mut line);
            sink.line(&line)?;
            lines += 1;
        } else if done.load(Ordering::SeqCst) {
            // `done` is set after the last push: empty now means everything was taken.
            if ring.is_empty() {
                sink.idle()?;
                return Ok(lines);
            }
        } else {
            sink.idle()?;
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// The statistics `plrnn run --stats` writes.
#[derive(Clone, Debug, Serialize)]
pub struct RunStats {
    /// Steps run.
    pub steps: u64,
    /// Steps per second asked for.
    pub rate_hz: f64,
    /// Wall time of the run.
    pub seconds: f64,
    /// Steps that ended after the next step's deadline.
    pub missed_deadlines: u64,
    /// Lateness of step starts.
    pub late_us: Percentiles,
    /// Step durations.
    pub step_us: Percentiles,
    /// Live inputs received (parsed and queued).
    pub inputs_received: u64,
    /// Live inputs applied.
    pub inputs_applied: u64,
    /// Live inputs replaced by a newer one within one step.
    pub inputs_superseded: u64,
    /// Live inputs dropped by a full input queue.
    pub inputs_dropped: u64,
    /// Input lines or datagrams rejected.
    pub bad_inputs: u64,
    /// The first rejection, if any.
    pub first_bad_input: Option<String>,
    /// Output records dropped (oldest first) because the consumer was slow.
    pub output_dropped: u64,
    /// Ended by Ctrl-C (or an output error) before the planned steps.
    pub interrupted: bool,
}

impl RunStats {
    /// Collects the loop's report and the I/O counters.
    pub fn new(
        rate_hz: f64,
        report: &LoopReport,
        input: Option<(&Ring, &InputCounters)>,
        out: &Ring,
    ) -> Self {
        let (received, dropped, bad, first) = match input {
            Some((ring, c)) => (
                c.received.load(Ordering::Relaxed),
                ring.dropped(),
                c.bad.load(Ordering::Relaxed),
                c.first_bad.lock().ok().and_then(|g| g.clone()),
            ),
            None => (0, 0, 0, None),
        };
        Self {
            steps: report.steps,
            rate_hz,
            seconds: report.seconds,
            missed_deadlines: report.missed_deadlines,
            late_us: report.late.percentiles(),
            step_us: report.step.percentiles(),
            inputs_received: received,
            inputs_applied: report.inputs_applied,
            inputs_superseded: report.inputs_superseded,
            inputs_dropped: dropped,
            bad_inputs: bad,
            first_bad_input: first,
            output_dropped: out.dropped(),
            interrupted: report.interrupted,
        }
    }

    /// The one-line summary printed on stderr.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "run: {} steps at {} Hz in {:.3} s{}; missed deadlines {}; late µs p50 {:.1} p99 {:.1} max {:.1}; step µs p50 {:.1} p99 {:.1} max {:.1}; inputs {} received, {} applied, {} superseded, {} dropped, {} bad; output dropped {}",
            self.steps,
            self.rate_hz,
            self.seconds,
            if self.interrupted { " (interrupted)" } else { "" },
            self.missed_deadlines,
            self.late_us.p50,
            self.late_us.p99,
            self.late_us.max,
            self.step_us.p50,
            self.step_us.p99,
            self.step_us.max,
            self.inputs_received,
            self.inputs_applied,
            self.inputs_superseded,
            self.inputs_dropped,
            self.bad_inputs,
            self.output_dropped,
        );
        if let Some(b) = &self.first_bad_input {
            s.push_str(&format!(" (first bad input: {b})"));
        }
        s
    }
}

#[cfg(test)]
mod tests;
