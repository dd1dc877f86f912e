#!/bin/sh
# The tool's exit codes and one-line errors (zstd playTests style).
T=${TCONV:-build/tconv}
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# expect_fail DESCRIPTION CMD...: non-zero exit, exactly one line on stderr, no crash, no output
expect_fail() {
  desc=$1
  shift
  rm -f "$d/out.npy"
  "$@" >"$d/stdout" 2>"$d/stderr"
  rc=$?
  lines=$(wc -l <"$d/stderr")
  if [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] && [ "$lines" -eq 1 ] && [ ! -e "$d/out.npy" ]; then
    ok
  else
    bad "$desc (exit $rc, $lines stderr lines: $(cat "$d/stderr"))"
  fi
}
expect_ok() {
  desc=$1
  shift
  if "$@" >"$d/stdout" 2>"$d/stderr"; then ok; else bad "$desc: $(cat "$d/stderr")"; fi
}

# Tiny .npy files written byte by byte (no numpy needed): x (1,2,2,1), k (3,3,2,1), b (2,)
. "$(dirname "$0")/lib/npy.sh" # npy FILE SHAPE FLOAT-BYTES...
ONE='\000\000\200\077'
npy "$d/x.npy" "(1, 2, 2, 1)" $ONE $ONE $ONE $ONE
npy "$d/k.npy" "(3, 3, 2, 1)" $ONE $ONE $ONE $ONE $ONE $ONE $ONE $ONE $ONE $ONE $ONE $ONE $ONE $ONE $ONE $ONE $ONE $ONE
npy "$d/b.npy" "(2,)" $ONE $ONE
npy "$d/x3.npy" "(2, 2, 1)" $ONE $ONE $ONE $ONE

expect_ok "apply same" "$T" apply --input "$d/x.npy" --kernel "$d/k.npy" --bias "$d/b.npy" \
  --strides 2,2 --padding same -o "$d/y.npy"
expect_ok "shape json" "$T" shape --input-shape 1,28,28,1 --kernel-shape 3,3,32,1 --strides 2,2 \
  --padding same --json
grep -q '"output_shape": \[1, 56, 56, 32\], "pads": \[0, 1, 0, 1\]' "$d/stdout" && ok ||
  bad "shape json content: $(cat "$d/stdout")"
expect_ok "strides 4 values NHWC" "$T" shape --input-shape 1,4,4,1 --kernel-shape 3,3,1,1 \
  --strides 1,2,2,1 --padding VaLiD
expect_ok "torch form" "$T" shape --input-shape 1,4,4,1 --kernel-shape 3,3,1,1 --strides 2,2 \
  --from torch --padding 1 --output-padding 1 --json
grep -q '"output_shape": \[1, 8, 8, 1\], "pads": \[1, 1, 1, 1\], "adjust": \[1, 1\]' "$d/stdout" &&
  ok || bad "torch json: $(cat "$d/stdout")"

A="apply --input $d/x.npy --kernel $d/k.npy -o $d/out.npy"
expect_fail "output_padding >= stride" "$T" $A --strides 2,2 --padding same --output-padding 2,2
expect_fail "strides and dilation in Keras form" "$T" $A --strides 2,2 --dilation 2,2
expect_fail "3-value strides (B7)" "$T" $A --strides 1,1,1
expect_fail "4-value strides with batch 2 (B15)" "$T" $A --strides 2,1,1,1
expect_fail "zero stride (A12)" "$T" $A --strides 0,1
expect_fail "bad padding name" "$T" $A --padding middle
expect_fail "SAME output size TF rejects" "$T" $A --output-shape 9,9 --padding SAME --strides 2,2
expect_fail "negative output shape (B1)" "$T" $A --output-shape 2,-2 --padding SAME
expect_fail "explicit padding on batch (B15)" "$T" $A --output-shape 2,2 --padding EXPLICIT \
  --explicit-padding 1,0,0,0,0,0,0,0
expect_fail "negative explicit padding (B15)" "$T" $A --output-shape 2,2 --padding EXPLICIT \
  --explicit-padding 0,0,-1,0,0,0,0,0
expect_fail "rank-3 input (B8)" "$T" apply --input "$d/x3.npy" --kernel "$d/k.npy" -o "$d/out.npy"
expect_fail "kernel/input channel mismatch (A5)" "$T" apply --input "$d/x.npy" --kernel "$d/k.npy" \
  --groups 2 -o "$d/out.npy"
expect_fail "bias of the wrong size" "$T" apply --input "$d/x.npy" --kernel "$d/k.npy" \
  --bias "$d/x.npy" -o "$d/out.npy"
expect_fail "missing file" "$T" apply --input "$d/nope.npy" --kernel "$d/k.npy" -o "$d/out.npy"
expect_fail "not an npy" "$T" apply --input "$0" --kernel "$d/k.npy" -o "$d/out.npy"
expect_fail "unknown flag" "$T" apply --frobnicate
expect_fail "unknown command" "$T" frobnicate
expect_fail "output_padding 1 with stride 1 (C1, Keras rule)" "$T" shape --input-shape 1,1,1,4 \
  --kernel-shape 3,3,1,4 --output-padding 1 --dilation 2,2
expect_fail "torch output_padding >= max(stride, dilation)" "$T" shape --input-shape 1,1,1,4 \
  --kernel-shape 3,3,1,4 --from torch --output-padding 2 --dilation 2,2
expect_fail "huge output (B3)" "$T" shape --input-shape 2,2,2,2 --kernel-shape 1,1,1,2 \
  --strides 10,10 --output-shape 114078056,179835296 --padding SAME
expect_fail "int64 overflow text (B2)" "$T" shape --input-shape 1,1,1,1 --kernel-shape 1,1,1,1 \
  --output-shape -3697127975084027074,1 --padding SAME
expect_fail "overflowing integer literal" "$T" shape --input-shape 1,1,1,99999999999999999999 \
  --kernel-shape 1,1,1,1
# threads: bitwise the same result for every thread count
expect_ok "apply 3 threads" "$T" apply --input "$d/x.npy" --kernel "$d/k.npy" --bias "$d/b.npy" \
  --strides 2,2 --padding same -o "$d/y3.npy" --threads 3
cmp -s "$d/y.npy" "$d/y3.npy" && ok || bad "3 threads differ from 1"
expect_fail "negative threads" "$T" $A --threads -1
# a failed run leaves an existing output untouched
cp "$d/y.npy" "$d/out.npy"
"$T" $A --strides 0,0 2>/dev/null
cmp -s "$d/y.npy" "$d/out.npy" && ok || bad "failed apply changed an existing output"
echo "cli-apply: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
