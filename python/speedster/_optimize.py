"""optimize_model: the spec's signature over spd_optimize_model."""
import ctypes
import inspect
import json
import logging
import os
import re
import shutil
import tempfile
import warnings

import numpy as np

from . import _lib
from ._learner import InferenceLearner
from ._tensors import (build_outputs, flatten_outputs, from_numpy, is_torch_module, is_torch_tensor, to_numpy,
                       torch_module)

logger = logging.getLogger("speedster")

_ONNX_OPSETS = (13, 14)


class _Sample:
    __slots__ = ("inputs", "label")  # inputs: list (positional) or dict (keyword tensors)

    def __init__(self, inputs, label):
        self.inputs = inputs
        self.label = label


def _is_tensor_like(x):
    return isinstance(x, np.ndarray) or is_torch_tensor(x)


def _is_dataloader(x):
    t = torch_module()
    return t is not None and isinstance(x, t.utils.data.DataLoader)


def _as_inputs(x, where):
    if isinstance(x, dict):
        return {k: v for k, v in x.items() if v is not None}  # HF style: an absent input may be None
    if isinstance(x, (tuple, list)):
        return list(x)
    if _is_tensor_like(x):
        return [x]  # ((torch.randn(1, 3, 256, 256)), label): one tensor, not a tuple
    raise TypeError("input_data %s: the inputs must be a tensor, a tuple of tensors or a dict of tensors, got %s"
                    % (where, type(x).__name__))


def _sample_from_item(item, i):
    if isinstance(item, dict):
        return _Sample(_as_inputs(item, "sample %d" % i), None)
    if _is_tensor_like(item):
        return _Sample([item], None)
    if isinstance(item, (tuple, list)):
        if len(item) != 2:
            raise ValueError("input_data sample %d: expected (inputs, label) with inputs a tensor or a tuple of "
                             "tensors and label a tensor or None, got a sequence of %d items" % (i, len(item)))
        return _Sample(_as_inputs(item[0], "sample %d" % i), item[1])
    raise TypeError("input_data sample %d: expected (inputs, label) or a dict of tensors, got %s"
                    % (i, type(item).__name__))


def _sample_from_batch(batch, i):
    """A DataLoader batch: a dict, a tensor, ((inputs...), label) or (input..., label)."""
    if isinstance(batch, dict) or _is_tensor_like(batch):
        return _sample_from_item(batch, i)
    if isinstance(batch, (tuple, list)):
        if len(batch) == 1:
            return _Sample(_as_inputs(batch[0], "batch %d" % i), None)
        if isinstance(batch[0], (tuple, list, dict)):
            return _Sample(_as_inputs(batch[0], "batch %d" % i), batch[1] if len(batch) > 1 else None)
        return _Sample(list(batch[:-1]), batch[-1])
    raise TypeError("input_data batch %d: expected a tensor, a tuple or a dict, got %s" % (i, type(batch).__name__))


def _normalize_input_data(input_data):
    if input_data is None:
        raise ValueError("input_data is empty: give at least one sample ((inputs...), label)")
    if isinstance(input_data, (str, bytes)) or _is_tensor_like(input_data) or isinstance(input_data, dict):
        raise TypeError("input_data must be a list of ((inputs...), label) samples, a list of dicts of tensors or a "
                        "torch DataLoader, got %s" % type(input_data).__name__)
    if _is_dataloader(input_data):
        samples = [_sample_from_batch(b, i) for i, b in enumerate(input_data)]
    else:
        try:
            items = list(input_data)
        except TypeError:
            raise TypeError("input_data must be iterable (a list of samples or a DataLoader), got %s"
                            % type(input_data).__name__) from None
        samples = [_sample_from_item(it, i) for i, it in enumerate(items)]
    if not samples:
        raise ValueError("input_data is empty: give at least one sample ((inputs...), label)")
    first = samples[0].inputs
    for i, s in enumerate(samples):
        if isinstance(first, dict) != isinstance(s.inputs, dict):
            raise ValueError("input_data sample %d: mixes dict samples and tuple samples" % i)
        if isinstance(first, dict):
            if set(s.inputs) != set(first):
                raise ValueError("input_data sample %d has inputs %s, sample 0 has %s"
                                 % (i, sorted(s.inputs), sorted(first)))
        elif len(s.inputs) != len(first):
            raise ValueError("input_data sample %d has %d inputs, sample 0 has %d (samples must all have the same "
                             "number of inputs)" % (i, len(s.inputs), len(first)))
    return samples


