#!/usr/bin/env bash
# Quality benchmark of issue 4: train on one of the paper's data sets with the default settings
# for a wall-clock budget, then judge with the default protocol of `plrnn evaluate` on its test
# file (binned D_stsp for N < 5, Gaussian-mixture D_stsp otherwise; D_H with σ = 20).
# Usage: scripts/quality.sh [DATASET] [SECONDS] [SEEDS...]
#   DATASET: lorenz63 (default), lorenz96, or eeg64 (no test file: judged on the training file);
#   default 60 s and seeds 0 1 2 3 4.
# PLRNN_METHOD=bptt judges `plrnn train --method bptt` by the same protocol (default: vi).
# PLRNN_TRAIN_ARGS adds flags to `plrnn train` (e.g. "--latent-dim 64").
# Needs ../shared/data/paper-benchmarks (not part of the repository) or PLRNN_BENCH_DATA.
set -euo pipefail
cd "$(dirname "$0")/.."
dataset=${1:-lorenz63}
shift || true
budget=${1:-60}
shift || true
seeds=${*:-0 1 2 3 4}
data=${PLRNN_BENCH_DATA:-../shared/data/paper-benchmarks}
method=${PLRNN_METHOD:-vi}
out=${PLRNN_BENCH_OUT:-target/quality-$dataset-$method}
train_file="$data/${dataset}_train.npy"
test_file="$data/${dataset}_test.npy"
if [ ! -f "$train_file" ]; then
  train_file="$data/${dataset}.npy"
  test_file="$train_file"
fi
read -r -a extra <<<"${PLRNN_TRAIN_ARGS:-}"
mkdir -p "$out"
: >"$out/summary.txt"
cargo build -q --release -p plrnn-train
bin=target/release/plrnn
echo "data: $dataset, method: $method ${PLRNN_TRAIN_ARGS:-}, training budget ${budget} s"
printf '%-5s %8s %8s %8s %10s\n' seed d_stsp d_h pe20 train_s
for s in $seeds; do
  start=$(date +%s.%N)
  "$bin" train --method "$method" --data "$train_file" --time-budget "$budget" --seed "$s" "${extra[@]}" \
    --out "$out/seed$s.plrnn" 2>"$out/seed$s.train.log"
  end=$(date +%s.%N)
  "$bin" evaluate --model "$out/seed$s.plrnn" --test "$test_file" --json \
    2>"$out/seed$s.eval.log" >"$out/seed$s.eval.json"
  python3 - "$out/seed$s.eval.json" "$s" "$start" "$end" <<'PY' | tee -a "$out/summary.txt"
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]:<5} {r['d_stsp']:8.3f} {r['d_h']:8.3f} {r['pe'].get('20', float('nan')):8.2e} {float(sys.argv[4]) - float(sys.argv[3]):10.1f}")
PY
done
python3 - "$out/summary.txt" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
print(f"median over {len(rows)} seeds: d_stsp {statistics.median(float(r[1]) for r in rows):.3f}, "
      f"d_h {statistics.median(float(r[2]) for r in rows):.3f}")
PY
