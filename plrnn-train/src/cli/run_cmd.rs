//! `plrnn run`: the command-line glue around [`crate::realtime`].

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, ValueEnum};

use super::commands::{load_model, read_series, NoiseArg};
use super::{input_err, ranges};
use crate::ranges as R;
use crate::realtime::{self, InputCounters, InputFormat, Inputs, LoopConfig, Ring, RunStats};

/// Options of `plrnn run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Model file.
    #[arg(long)]
    pub model: PathBuf,
    /// Steps per second.
    #[arg(long, allow_negative_numbers = true, value_parser = ranges::real(R::RUN_RATE))]
    pub rate: f64,
    /// Seconds to run (rounded to whole steps); without it, until Ctrl-C.
    #[arg(long, allow_negative_numbers = true, value_parser = ranges::real(R::RUN_DURATION))]
    pub duration: Option<f64>,
    /// Inputs s_t: `stdin` (or `-`), `udp://127.0.0.1:PORT` (listen there), or a file (.csv or
    /// .npy, K columns, row t applied at step t). Without it, s = 0.
    #[arg(long)]
    pub input: Option<String>,
    /// Encoding of live inputs: `csv` (K comma-separated numbers per line) or `f32le` (UDP
    /// only: datagrams of K little-endian f32 per input).
    #[arg(long, value_enum, default_value = "csv")]
    pub input_format: InputFormatArg,
    /// Where the CSV `t,s1..sK,x1..xN` goes: `stdout` (or `-`), `udp://HOST:PORT` (one
    /// datagram per line), or a file (written atomically, complete at the end).
    #[arg(long, default_value = "stdout")]
    pub output: String,
    /// Noise mode (`--noise` alone means full).
    #[arg(long, value_enum, default_value = "none", num_args = 0..=1, default_missing_value = "full")]
    pub noise: NoiseArg,
    /// Noise seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Limit every latent state to [−L, L] after each step (as `plrnn generate --clamp`).
    /// In (0, 1e30].
    #[arg(long, allow_negative_numbers = true, value_parser = super::commands::clamp_parser())]
    pub clamp: Option<f32>,
    /// Write the run's statistics as JSON to this file.
    #[arg(long)]
    pub stats: Option<PathBuf>,
    /// Microseconds before each deadline the loop stops sleeping and spins (0: sleep only,
    /// cheaper but later on a loaded machine).
    #[arg(long, default_value_t = 200, allow_negative_numbers = true, value_parser = ranges::int(R::RUN_SPIN_US))]
    pub spin_us: usize,
    /// Capacity of the output queue in records (the oldest are dropped when it is full).
    #[arg(long, default_value_t = 65536, allow_negative_numbers = true, value_parser = ranges::int(R::RUN_QUEUE))]
    pub queue: usize,
}

/// Live input encodings on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum InputFormatArg {
    /// CSV text lines.
    Csv,
    /// Little-endian f32 datagrams.
    F32le,
}

enum Source {
    None,
    Stdin,
    Udp(UdpSocket),
    File(crate::series::TimeSeries),
}

enum Dest {
    Stdout,
    Udp(UdpSocket),
    File(PathBuf),
}

fn udp_addr(spec: &str) -> Option<&str> {
    spec.strip_prefix("udp://")
}

