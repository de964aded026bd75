"""ctypes bindings to libspeedster: finding the library, the spd_tensor
struct, numpy conversions and the C error -> Python exception mapping.

The library is looked for, in order:
  1. $SPEEDSTER_LIB (the .so itself, or a folder that holds libspeedster.so);
  2. build/libspeedster.so of the repository this package sits in
     (python/speedster/../../build);
  3. the system loader (libspeedster.so on LD_LIBRARY_PATH / ldconfig).
"""
import ctypes
import ctypes.util
import os

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO_BUILD = os.path.normpath(os.path.join(_HERE, "..", "..", "build"))
_BUILD_HINT = (
    "build it with:  cmake -S <repo> -B <repo>/build && cmake --build <repo>/build -j  "
    "(the package then finds <repo>/build/libspeedster.so), or point SPEEDSTER_LIB at libspeedster.so"
)


def _candidates():
    env = os.environ.get("SPEEDSTER_LIB")
    if env:
        yield ("SPEEDSTER_LIB", os.path.join(env, "libspeedster.so") if os.path.isdir(env) else env)
        return  # an explicit choice: do not fall back to another library silently
    yield ("repository build", os.path.join(_REPO_BUILD, "libspeedster.so"))
    found = ctypes.util.find_library("speedster")
    yield ("system loader", found or "libspeedster.so")


def _load():
    tried = []
    for how, path in _candidates():
        if how != "system loader" and not os.path.exists(path):
            tried.append("%s: %s (missing)" % (how, path))
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append("%s: %s (%s)" % (how, path, e))
    raise ImportError("speedster: cannot load libspeedster.so; tried " + "; ".join(tried) + ". " + _BUILD_HINT)


lib, lib_path = _load()

SPD_MAX_DIMS = 8
SPD_OK, SPD_ERR_INVALID, SPD_ERR_UNSUPPORTED, SPD_ERR_IO, SPD_ERR_NOMEM, SPD_ERR_INTERNAL = range(6)


class spd_tensor(ctypes.Structure):
    _fields_ = [
        ("dtype", ctypes.c_int),
        ("ndim", ctypes.c_int),
        ("dims", ctypes.c_int64 * SPD_MAX_DIMS),
        ("data", ctypes.c_void_p),
        ("owner", ctypes.c_int),
    ]


spd_metric_fn = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.POINTER(spd_tensor), ctypes.POINTER(spd_tensor),
                                 ctypes.c_int, ctypes.POINTER(spd_tensor), ctypes.c_void_p)
spd_log_fn = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_void_p)


class spd_optimize_options(ctypes.Structure):
    _fields_ = [
        ("metric", ctypes.c_char_p),
        ("metric_fn", spd_metric_fn),
        ("metric_user", ctypes.c_void_p),
        ("metric_drop_ths", ctypes.c_double),
        ("optimization_time", ctypes.c_char_p),
        ("dynamic_info", ctypes.c_char_p),
        ("config_file", ctypes.c_char_p),
        ("ignore_compilers", ctypes.c_char_p),
        ("ignore_compressors", ctypes.c_char_p),
        ("store_latencies", ctypes.c_int),
        ("latencies_dir", ctypes.c_char_p),
        ("device", ctypes.c_char_p),
        ("threads", ctypes.c_int),
        ("n_random_samples", ctypes.c_int),
        ("log", spd_log_fn),
        ("log_user", ctypes.c_void_p),
    ]


_P = ctypes.c_void_p
_T = ctypes.POINTER(spd_tensor)


