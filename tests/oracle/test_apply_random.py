"""`tconv apply` against the float64 oracle (tfref.py) on ~300 seeded random configurations of
every form — Keras, tf.nn with output_shape (SAME/VALID/EXPLICIT), core (pads/adjust/groups) —
plus a list of configurations TensorFlow/Keras refuse, which must fail cleanly.

Each small configuration runs on every kernel path (TCONV_KERNELS=auto, scalar, reference); a
few medium ones (more channels than one micro-kernel tile) run on auto and scalar.

Error bound per output element: |y - y_ref| <= 1e-5 * (sum |x||w| + |b|), the sum taken over
exactly the terms that reach that element (the oracle run on absolute values).  After a
non-linear activation the bound is carried through the activation's Lipschitz constant, plus
a few float32 ulps of the activation itself.
"""

import os
import sys

import numpy as np

sys.dont_write_bytecode = True  # keep the source tree clean of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness  # noqa: E402
import tfref  # noqa: E402

SEED = 0x7C0DE
N_CONFIGS = 300
N_MEDIUM = 24
PATHS = ("auto", "scalar", "reference")
ACTS = harness.ACTIVATIONS

ri = harness.ri


def random_case(rng, idx, medium=False):
    """One configuration: (form, tconv args without file names, oracle kwargs, x, w, b)."""
    form = ["keras", "tf_nn", "core"][idx % 3]
    df = "channels_first" if rng.random() < 0.3 else "channels_last"
    N = ri(rng, 1, 3)
    IH, IW = ri(rng, 1, 6), ri(rng, 1, 6)
    if medium:
        N, IH, IW = ri(rng, 1, 2), ri(rng, 4, 11), ri(rng, 4, 11)
    if rng.random() < 0.08:
        IH = IW = 1
    KH, KW = ri(rng, 1, 5), ri(rng, 1, 5)
    s = [ri(rng, 1, 4), ri(rng, 1, 4)]
    d = [1, 1]
    G = 1
    args, kw = [], {}
    if form == "keras":
        if rng.random() < 0.3:
            s = [1, 1]
            d = [ri(rng, 1, 3), ri(rng, 1, 3)]
        padding = ["valid", "same"][ri(rng, 0, 1)]
        ops = None if rng.random() < 0.5 else [ri(rng, 0, s[0] - 1), ri(rng, 0, s[1] - 1)]
        args += ["--padding", padding if rng.random() < 0.7 else padding.upper()]
        if ops is not None:
            args += ["--output-padding", harness.csv(ops)]
        kw.update(form="keras", padding=padding, output_padding=ops)
    elif form == "tf_nn":
        if rng.random() < 0.3:
            d = [ri(rng, 1, 3), ri(rng, 1, 3)]
        padding = ["SAME", "VALID", "EXPLICIT"][ri(rng, 0, 2)]
        ex, out_hw = harness.random_tf_nn(rng, (IH, IW), (KH, KW), s, d, padding, tfref)
        kw.update(form="tf_nn", padding=padding, output_shape=out_hw, explicit=ex)
        args += ["--padding", padding if rng.random() < 0.7 else padding.lower()]
        if ex is not None:
            args += ["--explicit-padding", harness.csv(ex)]
        kw["_out_hw"] = out_hw
    else:
        d = [ri(rng, 1, 3), ri(rng, 1, 3)]
        G = ri(rng, 1, 3)
        adj = [ri(rng, 0, s[0] - 1), ri(rng, 0, s[1] - 1)]
        pads = []
        for ax, (I, k, st, dl) in enumerate(((IH, KH, s[0], d[0]), (IW, KW, s[1], d[1]))):
            F = tfref.full_length(I, k, st, dl)
            room = F - 1 + adj[ax]  # keep O >= 1
            a = ri(rng, 0, min(room, tfref.k_eff(k, dl) + 1))
            b = ri(rng, 0, min(room - a, tfref.k_eff(k, dl) + 1))
            pads += [a, b]
        args += ["--pads", harness.csv(pads)]
        if any(adj) or rng.random() < 0.5:
            args += ["--adjust", harness.csv(adj)]
        if G > 1 or rng.random() < 0.3:
            args += ["--groups", str(G)]
        kw.update(form="core", pads=pads, adjust=adj, groups=G)
    C = G * (ri(rng, 5, 20) if medium else ri(rng, 1, 3))
    FG = ri(rng, 7, 37) if medium else ri(rng, 1, 3)
    # strides/dilation: 2 values, or 4 in data-format order with batch = channel = 1
    for flag, v, is_default in (("--strides", s, s == [1, 1]), ("--dilation", d, d == [1, 1])):
        if is_default and rng.random() < 0.5:
            continue
        four = [1, v[0], v[1], 1] if df == "channels_last" else [1, 1, v[0], v[1]]
        args += [flag, harness.csv(four if rng.random() < 0.25 else v)]
    if "_out_hw" in kw:
        oh, ow = kw.pop("_out_hw")
        if rng.random() < 0.3:
            full = [N, oh, ow, G * FG] if df == "channels_last" else [N, G * FG, oh, ow]
            args += ["--output-shape", harness.csv(full)]
        else:
            args += ["--output-shape", harness.csv([oh, ow])]
    act = alpha = None
    if rng.random() < 0.4:
        act = ACTS[ri(rng, 0, len(ACTS) - 1)]
        args += ["--activation", act]
        if act in ("leaky_relu", "elu") and rng.random() < 0.5:
            alpha = float(np.float32(rng.uniform(0.05, 1.5)))
            args += ["--activation-alpha", repr(alpha)]
    args += ["--data-format", df]
    kw.update(strides=s, dilations=d, data_format=df, activation=act, alpha=alpha)
    xshape = (N, IH, IW, C) if df == "channels_last" else (N, C, IH, IW)
    x = rng.uniform(-1, 1, xshape).astype(np.float32)
    w = rng.uniform(-1, 1, (KH, KW, FG, C)).astype(np.float32)
    b = rng.uniform(-1, 1, G * FG).astype(np.float32) if rng.random() < 0.8 else None
    return form, args, kw, x, w, b


