"""`tconv shape --json` against the Keras / TF / PyTorch / ONNX shape formulas (tfref.py).

1. tests/golden/shapes.tsv is exactly what tests/golden/make_shapes.py produces from the formulas
   (so the C test that reads it checks the same numbers).
2. The tool on the table's rows: every Keras row (the full grid I 1..9, k 1..5, s 1..4, d 1..3,
   valid/same, output_padding None and 0..s-1) and a deterministic sample of the tf.nn and core
   rows: output shape, core form (pads, adjust), and the PyTorch/ONNX translations it prints.
3. --from torch and --from onnx over their own grids, against their formulas; the translations
   printed for TF layers are fed back through --from torch/onnx and must give the same layer.
"""

import concurrent.futures
import json
import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean of __pycache__
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "golden"))
import harness  # noqa: E402
import make_shapes  # noqa: E402
import tfref  # noqa: E402

SAMPLE_EVERY = 4  # tf.nn and core rows: every 4th through the CLI (the C test reads them all)
WORKERS = max(2, os.cpu_count() or 2)


def run_many(jobs):
    """jobs: list of (args, payload); returns [(payload, rc, out, err)] in order."""
    def one(job):
        rc, out, err = harness.run(job[0])
        return job[1], rc, out, err
    with concurrent.futures.ThreadPoolExecutor(WORKERS) as ex:
        return list(ex.map(one, jobs))


def parse_json(out):
    try:
        return json.loads(out)
    except ValueError:
        return None


def expected_torch(pads, adjust, strides, dilations):
    """PyTorch (padding, output_padding) of a core form, or None if symmetric padding cannot
    express it: torch crops p at the start and p - op at the end, op < max(s, d)."""
    p, op = [], []
    for a in range(2):
        pb, pe, adj = pads[2 * a], pads[2 * a + 1], adjust[a]
        o = pb - pe + adj
        if not 0 <= o < max(strides[a], dilations[a]):
            return None
        p.append(pb)
        op.append(o)
    return {"padding": p, "output_padding": op}


def row_args(r):
    args = ["shape", "--json", "--input-shape", "1,%d,%d,2" % (r["in_h"], r["in_w"]),
            "--kernel-shape", "%d,%d,3,2" % (r["k_h"], r["k_w"]),
            "--strides", "%d,%d" % (r["s_h"], r["s_w"]),
            "--dilation", "%d,%d" % (r["d_h"], r["d_w"])]
    if r["form"] == "keras":
        args += ["--padding", r["padding"]]
        if r["op_h"] >= 0:
            args += ["--output-padding", "%d,%d" % (r["op_h"], r["op_w"])]
    elif r["form"] == "tf_nn":
        args += ["--padding", r["padding"].upper(), "--output-shape",
                 "%d,%d" % (r["req_h"], r["req_w"])]
        if r["padding"] == "explicit":
            args += ["--explicit-padding",
                     "%d,%d,%d,%d" % (r["pad_t"], r["pad_b"], r["pad_l"], r["pad_r"])]
    else:
        args += ["--pads", "%d,%d,%d,%d" % (r["pad_t"], r["pad_b"], r["pad_l"], r["pad_r"]),
                 "--adjust", "%d,%d" % (r["adj_h"], r["adj_w"])]
    return args


def load_table(path):
    rows = []
    with open(path) as fh:
        lines = [ln.rstrip("\n") for ln in fh if not ln.startswith("#")]
    cols = lines[0].split("\t")
    for ln in lines[1:]:
        vals = ln.split("\t")
        r = {}
        for c, v in zip(cols, vals):
            r[c] = v if c in ("form", "padding", "status") else int(v)
        rows.append(r)
    return rows


def check_ok_json(res, what, rc, out, err, shape, pads, adjust, strides, dilations):
    if not res.check(rc == 0, "%s: exit %d: %s" % (what, rc, err.strip())):
        return None
    j = parse_json(out)
    if not res.check(j is not None, "%s: output is not JSON: %r" % (what, out)):
        return None
    res.check(j.get("output_shape") == list(shape),
              "%s: output_shape %s, want %s" % (what, j.get("output_shape"), list(shape)))
    res.check(j.get("pads") == list(pads), "%s: pads %s, want %s" % (what, j.get("pads"), list(pads)))
    res.check(j.get("adjust") == list(adjust),
              "%s: adjust %s, want %s" % (what, j.get("adjust"), list(adjust)))
    want_t = expected_torch(pads, adjust, strides, dilations)
    res.check(j.get("torch") == want_t, "%s: torch %s, want %s" % (what, j.get("torch"), want_t))
    want_o = {"pads": [pads[0], pads[2], pads[1], pads[3]], "output_padding": list(adjust)}
    res.check(j.get("onnx") == want_o, "%s: onnx %s, want %s" % (what, j.get("onnx"), want_o))
    return j


