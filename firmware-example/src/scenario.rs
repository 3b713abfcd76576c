//! The closed-loop scenario, shared word for word by the firmware and the host replay
//! (`tests/src/bin/fw_parity.rs` includes this file with `#[path]`): step counts, seeds, the
//! stimulation pulse train and the printed form are one code, so the two outputs must be equal
//! byte for byte.
//!
//! Output is exact and cheap to produce on a microcontroller: f32 values as their IEEE-754 bit
//! patterns in hex (no float formatting), and per mode an FNV-1a checksum over the
//! little-endian bytes of every output value of the trajectory.

use plrnn_nostd::{Generator, Model, Noise};

/// Steps per mode.
pub const STEPS: usize = 1000;
/// Noise seed of the noisy mode.
pub const NOISE_SEED: u64 = 0x5EED_0001;
/// Stimulation pulse train of the driven mode: `PULSE_AMPLITUDE` on input channel 0 for
/// `PULSE_WIDTH` steps at the start of every `PULSE_PERIOD` steps, 0 otherwise.
pub const PULSE_PERIOD: usize = 50;
/// Steps per pulse.
pub const PULSE_WIDTH: usize = 5;
/// Pulse amplitude.
pub const PULSE_AMPLITUDE: f32 = 1.0;
/// Steps whose observation is printed in full (0-based; step t produces x_{t+1}).
pub const REPORT_STEPS: [usize; 6] = [0, 1, 10, 100, 500, STEPS - 1];

/// Where finished lines go (semihosting, defmt, or the host's stdout). Lines carry no newline.
pub trait Sink {
    /// Emits one line.
    fn line(&mut self, line: &str);
}

/// A fixed-capacity line being assembled; characters past the capacity are dropped (cannot
/// panic).
pub struct Line {
    buf: [u8; 192],
    len: usize,
}

impl Line {
    /// An empty line.
    pub const fn new() -> Self {
        Self {
            buf: [0; 192],
            len: 0,
        }
    }

    fn byte(&mut self, b: u8) -> &mut Self {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
        self
    }

    /// Appends ASCII text.
    pub fn str(&mut self, s: &str) -> &mut Self {
        for &b in s.as_bytes() {
            self.byte(b);
        }
        self
    }

    /// Appends `v` as 8 lower-case hex digits.
    pub fn hex(&mut self, v: u32) -> &mut Self {
        for i in (0..8).rev() {
            let d = ((v >> (4 * i)) & 0xF) as u8;
            self.byte(if d < 10 { b'0' + d } else { b'a' + d - 10 });
        }
        self
    }

    /// Appends `v` in decimal.
    pub fn dec(&mut self, v: u32) -> &mut Self {
        let mut digits = [0u8; 10];
        let mut n = 0;
        let mut v = v;
        loop {
            if let Some(d) = digits.get_mut(n) {
                *d = b'0' + (v % 10) as u8;
            }
            n += 1;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        for i in (0..n).rev() {
            let d = digits.get(i).copied().unwrap_or(b'?');
            self.byte(d);
        }
        self
    }

    /// Appends the model sizes as `M=.. N=.. P=.. K=..`.
    pub fn dims(&mut self, m: usize, n: usize, p: usize, k: usize) -> &mut Self {
        self.str("M=")
            .dec(m as u32)
            .str(" N=")
            .dec(n as u32)
            .str(" P=")
            .dec(p as u32)
            .str(" K=")
            .dec(k as u32)
    }

    /// Sends the line to `sink` and clears it.
    pub fn emit(&mut self, sink: &mut impl Sink) {
        let bytes = self.buf.get(..self.len).unwrap_or(&[]);
        // Only ASCII is ever appended, so this is valid UTF-8.
        sink.line(core::str::from_utf8(bytes).unwrap_or("<invalid line>"));
        self.len = 0;
    }
}

impl Default for Line {
    fn default() -> Self {
        Self::new()
    }
}

/// FNV-1a, 32 bit: a streaming checksum of a trajectory's bytes.
#[derive(Clone, Copy)]
pub struct Fnv1a(u32);

impl Fnv1a {
    /// The offset basis.
    pub const fn new() -> Self {
        Self(0x811C_9DC5)
    }

    /// Mixes in the little-endian bytes of each value's bit pattern.
    pub fn f32s(&mut self, values: &[f32]) {
        for v in values {
            for b in v.to_bits().to_le_bytes() {
                self.0 = (self.0 ^ b as u32).wrapping_mul(0x0100_0193);
            }
        }
    }

