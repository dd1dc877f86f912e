#!/bin/sh
# The seed's uses through the tool, on tiny inputs: tconv upsample (layouts, formats, border
# handling, learned weights vs bilinear, --train/--eval) and tconv mnist (train -> checkpoint ->
# restore -> show/eval), plus their one-line errors.
T=${TCONV:-build/tconv}
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { # DESCRIPTION CONDITION-COMMAND...
  desc=$1
  shift
  if "$@"; then ok; else bad "$desc"; fi
}
expect_fail() { # DESCRIPTION EXPECTED-EXIT CMD...: that exit, one stderr line, nothing on stdout
  desc=$1
  want=$2
  shift 2
  "$@" >"$d/stdout" 2>"$d/stderr"
  rc=$?
  if [ "$rc" -eq "$want" ] && [ "$(wc -l <"$d/stderr")" -eq 1 ] && [ ! -s "$d/stdout" ]; then
    ok
  else
    bad "$desc (exit $rc, stderr: $(cat "$d/stderr"))"
  fi
}
has() { grep -q -- "$1" "$d/stdout"; }

# A PNG of any layout, written with Python's zlib (no imaging library needed):
# png FILE WIDTH HEIGHT BITS COLOR_TYPE  (samples: a ramp)
png() {
  /usr/bin/python3 - "$@" <<'EOF'
import struct, sys, zlib
path, w, h, bits, ct = sys.argv[1], *map(int, sys.argv[2:6])
ch = {0: 1, 4: 2, 2: 3, 6: 4}[ct]
bps = bits // 8
rows = b''
for y in range(h):
    row = bytearray([0])
    for x in range(w):
        for c in range(ch):
            v = ((x * 37 + y * 11 + c * 70) % 256) * (257 if bps == 2 else 1)
            row += v.to_bytes(bps, 'big')
    rows += bytes(row)
def chunk(t, data):
    return struct.pack('>I', len(data)) + t + data + struct.pack('>I', zlib.crc32(t + data))
ihdr = struct.pack('>IIBBBBB', w, h, bits, ct, 0, 0, 0)
open(path, 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b''))
EOF
}

# ---- upsample: layouts and formats ----------------------------------------------------------
png "$d/gray8.png" 9 7 8 0
png "$d/ga8.png" 5 4 8 4
png "$d/rgba16.png" 6 5 16 6
png "$d/rgb16.png" 12 10 16 2
"$T" upsample "$d/gray8.png" "$d/gray8_2x.png" >"$d/stdout" 2>"$d/stderr"
check "gray 8-bit 7x9 -> 14x18" has "7x9x1 (8-bit) -> $d/gray8_2x.png: 14x18x1"
"$T" upsample "$d/ga8.png" "$d/ga8_3x.png" --scale 3 >"$d/stdout" 2>&1
check "gray+alpha at scale 3 (embedded filter, alpha kept)" has "12x15x2 via Conv2DTranspose(filters=2, kernel_size=12, strides=3"
"$T" upsample "$d/rgba16.png" "$d/rgba16_2x.png" >"$d/stdout" 2>&1
check "RGBA 16-bit -> 10x12x4" has "5x6x4 (16-bit) -> $d/rgba16_2x.png: 10x12x4"
"$T" upsample "$d/rgba16_2x.png" "$d/again.png" >"$d/stdout" 2>&1
check "the 16-bit RGBA output reads back as 16-bit RGBA" has "10x12x4 (16-bit)"
"$T" upsample "$d/rgb16.png" "$d/rgb.jpg" >"$d/stdout" 2>&1
check "JPEG by extension" sh -c "head -c 3 '$d/rgb.jpg' | od -An -tx1 | grep -q 'ff d8 ff'"
"$T" upsample "$d/rgb.jpg" "$d/from_jpeg.png" >"$d/stdout" 2>&1
check "JPEG input" has "20x24x3 (8-bit) -> $d/from_jpeg.png: 40x48x3"
"$T" upsample data/photos/astronaut_224.png "$d/a448.png" --compare data/photos/heldout/astronaut.png >"$d/stdout" 2>&1
check "the seed's 224x224x3 -> 448x448x3" has "224x224x3 (8-bit) -> $d/a448.png: 448x448x3"
check "learned filter beats bilinear on the 448x448 original" awk '/^vs /{exit !($5 > $11 + 0.5)}' "$d/stdout"

