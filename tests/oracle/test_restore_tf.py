"""The seed's third use, checked end to end with TensorFlow's own files.

1. examples/restore_tf_checkpoint restores the Conv2DTranspose layers (and the Dense layer) of a
   real TF-written checkpoint and decodes a latent vector.  Here the same checkpoint is read by
   an independent, minimal Python reader of the TF bundle format (LevelDB table + protobuf, no
   code shared with the C library) and the decoder is recomputed in float64 NumPy with a scatter
   formulation of the transposed convolution; the outputs must agree.
2. `tconv inspect --json` must report every tensor of every file in ../shared/testdata with the
   name, dtype, shape, sum (1e-6 relative) and first values that the data's README lists
   (decoded there by a separate throwaway reader).
"""
import json
import os
import re
import struct
import subprocess
import sys
import tempfile

import numpy as np

TD = "../shared/testdata"
BUILD = os.environ.get("TCONV_BUILD", "build")
TCONV = os.environ.get("TCONV", os.path.join(BUILD, "tconv"))
EXAMPLE = os.path.join(BUILD, "examples", "restore_tf_checkpoint")
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL restore_tf:", what)


# ---- a minimal TF bundle reader (uncompressed tables only) -------------------------------------
def varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def fields(b):
    """Yields (field, wire, value) of a protobuf message; value is int or bytes."""
    i = 0
    while i < len(b):
        tag, i = varint(b, i)
        f, w = tag >> 3, tag & 7
        if w == 0:
            v, i = varint(b, i)
        elif w == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        elif w == 5:
            v, i = struct.unpack_from("<I", b, i)[0], i + 4
        elif w == 1:
            v, i = struct.unpack_from("<Q", b, i)[0], i + 8
        else:
            raise ValueError("wire type %d" % w)
        yield f, w, v


def block_entries(data, off, size):
    blk = data[off:off + size]
    assert data[off + size] == 0, "compressed block: not supported by this small reader"
    nrest = struct.unpack_from("<I", blk, len(blk) - 4)[0]
    end = len(blk) - 4 - 4 * nrest
    i, key = 0, b""
    while i < end:
        shared, i = varint(blk, i)
        nonshared, i = varint(blk, i)
        vlen, i = varint(blk, i)
        key = key[:shared] + blk[i:i + nonshared]
        i += nonshared
        yield key, blk[i:i + vlen]
        i += vlen


def read_bundle(prefix):
    index = open(prefix + ".index", "rb").read()
    foot = index[-48:]
    assert struct.unpack_from("<Q", foot, 40)[0] == 0xDB4775248B80FB57
    _, i = varint(foot, 0)
    _, i = varint(foot, i)
    ioff, i = varint(foot, i)
    isize, i = varint(foot, i)
    data = open(prefix + ".data-00000-of-00001", "rb").read()
    dtypes = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64}
    out = {}
    for _, handle in block_entries(index, ioff, isize):
        off, j = varint(handle, 0)
        size, _ = varint(handle, j)
        for key, val in block_entries(index, off, size):
            if not key:
                continue
            e = {"dtype": 0, "shape": [], "offset": 0, "size": 0}
            for f, _, v in fields(val):
                if f == 1:
                    e["dtype"] = v
                elif f == 2:
                    e["shape"] = [dict((g, x) for g, _, x in fields(d)).get(1, 0)
                                  for g2, _, d in fields(v) if g2 == 2]
                elif f == 4:
                    e["offset"] = v
                elif f == 5:
                    e["size"] = v
            if e["dtype"] in dtypes:
                raw = data[e["offset"]:e["offset"] + e["size"]]
                out[key.decode()] = np.frombuffer(raw, dtypes[e["dtype"]]).reshape(e["shape"])
    return out


