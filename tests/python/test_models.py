#!/usr/bin/python3
"""Real models through the Python package: torchvision resnet18, a small
transformer called with keyword tensors, a custom Python metric, accuracy on
a digits classifier trained here, DataLoader input, and an ONNX file with
numpy in and out."""
import math
import os
import tempfile

import numpy as np
import torch
import torchvision

from _harness import LogCapture, assert_fp32_close, check, finish

torch.manual_seed(0)


def resnet18():
    from speedster import load_model, optimize_model, save_model
    model = torchvision.models.resnet18().eval()
    xs = [torch.randn(1, 3, 112, 112) for _ in range(2)]
    with LogCapture() as log:
        learner = optimize_model(model, input_data=[((x,), torch.tensor([1])) for x in xs], device="cpu")
    assert "[Speedster results on" in log.text, "the results table did not reach the logger"
    x = torch.randn(1, 3, 112, 112)
    with torch.no_grad():
        want = model(x)
    got = learner(x)
    assert isinstance(got, torch.Tensor), type(got)
    assert_fp32_close(got, want)
    assert_fp32_close(learner.forward(x), want, "forward()")
    got_np = learner(x.numpy())
    assert isinstance(got_np, np.ndarray), type(got_np)
    assert_fp32_close(got_np, want.numpy(), "numpy call")
    size = learner.get_size()
    n_params = sum(p.numel() for p in model.parameters()) * 4
    assert 0.9 * n_params <= size <= 1.1 * n_params + 1e6, (size, n_params)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "learner")
        learner.save(path)
        assert os.path.exists(os.path.join(path, "python_meta.json"))
        loaded = load_model(path)
        got2 = loaded(x)
        assert isinstance(got2, torch.Tensor), type(got2)
        assert torch.equal(got2, got), "save -> load changed the outputs"
        save_model(loaded, os.path.join(d, "again"))
        assert np.array_equal(load_model(os.path.join(d, "again"))(x.numpy()), got.numpy())
    return "size %.1f MB" % (size / 1e6)


class TinyEncoder(torch.nn.Module):
    """HuggingFace-style: forward(input_ids, attention_mask) with keyword tensors."""

    def __init__(self, vocab=100, hidden=32, heads=4, layers=2):
        super().__init__()
        self.heads = heads
        self.emb = torch.nn.Embedding(vocab, hidden)
        self.pos = torch.nn.Embedding(64, hidden)
        self.qkv = torch.nn.ModuleList(torch.nn.Linear(hidden, 3 * hidden) for _ in range(layers))
        self.out = torch.nn.ModuleList(torch.nn.Linear(hidden, hidden) for _ in range(layers))
        self.ln = torch.nn.ModuleList(torch.nn.LayerNorm(hidden) for _ in range(layers))
        self.ff = torch.nn.ModuleList(torch.nn.Sequential(torch.nn.Linear(hidden, 64), torch.nn.GELU(),
                                                          torch.nn.Linear(64, hidden)) for _ in range(layers))
        self.pool = torch.nn.Linear(hidden, hidden)

    def forward(self, input_ids=None, attention_mask=None):
        b, s = input_ids.shape
        h = self.emb(input_ids) + self.pos(torch.arange(s).unsqueeze(0))
        mask = (1.0 - attention_mask[:, None, None, :].to(h.dtype)) * -10000.0
        d = h.shape[-1] // self.heads
        for qkv, out, ln, ff in zip(self.qkv, self.out, self.ln, self.ff):
            q, k, v = qkv(h).split(h.shape[-1], dim=-1)
            q, k, v = (t.view(b, s, self.heads, d).transpose(1, 2) for t in (q, k, v))
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d) + mask, dim=-1)
            ctx = (att @ v).transpose(1, 2).reshape(b, s, -1)
            h = ln(h + out(ctx))
            h = h + ff(h)
        return h, torch.tanh(self.pool(h[:, 0]))


