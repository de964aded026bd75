#!/usr/bin/python3
"""The examples of spec/speedster-advanced-options.md, run unchanged apart
from model weights (seeded random; `model` of the short examples is a small
CNN). The resnet50 dynamic_info example uses the spec's 100 samples (~2.5 min
on 2 cores with the reference kernels); SPD_PY_RESNET50_SAMPLES=N makes it
quicker."""
import glob
import json
import os
import tempfile

import torch
import torchvision.models as models

from _harness import LogCapture, assert_fp32_close, check, finish

torch.manual_seed(0)


class SmallCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.fc = torch.nn.Linear(8, 10)

    def forward(self, x):
        y = torch.relu(self.bn(self.conv(x)))
        return self.fc(y.mean(dim=(2, 3)))


def small_setup():
    model = SmallCNN().eval()
    input_data = [((torch.randn(1, 3, 32, 32),), torch.tensor([0])) for _ in range(5)]
    return model, input_data


def resnet50_dynamic_info():
    from speedster import optimize_model
    n = int(os.environ.get("SPD_PY_RESNET50_SAMPLES", "100"))

    # Load a resnet as example
    model = models.resnet50()

    # Provide an input data for the model
    input_data = [((torch.randn(1, 3, 256, 256),), torch.tensor([0])) for _ in range(n)]

    # Set dynamic info
    dynamic_info = {
        "inputs": [
            {
                0: {
                    "name": "batch",
                    "min_val": 1,
                    "opt_val": 1,
                    "max_val": 8,
                },
                2: {
                    "name": "dim_image",
                    "min_val": 128,
                    "opt_val": 256,
                    "max_val": 512,
                },
                3: {
                    "name": "dim_image",
                    "min_val": 128,
                    "opt_val": 256,
                    "max_val": 512,
                },
            }
        ],
        "outputs": [
            {0: "batch", 1: "out_dim"}
        ]
    }

    # Run Speedster optimization in one line of code
    optimized_model = optimize_model(
        model,
        input_data=input_data,
        optimization_time="constrained",
        dynamic_info=dynamic_info
    )

    model.eval()
    # every batch (1, 4, 8) and every image size (128, 256, 512), without the
    # costliest combinations (8x512 alone is 32 times a 1x256 run)
    for b, s in [(1, 128), (4, 256), (8, 128), (1, 512), (1, 256)]:
        x = torch.randn(b, 3, s, s)
        y = optimized_model(x)
        with torch.no_grad():
            want = model(x)
        assert isinstance(y, torch.Tensor), type(y)
        assert_fp32_close(y, want, "batch %d size %d" % (b, s))
    try:
        optimized_model(torch.randn(9, 3, 128, 128))
        raise AssertionError("batch 9 is outside dynamic_info's max_val 8 and should be refused")
    except ValueError as e:
        assert "batch" in str(e) or "axis" in str(e), e
    return "%d samples; batches 1/4/8, sizes 128/256/512 match" % n


def device_cpu():
    from speedster import optimize_model
    model, input_data = small_setup()
    optimized_model = optimize_model(
      model, input_data=input_data, device="cpu"
    )
    x = input_data[0][0][0]
    assert_fp32_close(optimized_model(x), model(x))


def device_cuda1_falls_back():
    from speedster import optimize_model
    model, input_data = small_setup()
    with LogCapture() as log:
        optimized_model = optimize_model(
          model, input_data=input_data, device="cuda:1"  # also device="gpu:1" is supported
        )
    x = input_data[0][0][0]
    assert_fp32_close(optimized_model(x), model(x))
    assert "GPU" in log.text or "gpu" in log.text, "no warning about the missing GPU"


def device_tpu_refused():
    from speedster import optimize_model
    model, input_data = small_setup()
    for dev in ("tpu:1", "neuron:1"):
        try:
            optimize_model(model, input_data=input_data, device=dev)
        except NotImplementedError as e:
            assert "not supported" in str(e), e
        else:
            raise AssertionError("device=%s should raise NotImplementedError" % dev)


def ignore_compilers():
    from speedster import optimize_model
    model, input_data = small_setup()
    with LogCapture() as log:
        optimized_model = optimize_model(
            model,
            input_data=input_data,
            ignore_compilers=["tvm", "bladedisc"]
        )
    x = input_data[1][0][0]
    assert_fp32_close(optimized_model(x), model(x))
    assert "not available in this build" in log.text, log.text


