"""What plrnn-py adds on top of the Rust library (issue 15's goals), written for BENCHMARKS.md.

1. Training: `plrnn.train` against `plrnn train` on the same data, settings and seed (a fixed
   epoch count, so both do the same work; they write the same model file, which is checked).
   Runs alternate, wall and CPU time of each; the overhead is the difference of medians.
2. The NumPy round trip of a 10^6 x 3 array into `plrnn.evaluate`, beyond the metric itself:
   the call is made against a model of another width, so it converts and checks the array
   exactly as a real call does and then stops at the width check, before any metric (there is
   nothing else to time: the rest of a real call is the library's evaluation, which the
   command line runs too). Variants: float64 C order, float32, Fortran order; and NumPy's own
   copy of the same array as the floor a copy into Rust memory cannot beat.

Usage: python overhead.py [--cli PATH] [--quick] [--part roundtrip|train]   (PATH: the release `plrnn`; default
target/release/plrnn of this checkout). Prints a Markdown table per part.
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import plrnn

ROOT = Path(__file__).resolve().parents[2]


def cpu_children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def train_overhead(cli, reps, epochs, steps):
    tmp = Path(tempfile.mkdtemp())
    x = plrnn.simulate("lorenz63", steps=steps, seed=0)
    data = tmp / "x.npy"
    np.save(data, x)
    settings = dict(epochs=epochs, threads=1)
    flags = ["--epochs", str(epochs), "--threads", "1"]
    rows = {"cli": [], "python": []}
    same = None
    for _ in range(reps):
        out = tmp / "cli.plrnn"
        c0, t0 = cpu_children(), time.perf_counter()
        subprocess.run([cli, "train", "--data", str(data), "--seed", "0", *flags,
                        "--out", str(out)], check=True, capture_output=True)
        rows["cli"].append((time.perf_counter() - t0, cpu_children() - c0))

        c0, t0 = time.process_time(), time.perf_counter()
        # From the array in memory, as a notebook would (the CLI reads its .npy file).
        m = plrnn.train(x, seed=0, time_budget=None, progress=False, **settings)
        m.save(tmp / "py.plrnn")
        rows["python"].append((time.perf_counter() - t0, time.process_time() - c0))
        same = (tmp / "py.plrnn").read_bytes() == out.read_bytes()
    return rows, same


def timeit(f, reps):
    f()  # warm up (first-touch of allocator pages, imports)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return ts


def round_trip(reps):
    x = plrnn.simulate("lorenz63", steps=1_000_000, seed=0)
    # A model of width 2: evaluate converts and checks the (10^6, 3) array, then refuses it.
    other = plrnn.train(x[:3000, :2], latent_dim=4, bases=2, epochs=1, seq_len=100, threads=1,
                        time_budget=None, progress=False)

    def crossing(a):
        def f():
            try:
                plrnn.evaluate(other, a)
            except ValueError as e:
                assert "N = 2" in str(e) or "2" in str(e), e
            else:
                raise AssertionError("width check did not stop it")
        return f

    cases = [
        ("float64, C order", crossing(x)),
        ("float32, C order", crossing(x.astype(np.float32))),
        ("float64, Fortran order", crossing(np.asfortranarray(x))),
        ("NumPy's copy of the float64 array (np.array(x, copy=True))",
         lambda: np.array(x, copy=True)),
        ("NumPy's finiteness check (np.isfinite(x).all())", lambda: np.isfinite(x).all()),
    ]
    return [(name, timeit(f, reps)) for name, f in cases]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", default=str(ROOT / "target" / "release" / "plrnn"))
    ap.add_argument("--quick", action="store_true", help="fewer, shorter runs")
    ap.add_argument("--part", choices=["all", "roundtrip", "train"], default="all")
    a = ap.parse_args()
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, cores {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}")

    if a.part != "train":
        print_round_trip(a)
    if a.part != "roundtrip":
        print_train(a)


def print_round_trip(a):
    print("\n## NumPy round trip of a 10^6 x 3 array into evaluate (beyond the metric)\n")
    print("| input | median (ms) | min (ms) | runs |\n|---|---:|---:|---:|")
    for name, ts in round_trip(10 if a.quick else 30):
        print(f"| {name} | {1e3 * statistics.median(ts):.1f} | {1e3 * min(ts):.1f} | {len(ts)} |")



def print_train(a):
    reps, epochs = (2, 100) if a.quick else (5, 1000)
    rows, same = train_overhead(a.cli, reps, epochs, 20_000)
    print(f"\n## plrnn.train vs plrnn train: VI defaults, {epochs} epochs, --threads 1, "
          f"Lorenz-63 20 000 steps, seed 0 (same model file: {same})\n")
    print("| | wall median (s) | wall min (s) | CPU median (s) | CPU min (s) | runs |")
    print("|---|---:|---:|---:|---:|---:|")
    for k in ("cli", "python"):
        w = [r[0] for r in rows[k]]
        c = [r[1] for r in rows[k]]
        print(f"| {k} | {statistics.median(w):.2f} | {min(w):.2f} | {statistics.median(c):.2f} "
              f"| {min(c):.2f} | {len(w)} |")
    for i, label in ((0, "wall"), (1, "CPU")):
        cm = statistics.median(r[i] for r in rows["cli"])
        pm = statistics.median(r[i] for r in rows["python"])
        cmin = min(r[i] for r in rows["cli"])
        pmin = min(r[i] for r in rows["python"])
        print(f"\noverhead ({label}): median {100 * (pm - cm) / cm:+.2f} %, "
              f"min {100 * (pmin - cmin) / cmin:+.2f} %")


if __name__ == "__main__":
    main()