def tolerance(kw, x, w, b, y_pre):
    """Per-element bound, from the oracle on absolute values."""
    akw = dict(kw, activation=None, alpha=None)
    scale = tfref.conv_transpose(np.abs(x), np.abs(w), None if b is None else np.abs(b), **akw)
    tol = 1e-5 * scale + 1e-30
    act = kw["activation"]
    if act in (None, "linear"):
        return tol
    if act == "exponential":
        lip = np.exp(y_pre + tol)
    else:
        lip = max(tfref.ACTIVATION_LIPSCHITZ[act], kw["alpha"] or 0.0)
    post = tfref.activate(y_pre, act, kw["alpha"])
    return lip * tol + 2e-6 * np.abs(post) + 1e-6


def invalid_cases():
    """(what, flags, kernel shape, input shape, bias length) that TF/Keras refuse."""
    x = (1, 3, 3, 2)
    k3 = (3, 3, 4, 2)
    return [
        ("keras output_padding == stride", ["--strides", "2,2", "--padding", "same",
                                            "--output-padding", "2,0"], k3, x, None),
        ("keras output_padding > stride", ["--strides", "2,2", "--padding", "valid",
                                           "--output-padding", "0,3"], k3, x, None),
        ("keras output_padding with stride 1", ["--padding", "valid", "--output-padding", "1,0"],
         k3, x, None),
        ("keras strides 2 with dilation 2", ["--strides", "2,2", "--dilation", "2,2",
                                             "--padding", "same"], k3, x, None),
        ("keras strides 2,1 with dilation 1,2 (Keras: max(s) > 1 and max(d) > 1)",
         ["--strides", "2,1", "--dilation", "1,2", "--padding", "valid"], k3, x, None),
        ("keras same, output_padding 0, even kernel: ceil(O/s) != I in TF's op",
         ["--strides", "2,2", "--padding", "same", "--output-padding", "0,0"], (4, 4, 4, 2), x,
         None),
        ("SAME output 7 with I=3 s=2 (ceil 4)", ["--strides", "2,2", "--padding", "SAME",
                                                 "--output-shape", "7,6"], k3, x, None),
        ("SAME output 4 with I=3 s=2 (ceil 2)", ["--strides", "2,2", "--padding", "SAME",
                                                 "--output-shape", "6,4"], k3, x, None),
        ("VALID O - F == s", ["--strides", "2,2", "--padding", "VALID",
                              "--output-shape", "9,7"], k3, x, None),
        ("VALID O < F", ["--strides", "2,2", "--padding", "VALID",
                         "--output-shape", "7,6"], k3, x, None),
        ("EXPLICIT floor((O+pt+pb-k)/s)+1 != I", ["--strides", "2,2", "--padding", "EXPLICIT",
                                                  "--explicit-padding", "1,1,0,0",
                                                  "--output-shape", "7,7"], k3, x, None),
        ("kernel in_channels 3 vs input channels 2", ["--strides", "2,2", "--padding", "same"],
         (3, 3, 4, 3), x, None),
        ("zero stride", ["--strides", "0,1", "--padding", "valid"], k3, x, None),
        ("negative stride", ["--strides", "1,-1", "--padding", "valid"], k3, x, None),
        ("3-value strides", ["--strides", "2,2,2", "--padding", "valid"], k3, x, None),
        ("4-value strides with batch 2 (NHWC)", ["--strides", "2,2,2,1", "--padding", "valid"],
         k3, x, None),
        ("4-value strides with channel 2 (NHWC)", ["--strides", "1,2,2,2", "--padding", "valid"],
         k3, x, None),
        ("4-value strides with channel 2 (NCHW)", ["--strides", "1,2,2,2", "--padding", "valid",
                                                   "--data-format", "channels_first"],
         k3, (1, 2, 3, 3), None),
        ("zero dilation", ["--dilation", "0,1", "--padding", "valid"], k3, x, None),
        ("unknown padding", ["--padding", "full"], k3, x, None),
        ("unknown activation", ["--padding", "valid", "--activation", "nope"], k3, x, None),
        ("bias length 3 vs 4 filters", ["--padding", "valid"], k3, x, 3),
        ("groups 3 do not divide 2 channels", ["--pads", "0,0,0,0", "--groups", "3"],
         (3, 3, 4, 2), x, None),
        ("4-value output_shape batch 2 vs input batch 1",
         ["--strides", "2,2", "--padding", "SAME", "--output-shape", "2,6,6,4"], k3, x, None),
        ("4-value output_shape channels 5 vs filters 4",
         ["--strides", "2,2", "--padding", "SAME", "--output-shape", "1,6,6,5"], k3, x, None),
        ("output_shape with a negative value", ["--strides", "2,2", "--padding", "SAME",
                                                "--output-shape", "6,-6"], k3, x, None),
        ("kernel of rank 3", ["--padding", "valid"], (3, 3, 2), x, None),
    ]


