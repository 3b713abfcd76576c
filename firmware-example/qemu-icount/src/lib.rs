// SPDX-License-Identifier: GPL-2.0-or-later
//! A QEMU TCG plugin (plugin API version 1, QEMU 7.2) that counts guest instructions exactly.
//!
//! Every translated instruction gets an inline 64-bit add on one counter; the instruction at the
//! address given as `marker=0xADDR` (a `#[no_mangle] #[inline(never)]` function in the firmware,
//! found with `nm`) also gets a callback that records the counter. At exit the plugin prints the
//! number of marker hits and the instructions between consecutive hits (min, max, mean) with
//! `qemu_plugin_outs` (shown with `-d plugin`, into the file given by `-D`).
//!
//! With `end=0xADDR` as well, the marker opens an interval and the next hit of the `end`
//! address closes it; the plugin then also prints the instructions inside the intervals
//! (`begin-to-end n=.. min=.. max=.. mean=..`), e.g. one interrupt handler's work per call,
//! whatever runs between the calls.
//!
//! ```text
//! qemu-system-arm ... -plugin target/<host>/release/libqemu_icount.so,marker=0x1234 \
//!     -d plugin -D icount.log -kernel firmware.elf
//! ```
//!
//! QEMU ships no plugin header on Debian, so the few C declarations needed are written here from
//! `include/qemu/qemu-plugin.h` (v7.2). Instructions, not cycles: confirm timing on hardware
//! with DWT CYCCNT.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

type PluginId = u64;

/// Opaque `struct qemu_plugin_tb`.
#[repr(C)]
struct Tb {
    _opaque: [u8; 0],
}

/// Opaque `struct qemu_plugin_insn`.
#[repr(C)]
struct Insn {
    _opaque: [u8; 0],
}

/// `enum qemu_plugin_cb_flags`: QEMU_PLUGIN_CB_NO_REGS.
const CB_NO_REGS: c_int = 0;
/// `enum qemu_plugin_op`: QEMU_PLUGIN_INLINE_ADD_U64.
const INLINE_ADD_U64: c_int = 0;

type TbTransCb = extern "C" fn(PluginId, *mut Tb);
type VcpuUdataCb = extern "C" fn(c_uint, *mut c_void);
type UdataCb = extern "C" fn(PluginId, *mut c_void);

extern "C" {
    fn qemu_plugin_register_vcpu_tb_trans_cb(id: PluginId, cb: TbTransCb);
    fn qemu_plugin_tb_n_insns(tb: *const Tb) -> usize;
    fn qemu_plugin_tb_get_insn(tb: *const Tb, idx: usize) -> *mut Insn;
    fn qemu_plugin_insn_vaddr(insn: *const Insn) -> u64;
    fn qemu_plugin_register_vcpu_insn_exec_inline(
        insn: *mut Insn,
        op: c_int,
        ptr: *mut c_void,
        imm: u64,
    );
    fn qemu_plugin_register_vcpu_insn_exec_cb(
        insn: *mut Insn,
        cb: VcpuUdataCb,
        flags: c_int,
        userdata: *mut c_void,
    );
    fn qemu_plugin_register_atexit_cb(id: PluginId, cb: UdataCb, userdata: *mut c_void);
    fn qemu_plugin_outs(string: *const c_char);
}

/// The plugin API version this plugin was written against (QEMU_PLUGIN_VERSION in 7.2).
#[no_mangle]
pub static qemu_plugin_version: c_int = 1;

/// Instructions executed so far (incremented by QEMU-generated inline code; one vCPU).
static COUNT: AtomicU64 = AtomicU64::new(0);
/// Marker address (Thumb bit cleared).
static MARKER: AtomicU64 = AtomicU64::new(u64::MAX);
/// Optional end address (Thumb bit cleared).
static END: AtomicU64 = AtomicU64::new(u64::MAX);
/// The counter at each marker hit.
static HITS: Mutex<Vec<u64>> = Mutex::new(Vec::new());
/// The counter at the last marker hit not yet closed by an end hit.
static OPEN: Mutex<Option<u64>> = Mutex::new(None);
/// Instructions in each closed marker-to-end interval.
static INTERVALS: Mutex<Vec<u64>> = Mutex::new(Vec::new());

fn outs(s: &str) {
    if let Ok(c) = CString::new(s) {
        // SAFETY: a valid NUL-terminated string, copied by QEMU before we free it.
        unsafe { qemu_plugin_outs(c.as_ptr()) };
    }
}