# ---- float64 Keras Conv2DTranspose, 'same' padding, scatter form ------------------------------
def conv2d_transpose_same(x, w, b, stride):
    """x (H, W, C), w (kh, kw, F, C) TF layout, output (H*s, W*s, F)."""
    H, W, C = x.shape
    kh, kw, F, _ = w.shape
    full = np.zeros(((H - 1) * stride + kh, (W - 1) * stride + kw, F))
    for a in range(kh):
        for c in range(kw):
            full[a:a + (H - 1) * stride + 1:stride, c:c + (W - 1) * stride + 1:stride, :] += \
                x @ w[a, c].astype(np.float64).T
    oh, ow = H * stride, W * stride
    ph, pw = max(0, full.shape[0] - oh), max(0, full.shape[1] - ow)
    y = np.zeros((oh, ow, F))
    crop = full[ph // 2:, pw // 2:, :][:oh, :ow, :]
    y[:crop.shape[0], :crop.shape[1], :] = crop
    return y + b.astype(np.float64)


def decoder_float64(v, z):
    g = "model/generative_net/layer_with_weights-%d/%s/.ATTRIBUTES/VARIABLE_VALUE"
    h = z.astype(np.float64) @ v[g % (0, "kernel")].astype(np.float64) + v[g % (0, "bias")]
    x = np.maximum(h, 0).reshape(7, 7, 32)
    for layer, stride, relu in ((1, 2, True), (2, 2, True), (3, 1, False)):
        x = conv2d_transpose_same(x, v[g % (layer, "kernel")], v[g % (layer, "bias")], stride)
        if relu:
            x = np.maximum(x, 0)
    return 1 / (1 + np.exp(-x))


def test_restore_and_run():
    prefix = os.path.join(TD, "tf-ckpt/cvae-init-object-graph/ckpt-101")
    v = read_bundle(prefix)
    check(len(v) == 15, "python reader found %d numeric tensors (16 with the string)" % len(v))
    if not os.path.exists(EXAMPLE):
        check(False, "%s is not built (make BUILD=%s examples)" % (EXAMPLE, BUILD))
        return
    rng = np.random.default_rng(7)
    for trial in range(3):
        z = rng.standard_normal(50).astype(np.float32) * (1 + trial)
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "y.npy")
            r = subprocess.run([EXAMPLE, os.path.dirname(prefix), "--quiet", "--out", out,
                                "--z", ",".join("%.9g" % t for t in z)], capture_output=True)
            check(r.returncode == 0, "example failed: %s" % r.stderr.decode())
            if r.returncode:
                return
            y = np.load(out)
        ref = decoder_float64(v, z)
        check(y.shape == (1, 28, 28, 1), "output shape %s" % (y.shape,))
        err = np.max(np.abs(y.reshape(28, 28, 1) - ref))
        check(err < 1e-5, "trial %d: max |tconv - float64| = %g" % (trial, err))
        # The output is not trivially constant: the check has power.
        check(np.std(ref) > 1e-3, "trial %d: reference output is flat" % trial)


# ---- README expectations against `tconv inspect --json` ---------------------------------------
def readme_sections():
    text = open(os.path.join(TD, "README.md")).read()
    for m in re.finditer(r"^## `([^`]+)`\n(.*?)(?=^## |\Z)", text, re.S | re.M):
        yield m.group(1), m.group(2)


def parse_rows(body):
    rows = {}
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("| `") or len(cells) < 4:
            continue
        name = cells[0].strip("`")
        if len(cells) >= 9:   # TF table: key, keras name, dtype, shape, shard, offset, bytes, crc, sum
            rows[name] = (cells[1].strip("`"), cells[2], cells[3], cells[8])
        elif len(cells) == 4:  # Keras table: dataset, dtype, shape, sum
            rows[name] = ("", cells[1], cells[2], cells[3])
    firsts = {}
    for m in re.finditer(r"^- `([^`]+)`.*?: \[([^\]]*)\]", body, re.M):
        firsts[m.group(1)] = [float(t) for t in m.group(2).split(",")]
    return rows, firsts


def target_of(section):
    path = os.path.join(TD, section)
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "checkpoint")):
            return path
        return os.path.join(path, [f for f in os.listdir(path) if f.endswith(".index")][0])
    return path


def test_inspect_matches_readme():
    sections = 0
    for section, body in readme_sections():
        rows, firsts = parse_rows(body)
        if not rows:
            continue
        sections += 1
        r = subprocess.run([TCONV, "inspect", "--json", "--first", "6", target_of(section)],
                           capture_output=True)
        check(r.returncode == 0, "inspect %s: %s" % (section, r.stderr.decode()))
        if r.returncode:
            continue
        got = {t["name"]: t for t in json.loads(r.stdout)["tensors"]}
        check(set(got) == set(rows), "%s: names differ: %s" % (section, set(got) ^ set(rows)))
        for name, (keras, dtype, shape, total) in rows.items():
            t = got.get(name)
            if t is None:
                continue
            check(t["dtype"] == dtype, "%s %s: dtype %s, README %s" % (section, name, t["dtype"], dtype))
            check(t["shape"] == json.loads(shape), "%s %s: shape %s, README %s" % (section, name, t["shape"], shape))
            if keras:
                check(t.get("keras_name") == keras, "%s %s: keras_name %s, README %s"
                      % (section, name, t.get("keras_name"), keras))
            if dtype.startswith("float") and "absent" not in total:
                s = float(total)
                check(t["sum"] is not None and abs(t["sum"] - s) <= 1e-6 * max(abs(s), 1e-12),
                      "%s %s: sum %s, README %s" % (section, name, t["sum"], total))
            if name in firsts and dtype.startswith("float"):
                f = firsts[name]
                check(len(t["first"]) == len(f) and
                      all(abs(a - b) <= 1e-8 * max(abs(b), 1e-30) for a, b in zip(t["first"], f)),
                      "%s %s: first %s, README %s" % (section, name, t["first"], f))
    check(sections == 11, "README sections with tables: %d" % sections)


if not os.path.isdir(TD):
    print("SKIP restore_tf: %s is missing (clone shared/ beside the repository)" % TD)
    print("restore_tf: 0 passed, 0 failed")
    sys.exit(0)
test_restore_and_run()
test_inspect_matches_readme()
print("restore_tf: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