def edge_checks(res, rng, tmp):
    """NaN propagation and empty tensors, on every kernel path.

    TF's CPU kernel multiplies each input pixel by every tap and adds the products where they
    land (GEMM + col2im), so a NaN input poisons exactly the outputs it reaches: the oracle's NaN
    pattern must be reproduced exactly (a kernel that multiplies padding zeros by a NaN, or skips
    a tap, shows up here).  Empty batches and fully cropped axes give empty outputs."""
    xp, wp, yp = (os.path.join(tmp, n + ".npy") for n in ("ex", "ew", "ey"))
    for trial in range(10):
        IH, IW, KH, KW = (ri(rng, 1, 5) for _ in range(4))
        s = [ri(rng, 1, 3), ri(rng, 1, 3)]
        C, F = ri(rng, 1, 3), ri(rng, 1, 19)
        x = rng.uniform(-1, 1, (1, IH, IW, C)).astype(np.float32)
        w = rng.uniform(-1, 1, (KH, KW, F, C)).astype(np.float32)
        x[0, ri(rng, 0, IH - 1), ri(rng, 0, IW - 1), ri(rng, 0, C - 1)] = np.nan
        harness.save(xp, x)
        harness.save(wp, w)
        want = np.isnan(tfref.conv_transpose(x, w, None, strides=s, padding="same"))
        for path in PATHS:
            rc, out, err = harness.run(["apply", "--input", xp, "--kernel", wp, "-o", yp,
                                        "--strides", harness.csv(s), "--padding", "same"],
                                       env={"TCONV_KERNELS": path})
            got = np.isnan(np.load(yp)) if rc == 0 else None
            res.check(got is not None and np.array_equal(got, want),
                      "NaN pattern #%d [%s] x%s w%s s%s: exit %d, %s NaNs, oracle %d (%s)"
                      % (trial, path, x.shape, w.shape, s, rc,
                         None if got is None else int(got.sum()), int(want.sum()), err.strip()))
    for what, xshape, flags, want_shape in (
            ("empty batch", (0, 3, 3, 2), ["--strides", "2,2", "--padding", "same"], (0, 6, 6, 4)),
            ("empty batch NCHW", (0, 2, 3, 3), ["--strides", "2,2", "--padding", "valid",
                                                "--data-format", "channels_first"], (0, 4, 7, 7)),
            ("core pads crop the whole h axis", (1, 3, 3, 2), ["--strides", "2,2",
                                                              "--pads", "3,4,0,0"], (1, 0, 7, 4))):
        harness.save(xp, np.ones(xshape))
        harness.save(wp, np.ones((3, 3, 4, 2)))
        for path in PATHS:
            if os.path.exists(yp):
                os.remove(yp)
            rc, out, err = harness.run(["apply", "--input", xp, "--kernel", wp, "-o", yp] + flags,
                                       env={"TCONV_KERNELS": path})
            got = np.load(yp).shape if rc == 0 and os.path.exists(yp) else None
            res.check(got == want_shape, "%s [%s]: exit %d, shape %s, want %s (%s)"
                      % (what, path, rc, got, want_shape, err.strip()))


