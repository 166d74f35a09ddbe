"""Gradients through cond / while_loop / scan: gradcheck in float64, equal to torch's and the unrolled loop's."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch._higher_order_ops.scan import scan as torch_scan

from torchshade.hops import HopArgumentError, cond, scan, while_loop

f64 = torch.float64


def _step(c: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    nxt = torch.tanh(c * x + c.sin())
    return nxt, nxt * 2


def test_cond_gradcheck_both_branches() -> None:
    w = torch.randn(3, dtype=f64, requires_grad=True)
    for sign in (1.0, -1.0):
        x = (torch.rand(3, dtype=f64) * sign).requires_grad_()

        def fn(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
            return cond(x.sum() > 0, lambda x, w: (x * w).sin(), lambda x, w: x.exp() + w, (x, w))  # type: ignore[no-any-return]

        assert torch.autograd.gradcheck(fn, (x, w))
        ours = torch.autograd.grad(fn(x, w).sum(), (x, w))
        theirs = torch.autograd.grad(torch.cond(x.sum() > 0, lambda x, w: (x * w).sin(), lambda x, w: x.exp() + w, (x, w)).sum(), (x, w))
        torch.testing.assert_close(ours, theirs)


# torch's own scan backward (the oracle) warns inside torch when it compiles.
@pytest.mark.filterwarnings("ignore:`torch.jit.script.*is deprecated:DeprecationWarning")
@pytest.mark.parametrize("reverse", [False, True])
def test_scan_gradients_equal_torch_scan(reverse: bool) -> None:
    init = torch.randn(4, dtype=f64, requires_grad=True)
    xs = torch.randn(6, 4, dtype=f64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda i, x: scan(_step, i, x, reverse=reverse), (init, xs))
    ours = torch.autograd.grad(sum(t.sum() for t in scan(_step, init, xs, reverse=reverse)), (init, xs))
    theirs = torch.autograd.grad(sum(t.sum() for t in torch_scan(_step, init, xs, reverse=reverse)), (init, xs))
    torch.testing.assert_close(ours, theirs)


def _saved_bytes_and_grads(run: Any, inputs: tuple[torch.Tensor, ...]) -> tuple[int, tuple[torch.Tensor, ...]]:
    saved = [0]

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = run()
    return saved[0], torch.autograd.grad(out.sum(), inputs)


@pytest.mark.parametrize("policy", [2, 5, "sqrt"])  # 1 keeps every carry, as None
def test_scan_checkpoint_saves_less_with_equal_gradients(policy: int | str) -> None:
    init = torch.randn(8, dtype=f64, requires_grad=True)
    xs = torch.randn(40, 8, dtype=f64, requires_grad=True)
    full, expected = _saved_bytes_and_grads(lambda: scan(_step, init, xs)[1], (init, xs))
    less, grads = _saved_bytes_and_grads(lambda: scan(_step, init, xs, checkpoint=policy)[1], (init, xs))
    assert less < full
    torch.testing.assert_close(grads, expected)
    assert torch.autograd.gradcheck(lambda i, x: scan(_step, i, x, checkpoint=policy), (init, xs[:7]))


def _unrolled(x: torch.Tensor, w: torch.Tensor, n: int) -> torch.Tensor:
    for _ in range(n):
        x = torch.tanh(x * w + 0.1)
    return x


@pytest.mark.parametrize("policy", [None, 1, 4])
def test_while_loop_gradients_equal_the_unrolled_loop(policy: int | None) -> None:
    x = torch.randn(3, dtype=f64, requires_grad=True)
    w = torch.randn(3, dtype=f64, requires_grad=True)

    def run(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        body = lambda i, x: (i + 1, torch.tanh(x * w + 0.1))  # noqa: E731
        return while_loop(lambda i, x: i < 9, body, (torch.tensor(0), x), checkpoint=policy)[1]  # type: ignore[no-any-return]

    torch.testing.assert_close(run(x, w), _unrolled(x, w, 9))
    ours = torch.autograd.grad(run(x, w).sum(), (x, w))
    torch.testing.assert_close(ours, torch.autograd.grad(_unrolled(x, w, 9).sum(), (x, w)))
    assert torch.autograd.gradcheck(run, (x, w))


# torch.func.jvp's first use loads torch's jvp decompositions, which warn inside torch.
@pytest.mark.filterwarnings("ignore:`torch.jit.script.*is deprecated:DeprecationWarning")
def test_forward_mode_through_scan_and_cond() -> None:
    init, xs = torch.randn(3, dtype=f64), torch.randn(5, 3, dtype=f64)
    t_init, t_xs = torch.randn(3, dtype=f64), torch.randn(5, 3, dtype=f64)
    tangent = torch.func.jvp(lambda i, x: scan(_step, i, x)[1], (init, xs), (t_init, t_xs))[1]

    def unrolled(c: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
        ys = []
        for x in xs:
            c, y = _step(c, x)
            ys.append(y)
        return torch.stack(ys)

    expected = torch.func.jvp(unrolled, (init, xs), (t_init, t_xs))[1]
    torch.testing.assert_close(tangent, expected)
    tangent = torch.func.jvp(lambda x: cond(True, lambda x: x.sin(), lambda x: x, (x,)), (init,), (t_init,))[1]
    torch.testing.assert_close(tangent, init.cos() * t_init)


def test_checkpoint_policy_errors() -> None:
    with pytest.raises(HopArgumentError, match=r"scan: checkpoint='every' is not a policy"):
        scan(_step, torch.zeros(2), torch.zeros(3, 2), checkpoint="every")
    with pytest.raises(HopArgumentError, match=r"while_loop: checkpoint='sqrt' is not a policy.*does not know in advance"):
        while_loop(lambda x: x.sum() > 0, lambda x: (x - 1,), (torch.ones(1),), checkpoint="sqrt")  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["real", "fake", "symbolic"])
def test_traced_cond_backward_is_a_second_cond(mode: str) -> None:
    from torchshade.trace import make_fx

    def f(x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, ...]:
        w2 = w * 2  # closed over by one branch, w by the other, w2 made from w: each gradient counted once
        y = cond(x.sum() > 0, lambda x: (x * w2).sin(), lambda x: x.exp() + w, (x,))
        return torch.autograd.grad(y.sum(), (x, w))

    x, w = torch.randn(4, 3, requires_grad=True), torch.randn(3, requires_grad=True)
    gm = make_fx(f, tracing_mode=mode)(x, w)
    assert len([n for n in gm.graph.nodes if getattr(n.target, "__name__", "") == "cond"]) == 2
    for sign in (1.0, -1.0):
        xs = (x.detach() * sign).requires_grad_()
        torch.testing.assert_close(gm(xs, w), f(xs, w))


def _scan_grads(init: torch.Tensor, xs: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, ...]:
    c, ys = scan(lambda c, x: (torch.tanh(c * w + x), (c * 2).sin()), init, xs)  # w closed over
    return torch.autograd.grad(c.sum() + ys.pow(2).sum(), (init, xs, w))


@pytest.mark.parametrize("mode", ["real", "fake", "symbolic"])
def test_traced_scan_backward_is_a_reverse_scan(mode: str) -> None:
    from torchshade.trace import make_fx

    args = (torch.randn(3, requires_grad=True), torch.randn(5, 3, requires_grad=True), torch.randn(3, requires_grad=True))
    gm = make_fx(_scan_grads, tracing_mode=mode)(*args)
    scans = [n for n in gm.graph.nodes if getattr(n.target, "__name__", "") == "scan"]
    assert [n.args[5] for n in scans] == [False, True]  # the forward, then backward scanning the other way
    torch.testing.assert_close(gm(*args), _scan_grads(*args))
    if mode == "symbolic":
        new = (torch.randn(4, requires_grad=True), torch.randn(8, 4, requires_grad=True), torch.randn(4, requires_grad=True))
        torch.testing.assert_close(gm(*new), _scan_grads(*new))


def test_fake_scan_backward_gives_fake_gradients_of_the_right_shapes() -> None:
    from torchshade.fake import FakeTensorMode
    from torchshade.shapes import ShapeEnv

    mode = FakeTensorMode(shape_env=ShapeEnv())
    init, xs = mode.from_tensor(torch.randn(3)).requires_grad_(), mode.from_tensor(torch.randn(5, 3)).requires_grad_()
    with mode:
        _, ys = scan(lambda c, x: (torch.tanh(c + x), c * 2), init, xs)
        grads = torch.autograd.grad(ys.sum(), (init, xs))
    assert [g.shape for g in grads] == [init.shape, xs.shape]
