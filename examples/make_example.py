"""Writes examples/tiny_cnn: a small image classifier exported from PyTorch
with seeded weights, one input sample and PyTorch's own output for it.
Run with Debian's /usr/bin/python3 (python3-torch, python3-onnx)."""
import inspect
import os
import sys

import numpy as np
import onnx
import onnx.numpy_helper
import torch


def onnx_export(*args, **kwargs):
    """torch.onnx.export with TorchScript's exporter: torch >= 2.9 defaults to
    dynamo's, which writes other graphs (static shapes, its own op spellings)."""
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    return torch.onnx.export(*args, **kwargs)


out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "tiny_cnn")
torch.manual_seed(0)
model = torch.nn.Sequential(
    torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
    torch.nn.MaxPool2d(2),
    torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.BatchNorm2d(32), torch.nn.ReLU(),
    torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
    torch.nn.Linear(32, 10), torch.nn.Softmax(dim=1),
).eval()
# Give BatchNorm non-trivial statistics so folding it is really exercised.
for m in model.modules():
    if isinstance(m, torch.nn.BatchNorm2d):
        m.running_mean.uniform_(-0.5, 0.5)
        m.running_var.uniform_(0.5, 2.0)
x = torch.randn(1, 3, 32, 32)
os.makedirs(os.path.join(out, "test_data_set_0"), exist_ok=True)
onnx_export(model, x, os.path.join(out, "model.onnx"), input_names=["image"],
            output_names=["probabilities"], opset_version=13,
            dynamic_axes={"image": {0: "batch"}, "probabilities": {0: "batch"}})
with torch.no_grad():
    y = model(x).numpy()
for name, arr in (("input_0", x.numpy()), ("output_0", y)):
    t = onnx.numpy_helper.from_array(np.ascontiguousarray(arr))
    with open(os.path.join(out, "test_data_set_0", name + ".pb"), "wb") as f:
        f.write(t.SerializeToString())
print("wrote", out)