def seed_checks(res, rng, tmp):
    """The seed's two layer uses at full size (DESIGN.md): 28x28x1 -> 56x56x32 and a 224x224 RGB
    image -> 448x448x3, both Conv2DTranspose(3x3, strides 2, 'same'), with a bias and ReLU."""
    xp, wp, bp, yp = (os.path.join(tmp, n + ".npy") for n in ("sx", "sw", "sb", "sy"))
    for what, xshape, filters in (("seed use 1: 28x28x1 -> 56x56x32", (1, 28, 28, 1), 32),
                                  ("seed use 2: 224x224x3 -> 448x448x3", (1, 224, 224, 3), 3)):
        x = rng.uniform(0, 1, xshape).astype(np.float32)
        w = rng.uniform(-0.5, 0.5, (3, 3, filters, xshape[3])).astype(np.float32)
        b = rng.uniform(-0.1, 0.1, filters).astype(np.float32)
        for path, arr in ((xp, x), (wp, w), (bp, b)):
            harness.save(path, arr)
        kw = dict(form="keras", padding="same", strides=(2, 2), dilations=(1, 1),
                  data_format="channels_last", activation="relu", alpha=None)
        y_pre = tfref.conv_transpose(x, w, b, **dict(kw, activation=None))
        want = tfref.activate(y_pre, "relu")
        tol = tolerance(kw, x, w, b, y_pre)
        for kpath in PATHS[:2]:
            rc, out, err = harness.run(["apply", "--input", xp, "--kernel", wp, "--bias", bp,
                                        "-o", yp, "--strides", "2,2", "--padding", "same",
                                        "--activation", "relu"], env={"TCONV_KERNELS": kpath})
            got = np.load(yp).astype(np.float64) if rc == 0 else None
            ok = got is not None and got.shape == want.shape and bool(np.all(np.abs(got - want)
                                                                               <= tol))
            res.check(ok, "%s [%s]: exit %d, shape %s, max |diff| %s (%s)"
                      % (what, kpath, rc, None if got is None else got.shape,
                         None if got is None or got.shape != want.shape
                         else float(np.abs(got - want).max()), err.strip()))


