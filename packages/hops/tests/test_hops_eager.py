"""Eager cond / while_loop / scan against torch's own (the oracle) and plain Python."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch._higher_order_ops.scan import scan as torch_scan
from torch._higher_order_ops.while_loop import while_loop as torch_while_loop

from torchshade.hops import HopArgumentError, cond, scan, while_loop


def _branches() -> tuple[Any, Any]:
    def true_fn(x: torch.Tensor, d: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return x.sin() * d["w"], {"h": x + d["w"]}

    def false_fn(x: torch.Tensor, d: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return x.cos() - d["w"], {"h": x * 2}

    return true_fn, false_fn


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_cond_matches_torch_cond_on_pytrees(sign: float) -> None:
    x, w = torch.randn(4, 3) * sign, torch.randn(3)
    true_fn, false_fn = _branches()
    ours = cond(x.sum() > 0, true_fn, false_fn, (x, {"w": w}))
    theirs = torch.cond(x.sum() > 0, true_fn, false_fn, (x, {"w": w}))
    torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize("pred", [True, False, torch.tensor(True), torch.tensor([0.0])])
def test_cond_predicates(pred: Any) -> None:
    x = torch.randn(3)
    out = cond(pred, lambda x: x + 1, lambda x: x - 1, (x,))
    torch.testing.assert_close(out, x + 1 if bool(pred) else x - 1)


def test_cond_constant_pred_runs_one_branch_only() -> None:
    ran: list[str] = []

    def true_fn(x: torch.Tensor) -> torch.Tensor:
        ran.append("true")
        return x + 1

    def false_fn(x: torch.Tensor) -> torch.Tensor:
        ran.append("false")
        return x.view(2)  # would be a mismatch if it ran

    cond(True, true_fn, false_fn, (torch.zeros(1),))
    assert ran == ["true"]


def test_cond_ints_floats_bools_pass_through() -> None:
    out = cond(torch.tensor(1), lambda a, b, c: (a + 1, b * 2, not c), lambda a, b, c: (a, b, c), (3, 1.5, False))
    assert out == (4, 3.0, True)


@pytest.mark.parametrize("dim,reverse", [(0, False), (0, True), (1, False), (-1, True)])
def test_scan_matches_torch_scan(dim: int, reverse: bool) -> None:
    def combine(c: dict[str, torch.Tensor], x: tuple[torch.Tensor, torch.Tensor]) -> Any:
        nxt = {"h": c["h"] * 0.5 + x[0].sin() * x[1]}
        return nxt, (nxt["h"] * 2, x[0] + 1)

    init = {"h": torch.randn(3)}
    xs = (torch.randn(5, 3).movedim(0, dim), torch.randn(5, 3).movedim(0, dim))
    ours = scan(combine, init, xs, dim=dim, reverse=reverse)
    theirs = torch_scan(combine, init, xs, dim=dim, reverse=reverse)
    torch.testing.assert_close(ours, theirs)


def test_scan_equals_the_python_loop() -> None:
    init, xs = torch.randn(2, 3), torch.randn(7, 2, 3)
    carry, ys = scan(lambda c, x: (torch.tanh(c @ x.T @ c), c.sum()), init, xs)
    c, expected = init, []
    for x in xs:
        expected.append(c.sum())
        c = torch.tanh(c @ x.T @ c)
    torch.testing.assert_close(carry, c)
    torch.testing.assert_close(ys, torch.stack(expected))


def test_scan_length_without_xs() -> None:
    carry, ys = scan(lambda c, x: (c * 2, c + 1), torch.ones(2), length=4)
    assert x_is_none_seen(lambda c, x: (c, c)) is None
    torch.testing.assert_close(carry, torch.full((2,), 16.0))
    torch.testing.assert_close(ys, torch.tensor([[2.0, 2.0], [3.0, 3.0], [5.0, 5.0], [9.0, 9.0]]))


def x_is_none_seen(fn: Any) -> object:
    seen: list[object] = []

    def combine(c: torch.Tensor, x: object) -> Any:
        seen.append(x)
        return fn(c, x)

    scan(combine, torch.ones(1), length=1)
    return seen[0]


@pytest.mark.parametrize("start", [0, 3, 9])
def test_while_loop_matches_torch_while_loop(start: int) -> None:
    x, w = torch.randn(3), torch.full((3,), 0.5)
    i = torch.tensor(start)
    ours = while_loop(lambda i, x, w: i < 5, lambda i, x, w: (i + 1, x * w + 1), (i, x), (w,))
    theirs = torch_while_loop(lambda i, x: i < 5, lambda i, x: (i + 1, x * w + 1), (i, x))
    torch.testing.assert_close(ours, theirs)


def test_while_loop_int_carry_and_python_condition() -> None:
    x = torch.randn(3)
    n, y = while_loop(lambda n, x: n < 3, lambda n, x: (n + 1, x * 2), (0, x))
    assert n == 3
    torch.testing.assert_close(y, x * 8)


def test_zero_iterations_return_copies() -> None:
    x = torch.randn(3)
    (y,) = while_loop(lambda x: torch.tensor(False), lambda x: (x + 1,), (x,))
    assert y is not x
    torch.testing.assert_close(y, x)


@pytest.mark.parametrize(
    "call,words",
    [
        (lambda: cond(torch.ones(2) > 0, lambda: 1, lambda: 2), r"pred is a tensor b8\[2\] with 2 elements"),
        (lambda: cond("yes", lambda: 1, lambda: 2), "pred is a str"),  # type: ignore[arg-type]  # the wrong type under test
        (lambda: cond(True, lambda x: x, lambda x: x, torch.ones(1)), "operands is a Tensor"),  # type: ignore[arg-type]  # the wrong type under test
        (lambda: cond(True, lambda x: x, lambda x: x, ("s",)), r"operands\[0\] is a str"),
        (lambda: scan(lambda c, x: (c, x), torch.ones(1), torch.ones(3), length=3), "both xs and length"),
        (lambda: scan(lambda c, x: (c, x), torch.ones(1), None), "no length= was given"),
        (lambda: scan(lambda c, x: (c, x), torch.ones(1), {"a": torch.ones(3), "b": torch.ones(4)}),
         r"xs\['b'\] is f32\[4\] but xs\['a'\] is f32\[3\]"),
        (lambda: scan(lambda c, x: (c, x), torch.ones(1), torch.ones(3), dim=2), r"xs is f32\[3\], which has no dimension 2"),
        (lambda: while_loop(lambda x: x > 0, lambda x: (x - 1,), (torch.ones(2),)), "cond_fn returned b8\\[2\\]"),
        (lambda: while_loop(lambda x: x > 0, lambda x: (x - 1,), torch.ones(1)), "must be tuples"),  # type: ignore[arg-type]  # the wrong type under test
    ],
)  # fmt: skip
def test_argument_errors(call: Any, words: str) -> None:
    with pytest.raises(HopArgumentError, match=words):
        call()
