"""Shared helpers for the oracle tests: locate and run the tconv tool, count results.

Lives in tests/oracle/lib/ so that tests/run.sh (which runs tests/oracle/*.py) does not run it.
"""

import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TCONV = os.environ.get("TCONV") or os.path.join(ROOT, "build", "tconv")


class Results:
    """Counts checks and prints the runner line "<label>: N passed, M failed" at the end."""

    def __init__(self, label, max_reports=40):
        self.label, self.passed, self.failed = label, 0, 0
        self.max_reports, self.reports = max_reports, 0

    def check(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            self.reports += 1
            if self.reports <= self.max_reports:
                print("FAIL %s" % what)
            elif self.reports == self.max_reports + 1:
                print("(further failures not shown)")
        return cond

    def finish(self):
        print("%s: %d passed, %d failed" % (self.label, self.passed, self.failed))
        sys.exit(1 if self.failed else 0)


def tool_present():
    return os.path.isfile(TCONV) and os.access(TCONV, os.X_OK)


def require_tool(res):
    """A missing tool is a failure, not a skip: the suite must not pass without it."""
    if not tool_present():
        res.check(False, "tconv tool not found at %s (set TCONV or build it)" % TCONV)
        res.finish()


def run(args, timeout=60, env=None):
    """Runs tconv with args (strings) and extra environment variables; returns
    (returncode, stdout, stderr)."""
    full_env = None
    if env:
        full_env = dict(os.environ)
        full_env.update(env)
    p = subprocess.run([TCONV] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout, env=full_env)
    return p.returncode, p.stdout, p.stderr


def csv(values):
    return ",".join(str(int(v)) for v in values)


def save(path, array):
    np.save(path, np.ascontiguousarray(array, dtype=np.float32))


def tempdir():
    return tempfile.TemporaryDirectory(prefix="tconv-oracle-")


def one_line_error(rc, out, err):
    """A failed command: non-zero status and exactly one non-empty line on stderr."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    return rc != 0 and len(lines) == 1


# ---- random configurations (test_apply_random.py, test_grad.py) ----------------------------

# Every activation the tool's --activation takes.
ACTIVATIONS = ["relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "gelu_tanh", "sigmoid",
               "hard_sigmoid", "tanh", "softplus", "softsign", "swish", "silu", "exponential",
               "linear"]


def ri(rng, lo, hi):
    """A uniform integer in [lo, hi] from a numpy Generator."""
    return int(rng.integers(lo, hi + 1))


def random_tf_nn(rng, in_hw, k_hw, s, d, padding, tfref):
    """A random tf.nn form for this padding: (explicit pads T,B,L,R or None, output (H, W)) with
    every output size one TF accepts.  tfref is the caller's reference module (passed in: this
    file does not know where tests/oracle/tfref.py is imported from)."""
    (IH, IW), (KH, KW) = in_hw, k_hw
    ex = None
    if padding == "EXPLICIT":
        ex = []
        for I, k, st, dl in ((IH, KH, s[0], d[0]), (IW, KW, s[1], d[1])):
            F = tfref.full_length(I, k, st, dl)
            a = ri(rng, 0, min(F - 1, tfref.k_eff(k, dl)))
            b = ri(rng, 0, min(F - 1 - a, tfref.k_eff(k, dl)))
            ex += [a, b]
    out_hw = []
    for ax, (I, k, st, dl) in enumerate(((IH, KH, s[0], d[0]), (IW, KW, s[1], d[1]))):
        pair = (0, 0) if ex is None else (ex[2 * ax], ex[2 * ax + 1])
        choices = [o for o in tfref.tf_accepted_range(I, k, st, dl, padding, pair) if o >= 1]
        out_hw.append(choices[ri(rng, 0, len(choices) - 1)])
    return ex, out_hw
