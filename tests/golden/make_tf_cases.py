#!/usr/bin/python3
"""Writes tests/golden/tf_cases.json: TensorFlow's own test vectors for conv2d_transpose,
re-expressed as data (tconv's layouts: input NHWC or NCHW, filter (kh, kw, out, in)).

Two kinds of source:
  * tensorflow/python/kernel_tests/nn_ops/conv2d_transpose_test.py: all-ones input and filter;
    the expected value at each output position is a count of overlapping taps, which that test
    states as a rule per position.  The rule is restated here (our own code) to produce the
    expected array.
  * tensorflow/lite/kernels/transpose_conv_test.cc and
    tensorflow/lite/micro/kernels/transpose_conv_test.cc (tflite-micro): literal float arrays.
    TFLite filters are (out, kh, kw, in); they are re-laid out to (kh, kw, out, in) here.

The expected values are never computed with tfref.py or tconv: they are TF's numbers.
Run: /usr/bin/python3 tests/golden/make_tf_cases.py  (rewrites the JSON; commit it).
"""

import json
import os

import numpy as np

PY_TEST = "tensorflow/tensorflow: tensorflow/python/kernel_tests/nn_ops/conv2d_transpose_test.py"
LITE_TEST = "tensorflow/tensorflow: tensorflow/lite/kernels/transpose_conv_test.cc"
MICRO_TEST = "tensorflow/tflite-micro: tensorflow/lite/micro/kernels/transpose_conv_test.cc"


def flat(a):
    return [float(v) for v in np.asarray(a, dtype=np.float64).ravel()]


