#!/usr/bin/python3
"""Run `speedster run` on exported models and compare with PyTorch's outputs.

usage: compare_models.py SPEEDSTER_BIN MODELS_DIR [names...]

MODELS_DIR is export_models.py's OUT_DIR.  A model passes when every output
satisfies np.allclose(actual, expected, rtol=1e-4, atol=1e-5), expected being
PyTorch's fp32 output.  Each line also gives, as a yardstick, the error of
speedster and of PyTorch fp32 against the same model run in float64, so that a
failure can be told apart: an engine bug (speedster far worse than PyTorch) or
fp32 rounding (both of the same size).  Ends with "N passed, N failed"; exits 1
when any model failed.
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
from onnx import numpy_helper

RTOL, ATOL = 1e-4, 1e-5
RUN_TIMEOUT_S = 900


def load_tensor(path):
    if path.endswith(".npy"):
        return np.load(path)
    return numpy_helper.to_array(onnx.load_tensor(path))


def numbered(d, prefix, exts):
    """{K: path} for prefix_K.ext in d, preferring the first ext listed."""
    found = {}
    for ext in reversed(exts):
        for p in glob.glob(os.path.join(d, "%s_*.%s" % (prefix, ext))):
            k = os.path.basename(p)[len(prefix) + 1:-len(ext) - 1]
            if k.isdigit():
                found[int(k)] = p
    return found


def errors(actual, expected):
    """max abs error, max rel error (over nonzero expected), count of elements
    violating allclose, and the largest |a-e| / (atol + rtol*|e|)."""
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    d = np.abs(a - e)
    nz = e != 0
    max_rel = float(np.max(d[nz] / np.abs(e[nz]))) if nz.any() else 0.0
    band = ATOL + RTOL * np.abs(e)
    viol = ~(d <= band)  # NaN counts as a violation
    # how much of the allowed band the worst element uses: < 1 passes
    use = float(np.max(d / band)) if d.size else 0.0
    return float(np.max(d)) if d.size else 0.0, max_rel, int(viol.sum()), use


def compare(bin_path, mdir):
    name = os.path.basename(mdir.rstrip("/"))
    ddir = os.path.join(mdir, "test_data_set_0")
    expected = numbered(ddir, "output", ["pb"])
    if not expected or not os.path.exists(os.path.join(mdir, ".stamp")):
        return False, "%-16s FAIL not exported (no .stamp or outputs in %s)" % (name, mdir)
    out = tempfile.mkdtemp(prefix="spd-cmp-%s-" % name)
    try:
        t0 = time.time()
        try:
            p = subprocess.run([bin_path, "run", os.path.join(mdir, "model.onnx"),
                                "-i", ddir, "-o", out],
                               capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return False, "%-16s FAIL speedster run timed out after %d s" % (name, RUN_TIMEOUT_S)
        secs = time.time() - t0
        if p.returncode != 0:
            msg = (p.stderr.strip().splitlines() or ["(no message)"])[-1]
            return False, "%-16s FAIL speedster run exit %d: %s" % (name, p.returncode, msg)
        got = numbered(out, "output", ["npy", "pb"])
        ref64 = numbered(os.path.join(mdir, "reference_fp64"), "output", ["npy"])
        ok, parts = True, []
        for k in sorted(expected):
            if k not in got:
                ok = False
                parts.append("output_%d missing" % k)
                continue
            e, a = load_tensor(expected[k]), load_tensor(got[k])
            if a.shape != e.shape or a.dtype != e.dtype:
                ok = False
                parts.append("output_%d is %s %s, expected %s %s"
                             % (k, a.dtype, list(a.shape), e.dtype, list(e.shape)))
                continue
            mabs, mrel, nviol, use = errors(a, e)
            txt = "out%d max_abs %.2e max_rel %.2e band %.2f viol %d/%d" % (
                k, mabs, mrel, use, nviol, e.size)
            if nviol:
                ok = False
                # the worst offender, by how far past the allowed band it is
                d = np.abs(a.astype(np.float64) - e) - (ATOL + RTOL * np.abs(e.astype(np.float64)))
                i = int(np.nanargmax(np.where(np.isnan(d), np.inf, d)))
                txt += " (worst [%d]: got %.7g want %.7g)" % (i, a.flat[i], e.flat[i])
            if k in ref64:
                r = np.load(ref64[k])
                s64 = errors(a, r)
                t64 = errors(e, r)
                txt += "; vs fp64: speedster max_abs %.2e viol %d, pytorch-fp32 max_abs %.2e viol %d" % (
                    s64[0], s64[2], t64[0], t64[2])
            parts.append(txt)
        return ok, "%-16s %s %s [%.1f s]" % (name, "PASS" if ok else "FAIL", "; ".join(parts), secs)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main(argv):
    if len(argv) < 3:
        print("usage: compare_models.py SPEEDSTER_BIN MODELS_DIR [names...]", file=sys.stderr)
        return 2
    bin_path, models_dir, names = os.path.abspath(argv[1]), argv[2], argv[3:]
    if not names:
        names = sorted(d for d in os.listdir(models_dir)
                       if os.path.exists(os.path.join(models_dir, d, "model.onnx")))
    passed = failed = 0
    for n in names:
        ok, line = compare(bin_path, os.path.join(models_dir, n))
        print(line, flush=True)
        passed += ok
        failed += not ok
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
