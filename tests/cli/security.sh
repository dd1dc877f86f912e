#!/bin/sh
# Every crafted input of the security research table (../shared/research/security-anchors.md,
# sections 2.1-2.3) that can reach the tool: `tconv apply`, `tconv shape`, `tconv grad` (and
# `tconv inspect` for the checkpoint rows).  Each case gets either a clean failure — non-zero
# exit, no signal, exactly one line on stderr, no output file — or the documented valid result
# (exact output shape, zeros / bias values where the table says so).  TF's 3-D and backprop ops
# are mapped onto their 2-D conv2d_transpose analogs: Conv2DBackpropInput(input_sizes, filter,
# out_backprop) is `apply` with x = out_backprop and output shape = input_sizes;
# Conv2DBackpropFilter(input, filter_sizes, out_backprop) is `grad` with x = out_backprop and
# dy = input.  Arrays are made with NumPy (np.save) or, for hostile headers, printf.
T=${TCONV:-build/tconv}
PY=/usr/bin/python3
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

# mk NAME SHAPE [VALUE|rand]: a float32 .npy of that shape ("3,0,2"; "" = a scalar).
mk() {
  "$PY" - "$d/$1.npy" "$2" "${3:-rand}" <<'EOF'
import sys, numpy as np
path, shape, fill = sys.argv[1], sys.argv[2], sys.argv[3]
shape = tuple(int(s) for s in shape.split(",")) if shape else ()
rng = np.random.default_rng(7)
a = rng.uniform(-1, 1, shape) if fill == "rand" else np.full(shape, float(fill))
np.save(path, a.astype(np.float32))
EOF
}