def case(name, source, test, x, f, strides, padding, out_shape, expected, bias=None,
         data_format="channels_last", activation=None, note=""):
    x = np.asarray(x, dtype=np.float64)
    f = np.asarray(f, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert expected.size == int(np.prod(out_shape)), name
    return {
        "name": name, "source": source, "test": test, "note": note,
        "data_format": data_format, "strides": list(strides), "padding": padding,
        "input_shape": list(x.shape), "input": flat(x),
        "filter_shape": list(f.shape), "filter": flat(f),
        "bias": None if bias is None else flat(bias),
        "activation": activation,
        "output_shape": list(out_shape), "expected": flat(expected.reshape(out_shape)),
    }


# --- conv2d_transpose_test.py: the counting rules, per output position --------------------
def single_stride_rule(y_hw):
    """testConv2DTransposeSingleStride: 4*3, plus 5*3 inside both axes, plus 2*3 inside one."""
    H, W = y_hw
    t = np.zeros((H, W))
    for h in range(H):
        for w in range(W):
            h_in, w_in = 0 < h < H - 1, 0 < w < W - 1
            t[h, w] = 12 + (15 if h_in and w_in else 6 if h_in or w_in else 0)
    return t


def same_rule(y_hw, s):
    """testConv2DTransposeSame: 3, plus 9 where both axes are interior multiples of the stride,
    plus 3 where one is."""
    H, W = y_hw
    t = np.zeros((H, W))
    for h in range(H):
        for w in range(W):
            h_in = h % s == 0 and 0 < h < H - 1
            w_in = w % s == 0 and 0 < w < W - 1
            t[h, w] = 3 + (9 if h_in and w_in else 3 if h_in or w_in else 0)
    return t


def valid_rule(y_hw, s, pad=1):
    """testConv2DTransposeValid: the same rule on the interior (pad = 1), then the first and
    last rows/columns copied from their neighbours."""
    H, W = y_hw
    t = np.zeros((H, W))
    for w in range(pad, W - pad):
        for h in range(pad, H - pad):
            h_in = h % s == 0 and pad < h < H - 1 - pad
            w_in = w % s == 0 and pad < w < W - 1 - pad
            t[h, w] = 3 + (9 if h_in and w_in else 3 if h_in or w_in else 0)
    t[:, 0] = t[:, 1]
    t[:, -1] = t[:, -2]
    t[0, :] = t[1, :]
    t[-1, :] = t[-2, :]
    return t


def python_cases():
    out = []
    for nchw in (False, True):
        df = "channels_first" if nchw else "channels_last"
        sfx = "NCHW" if nchw else ""
        for test, s, pad, yhw, rule in (
                ("testConv2DTransposeSingleStride", 1, "SAME", (6, 4), single_stride_rule((6, 4))),
                ("testConv2DTransposeSame", 2, "SAME", (12, 8), same_rule((12, 8), 2)),
                ("testConv2DTransposeValid", 2, "VALID", (13, 9), valid_rule((13, 9), 2))):
            x = np.ones((2, 3, 6, 4) if nchw else (2, 6, 4, 3))
            f = np.ones((3, 3, 2, 3))
            if nchw:
                y = np.broadcast_to(rule[None, None], (2, 2) + yhw)
                shape = (2, 2) + yhw
            else:
                y = np.broadcast_to(rule[None, :, :, None], (2,) + yhw + (2,))
                shape = (2,) + yhw + (2,)
            out.append(case("py_" + test[len("testConv2DTranspose"):] + sfx, PY_TEST, test + sfx,
                            x, f, (s, s), pad, shape, y, data_format=df,
                            note="all-ones input and filter; expected = the test's overlap-count"
                                 " rule"))
    return out


# --- transpose_conv_test.cc (TFLite) and tflite-micro: literal arrays -------------------------
def lite_filter(values, ohwi):
    """TFLite (out, kh, kw, in) -> TF (kh, kw, out, in)."""
    return np.asarray(values, dtype=np.float64).reshape(ohwi).transpose(1, 2, 0, 3)


def lite_cases():
    r = []
    ar16 = np.arange(1, 17).reshape(1, 4, 4, 1)
    ar32 = np.arange(1, 33).reshape(1, 4, 4, 2)
    f9 = lite_filter(range(1, 10), (1, 3, 3, 1))
    f18 = lite_filter(range(1, 19), (1, 3, 3, 2))
    fmc = lite_filter([1, 3, 5, 7, 9, 11, 13, 15, 17, 2, 4, 6, 8, 10, 12, 14, 16, 18], (2, 3, 3, 1))
    r.append(case("lite_SimpleTest", LITE_TEST, "TransposeConvOpTest.SimpleTest", ar16, f9,
                  (1, 1), "SAME", (1, 4, 4, 1),
                  [29, 62, 83, 75, 99, 192, 237, 198, 207, 372, 417, 330, 263, 446, 485, 365]))
    r.append(case("lite_TwoFiltersTest", LITE_TEST, "TransposeConvOpTest.TwoFiltersTest", ar32,
                  f18, (1, 1), "SAME", (1, 4, 4, 1),
                  [184, 412, 568, 528, 678, 1347, 1689, 1434, 1494, 2715, 3057, 2442, 1968, 3352,
                   3652, 2760]))
    r.append(case("lite_PaddingValidTest", LITE_TEST, "TransposeConvOpTest.PaddingValidTest", ar32,
                  f18, (1, 1), "VALID", (1, 6, 6, 1),
                  [5, 22, 59, 101, 114, 83, 52, 184, 412, 568, 528, 344, 237, 678, 1347, 1689,
                   1434, 879, 597, 1494, 2715, 3057, 2442, 1431, 856, 1968, 3352, 3652, 2760, 1548,
                   689, 1534, 2543, 2729, 2010, 1103]))
    r.append(case("lite_StrideValidTest", LITE_TEST, "TransposeConvOpTest.StrideValidTest",
                  np.arange(1, 5).reshape(1, 2, 2, 1), f9, (2, 2), "VALID", (1, 5, 5, 1),
                  [1, 2, 5, 4, 6, 4, 5, 14, 10, 12, 10, 14, 36, 24, 30, 12, 15, 34, 20, 24, 21, 24,
                   55, 32, 36]))
    mc_expected = [1, 2, 3, 4, 7, 10, 6, 8, 10, 12, 7, 8, 9, 10, 25, 28, 18, 20, 22, 24, 16, 20,
                   24, 28, 62, 72, 42, 48, 54, 60, 21, 24, 27, 30, 61, 68, 36, 40, 44, 48, 39, 42,
                   45, 48, 103, 110, 60, 64, 68, 72]
    r.append(case("lite_MultiChannelTest", LITE_TEST, "TransposeConvOpTest.MultiChannelTest",
                  np.arange(1, 5).reshape(1, 2, 2, 1), fmc, (2, 2), "VALID", (1, 5, 5, 2),
                  mc_expected))
    r.append(case("lite_AccuracyTest", LITE_TEST, "TransposeConvOpTest.AccuracyTest",
                  np.array([323, 521]).reshape(1, 1, 2, 1),
                  lite_filter([9, 5, 6, 9, 8, 5, 3, 1, 4], (1, 3, 3, 1)), (3, 3), "SAME",
                  (1, 3, 4, 1),
                  [1615, 1938, 4689, 2605, 2584, 1615, 4689, 4168, 323, 1292, 1563, 521],
                  note="k = s = 3; H: F = O = 3, no crop; W: F = 6, O = 4, SAME crops 1 and 1"))
    r.append(case("lite_MultiChannelBiasTest", LITE_TEST,
                  "TransposeConvOpTest.MultiChannelBiasTest",
                  np.arange(1, 5).reshape(1, 2, 2, 1), fmc, (2, 2), "VALID", (1, 5, 5, 2),
                  [4, 6, 6, 8, 10, 14, 9, 12, 13, 16, 10, 12, 12, 14, 28, 32, 21, 24, 25, 28, 19,
                   24, 27, 32, 65, 76, 45, 52, 57, 64, 24, 28, 30, 34, 64, 72, 39, 44, 47, 52, 42,
                   46, 48, 52, 106, 114, 63, 68, 71, 76], bias=[3, 4],
                  note="the test's comment: keras Conv2DTranspose(2, 3x3, strides 2, 'valid')"))
    # tflite-micro: float tests, two with a fused ReLU.
    r.append(case("micro_SimpleTestFloat", MICRO_TEST, "SimpleTestFloat", ar32, f18, (1, 1),
                  "SAME", (1, 4, 4, 1),
                  [184, 412, 568, 528, 678, 1347, 1689, 1434, 1494, 2715, 3057, 2442, 1968, 3352,
                   3652, 2760], bias=[0]))
    r.append(case("micro_fusedRELUTest", MICRO_TEST, "fusedRELUTest",
                  np.array([1, 2, -3, -4, 5, 6, -7, -8, 9, 10, -11, -12, 13, 14, 15, 16])
                  .reshape(1, 4, 4, 1), f9, (1, 1), "SAME", (1, 4, 4, 1),
                  [29, 24, 0, 0, 99, 72, 0, 0, 207, 186, 0, 0, 263, 292, 141, 0], bias=[0],
                  activation="relu"))
    r.append(case("micro_AccuracyWithFusedActivationTest", MICRO_TEST,
                  "AccuracyWithFusedActivationTest", np.array([323, -521]).reshape(1, 1, 2, 1),
                  lite_filter([9, 5, 6, 9, 8, 5, 3, 1, 4], (1, 3, 3, 1)), (3, 3), "SAME",
                  (1, 3, 4, 1), [1615, 1938, 0, 0, 2584, 1615, 0, 0, 323, 1292, 0, 0], bias=[0],
                  activation="relu"))
    r.append(case("micro_MultiChannelBiasWithFusedActivationTest", MICRO_TEST,
                  "MultiChannelBiasWithFusedActivationTest",
                  np.array([1, 2, -3, 4]).reshape(1, 2, 2, 1), fmc, (2, 2), "VALID", (1, 5, 5, 2),
                  [4, 6, 6, 8, 10, 14, 9, 12, 13, 16, 10, 12, 12, 14, 28, 32, 21, 24, 25, 28, 13,
                   12, 9, 8, 35, 40, 45, 52, 57, 64, 0, 0, 0, 0, 0, 0, 39, 44, 47, 52, 0, 0, 0, 0,
                   4, 6, 63, 68, 71, 76], bias=[3, 4], activation="relu"))
    return r


def main():
    cases = python_cases() + lite_cases()
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tf_cases.json")
    with open(path, "w") as fh:
        json.dump({"comment": "TensorFlow's conv2d_transpose test vectors; written by "
                              "make_tf_cases.py.  filter layout (kh, kw, out, in); arrays are "
                              "flat, C order; output_shape in data_format order.",
                   "cases": cases}, fh, indent=None, separators=(",", ":"))
        fh.write("\n")
    print("wrote %d cases to %s" % (len(cases), path))


if __name__ == "__main__":
    main()
