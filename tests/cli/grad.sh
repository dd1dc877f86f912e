#!/bin/sh
# tconv grad on hand-computed cases (outputs compared byte for byte with .npy files written
# here), exit codes and one-line errors.
T=${TCONV:-build/tconv}
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

expect_fail() { # DESCRIPTION CMD...: non-zero exit, one stderr line, no gradient files
  desc=$1
  shift
  rm -f "$d"/g.*.npy
  "$@" >"$d/stdout" 2>"$d/stderr"
  rc=$?
  lines=$(wc -l <"$d/stderr")
  if [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] && [ "$lines" -eq 1 ] && [ -z "$(ls "$d"/g.*.npy 2>/dev/null)" ]; then
    ok
  else
    bad "$desc (exit $rc, $lines stderr lines: $(cat "$d/stderr"))"
  fi
}
same() { # DESCRIPTION GOT WANT
  if cmp -s "$2" "$3"; then ok; else bad "$1: $(od -An -tf4 -j128 "$2" 2>/dev/null)"; fi
}

. "$(dirname "$0")/lib/npy.sh" # npy FILE SHAPE FLOAT-BYTES...
F0='\000\000\000\000' F1='\000\000\200\077' F2='\000\000\000\100' F3='\000\000\100\100'
F4='\000\000\200\100' F6='\000\000\300\100' F7='\000\000\340\100' F10='\000\000\040\101'
F20='\000\000\240\101' F21='\000\000\250\101' F40='\000\000\040\102' F43='\000\000\054\102'
FM5='\000\000\240\300'

# 1-D along w: x = [1, 2], kernel taps [1, 10], stride 2, valid: y = [1, 10, 2, 20] + b.
# dy = [1, 2, 3, 4]: dx = [1*1 + 2*10, 3*1 + 4*10] = [21, 43], dk = [1*1 + 2*3, 1*2 + 2*4] =
# [7, 10], db = 10.
npy "$d/x.npy" "(1, 1, 2, 1)" $F1 $F2
npy "$d/k.npy" "(1, 2, 1, 1)" $F1 $F10
npy "$d/b.npy" "(1,)" $FM5
npy "$d/dy.npy" "(1, 1, 4, 1)" $F1 $F2 $F3 $F4
npy "$d/want_dx.npy" "(1, 1, 2, 1)" $F21 $F43
npy "$d/want_dk.npy" "(1, 2, 1, 1)" $F7 $F10
npy "$d/want_db.npy" "(1,)" $F10
G="grad --input $d/x.npy --kernel $d/k.npy --dy $d/dy.npy --strides 1,2 --padding valid -o $d/g"
for path in auto scalar reference; do
  rm -f "$d"/g.*.npy
  if TCONV_KERNELS=$path "$T" $G --bias "$d/b.npy" 2>"$d/stderr"; then
    same "dx [$path]" "$d/g.dx.npy" "$d/want_dx.npy"
    same "dkernel [$path]" "$d/g.dkernel.npy" "$d/want_dk.npy"
    same "dbias [$path]" "$d/g.dbias.npy" "$d/want_db.npy"
  else
    bad "grad [$path]: $(cat "$d/stderr")"
  fi
done
# without a bias: no dbias file
rm -f "$d"/g.*.npy
"$T" $G 2>"$d/stderr" && [ -e "$d/g.dx.npy" ] && [ ! -e "$d/g.dbias.npy" ] && ok ||
  bad "grad without bias: $(cat "$d/stderr")"
# relu with b = -5: z = [-4, 5, -3, 15], dz = dy * (z > 0) = [0, 2, 0, 4]:
# dx = [0 + 2*10, 0 + 4*10] = [20, 40], dk = [1*0 + 2*0, 1*2 + 2*4] = [0, 10], db = 6
npy "$d/want_dx2.npy" "(1, 1, 2, 1)" $F20 $F40
npy "$d/want_dk2.npy" "(1, 2, 1, 1)" $F0 $F10
npy "$d/want_db2.npy" "(1,)" $F6
rm -f "$d"/g.*.npy
if "$T" $G --bias "$d/b.npy" --activation relu 2>"$d/stderr"; then
  same "relu dx" "$d/g.dx.npy" "$d/want_dx2.npy"
  same "relu dkernel" "$d/g.dkernel.npy" "$d/want_dk2.npy"
  same "relu dbias" "$d/g.dbias.npy" "$d/want_db2.npy"
else
  bad "grad relu: $(cat "$d/stderr")"
fi
"$T" grad --help >"$d/stdout" 2>&1 && grep -q "PREFIX.dkernel.npy" "$d/stdout" && ok ||
  bad "grad --help"

expect_fail "missing --dy" "$T" grad --input "$d/x.npy" --kernel "$d/k.npy" -o "$d/g"
expect_fail "dy of the wrong shape" "$T" grad --input "$d/x.npy" --kernel "$d/k.npy" \
  --dy "$d/x.npy" -o "$d/g" --strides 1,2
expect_fail "bias of the wrong size" "$T" $G --bias "$d/dy.npy"
expect_fail "missing file" "$T" grad --input "$d/nope.npy" --kernel "$d/k.npy" --dy "$d/dy.npy" \
  -o "$d/g"
expect_fail "invalid layer" "$T" $G --output-padding 3,3
expect_fail "unknown flag" "$T" $G --frobnicate
expect_fail "unwritable output" "$T" grad --input "$d/x.npy" --kernel "$d/k.npy" \
  --dy "$d/dy.npy" --strides 1,2 -o "$d/no/such/dir/g"
echo "cli-grad: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
