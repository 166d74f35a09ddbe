"""Bodies as subgraphs: what the trace rules of cond, while_loop and scan share.

Under torchshade.trace's ``make_fx`` a body is traced on its own, by a
``BodyTracer`` (a ``ProxyTracer`` of trace) under a fresh
``ProxyTorchDispatchMode``, with the outer trace's modes set aside, so its ops
go into its own graph only::

    outer graph                       body graph (true_graph_0)
      x = placeholder                   arg0 = placeholder      the operands
      w = placeholder                   lifted_0 = placeholder  w, closed over
      true_graph_0 = get_attr           mul = aten.mul(arg0, lifted_0)
      cond = cond(pred, true_graph_0,   output (mul,)
               false_graph_0, (x, w))
      getitem = cond[0]

A tensor or symbol the body uses without getting it as an argument (closed
over) becomes an extra placeholder of the body, and the op's node passes the
outer value for it: ``Body.lifted``.
"""

from __future__ import annotations

import contextlib
import operator
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import torch
import torch.fx as fx
from torch.utils._python_dispatch import _disable_current_modes, _get_current_dispatch_mode_stack

from torchshade.fake import FakeTensorMode
from torchshade.shapes import sym_op_tracing
from torchshade.trace._mode import ProxyTorchDispatchMode
from torchshade.trace._tracer import Pending, ProxyTracer, wrap_symnode

SymValue = torch.SymInt | torch.SymFloat | torch.SymBool


def active_trace() -> ProxyTorchDispatchMode | None:
    """The innermost make_fx tracing mode now active, if any."""
    for mode in reversed(_get_current_dispatch_mode_stack()):
        if isinstance(mode, ProxyTorchDispatchMode):
            return mode
    return None


@contextlib.contextmanager
def outside_trace(fake_mode: FakeTensorMode | None) -> Iterator[None]:
    """Every mode set aside, then only ``fake_mode`` (if any): values computed, nothing recorded."""
    with _disable_current_modes(), contextlib.ExitStack() as stack:
        if fake_mode is not None:
            stack.enter_context(fake_mode)
        yield


class BodyTracer(ProxyTracer):
    """A ProxyTracer that lifts what its body closes over into placeholders."""

    def __init__(self, outer: ProxyTracer) -> None:
        super().__init__(outer.fake_mode, outer.snapshot, outer.allow_non_fake_inputs, outer.module_names)
        self.outer = outer
        self.lifted: list[object] = []  # outer values: tensors, or SymNodes of symbols

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
            outer = self.outer._known_expr(expr)
            if outer is not None:
                env = self.fake_mode.shape_env
                value = wrap_symnode(env.node(expr, env.hint_of(expr), int))
                return self._lift(value, value)
        return known


@dataclass
class Body:
    """One traced body: its GraphModule, its outputs' values, the outer values it closed over."""

    module: fx.GraphModule
    outputs: tuple[object, ...]
    lifted: list[object] = field(default_factory=list)


def trace_body(fn: Callable[..., Sequence[object]], args: Sequence[object]) -> Body:
    """Trace ``fn(*args)`` into its own GraphModule; ``args`` become its placeholders."""
    mode = active_trace()
    assert mode is not None  # the trace rules run only under make_fx
    tracer = BodyTracer(mode.tracer)
    with outside_trace(None), contextlib.ExitStack() as stack:
        for i, arg in enumerate(args):
            tracer.placeholder(f"arg{i}", arg, tracer.snapshot(arg) if isinstance(arg, torch.Tensor) else arg)
        if tracer.fake_mode is not None:
            stack.enter_context(tracer.fake_mode)
        stack.enter_context(ProxyTorchDispatchMode(tracer, mode.decompositions))
        stack.enter_context(sym_op_tracing(tracer.on_sym_op))
        tracer.entry = sys._getframe()
        outputs = fn(*args)
    tracer.entry = sys._getframe()
    with outside_trace(None):
        tracer.graph.output(tuple(_node_of(tracer, out) for out in outputs))  # type: ignore[misc]  # nodes and numbers: fx Arguments
    root = torch.nn.Module()
    for name, value in tracer.constants.items():
        setattr(root, name, value)
    return Body(fx.GraphModule(root, tracer.graph), tuple(outputs), tracer.lifted)