# npy_header NAME HEADER_DICT: a v1 .npy whose header is the given dict text, no data.
npy_header() {
  hdr=$2
  len=$(( ${#hdr} + 1 ))
  pad=$(( (64 - (10 + len) % 64) % 64 ))
  total=$(( len + pad ))
  { printf '\223NUMPY\001\000'
    printf "$(printf '\\%03o\\%03o' $((total % 256)) $((total / 256)))"
    printf '%s' "$hdr"
    printf "%${pad}s\n" ""; } >"$d/$1.npy"
}

# err ID CMD...: a clean one-line failure.
err() {
  id=$1
  shift
  rm -f "$d/y.npy" "$d/g.dx.npy"
  "$@" >"$d/stdout" 2>"$d/stderr"
  rc=$?
  lines=$(wc -l <"$d/stderr")
  if [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] && [ "$lines" -eq 1 ] && [ ! -e "$d/y.npy" ] &&
    [ ! -e "$d/g.dx.npy" ]; then
    ok
  else
    bad "$id: expected a one-line error (exit $rc, $lines stderr lines: $(head -c 300 "$d/stderr"))"
  fi
}

# okshape ID FILE SHAPE CHECK CMD...: success, FILE has SHAPE ("3,1,1,2"); CHECK is a NumPy
# expression over the array `a` that must hold ("True" for none).
okshape() {
  id=$1 file=$2 shape=$3 check=$4
  shift 4
  rm -f "$d/y.npy"
  if ! "$@" >"$d/stdout" 2>"$d/stderr"; then
    bad "$id: expected success: $(head -c 300 "$d/stderr")"
    return
  fi
  if "$PY" - "$file" "$shape" "$check" <<'EOF'
import sys, numpy as np
a = np.load(sys.argv[1])
want = tuple(int(s) for s in sys.argv[2].split(","))
sys.exit(0 if a.shape == want and a.dtype == np.float32 and bool(eval(sys.argv[3])) else 1)
EOF
  then ok; else bad "$id: $file is not $shape with $check"; fi
}

X="--input $d/x.npy"
K="--kernel $d/k.npy"
Y="-o $d/y.npy"

# ---- 2.1 TensorFlow security advisories ----------------------------------------------------
# A1 (TFSA-2021-014): filter [0,1,5,0], out_backprop [52,1,1,0], SAME: zero-element kernel.
mk x 52,1,1,0; mk k 0,1,5,0
err A1 "$T" apply $X $K $Y --padding same
# A2 (TFSA-2021-013): backprop filter, input [0,0,1,0], filter_sizes [1,1,1,1], out_backprop
# [0,0,1,1], strides 66,18, SAME: channel mismatch (0 vs 1).
mk x 0,0,1,1; mk k 1,1,1,1; mk dy 0,0,1,0
err A2 "$T" grad $X $K --dy "$d/dy.npy" -o "$d/g" --strides 66,18 --padding same
# A3 (TFSA-2021-027): every shape zero, filter [0,0,0,0].
mk x 0,0,0,0; mk k 0,0,0,0; mk dy 0,0,0,0
err A3 "$T" grad $X $K --dy "$d/dy.npy" -o "$d/g" --padding same
# A4 (TFSA-2021-028): (a) input [1,1,1,2], filter [1,1,1,1], out_backprop [1,1,1,1], strides
# 66,49 VALID: dy of the wrong shape; (b) input [0,1,1,5], filter [3,8,1,1], out [0,1,1,1].
mk x 1,1,1,1; mk k 1,1,1,1; mk dy 1,1,1,2
err A4a "$T" grad $X $K --dy "$d/dy.npy" -o "$d/g" --strides 66,49 --padding valid
mk x 0,1,1,1; mk k 3,8,1,1; mk dy 0,1,1,5
err A4b "$T" grad $X $K --dy "$d/dy.npy" -o "$d/g"
# A5 (TFSA-2021-010), 2-D analog: output channels differ from the kernel's.
mk x 1,1,1,1; mk k 4,1,6,1; mk dy 1,89,29,2
err A5 "$T" grad $X $K --dy "$d/dy.npy" -o "$d/g" --strides 89,29 --padding same
# A6 (TFSA-2021-011), 2-D analog: filter [0,0,1,0] on zero shapes.
mk x 0,0,0,0; mk k 0,0,1,0
err A6 "$T" apply $X $K $Y
# A7 (TFSA-2021-015): input [0,0,0,0], filter [0,0,0,0], SAME.
mk k 0,0,0,0
err A7 "$T" apply $X $K $Y --padding same
# A8 (TFSA-2021-016): filter [1,0,1,1].
mk x 1,3,3,1; mk k 1,0,1,1
err A8 "$T" apply $X $K $Y
# A9 (CVE-2021-41209): an empty filter tensor.
mk k 0
err A9 "$T" apply $X $K $Y
# A10 (CVE-2022-35999): input_sizes [3,1,1,2], filter [1,3,2,3], out_backprop [3,1,0,3],
# strides 1,2, VALID: valid, all-zero [3,1,1,2].
mk x 3,1,0,3; mk k 1,3,2,3
okshape A10 "$d/y.npy" 3,1,1,2 "np.all(a == 0)" \
  "$T" apply $X $K $Y --output-shape 1,1 --strides 1,2 --padding VALID
# A11 (CVE-2023-25661), 2-D analog: Conv2DTranspose(2, 3, padding='same') on [1,32,0,3].
mk x 1,32,0,3; mk k 3,3,2,3
okshape A11 "$d/y.npy" 1,32,0,2 "True" "$T" apply $X $K $Y --padding same
# A12 (TFSA-2021-077): stride 0.
mk x 1,3,3,1; mk k 3,3,1,1
err A12 "$T" apply $X $K $Y --strides 0,1
err A12b "$T" apply $X $K $Y --strides 1,0
# A13 (TFSA-2021-082): a zero channel count that TFLite divided by.
mk x 1,2,2,0; mk k 3,3,1,0
err A13 "$T" apply $X $K $Y
# A14 (TFSA-2021-089): grouped layer, input channels 0.
mk k 3,3,1,0
err A14 "$T" apply $X $K $Y --pads 0,0,0,0 --groups 2
# A15 (TFSA-2022-022): non-positive padding values.
mk x 1,3,3,1; mk k 3,3,1,1
err A15 "$T" apply $X $K $Y --pads -1,0,0,0
err A15b "$T" apply $X $K $Y --padding EXPLICIT --explicit-padding 0,-1,0,0 --output-shape 5,5
# A16 (CVE-2023-27579): kernel input channels < 1 against a 2-channel input.
mk x 1,3,3,2; mk k 3,3,1,0
err A16 "$T" apply $X $K $Y
# A17 (CVE-2022-41894): bias with in (8) > out (2) channels: bias indexed by output channel
# only; a zero kernel leaves exactly the bias.
mk x 1,3,3,8; mk k 3,3,2,8 0; "$PY" -c "import numpy as np; np.save('$d/b.npy', np.array([1.5, -2], np.float32))"
okshape A17 "$d/y.npy" 1,5,5,2 "np.all(a[..., 0] == 1.5) and np.all(a[..., 1] == -2)" \
  "$T" apply $X $K --bias "$d/b.npy" $Y
# A18 (CVE-2022-21725): strides [1,1,1,0] in NCHW.
mk x 1,1,3,3; mk k 3,3,1,1
err A18 "$T" apply $X $K $Y --data-format channels_first --strides 1,1,1,0
# A19 (CVE-2022-23576): products of large dims overflow: checked, limit error.
err A19 "$T" shape --input-shape 2147483647,2147483647,2147483647,1 --kernel-size 3,3 --filters 1
# A20 (CVE-2021-29523): a 55-dimensional shape with dims of 900.
dims=$(i=0; while [ $i -lt 55 ]; do printf '900, '; i=$((i + 1)); done)
npy_header x "{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }"
mk k 3,3,1,1
err A20 "$T" apply $X $K $Y
# A21 (CVE-2021-41197): an element count >= 2^63.
err A21 "$T" shape --input-shape 4294967296,4294967296,1,1 --kernel-size 3,3 --filters 1
npy_header x "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 1, 1), }"
err A21b "$T" apply $X $K $Y
# A22 (CVE-2022-29196): a rank-0 filter (value 0).
mk x 1,3,3,1; mk k "" 0
err A22 "$T" apply $X $K $Y
# A23/A24 (checkpoint restore with bad indexes, modified checkpoint files): the readers are
# covered by their own crafted-file tests; through the tool, a corrupt .index is one line.
head -c 200 /dev/urandom >"$d/model.ckpt.index"
err A24 "$T" inspect "$d/model.ckpt.index"
printf 'not a checkpoint at all, but long enough to have a footer: %048d' 0 >"$d/m2.ckpt.index"
err A24b "$T" inspect "$d/m2.ckpt.index"

# ---- 2.2 TensorFlow / Keras crash reports ---------------------------------------------------
mk x 1,1,1,1; mk k 1,1,1,1
# B1 (tensorflow#57715): output_shape [2,-2].
err B1 "$T" apply $X $K $Y --output-shape 2,-2 --strides 1,1
# B2 (tensorflow#57709): output_shape [-3697127975084027074, 1] (no narrowing to int32).
err B2 "$T" apply $X $K $Y --output-shape -3697127975084027074,1
err B2b "$T" apply $X $K $Y --output-shape 4294967298,2 --padding SAME
# B3 (tensorflow#57958): output_shape [114078056,179835296], strides 10: error, no allocation.
mk x 2,2,2,1
err B3 "$T" apply $X $K $Y --output-shape 114078056,179835296 --strides 10,10
err B3b "$T" apply $X $K $Y --output-shape 114078056,179835296 --strides 10,10 --padding SAME
# B4 (tensorflow#61534): filter [0,3,2,3], input [2,6,4,3], output [2,12,8,2], strides 2, SAME.
mk x 2,6,4,3; mk k 0,3,2,3
err B4 "$T" apply $X $K $Y --output-shape 2,12,8,2 --strides 2,2 --padding SAME
# B5 (tensorflow#78428): (a) input_sizes [1,5,5,999999999999]; (b) rank-1 filter.
mk x 1,5,5,3; mk k 3,3,2,3
err B5a "$T" apply $X $K $Y --output-shape 1,5,5,999999999999 --padding SAME
mk k 2
err B5b "$T" apply $X $K $Y --output-shape 5,5
# B6 (tensorflow#125506): a scalar filter.
mk k "" 8
err B6 "$T" apply $X $K $Y --strides 2,2
# B7 (tensorflow#62950): strides of length 3.
mk k 3,3,2,3
err B7 "$T" apply $X $K $Y --strides 1,1,1
# B8 (PR #127293): input_sizes with 3 values.
err B8 "$T" apply $X $K $Y --output-shape 8,8,3
# B9 (tensorflow#57980): a rank-6 input, strides of length 5, a scalar dy.
mk x6 1,1,5,5,3,1
err B9 "$T" apply --input "$d/x6.npy" $K $Y
err B9b "$T" apply $X $K $Y --strides 1,1,1,1,1
mk dy "" 1
err B9c "$T" grad $X $K --dy "$d/dy.npy" -o "$d/g"
# B10 (tensorflow#57495, #13643): a zero batch: valid, empty output.
mk x 0,7,7,1; mk k 3,3,4,1
okshape B10 "$d/y.npy" 0,14,14,4 "True" "$T" apply $X $K $Y --strides 2,2 --padding same
# B11 (tensorflow#48470): filters = 0.
mk x 2,8,8,8; mk k 3,3,0,8
err B11 "$T" apply $X $K $Y --padding same
err B11b "$T" shape --input-shape 2,8,8,8 --kernel-size 3,3 --filters 0 --padding same
# B12 (tf-keras#439): Conv2DTranspose(3, 3) VALID on [10,7,0,8]: valid, [10,9,2,3] all zeros
# (bias-only columns; no bias here).
mk x 10,7,0,8; mk k 3,3,3,8
okshape B12 "$d/y.npy" 10,9,2,3 "np.all(a == 0)" "$T" apply $X $K $Y
# B13 (keras#16953): zero input channels.
mk x 3,2,2,0; mk k 3,3,3,0
err B13 "$T" apply $X $K $Y
# B14 (tensorflow#93733): a backend failure is a status: every kernel path runs a valid case.
mk x 2,5,4,3; mk k 3,3,4,3
for path in reference scalar auto; do
  okshape "B14-$path" "$d/y.npy" 2,10,8,4 "np.all(np.isfinite(a))" \
    env TCONV_KERNELS=$path "$T" apply $X $K $Y --strides 2,2 --padding same
done
# B15 (TF testOpEdgeCases): batch/depth strides, zero-element filter, negative or 3-pair
# explicit padding.
err B15a "$T" apply $X $K $Y --strides 2,1,1,1
err B15b "$T" apply $X $K $Y --strides 1,1,1,2
mk k0 1,0,4,3
err B15c "$T" apply $X --kernel "$d/k0.npy" $Y
err B15d "$T" apply $X $K $Y --padding EXPLICIT --explicit-padding -1,0,0,0 --output-shape 11,9
err B15e "$T" apply $X $K $Y --padding EXPLICIT --explicit-padding 1,1,1 --output-shape 11,9

# ---- 2.3 Other engines ----------------------------------------------------------------------
# C1 (pytorch#5112): output_padding 1 with stride 1: an error under Keras's rule; PyTorch's own
# rule (output_padding < max(stride, dilation)) accepts it with dilation 2: (1,1,6,6) NCHW.
mk x 1,1,1,4; mk k 3,3,1,4
err C1 "$T" apply $X $K $Y --output-padding 1,1
mk xc 1,4,1,1
okshape C1-torch "$d/y.npy" 1,1,6,6 "np.all(np.isfinite(a))" \
  "$T" apply --input "$d/xc.npy" $K $Y --from torch --data-format channels_first --padding 0 \
  --output-padding 1,1 --dilation 2,2
err C1-torch-bad "$T" apply --input "$d/xc.npy" $K $Y --from torch --data-format channels_first \
  --padding 0 --output-padding 2,2 --dilation 2,2
# C2 (pytorch#964): output_padding -1.
err C2 "$T" apply $X $K $Y --strides 2,2 --output-padding -1,0
err C2b "$T" apply --input "$d/xc.npy" $K $Y --from torch --padding 0 --output-padding -1,0
# C3 (pytorch#91549): groups 0 and groups = INT64_MIN.
err C3 "$T" apply $X $K $Y --pads 0,0,0,0 --groups 0
err C3b "$T" apply $X $K $Y --pads 0,0,0,0 --groups -9223372036854775808
# C4 (ROCm/pytorch#587): depthwise transpose, groups 64, kernel 8, stride 4, pad 2: valid,
# (1,8,8,64).
mk x 1,2,2,64; mk k 8,8,1,64
okshape C4 "$d/y.npy" 1,8,8,64 "np.all(np.isfinite(a))" \
  "$T" apply $X $K $Y --pads 2,2,2,2 --groups 64 --strides 4,4
# C5 (onnxruntime #29446): an explicit output shape larger than the natural one.
mk x 1,3,3,1; mk k 3,3,1,1
err C5 "$T" apply $X $K $Y --output-shape 9,9 --padding VALID
err C5b "$T" apply $X $K $Y --from onnx --pads 0,0,0,0 --output-shape 40,40
# C6 (onnxruntime #28524): weight rank 0 or 1, dilation <= 0, output padding < 0.
mk k1 9
err C6a "$T" apply $X --kernel "$d/k1.npy" $Y
err C6b "$T" apply $X $K $Y --dilation 0,1
err C6c "$T" apply $X $K $Y --dilation -1,1
err C6d "$T" apply $X $K $Y --from onnx --pads 0,0,0,0 --output-padding 0,-1
# C7 (onnxruntime #32679): weight rank 3 against a rank-4 input.
mk k3 3,3,1
err C7 "$T" apply $X --kernel "$d/k3.npy" $Y
# C8 (onnxruntime #21507): malformed attributes.
err C8a "$T" apply $X $K $Y --strides abc
err C8b "$T" apply $X $K $Y --pads 1,2
err C8c "$T" apply $X $K $Y --strides 2,2x
err C8d "$T" shape --input-shape 1,3,3 --kernel-size 3,3 --filters 1
# C9 (XNNPACK #11158): 4x4 kernel, padding 3, 2x2 input, stride 1: inconsistent -> error;
# the consistent crop that leaves 0 rows gives an empty output without dividing by it.
mk x 1,2,2,1; mk k 4,4,2,1
err C9 "$T" apply $X $K $Y --pads 3,3,3,3
okshape C9-empty "$d/y.npy" 1,0,0,2 "True" "$T" apply $X $K $Y --pads 3,2,3,2
# C10 (XNNPACK #11184): group channels 2^30 in, 2^28 out, 4x4 kernel: limit, no allocation.
err C10 "$T" shape --input-shape 1,1,1,1073741824 --kernel-shape 4,4,268435456,1073741824
# C11 (XNNPACK #10709): a 65536x65536 kernel.
err C11 "$T" shape --input-shape 1,1,1,1 --kernel-size 65536,65536 --filters 1
# C12 (XNNPACK #11118): the stored kernel must match the layer: a 3x3 file kernel against a
# 5x5 layer is refused.
mk x 1,3,3,3; mk k 3,3,32,3
err C12 "$T" apply $X $K $Y --kernel-size 5,5
# C13 (oneDNN#175): a (0,16,8,8) NCHW tensor: valid, empty output.
mk x 0,16,8,8; mk k 3,3,4,16
okshape C13 "$d/y.npy" 0,4,10,10 "True" "$T" apply $X $K $Y --data-format channels_first
# C14 (oneDNN#5942): a huge kernel and padding against a tiny input (ih1 -> oh2, kh125, s2,
# ph63 analog): every kernel path agrees with the reference.
mk x 3,1,1,8; mk k 125,125,1,8
TCONV_KERNELS=reference "$T" apply $X $K --output "$d/ref.npy" --pads 62,61,62,61 --strides 2,2 \
  >/dev/null 2>&1
for path in scalar auto; do
  okshape "C14-$path" "$d/y.npy" 3,2,2,1 \
    "np.allclose(a, np.load('$d/ref.npy'), rtol=1e-4, atol=1e-4)" \
    env TCONV_KERNELS=$path "$T" apply $X $K $Y --pads 62,61,62,61 --strides 2,2
done
# C15 (keras#13231): output_padding >= strides.
mk x 1,3,3,1; mk k 3,3,1,1
err C15 "$T" apply $X $K $Y --strides 2,2 --output-padding 2,1
err C15b "$T" shape --input-shape 1,3,3,1 --kernel-size 3,3 --filters 1 --strides 3,3 --output-padding 0,3

echo "security: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
