#!/usr/bin/env python3
"""One-operator models with the shapes where speedster and ONNX Runtime part
ways per node (resnet50's 1x1 and strided 3x3 convolutions, squeezenet1_1's
stem and first pool, BERT's FC1 as a MatMul), for bench/run_bench.sh: the
same folders as tests/models/export_models.py writes (model.onnx and
test_data_set_0/), timed side by side without a whole model around them.
Not a test: the outputs are numpy's, for `speedster check` if wanted.

usage: op_models.py OUT_DIR           (writes OUT_DIR/<name>/ for each)
       op_models.py --list
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# name: (Cin, Cout, H, kernel, stride, pad); Conv + bias + Relu, batch 1
CONVS = {
    "pw_56_64_256": (64, 256, 56, 1, 1, 0),      # layer1 conv3
    "pw_56_256_64": (256, 64, 56, 1, 1, 0),      # layer1 conv1
    "pw_28_512_128": (512, 128, 28, 1, 1, 0),    # layer2 conv1
    "pw_28_128_512": (128, 512, 28, 1, 1, 0),    # layer2 conv3
    "pw_14_1024_256": (1024, 256, 14, 1, 1, 0),  # layer3 conv1
    "pw_14_256_1024": (256, 1024, 14, 1, 1, 0),  # layer3 conv3
    "pw_7_2048_512": (2048, 512, 7, 1, 1, 0),    # layer4 conv1
    "pw_7_512_2048": (512, 2048, 7, 1, 1, 0),    # layer4 conv3
    "c3s2_56_128": (128, 128, 56, 3, 2, 1),      # layer2.0 conv2
    "c3s1_28_128": (128, 128, 28, 3, 1, 1),      # layer2.1 conv2
    "stem_sq": (3, 64, 224, 3, 2, 0),            # squeezenet1_1 features.0
}
POOLS = {"maxpool_111_64": (64, 111)}            # squeezenet1_1 features.2 (3x3, 2, ceil)
MATMULS = {"fc1_128_768_3072": (128, 768, 3072)}  # BERT-base FC1, bias, no activation


def save(out, name, graph, x, y):
    d = os.path.join(out, name)
    os.makedirs(os.path.join(d, "test_data_set_0"), exist_ok=True)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    onnx.save(m, os.path.join(d, "model.onnx"))
    for k, (nm, a) in enumerate([("x", x)]):
        with open(os.path.join(d, "test_data_set_0", f"input_{k}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(a, nm).SerializeToString())
    with open(os.path.join(d, "test_data_set_0", "output_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(y.astype(np.float32), "y").SerializeToString())


def conv_ref(x, w, b, s, p):
    n, ci, h, wd = x.shape
    co, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    oh = (h + 2 * p - k) // s + 1
    ow = (wd + 2 * p - k) // s + 1
    y = np.zeros((n, co, oh, ow), np.float64)
    for ky in range(k):
        for kx in range(k):
            patch = xp[:, :, ky:ky + s * oh:s, kx:kx + s * ow:s]
            y += np.einsum("oc,nchw->nohw", w[:, :, ky, kx], patch)
    return np.maximum(y + b[None, :, None, None], 0)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    if sys.argv[1] == "--list":
        print(" ".join(list(CONVS) + list(POOLS) + list(MATMULS)))
        return
    out = sys.argv[1]
    rng = np.random.default_rng(0)
    f32 = TensorProto.FLOAT
    for name, (ci, co, h, k, s, p) in CONVS.items():
        w = (rng.standard_normal((co, ci, k, k)) / np.sqrt(ci * k * k)).astype(np.float32)
        b = (0.1 * rng.standard_normal(co)).astype(np.float32)
        x = rng.standard_normal((1, ci, h, h)).astype(np.float32)
        y = conv_ref(x.astype(np.float64), w.astype(np.float64), b, s, p)
        nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[k, k], strides=[s, s],
                                  pads=[p] * 4),
                 helper.make_node("Relu", ["c"], ["y"])]
        g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", f32, list(x.shape))],
                              [helper.make_tensor_value_info("y", f32, list(y.shape))],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
        save(out, name, g, x, y)
    for name, (c, h) in POOLS.items():
        x = rng.standard_normal((1, c, h, h)).astype(np.float32)
        oh = -(-(h - 3) // 2) + 1
        xp = np.pad(x, ((0, 0), (0, 0), (0, 2), (0, 2)), constant_values=-np.inf)
        y = np.full((1, c, oh, oh), -np.inf, np.float32)
        for ky in range(3):
            for kx in range(3):
                y = np.maximum(y, xp[:, :, ky:ky + 2 * oh:2, kx:kx + 2 * oh:2])
        node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
        g = helper.make_graph([node], name, [helper.make_tensor_value_info("x", f32, list(x.shape))],
                              [helper.make_tensor_value_info("y", f32, list(y.shape))])
        save(out, name, g, x, y)
    for name, (m, k, n) in MATMULS.items():
        w = (rng.standard_normal((k, n)) / np.sqrt(k)).astype(np.float32)
        b = (0.1 * rng.standard_normal(n)).astype(np.float32)
        x = rng.standard_normal((1, m, k)).astype(np.float32)
        y = x.astype(np.float64) @ w + b
        nodes = [helper.make_node("MatMul", ["x", "w"], ["t"]), helper.make_node("Add", ["t", "b"], ["y"])]
        g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", f32, list(x.shape))],
                              [helper.make_tensor_value_info("y", f32, list(y.shape))],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
        save(out, name, g, x, y)


if __name__ == "__main__":
    main()
