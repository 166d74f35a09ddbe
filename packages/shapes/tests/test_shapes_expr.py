"""Expressions with Python integer semantics, and their Python source."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st

from torchshade.shapes._expr import FloorDiv, IntTrueDiv, PowByNatural, PyMod, ToFloat, ceil_div
from torchshade.shapes._source import python_source

ints = st.integers(-50, 50)
nonzero = ints.filter(lambda v: v != 0)
s0, s1 = sympy.symbols("s0 s1", integer=True, nonnegative=True)


@given(ints, nonzero)
def test_constants_fold_like_python(a: int, b: int) -> None:
    assert FloorDiv(a, b) == a // b
    assert PyMod(a, b) == a % b
    assert ceil_div(sympy.Integer(a), sympy.Integer(b)) == -(-a // b)
    assert float(IntTrueDiv(a, b)) == a / b


def test_division_by_zero_is_python_error() -> None:
    with pytest.raises(ZeroDivisionError, match="integer division by zero"):
        FloorDiv(3, 0)
    with pytest.raises(ZeroDivisionError, match="modulo by zero"):
        PyMod(3, 0)


def test_local_rules() -> None:
    assert FloorDiv(s0, 1) == s0
    assert FloorDiv(6 * s0, 3) == 2 * s0
    assert FloorDiv(FloorDiv(s0, 2), 3) == FloorDiv(s0, 6)
    assert FloorDiv(4 * s0 + s1, 2) == 2 * s0 + FloorDiv(s1, 2)
    assert PyMod(4 * s0 + s1, 2) == PyMod(s1, 2)
    assert PyMod(6 * s0, 3) == 0
    assert PyMod(PyMod(s0, 3), 3) == PyMod(s0, 3)
    assert PowByNatural(s0, 2) == s0**2
    assert ToFloat(3) == sympy.Float(3.0)


def test_printing_reads_like_torch() -> None:
    assert str(FloorDiv(s0, 2)) == "(s0//2)"
    assert str(PyMod(s0 * s1, 2)) == "Mod(s0*s1, 2)"


BINOPS: dict[str, tuple[Callable[[Any, Any], Any], Callable[[int, int], int]]] = {
    "add": (operator.add, operator.add),
    "sub": (operator.sub, operator.sub),
    "mul": (operator.mul, operator.mul),
    "floordiv": (FloorDiv, operator.floordiv),
    "mod": (PyMod, operator.mod),
    "max": (sympy.Max, max),
    "min": (sympy.Min, min),
}

exprs = st.recursive(
    st.sampled_from([s0, s1]) | ints.map(sympy.Integer),
    lambda inner: st.tuples(st.sampled_from(sorted(BINOPS)), inner, inner),
    max_leaves=6,
)


def _build(tree: Any, values: dict[Any, int]) -> tuple[Any, int]:
    if not isinstance(tree, tuple):
        return tree, int(tree.xreplace(values))
    op, left, right = tree
    le, lv = _build(left, values)
    re_, rv = _build(right, values)
    sym_op, py_op = BINOPS[op]
    if op in ("floordiv", "mod") and rv == 0:
        raise ZeroDivisionError
    return sym_op(le, re_), py_op(lv, rv)


@given(exprs, st.integers(0, 40), st.integers(0, 40))
def test_symbolic_then_substituted_equals_python(tree: Any, a: int, b: int) -> None:
    values = {s0: a, s1: b}
    try:
        expr, expected = _build(tree, values)
        substituted = expr.xreplace({s0: sympy.Integer(a), s1: sympy.Integer(b)})
    except ZeroDivisionError:
        return
    assert substituted == expected
    assert eval(python_source(expr, {s0: "a", s1: "b"}), {"a": a, "b": b}) == expected


def test_python_source_of_relations_and_logic() -> None:
    names = {s0: "x.size()[0]", s1: "x.size()[1]"}
    assert python_source(sympy.Eq(PyMod(s0, 2), 0), names) == "x.size()[0] % 2 == 0"
    text = python_source(sympy.And(sympy.Ne(s0, s1), s0 >= 2), names)
    assert eval(text, {"x": _Sizes(4, 3)}) is True
    assert python_source(sympy.Eq(s0 - 2 * s1, 0), names) in ("x.size()[0] - 2 * x.size()[1] == 0",)


class _Sizes:
    def __init__(self, *sizes: int) -> None:
        self._sizes = sizes

    def size(self) -> tuple[int, ...]:
        return self._sizes
