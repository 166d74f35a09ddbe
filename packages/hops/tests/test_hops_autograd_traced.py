"""Reverse mode under tracing and under fake tensors alone: while_loop's backward, closed-over weights.

Gradients of a traced graph, run on real float64 tensors, are compared with
the unrolled Python program's (and the eager op's); under torchshade.fake
alone, with the shapes and dtypes of eager's gradients. The fake-alone rule
(``*_autograd_traced``, which lifts closed-over tensors by swapping them at
each torch call) is also run on real tensors, so its values are checked too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from torchshade.fake import FakeTensorMode
from torchshade.hops import HopArgumentError, HopError, cond, scan, while_loop
from torchshade.shapes import ShapeEnv
from torchshade.trace import make_fx

f64 = torch.float64
Grads = tuple[torch.Tensor, ...]


def _body(x: torch.Tensor, i: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tanh(x * w) * 3 + x, i + 1


def _loop_grads(x: torch.Tensor, w: torch.Tensor, policy: int | None = None) -> tuple[Grads, torch.Tensor]:
    """A loop whose trip count a tensor predicate decides; w closed over."""
    out, i = while_loop(lambda x, i: x.abs().sum() < 50, lambda x, i: _body(x, i, w), (x, torch.tensor(0)), checkpoint=policy)
    return torch.autograd.grad(out.pow(2).sum(), (x, w), materialize_grads=True), i


def _unrolled_grads(x: torch.Tensor, w: torch.Tensor) -> tuple[Grads, torch.Tensor]:
    out, i = x, torch.tensor(0)
    while out.abs().sum() < 50:
        out, i = _body(out, i, w)
    return torch.autograd.grad(out.pow(2).sum(), (x, w), materialize_grads=True), i


@pytest.mark.parametrize("policy", [None, 1, 3])
@pytest.mark.parametrize("mode", ["real", "symbolic"])
def test_traced_while_loop_gradients_equal_the_unrolled_loop(mode: str, policy: int | None) -> None:
    torch.manual_seed(0)
    x, w = torch.rand(3, dtype=f64, requires_grad=True), torch.rand(3, dtype=f64, requires_grad=True)
    gm = make_fx(lambda x, w: _loop_grads(x, w, policy), tracing_mode=mode)(x, w)
    loops = [n for n in gm.graph.nodes if getattr(n.target, "__name__", "") == "while_loop"]
    assert len(loops) == 1 and loops[0].args[-1] == (policy or 1)  # one forward loop, keeping every policy-th carry
    assert any(getattr(n.target, "__name__", "") == "scan" and n.args[5] for n in gm.graph.nodes)  # backward: a reverse scan
    for scale in (1.0, 0.05, 100.0):  # 6 iterations at tracing; then 11, then none at all
        xs = (x.detach() * scale).requires_grad_()
        (gx, gw), trips = gm(xs, w)
        (ex, ew), expected_trips = _unrolled_grads(xs, w)
        assert int(trips) == int(expected_trips)
        torch.testing.assert_close((gx, gw), (ex, ew))
        torch.testing.assert_close((gx, gw), _loop_grads(xs, w)[0])  # the eager op's too


def test_fake_while_loop_backward_gives_fakes_of_the_right_shapes() -> None:
    mode = FakeTensorMode(shape_env=ShapeEnv())
    x, w = torch.rand(4, 3, dtype=f64, requires_grad=True), torch.rand(3, dtype=f64, requires_grad=True)
    expected = _loop_grads(x, w)[0]
    fx, fw = mode.from_tensor(x.detach()).requires_grad_(), mode.from_tensor(w.detach()).requires_grad_()
    with mode:
        grads, trips = _loop_grads(fx, fw)
    assert [(tuple(int(s) for s in g.shape), g.dtype) for g in grads] == [(tuple(e.shape), e.dtype) for e in expected]
    assert trips.dtype == torch.int64 and trips.shape == ()


def test_fake_while_loop_rule_on_real_tensors_gives_the_unrolled_gradients() -> None:
    from torchshade.hops._while_loop import while_loop_autograd_traced

    torch.manual_seed(1)
    x, w = torch.rand(3, dtype=f64, requires_grad=True), torch.rand(3, dtype=f64, requires_grad=True)
    for policy in (None, 2):
        out, _ = while_loop_autograd_traced(lambda x, i: (x.abs().sum() < 50,), lambda x, i: _body(x, i, w),
                                            (x, torch.tensor(0)), (), policy)  # fmt: skip
        grads = torch.autograd.grad(cast(torch.Tensor, out).pow(2).sum(), (x, w))
        torch.testing.assert_close(grads, _unrolled_grads(x, w)[0])


def test_reverse_mode_of_a_data_dependent_loop_names_what_it_needs() -> None:
    def f(x: torch.Tensor) -> Grads:
        out = while_loop(lambda x: x.sum() < 10, lambda x: (x * 2,), (x,))[0]
        return torch.autograd.grad(out.sum(), x)

    x = torch.rand(3, requires_grad=True) + 1
    with pytest.raises(HopError, match=r"while_loop: reverse mode under fake tensors needs a ShapeEnv: the number of iterations"):
        make_fx(f)(FakeTensorMode().from_tensor(x))  # fake inputs of a mode without one
    # make_fx's fake mode has one, as torch's: the iteration count is an unbacked symbol.
    other = (torch.rand(3) + 0.5).requires_grad_()
    torch.testing.assert_close(make_fx(f, tracing_mode="fake")(x)(other), f(other))

    def g(x: torch.Tensor) -> Grads:
        out = while_loop(lambda x, n: x.sum() < 10, lambda x, n: (x * 2, n + 1), (x, 0))[0]
        return torch.autograd.grad(out.sum(), x)

    with pytest.raises(HopArgumentError, match=r"while_loop: carry 1 is int 0; reverse mode .* needs every carry to be a tensor"):
        make_fx(g, tracing_mode="symbolic")(torch.rand(3, requires_grad=True) + 1)


class _RNN(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rec = torch.nn.Linear(4, 4, dtype=f64)

    def forward(self, xs: torch.Tensor) -> torch.Tensor:
        step = lambda h, x: (torch.tanh(self.rec(h) + x), (h * 2).sin())  # noqa: E731  # self.rec's weights closed over
        h, ys = scan(step, xs.new_zeros(xs.shape[1:]), xs)
        return h.sum() + ys.pow(2).sum()  # type: ignore[no-any-return]


def test_fake_scan_backward_reaches_closed_over_weights() -> None:
    torch.manual_seed(0)
    rnn, xs = _RNN(), torch.randn(6, 2, 4, dtype=f64)
    expected = torch.autograd.grad(rnn(xs), list(rnn.parameters()))
    mode = FakeTensorMode(shape_env=ShapeEnv())
    with mode:
        fake = _RNN()
        grads = torch.autograd.grad(fake(mode.from_tensor(xs)), list(fake.parameters()))
    assert [(tuple(int(s) for s in g.shape), g.dtype) for g in grads] == [(tuple(e.shape), e.dtype) for e in expected]


def test_fake_scan_rule_on_real_tensors_gives_eager_gradients() -> None:
    from torchshade.hops._scan import scan_autograd_traced

    torch.manual_seed(0)
    init, xs, w = torch.randn(3, dtype=f64), torch.randn(5, 3, dtype=f64), torch.randn(3, dtype=f64, requires_grad=True)
    step = lambda c, x: (torch.tanh(c * w + x), (c * 2).sin())  # noqa: E731
    outs = cast(tuple[torch.Tensor, ...], scan_autograd_traced(step, (init,), (xs,), (), 0, False, None))
    ours = torch.autograd.grad(outs[0].sum() + outs[1].pow(2).sum(), w)
    c, ys = scan(step, init, xs)
    torch.testing.assert_close(ours, torch.autograd.grad(c.sum() + ys.pow(2).sum(), w))


def test_fake_cond_backward_reaches_closed_over_weights() -> None:
    from torchshade.hops._cond import cond_autograd_traced

    x, w = torch.randn(3, dtype=f64), torch.randn(3, dtype=f64, requires_grad=True)
    for pred in (True, False):  # the fake-alone rule on real tensors: the values
        out = cast(torch.Tensor, cond_autograd_traced(torch.tensor(pred), lambda x: (x * w,), lambda x: (x.exp() + w,), (x,))[0])
        expected = x * w if pred else x.exp() + w
        torch.testing.assert_close(torch.autograd.grad(out.sum(), w), torch.autograd.grad(expected.sum(), w))
    mode = FakeTensorMode()
    fx, fw = mode.from_tensor(x), mode.from_tensor(w.detach()).requires_grad_()
    with mode:
        out = cond(fx.sum() > 0, lambda x: x * fw, lambda x: x + fw, (fx,))
        (grad,) = torch.autograd.grad(out.sum(), fw)
    assert grad.shape == w.shape and grad.dtype == w.dtype


def _scan_grads(init: torch.Tensor, xs: torch.Tensor, w: torch.Tensor, policy: int | str | None, reverse: bool) -> Grads:
    c, ys = scan(lambda c, x: (torch.tanh(c * w + x), (c * 2).sin()), init, xs, checkpoint=policy, reverse=reverse)
    return torch.autograd.grad(c.sum() + ys.pow(2).sum(), (init, xs, w))


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("policy", [3, 4, "sqrt", 20])
def test_traced_scan_backward_takes_the_checkpoint_policy(policy: int | str, reverse: bool) -> None:
    torch.manual_seed(0)
    args = (torch.randn(3, dtype=f64, requires_grad=True), torch.randn(11, 3, dtype=f64, requires_grad=True),
            torch.randn(3, dtype=f64, requires_grad=True))  # fmt: skip
    gm = make_fx(lambda i, x, w: _scan_grads(i, x, w, policy, reverse), tracing_mode="symbolic")(*args)
    torch.testing.assert_close(gm(*args), _scan_grads(*args, None, reverse))
    new = (torch.randn(4, dtype=f64, requires_grad=True), torch.randn(14, 4, dtype=f64, requires_grad=True),
           torch.randn(4, dtype=f64, requires_grad=True))  # fmt: skip
    torch.testing.assert_close(gm(*new), _scan_grads(*new, None, reverse))  # a different length, and rest


def _peak_bytes(run: Callable[[], object]) -> int:
    """The peak of the CPU allocations made while ``run`` runs (torch's profiler, every allocation and free)."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    now = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        now += event.nbytes()
        peak = max(peak, now)
    return peak


def _state_grads(init: torch.Tensor, xs: torch.Tensor, w: torch.Tensor, policy: int | None) -> Grads:
    """A recurrence whose carry (f64[d]) is much larger than a step's x and y (f64[1]): its carries dominate."""
    c, ys = scan(lambda c, x: (torch.tanh(c * w + x), c.sum(0, keepdim=True)), init, xs, checkpoint=policy)
    return torch.autograd.grad(c.sum() + ys.pow(2).sum(), (init, xs, w))


def test_checkpointed_traced_scan_backward_peaks_lower() -> None:
    n, d = 400, 256
    args = (torch.randn(d, dtype=f64, requires_grad=True), torch.randn(n, 1, dtype=f64, requires_grad=True),
            torch.randn(d, dtype=f64, requires_grad=True))  # fmt: skip
    peaks, grads = {}, {}
    for policy in (None, 20):
        gm = make_fx(lambda i, x, w: _state_grads(i, x, w, policy), tracing_mode="symbolic")(*args)
        values = [a.detach() for a in args]  # the graph holds the backward: run it without autograd recording it
        peaks[policy] = _peak_bytes(lambda: gm(*values))
        grads[policy] = gm(*values)
    torch.testing.assert_close(grads[20], grads[None])
    carries = n * d * 8  # every carry, stacked: kept by None; a twentieth of them, and one segment's, by 20
    assert peaks[20] <= peaks[None] - carries // 2, peaks


def _loop_peak_grads(h: torch.Tensor, w: torch.Tensor, policy: int | None) -> Grads:
    body = lambda h, i: (torch.tanh(torch.tanh(h @ w) @ w + 0.01), i + 1)  # noqa: E731
    out, _ = while_loop(lambda h, i: i < 300, body, (h, torch.tensor(0)), checkpoint=policy)
    return torch.autograd.grad(out.sum(), (h, w))


def test_checkpointed_while_loop_backward_peaks_lower_eager_and_traced() -> None:
    h, w = torch.randn(64, dtype=f64, requires_grad=True), (torch.randn(64, 64, dtype=f64) / 32).requires_grad_()
    expected = _loop_peak_grads(h, w, None)
    peaks: dict[tuple[str, int | None], int] = {}
    for policy in (None, 10):
        found: list[Grads] = []
        peaks["eager", policy] = _peak_bytes(lambda: found.append(_loop_peak_grads(h, w, policy)))
        gm = make_fx(lambda h, w: _loop_peak_grads(h, w, policy), tracing_mode="symbolic")(h, w)
        values = (h.detach(), w.detach())
        peaks["traced", policy] = _peak_bytes(lambda: found.append(gm(*values)))
        for grads in found:
            torch.testing.assert_close(grads, expected)
    carries = 300 * 64 * 8  # every carry: kept by None; a tenth of them, and one segment's, by 10
    assert peaks["eager", 10] <= peaks["eager", None] - carries // 2, peaks
    assert peaks["traced", 10] <= peaks["traced", None] - carries // 2, peaks


# torch's own while_loop backward (the oracle) compiles, and may warn inside torch when it does.
@pytest.mark.filterwarnings("ignore:`torch.jit.script.*is deprecated:DeprecationWarning")
def test_traced_while_loop_gradients_equal_torchs_while_loop() -> None:
    from torch._higher_order_ops.while_loop import while_loop as torch_while_loop

    torch.manual_seed(2)
    x, w = torch.rand(3, dtype=f64, requires_grad=True), torch.rand(3, dtype=f64, requires_grad=True)
    body = lambda x, i: _body(x, i, w)  # noqa: E731
    out, trips = torch_while_loop(lambda x, i: x.abs().sum() < 50, body, (x, torch.tensor(0)))
    theirs = torch.autograd.grad(out.pow(2).sum(), (x, w))
    gm = make_fx(lambda x, w: _loop_grads(x, w, 2), tracing_mode="symbolic")(x, w)
    ours, our_trips = gm(x.detach(), w.detach())
    assert int(our_trips) == int(trips)
    torch.testing.assert_close(ours, theirs)
