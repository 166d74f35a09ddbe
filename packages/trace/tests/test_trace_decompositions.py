"""Decomposition tables apply, and training steps put backward ops in the graph."""

from __future__ import annotations

from typing import Literal

import pytest
import torch
import torch.fx as fx
from torch._decomp import core_aten_decompositions
from torch.fx.experimental.proxy_tensor import make_fx as torch_make_fx

from torchshade.fake import MissingFakeImplError
from torchshade.trace import make_fx

aten = torch.ops.aten
Mode = Literal["real", "fake", "symbolic"]
MODES: list[Mode] = ["real", "fake", "symbolic"]


def _ops(gm: fx.GraphModule) -> list[object]:
    return [n.target for n in gm.graph.nodes if isinstance(n.target, torch._ops.OpOverload)
            and n.target not in (aten.sym_size.int, aten.sym_stride.int)]  # fmt: skip


def _activations(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.silu(x) + torch.nn.functional.hardswish(x) + torch.addcmul(x, x, x, value=0.5)


@pytest.mark.parametrize("mode", MODES)
def test_core_aten_decompositions_match_torchs_make_fx(mode: Mode) -> None:
    table = core_aten_decompositions()
    x = torch.randn(3, 5)
    ours = make_fx(_activations, table, tracing_mode=mode)(x)
    theirs = torch_make_fx(_activations, dict(table), tracing_mode=mode)(x)
    plain = make_fx(_activations, tracing_mode=mode)(x)
    assert _ops(ours) == _ops(theirs)
    assert _ops(ours) != _ops(plain)
    y = torch.randn(4, 7) if mode == "symbolic" else x
    torch.testing.assert_close(ours(y), _activations(y))


_lib = torch.library.Library("tstrace", "FRAGMENT")
_lib.define("twice(Tensor x) -> Tensor")
_lib.impl("twice", lambda x: x * 2, "CPU")


@pytest.mark.parametrize("mode", ["fake", "symbolic"])
def test_user_decomposition_of_an_op_without_meta_kernel(mode: Mode) -> None:
    def f(x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = torch.ops.tstrace.twice(x) + 1
        return out

    x = torch.randn(4)
    with pytest.raises(MissingFakeImplError, match="tstrace.twice"):
        make_fx(f, tracing_mode=mode)(x)
    table = {torch.ops.tstrace.twice.default: lambda t: t * 2}
    gm = make_fx(f, table, tracing_mode=mode)(x)
    assert torch.ops.tstrace.twice.default not in _ops(gm)
    assert aten.mul.Tensor in _ops(gm)
    torch.testing.assert_close(gm(x), f(x))


def _mlp_step(w1: torch.Tensor, w2: torch.Tensor, x: torch.Tensor,
              y: torch.Tensor) -> tuple[torch.Tensor, ...]:  # fmt: skip
    h = torch.relu(x @ w1)
    loss = torch.nn.functional.mse_loss(h @ w2, y)
    loss.backward()
    assert w1.grad is not None and w2.grad is not None
    return loss.detach(), w1.grad, w2.grad


def _step_inputs(batch: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(batch)
    return (torch.randn(4, 8, generator=g, requires_grad=True), torch.randn(8, 2, generator=g, requires_grad=True),
            torch.randn(batch, 4, generator=g), torch.randn(batch, 2, generator=g))  # fmt: skip


def _fresh(args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return tuple(t.detach().clone().requires_grad_(t.requires_grad) for t in args)


@pytest.mark.parametrize("mode", MODES)
def test_loss_backward_puts_backward_ops_and_grads_in_the_graph(mode: Mode) -> None:
    gm = make_fx(_mlp_step, tracing_mode=mode)(*_step_inputs(3))
    assert aten.threshold_backward.default in _ops(gm)
    batch = 5 if mode == "symbolic" else 3
    args = _step_inputs(batch)
    torch.testing.assert_close(gm(*_fresh(args)), _mlp_step(*_fresh(args)))


def test_autograd_grad_traces_symbolically() -> None:
    def f(x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return torch.autograd.grad((x @ w).sin().sum(), w)

    w = torch.randn(4, 5, requires_grad=True)
    gm = make_fx(f, tracing_mode="symbolic")(torch.randn(3, 4), w)
    assert aten.cos.default in _ops(gm)
    x2 = torch.randn(6, 4)
    torch.testing.assert_close(gm(x2, w)[0].detach(), f(x2, w)[0])