def _fn(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


spd_last_error = _fn("spd_last_error", ctypes.c_char_p)
spd_tensor_release = _fn("spd_tensor_release", None, _T)
spd_model_load = _fn("spd_model_load", ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(_P))
spd_model_free = _fn("spd_model_free", None, _P)
spd_model_num_inputs = _fn("spd_model_num_inputs", ctypes.c_int, _P)
spd_model_input_name = _fn("spd_model_input_name", ctypes.c_char_p, _P, ctypes.c_int)
spd_dataset_new = _fn("spd_dataset_new", _P)
spd_dataset_free = _fn("spd_dataset_free", None, _P)
spd_dataset_add = _fn("spd_dataset_add", ctypes.c_int, _P, _T, ctypes.c_int, _T)
spd_optimize_options_default = _fn("spd_optimize_options_default", spd_optimize_options)
spd_optimize_model = _fn("spd_optimize_model", ctypes.c_int, ctypes.c_char_p, _P,
                         ctypes.POINTER(spd_optimize_options), ctypes.POINTER(_P))
spd_learner_run = _fn("spd_learner_run", ctypes.c_int, _P, _T, ctypes.c_int, _T, ctypes.c_int)
spd_learner_num_inputs = _fn("spd_learner_num_inputs", ctypes.c_int, _P)
spd_learner_num_outputs = _fn("spd_learner_num_outputs", ctypes.c_int, _P)
spd_learner_input_name = _fn("spd_learner_input_name", ctypes.c_char_p, _P, ctypes.c_int)
spd_learner_output_name = _fn("spd_learner_output_name", ctypes.c_char_p, _P, ctypes.c_int)
spd_learner_input_info = _fn("spd_learner_input_info", ctypes.c_int, _P, ctypes.c_int, ctypes.POINTER(ctypes.c_int),
                             ctypes.POINTER(ctypes.c_int), ctypes.c_int64 * SPD_MAX_DIMS)
spd_learner_save = _fn("spd_learner_save", ctypes.c_int, _P, ctypes.c_char_p)
spd_learner_load = _fn("spd_learner_load", ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(_P))
spd_learner_report = _fn("spd_learner_report", ctypes.c_char_p, _P)
spd_learner_backend = _fn("spd_learner_backend", ctypes.c_char_p, _P)
spd_learner_technique = _fn("spd_learner_technique", ctypes.c_char_p, _P)
spd_learner_latency = _fn("spd_learner_latency", ctypes.c_double, _P)
spd_learner_metric_drop = _fn("spd_learner_metric_drop", ctypes.c_double, _P)
spd_learner_size = _fn("spd_learner_size", ctypes.c_size_t, _P)
spd_learner_free = _fn("spd_learner_free", None, _P)


class SpeedsterError(RuntimeError):
    """An internal error of the C library (SPD_ERR_INTERNAL)."""


def last_error():
    msg = spd_last_error()
    return msg.decode("utf-8", "replace") if msg else ""


def check(status, what=None):
    """Raises the Python exception matching a C status, with the C message."""
    if status == SPD_OK:
        return
    msg = last_error() or "speedster error %d" % status
    if what:
        msg = "%s: %s" % (what, msg)
    if status == SPD_ERR_INVALID:
        raise ValueError(msg)
    if status == SPD_ERR_UNSUPPORTED:
        raise NotImplementedError(msg)
    if status == SPD_ERR_IO:
        raise OSError(msg)
    if status == SPD_ERR_NOMEM:
        raise MemoryError(msg)
    raise SpeedsterError(msg)


# ---- numpy <-> spd_tensor -------------------------------------------------

_NP_TO_SPD = {
    np.dtype(np.float32): 1, np.dtype(np.uint8): 2, np.dtype(np.int8): 3, np.dtype(np.uint16): 4,
    np.dtype(np.int16): 5, np.dtype(np.int32): 6, np.dtype(np.int64): 7, np.dtype(np.bool_): 9,
    np.dtype(np.float16): 10, np.dtype(np.float64): 11, np.dtype(np.uint32): 12, np.dtype(np.uint64): 13,
    np.dtype(np.complex64): 14, np.dtype(np.complex128): 15,
}
SPD_BFLOAT16 = 16
_SPD_TO_NP = {v: k for k, v in _NP_TO_SPD.items()}
_SPD_TO_NP[SPD_BFLOAT16] = np.dtype(np.uint16)  # raw bits; the torch side views them as bfloat16
SPD_DTYPE_NAMES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
                   8: "string", 9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64",
                   14: "complex64", 15: "complex128", 16: "bfloat16"}


def fill_tensor(t, arr, spd_dtype=None):
    """Points t at arr's memory (arr must stay alive while C reads it)."""
    if spd_dtype is None:
        spd_dtype = _NP_TO_SPD.get(arr.dtype)
        if spd_dtype is None:
            raise TypeError("speedster: unsupported tensor dtype %s" % arr.dtype)
    if arr.ndim > SPD_MAX_DIMS:
        raise ValueError("speedster: tensors have at most %d dimensions, got %d" % (SPD_MAX_DIMS, arr.ndim))
    t.dtype = spd_dtype
    t.ndim = arr.ndim
    for i, d in enumerate(arr.shape):
        t.dims[i] = d
    t.data = arr.ctypes.data if arr.size else None
    t.owner = 0


def tensor_to_numpy(t):
    """A numpy copy of a C tensor (the C side keeps ownership)."""
    dt = _SPD_TO_NP.get(t.dtype)
    if dt is None:
        raise NotImplementedError("speedster: output dtype %s has no numpy equivalent"
                                  % SPD_DTYPE_NAMES.get(t.dtype, t.dtype))
    shape = tuple(t.dims[i] for i in range(t.ndim))
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if n == 0 or not t.data:
        return np.zeros(shape, dtype=dt)
    raw = (ctypes.c_char * (n * dt.itemsize)).from_address(t.data)
    return np.frombuffer(raw, dtype=dt).reshape(shape).copy()
