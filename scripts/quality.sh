#!/usr/bin/env bash
# The quality suite (benchmarks/suite.toml) as one `plrnn sweep`: prepares the data files under
# benchmarks/data/ and runs the sweep into target/suite (safe to repeat: finished runs are
# skipped, interrupted ones resume).
# Usage: scripts/quality.sh [SWEEP_FILE] [plrnn sweep options...]
#   SWEEP_FILE defaults to benchmarks/suite.toml; e.g. `scripts/quality.sh benchmarks/suite.toml
#   --executor slurm --slurm-arg=--partition=short` runs it on a cluster.
# Needs ../shared/data (not part of the repository) or PLRNN_SHARED_DATA for the paper's data
# and the ECG recording; the simulated systems are written here.
set -euo pipefail
cd "$(dirname "$0")/.."
suite=${1:-benchmarks/suite.toml}
shift || true
out=${PLRNN_SUITE_OUT:-target/suite}
shared=${PLRNN_SHARED_DATA:-../shared/data}
data="$(dirname "$suite")/data"
mkdir -p "$data"
if [ ! -d "$shared/paper-benchmarks" ] || [ ! -d "$shared/recordings" ]; then
  echo "quality.sh: $shared/paper-benchmarks and $shared/recordings are needed (set PLRNN_SHARED_DATA)" >&2
  exit 2
fi
cargo build -q --release -p plrnn-train
bin=target/release/plrnn

for f in lorenz63_train lorenz63_test lorenz96_train lorenz96_test eeg64; do
  [ -e "$data/$f.npy" ] || ln -s "$(realpath "$shared/paper-benchmarks/$f.npy")" "$data/$f.npy"
done
# The ECG: the first 80 % for training, the last 20 % for judging.
if [ ! -s "$data/ecg_test.csv" ]; then
  ecg="$shared/recordings/ecg_bitalino.csv"
  n=$(($(wc -l <"$ecg") - 1))
  cut=$((n * 8 / 10))
  awk -v cut="$cut" 'NR == 1 || NR <= cut + 1' "$ecg" >"$data/ecg_train.csv"
  awk -v cut="$cut" 'NR == 1 || NR > cut + 1' "$ecg" >"$data/ecg_test.csv"
fi
# Simulated systems: 50 000 samples each at the system's own step, train and test from
# different initial states.
sim() { # NAME SYSTEM SEED STEPS [options...]
  local name=$1 sys=$2 seed=$3 steps=$4
  shift 4
  [ -s "$data/$name.npy" ] || "$bin" simulate "$sys" --seed "$seed" --steps "$steps" "$@" --out "$data/$name.npy"
}
for s in hindmarsh_rose fitzhugh_nagumo morris_lecar wilson_cowan chua aizawa duffing sprott_b; do
  sim "${s}_train" "$s" 1 50000
  sim "${s}_test" "$s" 2 50000
done
sim hindmarsh_rose_noisy_train hindmarsh_rose 1 50000 --obs-noise 0.1
sim chua_lowdata_train chua 1 5000

"$bin" sweep "$suite" --out "$out" "$@"
