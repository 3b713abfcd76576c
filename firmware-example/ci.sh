#!/usr/bin/env bash
# The firmware leg of CI (called by .ci/run; runs from anywhere). Installs what it needs on a
# fresh Debian 12 machine: the thumbv7em target and qemu-system-arm.
#
#  1. builds the firmware (release: opt-level "s", fat LTO); the build includes the no-panic
#     check binary, which links only if no panic is reachable from loading and stepping;
#  2. runs the firmware under QEMU and the same scenario on the host (tests/src/bin/fw_parity.rs)
#     and diffs the outputs: they must be equal byte for byte (M=20 model at both profiles, and
#     the M=50 model); the same for the kernel sweep (src/sweep.rs, fw_parity sweep:
#     small models of many shapes through the assembly kernels);
#  3. prints flash/RAM sizes (semihosting and defmt builds) and checks the budgets;
#  4. counts instructions per closed-loop step with the QEMU plugin in qemu-icount/ for
#     (M, P) = (20, 20) and (50, 30), in the release and the speed profile;
#  5. the real-time mode (src/bin/realtime.rs): SysTick at 1 kHz steps the model, a paced pulse
#     train arrives on UART0; the logged (t, s_t, x_t), written as `plrnn run` writes them, must
#     equal `plrnn generate --inputs` of the applied inputs bit for bit, differ from a zero-input
#     run, and the applied inputs must be the sent ones in order; one tick's instructions are
#     checked against the cycle budget at a 64 MHz clock; under -icount (virtual time from
#     instructions) no deadline is missed when steps are fast and every late one is counted
#     when they are slow;
#  6. walkthrough.sh: simulate, train a default model briefly, build the firmware with
#     PLRNN_MODEL=that file, and check parity with the host (model and data units).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$here"
export CARGO_TERM_COLOR=never

step() { printf '\n--- firmware: %s ---\n' "$*"; }
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Budgets for the M=20, P=20 model (bytes).
FLASH_BUDGET_SEMIHOSTING=32768
FLASH_GOAL_DEFMT=16384
STATIC_RAM_BUDGET=8192

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

step "tools"
if command -v rustup >/dev/null; then
  rustup target add thumbv7em-none-eabihf
fi
if ! command -v qemu-system-arm >/dev/null; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-arm
fi
# GNU binutils (size, nm) read ARM ELF files; they come with the C toolchain Rust links with.
if ! command -v size >/dev/null || ! command -v nm >/dev/null; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends binutils
fi
qemu-system-arm --version | head -n 1
host="$(rustc -vV | sed -n 's/^host: //p')"

elf_dir=target/thumbv7em-none-eabihf
out=target/ci
mkdir -p "$out"

# flash = .text + .rodata + .vector_table + .data (Berkeley "text" + "data"); static RAM = data + bss.
sizes() {
  size "$1" | awk 'NR == 2 { print $1 + $2, $2 + $3, $1, $2, $3 }'
}

step "format and lints"
cargo fmt --check
(cd qemu-icount && cargo fmt --check)
cargo clippy -q --release --bins -- -D warnings
cargo clippy -q --release --bins --features defmt -- -D warnings
cargo clippy -q --release --bins --features icount,large-model -- -D warnings

step "build (release) and no-panic check"
if ! cargo build --release --bins; then
  fail "firmware build failed. If the error is an undefined symbol" \
    "plrnn_no_panic_check__a_panic_is_reachable, a panic became reachable from decode_into or" \
    "Generator::step (see README.md, 'No panic in the step path')."
fi
cp "$elf_dir/release/firmware-example" "$out/firmware-semihosting.elf"
cp "$elf_dir/release/no-panic-check" "$out/no-panic-check.elf"
cp "$elf_dir/release/kernel-sweep" "$out/kernel-sweep.elf"
cp "$elf_dir/release/realtime" "$out/realtime.elf"
echo "no-panic check: linked (no panic reachable from decode_into and Generator::step)"
./qemu-run.sh "$out/no-panic-check.elf" || fail "no-panic-check binary failed under QEMU"

step "run under QEMU"
start=$(date +%s.%N)
./qemu-run.sh "$out/firmware-semihosting.elf" >"$out/firmware.txt" ||
  fail "firmware exited with status $? (output: $out/firmware.txt)"
end=$(date +%s.%N)
cat "$out/firmware.txt"
awk -v s="$start" -v e="$end" 'BEGIN { printf "QEMU run time: %.2f s\n", e - s }'

