"""Value ranges: interval arithmetic that knows //, %, min, max and comparisons."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import sympy
import torch
from hypothesis import given
from hypothesis import strategies as st

from torchshade.shapes import ShapeEnv, ValueRanges
from torchshade.shapes._expr import FloorDiv, PyMod
from torchshade.shapes._ranges import bound

a, b = sympy.symbols("a b", integer=True)
R = {a: ValueRanges(2, 10), b: ValueRanges(3, 5)}


def test_arithmetic() -> None:
    assert bound(a + b, R) == ValueRanges(5, 15)
    assert bound(a - b, R) == ValueRanges(-3, 7)
    assert bound(a * b, R) == ValueRanges(6, 50)
    assert bound(-a, R) == ValueRanges(-10, -2)
    assert bound(a**2, {a: ValueRanges(-3, 2)}) == ValueRanges(0, 9)


def test_floordiv_mod_min_max() -> None:
    assert bound(FloorDiv(a, b), R) == ValueRanges(0, 3)
    assert bound(PyMod(a, b), R) == ValueRanges(0, 4)
    assert bound(PyMod(a, 16), R) == ValueRanges(2, 10)
    assert bound(PyMod(a, -3), R) == ValueRanges(-2, 0)
    assert bound(sympy.Max(a, b), R) == ValueRanges(3, 10)
    assert bound(sympy.Min(a, b), R) == ValueRanges(2, 5)


def test_comparisons_are_bool_ranges() -> None:
    assert bound(sympy.Gt(a, 1), R) == ValueRanges(1, 1)
    assert bound(sympy.Lt(a, 2), R) == ValueRanges(0, 0)
    assert bound(sympy.Eq(a, b), R) == ValueRanges(0, 1)
    assert bound(sympy.And(sympy.Gt(a, 1), sympy.Eq(a, b)), R) == ValueRanges(0, 1)
    assert bound(sympy.Or(sympy.Gt(a, 1), sympy.Eq(a, b)), R) == ValueRanges(1, 1)


def test_unbounded_ends() -> None:
    r = bound(FloorDiv(a, 2) + 1, {a: ValueRanges(0, math.inf)})
    assert r == ValueRanges(1, math.inf)
    assert str(r) == "[1, inf]"
    # a divisor of either sign: |a % b| < |b| with b's sign
    assert bound(PyMod(a, b), {a: ValueRanges(-math.inf, math.inf), b: ValueRanges(-3, 5)}) == ValueRanges(-2, 4)


OPS: list[Callable[[Any, Any], Any]] = [lambda x, y: x + y, lambda x, y: x * y, lambda x, y: x - y, FloorDiv, PyMod, sympy.Max, sympy.Min]
PY: list[Callable[[int, int], int]] = [lambda x, y: x + y, lambda x, y: x * y, lambda x, y: x - y, lambda x, y: x // y, lambda x, y: x % y, max, min]


@given(st.integers(-20, 20), st.integers(0, 10), st.integers(-20, 20), st.integers(0, 10), st.integers(0, 6), st.data())
def test_bound_contains_every_value(alo: int, aw: int, blo: int, bw: int, op: int, data: Any) -> None:
    ra, rb = ValueRanges(alo, alo + aw), ValueRanges(blo, blo + bw)
    va = data.draw(st.integers(alo, alo + aw))
    vb = data.draw(st.integers(blo, blo + bw))
    if op in (3, 4) and (vb == 0 or 0 in rb):
        return
    r = bound(OPS[op](a, b), {a: ra, b: rb})
    assert PY[op](va, vb) in r


# Gaps the property tests found (sizes >= 2); each answer is checked against Python too.
SIZES = {a: ValueRanges(2, math.inf), b: ValueRanges(2, math.inf)}
SAMPLES = [(x, y) for x in range(2, 9) for y in range(2, 9)]


def _python_values(f: Callable[[int, int], int]) -> list[int]:
    values = []
    for x, y in SAMPLES:
        try:
            values.append(f(x, y))
        except ZeroDivisionError:
            pass
    return values


def test_floordiv_of_correlated_sides_cancels() -> None:
    # -(-a // (2*a)) is ceil(1/2) == 1 for every a >= 1; torch knows [1, 1]
    assert bound(-FloorDiv(-a, 2 * a), SIZES) == ValueRanges(1, 1)
    assert set(_python_values(lambda x, _: -(-x // (2 * x)))) == {1}
    # a float numerator keeps the plain interval answer
    f = sympy.Symbol("f", positive=True)
    assert bound(FloorDiv(f, 2 * f), {f: ValueRanges(1, 4)}) == ValueRanges(0, 2)


def test_int_divisor_that_may_be_zero_is_at_least_one_where_defined() -> None:
    # 7 // ((2*a) // b): the divisor is in [0, inf], and 0 raises; torch says [0, inf]
    r = bound(FloorDiv(7, FloorDiv(2 * a, b)), SIZES)
    assert r == ValueRanges(0, 7)
    assert all(r.lower <= v <= r.upper for v in _python_values(lambda x, y: 7 // ((2 * x) // y)))
    # a divisor of either sign: 7 // d is in [-7, 7] for every int d != 0
    assert bound(FloorDiv(7, a - b), SIZES) == ValueRanges(-7, 7)
    assert bound(FloorDiv(-a, 2 - a), SIZES) == ValueRanges(0, math.inf)
    # a float divisor may be tiny: nothing to say
    f = sympy.Symbol("f", real=True)
    assert bound(FloorDiv(7, f), {f: ValueRanges(0, 4)}) == ValueRanges(-math.inf, math.inf)


def test_static_answers_from_a_nonzero_int_divisor() -> None:
    env = ShapeEnv()
    s = env.create_symint(3, "a")
    assert isinstance(s, torch.SymInt)
    guards = env.format_guards()
    assert env._maybe_evaluate_static((-(-s // (2 - s)) < s).node.expr) is sympy.true
    assert all(-(-x // (2 - x)) < x for x in range(3, 50))  # (a == 2 divides by zero)
    assert env.format_guards() == guards


def test_max_min_drop_arguments_that_never_win() -> None:
    env = ShapeEnv()
    x, y = env.create_symint(3, "a"), env.create_symint(5, "b")
    assert isinstance(x, torch.SymInt) and isinstance(y, torch.SymInt)
    s0, s1 = x.node.expr, y.node.expr
    assert env.simplify(sympy.Max(s0, 2 * s0)) == 2 * s0  # s0 >= 2
    assert env.simplify(sympy.Min(s0, 2 * s0)) == s0
    assert env.simplify(sympy.Max(s0, sympy.Min(s0, s1))) == s0  # absorption, for any s0, s1
    assert env.simplify(sympy.Min(s0, sympy.Max(s0, s1))) == s0
    assert env.simplify(sympy.Max(s0, s1)) == sympy.Max(s0, s1)  # undecided stays
    assert env.simplify(sympy.Max(s0 - s1, 2 * s0 - s1)) == 2 * s0 - s1
    for p, q in SAMPLES:
        assert max(p, min(p, q)) == p and max(p, 2 * p) == 2 * p


def test_every_range_write_goes_through_narrow_and_keeps_divisibility() -> None:
    # s0 % 4 == 0 is known; a later bound from torch._check / constrain_range must be
    # rounded to multiples of 4 as a learned one is (before, it bypassed the rounding).
    env = ShapeEnv()
    s0 = env.create_symint(8, "x")
    assert isinstance(s0, torch.SymInt)
    assert (s0 % 4 == 0)  # decided from the hint: s0 is a multiple of 4 from now on
    env._constrain_range(s0, 5, 30)
    assert env.bound_sympy(s0.node.expr) == ValueRanges(8, 28)
    assert env.var_to_range[s0.node.expr] == ValueRanges(8, 28)


def test_input_guards_see_a_symbol_made_after_they_were_built() -> None:
    # input_guards() is cached on the knowledge's version; a new symbol's range
    # [2, inf] must invalidate it (it did not while ranges were written directly).
    env = ShapeEnv()
    assert env.input_guards() == []
    env.create_symint(5, "x")
    assert [g.python for g in env.input_guards()] == ["2 <= x"]
