"""A tiny check harness: one line per check, then "N passed, N failed"."""
import sys
import time
import traceback

import numpy as np

_results = {"passed": 0, "failed": 0}


def check(name, fn):
    t = time.time()
    try:
        detail = fn()
        ok = detail is None or detail is True or (isinstance(detail, str))
        msg = detail if isinstance(detail, str) else ""
    except AssertionError as e:
        ok, msg = False, "assertion: %s" % e
    except Exception as e:  # noqa: BLE001
        ok, msg = False, "%s: %s" % (type(e).__name__, e)
        traceback.print_exc(file=sys.stderr)
    _results["passed" if ok else "failed"] += 1
    print("%s %s (%.1fs)%s" % ("PASS" if ok else "FAIL", name, time.time() - t, (" - " + msg) if msg else ""),
          flush=True)
    return ok


def finish():
    print("%d passed, %d failed" % (_results["passed"], _results["failed"]), flush=True)
    sys.exit(1 if _results["failed"] else 0)


def to_np(x):
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def numeric_precision(a, b):
    a = to_np(a).astype(np.float64)
    b = to_np(b).astype(np.float64)
    return float(np.mean(np.abs(a - b) / (np.maximum(np.abs(a), np.abs(b)) + 1e-5)))


def assert_fp32_close(got, want, what="output"):
    """The fp32 rule: rtol 1e-4 / atol 1e-5, or numeric_precision <= 1e-4."""
    g, w = to_np(got), to_np(want)
    assert g.shape == w.shape, "%s shape %s, expected %s" % (what, g.shape, w.shape)
    assert g.dtype == w.dtype, "%s dtype %s, expected %s" % (what, g.dtype, w.dtype)
    if np.allclose(g, w, rtol=1e-4, atol=1e-5):
        return
    npv = numeric_precision(g, w)
    assert npv <= 1e-4, "%s differs: max abs %.3g, numeric_precision %.3g" % (what, np.max(np.abs(g - w)), npv)


class LogCapture:
    """Collects what the 'speedster' logger emits (it still prints too)."""

    def __init__(self):
        import logging
        self.lines = []
        outer = self

        class H(logging.Handler):
            def emit(self, record):
                outer.lines.append(record.getMessage())

        self.h = H()
        self.logger = logging.getLogger("speedster")

    def __enter__(self):
        self.logger.addHandler(self.h)
        return self

    def __exit__(self, *a):
        self.logger.removeHandler(self.h)

    @property
    def text(self):
        return "\n".join(self.lines)