step "host replay and parity"
(cd "$root" && cargo run -q -p plrnn-tests --bin fw_parity) >"$out/host.txt"
if diff -u "$out/host.txt" "$out/firmware.txt"; then
  echo "parity: firmware output equals host output ($(wc -l <"$out/firmware.txt") lines, bit-exact f32 values and checksums)"
else
  fail "firmware and host outputs differ"
fi

step "parity, speed profile (opt-level 3)"
cargo build -q --profile speed --bin firmware-example
cp "$elf_dir/speed/firmware-example" "$out/firmware-speed.elf"
./qemu-run.sh "$out/firmware-speed.elf" >"$out/firmware-speed.txt" || fail "speed firmware failed"
diff -u "$out/host.txt" "$out/firmware-speed.txt" || fail "speed-profile firmware and host outputs differ"
echo "parity (speed profile): equal"

step "parity, large model (M=50 N=10 P=30: partial blocks in every dot product)"
(cd "$root" && cargo run -q -p plrnn-tests --bin fw_parity -- large) >"$out/host-large.txt"
cargo build -q --release --features large-model --bin firmware-example
cp "$elf_dir/release/firmware-example" "$out/firmware-large.elf"
./qemu-run.sh "$out/firmware-large.elf" >"$out/firmware-large.txt" || fail "large-model firmware failed"
diff -u "$out/host-large.txt" "$out/firmware-large.txt" || fail "large-model firmware and host outputs differ"
echo "parity (large model): equal ($(wc -l <"$out/firmware-large.txt") lines)"

step "kernel sweep parity (many shapes, every variant: device assembly vs host portable code)"
(cd "$root" && cargo run -q -p plrnn-tests --bin fw_parity -- sweep) >"$out/host-sweep.txt"
./qemu-run.sh "$out/kernel-sweep.elf" >"$out/kernel-sweep.txt" || fail "kernel-sweep firmware failed"
diff -u "$out/host-sweep.txt" "$out/kernel-sweep.txt" || fail "kernel sweep: firmware and host outputs differ"
echo "kernel sweep: equal ($(grep -c '^sweep' "$out/kernel-sweep.txt") shapes x 3 variants)"

step "defmt build"
cargo build --release --features defmt --bin firmware-example
cp "$elf_dir/release/firmware-example" "$out/firmware-defmt.elf"
# Output is defmt frames (decode with `defmt-print -e ELF`); here only the exit status counts.
./qemu-run.sh "$out/firmware-defmt.elf" >/dev/null || fail "defmt firmware failed under QEMU"

step "sizes (M=20 N=3 P=20 K=1)"
size "$out/firmware-semihosting.elf" "$out/firmware-defmt.elf" "$out/no-panic-check.elf" "$out/firmware-speed.elf"
read -r flash_sh ram_sh _ <<<"$(sizes "$out/firmware-semihosting.elf")"
read -r flash_df ram_df _ <<<"$(sizes "$out/firmware-defmt.elf")"
model_len=$(stat -c %s models/lorenz63-m20-p20.plrnn)
echo "semihosting: flash $flash_sh B (budget $FLASH_BUDGET_SEMIHOSTING), static RAM $ram_sh B (budget $STATIC_RAM_BUDGET) + stack"
echo "defmt:       flash $flash_df B (goal $FLASH_GOAL_DEFMT), static RAM $ram_df B + stack"
echo "(flash includes the embedded model file, $model_len B)"
[ "$flash_sh" -le "$FLASH_BUDGET_SEMIHOSTING" ] || fail "semihosting flash $flash_sh B over budget"
[ "$ram_sh" -le "$STATIC_RAM_BUDGET" ] || fail "static RAM $ram_sh B over budget"
[ "$ram_df" -le "$STATIC_RAM_BUDGET" ] || fail "defmt static RAM $ram_df B over budget"
[ "$flash_df" -le "$FLASH_GOAL_DEFMT" ] || fail "defmt flash $flash_df B over budget"

step "instruction counts per step (QEMU TCG plugin)"
(cd qemu-icount && cargo clippy -q --release --target "$host" -- -D warnings &&
  cargo build -q --release --target "$host")
