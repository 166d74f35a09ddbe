"""torchshade.trace: make_fx, PyTorch programs to FX graphs of aten ops.

Switch from torch by changing the import::

    from torchshade.trace import make_fx   # was torch.fx.experimental.proxy_tensor

Graphs from a symbolic trace check their own guards when called; see README.md
for the graph contract (opcodes, targets, ``node.meta`` keys).
"""

from ._errors import CapturedTensorError as CapturedTensorError
from ._errors import ForeignSymbolError as ForeignSymbolError
from ._errors import GuardViolationError as GuardViolationError
from ._errors import TraceError as TraceError
from ._errors import TraceInputError as TraceInputError
from ._errors import TraceOutputError as TraceOutputError
from ._errors import TracingModeError as TracingModeError
from ._make_fx import make_fx as make_fx

__all__: list[str] = [
    "CapturedTensorError",
    "ForeignSymbolError",
    "GuardViolationError",
    "TraceError",
    "TraceInputError",
    "TraceOutputError",
    "TracingModeError",
    "make_fx",
]
