#!/bin/sh
# tconv inspect / convert on the TF- and Keras-written files in ../shared/testdata and on corrupt
# copies of them: exit codes, one-line errors, names, and values surviving a conversion.
TCONV=${TCONV:-build/tconv}
TD=../shared/testdata
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL importers: $*"; fail=$((fail + 1)); }
check() { # description command... : expects exit 0
  d=$1; shift
  if "$@" >/dev/null 2>&1; then ok; else bad "$d"; fi
}
if [ ! -d "$TD" ]; then
  echo "SKIP importers: $TD is missing (clone shared/ beside the repository)"
  echo "importers: 0 passed, 0 failed"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Every file inspects, as text and JSON.
for f in tf-ckpt/cvae-init-object-graph tf-ckpt/tf1-conv-autoencoder-adam/checkpoint-00001700 \
         tf-ckpt/serving-half-plus-two-cpu/variables tf-ckpt/serving-half-plus-two-tf2-cpu/variables \
         tf-ckpt/serving-half-plus-two-mkl/variables.index tf-ckpt/serving-counter/variables \
         tf-ckpt/index-only-keras2-dcgan-optimizer-slots/ckpt-1 tf-ckpt/index-only-keras3-dcgan/cp.ckpt-3 \
         keras-h5/vae-decoder-k2.7-full-model/decoder.h5 keras-h5/cae-k2.3-weights-only/autoencoder.h5 \
         keras-h5/gan-generator-k2.13-keras-zip/generator.keras; do
  check "inspect $f" "$TCONV" inspect "$TD/$f"
  if "$TCONV" inspect --json "$TD/$f" >"$tmp/out.json" 2>"$tmp/err" &&
     /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["tensors"]' "$tmp/out.json"; then
    ok
  else
    bad "inspect --json $f is not valid JSON with tensors: $(cat "$tmp/err")"
  fi
done

# Counts and names.
n=$("$TCONV" inspect "$TD/tf-ckpt/index-only-keras2-dcgan-optimizer-slots/ckpt-1" | tail -n 1)
[ "$n" = "93 tensors (tf-checkpoint)" ] && ok || bad "index-only count: $n"
n=$("$TCONV" inspect --names-only "$TD/tf-ckpt/cvae-init-object-graph" | tail -n 1)
[ "$n" = "16 tensors (tf-checkpoint)" ] && ok || bad "--names-only count: $n"
"$TCONV" inspect --json "$TD/tf-ckpt/cvae-init-object-graph" | grep -q '"keras_name": "conv2d_transpose_1/kernel"' \
  && ok || bad "keras_name of the object graph"
"$TCONV" inspect "$TD/tf-ckpt/tf1-conv-autoencoder-adam" | grep -q 'tensor_name: decoder/conv1_d/kernel/Adam_1' \
  && ok || bad "Adam slot listed"

# Conversions keep the values (same sums printed), with stored or Keras names.
for ext in npz safetensors; do
  check "convert to $ext" "$TCONV" convert "$TD/tf-ckpt/tf1-conv-autoencoder-adam" "$tmp/w.$ext"
  a=$("$TCONV" inspect "$TD/tf-ckpt/tf1-conv-autoencoder-adam" | grep -A1 '^tensor_name: decoder/conv2_d/kernel$' | tail -n 1)
  b=$("$TCONV" inspect "$tmp/w.$ext" | grep -A1 '^tensor_name: decoder/conv2_d/kernel$' | tail -n 1)
  [ -n "$a" ] && [ "$a" = "$b" ] && ok || bad "values after convert to $ext: '$a' vs '$b'"
done
check "convert --keras-names" "$TCONV" convert --keras-names "$TD/tf-ckpt/cvae-init-object-graph" "$tmp/k.npz"
"$TCONV" inspect "$tmp/k.npz" | grep -q '^tensor_name: conv2d_transpose_2/kernel' && ok || bad "keras names in npz"
check "convert keras zip" "$TCONV" convert "$TD/keras-h5/gan-generator-k2.13-keras-zip/generator.keras" "$tmp/g.safetensors"
"$TCONV" inspect "$tmp/g.safetensors" | grep -q 'sum=-238.24129601055756' && ok || bad "keras zip values after convert"

# Errors: one line on stderr, exit 1 (file problems) or 2 (usage).
expect() { # code pattern command...
  code=$1; pat=$2; shift 2
  "$@" >/dev/null 2>"$tmp/err"
  rc=$?
  lines=$(wc -l <"$tmp/err")
  if [ "$rc" -eq "$code" ] && [ "$lines" -eq 1 ] && grep -q "$pat" "$tmp/err"; then ok
  else bad "$* -> exit $rc, stderr: $(cat "$tmp/err")"; fi
}
expect 1 "no such file" "$TCONV" inspect "$tmp/nope"
expect 2 "unknown flag" "$TCONV" inspect --bogus "$TD/tf-ckpt/serving-counter/variables"
expect 2 "missing FILE" "$TCONV" inspect
expect 2 "must end in" "$TCONV" convert "$TD/tf-ckpt/serving-counter/variables" "$tmp/x.txt"
cp "$TD/tf-ckpt/serving-half-plus-two-mkl/variables.index" "$tmp/v.index"
cp "$TD/tf-ckpt/serving-half-plus-two-mkl/variables.data-00000-of-00001" "$tmp/v.data-00000-of-00001"
chmod u+w "$tmp"/v.*
check "copied checkpoint" "$TCONV" inspect "$tmp/v"
printf '\377' | dd of="$tmp/v.index" bs=1 seek=20 conv=notrunc 2>/dev/null
expect 1 "CRC32C mismatch" "$TCONV" inspect "$tmp/v"
cp "$TD/tf-ckpt/serving-half-plus-two-mkl/variables.index" "$tmp/v.index"
chmod u+w "$tmp/v.index"
printf '\000' | dd of="$tmp/v.data-00000-of-00001" bs=1 seek=17 conv=notrunc 2>/dev/null
expect 1 "CRC32C mismatch" "$TCONV" inspect "$tmp/v"
head -c 100 "$TD/tf-ckpt/serving-half-plus-two-mkl/variables.index" >"$tmp/v.index"
expect 1 "magic" "$TCONV" inspect "$tmp/v"
head -c 30000 "$TD/keras-h5/cae-k2.3-weights-only/autoencoder.h5" >"$tmp/t.h5"
expect 1 "HDF5" "$TCONV" inspect "$tmp/t.h5"
head -c 1000 "$TD/keras-h5/gan-generator-k2.13-keras-zip/generator.keras" >"$tmp/t.keras"
expect 1 "zip" "$TCONV" inspect "$tmp/t.keras"
printf 'hello world, not weights' >"$tmp/t.bin"
expect 1 "unknown weight file format" "$TCONV" inspect "$tmp/t.bin"
# A TF checkpoint directory whose state file names a missing checkpoint.
mkdir "$tmp/ckdir" && printf 'model_checkpoint_path: "ckpt-7"\n' >"$tmp/ckdir/checkpoint"
expect 1 "no TF checkpoint index" "$TCONV" inspect "$tmp/ckdir"

echo "importers: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
