"""tfref — an independent float64 NumPy model of TensorFlow's 2-D transposed convolution.

Written from the published formulas, not from TF's or tconv's code, so that it can judge both.
Sources (read, not copied):
  * Keras output length: keras/src/backend/common/backend_utils.py
    `_get_output_shape_given_tf_padding` (Keras 3) and keras/utils/conv_utils.py
    `deconv_output_length` (Keras 2).  Both are modelled below and checked equal.
  * Keras argument checks: keras/src/layers/convolutional/base_conv_transpose.py
    (output_padding < strides per axis; max(strides) > 1 and max(dilation_rate) > 1 rejected;
    no zero strides).
  * TF's acceptance rule for output_shape: tensorflow/core/kernels/conv_grad_shape_utils.cc
    `ConvBackpropExtractAndVerifyDimension` calls tensorflow/core/framework/kernel_shape_util.cc
    `GetWindowedOutputSizeVerbose(O, k, d, s, padding)` — the *forward* conv size of the
    transposed output O — and requires it to equal the input length I.
  * TF semantics: conv2d_transpose is the gradient of conv2d with respect to its input, so
    y[o] = sum over (i, t) with o + pad_before = i*s + t*d of x[i] * w[t].
    `adjoint_check` below verifies this model against a direct conv2d (gather form).

Notation per spatial axis: I input length, k kernel taps, s stride, d dilation,
k_eff = d*(k-1)+1, F = (I-1)*s + k_eff.  Core form (pb, pe, a): O = F - pb - pe + a.

Layouts: x NHWC (or NCHW), kernel (kh, kw, filters/groups, in_channels) — TF's layout, no flip.
Input channel group g (in_channels/groups each) feeds output group g (filters/groups each).
"""

import math

import numpy as np


class Rejected(ValueError):
    """The configuration is one TensorFlow/Keras (or the named framework) refuses."""


def k_eff(k, d):
    return d * (k - 1) + 1


def full_length(I, k, s, d):
    return (I - 1) * s + k_eff(k, d)


def _cdiv_trunc(a, b):
    """C's integer division (truncates toward zero), as TF's int64 arithmetic does."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


# ------------------------------------------------------------------------------------------
# Keras output length.
# ------------------------------------------------------------------------------------------
def keras3_output_length(I, k, s, d, padding, op):
    """Keras 3 `_get_output_shape_given_tf_padding`.  op None = output_padding=None."""
    ke = k_eff(k, d)
    if padding == "valid":
        if op is None:
            op = max(ke, s) - ke
        return (I - 1) * s + ke + op
    if padding == "same":
        if op is None:
            return I * s
        return (I - 1) * s + ke % 2 + op
    raise Rejected("padding must be valid or same")


def keras2_output_length(I, k, s, d, padding, op):
    """Keras 2 `conv_utils.deconv_output_length` (valid/same branches)."""
    ke = k + (k - 1) * (d - 1)
    if op is None:
        if padding == "valid":
            return I * s + max(ke - s, 0)
        if padding == "same":
            return I * s
        raise Rejected("padding must be valid or same")
    pad = ke // 2 if padding == "same" else 0
    return (I - 1) * s + ke - 2 * pad + op


def keras_check_args(strides, dilations, ops):
    """The constructor checks of Keras's BaseConvTranspose (ops None or a per-axis tuple)."""
    if any(s <= 0 for s in strides):
        raise Rejected("strides must be positive")
    if any(d <= 0 for d in dilations):
        raise Rejected("dilation_rate must be positive")
    if ops is not None:
        for s, op in zip(strides, ops):
            if op < 0 or op >= s:
                raise Rejected("output_padding must be < strides")
    if max(strides) > 1 and max(dilations) > 1:
        raise Rejected("strides > 1 not supported in conjunction with dilation_rate > 1")


