"""Graphs that check their own guards, and torch._check as checks in the graph."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest
import torch

from torchshade.trace import GuardViolationError, make_fx

aten = torch.ops.aten


def _line_of(f: Callable[..., object], text: str) -> str:
    """``file:line`` of the first line of ``f`` that contains ``text``."""
    lines, first = inspect.getsourcelines(f)
    offset = next(i for i, line in enumerate(lines) if text in line)
    return f"{inspect.getsourcefile(f)}:{first + offset}"


def _branchy(x: torch.Tensor) -> torch.Tensor:
    if x.shape[0] > 4:
        return x * 2
    return x + 1


def test_breaking_a_guard_raises_naming_guard_input_and_line() -> None:
    gm = make_fx(_branchy, tracing_mode="symbolic")(torch.ones(6))
    torch.testing.assert_close(gm(torch.ones(9)), _branchy(torch.ones(9)))
    with pytest.raises(GuardViolationError, match=r"x\.size\(\)\[0\]` .*failed with x\.size\(\)\[0\] = 3") as info:
        gm(torch.ones(3))
    assert _line_of(_branchy, "if x.shape[0] > 4") in str(info.value)
    assert "check_guards=False" in str(info.value)


def test_guards_on_specialized_sizes_are_checked() -> None:
    def f(x: torch.Tensor) -> torch.Tensor:
        return x.sum(0)

    gm = make_fx(f, tracing_mode="symbolic")(torch.ones(1, 5))
    torch.testing.assert_close(gm(torch.ones(1, 7)), f(torch.ones(1, 7)))
    with pytest.raises(GuardViolationError, match=r"x\.size\(\)\[0\] == 1"):
        gm(torch.ones(2, 5))


def test_the_flag_turns_the_checks_off() -> None:
    gm = make_fx(_branchy, tracing_mode="symbolic", check_guards=False)(torch.ones(6))
    assert all(n.op != "call_function" or n.target in (aten.mul.Tensor,) for n in gm.graph.nodes)
    # Without its check, the graph silently computes the branch it was traced with.
    x = torch.full((3,), 3.0)
    torch.testing.assert_close(gm(x), x * 2)
    assert not torch.equal(gm(x), _branchy(x))


def _checked(x: torch.Tensor) -> torch.Tensor:
    n = x.sum().item()
    assert isinstance(n, (int, torch.SymInt))  # an int tensor's item: for the type checker
    torch._check(n >= 2)
    torch._check(n <= 100)
    return torch.ones(n) * 2


def test_torch_check_on_unbacked_values_becomes_graph_asserts() -> None:
    gm = make_fx(_checked, tracing_mode="symbolic")(torch.tensor([1, 2]))
    asserts = [n for n in gm.graph.nodes if n.target is aten._assert_scalar.default]
    assert [str(n.args[1]).split(" (")[0] for n in asserts] == [
        "Runtime assertion failed for expression u0 >= 2",
        "Runtime assertion failed for expression u0 <= 100",
    ]
    torch.testing.assert_close(gm(torch.tensor([4, 1])), _checked(torch.tensor([4, 1])))
    with pytest.raises(RuntimeError, match=r"u0 >= 2 \(from torch._check at .*test_trace_checks.py:\d+ in _checked"):
        gm(torch.tensor([0, 1]))
    unchecked = make_fx(_checked, tracing_mode="symbolic", check_guards=False)(torch.tensor([1, 2]))
    assert all(n.target is not aten._assert_scalar.default for n in unchecked.graph.nodes)


def test_data_dependent_sizes_rerun_at_other_sizes() -> None:
    def f(x: torch.Tensor) -> torch.Tensor:
        return x[x > 0].sum() + x.nonzero().shape[0]

    gm = make_fx(f, tracing_mode="symbolic")(torch.tensor([1.0, -2.0, 3.0]))
    x = torch.tensor([1.0, -2.0, 3.0, 5.0, -1.0, 7.0])
    torch.testing.assert_close(gm(x), f(x))


def test_graph_check_passes_on_traced_inputs_of_many_kinds() -> None:
    def f(x: torch.Tensor, y: torch.Tensor, n: int) -> torch.Tensor:
        return (x @ y).reshape(n, -1)

    x, y = torch.randn(4, 6), torch.randn(6, 3)
    gm = make_fx(f, tracing_mode="symbolic")(x, y, 2)
    torch.testing.assert_close(gm(x, y, 2), f(x, y, 2))
    x2, y2 = torch.randn(8, 5), torch.randn(5, 3)
    torch.testing.assert_close(gm(x2, y2, 4), f(x2, y2, 4))


@pytest.mark.parametrize("mode", ["real", "fake"])
def test_static_traces_check_sizes_and_ints(mode: str) -> None:
    def f(x: torch.Tensor, n: int) -> torch.Tensor:
        return x.view(x.shape[0] * n, -1)

    gm = make_fx(f, tracing_mode=mode)(torch.ones(4, 6), 2)
    torch.testing.assert_close(gm(torch.ones(4, 6), 2), f(torch.ones(4, 6), 2))
    with pytest.raises(GuardViolationError, match=r"input x has size \[8, 6\], but the graph was traced for size \[4, 6\].*tracing_mode='symbolic'"):
        gm(torch.ones(8, 6), 2)
    with pytest.raises(GuardViolationError, match=r"input n has value 3, but the graph was traced for value 2"):
        gm(torch.ones(4, 6), 3)
    unchecked = make_fx(f, tracing_mode=mode, check_guards=False)(torch.ones(4, 6), 2)
    assert unchecked(torch.ones(4, 6), 3).shape == (8, 3)  # the traced constants, silently


def _bounded_by_input(x: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    n = counts.sum().item()
    assert isinstance(n, (int, torch.SymInt))  # an int tensor's item: for the type checker
    torch._check(n <= x.shape[0])
    torch._check(n >= 1)
    return x[:n].sum(0)


def test_runtime_assert_over_an_input_size_and_an_unbacked_value() -> None:
    gm = make_fx(_bounded_by_input, tracing_mode="symbolic")(torch.randn(5, 2), torch.tensor([1, 2]))
    asserts = [n for n in gm.graph.nodes if n.target is aten._assert_scalar.default]
    assert any("u0 <= s" in str(n.args[1]) for n in asserts)
    x = torch.randn(7, 2)
    torch.testing.assert_close(gm(x, torch.tensor([3, 3])), _bounded_by_input(x, torch.tensor([3, 3])))
    with pytest.raises(RuntimeError, match=r"Runtime assertion failed for expression u0 <= s\d+"):
        gm(x, torch.tensor([4, 4]))
