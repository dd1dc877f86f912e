#!/bin/sh
# Fuzzes one target for N seconds (default 60) with libFuzzer, growing its corpus in place:
#   make fuzz && sh fuzz/run.sh npy 600
name=${1:?usage: fuzz/run.sh NAME [SECONDS]}
secs=${2:-60}
mkdir -p "fuzz/corpus/$name" "build-fuzz/new-$name"
"build-fuzz/fuzzer-$name" -max_total_time="$secs" -print_final_stats=1 \
  "build-fuzz/new-$name" "fuzz/corpus/$name"