plugin="$here/qemu-icount/target/$host/release/libqemu_icount.so"
[ -f "$plugin" ] || fail "plugin not built: $plugin"
printf '%-8s %-12s %6s %12s %10s %10s %10s\n' profile model macs insns/step insns/MAC flash_B run_s
for profile in release speed; do
  for model in small large; do
    features=icount
    [ "$model" = large ] && features=icount,large-model
    cargo build -q --profile "$profile" --features "$features" --bin firmware-example
    elf="$out/icount-$profile-$model.elf"
    cp "$elf_dir/$profile/firmware-example" "$elf"
    marker=$(nm "$elf" | awk '$3 == "plrnn_icount_marker" { print $1 }')
    [ -n "$marker" ] || fail "marker symbol not found in $elf"
    log="$out/icount-$profile-$model.log"
    rm -f "$log"
    start=$(date +%s.%N)
    QEMU_EXTRA_ARGS="-plugin $plugin,marker=0x$marker -d plugin -D $log" \
      ./qemu-run.sh "$elf" >"$out/icount-$profile-$model.txt" ||
      fail "icount firmware ($profile, $model) failed"
    end=$(date +%s.%N)
    head_line=$(head -n 1 "$out/icount-$profile-$model.txt")
    count_line=$(grep '^icount total=' "$log") || fail "no plugin output in $log"
    macs=$(sed -n 's/.*macs\/step=\([0-9]*\).*/\1/p' <<<"$head_line")
    steps=$(sed -n 's/.* steps=\([0-9]*\).*/\1/p' <<<"$head_line")
    hits=$(sed -n 's/.* hits=\([0-9]*\).*/\1/p' <<<"$count_line")
    min=$(sed -n 's/.* min=\([0-9]*\).*/\1/p' <<<"$count_line")
    max=$(sed -n 's/.* max=\([0-9]*\).*/\1/p' <<<"$count_line")
    [ "$hits" -eq $((steps + 1)) ] || fail "expected $((steps + 1)) marker hits, got $hits"
    [ "$min" = "$max" ] || echo "note: step cost varies: min $min, max $max"
    read -r flash _ <<<"$(sizes "$elf")"
    dims=$(sed -n 's/^icount \(M=[0-9]* N=[0-9]* P=[0-9]* K=[0-9]*\).*/\1/p' <<<"$head_line")
    awk -v p="$profile" -v d="$dims" -v m="$macs" -v i="$max" -v f="$flash" -v s="$start" -v e="$end" \
      'BEGIN { gsub(/ /, ",", d); printf "%-8s %-12s %6d %12d %10.2f %10d %10.2f\n", p, d, m, i, i / m, f, e - s }'
  done
done
echo "(instructions between consecutive marker calls, i.e. one deterministic Generator::step plus ~3"
echo " instructions of loop and call; the 'speed' profile is opt-level 3. Instructions, not cycles.)"

step "real-time mode: SysTick at 1 kHz, inputs on UART0, replay through plrnn generate"
# The cycle budget of one tick at a named clock: a 64 MHz Cortex-M4F (e.g. nRF52840) at the
# firmware's rate, from exact instruction counts, assuming at most CPI_BOUND cycles per
# instruction plus EXCEPTION_CYCLES for exception entry and exit (confirm on hardware: the
# firmware measures each step in SysTick cycles itself, `step_cycles_max`).
BUDGET_CLOCK_HZ=64000000
CPI_BOUND=2
EXCEPTION_CYCLES=50
rt="$out/realtime"
rm -rf "$rt"
mkdir -p "$rt"
(cd "$root" && cargo build -q -p plrnn-train --bin plrnn && cargo build -q -p plrnn-tests --bin fw_realtime)
plrnn="$root/target/debug/plrnn"
rt_model="$here/models/lorenz63-m20-p20.plrnn"
# The stimulation: a bad line first (counted, never applied), then pulses of distinct heights,
# 20 ms on and 180 ms off, paced in real time (QEMU's SysTick follows the host clock).
pulses="1 0.5 2 -1 1.5 3 -0.5 0.25 -2 1"
sent="$(for a in $pulses; do printf '%s 0 ' "$a"; done)"
feed() {
  trap '' PIPE # QEMU may exit first: the rest of the feed is then discarded
  # Start once the firmware has printed its header (model loaded, ticks about to start), so a
  # slow QEMU start on a busy machine does not swallow the pulse train; give up after 30 s.
  for _ in $(seq 600); do
    grep -q '^plrnn realtime' "$rt/device.log" 2>/dev/null && break
    sleep 0.05
  done
  sleep 0.2
  echo "not a number"
  for a in $pulses; do
    echo "$a"
    sleep 0.02
    echo 0
    sleep 0.18
  done
  return 0
}
b=$(nm "$out/realtime.elf" | awk '$3 == "plrnn_rt_tick_begin" { print $1 }')
e=$(nm "$out/realtime.elf" | awk '$3 == "plrnn_rt_tick_end" { print $1 }')
[ -n "$b" ] && [ -n "$e" ] || fail "tick marker symbols not found in realtime.elf"
start=$(date +%s.%N)
feed 2>/dev/null | QEMU_SERIAL=stdio \
  QEMU_EXTRA_ARGS="-plugin $plugin,marker=0x$b,end=0x$e -d plugin -D $rt/icount.log" \
  ./qemu-run.sh "$out/realtime.elf" >"$rt/device.log" ||
  fail "real-time firmware failed (output: $rt/device.log)"