# ------------------------------------------------------------------------------------------
# tf.nn.conv2d_transpose / Conv2DBackpropInput with an explicit output_shape.
# ------------------------------------------------------------------------------------------
def tf_windowed_output_size(n, k, s, d, padding, pad_before=0, pad_after=0):
    """GetWindowedOutputSizeVerbose on an input of length n.  Returns (size, before, after)."""
    if s <= 0 or d < 1:
        raise Rejected("stride must be > 0 and dilation >= 1")
    ke = k_eff(k, d)
    if padding == "VALID":
        size, before, after = _cdiv_trunc(n - ke + s, s), 0, 0
    elif padding == "EXPLICIT":
        size, before, after = _cdiv_trunc(n + pad_before + pad_after - ke + s, s), pad_before, pad_after
    elif padding == "SAME":
        size = _cdiv_trunc(n + s - 1, s)
        need = max(0, (size - 1) * s + ke - n)
        before, after = need // 2, need - need // 2
    else:
        raise Rejected("padding must be SAME, VALID or EXPLICIT")
    if size < 0:
        raise Rejected("computed output size would be negative")
    return size, before, after


def tf_core_axis(I, O, k, s, d, padding, explicit=(0, 0)):
    """(pb, pe, a) for tf.nn.conv2d_transpose(output_shape=O); raises Rejected as TF would."""
    if O < 0:
        raise Rejected("output_shape must be >= 0")
    if padding == "EXPLICIT" and (explicit[0] < 0 or explicit[1] < 0):
        raise Rejected("explicit paddings must be >= 0")
    size, before, after = tf_windowed_output_size(O, k, s, d, padding, *explicit)
    if size != I:
        raise Rejected("Size of out_backprop doesn't match computed: actual = %d, computed = %d"
                       % (I, size))
    a = O - (full_length(I, k, s, d) - before - after)
    assert 0 <= a < s or padding == "SAME"  # what the acceptance rule implies
    return before, after, a


def tf_accepted_range(I, k, s, d, padding, explicit=(0, 0)):
    """All O that TF accepts, from the closed forms (cross-checked against the rule in tests)."""
    F = full_length(I, k, s, d)
    if padding == "VALID":
        lo, hi = F, F + s - 1
    elif padding == "SAME":
        lo, hi = (I - 1) * s + 1, I * s
    else:
        base = F - explicit[0] - explicit[1]
        lo, hi = base, base + s - 1
    return [o for o in range(max(lo, 0), hi + 1)]


def keras_core_axis(I, k, s, d, padding, op):
    """Keras layer on one axis: O from Keras's formula, then the TF op's placement and check.

    Keras passes O to tf.nn.conv2d_transpose(padding=padding.upper()), so a Keras shape that the
    op refuses (e.g. 'same', output_padding=0, even k_eff, s >= 2 gives ceil(O/s) != I) is an
    error in TensorFlow too."""
    O = keras3_output_length(I, k, s, d, padding, op)
    assert O == keras2_output_length(I, k, s, d, padding, op)
    pb, pe, a = tf_core_axis(I, O, k, s, d, padding.upper())
    return O, pb, pe, a


# ------------------------------------------------------------------------------------------
# PyTorch and ONNX conventions (for `tconv shape --from`).
# ------------------------------------------------------------------------------------------
def torch_core_axis(I, k, s, d, p, op):
    """torch.nn.ConvTranspose2d: O = (I-1)s - 2p + d(k-1) + op + 1; op < max(s, d)."""
    if s <= 0 or d <= 0 or p < 0 or op < 0:
        raise Rejected("negative or zero parameter")
    if not op < max(s, d):
        raise Rejected("output padding must be smaller than either stride or dilation")
    O = (I - 1) * s - 2 * p + d * (k - 1) + op + 1
    if O <= 0:
        raise Rejected("non-positive output size")
    return O, p, p, op


def onnx_core_axis(I, k, s, d, op=0, pads=None, auto_pad="NOTSET", output_shape=None):
    """ONNX ConvTranspose (opset 22 spec text).  pads = (begin, end) for this axis."""
    ke = k_eff(k, d)
    if output_shape is None and auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        output_shape = I * s
    if output_shape is not None:
        T = s * (I - 1) + op + ke - output_shape
        if T < 0:
            raise Rejected("output_shape larger than the full output")
        # Spec: "If (auto_pads == SAME_UPPER): pads[start] = T/2 ... Else: pads[start] = T - T/2",
        # so NOTSET with an output_shape behaves like SAME_LOWER.
        small, big = T // 2, T - T // 2
        pb, pe = (small, big) if auto_pad == "SAME_UPPER" else (big, small)
        return output_shape, pb, pe, op
    if auto_pad == "VALID" or pads is None:
        pads = (0, 0)
    O = s * (I - 1) + op + ke - pads[0] - pads[1]
    if O < 0:
        raise Rejected("negative output size")
    return O, pads[0], pads[1], op


