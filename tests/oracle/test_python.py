"""The Python binding (python/tconv) against the C tool and against itself.

- Its ctypes mirrors of the public structs have the C layout (offsetof/sizeof from a compiled
  probe of include/tconv.h).
- The text's three-line example (28x28x1 -> 56x56x32) and other Keras configurations give
  bit-for-bit what `tconv apply` gives on the same input and weights.
- set_weights/get_weights round-trip exactly, in Keras order and layout; input and weight
  views are zero-copy.
- backward matches `tconv grad` and the adjoint identities.
- save_weights/load_weights and tconv.load_weights round-trip; a Keras-style .npz loads.
- Errors raise TconvError subclasses carrying the library's message.
"""

import ctypes
import os
import subprocess
import sys

import numpy as np

sys.dont_write_bytecode = True  # keep the source tree clean of __pycache__
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
import harness  # noqa: E402

ROOT = harness.ROOT
BUILD = os.environ.get("TCONV_BUILD") or "build"
if not os.path.isabs(BUILD):
    BUILD = os.path.join(ROOT, BUILD)
res = harness.Results("python")
harness.require_tool(res)
if "TCONV_LIBRARY" not in os.environ:
    os.environ["TCONV_LIBRARY"] = os.path.join(BUILD, "libtconv.so")
# A sanitizer build's library needs its runtime loaded first, which a plain Python cannot do:
# the binding is tested on ordinary builds (tests/cli/install.sh does the same).
if not os.path.isfile(os.environ["TCONV_LIBRARY"]):
    res.check(False, "no library at %s (make builds it)" % os.environ["TCONV_LIBRARY"])
    res.finish()
with open(os.path.realpath(os.environ["TCONV_LIBRARY"]), "rb") as fh:
    blob = fh.read()
if b"__asan_init" in blob or b"__ubsan_handle" in blob or b"__tsan_init" in blob:
    print("python: %s is a sanitizer build; the binding runs on ordinary builds"
          % os.environ["TCONV_LIBRARY"])
    res.finish()
sys.path.insert(0, os.path.join(ROOT, "python"))
try:
    import tconv  # noqa: E402
    from tconv import Conv2DTranspose  # noqa: E402
    from tconv import _lib  # noqa: E402
except ImportError as e:
    res.check(False, "import tconv: %s" % e)
    res.finish()

res.check(os.path.realpath(tconv.library_path()) == os.path.realpath(os.environ["TCONV_LIBRARY"]),
          "loaded %s" % tconv.library_path())
res.check(tconv.__version__ == harness.run(["--version"])[1].split()[1],
          "binding and tool report the same version")


def expect_raises(exc, fn, what, contains=None):
    try:
        fn()
    except exc as e:
        ok = contains is None or contains in str(e)
        res.check(ok, "%s: message %r should contain %r" % (what, str(e), contains))
        return e
    except Exception as e:  # noqa: BLE001 - a wrong exception type is the failure reported
        res.check(False, "%s: raised %s (%s), expected %s" % (what, type(e).__name__, e,
                                                             exc.__name__))
        return None
    res.check(False, "%s: no exception, expected %s" % (what, exc.__name__))
    return None