def transformer_keywords():
    from speedster import load_model, optimize_model
    model = TinyEncoder().eval()

    def sample():
        ids = torch.randint(0, 100, (2, 16))
        mask = torch.ones(2, 16, dtype=torch.int64)
        mask[1, 10:] = 0
        return {"input_ids": ids, "attention_mask": mask}

    # keys in the order the forward does not declare them: matched by name
    input_data = [dict(reversed(list(sample().items()))) for _ in range(3)]
    learner = optimize_model(model, input_data=input_data)
    assert learner.input_names == ["input_ids", "attention_mask"], learner.input_names
    s = sample()
    with torch.no_grad():
        want = model(**s)
    for how, got in (("keywords", learner(**s)), ("dict", learner(s)),
                     ("positional", learner(s["input_ids"], s["attention_mask"]))):
        assert isinstance(got, tuple) and len(got) == 2, (how, type(got))
        for g, w in zip(got, want):
            assert_fp32_close(g, w, how)
    with tempfile.TemporaryDirectory() as d:
        learner.save(d)
        loaded = load_model(d)
        got = loaded(**s)
        for g, w in zip(got, learner(**s)):
            assert torch.equal(g, w), "save -> load changed the outputs"
    try:
        learner(input_ids=s["input_ids"])
        raise AssertionError("a missing input should raise")
    except TypeError as e:
        assert "attention_mask" in str(e), e


def conv_net():
    """Big enough that compiled candidates beat the interpreted original, so
    the search validates them (a candidate that cannot win is not validated)."""
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(32, 4)).eval()


def custom_metric():
    from speedster import optimize_model
    model = conv_net()
    input_data = [((torch.randn(3, 3, 48, 48),), torch.tensor([0, 1, 2])) for _ in range(4)]
    seen = []

    def metric(original, optimized, label):
        assert isinstance(original, torch.Tensor) and isinstance(optimized, torch.Tensor)
        seen.append(label)
        return float((original - optimized).abs().max())

    with LogCapture() as log:
        learner = optimize_model(model, input_data=input_data, metric=metric, metric_drop_ths=0.01)
    # Candidates slower than a valid one are not validated; the others call the metric.
    tried = [l for l in log.lines if " graph " in l and ("latency" in l or "rejected" in l or "skipped" in l)]
    validated = [l for l in tried if "cannot win" not in l]
    assert seen or len(validated) <= 1, "the metric was never called although %d candidates were validated" % len(validated)
    assert all(isinstance(l, torch.Tensor) and l.tolist() == [0, 1, 2] for l in seen), seen
    assert learner.metric_drop <= 0.01, learner.metric_drop
    x = torch.randn(3, 3, 48, 48)
    with torch.no_grad():
        # the threshold allows reduced precision: the user's metric is the rule
        diff = float((learner(x) - model(x)).abs().max())
    assert diff <= 0.02, "learner differs by %g on a fresh input (metric allowed 0.01 on the samples)" % diff
    return "called %d times, metric drop %.3g" % (len(seen), learner.metric_drop)


def custom_metric_threshold_respected():
    """A metric saying every optimized candidate loses 0.5 with metric_drop_ths
    0.1: the spec says such candidates are discarded, so the learner must
    report a drop within the threshold (the original itself, drop 0)."""
    from speedster import optimize_model
    model = conv_net()
    input_data = [((torch.randn(3, 3, 48, 48),), None) for _ in range(4)]
    calls = []

    def pessimist(original, optimized, label):
        calls.append(1)
        return 0.5

    with LogCapture() as log:
        learner = optimize_model(model, input_data=input_data, metric=pessimist, metric_drop_ths=0.1)
    validated = [l for l in log.lines if " graph " in l and "cannot win" not in l and "not available" not in l]
    assert calls or len(validated) <= 1, "the metric was never called although candidates were validated"
    # every candidate the metric was asked about must be rejected, whichever wins on latency
    kept = [l for l in log.lines if "metric drop 0.5" in l and "rejected" not in l]
    assert not kept, "accepted although its metric drop 0.5 exceeds metric_drop_ths 0.1: %s" % kept
    assert learner.metric_drop <= 0.1, "learner metric drop %g exceeds metric_drop_ths 0.1" % learner.metric_drop


