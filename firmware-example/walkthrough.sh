#!/usr/bin/env bash
# From a recording to the board, as a new user walks it (run by ci.sh; runs from anywhere):
#
#  1. simulate a Lorenz-63 recording with `plrnn simulate`;
#  2. train a default model on it (`plrnn train`, only --epochs shortened: K = 0, default M, P);
#  3. build the firmware with PLRNN_MODEL=that file (no source edit) and run it under QEMU;
#  4. run the same scenario on the host (fw_parity, built with the same PLRNN_MODEL) and check
#     that the outputs are equal byte for byte; the same again in data units (PLRNN_UNITS=data);
#  5. check that a bad PLRNN_MODEL fails the build with a message naming it.
#
# Needs what ci.sh installs (thumbv7em target, qemu-system-arm). Files go to
# firmware-example/target/walkthrough/.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
export CARGO_TERM_COLOR=never

step() { printf '\n--- walk-through: %s ---\n' "$*"; }
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

work="$here/target/walkthrough"
rm -rf "$work"
mkdir -p "$work"

step "plrnn (debug build, as cargo test builds it)"
(cd "$root" && cargo build -q -p plrnn-train --bin plrnn)
plrnn="$root/target/debug/plrnn"

step "simulate and train a default model"
"$plrnn" simulate lorenz63 --steps 4000 --seed 1 --out "$work/l63.npy"
"$plrnn" train --data "$work/l63.npy" --epochs 5 --seed 0 --threads 1 --out "$work/l63.plrnn"
for f in l63.plrnn l63.plrnn.config.toml l63.plrnn.metrics.json l63.plrnn.norm.json; do
  [ -s "$work/$f" ] || fail "plrnn train did not write $f"
done
model="$work/l63.plrnn"

# Builds the firmware and the host replay for $model with the given PLRNN_UNITS, runs both and
# diffs them; the firmware output is left in $work/firmware-$1.txt.
parity() {
  local units=$1
  (cd "$here" && PLRNN_MODEL="$model" PLRNN_UNITS="$units" \
    cargo build -q --release --bin firmware-example --bin no-panic-check)
  cp "$here/target/thumbv7em-none-eabihf/release/firmware-example" "$work/firmware-$units.elf"
  "$here/qemu-run.sh" "$here/target/thumbv7em-none-eabihf/release/no-panic-check" ||
    fail "no-panic-check for the trained model failed under QEMU"
  "$here/qemu-run.sh" "$work/firmware-$units.elf" >"$work/firmware-$units.txt" ||
    fail "firmware ($units units) exited with status $? (output: $work/firmware-$units.txt)"
  (cd "$root" && PLRNN_MODEL="$model" PLRNN_UNITS="$units" \
    cargo run -q -p plrnn-tests --bin fw_parity) >"$work/host-$units.txt"
  diff -u "$work/host-$units.txt" "$work/firmware-$units.txt" ||
    fail "firmware and host outputs differ ($units units)"
  echo "parity ($units units): equal ($(wc -l <"$work/firmware-$units.txt") lines)"
}

step "firmware with PLRNN_MODEL=$model, model units"
parity model
head -n 2 "$work/firmware-model.txt"
grep -q '^plrnn scenario v1 model=l63 ' "$work/firmware-model.txt" || fail "model name not printed"
grep -q '^dims M=[0-9]* N=3 P=[0-9]* K=0 ' "$work/firmware-model.txt" ||
  fail "expected the default-trained sizes (N = 3, K = 0) in the firmware output"

step "the same in data units (PLRNN_UNITS=data)"
parity data
head -n 1 "$work/firmware-data.txt"
grep -q ' units=data$' "$work/firmware-data.txt" || fail "data units not labelled"
# Same trajectories, other units: the printed values must differ.
if diff -q <(grep 't=999' "$work/firmware-model.txt") <(grep 't=999' "$work/firmware-data.txt") >/dev/null; then
  fail "data-unit output equals model-unit output"
fi

step "a bad PLRNN_MODEL fails the build, naming it"
printf 'not a model' >"$work/bad.plrnn"
for bad in "$work/missing.plrnn" "$work/bad.plrnn"; do
  if (cd "$here" && PLRNN_MODEL="$bad" cargo build -q --release --bin firmware-example) \
    >"$work/bad.log" 2>&1; then
    fail "PLRNN_MODEL=$bad: the build succeeded"
  fi
  grep -q "PLRNN_MODEL=$bad: " "$work/bad.log" || {
    cat "$work/bad.log"
    fail "PLRNN_MODEL=$bad: the build error does not name the variable and file"
  }
  grep "PLRNN_MODEL=" "$work/bad.log" | head -n 1
done

step "walk-through ok"