end=$(date +%s.%N)
head -n 1 "$rt/device.log"
tail -n 1 "$rt/device.log"
awk -v s="$start" -v e="$end" 'BEGIN { printf "QEMU run time: %.2f s\n", e - s }'
"$root/target/debug/fw_realtime" --model "$rt_model" "$rt/device.log" >"$rt/run.csv" 2>"$rt/convert.txt" || {
  cat "$rt/convert.txt"
  fail "device log not convertible"
}
head -n 1 "$rt/device.log" | grep -q ' K=1 ' || fail "expected the K = 1 model"
counter() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$(tail -n 1 "$rt/device.log")"; }
steps=$(($(wc -l <"$rt/run.csv") - 1))
[ "$steps" -eq "$(counter steps)" ] && [ "$steps" -gt 0 ] || fail "$steps records for $(counter steps) steps"
{
  echo s1
  tail -n +2 "$rt/run.csv" | cut -d, -f2
} >"$rt/applied.csv"
"$plrnn" generate --model "$rt_model" --steps "$steps" --inputs "$rt/applied.csv" --out "$rt/replay.csv" 2>/dev/null
"$plrnn" generate --model "$rt_model" --steps "$steps" --out "$rt/zero.csv" 2>/dev/null
diff <(tail -n +2 "$rt/run.csv" | cut -d, -f3-) <(tail -n +2 "$rt/replay.csv") >"$rt/replay.diff" ||
  fail "device x differ from plrnn generate's replay of the applied inputs ($rt/replay.diff)"
echo "replay: $steps steps, x text equal to plrnn generate --inputs of the applied s"
if diff -q <(tail -n +2 "$rt/run.csv" | cut -d, -f3-) <(tail -n +2 "$rt/zero.csv") >/dev/null; then
  fail "the applied inputs did not change the output (equal to the zero-input run)"