def table_checks(res):
    path = os.path.join(harness.ROOT, "tests", "golden", "shapes.tsv")
    with open(path) as fh:
        committed = fh.read()
    res.check(committed == make_shapes.render(make_shapes.all_rows()),
              "tests/golden/shapes.tsv differs from make_shapes.py's output (regenerate it)")
    rows = load_table(path)
    res.check(len(rows) > 4000, "shapes.tsv has %d rows" % len(rows))
    jobs, counter = [], {}
    for r in rows:
        if r["form"] != "keras":
            counter[r["form"]] = counter.get(r["form"], 0) + 1
            if counter[r["form"]] % SAMPLE_EVERY:
                continue
        jobs.append((row_args(r), r))
    translations = []
    for r, rc, out, err in run_many(jobs):
        what = "shapes.tsv %s" % " ".join(row_args(r)[1:])
        if r["status"] == "error":
            res.check(harness.one_line_error(rc, out, err),
                      "%s: TF/Keras refuse it; tconv exit %d, out %r, err %r" % (what, rc, out, err))
            continue
        pads = (r["g_pad_t"], r["g_pad_b"], r["g_pad_l"], r["g_pad_r"])
        adjust = (r["g_adj_h"], r["g_adj_w"])
        j = check_ok_json(res, what, rc, out, err, (1, r["out_h"], r["out_w"], 3), pads, adjust,
                          (r["s_h"], r["s_w"]), (r["d_h"], r["d_w"]))
        if j is not None:
            translations.append((r, j))
    return translations


def roundtrip_checks(res, translations):
    """The PyTorch/ONNX arguments tconv prints for a TF layer describe the same layer."""
    jobs = []
    for r, j in translations[::3]:
        base = ["shape", "--json", "--input-shape", "1,%d,%d,2" % (r["in_h"], r["in_w"]),
                "--kernel-shape", "%d,%d,3,2" % (r["k_h"], r["k_w"]),
                "--strides", "%d,%d" % (r["s_h"], r["s_w"]),
                "--dilation", "%d,%d" % (r["d_h"], r["d_w"])]
        if j.get("torch"):
            t = j["torch"]
            args = base + ["--from", "torch", "--padding", harness.csv(t["padding"]),
                           "--output-padding", harness.csv(t["output_padding"])]
            jobs.append((args, (args, j)))
        o = j["onnx"]
        args = base + ["--from", "onnx", "--pads", harness.csv(o["pads"]),
                       "--output-padding", harness.csv(o["output_padding"])]
        jobs.append((args, (args, j)))
    for (args, j), rc, out, err in run_many(jobs):
        got = parse_json(out) if rc == 0 else None
        # The core form is not unique: y[o] = full[o + pb] (bias only past F), so (pb, pe, a) and
        # (pb, pe + 1, a + 1) are the same layer.  Compare what defines it: the output shape and
        # the start crops.
        same = (got is not None and got.get("output_shape") == j.get("output_shape")
                and got.get("pads", [None] * 4)[0::2] == j["pads"][0::2])
        res.check(same, "round trip %s: exit %d, got %s, want %s (%s)"
                  % (" ".join(args[1:]), rc, out.strip(), j, err.strip()))


def torch_checks(res):
    per_axis = []
    for I in range(1, 7):
        for k in range(1, 5):
            for s in range(1, 4):
                for d in (1, 2):
                    for p in range(0, 3):
                        for op in range(0, max(s, d) + 1):  # op == max(s, d) is refused
                            per_axis.append((I, k, s, d, p, op))
    jobs = []
    for i in range(0, len(per_axis), 2):
        h = per_axis[i]
        w = per_axis[(i + 1) % len(per_axis)]
        try:
            hh, ww = tfref.torch_core_axis(*h), tfref.torch_core_axis(*w)
            want = (hh, ww)
        except tfref.Rejected:
            want = None
        args = ["shape", "--json", "--from", "torch", "--input-shape", "2,%d,%d,3" % (h[0], w[0]),
                "--kernel-shape", "%d,%d,4,3" % (h[1], w[1]), "--strides", "%d,%d" % (h[2], w[2]),
                "--dilation", "%d,%d" % (h[3], w[3]), "--padding", "%d,%d" % (h[4], w[4]),
                "--output-padding", "%d,%d" % (h[5], w[5])]
        jobs.append((args, (h, w, want)))
    skipped = 0
    for (h, w, want), rc, out, err in run_many(jobs):
        what = "torch h=%s w=%s (I, k, s, d, p, op)" % (h, w)
        if want is None:
            # PyTorch refuses op >= max(s, d) and outputs < 1.  tconv's core form allows an
            # empty output (O = 0), so only the output_padding rule and O < 0 are asserted.
            op_bad = h[5] >= max(h[2], h[3]) or w[5] >= max(w[2], w[3])
            o_h = (h[0] - 1) * h[2] - 2 * h[4] + h[3] * (h[1] - 1) + h[5] + 1
            o_w = (w[0] - 1) * w[2] - 2 * w[4] + w[3] * (w[1] - 1) + w[5] + 1
            if op_bad or min(o_h, o_w) < 0:
                res.check(harness.one_line_error(rc, out, err),
                          "%s: PyTorch refuses it; tconv exit %d, err %r" % (what, rc, err))
            else:
                skipped += 1
            continue
        (oh, pth, peh, ah), (ow, ptw, pew, aw) = want
        check_ok_json(res, what, rc, out, err, (2, oh, ow, 4), (pth, peh, ptw, pew), (ah, aw),
                      (h[2], w[2]), (h[3], w[3]))
    return skipped


