#!/usr/bin/python3
"""Writes the .npy/.npz/.safetensors fixtures under tests/data/io/ and the fuzz seed corpora under
fuzz/corpus/{npy,npz,safetensors}/.  Run from the repository root with Debian's numpy:
    /usr/bin/python3 tests/data/io/make_fixtures.py
The output is committed, so the tests never need numpy.  Values follow simple formulas that the
C tests recompute independently (see tests/unit/test_npy.c and friends):
    ramp(n)[i] = (i - 2) * 0.25          (float32)
    sevenths(n)[i] = i / 7               (float64)
"""
import io
import json
import os
import struct
import zipfile

import numpy as np

OUT = "tests/data/io"
CORPUS = "fuzz/corpus"


def ramp(shape, dtype=np.float32):
    n = int(np.prod(shape)) if len(shape) else 1
    return ((np.arange(n, dtype=np.float64) - 2) * 0.25).astype(dtype).reshape(shape)


def sevenths(shape):
    n = int(np.prod(shape))
    return (np.arange(n, dtype=np.float64) / 7).reshape(shape)


def npy_bytes(arr, version=None):
    f = io.BytesIO()
    np.lib.format.write_array(f, arr, version=version, allow_pickle=True)
    return f.getvalue()


def put(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def npy_raw(header, data=b"", major=1, hlen=None):
    """A .npy file with an arbitrary header text (crafted files)."""
    h = header.encode("latin1")
    n = len(h) if hlen is None else hlen
    if major == 1:
        prefix = b"\x93NUMPY\x01\x00" + struct.pack("<H", n)
    else:
        prefix = b"\x93NUMPY" + bytes([major, 0]) + struct.pack("<I", n)
    return prefix + h + data


def safetensors_bytes(tensors, metadata=None, raw_header=None):
    """tensors: list of (name, dtype, shape, bytes) in data order."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, blob in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    text = raw_header if raw_header is not None else json.dumps(header, separators=(",", ":"))
    text = text.encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def main():
    # ---- .npy: what np.save writes ----------------------------------------------------------
    fx = {
        "f4_vec5.npy": npy_bytes(ramp((5,))),
        "f4_2x3.npy": npy_bytes(ramp((2, 3))),
        "f4_3x3x2x1.npy": npy_bytes(ramp((3, 3, 2, 1))),
        "f4_scalar.npy": npy_bytes(np.array(3.25, dtype=np.float32)),
        "f4_empty_0x3.npy": npy_bytes(np.zeros((0, 3), np.float32)),
        "f4_1030x1.npy": npy_bytes(ramp((1030, 1))),
        "f8_2x2x2.npy": npy_bytes(sevenths((2, 2, 2))),
        "f4_v2.npy": npy_bytes(ramp((4,)), version=(2, 0)),
        "f4_v3.npy": npy_bytes(ramp((2, 2)), version=(3, 0)),
        "f4_fortran_2x3.npy": npy_bytes(np.asfortranarray(ramp((2, 3)))),
        "f4_fortran_1x4.npy": npy_bytes(np.asfortranarray(ramp((1, 4)))),
        "f4_bigendian.npy": npy_bytes(ramp((3,)).astype(">f4")),
        "i4_vec.npy": npy_bytes(np.arange(3, dtype=np.int32)),
        "object.npy": npy_bytes(np.array([{"a": 1}], dtype=object)),
    }
    for name, data in fx.items():
        put(f"{OUT}/{name}", data)
        put(f"{CORPUS}/npy/{name}", data)

    bad_npy = {
        # D1/D2: 12-byte v2 file whose header length is 0xFFFFFFF0.
        "d1_v2_huge_header.npy": b"\x93NUMPY\x02\x00\xf0\xff\xff\xff",
        # D3: 14-byte file declaring a 1 GiB header.
        "d3_header_past_eof.npy": b"\x93NUMPY\x02\x00\x00\x00\x00\x40{}",
        "d1_shape_wrap.npy": npy_raw("{'descr': '<f4', 'fortran_order': False, "
                                     "'shape': (4294967296, 4294967296, 4), }\n", b"\0" * 16),
        "truncated_data.npy": npy_bytes(ramp((4,)))[:-3],
        "trailing_data.npy": npy_bytes(ramp((4,))) + b"\0\0\0\0",
        "d6_object_descr.npy": npy_raw("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }\n",
                                       b"\0" * 8),
        "d7_rank9.npy": npy_raw("{'descr': '<f4', 'fortran_order': False, "
                                "'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1), }\n", b"\0" * 4),
        "eval_attempt.npy": npy_raw("{'descr': __import__('os').system('id'), }\n"),
        "bad_version.npy": b"\x93NUMPY\x04\x00" + npy_bytes(ramp((2,)))[8:],
    }
    for name, data in bad_npy.items():
        put(f"{CORPUS}/npy/{name}", data)

    # ---- .npz: np.savez / np.savez_compressed -----------------------------------------------
    layer = {"conv2d_transpose/kernel": ramp((3, 3, 2, 1)), "conv2d_transpose/bias": ramp((2,))}
    for fn, name in ((np.savez, "savez.npz"), (np.savez_compressed, "savez_compressed.npz")):
        f = io.BytesIO()
        fn(f, **layer)
        put(f"{OUT}/{name}", f.getvalue())
        put(f"{CORPUS}/npz/{name}", f.getvalue())
    f = io.BytesIO()
    np.savez(f, f8=sevenths((2, 2, 2)), scalar=np.array(3.25, dtype=np.float32))
    put(f"{OUT}/mixed.npz", f.getvalue())
    put(f"{CORPUS}/npz/mixed.npz", f.getvalue())

    # D4 (cnpy#106): a stored member whose npy header length runs past the member.
    f = io.BytesIO()
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("a.npy", b"\x93NUMPY\x01\x00\xff\xff{'descr'")
    put(f"{CORPUS}/npz/d4_header_past_member.npz", f.getvalue())
    f = io.BytesIO()
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("notes.txt", b"hello")
    put(f"{CORPUS}/npz/not_npy_member.npz", f.getvalue())

    # ---- safetensors: written by hand (the safetensors package is not in Debian) ------------
    f16 = np.array([1.0, -2.5, 65504.0, 2.0 ** -24, np.inf], dtype="<f2")
    bf16 = (np.array([1.5, -3.0], dtype="<f4").view("<u4") >> 16).astype("<u2")
    tensors = [
        ("w", "F32", (2, 3), ramp((2, 3)).astype("<f4").tobytes()),
        ("h", "F16", (5,), f16.tobytes()),
        ("b", "BF16", (2,), bf16.tobytes()),
        ("d", "F64", (2,), sevenths((2,)).astype("<f8").tobytes()),
        ("empty", "F32", (0, 4), b""),
        ("i", "I32", (3,), np.arange(3, dtype="<i4").tobytes()),
    ]
    st = safetensors_bytes(tensors, metadata={"format": "pt", "note": "tconv fixture"})
    put(f"{OUT}/mixed.safetensors", st)
    put(f"{CORPUS}/safetensors/mixed.safetensors", st)
    k = ramp((3, 3, 2, 1)).astype("<f4").tobytes()
    put(f"{CORPUS}/safetensors/layer.safetensors",
        safetensors_bytes([("conv2d_transpose/kernel", "F32", (3, 3, 2, 1), k)]))

    def crafted(header_obj, data):
        text = json.dumps(header_obj, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 8)
        return struct.pack("<Q", len(text)) + text + data

    bad_st = {
        "d9_shape_overflow.safetensors": crafted(
            {"t": {"dtype": "F32", "shape": [4194305, 4194305, 211106198978564],
                   "data_offsets": [0, 16]}}, b"\0" * 16),
        "d10_short_range.safetensors": crafted(
            {"t": {"dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 4]}}, b"\0" * 4),
        "d11_negative.safetensors": crafted(
            {"t": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}}, b"\0" * 4),
        "d11_reversed.safetensors": crafted(
            {"t": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}, b"\0" * 4),
        "d12_zero_inside.safetensors": crafted(
            {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
             "z": {"dtype": "F32", "shape": [0], "data_offsets": [8, 8]}}, b"\0" * 16),
        "hole.safetensors": crafted(
            {"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8),
        "header_too_large.safetensors": struct.pack("<Q", 100000001) + b"{}",
        "bad_start.safetensors": struct.pack("<Q", 8) + b"[]      ",
        "dup_keys.safetensors": struct.pack("<Q", 120) + (
            b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
            b'"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}').ljust(120) + b"\0" * 4,
    }
    for name, data in bad_st.items():
        put(f"{CORPUS}/safetensors/{name}", data)


if __name__ == "__main__":
    main()