# A flat image stays flat to the last row and column: no darkened border from zero padding.
/usr/bin/python3 - "$d/flat.png" <<'EOF'
import struct, sys, zlib
w = h = 8
rows = b''.join(b'\x00' + bytes([200]) * w for _ in range(h))
c = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
open(sys.argv[1], 'wb').write(b'\x89PNG\r\n\x1a\n' + c(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0)) + c(b'IDAT', zlib.compress(rows)) + c(b'IEND', b''))
EOF
"$T" upsample "$d/flat.png" "$d/flat2.png" >/dev/null 2>&1
check "flat stays flat" /usr/bin/python3 - "$d/flat2.png" <<'EOF'
import struct, sys, zlib
b = open(sys.argv[1], 'rb').read()
w, h = struct.unpack('>II', b[16:24])
i, data = 8, b''
while i < len(b):
    n, t = struct.unpack('>I4s', b[i:i + 8])
    if t == b'IDAT': data += b[i + 8:i + 8 + n]
    i += 12 + n
raw = zlib.decompress(data)
# filter bytes vary; unfilter just enough: every pixel must decode to 200 +- 1
prev = bytearray(w)
vals = []
for y in range(h):
    f, row = raw[y * (w + 1)], bytearray(raw[y * (w + 1) + 1:(y + 1) * (w + 1)])
    for x in range(w):
        a = row[x - 1] if x else 0
        up, c = prev[x], (prev[x - 1] if x else 0)
        p = a + up - c
        pred = [0, a, up, (a + up) // 2, min((a, up, c), key=lambda q: (abs(p - q), [a, up, c].index(q)))][f]
        row[x] = (row[x] + pred) & 255
    vals += row
    prev = row
sys.exit(0 if (w, h) == (16, 16) and min(vals) >= 199 and max(vals) <= 201 else 1)
EOF

# ---- upsample: evaluation and training ------------------------------------------------------
"$T" upsample --eval data/photos/heldout --json >"$d/stdout" 2>&1
check "embedded filter beats bilinear on held-out photos" /usr/bin/python3 -c "
import json,sys; r=json.load(open('$d/stdout')); sys.exit(0 if r['psnr_tconv'] > r['psnr_bilinear'] + 0.5 and r['ssim_tconv'] > r['ssim_bilinear'] and r['n'] == 2 else 1)"
"$T" upsample --eval data/photos/heldout --kernel 4 --json >"$d/stdout" 2>&1
check "a bilinear-initialized 4x4 layer is exactly bilinear" /usr/bin/python3 -c "
import json,sys; r=json.load(open('$d/stdout')); sys.exit(0 if abs(r['psnr_tconv'] - r['psnr_bilinear']) < 1e-3 else 1)"
"$T" upsample --train data/photos/train --out "$d/up.safetensors" --steps 60 --batch 4 >"$d/stdout" 2>"$d/stderr"
check "--train writes a checkpoint" has "trained a 8x8 filter for scale 2 on 3 images (60 steps"
check "--train shows progress on stderr" grep -q "loss" "$d/stderr"
"$T" upsample "$d/gray8.png" "$d/w.png" --weights "$d/up.safetensors" >"$d/stdout" 2>&1
check "--weights takes the trained checkpoint" has "kernel_size=8, strides=2, padding='same') \[$d/up.safetensors\]"
"$T" inspect "$d/up.safetensors" >"$d/stdout" 2>&1
check "the checkpoint holds upsample/kernel (8,8,1,1)" has "upsample/kernel"

# ---- upsample: errors -----------------------------------------------------------------------
head -c 60 data/photos/astronaut_224.png >"$d/trunc.png"
expect_fail "truncated PNG" 1 "$T" upsample "$d/trunc.png" "$d/o.png"
printf 'not an image' >"$d/junk.png"
expect_fail "not an image" 1 "$T" upsample "$d/junk.png" "$d/o.png"
expect_fail "missing input" 1 "$T" upsample "$d/none.png" "$d/o.png"
expect_fail "alpha to JPEG" 1 "$T" upsample "$d/rgba16.png" "$d/o.jpg"
expect_fail "scale 0" 2 "$T" upsample "$d/gray8.png" "$d/o.png" --scale 0
expect_fail "unknown flag" 2 "$T" upsample "$d/gray8.png" "$d/o.png" --bogus
expect_fail "weights for another scale" 1 "$T" upsample "$d/gray8.png" "$d/o.png" --weights "$d/up.safetensors" --scale 3
check "no output left by failures" test ! -e "$d/o.png" -a ! -e "$d/o.jpg"

# ---- mnist ----------------------------------------------------------------------------------
"$T" mnist train --limit 2048 --epochs 2 --filters 8 --batch 16 --lr 0.01 --out "$d/m.safetensors" >"$d/stdout" 2>"$d/stderr"
check "mnist train writes a checkpoint" has "checkpoint: $d/m.safetensors"
check "mnist train: progress bar with loss and ETA" grep -q "ETA" "$d/stderr"
check "mnist train: the loss falls" awk '/^epoch 1/{a=$4} /^epoch 2/{b=$4} END{exit !(b < a)}' "$d/stdout"
"$T" mnist eval --checkpoint "$d/m.safetensors" --json >"$d/stdout" 2>&1
check "mnist eval --json beats bilinear" /usr/bin/python3 -c "
import json,sys; r=json.load(open('$d/stdout')); sys.exit(0 if r['psnr_model'] > r['psnr_bilinear'] > r['psnr_nearest'] and r['n'] == 1000 else 1)"
"$T" mnist show --checkpoint "$d/m.safetensors" --index 7 -o "$d/sheet.png" --raw "$d/d56.png" >"$d/stdout" 2>&1
"$T" upsample "$d/d56.png" "$d/x.png" >"$d/stdout" 2>&1
check "mnist show: the raw output is 56x56 gray" has "56x56x1 (8-bit)"
"$T" upsample "$d/sheet.png" "$d/x.png" >"$d/stdout" 2>&1
check "mnist show: a 4-panel sheet" has "213x732x1"
# uncompressed IDX (the same digits gunzip'd) and a truncated one
mkdir -p "$d/raw" "$d/trunc"
gzip -dc data/mnist/t10k-images-idx3-ubyte.gz >"$d/raw/t10k-images-idx3-ubyte"
"$T" mnist eval --checkpoint "$d/m.safetensors" --data "$d/raw" --limit 100 --json >"$d/stdout" 2>&1
check "uncompressed IDX loads" has '"n": 100'
head -c 5000 "$d/raw/t10k-images-idx3-ubyte" >"$d/trunc/t10k-images-idx3-ubyte"
expect_fail "truncated IDX" 1 "$T" mnist eval --checkpoint "$d/m.safetensors" --data "$d/trunc"
expect_fail "missing IDX" 1 "$T" mnist eval --checkpoint "$d/m.safetensors" --data "$d"
expect_fail "index past the set" 1 "$T" mnist show --checkpoint "$d/m.safetensors" --index 5000 -o "$d/s.png"
expect_fail "not a checkpoint" 1 "$T" mnist eval --checkpoint "$d/trunc.png"
expect_fail "upsample checkpoint is not an MNIST model" 1 "$T" mnist eval --checkpoint "$d/up.safetensors"
expect_fail "unknown subcommand" 2 "$T" mnist fly
expect_fail "no subcommand" 2 "$T" mnist
if [ -r /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]; then
  "$T" mnist train --data /usr/share/datasets/fashion-mnist --limit 256 --epochs 1 --filters 4 \
    --out "$d/f.safetensors" >"$d/stdout" 2>&1
  check "Fashion-MNIST (Debian dataset-fashion-mnist) trains and evaluates" has "PSNR on 256 t10k digits"
fi

echo "cli-uses: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
