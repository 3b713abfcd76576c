#!/bin/bash
# usage: measure.sh NAME toml-lines...
name=$1; shift
for s in 0 1 2 3 4; do
  target/debug/examples/bptt_lorenz 'time_budget_secs = 60' 'threads = 2' 'eval_every = 8' "seed = $s" "$@" > benchmarks/bptt/$name-s$s.txt 2>&1
done
