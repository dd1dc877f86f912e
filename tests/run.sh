#!/bin/sh
# Runs every test group and prints the total as "N passed, M failed".
# Each group prints its own "<group>: N passed, M failed" line last.
#   unit    C unit tests (tests/unit/*.c, one binary)
#   cli     shell scripts tests/cli/*.sh that drive the tconv tool
#   oracle  Python scripts tests/oracle/*.py: an independent float64 NumPy implementation
BUILD=${BUILD:-build}
export TCONV=${TCONV:-$PWD/$BUILD/tconv}
export TCONV_BUILD=$BUILD
PY=/usr/bin/python3
total_pass=0
total_fail=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

run_group() { # name command...
  name=$1
  shift
  "$@" >"$log" 2>&1
  rc=$?
  cat "$log"
  line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
  p=$(echo "$line" | sed -E 's/^(.*[^0-9])?([0-9]+) passed.*/\2/')
  f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
  [ -n "$line" ] || { p=0; f=1; echo "$name: no result line (exit $rc)"; }
  [ "$rc" -eq 0 ] || [ "$f" -gt 0 ] || { f=1; echo "$name: exit status $rc"; }
  total_pass=$((total_pass + p))
  total_fail=$((total_fail + f))
}

run_group unit "$BUILD/unit-tests"
for t in tests/cli/*.sh; do
  [ -e "$t" ] && run_group "$t" sh "$t"
done
if "$PY" -c 'import numpy' 2>/dev/null; then
  for t in tests/oracle/*.py; do
    [ -e "$t" ] && run_group "$t" "$PY" "$t"
  done
else
  echo "oracle: /usr/bin/python3 has no numpy (apt-get install python3-numpy): 1 failed"
  total_fail=$((total_fail + 1))
fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