# ---- dynamic_info ----------------------------------------------------------

def _normalize_dynamic_info(d):
    if d is None:
        return None
    if not isinstance(d, dict):
        raise TypeError("dynamic_info must be a dict with \"inputs\" and \"outputs\", got %s" % type(d).__name__)
    out = {}
    for k, v in d.items():
        key = {"input": "inputs", "output": "outputs"}.get(k, k)  # the spec's prose says input/output
        if key not in ("inputs", "outputs"):
            raise ValueError("dynamic_info: unknown key '%s' (expected \"inputs\" and \"outputs\")" % k)
        if not isinstance(v, (list, tuple)) or not all(isinstance(a, dict) for a in v):
            raise ValueError("dynamic_info['%s'] must be a list with one dict of axis -> info per tensor" % k)
        out[key] = [{str(ax): info for ax, info in a.items()} for a in v]
    return out


def _write_dynamic_info(dyn, c_input_names, user_input_names, folder):
    """dynamic_info as the C library reads it; its inputs list follows the
    model's inputs (an input a torch export dropped drops out)."""
    d = dict(dyn)
    if user_input_names is not None and "inputs" in d:
        by_user = dict(zip(user_input_names, d["inputs"]))
        d["inputs"] = [by_user.get(n, {}) for n in c_input_names]
    path = os.path.join(folder, "dynamic_info.json")
    with open(path, "w") as f:
        json.dump(d, f)
    return path


# ---- torch export ----------------------------------------------------------

def _torch_device_of(model):
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return None


def _to_torch(x, device):
    torch = torch_module()
    if is_torch_tensor(x):
        return x
    t = torch.from_numpy(np.ascontiguousarray(np.asarray(x)))
    return t.to(device) if device is not None else t


def _export_torch(model, samples, dyn, folder):
    torch = torch_module()
    first = samples[0].inputs
    device = _torch_device_of(model)
    if isinstance(first, dict):
        keys = list(first.keys())
        try:  # the forward's own order when it names them
            params = list(inspect.signature(model.forward).parameters)
            if all(k in params for k in keys):
                keys.sort(key=params.index)
        except (TypeError, ValueError):
            pass
        args = tuple(_to_torch(first[k], device) for k in keys)
        names = [str(k) for k in keys]

        class _KeywordAdapter(torch.nn.Module):
            def __init__(self, core):
                super().__init__()
                self.core = core

            def forward(self, *a):
                return self.core(**dict(zip(keys, a)))

        target = _KeywordAdapter(model)
    else:
        args = tuple(_to_torch(x, device) for x in first)
        names = ["input_%d" % i for i in range(len(args))]
        target = model

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = target(*args)
        flat, structure = flatten_outputs(out)
        if not all(is_torch_tensor(t) for t in flat):
            raise TypeError("the model's output must be tensors (or tuples/dicts of tensors); wrap the model as the "
                            "spec's Custom models section shows")
        out_names = ["output_%d" % i for i in range(len(flat))]
        axes = {}
        if dyn:
            for i, a in enumerate(dyn.get("inputs", [])):
                if i < len(names) and a:
                    axes[names[i]] = {int(ax): (info.get("name") if isinstance(info, dict) else str(info)) or
                                      "%s_dim%s" % (names[i], ax) for ax, info in a.items()}
            for i, a in enumerate(dyn.get("outputs", [])):
                if i < len(out_names) and a:
                    axes[out_names[i]] = {int(ax): str(info) for ax, info in a.items()}
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", type(model).__name__) or "model"
        path = os.path.join(folder, stem + ".onnx")
        err = None
        for opset in _ONNX_OPSETS:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    torch.onnx.export(target, args, path, input_names=names, output_names=out_names,
                                      dynamic_axes=axes or None, opset_version=opset, do_constant_folding=True)
                err = None
                break
            except Exception as e:  # noqa: BLE001 - retried with the next opset, then re-raised
                err = e
        if err is not None:
            raise RuntimeError("torch.onnx.export failed (opsets %s): %s" % (", ".join(map(str, _ONNX_OPSETS)), err)) from err
    finally:
        model.train(was_training)
    return path, {"framework": "torch", "input_names": names, "dict_input": isinstance(first, dict),
                  "output_structure": structure}