fi
# Applied values, where s changes, must be the sent values in order (some may be superseded).
read -r changes pulses_applied < <(awk -F, -v sent="$sent" '
  BEGIN { n = split(sent, S, " "); j = 1; prev = 0 }
  NR > 1 && $2 + 0 != prev {
    while (j <= n && S[j] + 0 != $2 + 0) j++
    if (j > n) { print "bad", $1; bad = 1; exit }
    j++; changes++; if ($2 + 0 != 0) pulses++; prev = $2 + 0
  }
  END { if (!bad) print changes + 0, pulses + 0 }' "$rt/run.csv")
[ "$changes" != bad ] || fail "applied input at step $pulses_applied is not the next sent one"
[ "$pulses_applied" -ge 1 ] || fail "no pulse was applied"
[ "$(counter bad)" -eq 1 ] || fail "expected 1 bad input line, got $(counter bad)"
[ "$(counter applied)" -ge "$changes" ] || fail "applied=$(counter applied) < $changes changes of s"
[ $(($(counter applied) + $(counter superseded))) -le "$(counter received)" ] ||
  fail "applied + superseded > received"
[ "$(counter dropped)" -eq 0 ] || fail "records dropped"
echo "inputs: $pulses_applied of 10 pulses applied ($changes changes of s, in the order sent);" \
  "counters: $(tail -n 1 "$rt/device.log" | cut -d' ' -f2-)"
echo "zero-input run differs: inputs were applied"
count_line=$(grep '^icount total=' "$rt/icount.log") || fail "no plugin output in $rt/icount.log"
tick_n=$(sed -n 's/.* begin-to-end n=\([0-9]*\).*/\1/p' <<<"$count_line")
tick_max=$(sed -n 's/.* begin-to-end n=[0-9]* min=[0-9]* max=\([0-9]*\).*/\1/p' <<<"$count_line")
period_mean=$(sed -n 's/.* between-markers min=[0-9]* max=[0-9]* mean=\([0-9]*\).*/\1/p' <<<"$count_line")
[ "$tick_n" -ge "$steps" ] || fail "plugin saw $tick_n ticks for $steps steps"
rate=$(sed -n 's/.* rate_hz=\([0-9]*\).*/\1/p' <<<"$(head -n 1 "$rt/device.log")")
budget=$((BUDGET_CLOCK_HZ / rate))
tick_cycles=$((CPI_BOUND * tick_max + EXCEPTION_CYCLES))
period_cycles=$((CPI_BOUND * period_mean + 2 * EXCEPTION_CYCLES))
echo "budget at $((BUDGET_CLOCK_HZ / 1000000)) MHz and $rate Hz: $budget cycles per tick"
echo "tick (SysTick handler: input, step, queue): max $tick_max instructions ->" \
  "<= $tick_cycles cycles, margin $((budget - tick_cycles)) cycles ($((100 * (budget - tick_cycles) / budget)) %)"
echo "all work per tick period (tick + printing the record + receiving): mean $period_mean" \
  "instructions -> <= $period_cycles cycles, margin $((budget - period_cycles)) cycles"
[ "$tick_cycles" -le "$budget" ] || fail "tick over its cycle budget"
[ "$period_cycles" -le "$budget" ] || fail "work per tick period over the cycle budget"

step "real-time mode: late ticks are counted (QEMU -icount: virtual time from instructions)"
# Deterministic timing: the virtual clock advances 2^shift ns per instruction. shift=0: a tick's
# ~1 800 instructions take ~2 us of its 1 ms, so no deadline may be missed; shift=10: they take
# ~1.8 ms, so every step must be counted late, the ticks run back to back, and the records the
# starved output loop could not take must be dropped and counted (printed + dropped = steps).
for shift in 0 10; do
  QEMU_SERIAL=stdio QEMU_EXTRA_ARGS="-icount shift=$shift,sleep=off" \
    ./qemu-run.sh "$out/realtime.elf" </dev/null >"$rt/shift$shift.log" ||
    fail "real-time firmware failed at -icount shift=$shift"
  tail -n 1 "$rt/shift$shift.log"
done
counter_in() { sed -n "s/.* $2=\([0-9]*\).*/\1/p" <<<"$(tail -n 1 "$1")"; }
fast="$rt/shift0.log"
slow="$rt/shift10.log"
[ "$(counter_in "$fast" missed_deadlines)" -eq 0 ] || fail "missed deadlines at 1 ns per instruction"
[ "$(counter_in "$fast" dropped)" -eq 0 ] || fail "records dropped at 1 ns per instruction"
# The zero-input run of the device is plrnn generate's zero-input run.
"$root/target/debug/fw_realtime" --model "$rt_model" "$fast" 2>/dev/null | tail -n +2 | cut -d, -f3- >"$rt/shift0.x"
[ "$(wc -l <"$rt/shift0.x")" -eq "$steps" ] || fail "shift=0 run: not $steps records"
diff -q "$rt/shift0.x" <(tail -n +2 "$rt/zero.csv") >/dev/null ||
  fail "zero-input device run differs from plrnn generate without inputs"
slow_steps=$(counter_in "$slow" steps)
printed=$(grep -c '^r ' "$slow")
[ "$(counter_in "$slow" missed_deadlines)" -eq "$slow_steps" ] ||
  fail "at ~1 us per instruction every step is late, but missed_deadlines=$(counter_in "$slow" missed_deadlines) of $slow_steps"
[ $((printed + $(counter_in "$slow" dropped))) -eq "$slow_steps" ] ||
  fail "printed $printed + dropped $(counter_in "$slow" dropped) != $slow_steps steps"
echo "late ticks: none at 1 ns/instruction (zero-input x equal to plrnn generate);" \
  "all $slow_steps counted at ~1 us/instruction ($printed records printed, the rest counted as dropped)"

step "walk-through: recording -> trained model -> firmware (walkthrough.sh)"
"$here/walkthrough.sh"

step "firmware ok"
