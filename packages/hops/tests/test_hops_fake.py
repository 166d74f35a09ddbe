"""cond / while_loop / scan under torchshade.fake: the same metadata as eager, sizes symbolic."""

from __future__ import annotations

import torch
from torch._higher_order_ops.scan import scan as torch_scan

from torchshade.fake import FakeTensor, FakeTensorMode
from torchshade.hops import cond, scan, while_loop
from torchshade.shapes import ShapeEnv


def _meta(t: torch.Tensor) -> tuple[object, ...]:
    return tuple(t.shape), t.dtype, t.device


def test_cond_fake_matches_eager_metadata_and_records_no_guard() -> None:
    env = ShapeEnv()
    mode = FakeTensorMode(shape_env=env)
    x, w = torch.randn(4, 3), torch.randn(3)
    fx, fw = mode.from_tensor(x), mode.from_tensor(w)
    with mode:
        out = cond(fx.sum() > 0, lambda x, w: {"y": x * w}, lambda x, w: {"y": x + w}, (fx, fw))
    eager = torch.cond(x.sum() > 0, lambda x, w: {"y": x * w}, lambda x, w: {"y": x + w}, (x, w))
    assert env.guards == []  # pred stays symbolic: no guard on the inputs
    assert isinstance(out["y"], FakeTensor)
    assert [int(s) for s in out["y"].shape] == list(eager["y"].shape) and out["y"].dtype == eager["y"].dtype


def test_cond_differing_sizes_become_an_unbacked_symbol() -> None:
    env = ShapeEnv()
    mode = FakeTensorMode(shape_env=env)
    fx = mode.from_tensor(torch.randn(4, 3))
    with mode:
        out = cond(fx.sum() > 0, lambda x: x[:1] * 2, lambda x: x.sin(), (fx,))
    first = out.shape[0]
    assert isinstance(first, torch.SymInt) and env.is_unbacked(first.node.expr)
    assert out.shape[1] == fx.shape[1]


def test_while_loop_int_carry_becomes_unbacked() -> None:
    env = ShapeEnv()
    mode = FakeTensorMode(shape_env=env)
    fx = mode.from_tensor(torch.ones(3))
    with mode:
        n, y = while_loop(lambda n, x: x.sum() < 100, lambda n, x: (n + 1, x * 2), (0, fx))
    assert isinstance(n, torch.SymInt) and env.is_unbacked(n.node.expr)
    assert isinstance(y, FakeTensor) and y.shape == fx.shape


def test_while_loop_python_condition_is_unrolled_under_fake() -> None:
    mode = FakeTensorMode()
    fx = mode.from_tensor(torch.ones(3))
    with mode:
        n, y = while_loop(lambda n, x: n < 3, lambda n, x: (n + 1, x * 2), (0, fx))
    assert n == 3 and isinstance(y, FakeTensor)


def test_scan_fake_matches_torch_scan_metadata() -> None:
    def combine(c: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        return c + x.sum(), (c * 2, x.double())

    init, xs = torch.randn(2), torch.randn(3, 5, 2)
    mode = FakeTensorMode(shape_env=ShapeEnv())
    finit, fxs = mode.from_tensor(init), mode.from_tensor(xs)
    with mode:
        ours = scan(combine, finit, fxs, dim=1)
    theirs = torch_scan(combine, init, xs, dim=1)
    hints = [tuple(int(s.node.hint) if isinstance(s, torch.SymInt) else s for s in t.shape) for t in (ours[0], *ours[1])]
    assert hints == [tuple(t.shape) for t in (theirs[0], *theirs[1])]
    assert [t.dtype for t in (ours[0], *ours[1])] == [t.dtype for t in (theirs[0], *theirs[1])]
    length = fxs.shape[1]  # the scanned size stays the input's symbol (stacked along dim, as torch)
    assert isinstance(length, torch.SymInt) and ours[1][0].shape[1].node.expr == length.node.expr