/// Runs `plrnn run`.
pub fn run(a: RunArgs) -> Result<()> {
    let steps = a.duration.map(|d| (d * a.rate).round().max(1.0) as u64);
    let model = load_model(&a.model)?;
    let d = model.buf().dims();
    let format = match a.input_format {
        InputFormatArg::Csv => InputFormat::Csv,
        InputFormatArg::F32le => InputFormat::F32le,
    };
    let source = match a.input.as_deref() {
        None => Source::None,
        Some("stdin" | "-") => Source::Stdin,
        Some(spec) => match udp_addr(spec) {
            Some(addr) => Source::Udp(
                UdpSocket::bind(addr)
                    .map_err(|e| input_err(anyhow!("--input {spec}: cannot listen: {e}")))?,
            ),
            None => {
                let p = Path::new(spec);
                let s = read_series(p)?;
                if s.dims() != d.k {
                    bail!(input_err(anyhow!(
                        "{}: inputs have {} columns, the model takes K = {}",
                        p.display(),
                        s.dims(),
                        d.k
                    )));
                }
                Source::File(s)
            }
        },
    };
    if format == InputFormat::F32le && !matches!(source, Source::Udp(_)) {
        bail!(input_err(anyhow!(
            "--input-format f32le needs --input udp://ADDR:PORT"
        )));
    }
    if d.k == 0 && matches!(source, Source::Stdin | Source::Udp(_)) {
        bail!(input_err(anyhow!(
            "--input: the model takes no inputs (K = 0)"
        )));
    }
    let dest = match a.output.as_str() {
        "stdout" | "-" => Dest::Stdout,
        spec => match udp_addr(spec) {
            Some(addr) => {
                let bad = |e: std::io::Error| input_err(anyhow!("--output {spec}: {e}"));
                let sock = UdpSocket::bind("127.0.0.1:0")
                    .or_else(|_| UdpSocket::bind("0.0.0.0:0"))
                    .map_err(bad)?;
                sock.connect(addr).map_err(bad)?;
                Dest::Udp(sock)
            }
            None => Dest::File(PathBuf::from(spec)),
        },
    };

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // A second handler (another command in the same process) cannot be set; the run
        // still ends at --duration.
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    }
    let in_ring = Arc::new(Ring::new(1024, d.k));
    let counters = Arc::new(InputCounters::default());
    let reader = match source {
        Source::Stdin => {
            let (ring, c, stop) = (in_ring.clone(), counters.clone(), stop.clone());
            // Not joined: a read from stdin cannot be interrupted; the process ends it.
            Some(std::thread::spawn(move || {
                realtime::read_lines(std::io::stdin().lock(), d.k, &ring, &c, &stop)
            }))
        }
        Source::Udp(ref sock) => {
            let sock = sock.try_clone().context("--input: cloning the socket")?;
            let (ring, c, stop) = (in_ring.clone(), counters.clone(), stop.clone());
            Some(std::thread::spawn(move || {
                realtime::read_udp(&sock, format, d.k, &ring, &c, &stop)
            }))
        }
        _ => None,
    };
    let live = matches!(source, Source::Stdin | Source::Udp(_));

    let model = Arc::new(model);
    let out_ring = Arc::new(Ring::new(a.queue, realtime::record_width(d.k, d.n)));
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (model, ring, done, stop) =
            (model.clone(), out_ring.clone(), done.clone(), stop.clone());
        std::thread::spawn(move || {
            let r = match dest {
                Dest::Stdout => realtime::write_output(
                    &model,
                    &ring,
                    &done,
                    &mut realtime::StreamSink(std::io::stdout().lock()),
                )
                .map_err(|e| anyhow!("--output stdout: {e}")),
                Dest::Udp(sock) => {
                    realtime::write_output(&model, &ring, &done, &mut realtime::UdpSink(sock))
                        .map_err(|e| anyhow!("--output: {e}"))
                }
                Dest::File(path) => crate::io::atomic_write_with(&path, |w| {
                    realtime::write_output(&model, &ring, &done, &mut realtime::StreamSink(w))
                        .map(|_| ())
                })
                .map(|_| 0)
                .map_err(|e| anyhow!("--output {}: {e}", path.display())),
            };
            if r.is_err() {
                // The consumer is gone: end the run rather than step into the void.
                stop.store(true, Ordering::SeqCst);
            }
            r
        })
    };

    let cfg = LoopConfig {
        rate_hz: a.rate,
        steps,
        noise: a.noise.into(),
        seed: a.seed,
        clamp: a.clamp,
        spin: Duration::from_micros(a.spin_us as u64),
    };
    let inputs = match (&source, live) {
        (Source::File(s), _) => Inputs::Rows(s),
        (_, true) => Inputs::Live(&in_ring),
        _ => Inputs::Zero,
    };
    eprintln!(
        "running {} at {} Hz{} (Ctrl-C ends the run)",
        a.model.display(),
        a.rate,
        match steps {
            Some(n) => format!(" for {n} steps"),
            None => String::new(),
        }
    );
    let report = realtime::run_loop(&model, &cfg, inputs, &out_ring, &stop);
    done.store(true, Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    let written = writer
        .join()
        .map_err(|_| anyhow!("the output thread panicked"))?;
    if let (Some(h), Source::Udp(_)) = (reader, &source) {
        match h.join() {
            Ok(Err(e)) => eprintln!("warning: --input: {e}"),
            Err(_) => eprintln!("warning: the input thread panicked"),
            Ok(Ok(())) => {}
        }
    }
    let stats = RunStats::new(
        a.rate,
        &report,
        live.then_some((&*in_ring, &*counters)),
        &out_ring,
    );
    eprintln!("{}", stats.summary());
    if let Some(p) = &a.stats {
        crate::io::write_json_atomic(p, &stats)
            .map_err(|e| input_err(anyhow!("--stats {}: {e}", p.display())))?;
    }
    written?;
    Ok(())
}