extern "C" fn on_marker(_vcpu: c_uint, _udata: *mut c_void) {
    let n = COUNT.load(Ordering::Relaxed);
    if let Ok(mut h) = HITS.lock() {
        h.push(n);
    }
    if let Ok(mut o) = OPEN.lock() {
        *o = Some(n);
    }
}

extern "C" fn on_end(_vcpu: c_uint, _udata: *mut c_void) {
    let n = COUNT.load(Ordering::Relaxed);
    let open = OPEN.lock().ok().and_then(|mut o| o.take());
    if let (Some(start), Ok(mut iv)) = (open, INTERVALS.lock()) {
        iv.push(n - start);
    }
}

/// ` min=.. max=.. mean=..` of `v`, empty when `v` is.
fn summary(v: &[u64]) -> String {
    match (v.iter().min(), v.iter().max()) {
        (Some(min), Some(max)) => {
            let sum: u64 = v.iter().sum();
            format!(
                " min={min} max={max} mean={:.1}",
                sum as f64 / v.len() as f64
            )
        }
        _ => String::new(),
    }
}

extern "C" fn on_tb_trans(_id: PluginId, tb: *mut Tb) {
    let marker = MARKER.load(Ordering::Relaxed);
    let end = END.load(Ordering::Relaxed);
    // SAFETY: `tb` and the instructions are valid during this callback (QEMU's contract).
    unsafe {
        for i in 0..qemu_plugin_tb_n_insns(tb) {
            let insn = qemu_plugin_tb_get_insn(tb, i);
            qemu_plugin_register_vcpu_insn_exec_inline(
                insn,
                INLINE_ADD_U64,
                COUNT.as_ptr().cast(),
                1,
            );
            if qemu_plugin_insn_vaddr(insn) == marker {
                qemu_plugin_register_vcpu_insn_exec_cb(
                    insn,
                    on_marker,
                    CB_NO_REGS,
                    std::ptr::null_mut(),
                );
            }
            if qemu_plugin_insn_vaddr(insn) == end {
                qemu_plugin_register_vcpu_insn_exec_cb(
                    insn,
                    on_end,
                    CB_NO_REGS,
                    std::ptr::null_mut(),
                );
            }
        }
    }
}

extern "C" fn on_exit(_id: PluginId, _udata: *mut c_void) {
    let total = COUNT.load(Ordering::Relaxed);
    let hits = HITS.lock().map(|h| h.clone()).unwrap_or_default();
    let deltas: Vec<u64> = hits.windows(2).map(|w| w[1] - w[0]).collect();
    let mut line = format!(
        "icount total={total} marker=0x{:x} hits={}",
        MARKER.load(Ordering::Relaxed),
        hits.len()
    );
    if !deltas.is_empty() {
        line += " between-markers";
        line += &summary(&deltas);
    }
    if END.load(Ordering::Relaxed) != u64::MAX {
        let iv = INTERVALS.lock().map(|v| v.clone()).unwrap_or_default();
        line += &format!(" begin-to-end n={}", iv.len());
        line += &summary(&iv);
    }
    line.push('\n');
    outs(&line);
}

/// `marker=0xADDR` or `end=0xADDR`: which one, and the address.
fn parse_marker(arg: &str) -> Option<(&'static AtomicU64, u64)> {
    let (slot, v) = match arg.split_once('=')? {
        ("marker", v) => (&MARKER, v),
        ("end", v) => (&END, v),
        _ => return None,
    };
    let v = v.strip_prefix("0x").unwrap_or(v);
    Some((slot, u64::from_str_radix(v, 16).ok()?))
}

/// Plugin entry point: reads `marker=0xADDR` (and `end=0xADDR`) and registers the callbacks.
///
/// # Safety
/// Called by QEMU with `argc` valid C strings in `argv`.
#[no_mangle]
pub unsafe extern "C" fn qemu_plugin_install(
    id: PluginId,
    _info: *const c_void,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    for i in 0..usize::try_from(argc).unwrap_or(0) {
        let arg = CStr::from_ptr(*argv.add(i)).to_string_lossy();
        match parse_marker(&arg) {
            // Thumb function symbols carry bit 0; instruction addresses do not.
            Some((slot, a)) => slot.store(a & !1, Ordering::Relaxed),
            None => {
                outs(&format!("qemu-icount: unknown argument {arg:?}\n"));
                return -1;
            }
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_trans);
    qemu_plugin_register_atexit_cb(id, on_exit, std::ptr::null_mut());
    0
}