def onnx_checks(res):
    cases = []
    for I in range(1, 6):
        for k in range(1, 5):
            for s in range(1, 4):
                for d in (1, 2):
                    ke = tfref.k_eff(k, d)
                    for op in range(0, s):
                        cases.append((I, k, s, d, op, dict(pads=(op % 2, (I + k) % 3))))
                        cases.append((I, k, s, d, op, dict(auto_pad="VALID")))
                        for ap in ("SAME_UPPER", "SAME_LOWER"):
                            if ke - s + op >= 0:  # T < 0: spec text and shape inference disagree
                                cases.append((I, k, s, d, op, dict(auto_pad=ap)))
                        F = tfref.full_length(I, k, s, d) + op
                        for ap in ("NOTSET", "SAME_UPPER", "SAME_LOWER"):
                            for O in (F, F - 1, F - 3, F + 1):
                                if O >= 0:
                                    cases.append((I, k, s, d, op, dict(auto_pad=ap, output_shape=O)))
    jobs = []
    for i in range(0, len(cases), 2):
        h, w = cases[i], cases[(i + 1) % len(cases)]
        # both axes share auto_pad and the presence of pads / output_shape: pair like with like
        if set(h[5]) != set(w[5]) or h[5].get("auto_pad") != w[5].get("auto_pad"):
            w = h
        kw = h[5]
        try:
            hh = tfref.onnx_core_axis(*h[:5], **h[5])
            ww = tfref.onnx_core_axis(*w[:5], **w[5])
            want = (hh, ww)
        except tfref.Rejected:
            want = None
        args = ["shape", "--json", "--from", "onnx", "--input-shape", "1,%d,%d,2" % (h[0], w[0]),
                "--kernel-shape", "%d,%d,3,2" % (h[1], w[1]), "--strides", "%d,%d" % (h[2], w[2]),
                "--dilation", "%d,%d" % (h[3], w[3]), "--output-padding", "%d,%d" % (h[4], w[4])]
        if "pads" in kw:  # ONNX order: h_begin, w_begin, h_end, w_end
            args += ["--pads", "%d,%d,%d,%d" % (h[5]["pads"][0], w[5]["pads"][0], h[5]["pads"][1],
                                                w[5]["pads"][1])]
        if kw.get("auto_pad"):
            args += ["--auto-pad", kw["auto_pad"]]
        if "output_shape" in kw:
            args += ["--output-shape", "%d,%d" % (h[5]["output_shape"], w[5]["output_shape"])]
        jobs.append((args, (h, w, want)))
    for (h, w, want), rc, out, err in run_many(jobs):
        what = "onnx h=%s w=%s" % (h, w)
        if want is None:
            res.check(harness.one_line_error(rc, out, err),
                      "%s: refused by the formulas; tconv exit %d, out %r" % (what, rc, out))
            continue
        (oh, pth, peh, ah), (ow, ptw, pew, aw) = want
        check_ok_json(res, what, rc, out, err, (1, oh, ow, 3), (pth, peh, ptw, pew), (ah, aw),
                      (h[2], w[2]), (h[3], w[3]))


def main():
    res = harness.Results("shape_table", max_reports=30)
    harness.require_tool(res)
    translations = table_checks(res)
    roundtrip_checks(res, translations)
    skipped = torch_checks(res)
    onnx_checks(res)
    if skipped:
        print("torch: %d configurations with an empty output (PyTorch refuses O = 0; tconv's core "
              "form allows it) not asserted" % skipped)
    res.finish()


if __name__ == "__main__":
    main()