def _model_input_names(path):
    h = ctypes.c_void_p()
    _lib.check(_lib.spd_model_load(os.fspath(path).encode(), ctypes.byref(h)))
    try:
        return [_lib.spd_model_input_name(h, i).decode() for i in range(_lib.spd_model_num_inputs(h))]
    finally:
        _lib.spd_model_free(h)


# ---- the dataset -------------------------------------------------------------

def _build_dataset(samples, c_names, user_names):
    ds = _lib.spd_dataset_new()
    if not ds:
        raise MemoryError("speedster: out of memory")
    try:
        for i, s in enumerate(samples):
            if isinstance(s.inputs, dict):
                missing = [n for n in c_names if n not in s.inputs]
                if missing:
                    raise ValueError("input_data sample %d lacks input(s) %s (the model takes %s)"
                                     % (i, ", ".join(missing), ", ".join(c_names)))
                values = [s.inputs[n] for n in c_names]
            elif user_names is not None:
                by_name = dict(zip(user_names, s.inputs))
                values = [by_name[n] for n in c_names if n in by_name]
            else:
                values = s.inputs
            ins = (_lib.spd_tensor * max(len(values), 1))()
            keep = []
            for k, v in enumerate(values):
                arr, sd = to_numpy(v, "input_data sample %d input %d" % (i, k))
                keep.append(arr)
                _lib.fill_tensor(ins[k], arr, sd)
            label = None
            if s.label is not None:
                arr, sd = to_numpy(s.label, "input_data sample %d label" % i)
                keep.append(arr)
                label = _lib.spd_tensor()
                _lib.fill_tensor(label, arr, sd)
            st = _lib.spd_dataset_add(ds, ins, len(values), ctypes.byref(label) if label is not None else None)
            _lib.check(st, "input_data sample %d" % i)
            del keep  # spd_dataset_add copied the data
    except BaseException:
        _lib.spd_dataset_free(ds)
        raise
    return ds


# ---- callbacks ---------------------------------------------------------------

def _log_line(line, _user):
    try:
        logger.info(line.decode("utf-8", "replace").rstrip("\n"))
    except Exception:  # noqa: BLE001 - a logging failure must not unwind through C
        pass


_LOG_CB = _lib.spd_log_fn(_log_line)


class _MetricBridge:
    """Calls the user's metric with the outputs in the model's framework;
    an exception is kept (and re-raised after the C call) and NaN returned,
    which the search treats as a failed candidate."""

    def __init__(self, fn, framework, structure):
        self.fn = fn
        self.framework = framework
        self.structure = structure
        self.calls = 0
        self.error = None
        self.cfunc = _lib.spd_metric_fn(self._call)

    def _convert(self, ptr, n):
        vals = [from_numpy(_lib.tensor_to_numpy(ptr[k]), self.framework, None, ptr[k].dtype) for k in range(n)]
        return build_outputs(vals, self.structure)

    def _call(self, orig, opt, n, label, _user):
        self.calls += 1
        try:
            a = self._convert(orig, n)
            b = self._convert(opt, n)
            lab = from_numpy(_lib.tensor_to_numpy(label[0]), self.framework, None, label[0].dtype) if label else None
            return float(self.fn(a, b, lab))
        except BaseException as e:  # noqa: BLE001 - stored and re-raised by optimize_model
            if self.error is None:
                self.error = e
            return float("nan")


# ---- optimize_model ----------------------------------------------------------

def _csv(value, what):
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    try:
        names = [str(v) for v in value]
    except TypeError:
        raise TypeError("%s must be a list of names, got %s" % (what, type(value).__name__)) from None
    return ",".join(names).encode()


