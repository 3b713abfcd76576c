//! The `vi_update` bench's update (M = 20, P = 20, N = 3, T = 1000, one thread), run a few
//! times so that an instruction counter can measure it on a shared machine, where wall and
//! even CPU times move with the neighbours' load:
//!
//! ```text
//! cargo build --release -p plrnn-train --example vi_update_count
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*measured_updates*' \
//!     target/release/examples/vi_update_count dendritic 10
//! ```
//! Instructions per update = the total callgrind reports / the count (second argument).
//! First argument: `dendritic` (default), `clipped`, `relu` or `clipped_mlp` (a prefix of a
//! bench case name).

#[path = "../benches/common/vi_update_setup.rs"]
mod setup;

use setup::{Setup, CASES};

#[inline(never)]
fn measured_updates(s: &mut Setup, count: usize) -> f64 {
    (0..count).map(|_| s.update()).sum()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "dendritic".into());
    let count: usize = args.next().map_or(10, |c| c.parse().expect("count"));
    let Some(&(_, variant, encoder)) = CASES.iter().find(|c| c.0.starts_with(name.as_str())) else {
        panic!("unknown variant {name}")
    };
    let mut s = Setup::new(variant, encoder);
    s.update(); // buffers sized outside the measured part
    let total = measured_updates(&mut s, count);
    // FNV-1a over the parameters' bits: equal hashes before and after a change of the kernel
    // mean the same model to the bit.
    let hash = s.params().iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, p| {
        (h ^ p.to_bits()).wrapping_mul(0x100_0000_01b3)
    });
    println!("{name}: {count} updates, summed loss {total}, parameter hash {hash:016x}");
}
