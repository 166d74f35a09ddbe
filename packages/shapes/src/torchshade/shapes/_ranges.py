"""Value ranges: the closed interval every expression's value lies in.

``bound(expr, ranges)`` computes an interval for any shape expression from
the intervals of its symbols, by interval arithmetic that knows Python's
``//``, ``%``, ``min``, ``max`` and the comparisons.  Booleans are the
intervals [0, 0] (false), [1, 1] (true) and [0, 1] (unknown).  Unbounded
ends are ``-math.inf`` / ``math.inf``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sympy

from ._expr import Expr, FloorDiv, IntTrueDiv, PowByNatural, PyMod, ToFloat, is_bool_expr, symbols_in

Number = int | float


@dataclass(frozen=True, slots=True)
class ValueRanges:
    """The closed interval [lower, upper]; ends may be -inf / inf."""

    lower: Number
    upper: Number

    @staticmethod
    def point(value: Number) -> ValueRanges:
        return ValueRanges(value, value)

    def is_point(self) -> bool:
        return self.lower == self.upper

    def __contains__(self, value: Number) -> bool:
        return self.lower <= value <= self.upper

    def intersect(self, other: ValueRanges) -> ValueRanges:
        return ValueRanges(max(self.lower, other.lower), min(self.upper, other.upper))

    def is_empty(self) -> bool:
        return self.lower > self.upper

    def __str__(self) -> str:
        return f"[{_fmt(self.lower)}, {_fmt(self.upper)}]"


def _fmt(x: Number) -> str:
    return "-inf" if x == -math.inf else "inf" if x == math.inf else str(x)


UNKNOWN = ValueRanges(-math.inf, math.inf)
BOOL_UNKNOWN = ValueRanges(0, 1)
TRUE = ValueRanges(1, 1)
FALSE = ValueRanges(0, 0)


def _mul(a: Number, b: Number) -> Number:
    if a == 0 or b == 0:
        return 0
    return a * b


def _floordiv(a: Number, b: Number) -> Number:
    if math.isinf(a) or math.isinf(b):
        if math.isinf(a) and math.isinf(b):
            return math.inf if (a > 0) == (b > 0) else -math.inf
        if math.isinf(b):
            return 0 if (a >= 0) == (b > 0) else -1
        return a if b > 0 else -a
    return int(a) // int(b)


def _corners(a: ValueRanges, b: ValueRanges, op: Callable[[Number, Number], Number]) -> ValueRanges:
    values = [op(x, y) for x in (a.lower, a.upper) for y in (b.lower, b.upper)]
    return ValueRanges(min(values), max(values))


def _pow(base: ValueRanges, k: int) -> ValueRanges:
    def p(x: Number) -> Number:
        return x**k if not math.isinf(x) else (math.inf if x > 0 or k % 2 == 0 else -math.inf)

    if k == 0:
        return ValueRanges.point(1)
    if k % 2 == 1 or base.lower >= 0:
        return ValueRanges(p(base.lower), p(base.upper))
    if base.upper <= 0:
        return ValueRanges(p(base.upper), p(base.lower))
    return ValueRanges(0, max(p(base.lower), p(base.upper)))


def _mod(a: ValueRanges, b: ValueRanges) -> ValueRanges:
    if b.lower >= 1:
        if a.lower >= 0 and a.upper < b.lower:
            return a
        if b.is_point() and not math.isinf(a.lower) and not math.isinf(a.upper):
            d = int(b.lower)
            if a.upper - a.lower < d and a.lower % d <= a.upper % d:
                return ValueRanges(int(a.lower) % d, int(a.upper) % d)
        return ValueRanges(0, b.upper - 1)
    if b.upper <= -1:
        return ValueRanges(b.lower + 1, 0)
    # A divisor of either sign: |result| < |divisor|, with the divisor's sign.
    return ValueRanges(min(b.lower + 1, 0), max(b.upper - 1, 0))


def _div_floordiv(a: ValueRanges, b: ValueRanges, int_divisor: bool = False) -> ValueRanges:
    if b.lower >= 1 or b.upper <= -1:
        return _corners(a, b, _floordiv)
    if not int_divisor or b.is_empty():
        return UNKNOWN
    # ``x // 0`` raises, so an int divisor is at most -1 or at least 1 wherever it is defined.
    halves = [h for h in (ValueRanges(b.lower, -1), ValueRanges(1, b.upper)) if not h.is_empty()]
    rs = [_corners(a, h, _floordiv) for h in halves]
    if not rs:
        return UNKNOWN
    return ValueRanges(min(r.lower for r in rs), max(r.upper for r in rs))


def _floordiv_expr(b: Bounder, e: Expr) -> ValueRanges:
    x, y = e.args
    out = _div_floordiv(b.bound(x), b.bound(y), bool(y.is_integer))
    if (out.lower == -math.inf or out.upper == math.inf) and symbols_in(x) & symbols_in(y):
        # Correlated sides: x // y == floor(x / y), and x / y may cancel (-a / (2*a) is -1/2).
        ratio = x / y
        if ratio.is_Rational and x.is_integer and y.is_integer:
            return ValueRanges.point(math.floor(ratio))
    return out


def _truediv(a: ValueRanges, b: ValueRanges) -> ValueRanges:
    if b.lower > 0 or b.upper < 0:
        def div(x: Number, y: Number) -> Number:
            if math.isinf(y):
                return 0.0
            return x / y

        return _corners(a, b, div)
    return UNKNOWN


def _compare(op: str, diff: ValueRanges) -> ValueRanges:
    """Truth range of ``d op 0`` for d in ``diff``."""
    lo, hi = diff.lower, diff.upper
    decided: dict[str, tuple[bool, bool]] = {
        "==": (lo == hi == 0, lo > 0 or hi < 0),
        "!=": (lo > 0 or hi < 0, lo == hi == 0),
        "<": (hi < 0, lo >= 0),
        "<=": (hi <= 0, lo > 0),
        ">": (lo > 0, hi <= 0),
        ">=": (lo >= 0, hi < 0),
    }
    true, false = decided[op]
    return TRUE if true else FALSE if false else BOOL_UNKNOWN


RELATIONAL_OPS: dict[Expr, str] = {
    sympy.Eq: "==",
    sympy.Ne: "!=",
    sympy.Lt: "<",
    sympy.Le: "<=",
    sympy.Gt: ">",
    sympy.Ge: ">=",
}


class Bounder:
    """Computes ``bound(expr)`` against symbol ranges, memoizing subexpressions."""

    def __init__(self, ranges: Mapping[Expr, ValueRanges], default: Callable[[Expr], ValueRanges]):
        self._ranges = ranges
        self._default = default
        self._memo: dict[Expr, ValueRanges] = {}

    def bound(self, expr: Expr) -> ValueRanges:
        found = self._memo.get(expr)
        if found is None:
            found = self._bound(expr)
            self._memo[expr] = found
        return found

    def _bound(self, e: Expr) -> ValueRanges:
        if e.is_Number:
            return ValueRanges.point(int(e) if e.is_Integer else float(e))
        if e is sympy.true:
            return TRUE
        if e is sympy.false:
            return FALSE
        if e.is_Symbol:
            r = self._ranges.get(e)
            return r if r is not None else self._default(e)
        handler = _HANDLERS.get(type(e))
        if handler is not None:
            return handler(self, e)
        if type(e) in RELATIONAL_OPS:
            return _compare(RELATIONAL_OPS[type(e)], self.bound(e.args[0] - e.args[1]))
        return BOOL_UNKNOWN if is_bool_expr(e) else UNKNOWN

    def args(self, e: Expr) -> list[ValueRanges]:
        return [self.bound(a) for a in e.args]


def _add(b: Bounder, e: Expr) -> ValueRanges:
    lo: Number = 0
    hi: Number = 0
    for r in b.args(e):
        lo, hi = lo + r.lower, hi + r.upper
    out = ValueRanges(lo, hi)
    if lo < 0 < hi:
        # Sums lose the correlation of their terms: a - a*b is [-inf, inf] but
        # a*(1 - b) is <= -2 for a, b >= 2.  Pulling out common factors is cheap.
        factored = _common_factor(e)
        if factored is not None:
            common, rest, constant = factored
            product = _corners(b.bound(common), b.bound(rest), _mul)
            c = b.bound(constant)
            out = out.intersect(ValueRanges(product.lower + c.lower, product.upper + c.upper))
    if out.lower < 0 < out.upper:
        shifted = _shifted_bound(b, e)
        if shifted is not None:
            out = out.intersect(shifted)
    return out


def _is_small_polynomial(e: Expr) -> bool:
    if e.is_Symbol or e.is_Integer:
        return True
    if e.is_Pow:
        return bool(e.args[1].is_Integer and 0 < e.args[1] <= 4 and _is_small_polynomial(e.args[0]))
    return bool((e.is_Add or e.is_Mul) and len(e.args) <= 8 and all(_is_small_polynomial(a) for a in e.args))


# _shifted_bound's answers: a pure function of the polynomial and its symbols' ranges,
# so they are kept for the process (bounded: cleared when full).
_SHIFTED: dict[tuple[Expr, tuple[tuple[Expr, ValueRanges], ...]], ValueRanges | None] = {}
_SHIFTED_MAX = 50_000


def _shifted_bound(b: Bounder, e: Expr) -> ValueRanges | None:
    """Bound a polynomial after moving each symbol to its lower bound: with a, b >= 2,
    ``a*b - a - b`` becomes ``p*q + p + q`` (p, q >= 0), plainly >= 0."""
    if len(symbols_in(e)) > 4 or not _is_small_polynomial(e):
        return None
    symbols = sorted(symbols_in(e), key=str)
    key = (e, tuple((s, b.bound(s)) for s in symbols))
    if key in _SHIFTED:
        return _SHIFTED[key]
    if len(_SHIFTED) >= _SHIFTED_MAX:
        _SHIFTED.clear()
    _SHIFTED[key] = found = _shift_and_bound(e, key[1])
    return found


def _shift_and_bound(e: Expr, ranges: tuple[tuple[Expr, ValueRanges], ...]) -> ValueRanges | None:
    if any(math.isinf(r.lower) for _, r in ranges) or all(r.lower == 0 for _, r in ranges):
        return None  # nothing to shift (and the shifted bound must not shift again)
    shift, shifted = {}, {}
    for i, (s, r) in enumerate(ranges):
        t = sympy.Symbol(f"_shift{i}", integer=True, nonnegative=True)
        shift[s] = t + int(r.lower)
        shifted[t] = ValueRanges(0, r.upper - r.lower)
    return bound(sympy.expand(e.xreplace(shift)), shifted)


def _common_factor(e: Expr) -> tuple[Expr, Expr, Expr] | None:
    """``a - a*b + 7`` -> ``(a, 1 - b, 7)``: symbol powers the non-constant terms share."""
    constant = sympy.Add(*(t for t in e.args if t.is_Number))
    terms = [t for t in e.args if not t.is_Number]
    if len(terms) < 2:
        return None
    common: dict[Expr, int] | None = None
    for term in terms:
        powers: dict[Expr, int] = {}
        for f in sympy.Mul.make_args(term):
            base, exp = f.as_base_exp()
            if base.is_Symbol and exp.is_Integer and exp > 0:
                powers[base] = int(exp)
        common = powers if common is None else {s: min(p, powers[s]) for s, p in common.items() if s in powers}
        if not common:
            return None
    assert common is not None
    factor = sympy.Mul(*(s**p for s, p in common.items()))
    return factor, sympy.Add(*(t / factor for t in terms)), constant


def _mul_all(b: Bounder, e: Expr) -> ValueRanges:
    acc = ValueRanges.point(1)
    for r in b.args(e):
        acc = _corners(acc, r, _mul)
    return acc


def _pow_expr(b: Bounder, e: Expr) -> ValueRanges:
    base, exp = e.args
    if exp.is_Integer and int(exp) >= 0:
        return _pow(b.bound(base), int(exp))
    return UNKNOWN


def _piecewise(b: Bounder, e: Expr) -> ValueRanges:
    rs = [b.bound(value) for value, _ in e.args]
    return ValueRanges(min(r.lower for r in rs), max(r.upper for r in rs))


def _and(b: Bounder, e: Expr) -> ValueRanges:
    rs = b.args(e)
    return FALSE if FALSE in rs else TRUE if all(r == TRUE for r in rs) else BOOL_UNKNOWN


def _or(b: Bounder, e: Expr) -> ValueRanges:
    rs = b.args(e)
    return TRUE if TRUE in rs else FALSE if all(r == FALSE for r in rs) else BOOL_UNKNOWN


def _not(b: Bounder, e: Expr) -> ValueRanges:
    r = b.bound(e.args[0])
    return ValueRanges(1 - r.upper, 1 - r.lower)


def _max(b: Bounder, e: Expr) -> ValueRanges:
    rs = b.args(e)
    return ValueRanges(max(r.lower for r in rs), max(r.upper for r in rs))


def _min(b: Bounder, e: Expr) -> ValueRanges:
    rs = b.args(e)
    return ValueRanges(min(r.lower for r in rs), min(r.upper for r in rs))


def _abs(b: Bounder, e: Expr) -> ValueRanges:
    r = b.bound(e.args[0])
    if r.lower >= 0:
        return r
    if r.upper <= 0:
        return ValueRanges(-r.upper, -r.lower)
    return ValueRanges(0, max(-r.lower, r.upper))


_HANDLERS: dict[Expr, Callable[[Bounder, Expr], ValueRanges]] = {
    sympy.Add: _add,
    sympy.Mul: _mul_all,
    sympy.Pow: _pow_expr,
    PowByNatural: _pow_expr,
    FloorDiv: _floordiv_expr,
    PyMod: lambda b, e: _mod(*b.args(e)),
    IntTrueDiv: lambda b, e: _truediv(*b.args(e)),
    ToFloat: lambda b, e: b.bound(e.args[0]),
    sympy.Max: _max,
    sympy.Min: _min,
    sympy.Abs: _abs,
    sympy.Piecewise: _piecewise,
    sympy.And: _and,
    sympy.Or: _or,
    sympy.Not: _not,
}


def bound(
    expr: Expr,
    ranges: Mapping[Expr, ValueRanges],
    default: Callable[[Expr], ValueRanges] = lambda _: UNKNOWN,
) -> ValueRanges:
    """The interval of ``expr`` given the interval of each symbol in ``ranges``."""
    return Bounder(ranges, default).bound(expr)
