#!/usr/bin/env bash
# Quality benchmark of issue 4: train on the paper's Lorenz-63 data with the default settings for
# a wall-clock budget, then judge with the default protocol of `plrnn evaluate` on the test file.
# Usage: scripts/quality-lorenz63.sh [SECONDS] [SEEDS...]   (default 60 s, seeds 0 1 2 3 4)
# PLRNN_METHOD=bptt judges `plrnn train --method bptt` by the same protocol (default: vi).
# Needs ../shared/data/paper-benchmarks (not part of the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
budget=${1:-60}
shift || true
seeds=${*:-0 1 2 3 4}
data=${PLRNN_BENCH_DATA:-../shared/data/paper-benchmarks}
method=${PLRNN_METHOD:-vi}
out=${PLRNN_BENCH_OUT:-target/quality-lorenz63-$method}
mkdir -p "$out"
: >"$out/summary.txt"
cargo build -q --release -p plrnn-train
bin=target/release/plrnn
echo "method: $method, training budget ${budget} s"
printf '%-5s %8s %8s %8s %10s\n' seed d_stsp d_h pe20 train_s
for s in $seeds; do
  start=$(date +%s.%N)
  "$bin" train --method "$method" --data "$data/lorenz63_train.npy" --time-budget "$budget" --seed "$s" \
    --out "$out/seed$s.plrnn" 2>"$out/seed$s.train.log"
  end=$(date +%s.%N)
  "$bin" evaluate --model "$out/seed$s.plrnn" --test "$data/lorenz63_test.npy" --json \
    2>"$out/seed$s.eval.log" >"$out/seed$s.eval.json"
  python3 - "$out/seed$s.eval.json" "$s" "$start" "$end" <<'PY' | tee -a "$out/summary.txt"
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]:<5} {r['d_stsp']:8.3f} {r['d_h']:8.3f} {r['pe']['20']:8.2e} {float(sys.argv[4]) - float(sys.argv[3]):10.1f}")
PY
done