def _node_of(tracer: ProxyTracer, value: object) -> object:
    if isinstance(value, torch.Tensor):
        return tracer.tensor_node(value, "the output")
    if isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        return tracer.sym_value(value)
    return value


def outer_arg(value: object) -> object:
    """The outer trace's node (or constant) for an operand or a lifted value."""
    mode = active_trace()
    assert mode is not None
    tracer = mode.tracer
    if isinstance(value, torch.Tensor):
        return tracer.tensor_node(value)
    if isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        return tracer.sym_value(value)
    return value


def align_lifted(first: Body, second: Body, count: int) -> list[object]:
    """Both bodies take ``count`` arguments, then ``first``'s lifted values, then ``second``'s own.

    A value both closed over is passed once: ``second``'s placeholder for it
    is replaced by the one for ``first``'s.
    """
    keys = [_key(v) for v in first.lifted]
    only = [v for v in second.lifted if _key(v) not in keys]
    _insert_placeholders(first.module, count + len(first.lifted), len(only), "other_")
    _insert_placeholders(second.module, count, len(first.lifted), "other_")
    graph = second.module.graph
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    own = placeholders[count + len(first.lifted) :]
    for node, value in zip(own, second.lifted):
        if _key(value) in keys:
            node.replace_all_uses_with(placeholders[count + keys.index(_key(value))])
            graph.erase_node(node)
    second.module.recompile()
    return [*first.lifted, *only]


def _key(value: object) -> object:
    """What makes two lifted values the same: the tensor itself, a symbol's expression."""
    if isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        return value.node.expr
    return id(value)


def _insert_placeholders(gm: fx.GraphModule, index: int, count: int, prefix: str) -> None:
    """``count`` unused placeholders at position ``index`` of ``gm``'s arguments."""
    if count == 0:
        return
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    anchor = placeholders[index - 1] if index > 0 else None
    where = gm.graph.inserting_after(anchor) if anchor is not None else gm.graph.inserting_before(None)
    with where:
        for i in reversed(range(count)):
            gm.graph.placeholder(f"{prefix}{i}")
    gm.recompile()


def add_subgraph(prefix: str, body: Body) -> fx.Node:
    """``prefix_<n>`` as an attribute of the outer GraphModule, and its get_attr node."""
    mode = active_trace()
    assert mode is not None
    tracer = mode.tracer
    n = sum(1 for name in tracer.constants if name.startswith(prefix + "_"))
    name = f"{prefix}_{n}"
    # trace keeps attributes in a dict of tensors; a GraphModule attribute is set on the root the same way.
    cast(dict[str, object], tracer.constants)[name] = body.module
    return tracer.graph.get_attr(name)


def add_node(op: Callable[..., object], args: tuple[object, ...], outputs: Sequence[object]) -> None:
    """The op's one node in the outer graph; ``outputs`` become its ``getitem`` elements."""
    mode = active_trace()
    assert mode is not None
    tracer = mode.tracer
    node_args = tuple(_node_args(a) for a in args)
    with outside_trace(None):
        val = tuple(tracer.snapshot(o) if isinstance(o, torch.Tensor) else o for o in outputs)
    node = tracer.create(op, node_args, {}, val)
    for i, out in enumerate(outputs):
        if isinstance(out, torch.Tensor):
            tracer.tensors[id(out)] = (out, Pending(operator.getitem, (node, i), out))
            tracer._new_symbols(out)
        elif isinstance(out, (torch.SymInt, torch.SymFloat, torch.SymBool)):
            pending = Pending(operator.getitem, (node, i), out.node)
            tracer.symnodes[id(out.node)] = (out.node, pending)
            tracer.exprs.setdefault(out.node.expr, pending)


def _node_args(arg: object) -> object:
    if isinstance(arg, (tuple, list)):
        return tuple(_node_args(a) for a in arg)
    if isinstance(arg, fx.Node):
        return arg
    return outer_arg(arg)