# ---- struct layouts ------------------------------------------------------------------------
def check_layouts(tmp):
    lines = ["#include <stddef.h>", "#include <stdio.h>", '#include "tconv.h"', "int main(void) {"]
    for cname, cls in _lib.STRUCTS.items():
        lines.append('  printf("%s sizeof %%zu\\n", sizeof(%s));' % (cname, cname))
        for field in cls._fields_:
            f = field[0]
            lines.append('  printf("%s %s %%zu\\n", offsetof(%s, %s));' % (cname, f, cname, f))
    lines += ["  return 0;", "}"]
    src = os.path.join(tmp, "layout.c")
    exe = os.path.join(tmp, "layout")
    with open(src, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    p = subprocess.run(["cc", "-std=c11", "-I", os.path.join(ROOT, "include"), "-o", exe, src],
                       capture_output=True, text=True)
    if not res.check(p.returncode == 0, "layout probe compiles: %s" % p.stderr[-2000:]):
        return
    c_layout = {}
    for line in subprocess.run([exe], capture_output=True, text=True).stdout.splitlines():
        s, f, v = line.split()
        c_layout[(s, f)] = int(v)
    for cname, cls in _lib.STRUCTS.items():
        res.check(c_layout[(cname, "sizeof")] == ctypes.sizeof(cls),
                  "sizeof(%s): C %d, ctypes %d" % (cname, c_layout[(cname, "sizeof")],
                                                   ctypes.sizeof(cls)))
        for field in cls._fields_:
            off = getattr(cls, field[0]).offset
            res.check(c_layout[(cname, field[0])] == off,
                      "offsetof(%s, %s): C %d, ctypes %d" % (cname, field[0],
                                                             c_layout[(cname, field[0])], off))


# ---- against `tconv apply` -----------------------------------------------------------------
def tool_apply(tmp, x, weights, flags):
    paths = {n: os.path.join(tmp, n + ".npy") for n in ("x", "k", "b", "y")}
    np.save(paths["x"], x)
    np.save(paths["k"], weights[0])
    args = ["apply", "--input", paths["x"], "--kernel", paths["k"], "-o", paths["y"]] + flags
    if len(weights) > 1:
        np.save(paths["b"], weights[1])
        args += ["--bias", paths["b"]]
    rc, out, err = harness.run(args)
    if not res.check(rc == 0, "tconv %s: %s" % (" ".join(args), err.strip())):
        return None
    return np.load(paths["y"])


def same_bits(a, b):
    return a is not None and b is not None and a.dtype == b.dtype and a.shape == b.shape and \
        a.tobytes() == b.tobytes()


def check_text_example(tmp):
    rng = np.random.default_rng(2024)
    x = rng.standard_normal((1, 28, 28, 1)).astype(np.float32)
    # The text's three lines.
    layer = Conv2DTranspose(filters=32, kernel_size=3, strides=2, padding="same")
    y = layer(x)
    res.check(y.shape == (1, 56, 56, 32) and y.dtype == np.float32,
              "text example: shape %r dtype %s" % (y.shape, y.dtype))
    w = layer.get_weights()
    res.check(len(w) == 2 and w[0].shape == (3, 3, 32, 1) and w[1].shape == (32,),
              "get_weights: Keras order and layout, got %r" % ([a.shape for a in w],))
    # Glorot-uniform kernel: |w| <= sqrt(6 / (fan_in + fan_out)), fan_in = 3*3*32 for a
    # transposed kernel as Keras counts it; a zero kernel would make the comparison empty.
    limit = np.sqrt(6.0 / (3 * 3 * 32 + 3 * 3 * 1))
    res.check(np.abs(w[0]).max() <= limit and np.abs(w[0]).max() > limit / 4,
              "glorot_uniform kernel within +-%.4f, max %.4f" % (limit, np.abs(w[0]).max()))
    y_tool = tool_apply(tmp, x, w, ["--strides", "2,2", "--padding", "same"])
    res.check(same_bits(y, y_tool), "text example matches tconv apply bit for bit")
    res.check(np.abs(y).max() > 0, "text example output is not all zero")


CONFIGS = [
    # (constructor kwargs, input shape, tconv apply flags)
    (dict(filters=4, kernel_size=3, strides=2, padding="valid"), (2, 5, 6, 3),
     ["--strides", "2,2", "--padding", "valid"]),
    (dict(filters=5, kernel_size=(3, 2), strides=(2, 3), padding="same"), (1, 4, 5, 2),
     ["--strides", "2,3", "--padding", "same"]),
    (dict(filters=5, kernel_size=3, strides=2, padding="same", output_padding=(1, 0)),
     (1, 4, 5, 2), ["--strides", "2,2", "--padding", "same", "--output-padding", "1,0"]),
    (dict(filters=3, kernel_size=3, dilation_rate=2, padding="same", activation="relu"),
     (2, 6, 5, 4), ["--dilation", "2,2", "--padding", "same", "--activation", "relu"]),
    (dict(filters=6, kernel_size=4, strides=2, padding="same", data_format="channels_first",
          use_bias=False, activation="tanh"), (2, 3, 5, 4),
     ["--strides", "2,2", "--padding", "same", "--data-format", "channels_first",
      "--activation", "tanh"]),
    (dict(filters=16, kernel_size=3, strides=2, padding="same", activation="leaky_relu",
          threads=2), (3, 9, 7, 8),
     ["--strides", "2,2", "--padding", "same", "--activation", "leaky_relu"]),
]


def check_configs(tmp):
    rng = np.random.default_rng(7)
    for kw, shape, flags in CONFIGS:
        layer = Conv2DTranspose(**kw)
        x = rng.standard_normal(shape).astype(np.float32)
        y = layer(x)
        res.check(y.shape == layer.compute_output_shape(shape),
                  "%r: shape %r vs compute_output_shape" % (kw, y.shape))
        y_tool = tool_apply(tmp, x, layer.get_weights(), flags)
        res.check(same_bits(y, y_tool), "%r matches tconv apply bit for bit" % (kw,))


# ---- weights and zero-copy -----------------------------------------------------------------
def check_weights():
    rng = np.random.default_rng(11)
    layer = Conv2DTranspose(filters=7, kernel_size=(2, 3), strides=2, padding="same")
    k = rng.standard_normal((2, 3, 7, 5)).astype(np.float32)
    b = rng.standard_normal(7).astype(np.float32)
    layer.set_weights([k, b])  # builds an unbuilt layer from the kernel's shape
    res.check(layer.built, "set_weights builds the layer from the kernel shape")
    got = layer.get_weights()
    res.check(same_bits(got[0], k) and same_bits(got[1], b), "set_weights/get_weights round trip")
    got[0][...] = 0
    res.check(same_bits(layer.get_weights()[0], k), "get_weights returns copies")
    x = rng.standard_normal((1, 3, 4, 5)).astype(np.float32)
    y = layer(x)
    # The layer computes with the weights it was given: compare with a direct float64 sum.
    ref = np.zeros((1, 6, 8, 7))
    full = np.zeros((1, 3 * 2 + 0, 4 * 2 + 1, 7))  # F = (I-1)s + k
    for i in range(3):
        for j in range(4):
            for t in range(2):
                for u in range(3):
                    full[0, i * 2 + t, j * 2 + u] += x[0, i, j] @ k[t, u].T.astype(np.float64)
    # SAME: O = I*s; pad total P = F - O, floor(P/2) at the start.
    ph = (full.shape[1] - 6) // 2
    pw = (full.shape[2] - 8) // 2
    ref = full[:, ph:ph + 6, pw:pw + 8] + b
    res.check(np.allclose(y, ref, atol=1e-5), "forward uses the set weights (max err %.2g)"
              % np.abs(y - ref).max())
    # Views: the kernel property shares the layer's memory and is read-only.
    view = layer.kernel
    res.check(not view.flags.writeable, "layer.kernel is read-only")
    layer.set_weights([2 * k, b])
    res.check(same_bits(view, 2 * k), "layer.kernel is a view of the live weights")
    # Zero-copy input: a C-contiguous float32 array is passed as is; others are converted.
    res.check(_lib.as_float32(x, "x") is x, "float32 C-contiguous input is not copied")
    res.check(_lib.as_float32(x.astype(np.float64), "x").dtype == np.float32,
              "float64 input is converted")
    xt = np.asfortranarray(x)
    res.check(same_bits(layer(xt), layer(x)), "a Fortran-ordered input gives the same result")
    out = np.empty(y.shape, np.float32)
    y2 = layer(x, out=out)
    res.check(y2 is out and same_bits(out, layer(x)), "out= receives the result in place")
    expect_raises(ValueError, lambda: layer(x, out=np.empty((1, 2), np.float32)), "bad out=")


# ---- backward ------------------------------------------------------------------------------
def check_backward(tmp):
    if not hasattr(tconv.lib, "tconv_layer_backward"):
        res.check(False, "libtconv has no tconv_layer_backward")
        return
    rng = np.random.default_rng(3)
    layer = Conv2DTranspose(filters=4, kernel_size=3, strides=2, padding="same")
    x = rng.standard_normal((2, 5, 4, 3)).astype(np.float32)
    y = layer(x)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, (dk, db) = layer.backward(x, dy)
    k, b = layer.get_weights()
    # Linear in x and in the kernel: <y - b, dy> = <x, dx> = <kernel, dkernel>.
    inner = float(np.sum((y.astype(np.float64) - b) * dy))
    res.check(abs(inner - float(np.sum(x.astype(np.float64) * dx))) <= 1e-4 * abs(inner) + 1e-3,
              "adjoint: <y - b, dy> = <x, dx>")
    res.check(abs(inner - float(np.sum(k.astype(np.float64) * dk))) <= 1e-4 * abs(inner) + 1e-3,
              "adjoint: <y - b, dy> = <kernel, dkernel>")
    res.check(np.allclose(db, dy.sum(axis=(0, 1, 2)), rtol=1e-5, atol=1e-4), "dbias = sum dy")
    dx2, grads2 = layer.backward(x, dy, y=y, compute_dx=False)
    res.check(dx2 is None and same_bits(grads2[0], dk), "backward with y given, no dx")
    rc, out, err = harness.run(["grad", "--help"])
    if rc != 0:
        res.check(False, "tconv grad is missing: %s" % err.strip())
        return
    p = os.path.join(tmp, "g")
    for n, a in (("x", x), ("k", k), ("b", b), ("dy", dy)):
        np.save(os.path.join(tmp, n + ".npy"), a)
    rc, out, err = harness.run(["grad", "--input", os.path.join(tmp, "x.npy"), "--kernel",
                                os.path.join(tmp, "k.npy"), "--bias", os.path.join(tmp, "b.npy"),
                                "--dy", os.path.join(tmp, "dy.npy"), "-o", p, "--strides", "2,2",
                                "--padding", "same"])
    if not res.check(rc == 0, "tconv grad: %s" % err.strip()):
        return
    for name, mine in (("dx", dx), ("dkernel", dk), ("dbias", db)):
        theirs = np.load(p + "." + name + ".npy")
        res.check(same_bits(mine, theirs), "backward %s matches tconv grad bit for bit" % name)


# ---- files ---------------------------------------------------------------------------------
def check_files(tmp):
    rng = np.random.default_rng(5)
    a = Conv2DTranspose(filters=3, kernel_size=2, strides=2, name="dec")
    a.build((1, 4, 4, 2))
    res.check(a.name == "dec", "layer name %r" % a.name)
    path = os.path.join(tmp, "dec.safetensors")
    if hasattr(tconv.lib, "tconv_checkpoint_save"):
        a.save_weights(path)
        b = Conv2DTranspose(filters=3, kernel_size=2, strides=2, name="dec", seed=99)
        b.build((1, 4, 4, 2))
        res.check(not same_bits(a.get_weights()[0], b.get_weights()[0]), "fresh layers differ")
        n = b.load_weights(path)
        res.check(n == 2 and all(same_bits(p, q) for p, q in zip(a.get_weights(), b.get_weights())),
                  "save_weights/load_weights round trip (%d restored)" % n)
        x = rng.standard_normal((1, 4, 4, 2)).astype(np.float32)
        res.check(same_bits(a(x), b(x)), "restored layer computes the same")
        d = tconv.load_weights(path)
        res.check(same_bits(d.get("dec/kernel"), a.get_weights()[0]),
                  "tconv.load_weights reads the checkpoint: %r" % sorted(d))
    else:
        res.check(False, "libtconv has no tconv_checkpoint_save")
    # What a Keras user has: np.savez of get_weights() under the variable names.
    k = rng.standard_normal((2, 2, 3, 2)).astype(np.float32)
    bias = rng.standard_normal(3).astype(np.float32)
    npz = os.path.join(tmp, "keras.npz")
    np.savez(npz, **{"dec/kernel": k, "dec/bias": bias})
    a.load_weights(npz)
    res.check(same_bits(a.get_weights()[0], k) and same_bits(a.get_weights()[1], bias),
              "load_weights from a Keras-style .npz")
    e = expect_raises(tconv.TconvError, lambda: a.load_weights(os.path.join(tmp, "none.npz")),
                      "load_weights of a missing file", "none.npz")
    res.check(e is not None and e.status in (_lib.NOT_FOUND, _lib.IO_ERROR),
              "missing file status %r" % (e and e.status_name))
    np.savez(npz, **{"dec/kernel": k[:1], "dec/bias": bias})
    e = expect_raises(tconv.ShapeMismatchError, lambda: a.load_weights(npz),
                      "load_weights with a wrong kernel shape", "dec/kernel")
    res.check(same_bits(a.get_weights()[0], k), "a failed restore changes nothing")


# ---- errors --------------------------------------------------------------------------------
def check_errors():
    e = expect_raises(tconv.InvalidArgumentError,
                      lambda: Conv2DTranspose(filters=0, kernel_size=3), "filters=0", "filters")
    res.check(isinstance(e, ValueError) and e.status == _lib.INVALID_ARGUMENT and e.message,
              "InvalidArgumentError is a ValueError with the library's message")
    # Keras's rule, reported by the library when the input shape is known.
    layer = Conv2DTranspose(filters=2, kernel_size=3, strides=2, output_padding=2)
    expect_raises(tconv.TconvError, lambda: layer(np.zeros((1, 4, 4, 1), np.float32)),
                  "output_padding >= strides", "output_padding")
    expect_raises(ValueError, lambda: Conv2DTranspose(filters=2, kernel_size=3, padding="full"),
                  "padding='full'")
    expect_raises(tconv.InvalidArgumentError,
                  lambda: Conv2DTranspose(filters=2, kernel_size=3, activation="nope"),
                  "unknown activation", "nope")
    layer = Conv2DTranspose(filters=2, kernel_size=3)
    expect_raises(ValueError, lambda: layer(np.zeros((4, 4, 1), np.float32)), "rank-3 input")
    layer(np.zeros((1, 4, 4, 1), np.float32))
    expect_raises(tconv.TconvError, lambda: layer(np.zeros((1, 4, 4, 3), np.float32)),
                  "input channels differ from the built layer")
    expect_raises(ValueError, lambda: layer.set_weights([np.zeros((3, 3, 2, 2))]),
                  "set_weights with one weight")
    expect_raises(ValueError, lambda: layer.set_weights([np.zeros((3, 3, 2, 2)), np.zeros(2)]),
                  "set_weights with a wrong kernel shape", "kernel")
    expect_raises(RuntimeError, lambda: Conv2DTranspose(2, 3).get_weights() or
                  Conv2DTranspose(2, 3).kernel, "kernel of an unbuilt layer")


def main():
    with harness.tempdir() as tmp:
        groups = [lambda: check_layouts(tmp), lambda: check_text_example(tmp),
                  lambda: check_configs(tmp), check_weights, lambda: check_backward(tmp),
                  lambda: check_files(tmp), check_errors]
        for group in groups:
            # An exception ends its group as one failure; the other groups still run.
            try:
                group()
            except Exception as e:  # noqa: BLE001
                import traceback
                traceback.print_exc()
                res.check(False, "unexpected %s: %s" % (type(e).__name__, e))
    res.finish()


main()
