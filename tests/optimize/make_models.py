#!/usr/bin/python3
"""Models, data and option files for the optimize_model tests.

usage: /usr/bin/python3 make_models.py OUT_DIR

OUT_DIR/digits/model.onnx          MLP 64->64->10 trained on sklearn's digits, input [N,64] float32
OUT_DIR/digits/data/               120 held-out samples, ONNX test-data layout, with labels
OUT_DIR/digits/data_nolabel/       5 samples without labels
OUT_DIR/digits/data_wrong_inputs/  3 samples with two inputs each (the model takes one)
OUT_DIR/empty_data/                a folder with no samples
OUT_DIR/two_in/model.onnx          inputs x float32 [N,8] and ids int64 [N,4]; outputs y1 [N,6], y2 [N,2]
OUT_DIR/two_in/data/               5 samples
OUT_DIR/two_in/data_mixed/         4 samples of batch 1, 2, 1, 3
OUT_DIR/dyn/*.json                 dynamic_info files for examples/tiny_cnn (valid and malformed)
OUT_DIR/config/*                   compression config files (valid YAML and JSON, invalid)
Prints the digits classifier's accuracy on the held-out samples.
"""
import inspect
import json
import os
import sys

import numpy as np
import torch
from sklearn.datasets import load_digits


def onnx_export(*args, **kwargs):
    """torch.onnx.export with TorchScript's exporter: torch >= 2.9 defaults to
    dynamo's, which writes other graphs (static shapes, its own op spellings)."""
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    return torch.onnx.export(*args, **kwargs)


def write_sample(folder, inputs, label=None):
    os.makedirs(folder, exist_ok=True)
    for k, x in enumerate(inputs):
        np.save(os.path.join(folder, "input_%d.npy" % k), x)
    if label is not None:
        np.save(os.path.join(folder, "label.npy"), label)


def digits(out):
    torch.manual_seed(0)
    np.random.seed(0)
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    perm = np.random.RandomState(0).permutation(len(x))
    x, y = x[perm], y[perm]
    n_test = 120
    xtr, ytr, xte, yte = x[:-n_test], y[:-n_test], x[-n_test:], y[-n_test:]

    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    xt, yt = torch.from_numpy(xtr), torch.from_numpy(ytr)
    for _ in range(8):
        order = torch.randperm(len(xt))
        for i in range(0, len(xt), 64):
            idx = order[i:i + 64]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = float((model(torch.from_numpy(xte)).argmax(1).numpy() == yte).mean())

    root = os.path.join(out, "digits")
    os.makedirs(root, exist_ok=True)
    onnx_export(model, torch.zeros(1, 64), os.path.join(root, "model.onnx"), opset_version=13,
                input_names=["pixels"], output_names=["logits"],
                dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}})
    for i in range(n_test):
        write_sample(os.path.join(root, "data", "test_data_set_%d" % i), [xte[i:i + 1]], yte[i:i + 1].copy())
    for i in range(5):
        write_sample(os.path.join(root, "data_nolabel", "test_data_set_%d" % i), [xte[i:i + 1]])
    for i in range(3):
        write_sample(os.path.join(root, "data_wrong_inputs", "test_data_set_%d" % i), [xte[i:i + 1], xte[i:i + 1]])
    os.makedirs(os.path.join(out, "empty_data"), exist_ok=True)
    print("digits: accuracy %.4f on %d held-out samples" % (acc, n_test))
    return acc


class TwoIn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(8, 6)
        self.emb = torch.nn.Embedding(16, 6)

    def forward(self, x, ids):
        y1 = torch.relu(self.lin(x)) + self.emb(ids).mean(1)
        # x.size(0) exports as Shape/Gather: a graph whose shapes can be folded
        y2 = x.view(x.size(0), 2, 4).sum(-1)
        return y1, y2