def main():
    res = harness.Results("apply_random")
    harness.require_tool(res)
    rng = np.random.default_rng(SEED)
    forms_seen = {}
    with harness.tempdir() as tmp:
        xp, wp, bp, yp = (os.path.join(tmp, n + ".npy") for n in ("x", "w", "b", "y"))
        for idx in range(N_CONFIGS + N_MEDIUM):
            medium = idx >= N_CONFIGS
            form, args, kw, x, w, b = random_case(rng, idx, medium)
            try:
                y_pre = tfref.conv_transpose(x, w, b, **dict(kw, activation=None, alpha=None))
            except tfref.Rejected as e:
                # A random Keras 'same' + output_padding config that TF's op refuses.
                want_error = str(e)
            else:
                want_error = None
            harness.save(xp, x)
            harness.save(wp, w)
            files = ["--input", xp, "--kernel", wp, "-o", yp]
            if b is not None:
                harness.save(bp, b)
                files += ["--bias", bp]
            label = form + (" medium" if medium else "") + (" (refused)" if want_error else "")
            forms_seen[label] = forms_seen.get(label, 0) + 1
            want = tol = None
            if want_error is None:
                want = tfref.activate(y_pre, kw["activation"], kw["alpha"])
                tol = tolerance(kw, x, w, b, y_pre)
            for path in (PATHS[:2] if medium else PATHS):
                if os.path.exists(yp):
                    os.remove(yp)
                rc, out, err = harness.run(["apply"] + files + args, env={"TCONV_KERNELS": path})
                what = "#%d %s [TCONV_KERNELS=%s] x%s w%s%s %s" % (
                    idx, form, path, x.shape, w.shape, "" if b is None else " +b", " ".join(args))
                if want_error is not None:
                    res.check(harness.one_line_error(rc, out, err) and not os.path.exists(yp),
                              "%s: TF refuses (%s) but tconv exit %d" % (what, want_error, rc))
                    continue
                if not res.check(rc == 0, "%s: exit %d: %s" % (what, rc, err.strip())):
                    continue
                got = np.load(yp).astype(np.float64)
                if not res.check(got.shape == want.shape,
                                 "%s: shape %s, oracle %s" % (what, got.shape, want.shape)):
                    continue
                bad = np.abs(got - want) > tol
                if bad.any():
                    i = np.unravel_index(np.argmax(np.abs(got - want) - tol), got.shape)
                    res.check(False, "%s: %d elements off; worst at %s: %.9g vs %.9g (tol %.3g)"
                              % (what, int(bad.sum()), tuple(int(v) for v in i), got[i], want[i],
                                 tol[i]))
                else:
                    res.check(True, "")

        edge_checks(res, rng, tmp)
        seed_checks(res, rng, tmp)

        for what, flags, kshape, xshape, blen in invalid_cases():
            harness.save(xp, rng.uniform(-1, 1, xshape))
            harness.save(wp, rng.uniform(-1, 1, kshape))
            files = ["--input", xp, "--kernel", wp, "-o", yp]
            if blen is not None:
                harness.save(bp, np.ones(blen))
                files += ["--bias", bp]
            if os.path.exists(yp):
                os.remove(yp)
            rc, out, err = harness.run(["apply"] + files + flags)
            res.check(harness.one_line_error(rc, out, err),
                      "invalid: %s: want exit != 0 and one stderr line; got exit %d, stderr %r"
                      % (what, rc, err))
            res.check(not os.path.exists(yp), "invalid: %s: output file was written" % what)
    print("configurations by form: %s" % ", ".join("%s %d" % kv for kv in sorted(forms_seen.items())))
    res.finish()


if __name__ == "__main__":
    main()
