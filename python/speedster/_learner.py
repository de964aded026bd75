"""The inference learner: a C spd_learner plus what the Python side needs to
take and return what the original model did."""
import ctypes
import json
import os

import numpy as np

from . import _lib
from ._tensors import build_outputs, from_numpy, is_torch_tensor, to_numpy

PYTHON_META = "python_meta.json"


class InferenceLearner:
    """Call it like the original model: ``learner(*inputs)`` or
    ``learner.forward(*inputs)``; a model exported from keyword tensors
    (HuggingFace style) also takes ``learner(**inputs)`` or ``learner(inputs_dict)``.
    Torch tensors in give torch tensors out (on the inputs' device), numpy in
    gives numpy out; one output is returned as a tensor, several as a tuple
    (or a dict when the torch model returned a dict)."""

    def __init__(self, handle, meta):
        self._h = ctypes.c_void_p(handle)
        self._meta = dict(meta)
        n_in = _lib.spd_learner_num_inputs(self._h)
        n_out = _lib.spd_learner_num_outputs(self._h)
        self._c_inputs = [_lib.spd_learner_input_name(self._h, i).decode() for i in range(n_in)]
        self._c_outputs = [_lib.spd_learner_output_name(self._h, i).decode() for i in range(n_out)]
        self._in_dtypes = []
        for i in range(n_in):
            dt, nd = ctypes.c_int(), ctypes.c_int()
            dims = (ctypes.c_int64 * _lib.SPD_MAX_DIMS)()
            st = _lib.spd_learner_input_info(self._h, i, ctypes.byref(dt), ctypes.byref(nd), dims)
            self._in_dtypes.append(dt.value if st == _lib.SPD_OK else 0)
        # The names the user passes, in the user's order (a torch export may
        # drop inputs the graph does not use; they are accepted and ignored).
        self._user_inputs = list(self._meta.get("input_names") or self._c_inputs)

    # ---- properties --------------------------------------------------------
    @property
    def input_names(self):
        return list(self._user_inputs)

    @property
    def output_names(self):
        return list(self._c_outputs)

    @property
    def backend(self):
        return _lib.spd_learner_backend(self._h).decode()

    @property
    def technique(self):
        return _lib.spd_learner_technique(self._h).decode()

    @property
    def latency(self):
        """Measured seconds per batch."""
        return _lib.spd_learner_latency(self._h)

    @property
    def metric_drop(self):
        return _lib.spd_learner_metric_drop(self._h)

    @property
    def report(self):
        """The results table of the search that made it ("" for a loaded learner)."""
        return _lib.spd_learner_report(self._h).decode("utf-8", "replace")

    @property
    def framework(self):
        return self._meta.get("framework", "onnx")

    def get_size(self):
        """Bytes of the learner's weights."""
        return int(_lib.spd_learner_size(self._h))

    # ---- running -----------------------------------------------------------
    def _collect(self, args, kwargs):
        if len(args) == 1 and isinstance(args[0], dict) and not kwargs:
            kwargs, args = args[0], ()
        if len(args) > len(self._user_inputs):
            raise TypeError("the learner takes %d inputs (%s), %d given"
                            % (len(self._user_inputs), ", ".join(self._user_inputs), len(args)))
        by_name = dict(zip(self._user_inputs, args))
        for k, v in kwargs.items():
            if k not in self._user_inputs:
                raise TypeError("the learner got an unexpected input '%s' (inputs: %s)" % (k, ", ".join(self._user_inputs)))
            if k in by_name:
                raise TypeError("the learner got input '%s' twice" % k)
            by_name[k] = v
        missing = [n for n in self._c_inputs if n not in by_name]
        if missing:
            raise TypeError("the learner is missing input(s) %s (inputs: %s)" % (", ".join(missing), ", ".join(self._user_inputs)))
        return [by_name[n] for n in self._c_inputs]

    def __call__(self, *args, **kwargs):
        values = self._collect(args, kwargs)
        framework, device = "numpy", None
        for v in values:
            if is_torch_tensor(v):
                framework, device = "torch", v.device
                break
        n_in, n_out = len(values), len(self._c_outputs)
        ins = (_lib.spd_tensor * max(n_in, 1))()
        keep = []
        for i, v in enumerate(values):
            arr, sd = to_numpy(v, "input '%s'" % self._c_inputs[i])
            arr, sd = _cast_to_declared(arr, sd, self._in_dtypes[i])
            keep.append(arr)
            _lib.fill_tensor(ins[i], arr, sd)
        outs = (_lib.spd_tensor * max(n_out, 1))()
        st = _lib.spd_learner_run(self._h, ins, n_in, outs, n_out)
        try:
            _lib.check(st)
            arrays = [(_lib.tensor_to_numpy(outs[k]), outs[k].dtype) for k in range(n_out)]
        finally:
            for k in range(n_out):
                _lib.spd_tensor_release(ctypes.byref(outs[k]))
        del keep
        result = [from_numpy(a, framework, device, sd) for a, sd in arrays]
        return build_outputs(result, self._meta.get("output_structure"))

    forward = __call__

    # ---- persistence -------------------------------------------------------
    def save(self, path):
        """Writes the learner folder: metadata.json + model.onnx (+ backend
        files) from the C library, and python_meta.json for this package."""
        path = os.fspath(path)
        _lib.check(_lib.spd_learner_save(self._h, path.encode()))
        with open(os.path.join(path, PYTHON_META), "w") as f:
            json.dump(self._meta, f, indent=2)

    _free = _lib.spd_learner_free  # kept on the class: module globals may be gone at interpreter exit

    def __del__(self):
        h = getattr(self, "_h", None)
        if h is not None and h.value:
            self._h = ctypes.c_void_p(None)
            try:
                self._free(h)
            except Exception:  # noqa: BLE001
                pass

    def __repr__(self):
        return "<speedster InferenceLearner backend=%s technique=%s inputs=%s outputs=%s>" % (
            self.backend, self.technique, self._user_inputs, self._c_outputs)


def _cast_to_declared(arr, sd, declared):
    """float64 data for a float32 input (numpy's default) and other same-kind
    differences are cast to the model's declared type."""
    if sd is not None or not declared or declared == _lib.SPD_BFLOAT16:
        return arr, sd
    want = _lib._SPD_TO_NP.get(declared)
    if want is None or arr.dtype == want:
        return arr, sd
    same_kind = (arr.dtype.kind == "f" and want.kind == "f") or (arr.dtype.kind in "iu" and want.kind in "iu")
    if same_kind:
        return np.ascontiguousarray(arr.astype(want)), None
    return arr, sd


def load_model(path):
    """Loads a learner folder written by ``learner.save`` / ``save_model``."""
    path = os.fspath(path)
    h = ctypes.c_void_p()
    _lib.check(_lib.spd_learner_load(path.encode(), ctypes.byref(h)))
    meta = {}
    mp = os.path.join(path, PYTHON_META)
    if os.path.exists(mp):
        try:
            with open(mp) as f:
                meta = json.load(f)
        except (OSError, ValueError) as e:
            _lib.spd_learner_free(h)
            raise ValueError("learner %s: %s is unreadable: %s" % (path, PYTHON_META, e))
    return InferenceLearner(h.value, meta)


def save_model(model, path):
    """Saves a learner returned by optimize_model (same as ``model.save(path)``)."""
    if not isinstance(model, InferenceLearner):
        raise TypeError("save_model: expected a speedster InferenceLearner, got %s" % type(model).__name__)
    model.save(path)
