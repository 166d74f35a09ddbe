"""FakeTensorProp fills node.meta["val"] and unbacked bindings."""

from __future__ import annotations

import sympy
import torch
import torch.fx
from torch.fx.passes.fake_tensor_prop import FakeTensorProp as TorchFakeTensorProp

from torchshade.fake import FakeTensor, FakeTensorMode, FakeTensorProp


def _graph() -> torch.fx.GraphModule:
    def f(x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.relu(x @ w)
        return h.sum(0), h.t()

    return torch.fx.symbolic_trace(f)


def test_every_node_gets_a_value_like_torch() -> None:
    gm = _graph()
    x, w = torch.randn(3, 4), torch.randn(4, 5)
    FakeTensorProp(gm).propagate(x, w)
    ours = [n.meta["val"] for n in gm.graph.nodes]
    TorchFakeTensorProp(gm).propagate(x, w)
    theirs = [n.meta["val"] for n in gm.graph.nodes]
    assert len(ours) == len(theirs) == 7
    for a, b in zip(ours, theirs):
        a_leaves = list(a) if isinstance(a, tuple) else [a]
        b_leaves = list(b) if isinstance(b, tuple) else [b]
        for ta, tb in zip(a_leaves, b_leaves):
            assert isinstance(ta, FakeTensor)
            assert (ta.shape, ta.stride(), ta.dtype) == (tb.shape, tb.stride(), tb.dtype)


def test_symbols_stay_symbolic(sym_mode: FakeTensorMode) -> None:
    gm = _graph()
    x = sym_mode.from_tensor(torch.randn(3, 4), source="x")
    w = sym_mode.from_tensor(torch.randn(4, 5), source="w")
    FakeTensorProp(gm, sym_mode).propagate_dont_convert_inputs(x, w)
    output = [n for n in gm.graph.nodes if n.op == "output"][0]
    summed, transposed = output.meta["val"]
    # Duck shapes (the default, as torch's): w's 4 is x's s1, w's 5 is s2.
    assert str(summed.shape) == "torch.Size([s2])"
    assert str(transposed.shape) == "torch.Size([s2, s0])"


def test_unbacked_bindings_are_recorded(sym_mode: FakeTensorMode) -> None:
    def f(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        nz = torch.nonzero(x)
        return nz, x.sum()

    gm = torch.fx.symbolic_trace(f)
    x = sym_mode.from_tensor(torch.randn(5), static_shapes=True)
    FakeTensorProp(gm, sym_mode).propagate(x)
    nodes = {n.name: n for n in gm.graph.nodes}
    bindings = nodes["nonzero"].meta["unbacked_bindings"]
    ((symbol, path),) = bindings.items()
    assert path == ("size", 0) and str(symbol) == str(nodes["nonzero"].meta["val"].shape[0])
    assert "unbacked_bindings" not in nodes["sum_1"].meta


def test_graphs_with_real_parameters_and_submodules() -> None:
    class M(torch.nn.Module):
        b: torch.Tensor

        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.randn(3, 3))
            self.register_buffer("b", torch.ones(3))
            self.lin = torch.nn.Linear(3, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.lin(x @ self.w + self.b)
            return out

    real = M()
    gm = torch.fx.symbolic_trace(real)
    FakeTensorProp(gm).propagate(torch.randn(2, 3))
    vals = {n.name: n.meta["val"] for n in gm.graph.nodes}
    assert all(isinstance(v, FakeTensor) for v in vals.values())
    assert vals["lin"].shape == (2, 4) and vals["w"].shape == (3, 3)
    assert not isinstance(real.lin.weight, FakeTensor)
    assert not any(isinstance(p, FakeTensor) for p in gm.parameters())


def _nonzero_and_a_row(x: torch.Tensor) -> torch.Tensor:
    """One graph node (fx.wrap) whose output has nonzero's fresh u0 only as u0 + 1."""
    return torch.cat([torch.nonzero(x), torch.zeros(1, 1, dtype=torch.long)])


torch.fx.wrap("_nonzero_and_a_row")


def test_a_fresh_symbol_seen_only_shifted_is_bound(sym_mode: FakeTensorMode) -> None:
    # Before, only bare symbols were bound, and this node got no binding at all.
    gm = torch.fx.symbolic_trace(lambda x: _nonzero_and_a_row(x) * 2)
    x = sym_mode.from_tensor(torch.tensor([1.0, 0.0, 2.0]), static_shapes=True)
    FakeTensorProp(gm, sym_mode).propagate_dont_convert_inputs(x)
    (node,) = [n for n in gm.graph.nodes if n.target is _nonzero_and_a_row]
    ((symbol, path),) = node.meta["unbacked_bindings"].items()
    assert path == ("size", 0, "minus", 1)
    assert str(node.meta["val"].shape[0]) == f"{symbol} + 1"
    assert all("unbacked_bindings" not in n.meta for n in gm.graph.nodes if n is not node)


def test_the_binding_path_reads_the_symbol_back() -> None:
    from torchshade.fake._prop import _bindings

    u0 = sympy.Symbol("u0", integer=True)
    s0 = sympy.Symbol("s0", integer=True)
    leaves = [(s0, ("size", 0)), (u0 + 1, ("size", 1)), (2 * u0, ("stride", 0))]
    assert _bindings([u0], leaves) == {u0: ("size", 1, "minus", 1)}
    assert _bindings([u0], [(u0, ()), (u0 + 1, ("size", 0))]) == {u0: ()}
    assert _bindings([u0], [(2 * u0, ())]) == {}
