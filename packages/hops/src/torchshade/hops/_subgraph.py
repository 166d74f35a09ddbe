"""Bodies as subgraphs: what the trace rules of cond, while_loop and scan share beyond torchshade.trace's hooks.

Under torchshade.trace's ``make_fx`` a body is traced on its own by
``torchshade.trace.trace_subgraph`` (its ops go into its own graph only), and
the op adds its one node with ``add_subgraph`` and ``add_call``::

    outer graph                       body graph (true_graph_0)
      x = placeholder                   arg0 = placeholder      the operands
      w = placeholder                   lifted_0 = placeholder  w, closed over
      true_graph_0 = get_attr           mul = aten.mul(arg0, lifted_0)
      cond = cond(pred, true_graph_0,   output (mul,)
               false_graph_0, (x, w))
      getitem = cond[0]

A tensor or symbol the body uses without getting it as an argument (closed
over) becomes an extra placeholder of the body, and the op's node passes the
outer value for it: ``Subgraph.lifted``. Here: computing values outside the
trace (``outside_trace``), and giving two bodies one argument list
(``align_lifted``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.fx as fx
from torch.utils._python_dispatch import _disable_current_modes

from torchshade.fake import FakeTensorMode
from torchshade.trace import Subgraph


@contextlib.contextmanager
def outside_trace(fake_mode: FakeTensorMode | None) -> Iterator[None]:
    """Every mode set aside, then only ``fake_mode`` (if any): values computed, nothing recorded."""
    with _disable_current_modes(), contextlib.ExitStack() as stack:
        if fake_mode is not None:
            stack.enter_context(fake_mode)
        yield


def align_lifted(first: Subgraph, second: Subgraph, count: int) -> list[object]:
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
