//! Turns the log of the firmware's real-time mode (`firmware-example/src/bin/realtime.rs`:
//! a header, one `r t s… x…` line per step with f32 bit patterns in hex, an `end` line) into
//! the CSV `plrnn run` writes: `t,s1,…,sK,x1,…,xN`, s as the exact value applied, x in data
//! units printed exactly as `plrnn generate` prints them (the same code as `plrnn run`'s
//! writer, `plrnn_train::realtime::format_record`). So replaying the s columns through
//! `plrnn generate --inputs` must give the same x text; `firmware-example/ci.sh` checks it.
//!
//! Usage: `fw_realtime --model FILE [LOG]` (LOG defaults to stdin). The CSV goes to stdout, the
//! `end` line's counters to stderr. The model file must be the one the firmware embedded (its
//! CRC and sizes are checked against the header). A missing step (dropped record), a malformed
//! line or a missing `end` line is an error (exit 2, naming the line).

#[path = "../../../firmware-example/src/realtime.rs"]
#[allow(dead_code)]
mod realtime;
#[path = "../../../firmware-example/src/scenario.rs"]
#[allow(dead_code)]
mod scenario;

use std::io::{BufRead, Write};
use std::path::PathBuf;

use plrnn_train::model::DesktopModel;
use plrnn_train::realtime::{format_record, header, record_width};

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(2);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut model_path = None;
    let mut log_path = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--model" => model_path = args.next().map(PathBuf::from),
            _ if log_path.is_none() && !a.starts_with('-') => log_path = Some(PathBuf::from(a)),
            _ => fail(format!(
                "unexpected argument {a:?}; usage: fw_realtime --model FILE [LOG]"
            )),
        }
    }
    let model_path =
        model_path.unwrap_or_else(|| fail("--model FILE is required (the firmware's model)"));
    let model = DesktopModel::load(&model_path).unwrap_or_else(|e| fail(e));
    let bytes = std::fs::read(&model_path).unwrap_or_else(|e| fail(e));
    let crc = scenario::file_crc(&bytes);
    let d = model.buf().dims();
    let (k, n) = (d.k, d.n);
    let name = log_path
        .as_ref()
        .map_or("stdin".to_owned(), |p| p.display().to_string());
    let reader: Box<dyn BufRead> = match &log_path {
        Some(p) => Box::new(std::io::BufReader::new(
            std::fs::File::open(p).unwrap_or_else(|e| fail(format!("{name}: {e}"))),
        )),
        None => Box::new(std::io::stdin().lock()),
    };

    let want_header = format!(
        "{} crc32={crc:08x} M={} N={n} P={} K={k} ",
        realtime::HEADER,
        d.m,
        d.p
    );
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    let mut rec = vec![0u32; record_width(k, n)];
    let mut xs = vec![0.0f64; n];
    let mut text = Vec::new();
    let mut next_t = 0u64;
    let mut seen_header = false;
    let mut end = None;
    for (i, line) in reader.lines().enumerate() {
        let line = line.unwrap_or_else(|e| fail(format!("{name}: {e}")));
        let at = || format!("{name}, line {}", i + 1);
        let mut words = line.split_ascii_whitespace();
        match words.next() {
            Some("plrnn") => {
                // "plrnn realtime v1 model=NAME crc32=.. M=.. …": compare all but the name.
                let without_name: String = line
                    .split(' ')
                    .filter(|w| !w.starts_with("model="))
                    .collect::<Vec<_>>()
                    .join(" ");
                let without_name = without_name + " ";
                if !without_name.starts_with(&want_header) {
                    fail(format!(
                        "{}: header {line:?} does not match {} (want {want_header:?}…)",
                        at(),
                        model_path.display()
                    ));
                }
                seen_header = true;
                out.write_all(header(k, n).as_bytes())
                    .unwrap_or_else(|e| fail(e));
            }
            Some(w) if w == realtime::RECORD => {
                if !seen_header || end.is_some() {
                    fail(format!("{}: record outside header … end", at()));
                }
                let t: u64 = words
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| fail(format!("{}: no step index", at())));
                if t != next_t {
                    fail(format!(
                        "{}: step {t} follows step {} (records were dropped; replay needs all)",
                        at(),
                        next_t as i64 - 1
                    ));
                }
                rec[0] = t as u32;
                rec[1] = (t >> 32) as u32;
                for slot in rec[2..].iter_mut() {
                    *slot = words
                        .next()
                        .and_then(|v| u32::from_str_radix(v, 16).ok())
                        .unwrap_or_else(|| fail(format!("{}: expected {} hex words", at(), k + n)));
                }
                if words.next().is_some() {
                    fail(format!("{}: more than {} values", at(), k + n));
                }
                format_record(&model, &rec, &mut xs, &mut text);
                out.write_all(&text).unwrap_or_else(|e| fail(e));
                next_t += 1;
            }
            Some(w) if w == realtime::END => end = Some(line.clone()),
            _ => fail(format!("{}: unexpected line {line:?}", at())),
        }
    }
    out.flush().unwrap_or_else(|e| fail(e));
    let end = end.unwrap_or_else(|| fail(format!("{name}: no `end` line (run incomplete)")));
    eprintln!("{end}");
}
