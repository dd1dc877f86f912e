"""`tconv grad` against an independent float64 NumPy backward on seeded random configurations
of every form — Keras (valid/same, output_padding, dilation), tf.nn with output_shape
(SAME/VALID/EXPLICIT), core (pads, adjust, groups, any strides and dilation) — in NHWC and
NCHW, with and without bias, through every activation.

The oracle differentiates sum(dy * activation(conv_transpose(x, w) + b)) directly from the
definition (y[o] += x[i] w[t] where o + pad_begin = i*s + t*d): for each tap the input rows and
columns whose landing is inside the output, dx += dz w[t]^T, dw[t] += x^T dz, db = sum dz.  It
shares nothing with tconv; its own consistency is checked by the adjoint identity against
tfref.conv_transpose (the forward oracle).

Per element the bound is 1e-5 of the sum of absolute contributing products (the oracle run on
|x|, |w|, |dz|), plus, after a non-linear activation, the float32 pre-activation's error carried
through the activation's second derivative.
"""

import math
import os
import sys

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness  # noqa: E402
import tfref  # noqa: E402

SEED = 0x6AD
N_CONFIGS = 90
ACTS = harness.ACTIVATIONS
SELU_A, SELU_S = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946

ri = harness.ri


def sig(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def derivative(name, z, alpha=None):
    """f'(z) as TF's gradients define it (relu-like kinks take the left side)."""
    if name in (None, "linear"):
        return np.ones_like(z)
    if name == "relu":
        return (z > 0).astype(np.float64)
    if name == "relu6":
        return ((z > 0) & (z < 6)).astype(np.float64)
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, 0.2 if alpha is None else alpha)
    if name == "elu":
        return np.where(z > 0, 1.0, (1.0 if alpha is None else alpha) * np.exp(np.minimum(z, 0)))
    if name == "selu":
        return np.where(z > 0, SELU_S, SELU_S * SELU_A * np.exp(np.minimum(z, 0)))
    if name == "gelu":
        erf = np.vectorize(math.erf, otypes=[np.float64])
        return 0.5 * (1 + erf(z / math.sqrt(2))) + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    if name == "gelu_tanh":
        c = math.sqrt(2 / math.pi)
        t = np.tanh(c * (z + 0.044715 * z ** 3))
        return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * c * (1 + 3 * 0.044715 * z * z)
    if name == "sigmoid":
        return sig(z) * (1 - sig(z))
    if name == "hard_sigmoid":
        return np.where((z > -2.5) & (z < 2.5), 0.2, 0.0)
    if name == "tanh":
        return 1 - np.tanh(z) ** 2
    if name == "softplus":
        return sig(z)
    if name == "softsign":
        return 1 / (1 + np.abs(z)) ** 2
    if name in ("swish", "silu"):
        return sig(z) * (1 + z * (1 - sig(z)))
    if name == "exponential":
        return np.exp(z)
    raise ValueError(name)