def store_latencies():
    from speedster import optimize_model
    model, input_data = small_setup()
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as d:
        os.chdir(d)
        try:
            # Run Speedster optimization in one line of code
            optimized_model = optimize_model(
                model,
                input_data=input_data,
                store_latencies=True
            )
            files = glob.glob(os.path.join(d, "*_latencies_*.json"))
        finally:
            os.chdir(cwd)
        assert len(files) == 1, files
        with open(files[0]) as f:
            data = json.load(f)
        rows = data["optimizations"]
        assert rows[0]["technique"] == "original", rows[0]
        assert all("latency" in r and "compiler" in r for r in rows), rows
        assert os.path.basename(files[0]).startswith("SmallCNN_latencies_"), files[0]
    x = input_data[0][0][0]
    assert_fp32_close(optimized_model(x), model(x))
    return "%s, %d rows" % (os.path.basename(files[0]), len(rows))


class Backbone(torch.nn.Module):
    """Stands in for detectron2's backbone: a tensor in, a dict out."""

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.res2 = torch.nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.res3 = torch.nn.Conv2d(16, 16, 3, stride=2, padding=1)

    def forward(self, x):
        a = torch.relu(self.stem(x))
        b = torch.relu(self.res2(a))
        return {"p2": a, "p3": b, "p4": self.res3(b)}


def custom_model_wrapper():
    from speedster import optimize_model
    model_backbone = Backbone().eval()

    class BaseModelWrapper(torch.nn.Module):
        def __init__(self, core_model, output_dict):
            super().__init__()
            self.core_model = core_model
            self.output_names = [key for key in output_dict.keys()]

        def forward(self, *args, **kwargs):
            res = self.core_model(*args, **kwargs)
            return tuple(res[key] for key in self.output_names)

    class OptimizedWrapper(torch.nn.Module):
        def __init__(self, optimized_model, output_keys):
            super().__init__()
            self.optimized_model = optimized_model
            self.output_keys = output_keys

        def forward(self, *args):
            res = self.optimized_model(*args)
            return {key: value for key, value in zip(self.output_keys, res)}

    input_data = [((torch.randn(1, 3, 256, 256)), torch.tensor([0]))]

    # Compute the original output of the model (in dict format)
    res = model_backbone(torch.randn(1, 3, 256, 256))

    # Pass the model and the output sample to the wrapper
    backbone_wrapper = BaseModelWrapper(model_backbone, res)

    # Optimize the model wrapper
    optimized_model = optimize_model(backbone_wrapper, input_data=input_data)

    # Wrap the optimized model with a new wrapper to restore the original model output format
    optimized_backbone = OptimizedWrapper(optimized_model, backbone_wrapper.output_names)

    x = torch.randn(1, 3, 256, 256)
    got = optimized_backbone(x)
    with torch.no_grad():
        want = model_backbone(x)
    assert isinstance(got, dict) and list(got) == list(want), list(got)
    for k in want:
        assert_fp32_close(got[k], want[k], k)


def dict_output_model_directly():
    """Better than the spec: a model returning a dict gives a dict back."""
    from speedster import optimize_model
    model = Backbone().eval()
    x = torch.randn(1, 3, 64, 64)
    learner = optimize_model(model, input_data=[((x,), None)])
    got = learner(x)
    with torch.no_grad():
        want = model(x)
    assert isinstance(got, dict) and list(got) == list(want), type(got)
    for k in want:
        assert_fp32_close(got[k], want[k], k)


def threads_env():
    from speedster import optimize_model
    model, input_data = small_setup()
    os.environ["NEBULLVM_THREADS_PER_MODEL"] = "1"
    try:
        learner = optimize_model(model, input_data=input_data)
    finally:
        del os.environ["NEBULLVM_THREADS_PER_MODEL"]
    with tempfile.TemporaryDirectory() as d:
        learner.save(d)
        with open(os.path.join(d, "metadata.json")) as f:
            meta = json.load(f)
    assert meta["threads"] == 1, meta["threads"]
    learner2 = optimize_model(model, input_data=input_data, threads=2)
    with tempfile.TemporaryDirectory() as d:
        learner2.save(d)
        with open(os.path.join(d, "metadata.json")) as f:
            assert json.load(f)["threads"] == 2


if __name__ == "__main__":
    check("spec: resnet50 with dynamic_info, then batch 1/4/8 and sizes 128/256/512", resnet50_dynamic_info)
    check("spec: device=\"cpu\"", device_cpu)
    check("spec: device=\"cuda:1\" without a GPU warns and uses the CPU", device_cuda1_falls_back)
    check("spec: device=\"tpu:1\"/\"neuron:1\" raise NotImplementedError", device_tpu_refused)
    check("spec: ignore_compilers=[\"tvm\", \"bladedisc\"]", ignore_compilers)
    check("spec: store_latencies=True writes the JSON in the working directory", store_latencies)
    check("spec: custom model wrapper around a dict-returning backbone", custom_model_wrapper)
    check("a dict-returning model gives a dict back", dict_output_model_directly)
    check("NEBULLVM_THREADS_PER_MODEL and threads= reach the learner", threads_env)
    finish()
