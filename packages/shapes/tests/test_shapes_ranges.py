"""Value ranges: interval arithmetic that knows //, %, min, max and comparisons."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import sympy
from hypothesis import given
from hypothesis import strategies as st

from torchshade.shapes import ValueRanges
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
