"""cond / while_loop / scan under torchshade.trace.make_fx: one node each, bodies as subgraphs."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.fx as fx
from torch.fx.experimental.proxy_tensor import make_fx as torch_make_fx

from torchshade.fake import FakeTensorMode, FakeTensorProp
from torchshade.hops import InputMutationError, cond, scan, while_loop
from torchshade.shapes import ShapeEnv
from torchshade.trace import make_fx

MODES = ["real", "fake", "symbolic"]


def _hop_nodes(gm: fx.GraphModule, name: str) -> list[fx.Node]:
    return [n for n in gm.graph.nodes if n.op == "call_function" and name in getattr(n.target, "__name__", "")]


def _subgraphs(gm: fx.GraphModule) -> dict[str, fx.GraphModule]:
    return {n.target: getattr(gm, n.target) for n in gm.graph.nodes
            if n.op == "get_attr" and isinstance(getattr(gm, n.target), fx.GraphModule)}  # fmt: skip


def f_cond(x: torch.Tensor, w: torch.Tensor) -> Any:
    return cond(x.sum() > 0, lambda x: (x * w, {"h": x.sin()}), lambda x: (x + w, {"h": x.cos()}), (x,))


@pytest.mark.parametrize("mode", MODES)
def test_cond_is_one_node_with_two_subgraphs(mode: str) -> None:
    x, w = torch.randn(4, 3), torch.randn(3)
    gm = make_fx(f_cond, tracing_mode=mode)(x, w)
    (node,) = _hop_nodes(gm, "cond")
    graphs = _subgraphs(gm)
    assert sorted(graphs) == ["false_graph_0", "true_graph_0"]
    assert [a.target for a in node.args[1:3]] == ["true_graph_0", "false_graph_0"]  # type: ignore[union-attr]
    for name in graphs:  # x, then w: closed over by both branches, lifted once
        assert len([n for n in graphs[name].graph.nodes if n.op == "placeholder"]) == 2
    assert len(node.args[3]) == 2  # type: ignore[arg-type]
    for sign in (1.0, -1.0):
        torch.testing.assert_close(gm(x * sign, w), f_cond(x * sign, w))


def test_cond_node_count_matches_torch_make_fx() -> None:
    x = torch.randn(4, 3)

    def ours(x: torch.Tensor) -> torch.Tensor:
        return cond(x.sum() > 0, lambda x: x.sin(), lambda x: x.cos(), (x,))  # type: ignore[no-any-return]

    def theirs(x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = torch.cond(x.sum() > 0, lambda x: x.sin(), lambda x: x.cos(), (x,))
        return out

    a = make_fx(ours, tracing_mode="symbolic")(x)
    b = torch_make_fx(theirs, tracing_mode="symbolic")(x)
    assert len(_hop_nodes(a, "cond")) == len(_hop_nodes(b, "cond")) == 1
    assert sorted(_subgraphs(a)) == sorted(_subgraphs(b))
    count = [len([n for n in g.graph.nodes if n.op == "call_function"]) for g in _subgraphs(a).values()]
    assert count == [len([n for n in g.graph.nodes if n.op == "call_function"]) for g in _subgraphs(b).values()]


def test_symbolic_cond_reruns_at_new_sizes_and_fake_prop_goes_through() -> None:
    x, w = torch.randn(4, 3), torch.randn(3)
    gm = make_fx(f_cond, tracing_mode="symbolic")(x, w)
    x2, w2 = torch.randn(7, 5), torch.randn(5)
    torch.testing.assert_close(gm(x2, w2), f_cond(x2, w2))
    mode = FakeTensorMode(shape_env=ShapeEnv())
    FakeTensorProp(gm, mode).propagate(mode.from_tensor(x2), mode.from_tensor(w2))
    (node,) = _hop_nodes(gm, "cond")
    assert [tuple(int(s.node.hint) for s in t.shape) for t in node.meta["val"]] == [(7, 5), (7, 5)]


def test_differing_branch_sizes_trace_to_an_unbacked_size() -> None:
    def f(x: torch.Tensor) -> torch.Tensor:
        return cond(x.sum() > 0, lambda x: x[:2] * 2, lambda x: x.sin(), (x,))  # type: ignore[no-any-return]

    x = torch.randn(4, 3)
    gm = make_fx(f, tracing_mode="symbolic")(x)
    (node,) = _hop_nodes(gm, "cond")
    assert str(node.meta["val"][0].shape[0]).startswith("u")
    for sign in (1.0, -1.0):
        torch.testing.assert_close(gm(x.abs() * sign), f(x.abs() * sign))


def f_scan(init: torch.Tensor, xs: torch.Tensor, w: torch.Tensor) -> Any:
    return scan(lambda c, x: (c * w + x, (c.sin(), x * 2)), init, xs)


@pytest.mark.parametrize("mode", MODES)
def test_scan_is_one_node(mode: str) -> None:
    init, xs, w = torch.randn(3), torch.randn(5, 3), torch.randn(3)
    gm = make_fx(f_scan, tracing_mode=mode)(init, xs, w)
    assert len(_hop_nodes(gm, "scan")) == 1 and sorted(_subgraphs(gm)) == ["combine_graph_0"]
    torch.testing.assert_close(gm(init, xs, w), f_scan(init, xs, w))


def test_symbolic_scan_reruns_at_new_sizes_and_fake_prop_goes_through() -> None:
    gm = make_fx(f_scan, tracing_mode="symbolic")(torch.randn(3), torch.randn(5, 3), torch.randn(3))
    args = (torch.randn(4), torch.randn(9, 4), torch.randn(4))
    torch.testing.assert_close(gm(*args), f_scan(*args))
    mode = FakeTensorMode(shape_env=ShapeEnv())
    FakeTensorProp(gm, mode).propagate(*[mode.from_tensor(a) for a in args])
    (node,) = _hop_nodes(gm, "scan")
    assert [tuple(int(s.node.hint) for s in t.shape) for t in node.meta["val"]] == [(4,), (9, 4), (9, 4)]


def f_while(i: torch.Tensor, x: torch.Tensor, w: torch.Tensor) -> Any:
    return while_loop(lambda i, x, w: i < 5, lambda i, x, w: (i + 1, x * w + 1), (i, x), (w,))


@pytest.mark.parametrize("mode", MODES)
def test_while_loop_is_one_node(mode: str) -> None:
    i, x, w = torch.tensor(0), torch.randn(3), torch.full((3,), 0.5)
    gm = make_fx(f_while, tracing_mode=mode)(i, x, w)
    assert len(_hop_nodes(gm, "while_loop")) == 1
    assert sorted(_subgraphs(gm)) == ["body_graph_0", "cond_graph_0"]
    for start in (0, 2, 7):
        torch.testing.assert_close(gm(torch.tensor(start), x, w), f_while(torch.tensor(start), x, w))


def test_while_loop_symbolic_int_carry() -> None:
    def f(n: int, x: torch.Tensor) -> Any:
        return while_loop(lambda n, x: x.sum() < 100, lambda n, x: (n + 1, x * 2), (n, x))

    x = torch.rand(3) + 1
    gm = make_fx(f, tracing_mode="symbolic")(2, x)
    (node,) = _hop_nodes(gm, "while_loop")
    assert str(node.meta["val"][0]).startswith("u")
    for n in (2, 5):
        torch.testing.assert_close(gm(n, x), f(n, x))


def test_python_condition_is_unrolled_into_the_graph() -> None:
    gm = make_fx(lambda x: while_loop(lambda n, x: n < 3, lambda n, x: (n + 1, x * 2), (0, x)), tracing_mode="symbolic")(torch.ones(2))
    assert _hop_nodes(gm, "while_loop") == []
    assert len([n for n in gm.graph.nodes if n.target is torch.ops.aten.mul.Tensor]) == 3


def test_nested_cond_inside_scan() -> None:
    def f(init: torch.Tensor, xs: torch.Tensor) -> Any:
        def step(c: torch.Tensor, x: torch.Tensor) -> Any:
            nxt = cond(x.sum() > 0, lambda c, x: c + x, lambda c, x: c - x, (c, x))
            return nxt, nxt.clone()

        return scan(step, init, xs)

    init, xs = torch.randn(3), torch.randn(6, 3)
    gm = make_fx(f, tracing_mode="symbolic")(init, xs)
    inner = _subgraphs(gm)["combine_graph_0"]
    assert len(_hop_nodes(inner, "cond")) == 1 and sorted(_subgraphs(inner)) == ["false_graph_0", "true_graph_0"]
    args = (torch.randn(2), torch.randn(4, 2))
    torch.testing.assert_close(gm(*args), f(*args))


def test_mutation_is_an_error_under_trace() -> None:
    def f(x: torch.Tensor) -> Any:
        return cond(x.sum() > 0, lambda x: x.add_(1), lambda x: x - 1, (x,))

    with pytest.raises(InputMutationError, match=r"cond: true_fn changed its input operands\[0\] in place"):
        make_fx(f, tracing_mode="symbolic")(torch.randn(3))


def test_symbolic_while_loop_reruns_at_new_sizes_and_fake_prop_goes_through() -> None:
    gm = make_fx(f_while, tracing_mode="symbolic")(torch.tensor(0), torch.randn(3), torch.full((3,), 0.5))
    args = (torch.tensor(1), torch.randn(6), torch.full((6,), 0.25))
    torch.testing.assert_close(gm(*args), f_while(*args))
    mode = FakeTensorMode(shape_env=ShapeEnv())
    FakeTensorProp(gm, mode).propagate(*[mode.from_tensor(a) for a in args])
    (node,) = _hop_nodes(gm, "while_loop")
    assert [tuple(int(s.node.hint) for s in t.shape) for t in node.meta["val"]] == [(), (6,)]
