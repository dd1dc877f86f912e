"""TensorFlow's own conv2d_transpose test vectors (tests/golden/tf_cases.json) through
`tconv apply` and through the float64 oracle tfref.py; both must reproduce TF's numbers.

Each case runs in the tf.nn form (--output-shape H,W and, for some, the 4-value form), and in
the Keras form as well whenever Keras's own output-length formula gives TF's output shape.
"""

import json
import os
import sys

import numpy as np

sys.dont_write_bytecode = True  # keep the source tree clean of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness  # noqa: E402
import tfref  # noqa: E402

REL = 1e-4


def close(got, want):
    return got.shape == want.shape and bool(np.all(np.abs(got - want) <= REL * (np.abs(want) + 1)))


def main():
    res = harness.Results("tf_goldens")
    with open(os.path.join(harness.ROOT, "tests", "golden", "tf_cases.json")) as fh:
        cases = json.load(fh)["cases"]
    res.check(len(cases) >= 17, "tf_cases.json has %d cases" % len(cases))

    # 1. The oracle reproduces every TF vector (checks tfref against TF, independent of tconv).
    for c in cases:
        x = np.array(c["input"]).reshape(c["input_shape"])
        f = np.array(c["filter"]).reshape(c["filter_shape"])
        want = np.array(c["expected"]).reshape(c["output_shape"])
        out_hw = tfref.spatial_hw(c["output_shape"], c["data_format"])
        y = tfref.conv_transpose(x, f, c["bias"], strides=c["strides"], form="tf_nn",
                                 padding=c["padding"], output_shape=out_hw,
                                 data_format=c["data_format"], activation=c["activation"])
        res.check(close(y, want), "oracle vs TF on %s (%s)" % (c["name"], c["test"]))

    # 2. The tool reproduces them.
    harness.require_tool(res)
    with harness.tempdir() as tmp:
        for c in cases:
            x = np.array(c["input"]).reshape(c["input_shape"])
            f = np.array(c["filter"]).reshape(c["filter_shape"])
            want = np.array(c["expected"]).reshape(c["output_shape"])
            df = c["data_format"]
            xp, fp, bp, yp = (os.path.join(tmp, n + ".npy") for n in ("x", "f", "b", "y"))
            harness.save(xp, x)
            harness.save(fp, f)
            common = ["--input", xp, "--kernel", fp, "-o", yp, "--strides", harness.csv(c["strides"]),
                      "--data-format", df]
            if c["bias"] is not None:
                harness.save(bp, c["bias"])
                common += ["--bias", bp]
            if c["activation"]:
                common += ["--activation", c["activation"]]
            out_hw = tfref.spatial_hw(c["output_shape"], df)
            variants = [("tf.nn output_shape H,W",
                         ["--padding", c["padding"], "--output-shape", harness.csv(out_hw)]),
                        ("tf.nn output_shape 4 values",
                         ["--padding", c["padding"].lower(), "--output-shape",
                          harness.csv(c["output_shape"])])]
            in_hw = tfref.spatial_hw(c["input_shape"], df)
            keras_hw = [tfref.keras3_output_length(in_hw[i], c["filter_shape"][i], c["strides"][i],
                                                   1, c["padding"].lower(), None) for i in (0, 1)]
            if list(keras_hw) == list(out_hw):
                variants.append(("keras form", ["--padding", c["padding"].lower()]))
            for label, extra in variants:
                if os.path.exists(yp):
                    os.remove(yp)
                rc, out, err = harness.run(["apply"] + common + extra)
                what = "%s [%s] (%s)" % (c["name"], label, c["test"])
                if not res.check(rc == 0, "%s: exit %d: %s" % (what, rc, err.strip())):
                    continue
                got = np.load(yp).astype(np.float64)
                ok = close(got, want)
                detail = ("shape %s vs %s" % (got.shape, want.shape) if got.shape != want.shape
                          else "max |diff| %.6g" % np.abs(got - want).max())
                res.check(ok, "%s: %s" % (what, detail))
    res.finish()


if __name__ == "__main__":
    main()
