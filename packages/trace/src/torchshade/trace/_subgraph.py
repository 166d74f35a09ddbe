"""Subgraphs: what a higher-order op (cond, while_loop, scan) needs from the trace it runs in.

A higher-order op called under ``make_fx`` traces each body on its own into
a GraphModule and adds one node for itself to the graph being built::

    if is_tracing():
        body = trace_subgraph(fn, args)            # its own graph: args are placeholders arg0, arg1, ...
        graph = add_subgraph("body_graph", body)   # body.module as attribute body_graph_<n>; a get_attr node
        add_call(op, (graph, args, body.lifted), outputs)   # one call_function node; outputs its getitems

``trace_subgraph`` runs ``fn`` under a fresh ``ProxyTorchDispatchMode`` with
the outer trace's modes set aside, so its ops go into its own graph only. A
tensor or symbol of the outer trace that the body uses without getting it as
an argument (closes over) becomes an extra placeholder ``lifted_<i>`` after
the arguments; its outer value is in ``Subgraph.lifted``, for the op to pass.

``add_call``'s arguments are nested tuples and lists of ``fx.Node``s (from
``add_subgraph``), tensors and symbolic values of the outer trace (replaced by
their nodes) and constants. Its node's ``meta["val"]`` is the tuple of
``outputs`` (fake copies of tensors); each output tensor or symbolic value is
then known to the outer trace as ``getitem(node, i)``, made when first used.
"""

from __future__ import annotations

import contextlib
import operator
import sys
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import torch
import torch.fx as fx
from torch.utils._python_dispatch import _disable_current_modes, _get_current_dispatch_mode_stack

from torchshade.shapes import sym_op_tracing

from ._mode import ProxyTorchDispatchMode
from ._tracer import Pending, ProxyTracer, wrap_symnode

SymValue = (torch.SymInt, torch.SymFloat, torch.SymBool)


@dataclass
class Subgraph:
    """One traced body: its GraphModule, the values it returned, the outer values it closed over."""

    module: fx.GraphModule
    outputs: tuple[object, ...]
    lifted: list[object] = field(default_factory=list)


def is_tracing() -> bool:
    """Whether a make_fx trace's mode is active here (a higher-order op should then add a node).

    False inside code that set the dispatch modes aside (computing values
    outside the trace), even while a trace runs further out.
    """
    return _innermost() is not None


def _innermost() -> ProxyTorchDispatchMode | None:
    for mode in reversed(_get_current_dispatch_mode_stack()):
        if isinstance(mode, ProxyTorchDispatchMode):
            return mode
    return None


def _active() -> ProxyTorchDispatchMode:
    mode = _innermost()
    if mode is None:
        raise RuntimeError("torchshade.trace: no make_fx trace is active here; check is_tracing() first.")
    return mode


@contextlib.contextmanager
def _outside(fake_mode: object) -> Iterator[None]:
    """Every mode set aside, then only ``fake_mode`` (if any): values computed, nothing recorded."""
    with _disable_current_modes(), contextlib.ExitStack() as stack:
        if fake_mode is not None:
            stack.enter_context(cast(contextlib.AbstractContextManager[object], fake_mode))
        yield


class _SubgraphTracer(ProxyTracer):
    """A ProxyTracer that lifts what its body closes over into placeholders."""

    def __init__(self, outer: ProxyTracer) -> None:
        super().__init__(outer.fake_mode, outer.snapshot, outer.allow_non_fake_inputs, outer.module_names)
        self.outer = outer
        self.lifted: list[object] = []  # outer values: tensors, or SymInts of symbols

    def _lift(self, value: object, val: object) -> fx.Node:
        placeholders = [n for n in self.graph.nodes if n.op == "placeholder"]
        where = self.graph.inserting_after(placeholders[-1]) if placeholders else self.graph.inserting_before(None)
        with where:
            node = self.placeholder(f"lifted_{len(self.lifted)}", value, val)
        self.lifted.append(value)
        return node

    def _constant(self, t: torch.Tensor, func: object) -> fx.Node:
        return self._lift(t, self.snapshot(t))

    def _known_expr(self, expr: Any) -> object:
        known = super()._known_expr(expr)
        if known is None and getattr(expr, "is_Symbol", False) and self.fake_mode is not None:
            if self.outer._known_expr(expr) is not None:
                env = self.fake_mode.shape_env
                value = wrap_symnode(env.node(expr, env.hint_of(expr), int))
                return self._lift(value, value)
        return known


