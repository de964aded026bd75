"""speedster: Speedster's optimize_model over the speedster C library.

    from speedster import optimize_model, save_model, load_model
    learner = optimize_model(model, input_data=[((x,), label), ...])
    y = learner(x)

`model` is a path to an ONNX file or a torch.nn.Module (exported with
torch.onnx.export, opset 13, or 14 when 13 fails). torch is optional: it is
only used when a torch model or tensor is passed in.

The library (libspeedster.so) is found through $SPEEDSTER_LIB (the file or
its folder), else <repo>/build/libspeedster.so, else the system loader.

Progress lines and the results table go to the logging logger "speedster"
(level INFO). By default it has its own handler that writes each message to
the current sys.stderr and does not propagate, so every line shows once; to
silence it: logging.getLogger("speedster").setLevel(logging.WARNING); to route
it elsewhere, replace its handlers (and set propagate as you like).

Errors from the C library are raised with its message: ValueError (invalid
model, data or option), NotImplementedError (valid but not supported by this
build), OSError (I/O), MemoryError, speedster.SpeedsterError (internal).
"""
import logging
import sys

from ._lib import SpeedsterError, lib_path  # noqa: F401  (raises ImportError when the library is missing)
from ._learner import InferenceLearner, load_model, save_model
from ._optimize import optimize_model

__all__ = ["optimize_model", "save_model", "load_model", "InferenceLearner", "SpeedsterError", "lib_path"]
__version__ = "0.1.0"


class _CurrentStderrHandler(logging.Handler):
    """Writes to whatever sys.stderr is at the time (so redirections apply)."""

    def emit(self, record):
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001
            self.handleError(record)


_logger = logging.getLogger("speedster")
if not _logger.handlers:
    _h = _CurrentStderrHandler()
    _h.setFormatter(logging.Formatter("%(message)s"))
    _logger.addHandler(_h)
    _logger.setLevel(logging.INFO)
    _logger.propagate = False
