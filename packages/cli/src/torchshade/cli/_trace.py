"""``torchshade trace``: the model as an FX graph of aten ops, with symbolic shapes and guards.

The model is built in a fake tensor mode; its inputs are fakes of that mode
whose named dims are symbols (``--mode symbolic``) or the first ``--at``
point's sizes (``--mode fake``). ``torchshade.trace.make_fx`` traces
``torch.func.functional_call(model, params, inputs)``, so parameters and
buffers are graph inputs too.
"""

from __future__ import annotations

import re
import traceback
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sympy
import torch
import torch.utils._pytree as pytree
from torch import fx, nn
from torchshade.fake import FakeTensorMode
from torchshade.trace import make_fx

from ._errors import FactoryError
from ._frames import user_frames
from ._spec import DTYPE_NAMES, TensorSpec, named_dims

HINTS = (11, 13, 17, 19, 23, 29, 31, 37, 41, 43)
_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')


@dataclass(frozen=True)
class TraceReport:
    """What ``torchshade trace`` prints; ``to_json()`` is the documented ``--format json``."""

    target: str
    mode: str
    inputs: tuple[TensorSpec, ...]
    nodes: tuple[dict[str, object], ...]
    histogram: dict[str, int]
    outputs: tuple[str, ...]
    guards: tuple[dict[str, str], ...]

    def to_json(self) -> dict[str, object]:
        return {
            "format": "torchshade.trace/1", "target": self.target, "mode": self.mode,
            "inputs": {s.name: str(s) for s in self.inputs}, "nodes": list(self.nodes),
            "op_histogram": self.histogram, "outputs": list(self.outputs), "guards": list(self.guards),
        }  # fmt: skip


def _inputs(mode: FakeTensorMode, specs: Sequence[TensorSpec], sizes: Mapping[str, int] | None) -> dict[str, Any]:
    env = mode.shape_env
    symbols: dict[str, Any] = {}
    for i, name in enumerate(named_dims(specs)):
        if sizes is not None:
            symbols[name] = sizes[name]
        elif env is not None:
            symbols[name] = env.create_symint(HINTS[i % len(HINTS)] + 106 * (i // len(HINTS)), name)
    with mode:
        return {s.name: torch.zeros([symbols[d] if isinstance(d, str) else d for d in s.dims], dtype=s.dtype)
                for s in specs}  # fmt: skip


def trace_model(target: str, fn: Callable[..., object], specs: Sequence[TensorSpec], mode: FakeTensorMode,
                tracing_mode: str, sizes: Mapping[str, int] | None) -> TraceReport:  # fmt: skip
    """Trace ``fn`` (built in ``mode``) on fake inputs; report graph, ops, outputs and guards."""
    inputs = _inputs(mode, specs, sizes)
    names = {} if mode.shape_env is None else _symbol_names(inputs, specs)
    if isinstance(fn, nn.Module):
        module = fn
        state = {**dict(module.named_parameters()), **dict(module.named_buffers())}

        def call(params: dict[str, torch.Tensor], kwargs: dict[str, torch.Tensor]) -> object:
            return torch.func.functional_call(module, params, (), kwargs)

        args: tuple[object, ...] = (state, inputs)
    else:
        def call(kwargs: dict[str, torch.Tensor]) -> object:  # type: ignore[misc]  # one of two signatures
            return fn(**kwargs)

        args = (inputs,)
    try:
        with torch.no_grad():  # the forward graph only: no autograd bookkeeping in it
            gm = make_fx(call, tracing_mode=tracing_mode)(*args)
    except Exception as error:
        frames = user_frames(error.__traceback__)
        text = "".join(traceback.format_list(frames) + traceback.format_exception_only(error)).rstrip()
        raise FactoryError(f"TARGET {target!r}: tracing the model raised:\nTraceback (most recent call last):\n"
                           f"{text}\nFix the error above in your model, or check the --input specs.") from error  # fmt: skip
    nodes = tuple(_node(n, names) for n in gm.graph.nodes)
    histogram = Counter(_op_name(n.target) for n in gm.graph.nodes if n.op == "call_function")
    out_node = next(n for n in gm.graph.nodes if n.op == "output")
    outputs = tuple(_value(a.meta.get("val"), names) for a in pytree.tree_leaves(out_node.args) if isinstance(a, fx.Node))
    env = mode.shape_env
    defaults = {f"2 <= {n}" for n in names.values()}  # every named dim's own range: not a decision
    guards = () if env is None else tuple({"guard": g.python, "origin": str(g.origin)}
                                          for g in env.input_guards() if g.python not in defaults)  # fmt: skip
    return TraceReport(target, tracing_mode, tuple(specs), nodes, dict(histogram.most_common()), outputs, guards)


def _op_name(target: object) -> str:
    """``aten.mm.default`` for aten ops; the name of anything else called (``scan``, ``check_guards``)."""
    if isinstance(target, torch._ops.OpOverload):
        return str(target)
    return str(getattr(target, "__name__", None) or getattr(target, "name", None) or type(target).__name__)


def _symbol_names(inputs: Mapping[str, torch.Tensor], specs: Sequence[TensorSpec]) -> dict[Any, str]:
    names: dict[Any, str] = {}
    for spec in specs:
        for dim, size in zip(spec.dims, inputs[spec.name].shape, strict=True):
            if isinstance(dim, str) and isinstance(size, torch.SymInt):
                names[size.node.expr] = dim
    return names


def _dim(n: object, names: Mapping[Any, str]) -> str:
    if isinstance(n, torch.SymInt):
        renamed = {s: sympy.Symbol(names[s]) for s in n.node.expr.free_symbols if s in names}
        return str(n.node.expr.xreplace(renamed))
    return str(n)


def _value(val: object, names: Mapping[Any, str]) -> str:
    if isinstance(val, torch.Tensor):
        return f"{DTYPE_NAMES.get(val.dtype, str(val.dtype))}[{', '.join(_dim(d, names) for d in val.shape)}]"
    if isinstance(val, (tuple, list)):
        return "(" + ", ".join(_value(v, names) for v in val) + ")"
    return _dim(val, names) if isinstance(val, torch.SymInt) else type(val).__name__


def _node(node: fx.Node, names: Mapping[Any, str]) -> dict[str, object]:
    args = [str(a) for a in pytree.tree_leaves((node.args, node.kwargs))]
    frames = _FRAME.findall(str(node.meta.get("stack_trace") or ""))
    return {
        "name": node.name, "op": node.op, "target": str(node.target), "args": args,
        "value": _value(node.meta.get("val"), names) if node.op != "output" else "",
        "line": "{}:{} in {}".format(*frames[-1]) if frames else "",
    }  # fmt: skip