def backward(x, w, dz, strides, dilations, pads, adjust, groups, df):
    """float64 dx, dw, db of sum(dz * conv_transpose(x, w)) from the definition."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    dz = np.asarray(dz, np.float64)
    if df == "channels_first":
        x, dz = x.transpose(0, 2, 3, 1), dz.transpose(0, 2, 3, 1)
    N, IH, IW, C = x.shape
    KH, KW, FG, _ = w.shape
    _, OH, OW, _ = dz.shape
    (sh, sw), (dh, dw_), (pt, _, pl, _) = strides, dilations, pads
    Cg = C // groups
    dx = np.zeros_like(x)
    dw = np.zeros_like(w)
    for g in range(groups):
        cs, fs = slice(g * Cg, (g + 1) * Cg), slice(g * FG, (g + 1) * FG)
        for th in range(KH):
            ih = np.array([i for i in range(IH) if 0 <= i * sh + th * dh - pt < OH], dtype=int)
            for tw in range(KW):
                iw = np.array([i for i in range(IW) if 0 <= i * sw + tw * dw_ - pl < OW], dtype=int)
                if len(ih) == 0 or len(iw) == 0:
                    continue
                oh, ow = ih * sh + th * dh - pt, iw * sw + tw * dw_ - pl
                dzs = dz[:, oh][:, :, ow][:, :, :, fs]            # (N, nh, nw, FG)
                xs = x[:, ih][:, :, iw][:, :, :, cs]              # (N, nh, nw, Cg)
                dx[np.ix_(range(N), ih, iw, range(g * Cg, (g + 1) * Cg))] += np.einsum(
                    "nhwf,fc->nhwc", dzs, w[th, tw, :, cs])
                dw[th, tw, :, cs] += np.einsum("nhwc,nhwf->fc", xs, dzs)
    db = dz.sum(axis=(0, 1, 2))
    if df == "channels_first":
        dx = dx.transpose(0, 3, 1, 2)
    return dx, dw, db


def random_case(rng, idx):
    form = ["keras", "tf_nn", "core"][idx % 3]
    df = "channels_first" if rng.random() < 0.35 else "channels_last"
    N, IH, IW = ri(rng, 1, 3), ri(rng, 1, 6), ri(rng, 1, 6)
    KH, KW = ri(rng, 1, 5), ri(rng, 1, 5)
    s, d, G = [ri(rng, 1, 3), ri(rng, 1, 3)], [1, 1], 1
    args = []
    in_hw, k_hw = (IH, IW), (KH, KW)
    if form == "keras":
        if rng.random() < 0.3:
            s, d = [1, 1], [ri(rng, 1, 3), ri(rng, 1, 3)]
        padding = ["valid", "same"][ri(rng, 0, 1)]
        ops = None if rng.random() < 0.5 else [ri(rng, 0, s[0] - 1), ri(rng, 0, s[1] - 1)]
        args += ["--padding", padding]
        if ops is not None:
            args += ["--output-padding", harness.csv(ops)]
        pads, adjust = tfref.keras_geometry(in_hw, k_hw, s, d, padding, ops)
    elif form == "tf_nn":
        if rng.random() < 0.3:
            d = [ri(rng, 1, 3), ri(rng, 1, 3)]
        padding = ["SAME", "VALID", "EXPLICIT"][ri(rng, 0, 2)]
        ex, out_hw = harness.random_tf_nn(rng, in_hw, k_hw, s, d, padding, tfref)
        args += ["--padding", padding, "--output-shape", harness.csv(out_hw)]
        if ex is not None:
            args += ["--explicit-padding", harness.csv(ex)]
        pads, adjust = tfref.tf_nn_geometry(in_hw, k_hw, s, d, padding, out_hw, ex)
    else:
        d = [ri(rng, 1, 3), ri(rng, 1, 3)]
        G = ri(rng, 1, 3)
        adjust = [ri(rng, 0, s[0] - 1), ri(rng, 0, s[1] - 1)]
        pads = []
        for ax, (I, k, st, dl) in enumerate(((IH, KH, s[0], d[0]), (IW, KW, s[1], d[1]))):
            room = tfref.full_length(I, k, st, dl) - 1 + adjust[ax]
            a = ri(rng, 0, min(room, tfref.k_eff(k, dl) + 1))
            pads += [a, ri(rng, 0, min(room - a, tfref.k_eff(k, dl) + 1))]
        args += ["--pads", harness.csv(pads), "--adjust", harness.csv(adjust), "--groups", str(G)]
    args += ["--strides", harness.csv(s), "--dilation", harness.csv(d), "--data-format", df]
    act = alpha = None
    if rng.random() < 0.5:
        act = ACTS[ri(rng, 0, len(ACTS) - 1)]
        args += ["--activation", act]
        if act in ("leaky_relu", "elu") and rng.random() < 0.5:
            alpha = float(np.float32(rng.uniform(0.05, 1.5)))
            args += ["--activation-alpha", repr(alpha)]
    C, FG = G * ri(rng, 1, 4), ri(rng, 1, 4)
    x = rng.uniform(-1, 1, (N, IH, IW, C) if df == "channels_last" else (N, C, IH, IW))
    w = rng.uniform(-1, 1, (KH, KW, FG, C))
    b = rng.uniform(-1, 1, G * FG) if rng.random() < 0.7 else None
    geo = dict(strides=s, dilations=d, pads=pads, adjust=adjust, groups=G, df=df)
    return form, args, geo, act, alpha, [v if v is None else v.astype(np.float32) for v in (x, w, b)]


def main():
    res = harness.Results("grad")
    harness.require_tool(res)
    rng = np.random.default_rng(SEED)
    seen = {}
    with harness.tempdir() as tmp:
        xp, wp, bp, dyp = (os.path.join(tmp, n + ".npy") for n in ("x", "w", "b", "dy"))
        pre = os.path.join(tmp, "g")
        for idx in range(N_CONFIGS):
            while True:
                try:
                    form, args, geo, act, alpha, (x, w, b) = random_case(rng, idx)
                    break
                except tfref.Rejected:  # a draw TF refuses (Keras 'same' + output_padding)
                    continue
            g = dict(geo)
            df = g.pop("df")
            z = tfref.conv_transpose_core(x, w, b, g["strides"], g["dilations"], g["pads"],
                                          g["adjust"], g["groups"], df)
            if z.size == 0:
                continue
            dy = rng.uniform(-1, 1, z.shape).astype(np.float32)
            fp = derivative(act, z, alpha)
            dz = dy * fp
            want = backward(x, w, dz, g["strides"], g["dilations"], g["pads"], g["adjust"],
                            g["groups"], df)
            # the oracle's own consistency: <convT(x), dz> = <x, dx> = <w, dw>
            zl = tfref.conv_transpose_core(x, w, None, g["strides"], g["dilations"], g["pads"],
                                           g["adjust"], g["groups"], df)
            ip = float(np.sum(zl * dz))
            res.check(abs(ip - float(np.sum(x * want[0]))) <= 1e-9 * (1 + abs(ip)) and
                      abs(ip - float(np.sum(w * want[1]))) <= 1e-9 * (1 + abs(ip)),
                      "#%d oracle adjoint identity" % idx)
            # bounds: 1e-5 of the absolute contributions, plus the pre-activation's float error
            zerr = 1e-5 * tfref.conv_transpose_core(np.abs(x), np.abs(w),
                                                    None if b is None else np.abs(b),
                                                    g["strides"], g["dilations"], g["pads"],
                                                    g["adjust"], g["groups"], df) + 1e-7
            if act in (None, "linear"):
                dz_err = np.zeros_like(z)
            else:
                curv = np.exp(np.abs(z) + zerr) if act == "exponential" else 2.0
                dz_err = np.abs(dy) * (curv * zerr + 2e-6 * np.abs(fp))
            mags = backward(np.abs(x), np.abs(w), np.abs(dz), g["strides"], g["dilations"],
                            g["pads"], g["adjust"], g["groups"], df)
            errs = backward(np.abs(x), np.abs(w), dz_err, g["strides"], g["dilations"], g["pads"],
                            g["adjust"], g["groups"], df)
            harness.save(xp, x)
            harness.save(wp, w)
            harness.save(dyp, dy)
            files = ["--input", xp, "--kernel", wp, "--dy", dyp, "-o", pre]
            if b is not None:
                harness.save(bp, b)
                files += ["--bias", bp]
            seen[form] = seen.get(form, 0) + 1
            for path in ("auto", "scalar", "reference") if idx % 3 == 0 else ("auto", "reference"):
                for suffix in ("dx", "dkernel", "dbias"):
                    if os.path.exists("%s.%s.npy" % (pre, suffix)):
                        os.remove("%s.%s.npy" % (pre, suffix))
                rc, out, err = harness.run(["grad"] + files + args, env={"TCONV_KERNELS": path})
                what = "#%d %s [%s] x%s w%s%s %s" % (idx, form, path, x.shape, w.shape,
                                                    "" if b is None else " +b", " ".join(args))
                if not res.check(rc == 0, "%s: exit %d: %s" % (what, rc, err.strip())):
                    continue
                names = ("dx", "dkernel") + (("dbias",) if b is not None else ())
                for k, name in enumerate(names):
                    got = np.load("%s.%s.npy" % (pre, name)).astype(np.float64)
                    tol = 1e-5 * mags[k] + errs[k] + 1e-30
                    if not res.check(got.shape == want[k].shape,
                                     "%s: %s shape %s, oracle %s" % (what, name, got.shape,
                                                                    want[k].shape)):
                        continue
                    diff = np.abs(got - want[k])
                    if (diff > tol).any():
                        i = np.unravel_index(np.argmax(diff - tol), got.shape)
                        res.check(False, "%s: %s: %d elements off; worst at %s: %.9g vs %.9g "
                                  "(tol %.3g)" % (what, name, int((diff > tol).sum()),
                                                  tuple(int(v) for v in i), got[i], want[k][i],
                                                  tol[i]))
                    else:
                        res.check(True, what)
                if b is None:
                    res.check(not os.path.exists(pre + ".dbias.npy"), "%s: dbias without bias" % what)
        # errors: one line on stderr, non-zero exit
        x = np.ones((1, 2, 2, 1), np.float32)
        harness.save(xp, x)
        harness.save(wp, np.ones((3, 3, 2, 1)))
        harness.save(dyp, np.ones((1, 4, 4, 2)))
        rc, out, err = harness.run(["grad", "--input", xp, "--kernel", wp, "--dy", dyp, "-o", pre,
                                    "--strides", "2,2", "--padding", "valid"])
        res.check(harness.one_line_error(rc, out, err) and "dy must have" in err,
                  "dy of the wrong shape: exit %d: %s" % (rc, err.strip()))
        rc, out, err = harness.run(["grad", "--input", xp, "--kernel", wp, "-o", pre])
        res.check(rc == 2 and harness.one_line_error(rc, out, err), "missing --dy: exit %d" % rc)
    res.check(all(seen.get(f, 0) >= 25 for f in ("keras", "tf_nn", "core")), "forms: %s" % seen)
    res.finish()


if __name__ == "__main__":
    main()
