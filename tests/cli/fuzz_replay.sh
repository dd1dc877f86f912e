#!/bin/sh
# Replays every committed fuzz corpus (fuzz/corpus/NAME/) through its target: no crash, no
# sanitizer report, under whatever build the suite runs (plain or ASan+UBSan).
BUILD=${TCONV_BUILD:-build}
pass=0
fail=0
for src in fuzz/fuzz_*.c; do
  [ -e "$src" ] || continue
  name=$(basename "$src" .c)
  name=${name#fuzz_}
  bin=$BUILD/fuzz-replay-$name
  if [ ! -x "$bin" ]; then
    echo "FAIL fuzz $name: $bin not built"
    fail=$((fail + 1))
    continue
  fi
  if [ -d "fuzz/corpus/$name" ] && "$bin" "fuzz/corpus/$name" >/dev/null; then
    pass=$((pass + 1))
  else
    echo "FAIL fuzz $name: replay of fuzz/corpus/$name failed"
    fail=$((fail + 1))
  fi
done
echo "fuzz-replay: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