def two_in(out):
    torch.manual_seed(1)
    model = TwoIn().eval()
    root = os.path.join(out, "two_in")
    os.makedirs(root, exist_ok=True)
    x, ids = torch.randn(1, 8), torch.randint(0, 16, (1, 4))
    onnx_export(model, (x, ids), os.path.join(root, "model.onnx"), opset_version=13,
                input_names=["x", "ids"], output_names=["y1", "y2"],
                dynamic_axes={"x": {0: "batch"}, "ids": {0: "batch"}, "y1": {0: "batch"}, "y2": {0: "batch"}})
    rng = np.random.RandomState(1)
    for i in range(5):
        write_sample(os.path.join(root, "data", "test_data_set_%d" % i),
                     [rng.randn(1, 8).astype(np.float32), rng.randint(0, 16, (1, 4)).astype(np.int64)])
    # samples of batch 1, 2, 1, 3: a graph specialised to one shape cannot run them all
    for i, b in enumerate([1, 2, 1, 3]):
        write_sample(os.path.join(root, "data_mixed", "test_data_set_%d" % i),
                     [rng.randn(b, 8).astype(np.float32), rng.randint(0, 16, (b, 4)).astype(np.int64)])


def dyn(out):
    root = os.path.join(out, "dyn")
    os.makedirs(root, exist_ok=True)
    valid = {"inputs": [{"0": {"name": "batch", "min_val": 1, "opt_val": 1, "max_val": 8}}],
             "outputs": [{"0": "batch"}]}
    files = {
        "valid.json": json.dumps(valid, indent=2),
        "bad_not_json.json": "inputs: [batch 1 to 8]\n",
        "bad_min_gt_max.json": json.dumps({"inputs": [{"0": {"name": "batch", "min_val": 8, "opt_val": 4, "max_val": 2}}],
                                           "outputs": [{"0": "batch"}]}),
        "bad_unknown_key.json": json.dumps({"inputs": [{"0": {"name": "batch", "min_val": 1, "opt_val": 1, "max_val": 8}}],
                                            "outputs": [{"0": "batch"}], "shapes": []}),
        "bad_unknown_axis_key.json": json.dumps({"inputs": [{"0": {"name": "batch", "min": 1, "opt_val": 1, "max_val": 8}}],
                                                 "outputs": [{"0": "batch"}]}),
        "bad_axis_x.json": json.dumps({"inputs": [{"x": {"name": "batch", "min_val": 1, "opt_val": 1, "max_val": 8}}],
                                       "outputs": [{"0": "batch"}]}),
        # tiny_cnn has one input: an entry for a second input names nothing
        "bad_second_input.json": json.dumps({"inputs": [{"0": {"name": "batch", "min_val": 1, "opt_val": 1, "max_val": 8}},
                                                        {"0": {"name": "batch", "min_val": 1, "opt_val": 1, "max_val": 8}}],
                                             "outputs": [{"0": "batch"}]}),
        # tiny_cnn's input has rank 4
        "bad_axis_rank.json": json.dumps({"inputs": [{"6": {"name": "extra", "min_val": 1, "opt_val": 1, "max_val": 8}}],
                                          "outputs": [{"0": "batch"}]}),
    }
    for name, text in files.items():
        with open(os.path.join(root, name), "w") as f:
            f.write(text)


def config(out):
    root = os.path.join(out, "config")
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "valid.yaml"), "w") as f:
        f.write("# compression settings\nsparseml:\n  epochs: 1\n  learning_rate: 0.001\n  sparsity: 0.5\n"
                "intel_pruning:\n  epochs: 2\n  learning_rate: 0.0001\n  sparsity: 0.3\n")
    with open(os.path.join(root, "valid.json"), "w") as f:
        json.dump({"sparseml": {"epochs": 1, "learning_rate": 0.001, "sparsity": 0.5},
                   "intel_pruning": {"epochs": 2, "learning_rate": 0.0001, "sparsity": 0.3}}, f, indent=2)
    with open(os.path.join(root, "bad_key.yaml"), "w") as f:
        f.write("sparseml:\n  epochs: 1\n  learning_rte: 0.001\n")
    with open(os.path.join(root, "bad_key.json"), "w") as f:
        json.dump({"sparseml": {"epochs": 1, "sparsty": 0.5}}, f)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_models.py OUT_DIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    digits(out)
    two_in(out)
    dyn(out)
    config(out)


if __name__ == "__main__":
    main()