def optimize_model(model, input_data, metric_drop_ths=None, metric=None, optimization_time="constrained",
                   dynamic_info=None, config_file=None, ignore_compilers=None, ignore_compressors=None,
                   store_latencies=False, device=None, **kwargs):
    """Optimizes `model` (a path to an .onnx file or a torch.nn.Module) on
    `input_data` and returns the fastest learner that keeps the metric within
    `metric_drop_ths`. See spec/speedster-advanced-options.md for every argument.
    Extra keyword: ``threads`` (or ``n_threads``), the threads one model may use
    (default: NEBULLVM_THREADS_PER_MODEL, else every core)."""
    threads = 0
    for key in ("threads", "n_threads"):
        if key in kwargs:
            v = kwargs.pop(key)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError("%s must be a positive whole number, got %r" % (key, v))
            if threads and threads != int(v):
                raise ValueError("threads and n_threads disagree (%d and %d)" % (threads, v))
            threads = int(v)
    if kwargs:
        raise TypeError("optimize_model() got unexpected keyword argument(s): %s" % ", ".join(sorted(kwargs)))

    if isinstance(model, (str, os.PathLike)):
        kind = "onnx"
        if not os.path.exists(os.fspath(model)):
            raise FileNotFoundError("model: no such ONNX file: %s" % os.fspath(model))
    elif is_torch_module(model):
        kind = "torch"
    else:
        mod = type(model).__module__.split(".")[0]
        if mod in ("tensorflow", "keras", "tf_keras"):
            raise NotImplementedError("TensorFlow/Keras models are not supported: export the model to ONNX "
                                      "(e.g. with tf2onnx) and pass the .onnx path")
        raise TypeError("model must be a path to an .onnx file or a torch.nn.Module, got %s" % type(model).__name__)

    samples = _normalize_input_data(input_data)
    dyn = _normalize_dynamic_info(dynamic_info)

    metric_name, bridge = None, None
    if metric is None:
        metric_name = b"numeric_precision"
    elif isinstance(metric, str):
        if metric not in ("numeric_precision", "accuracy"):
            raise ValueError("metric must be 'numeric_precision', 'accuracy' or a callable, got '%s'" % metric)
        metric_name = metric.encode()
    elif not callable(metric):
        raise TypeError("metric must be 'numeric_precision', 'accuracy' or a callable, got %s" % type(metric).__name__)

    ths = 0.0 if metric_drop_ths is None else metric_drop_ths
    try:
        ths = float(ths)
    except (TypeError, ValueError):
        raise TypeError("metric_drop_ths must be a number, got %r" % (metric_drop_ths,)) from None

    folder = tempfile.mkdtemp(prefix="speedster_")
    ds = None
    try:
        if kind == "torch":
            path, meta = _export_torch(model, samples, dyn, folder)
        else:
            path = os.fspath(model)
            meta = {"framework": "onnx"}
        c_names = _model_input_names(path)
        user_names = meta.get("input_names")
        if callable(metric):
            framework = "torch" if kind == "torch" or any(is_torch_tensor(v) for v in (
                samples[0].inputs.values() if isinstance(samples[0].inputs, dict) else samples[0].inputs)) else "numpy"
            bridge = _MetricBridge(metric, framework, meta.get("output_structure"))
        ds = _build_dataset(samples, c_names, None if isinstance(samples[0].inputs, dict) else user_names)

        keep = []  # bytes the options point at

        def s(v):
            if v is None:
                return None
            b = v if isinstance(v, bytes) else str(v).encode()
            keep.append(b)
            return b

        o = _lib.spd_optimize_options_default()
        o.metric = metric_name if metric_name is not None else o.metric
        if bridge is not None:
            o.metric_fn = bridge.cfunc
        o.metric_drop_ths = ths
        o.optimization_time = s(optimization_time if optimization_time is not None else "constrained")
        if dyn is not None:
            o.dynamic_info = s(_write_dynamic_info(dyn, c_names, user_names, folder))
        if config_file is not None:
            o.config_file = s(os.fspath(config_file))
        o.ignore_compilers = s(_csv(ignore_compilers, "ignore_compilers"))
        o.ignore_compressors = s(_csv(ignore_compressors, "ignore_compressors"))
        o.store_latencies = 1 if store_latencies else 0
        o.device = s(device) if device is not None else None
        o.threads = threads
        o.log = _LOG_CB

        h = ctypes.c_void_p()
        st = _lib.spd_optimize_model(path.encode(), ds, ctypes.byref(o), ctypes.byref(h))
        if bridge is not None and bridge.error is not None:
            if h.value:
                _lib.spd_learner_free(h)
            raise bridge.error
        _lib.check(st)
        learner = InferenceLearner(h.value, meta)
        if bridge is not None:
            learner.metric_calls = bridge.calls
        return learner
    finally:
        if ds:
            _lib.spd_dataset_free(ds)
        shutil.rmtree(folder, ignore_errors=True)
