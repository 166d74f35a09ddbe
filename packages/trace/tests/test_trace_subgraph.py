"""The hooks a higher-order op uses: a toy op that runs its body, traced as one node over a subgraph."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import pytest
import torch

from torchshade.trace import add_call, add_subgraph, is_tracing, make_fx, trace_subgraph


def run_body(body: Callable[..., Sequence[object]], args: tuple[object, ...], lifted: tuple[object, ...]) -> tuple[object, ...]:
    """The toy op's eager rule, and the target of its node: the body on its arguments and lifted values."""
    return tuple(body(*args, *lifted))


def call(fn: Callable[..., Sequence[object]], *args: torch.Tensor) -> tuple[object, ...]:
    """The toy op: under make_fx one node with ``fn`` as a subgraph; otherwise ``fn(*args)``."""
    if not is_tracing():
        return tuple(fn(*args))
    body = trace_subgraph(fn, args)
    with torch.utils._python_dispatch._disable_current_modes():
        outputs = tuple(body.module(*args, *body.lifted))
    add_call(run_body, (add_subgraph("body_graph", body), args, tuple(body.lifted)), outputs)
    return outputs


@pytest.mark.parametrize("mode", ["real", "fake", "symbolic"])
def test_a_body_becomes_one_node_over_a_subgraph_with_its_closure_lifted(mode: str) -> None:
    def f(x: torch.Tensor, w: torch.Tensor) -> object:
        w2 = w * 2  # made in the outer graph, closed over by the body: lifted
        (y,) = call(lambda x: (x.sin() * w2,), x)
        return cast(torch.Tensor, y) + 1

    x, w = torch.randn(4, 3), torch.randn(3)
    gm = make_fx(f, tracing_mode=mode)(x, w)
    calls = [n for n in gm.graph.nodes if n.target is run_body]
    assert len(calls) == 1 and cast(torch.fx.Node, calls[0].args[0]).target == "body_graph_0"
    body = cast(torch.fx.GraphModule, gm.body_graph_0)
    assert [n.name for n in body.graph.nodes if n.op == "placeholder"] == ["arg0", "lifted_0"]
    assert not any(n.target is torch.ops.aten.mul.Tensor and n.args[1] == 2 for n in body.graph.nodes)  # w * 2 stays outside
    torch.testing.assert_close(gm(x, w), f(x, w))
    assert not is_tracing()