# ------------------------------------------------------------------------------------------
# Activations, by their Keras definitions.
# ------------------------------------------------------------------------------------------
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # exact identity, no overflow


def _softplus(x):
    return np.logaddexp(0.0, x)


ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "relu6": lambda x: np.minimum(np.maximum(x, 0.0), 6.0),
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.2 * x),  # keras.activations.leaky_relu, 0.2
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),  # alpha 1
    "selu": lambda x: _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0.0))),
    "gelu": lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))),  # approximate=False
    "gelu_tanh": lambda x: 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi)
                                                    * (x + 0.044715 * x ** 3))),
    "sigmoid": _sigmoid,
    "hard_sigmoid": lambda x: np.clip(0.2 * x + 0.5, 0.0, 1.0),  # Keras 2 definition
    "tanh": np.tanh,
    "softplus": _softplus,
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "swish": lambda x: x * _sigmoid(x),
    "silu": lambda x: x * _sigmoid(x),
    "exponential": np.exp,
}

# An upper bound of |f'| used to turn a pre-activation error bound into a post-activation one.
# exponential is handled by the caller (f' = f).
ACTIVATION_LIPSCHITZ = {
    "linear": 1.0, "relu": 1.0, "relu6": 1.0, "leaky_relu": 1.0, "elu": 1.0,
    "selu": _SELU_SCALE * _SELU_ALPHA, "gelu": 1.13, "gelu_tanh": 1.13, "sigmoid": 0.25,
    "hard_sigmoid": 0.2, "tanh": 1.0, "softplus": 1.0, "softsign": 1.0, "swish": 1.1,
    "silu": 1.1,
}