    /// The checksum so far.
    pub const fn value(self) -> u32 {
        self.0
    }
}

impl Default for Fnv1a {
    fn default() -> Self {
        Self::new()
    }
}

/// The units the observations are printed (and checksummed) in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Units {
    /// What the generator computes, x = B z (+ noise): for a model trained on z-scored data,
    /// z-scores of the training data.
    Model,
    /// Mapped back with the data statistics stored in the file: x · std + mean
    /// ([`Model::to_data_units`]).
    Data,
}

impl Units {
    /// [`Units::Data`] if `data`, else [`Units::Model`].
    pub const fn data_if(data: bool) -> Self {
        if data {
            Units::Data
        } else {
            Units::Model
        }
    }

    /// The name printed.
    pub const fn name(self) -> &'static str {
        match self {
            Units::Model => "model",
            Units::Data => "data",
        }
    }
}

/// The three runs of the scenario.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Autonomous, no noise.
    Deterministic,
    /// Autonomous, process and observation noise from [`NOISE_SEED`].
    Noisy,
    /// No noise, driven by the pulse train [`stimulus`] on input channel 0.
    Driven,
}

impl Mode {
    /// All modes in the order they run.
    pub const ALL: [Mode; 3] = [Mode::Deterministic, Mode::Noisy, Mode::Driven];

    /// The name printed.
    pub const fn name(self) -> &'static str {
        match self {
            Mode::Deterministic => "deterministic",
            Mode::Noisy => "noisy",
            Mode::Driven => "driven",
        }
    }

    /// The noise of this mode.
    pub const fn noise(self) -> Noise {
        match self {
            Mode::Noisy => Noise::Full,
            _ => Noise::None,
        }
    }
}

/// The stimulation input s_t (channel 0) of the driven mode at step `t`.
pub const fn stimulus(t: usize) -> f32 {
    if t % PULSE_PERIOD < PULSE_WIDTH {
        PULSE_AMPLITUDE
    } else {
        0.0
    }
}

/// The CRC-32 stored at the end of a model file (identifies the model in the output).
pub fn file_crc(file: &[u8]) -> u32 {
    match file.last_chunk::<4>() {
        Some(c) => u32::from_le_bytes(*c),
        None => 0,
    }
}

/// Runs all modes on a loaded `model` and prints the header, the reported steps and the
/// checksums, observations in `units`. `name` and `file` identify the model in the output.
pub fn run<const M: usize, const N: usize, const P: usize, const K: usize>(
    model: &Model<M, N, P, K>,
    name: &str,
    file: &[u8],
    units: Units,
    sink: &mut impl Sink,
) {
    let mut line = Line::new();
    line.str("plrnn scenario v1 model=")
        .str(name)
        .str(" crc32=")
        .hex(file_crc(file))
        .str(" variant=")
        .str(model.variant().name());
    if units == Units::Data {
        // Model units, the default, are not labelled (the output of a default build is unchanged).
        line.str(" units=data");
    }
    line.emit(sink);
    line.str("dims ")
        .dims(M, N, P, K)
        .str(" steps=")
        .dec(STEPS as u32)
        .str(" macs/step=")
        .dec(Model::<M, N, P, K>::DIMS.macs_per_step(model.variant()) as u32);
    line.emit(sink);
    for mode in Mode::ALL {
        run_mode(model, mode, units, &mut line, sink);
    }
    line.str("end");
    line.emit(sink);
}

// One copy for the three modes: at opt-level 3 LLVM may otherwise inline it once per mode (it
// did when the generator became generic over its storage: +18 kB of flash in the speed profile).
#[inline(never)]
fn run_mode<const M: usize, const N: usize, const P: usize, const K: usize>(
    model: &Model<M, N, P, K>,
    mode: Mode,
    units: Units,
    line: &mut Line,
    sink: &mut impl Sink,
) {
    let seed = if mode == Mode::Noisy { NOISE_SEED } else { 0 };
    let mut gen = Generator::new(model, seed);
    let mut x = [0.0f32; N];
    let mut s = [0.0f32; K];
    let mut sum = Fnv1a::new();
    line.str("mode ").str(mode.name());
    line.emit(sink);
    for t in 0..STEPS {
        if mode == Mode::Driven {
            if let Some(s0) = s.first_mut() {
                *s0 = stimulus(t);
            }
        }
        gen.step(&s, mode.noise(), &mut x);
        let mut shown = x;
        if units == Units::Data {
            model.to_data_units(&mut shown);
        }
        sum.f32s(&shown);
        if REPORT_STEPS.contains(&t) {
            line.str("  t=").dec(t as u32).str(" x");
            for v in &shown {
                line.str(" ").hex(v.to_bits());
            }
            line.emit(sink);
        }
    }
    let mut zsum = Fnv1a::new();
    zsum.f32s(gen.state());
    line.str("  fnv1a(x)=")
        .hex(sum.value())
        .str(" fnv1a(z_T)=")
        .hex(zsum.value());
    line.emit(sink);
}