def trace_subgraph(fn: Callable[..., Sequence[object]], args: Sequence[object]) -> Subgraph:
    """Trace ``fn(*args)`` into its own GraphModule; ``args`` become its placeholders, its outputs a flat tuple."""
    mode = _active()
    tracer = _SubgraphTracer(mode.tracer)
    with _outside(None), contextlib.ExitStack() as stack:
        for i, arg in enumerate(args):
            tracer.placeholder(f"arg{i}", arg, tracer.snapshot(arg) if isinstance(arg, torch.Tensor) else arg)
        if tracer.fake_mode is not None:
            stack.enter_context(tracer.fake_mode)
        stack.enter_context(ProxyTorchDispatchMode(tracer, mode.decompositions))
        stack.enter_context(sym_op_tracing(tracer.on_sym_op))
        tracer.entry = sys._getframe()
        outputs = fn(*args)
    tracer.entry = sys._getframe()
    with _outside(None):
        tracer.graph.output(tuple(_node_of(tracer, out) for out in outputs))  # type: ignore[misc]  # nodes and numbers: fx Arguments
    root = torch.nn.Module()
    for name, value in tracer.constants.items():
        setattr(root, name, value)
    return Subgraph(fx.GraphModule(root, tracer.graph), tuple(outputs), tracer.lifted)


def _node_of(tracer: ProxyTracer, value: object) -> object:
    if isinstance(value, torch.Tensor):
        return tracer.tensor_node(value, "the output")
    if isinstance(value, SymValue):
        return tracer.sym_value(value)
    return value


def add_subgraph(prefix: str, subgraph: Subgraph) -> fx.Node:
    """``subgraph.module`` as attribute ``<prefix>_<n>`` of the GraphModule being traced, and its get_attr node."""
    tracer = _active().tracer
    n = sum(1 for name in tracer.constants if name.startswith(prefix + "_"))
    name = f"{prefix}_{n}"
    # The tracer keeps attributes in a dict of tensors; a GraphModule attribute is set on the root the same way.
    cast(dict[str, object], tracer.constants)[name] = subgraph.module
    return tracer.graph.get_attr(name)


def add_call(target: Callable[..., object], args: tuple[object, ...], outputs: Sequence[object]) -> fx.Node:
    """One ``call_function`` node of ``target`` in the graph being traced; ``outputs`` become its getitems."""
    tracer = _active().tracer
    node_args = tuple(_node_arg(tracer, a) for a in args)
    with _outside(None):
        val = tuple(tracer.snapshot(o) if isinstance(o, torch.Tensor) else o for o in outputs)
    node = tracer.create(target, node_args, {}, val)
    for i, out in enumerate(outputs):
        if isinstance(out, torch.Tensor):
            tracer.tensors[id(out)] = (weakref.ref(out), Pending(operator.getitem, (node, i), out))
            tracer._new_symbols(out)
        elif isinstance(out, SymValue):
            pending = Pending(operator.getitem, (node, i), out.node)
            tracer.symnodes[id(out.node)] = (out.node, pending)
            tracer.exprs.setdefault(out.node.expr, pending)
    return node


def _node_arg(tracer: ProxyTracer, arg: object) -> object:
    if isinstance(arg, (tuple, list)):
        return tuple(_node_arg(tracer, a) for a in arg)
    if isinstance(arg, fx.Node):
        return arg
    return _node_of(tracer, arg) if not isinstance(arg, torch.Tensor) else tracer.tensor_node(arg)
