"""torchshade.autograd's version ops under torchshade.trace's make_fx: nodes, kept by DCE."""

import pytest
import torch

from torchshade.autograd import set_version_counter, tensor_version
from torchshade.shapes import free_unbacked_symbols
from torchshade.trace import make_fx


def _fn(t: torch.Tensor) -> torch.Tensor:
    v = tensor_version(t)
    set_version_counter([t], [v])
    return t * 2


def _targets(gm: torch.fx.GraphModule) -> list[object]:
    return [n.target for n in gm.graph.nodes if n.op == "call_function"]


def test_symbolic_trace_has_both_nodes_and_an_unbacked_version() -> None:
    gm = make_fx(_fn, tracing_mode="symbolic")(torch.randn(3))
    gm.graph.eliminate_dead_code()
    gm.recompile()
    targets = _targets(gm)
    assert torch.ops.torchshade.tensor_version.default in targets
    assert torch.ops.torchshade.set_version_counter.default in targets
    (version_node,) = [n for n in gm.graph.nodes if n.target is torch.ops.torchshade.tensor_version.default]
    assert free_unbacked_symbols(version_node.meta["val"])
    t = torch.randn(3)
    t.add_(1)
    torch.testing.assert_close(gm(t), _fn(t.clone()))
    assert t._version == 1  # the traced setter wrote back the version it read


@pytest.mark.parametrize("mode", ["real", "fake"])
def test_setter_survives_dead_code_elimination(mode: str) -> None:
    gm = make_fx(_fn, tracing_mode=mode)(torch.randn(3))
    gm.graph.eliminate_dead_code()
    assert torch.ops.torchshade.set_version_counter.default in _targets(gm)
