"""torchshade.trace: make_fx, PyTorch programs to FX graphs of aten ops.

Switch from torch by changing the import::

    from torchshade.trace import make_fx   # was torch.fx.experimental.proxy_tensor

Graphs from a symbolic trace check their own guards when called; see README.md
for the graph contract (opcodes, targets, ``node.meta`` keys).

For higher-order ops (torchshade.hops): ``is_tracing``, ``trace_subgraph``,
``add_subgraph``, ``add_call`` and ``Subgraph`` put a body in its own graph and
the op's one node in the graph being traced (see ``_subgraph.py``).
"""

from ._errors import CapturedTensorError as CapturedTensorError
from ._errors import ForeignSymbolError as ForeignSymbolError
from ._errors import GuardViolationError as GuardViolationError
from ._errors import TraceError as TraceError
from ._errors import TraceInputError as TraceInputError
from ._errors import TraceOutputError as TraceOutputError
from ._errors import TracingModeError as TracingModeError
from ._make_fx import make_fx as make_fx
from ._subgraph import Subgraph as Subgraph
from ._subgraph import add_call as add_call
from ._subgraph import add_subgraph as add_subgraph
from ._subgraph import is_tracing as is_tracing
from ._subgraph import trace_subgraph as trace_subgraph

__all__: list[str] = [
    "CapturedTensorError",
    "ForeignSymbolError",
    "GuardViolationError",
    "Subgraph",
    "TraceError",
    "TraceInputError",
    "TraceOutputError",
    "TracingModeError",
    "add_call",
    "add_subgraph",
    "is_tracing",
    "make_fx",
    "trace_subgraph",
]
