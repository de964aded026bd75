#!/usr/bin/python3
"""Bad calls give clear Python exceptions (and the C library's messages)."""
import io
import sys
import tempfile

import numpy as np
import torch

from _harness import LogCapture, check, finish

torch.manual_seed(0)


def tiny():
    return torch.nn.Sequential(torch.nn.Linear(4, 3)).eval()


def data(n=3):
    return [((torch.randn(2, 4),), torch.tensor([0, 1])) for _ in range(n)]


def raises(exc, fn, *words):
    try:
        fn()
    except exc as e:
        msg = str(e)
        for w in words:
            assert w.lower() in msg.lower(), "message %r lacks %r" % (msg, w)
        return msg
    except Exception as e:  # noqa: BLE001
        raise AssertionError("expected %s, got %s: %s" % (exc.__name__, type(e).__name__, e))
    raise AssertionError("expected %s, nothing was raised" % exc.__name__)


def unsupported_model():
    from speedster import optimize_model
    raises(TypeError, lambda: optimize_model(42, data()), "torch.nn.Module", "int")
    raises(TypeError, lambda: optimize_model(object(), data()), "onnx")
    return raises(FileNotFoundError, lambda: optimize_model("/nonexistent/model.onnx", data()), "no such")


def not_onnx_file():
    from speedster import optimize_model
    with tempfile.NamedTemporaryFile(suffix=".onnx") as f:
        f.write(b"this is not a protobuf")
        f.flush()
        return raises(ValueError, lambda: optimize_model(f.name, data()))


def empty_input_data():
    from speedster import optimize_model
    raises(ValueError, lambda: optimize_model(tiny(), []), "empty")
    return raises(ValueError, lambda: optimize_model(tiny(), None), "empty")


def inconsistent_arity():
    from speedster import optimize_model
    bad = data(2) + [((torch.randn(2, 4), torch.randn(2, 4)), None)]
    raises(ValueError, lambda: optimize_model(tiny(), bad), "sample 2", "2 inputs", "1")
    bad_shape = [((torch.randn(2, 4),), None), ((torch.randn(2, 4), torch.randn(1)), None)]
    raises(ValueError, lambda: optimize_model(tiny(), bad_shape), "sample 1")
    return raises(ValueError, lambda: optimize_model(tiny(), [(torch.randn(2, 4), None, 3)]), "(inputs, label)")


class MetricBroke(Exception):
    pass


def metric_raises():
    from speedster import optimize_model

    def metric(a, b, label):
        raise MetricBroke("the user's metric failed")

    msg = raises(MetricBroke, lambda: optimize_model(tiny(), data(), metric=metric, metric_drop_ths=0.1), "user's metric")
    return msg


def bad_options():
    from speedster import optimize_model
    raises(TypeError, lambda: optimize_model(tiny(), data(), backend="all"), "backend")
    raises(TypeError, lambda: optimize_model(tiny(), data(), foo=1, bar=2), "bar", "foo")
    raises(ValueError, lambda: optimize_model(tiny(), data(), optimization_time="fast"), "optimization_time")
    raises(ValueError, lambda: optimize_model(tiny(), data(), ignore_compilers=["warp_drive"]), "warp_drive")
    raises(ValueError, lambda: optimize_model(tiny(), data(), ignore_compressors=["shrink"]), "shrink")
    raises(ValueError, lambda: optimize_model(tiny(), data(), metric="f1"), "f1")
    raises(ValueError, lambda: optimize_model(tiny(), data(), metric_drop_ths=-1), "metric_drop_ths")
    raises(ValueError, lambda: optimize_model(tiny(), data(), device="quantum"), "quantum")
    raises(ValueError, lambda: optimize_model(tiny(), data(), threads=0), "threads")
    raises(ValueError, lambda: optimize_model(tiny(), data(), dynamic_info={"inputz": []}), "inputz")
    raises(Exception, lambda: optimize_model(tiny(), data(), config_file="/nonexistent/config.yaml"), "config")


def accuracy_needs_labels():
    from speedster import optimize_model
    unlabeled = [((torch.randn(2, 4),), None) for _ in range(3)]
    return raises(ValueError, lambda: optimize_model(tiny(), unlabeled, metric="accuracy"), "label")


def bad_learner_calls():
    from speedster import optimize_model
    model = tiny()
    learner = optimize_model(model, data())
    raises(TypeError, lambda: learner(torch.randn(2, 4), torch.randn(2, 4)), "takes 1")
    raises(TypeError, lambda: learner(nope=torch.randn(2, 4)), "nope")
    raises(TypeError, lambda: learner("text"), "tensor")
    # the learner was tuned for [2, 4] (no dynamic_info): another shape runs
    # correctly or fails clearly, never a wrong answer
    x = torch.randn(5, 4)
    try:
        y = learner(x)
    except ValueError as e:
        return "other shape refused: %s" % e
    with torch.no_grad():
        np.testing.assert_allclose(y.numpy(), model(x).numpy(), rtol=1e-4, atol=1e-5)
    return "other shape re-planned correctly"


def load_errors():
    from speedster import load_model, save_model
    raises(ValueError, lambda: load_model("/nonexistent/learner"), "no such")
    with tempfile.TemporaryDirectory() as d:
        raises(ValueError, lambda: load_model(d), "metadata.json")
    raises(TypeError, lambda: save_model(tiny(), "/tmp/x"), "InferenceLearner")


def errors_not_printed_twice():
    from speedster import optimize_model
    old = sys.stderr
    sys.stderr = buf = io.StringIO()
    try:
        with LogCapture() as log:
            try:
                optimize_model(tiny(), data(), ignore_compilers=["native", "onednn"])
            except ValueError as e:
                err = str(e)
            else:
                raise AssertionError("ignoring every compiler should fail")
    finally:
        sys.stderr = old
    assert err not in buf.getvalue(), "the error was printed as well as raised"
    assert "skipped: in ignore_compilers" in log.text, log.text
    assert "skipped: in ignore_compilers" in buf.getvalue(), "progress lines did not reach stderr"
    return err


if __name__ == "__main__":
    check("an unsupported model type raises TypeError / FileNotFoundError", unsupported_model)
    check("a file that is not ONNX raises ValueError", not_onnx_file)
    check("empty input_data raises ValueError", empty_input_data)
    check("samples of inconsistent arity raise ValueError", inconsistent_arity)
    check("a metric that raises: its exception comes out of optimize_model", metric_raises)
    check("bad options raise TypeError/ValueError naming the option", bad_options)
    check("metric='accuracy' without labels raises ValueError", accuracy_needs_labels)
    check("bad learner calls raise TypeError/ValueError", bad_learner_calls)
    check("load_model/save_model errors", load_errors)
    check("a C error is raised once, not printed; progress goes to stderr", errors_not_printed_twice)
    finish()
