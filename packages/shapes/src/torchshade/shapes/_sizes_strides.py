"""Layout predicates C++ asks of symbolic tensors: is it contiguous, channels-last, dense?

Each takes the size and stride expressions and returns a sympy boolean.
``NonOverlappingAndDense`` answers structurally when the strides are exactly
the running products of the sizes in some order, and numerically on ints.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sympy

from ._expr import Expr


def _contiguous_in_order(sizes: Sequence[Expr], strides: Sequence[Expr], order: Sequence[int]) -> Expr:
    """True when strides are the running product of sizes, innermost dim first in ``order``."""
    if len(order) != len(sizes):
        return sympy.false
    expected: Expr = sympy.Integer(1)
    clauses = []
    for d in order:
        clauses.append(sympy.Or(sympy.Eq(sizes[d], 1), sympy.Eq(strides[d], expected)))
        expected = expected * sizes[d]
    return sympy.Or(sympy.And(*clauses), *(sympy.Eq(s, 0) for s in sizes))


def is_contiguous(sizes: Sequence[Expr], strides: Sequence[Expr]) -> Expr:
    return _contiguous_in_order(sizes, strides, list(range(len(sizes) - 1, -1, -1)))


def _channels_last(order: list[int]) -> Callable[[Sequence[Expr], Sequence[Expr]], Expr]:
    return lambda sizes, strides: _contiguous_in_order(sizes, strides, order)


def _channels_last_strides(order: list[int]) -> Callable[[Sequence[Expr], Sequence[Expr]], Expr]:
    def fn(sizes: Sequence[Expr], strides: Sequence[Expr]) -> Expr:
        if len(sizes) != len(order):
            return sympy.false
        m: Expr = sympy.Integer(0)
        clauses = [sympy.Ne(strides[1], 0)]
        for d in order:
            clauses += [sympy.Ne(sizes[d], 0), sympy.Ge(strides[d], m)]
            if d == 0:
                clauses.append(sympy.Ne(m, strides[1]))
            m = strides[d] * sympy.Max(sizes[d], 1)
        return sympy.And(*clauses)

    return fn


class NonOverlappingAndDense(sympy.Function):  # type: ignore[misc]  # sympy ships no types
    """True when a tensor of these sizes and strides covers its storage exactly once."""

    is_Boolean = True

    @classmethod
    def eval(cls, *args: Expr) -> Expr:
        n = len(args) // 2
        sizes, strides = args[:n], args[n:]
        if all(a.is_Integer for a in args):
            return sympy.true if _dense_ints([int(s) for s in sizes], [int(s) for s in strides]) else sympy.false
        left = [d for d in range(n) if sizes[d] != 1]
        expected: Expr = sympy.Integer(1)
        while left:
            match = next((d for d in left if strides[d] == expected), None)
            if match is None:
                return None
            left.remove(match)
            expected = expected * sizes[match]
        return sympy.true


def _dense_ints(sizes: list[int], strides: list[int]) -> bool:
    if any(s == 0 for s in sizes):
        return True
    dims = sorted((st, sz) for sz, st in zip(sizes, strides) if sz != 1)
    expected = 1
    for stride, size in dims:
        if stride != expected:
            return False
        expected *= size
    return True


def is_non_overlapping_and_dense(sizes: Sequence[Expr], strides: Sequence[Expr]) -> Expr:
    return NonOverlappingAndDense(*sizes, *strides)


SIZES_STRIDES: dict[str, Callable[[Sequence[Expr], Sequence[Expr]], Expr]] = {
    "is_contiguous": is_contiguous,
    "is_channels_last_contiguous_2d": _channels_last([1, 3, 2, 0]),
    "is_channels_last_contiguous_3d": _channels_last([1, 4, 3, 2, 0]),
    "is_channels_last_strides_2d": _channels_last_strides([1, 3, 2, 0]),
    "is_channels_last_strides_3d": _channels_last_strides([1, 4, 3, 2, 0]),
    "is_non_overlapping_and_dense": is_non_overlapping_and_dense,
}
