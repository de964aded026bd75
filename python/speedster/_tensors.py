"""Framework detection and tensor conversion (numpy always; torch only when
the caller already uses it: torch is never imported here unless a torch
object was passed or a saved learner came from a torch model)."""
import sys

import numpy as np

from . import _lib


def torch_module():
    return sys.modules.get("torch")


def is_torch_tensor(x):
    t = torch_module()
    return t is not None and isinstance(x, t.Tensor)


def is_torch_module(x):
    t = torch_module()
    return t is not None and isinstance(x, t.nn.Module)


def to_numpy(x, what="tensor"):
    """(contiguous numpy array, spd dtype or None) for a torch tensor, a numpy
    array or a Python number/list."""
    if is_torch_tensor(x):
        torch = torch_module()
        x = x.detach()
        if x.device.type != "cpu":
            x = x.cpu()
        if x.dtype == torch.bfloat16:
            return np.ascontiguousarray(x.contiguous().view(torch.int16).numpy().view(np.uint16)), _lib.SPD_BFLOAT16
        return np.ascontiguousarray(x.contiguous().numpy()), None
    if isinstance(x, np.ndarray):
        return np.ascontiguousarray(x), None
    if isinstance(x, (bool, int, float, np.generic, list)):
        arr = np.asarray(x)
        if arr.dtype == np.float64 and not isinstance(x, np.generic):
            arr = arr.astype(np.float32)  # a Python float is a model's float32 unless said otherwise
        return np.ascontiguousarray(arr), None
    raise TypeError("speedster: %s must be a numpy array or a torch tensor, got %s" % (what, type(x).__name__))


def from_numpy(arr, framework, device=None, spd_dtype=None):
    """A C output (numpy) in the caller's framework."""
    if framework != "torch":
        return arr
    torch = torch_module()
    if torch is None:
        import torch  # a learner saved from a torch model
    if spd_dtype == _lib.SPD_BFLOAT16:
        t = torch.from_numpy(arr.view(np.int16)).view(torch.bfloat16)
    elif arr.dtype == np.uint16 or arr.dtype == np.uint32:
        t = torch.from_numpy(arr.astype(np.int64))  # torch 1.x has no unsigned 16/32-bit types
    elif arr.dtype == np.uint64:
        t = torch.from_numpy(arr.view(np.int64))
    else:
        t = torch.from_numpy(arr)
    if device is not None and str(device) != "cpu":
        t = t.to(device)
    return t


def flatten_outputs(out):
    """The tensors of a model's output in order, and the structure to rebuild it:
    "tensor", "tuple" or ("dict", keys)."""
    if isinstance(out, dict):
        flat = []
        for v in out.values():
            flat.extend(flatten_outputs(v)[0])
        return flat, {"kind": "dict", "keys": [str(k) for k in out.keys()]} if len(flat) == len(out) else {"kind": "tuple"}
    if isinstance(out, (tuple, list)):
        flat = []
        for v in out:
            flat.extend(flatten_outputs(v)[0])
        return flat, {"kind": "tuple"}
    return [out], {"kind": "tensor"}


def build_outputs(tensors, structure):
    kind = (structure or {}).get("kind")
    if kind == "dict" and len(structure["keys"]) == len(tensors):
        return dict(zip(structure["keys"], tensors))
    if kind == "tuple" or len(tensors) != 1:
        return tuple(tensors)
    return tensors[0]