def digits_data():
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    X = torch.tensor(X / 16.0, dtype=torch.float32)
    y = torch.tensor(y, dtype=torch.int64)
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(X), generator=g)
    return X[perm[:1400]], y[perm[:1400]], X[perm[1400:]], y[perm[1400:]]


def digits_accuracy():
    from speedster import optimize_model
    Xtr, ytr, Xte, yte = digits_data()
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(Xtr), ytr)
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(Xte).argmax(1) == yte).float().mean().item()
    assert acc > 0.85, "the test classifier trained badly: %.3f" % acc
    input_data = [((Xte[i:i + 40],), yte[i:i + 40]) for i in range(0, 360, 40)]
    learner = optimize_model(model, input_data=input_data, metric="accuracy", metric_drop_ths=0.02)
    got = (learner(Xte[:40]).argmax(1) == yte[:40]).float().mean().item()
    with torch.no_grad():
        ref = (model(Xte[:40]).argmax(1) == yte[:40]).float().mean().item()
    assert abs(got - ref) <= 0.02, (got, ref)
    assert learner.metric_drop <= 0.02, learner.metric_drop
    return "test accuracy %.3f, learner metric drop %.3g" % (acc, learner.metric_drop)


def digits_dataloader():
    from speedster import optimize_model
    Xtr, ytr, Xte, yte = digits_data()
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)).eval()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(Xte[:128], yte[:128]), batch_size=32)
    learner = optimize_model(model, input_data=loader, metric="accuracy")
    with torch.no_grad():
        assert_fp32_close(learner(Xte[:32]), model(Xte[:32]))


def onnx_file_numpy():
    from speedster import optimize_model
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Tanh()).eval()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "tiny.onnx")
        torch.onnx.export(model, (torch.randn(2, 8),), path, input_names=["x"], output_names=["y"], opset_version=13)
        rng = np.random.default_rng(0)
        data = [((rng.standard_normal((2, 8)).astype(np.float32),), None) for _ in range(3)]
        learner = optimize_model(path, input_data=data)
    x = rng.standard_normal((2, 8)).astype(np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    got = learner(x)
    assert isinstance(got, np.ndarray), type(got)
    assert_fp32_close(got, want)
    assert_fp32_close(learner(x=x), want, "keyword by ONNX input name")
    assert_fp32_close(learner(x.astype(np.float64)), want, "float64 numpy input")


def no_torch_needed():
    """An ONNX file with numpy data works without torch being imported."""
    import subprocess
    import sys
    model = torch.nn.Sequential(torch.nn.Linear(8, 3)).eval()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "tiny.onnx")
        torch.onnx.export(model, (torch.randn(1, 8),), path, opset_version=13)
        code = (
            "import sys, numpy as np\n"
            "import speedster\n"
            "x = np.ones((1, 8), np.float32)\n"
            "l = speedster.optimize_model(sys.argv[1], [((x,), None)], metric='numeric_precision')\n"
            "y = l(x)\n"
            "l.save(sys.argv[2]); z = speedster.load_model(sys.argv[2])(x)\n"
            "assert isinstance(y, np.ndarray) and y.shape == (1, 3) and np.array_equal(y, z)\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n"
            "print('ok')\n")
        r = subprocess.run([sys.executable, "-c", code, path, os.path.join(d, "learner")],
                           capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


if __name__ == "__main__":
    check("torchvision resnet18: outputs, numpy call, size, save -> load", resnet18)
    check("transformer with input_ids/attention_mask keywords (dict samples)", transformer_keywords)
    check("custom Python metric is called with torch tensors and labels", custom_metric)
    check("custom metric threshold: candidates above metric_drop_ths are discarded", custom_metric_threshold_respected)
    check("accuracy on a digits classifier trained here", digits_accuracy)
    check("torch DataLoader as input_data", digits_dataloader)
    check("ONNX file in, numpy in and out", onnx_file_numpy)
    check("ONNX + numpy without torch imported (save/load too)", no_torch_needed)
    finish()
