#!/usr/bin/env bash
# `plrnn sweep --executor slurm` against a real Slurm: starts a one-node Slurm (munge, slurmctld,
# slurmd from Debian's slurm-wlm) on this machine, runs a small sweep (2 data sets × 2 seeds) as a
# job array, checks the collected table and the best models, checks that the same sweep with
# `--executor local` gives the same models bit for bit, and stops the daemons it started.
#
# Needs root (it installs slurm-wlm and munge with apt-get when they are missing and writes
# /etc/munge/munge.key when there is none). Usage: scripts/slurm-ci.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
fail() { echo "slurm-ci: FAILED: $*" >&2; exit 1; }
step() { printf '\n--- slurm-ci: %s ---\n' "$*"; }

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  step "installing slurm-wlm and munge"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q slurm-wlm munge >/dev/null
fi

work="$(mktemp -d /tmp/plrnn-slurm-ci.XXXXXX)"
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

step "munge"
if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  chown munge:munge /etc/munge/munge.key 2>/dev/null || true
  chmod 400 /etc/munge/munge.key
fi
sock="$work/munge.socket"
mkdir -p "$work/munge"
munged --force --socket="$sock" --pid-file="$work/munge/munged.pid" \
  --log-file="$work/munge/munged.log" --seed-file="$work/munge/munged.seed"
for _ in $(seq 50); do [ -s "$work/munge/munged.pid" ] && break; sleep 0.1; done
pids+=("$(cat "$work/munge/munged.pid")")

step "slurm.conf and daemons"
host="$(hostname -s)"
cpus="$(nproc)"
mkdir -p "$work/state" "$work/spool"
conf="$work/slurm.conf"
cat >"$conf" <<EOF
ClusterName=plrnnci
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$sock
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=ci Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$conf"
slurmctld -f "$conf"
for _ in $(seq 50); do [ -s "$work/slurmctld.pid" ] && break; sleep 0.1; done
pids+=("$(cat "$work/slurmctld.pid" 2>/dev/null || echo 0)")
slurmd -f "$conf"
for _ in $(seq 50); do [ -s "$work/slurmd.pid" ] && break; sleep 0.1; done
pids+=("$(cat "$work/slurmd.pid" 2>/dev/null || echo 0)")
ready=
for _ in $(seq 150); do
  if sinfo -h -o '%t' 2>/dev/null | grep -q '^idle'; then ready=1; break; fi
  sleep 0.2
done
[ -n "$ready" ] || { tail -20 "$work"/slurm*.log >&2 || true; fail "the Slurm node did not come up"; }
sinfo

step "plrnn (release build)"
(cd "$root" && cargo build -q --release -p plrnn-train --bin plrnn)
plrnn="$work/plrnn"
cp "$root/target/release/plrnn" "$plrnn"

step "data and sweep file"
cd "$work"
"$plrnn" simulate lorenz63 --steps 6000 --seed 1 --out l63_train.npy
"$plrnn" simulate lorenz63 --steps 6000 --seed 2 --out l63_test.npy
"$plrnn" simulate rossler --steps 6000 --seed 1 --out ros_train.npy
"$plrnn" simulate rossler --steps 6000 --seed 2 --out ros_test.npy
cat >sweep.toml <<'EOF'
method = "vi"
[train]
epochs = 300
latent_dim = 10
bases = 8
seq_len = 100
threads = 1
[grid]
seed = [0, 1]
[[data]]
name = "l63"
train = ["l63_train.npy"]
test = "l63_test.npy"
holdout = 0.35
[[data]]
name = "ros"
train = ["ros_train.npy"]
test = "ros_test.npy"
holdout = 0.35
[slurm]
args = ["--cpus-per-task=1", "--time=00:10:00"]
EOF

step "sweep --executor slurm"
t0=$(date +%s)
"$plrnn" sweep sweep.toml --out out-slurm --executor slurm
t1=$(date +%s)
echo "slurm sweep end to end: $((t1 - t0)) s"
cat out-slurm/results.csv
[ -s out-slurm/slurm/sweep.sbatch ] || fail "no sbatch script"
grep -q '^#SBATCH --array=0,1,2,3$' out-slurm/slurm/sweep.sbatch || fail "array line: $(grep array out-slurm/slurm/sweep.sbatch)"
grep -q '^#SBATCH --cpus-per-task=1$' out-slurm/slurm/sweep.sbatch || fail "the [slurm] args are not in the script"
rows=$(tail -n +2 out-slurm/results.csv | wc -l)
[ "$rows" = 4 ] || fail "$rows rows, want 4"
python3 - out-slurm/results.csv <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
tasks = set()
for r in rows:
    assert r["status"] in ("ok", "collapsed"), r
    assert r["executor"] == "slurm", r
    assert r["slurm_job_id"].isdigit(), r
    assert r["slurm_array_task_id"].isdigit(), r
    float(r["d_stsp"]); float(r["held_out_score"])
    tasks.add(r["slurm_array_task_id"])
assert tasks == {"0", "1", "2", "3"}, tasks
print("results.csv: 4 runs from Slurm array tasks", sorted(tasks))
EOF
"$plrnn" sweep status out-slurm

step "the same sweep with --executor local: the same models bit for bit"
"$plrnn" sweep sweep.toml --out out-local --executor local --jobs 2
for d in out-slurm/runs/*/; do
  id=$(basename "$d")
  cmp "$d/model.plrnn" "out-local/runs/$id/model.plrnn" || fail "run $id differs between slurm and local"
done
for b in out-local/best/*.plrnn; do
  cmp "$b" "out-slurm/best/$(basename "$b")" || fail "best model $(basename "$b") differs"
done
nbest=$(ls out-slurm/best/*.plrnn 2>/dev/null | wc -l)
[ "$nbest" -ge 1 ] || fail "no best model"
echo "slurm and local: 4 run models and $nbest best model(s) identical"

step "a repeat submits nothing"
"$plrnn" sweep sweep.toml --out out-slurm --executor slurm 2>&1 | tee repeat.log
grep -q "finished already" repeat.log || fail "the repeat did not skip the finished runs"

step "done"
