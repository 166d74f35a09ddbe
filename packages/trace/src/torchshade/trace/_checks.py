"""The checks a traced graph runs on itself.

* ``GuardCheck``: the first node after the placeholders calls it with every
  input. It holds the trace's ShapeEnv and the input names the guards are
  written over (the placeholders' names), evaluates all guards at once and,
  when one fails, raises ``GuardViolationError`` naming each failing guard,
  the input values it saw and the user's line that created it.
* ``insert_runtime_asserts``: each ``torch._check`` on an unbacked value
  (``u0 >= 2``) becomes ``aten._assert_scalar(cond, message)`` right after
  the node that makes the value.

``make_fx(..., check_guards=False)`` adds neither (graphs for a compiler).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.fx as fx

from ._errors import GuardViolationError
from ._sym_expr import SymExprBuilder
from ._tracer import PURE_SYM_TARGETS, ProxyTracer

_ASSERT = torch.ops.aten._assert_scalar.default


class GuardCheck:
    """The call target of a graph's guard-check node; see the module docstring."""

    def __init__(self, shape_env: Any, names: Sequence[str]) -> None:
        self.shape_env = shape_env
        self.names = tuple(names)
        self.__name__ = "check_guards"
        self.__qualname__ = "check_guards"
        self.__module__ = __name__

    def __repr__(self) -> str:
        return f"GuardCheck(the guards of a trace over {len(self.names)} inputs)"

    def __call__(self, *inputs: object) -> None:
        failures = self.shape_env.check_guards(dict(zip(self.names, inputs)))
        if not failures:
            return
        listed = "\n".join(f"  - {f}" for f in failures)
        raise GuardViolationError(
            f"make_fx graph: the inputs break {len(failures)} guard(s) recorded while tracing:\n"
            f"{listed}\nThe graph is valid only for inputs that satisfy every guard of its "
            "trace; run it on such inputs, or trace again with inputs like these. (A graph "
            "built with make_fx(..., check_guards=False) skips this check and may return a "
            "wrong result.)"
        )


class StaticCheck:
    """The guard check of a real or fake trace: sizes and ints are constants in its graph.

    Each tensor input must have the size it had while tracing, each int input
    the same value; otherwise ``GuardViolationError`` names the input, what it
    got and what the graph was traced for.
    """

    def __init__(self, tracing_mode: str, names: Sequence[str], vals: Sequence[object]) -> None:
        self.tracing_mode = tracing_mode
        self.expected = [(name, _static(val)) for name, val in zip(names, vals)]
        self.__name__ = "check_static_sizes"
        self.__qualname__ = "check_static_sizes"
        self.__module__ = __name__

    def __call__(self, *inputs: object) -> None:
        for (name, expected), value in zip(self.expected, inputs):
            got = _static(value)
            if expected is not None and got != expected:
                raise GuardViolationError(
                    f"make_fx graph (tracing_mode={self.tracing_mode!r}): input {name} has {got}, but the "
                    f"graph was traced for {expected}: sizes and ints are constants in a {self.tracing_mode} "
                    "trace. Call it with inputs like the example, or trace with "
                    "tracing_mode='symbolic' for a graph valid at other sizes."
                )


def _static(value: object) -> str | None:
    if isinstance(value, torch.Tensor):
        return f"size [{', '.join(str(d) for d in value.shape)}]"
    if type(value) is int:
        return f"value {value}"
    return None


def insert_guard_check(graph: fx.Graph, check: GuardCheck | StaticCheck, placeholders: Sequence[fx.Node]) -> None:
    """The guard-check node, right after the placeholders."""
    first = next((n for n in graph.nodes if n.op != "placeholder"), None)
    if first is None:
        return
    with graph.inserting_before(first):
        node = graph.call_function(check, tuple(placeholders))
    node.meta["val"] = None


def insert_runtime_asserts(tracer: ProxyTracer) -> None:
    """``aten._assert_scalar`` for each runtime assert, after the nodes of its symbols, in order."""
    graph = tracer.graph
    order = {n: i for i, n in enumerate(graph.nodes)}
    after: dict[fx.Node, fx.Node] = {}  # a symbol's node -> the last assert placed after it
    for ra in tracer.fake_mode.shape_env.runtime_asserts:
        refs = {s: tracer.exprs.get(s) for s in ra.expr.free_symbols}
        anchors = [d for d in refs.values() if isinstance(d, fx.Node) and d in order]  # unbacked: made at once
        if not anchors or any(d is None for d in refs.values()):
            continue
        last = max(anchors, key=lambda d: order[d])
        with graph.inserting_before(after.get(last, last).next):
            # a backed symbol's size read (pending) is made here, after its input's placeholder
            local: dict[Any, object] = {s: tracer._made(d) for s, d in refs.items() if d is not None}
            builder = SymExprBuilder(tracer._emit_expr, local.get, local.__setitem__)
            cond = builder.build(ra.expr)
            if not isinstance(cond, fx.Node):
                continue
            message = f"Runtime assertion failed for expression {ra.text} (from torch._check at {ra.origin})"
            node = graph.call_function(_ASSERT, (cond, message))
        node.meta["val"] = None
        after[last] = node
        order = {n: i for i, n in enumerate(graph.nodes)}


def remove_unused_sym_nodes(graph: fx.Graph) -> None:
    """Size reads and SymInt arithmetic nothing uses (pure): gone. Tensor ops all stay."""
    for node in reversed(list(graph.nodes)):
        if node.op == "call_function" and not node.users and node.target in PURE_SYM_TARGETS:
            graph.erase_node(node)
