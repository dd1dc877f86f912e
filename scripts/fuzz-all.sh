#!/bin/sh
# Fuzzes every target (or the ones named) for MINUTES each, one after the other, with clang's
# libFuzzer under ASan+UBSan, then merges the new interesting inputs into fuzz/corpus/NAME/
# (-merge=1 keeps only inputs that add coverage).  Crashes, OOMs and timeouts do not stop a run
# (fork mode): each reproducer is written to fuzz/crashes/NAME/ and listed at the end; replay one
# with build-fuzz/fuzzer-NAME FILE, or build-*/fuzz-replay-NAME FILE without libFuzzer.
#
#   scripts/fuzz-all.sh [MINUTES] [NAME...]     e.g.  scripts/fuzz-all.sh 10
#                                                      scripts/fuzz-all.sh 30 layer npy
# Settings follow OSS-Fuzz (2,560 MB RSS, 25 s per input).  One process at a time, so the
# machine stays usable; FUZZ_JOBS=N runs N forked workers per target instead.
set -u
cd "$(dirname "$0")/.."
mins=${1:-10}
[ $# -gt 0 ] && shift
if [ $# -gt 0 ]; then
  names="$*"
else
  names=$(for f in fuzz/fuzz_*.c; do n=$(basename "$f" .c); echo "${n#fuzz_}"; done)
fi
jobs=${FUZZ_JOBS:-1}
mkdir -p build-fuzz
make fuzz >build-fuzz/make.log 2>&1 || { echo "make fuzz failed (see build-fuzz/make.log)"; exit 1; }

summary=""
for name in $names; do
  bin=build-fuzz/fuzzer-$name
  [ -x "$bin" ] || { echo "no fuzzer for $name"; continue; }
  corpus=fuzz/corpus/$name
  new=build-fuzz/new-$name
  crashes=fuzz/crashes/$name
  log=build-fuzz/fuzz-$name.log
  mkdir -p "$corpus" "$crashes"
  rm -rf "$new"
  mkdir -p "$new"
  max_len=""
  [ "$name" = layer ] && max_len="-max_len=4096"
  echo "== $name: $mins minute(s), corpus $(ls "$corpus" | wc -l) files"
  # Fork mode: the first directory receives new inputs; the committed corpus only seeds.
  "$bin" -fork="$jobs" -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
    -rss_limit_mb=2560 -timeout=25 $max_len -max_total_time=$((mins * 60)) \
    -artifact_prefix="$crashes/" -print_final_stats=1 "$new" "$corpus" >"$log" 2>&1
  before=$(ls "$corpus" | wc -l)
  "$bin" -merge=1 -rss_limit_mb=2560 -timeout=25 "$corpus" "$new" >>"$log" 2>&1
  after=$(ls "$corpus" | wc -l)
  bytes=$(du -sb "$corpus" | cut -f1)
  # The last fork-mode status line: "#EXECS: cov: C ft: F corp: N/S exec/s: E ..."
  execs=$(grep -E '^#[0-9]+: ' "$log" | tail -n 1 | sed -E 's/^#([0-9]+):.*/\1/')
  found=$(ls "$crashes" 2>/dev/null | wc -l)
  line="$name: ${execs:-?} execs, corpus $before -> $after files ($bytes bytes), $found reproducer(s) in $crashes"
  echo "$line"
  summary="$summary$line
"
done
echo "---"
printf '%s' "$summary"