# ------------------------------------------------------------------------------------------
# The computation.
# ------------------------------------------------------------------------------------------
def conv_transpose_core(x, w, bias, strides, dilations, pads, adjust, groups=1,
                        data_format="channels_last"):
    """Direct scatter in float64.  pads = (top, bottom, left, right) crops; adjust = (ah, aw).

    x: (N, H, W, C) or (N, C, H, W); w: (kh, kw, filters/groups, C).  Returns y in x's layout."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    if data_format == "channels_first":
        x = x.transpose(0, 2, 3, 1)
    N, IH, IW, C = x.shape
    KH, KW, FG, CI = w.shape
    if CI != C or C % groups:
        raise Rejected("kernel in_channels %d vs input channels %d (groups %d)" % (CI, C, groups))
    sh, sw = strides
    dh, dw = dilations
    pt, pb, pl, pr = pads
    OH = full_length(IH, KH, sh, dh) - pt - pb + adjust[0]
    OW = full_length(IW, KW, sw, dw) - pl - pr + adjust[1]
    if OH < 0 or OW < 0:
        raise Rejected("negative output size")
    G, Cg = groups, C // groups
    y = np.zeros((N, OH, OW, G * FG), dtype=np.float64)
    iw = np.arange(IW)
    for g in range(G):
        xg = x[:, :, :, g * Cg:(g + 1) * Cg]           # (N, IH, IW, Cg)
        wg = w[:, :, :, g * Cg:(g + 1) * Cg]           # (KH, KW, FG, Cg)
        for th in range(KH):
            for tw in range(KW):
                ow = iw * sw + tw * dw - pl            # distinct per iw: += is safe
                keep = (ow >= 0) & (ow < OW)
                if not keep.any():
                    continue
                contrib = np.einsum("nhwc,fc->nhwf", xg[:, :, keep, :], wg[th, tw])
                for ih in range(IH):
                    oh = ih * sh + th * dh - pt
                    if 0 <= oh < OH:
                        y[:, oh, ow[keep], g * FG:(g + 1) * FG] += contrib[:, ih]
    if bias is not None:
        y += np.asarray(bias, dtype=np.float64)
    if data_format == "channels_first":
        y = y.transpose(0, 3, 1, 2)
    return y


def activate(y, name, alpha=None):
    """Keras activation by name; alpha overrides leaky_relu's negative slope (0.2) or elu's
    alpha (1.0), as keras.activations.leaky_relu(negative_slope=) / elu(alpha=) do."""
    if name is None:
        return y
    if alpha is not None and name == "leaky_relu":
        return np.where(y >= 0, y, alpha * y)
    if alpha is not None and name == "elu":
        return np.where(y > 0, y, alpha * np.expm1(np.minimum(y, 0.0)))
    if name not in ACTIVATIONS:
        raise Rejected("unknown activation " + name)
    return ACTIVATIONS[name](y)


def spatial_hw(shape, data_format):
    return (shape[2], shape[3]) if data_format == "channels_first" else (shape[1], shape[2])


def keras_geometry(in_hw, k_hw, strides, dilations, padding, ops):
    """Core form of tf.keras.layers.Conv2DTranspose.  ops: None or (op_h, op_w)."""
    keras_check_args(strides, dilations, ops)
    ax = [keras_core_axis(in_hw[i], k_hw[i], strides[i], dilations[i], padding,
                          None if ops is None else ops[i]) for i in range(2)]
    return (ax[0][1], ax[0][2], ax[1][1], ax[1][2]), (ax[0][3], ax[1][3])


def tf_nn_geometry(in_hw, k_hw, strides, dilations, padding, out_hw, explicit=None):
    """Core form of tf.nn.conv2d_transpose.  explicit: (t, b, l, r) for EXPLICIT."""
    ex = explicit if explicit is not None else (0, 0, 0, 0)
    ax = [tf_core_axis(in_hw[i], out_hw[i], k_hw[i], strides[i], dilations[i], padding,
                       (ex[2 * i], ex[2 * i + 1])) for i in range(2)]
    return (ax[0][0], ax[0][1], ax[1][0], ax[1][1]), (ax[0][2], ax[1][2])


def conv_transpose(x, w, bias=None, strides=(1, 1), dilations=(1, 1), form="keras",
                   padding="valid", output_padding=None, output_shape=None, explicit=None,
                   pads=None, adjust=(0, 0), groups=1, data_format="channels_last",
                   activation=None, alpha=None):
    """Every front end: 'keras', 'tf_nn' (output_shape (H, W), padding SAME|VALID|EXPLICIT),
    'core' (pads, adjust, groups).  y = activation(conv_transpose(x, w) + bias)."""
    in_hw = spatial_hw(np.shape(x), data_format)
    k_hw = np.shape(w)[:2]
    if form == "keras":
        pads, adjust = keras_geometry(in_hw, k_hw, strides, dilations, padding.lower(),
                                      output_padding)
        groups = 1
    elif form == "tf_nn":
        pads, adjust = tf_nn_geometry(in_hw, k_hw, strides, dilations, padding.upper(),
                                      output_shape, explicit)
        groups = 1
    elif form != "core":
        raise Rejected("unknown form " + form)
    y = conv_transpose_core(x, w, bias, strides, dilations, pads, adjust, groups, data_format)
    return activate(y, activation, alpha)


# ------------------------------------------------------------------------------------------
# Self-check: the scatter model is the adjoint of TF's conv2d (a gather), as TF defines it.
# ------------------------------------------------------------------------------------------
def conv2d_gather(y, w, strides, dilations, pads, in_hw, groups=1):
    """TF conv2d of y (N, OH, OW, G*FG) with w (kh, kw, FG, C) read as a forward kernel whose
    input depth is FG and output depth C: out[i] = sum_t y[i*s + t*d - pad_before] * w[t]."""
    N, OH, OW, _ = y.shape
    KH, KW, FG, C = w.shape
    Cg = C // groups
    out = np.zeros((N, in_hw[0], in_hw[1], C))
    for i in range(in_hw[0]):
        for j in range(in_hw[1]):
            for th in range(KH):
                oh = i * strides[0] + th * dilations[0] - pads[0]
                if not 0 <= oh < OH:
                    continue
                for tw in range(KW):
                    ow = j * strides[1] + tw * dilations[1] - pads[2]
                    if not 0 <= ow < OW:
                        continue
                    for g in range(groups):
                        out[:, i, j, g * Cg:(g + 1) * Cg] += \
                            y[:, oh, ow, g * FG:(g + 1) * FG] @ w[th, tw, :, g * Cg:(g + 1) * Cg]
    return out


def adjoint_check(rng, trials=20):
    """Returns the worst relative violation of <convT(x), y> = <x, conv2d(y)> over random cases."""
    worst = 0.0
    for _ in range(trials):
        G = int(rng.integers(1, 3))
        N, IH, IW = int(rng.integers(1, 3)), int(rng.integers(1, 5)), int(rng.integers(1, 5))
        KH, KW = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        s = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        d = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        C, FG = G * int(rng.integers(1, 3)), int(rng.integers(1, 3))
        FH, FW = full_length(IH, KH, s[0], d[0]), full_length(IW, KW, s[1], d[1])
        pt = int(rng.integers(0, FH))
        pb = int(rng.integers(0, FH - pt))
        pl = int(rng.integers(0, FW))
        pr = int(rng.integers(0, FW - pl))
        adj = (int(rng.integers(0, s[0])), int(rng.integers(0, s[1])))
        x = rng.standard_normal((N, IH, IW, C))
        w = rng.standard_normal((KH, KW, FG, C))
        yt = conv_transpose_core(x, w, None, s, d, (pt, pb, pl, pr), adj, G)
        yr = rng.standard_normal(yt.shape)
        lhs = float(np.sum(yt * yr))
        rhs = float(np.sum(x * conv2d_gather(yr, w, s, d, (pt, pb, pl, pr), (IH, IW), G)))
        worst = max(worst, abs(lhs - rhs) / (1e-12 + abs(lhs) + abs(rhs)))
    return worst


def naive_gather(x, w, bias, strides, dilations, pads, adjust, groups=1):
    """A second, deliberately naive form (NHWC, one output element at a time) for self-tests."""
    N, IH, IW, C = x.shape
    KH, KW, FG, _ = w.shape
    OH = full_length(IH, KH, strides[0], dilations[0]) - pads[0] - pads[1] + adjust[0]
    OW = full_length(IW, KW, strides[1], dilations[1]) - pads[2] - pads[3] + adjust[1]
    Cg = C // groups
    y = np.zeros((N, OH, OW, groups * FG))
    for n in range(N):
        for oh in range(OH):
            for ow in range(OW):
                for co in range(groups * FG):
                    g, f = divmod(co, FG)
                    acc = 0.0 if bias is None else float(bias[co])
                    for th in range(KH):
                        rh = oh + pads[0] - th * dilations[0]
                        if rh < 0 or rh % strides[0] or rh // strides[0] >= IH:
                            continue
                        for tw in range(KW):
                            rw = ow + pads[2] - tw * dilations[1]
                            if rw < 0 or rw % strides[1] or rw // strides[1] >= IW:
                                continue
                            for c in range(g * Cg, (g + 1) * Cg):
                                acc += x[n, rh // strides[0], rw // strides[1], c] * w[th, tw, f, c]
                    y[n, oh, ow, co] = acc
    return y


def _self_test():
    """Run as a script (tests/run.sh does): checks the oracle's internal consistency."""
    passed = failed = 0

    def check(cond, what):
        nonlocal passed, failed
        if cond:
            passed += 1
        else:
            failed += 1
            print("FAIL " + what)

    rng = np.random.default_rng(20240601)
    check(adjoint_check(rng, 30) < 1e-12, "adjoint identity <convT x, y> = <x, conv2d y>")
    for trial in range(25):
        G = int(rng.integers(1, 3))
        IH, IW = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        KH, KW = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        s = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        d = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        C, FG = G * int(rng.integers(1, 3)), int(rng.integers(1, 3))
        FH, FW = full_length(IH, KH, s[0], d[0]), full_length(IW, KW, s[1], d[1])
        pt = int(rng.integers(0, FH))
        pads = (pt, int(rng.integers(0, FH - pt)), 0, 0)
        adj = (int(rng.integers(0, s[0] + 1)), int(rng.integers(0, 2)))
        x = rng.standard_normal((2, IH, IW, C))
        w = rng.standard_normal((KH, KW, FG, C))
        b = rng.standard_normal(G * FG)
        a = conv_transpose_core(x, w, b, s, d, pads, adj, G)
        n = naive_gather(x, w, b, s, d, pads, adj, G)
        check(a.shape == n.shape and np.allclose(a, n, atol=1e-12), "scatter vs naive #%d" % trial)
        nchw = conv_transpose_core(x.transpose(0, 3, 1, 2), w, b, s, d, pads, adj, G,
                                   "channels_first")
        check(np.array_equal(nchw.transpose(0, 2, 3, 1), a), "NCHW vs NHWC #%d" % trial)
    # Keras 2 and Keras 3 length formulas agree; TF's accepted range matches its rule.
    for I in range(1, 8):
        for k in range(1, 6):
            for s in range(1, 5):
                for d in range(1, 4):
                    for pad in ("valid", "same"):
                        for op in [None] + list(range(s)):
                            check(keras2_output_length(I, k, s, d, pad, op)
                                  == keras3_output_length(I, k, s, d, pad, op),
                                  "keras2 vs keras3 length %s" % ((I, k, s, d, pad, op),))
                    for pad, ex in (("VALID", (0, 0)), ("SAME", (0, 0)), ("EXPLICIT", (1, 2)),
                                    ("EXPLICIT", (0, 3))):
                        F = full_length(I, k, s, d)
                        ok = []
                        for O in range(0, F + 2 * s + 2):
                            try:
                                tf_core_axis(I, O, k, s, d, pad, ex)
                                ok.append(O)
                            except Rejected:
                                pass
                        check(ok == tf_accepted_range(I, k, s, d, pad, ex),
                              "accepted range %s" % ((I, k, s, d, pad, ex),))
    # Worked examples from DESIGN.md / the research notes.
    check(tf_core_axis(4, 8, 3, 2, 1, "SAME") == (0, 1, 0), "k3 s2 I4 O8 SAME crops (0, 1)")
    check(keras_core_axis(28, 3, 2, 1, "same", None) == (56, 0, 1, 0), "seed use 1: 28 -> 56")
    check(keras_core_axis(3, 1, 3, 1, "same", None) == (9, 0, 0, 2), "k < s: bias-only tail")
    try:
        keras_core_axis(5, 4, 2, 1, "same", 0)
        check(False, "same, output_padding=0, even kernel must be refused by TF's check")
    except Rejected:
        check(True, "")
    check(torch_core_axis(4, 3, 2, 1, 1, 1) == (8, 1, 1, 1), "torch p=1 op=1")
    check(onnx_core_axis(4, 3, 2, 1, auto_pad="SAME_UPPER") == (8, 0, 1, 0), "onnx SAME_UPPER")
    check(onnx_core_axis(4, 3, 2, 1, auto_pad="SAME_LOWER") == (8, 1, 0, 0), "onnx SAME_LOWER")
    check(onnx_core_axis(4, 3, 2, 1, output_shape=8) == (8, 1, 0, 0), "onnx NOTSET output_shape")
    # Activations at a few points, by their definitions.
    z = np.array([-2.0, -0.5, 0.0, 0.5, 3.0, 7.0])
    check(np.allclose(ACTIVATIONS["relu6"](z), [0, 0, 0, 0.5, 3, 6]), "relu6")
    check(np.allclose(ACTIVATIONS["hard_sigmoid"](z), [0.1, 0.4, 0.5, 0.6, 1, 1]), "hard_sigmoid")
    check(np.allclose(ACTIVATIONS["leaky_relu"](z)[:2], [-0.4, -0.1]), "leaky_relu alpha 0.2")
    check(abs(ACTIVATIONS["gelu"](np.array([1.0]))[0] - 0.8413447460685429) < 1e-12, "gelu(1)")
    check(abs(ACTIVATIONS["selu"](np.array([-1.0]))[0] - (-1.1113307378125625)) < 1e-12, "selu")
    check(abs(ACTIVATIONS["softplus"](np.array([0.0]))[0] - math.log(2)) < 1e-15, "softplus")
    print("tfref: %d passed, %d failed" % (passed, failed))
    return failed == 0


if __name__ == "__main__":
    import sys
    sys.exit(0 if _self_test() else 1)
