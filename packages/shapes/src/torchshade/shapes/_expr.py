"""Sympy functions with Python's integer and float semantics.

sympy's own ``floor(a / b)`` and ``Mod`` reason over the rationals and can
be slow to simplify; shapes need Python's ``//`` and ``%`` on integers, with
cheap, bounded rewriting.  Each function here folds constants exactly as
Python would and applies a few local rules in ``eval`` (never
``sympy.simplify``):

    FloorDiv(a, b)      a // b    (rounds towards -inf)
    PyMod(a, b)         a % b     (sign of the divisor, like Python)
    IntTrueDiv(a, b)    a / b     on ints, a float
    ToFloat(a)          float(a)
    PowByNatural(a, b)  a ** b    b >= 0, an int
    FloatPow(a, b)      a ** b    on floats
    TruncToInt(a)       math.trunc(a)   (likewise FloorToInt, CeilToInt, RoundToInt)

``ceil_div(a, b)`` is ``-FloorDiv(-a, b)``; min/max are sympy's ``Min``/``Max``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import sympy

# A sympy expression (or boolean, or sympy class where a constructor is meant).
# sympy ships no type information, so this is Any to mypy; the name says what it holds.
Expr: TypeAlias = Any

__all__ = [
    "CeilToInt",
    "FloatPow",
    "FloorDiv",
    "FloorToInt",
    "IntTrueDiv",
    "PowByNatural",
    "PyMod",
    "RoundToInt",
    "ToFloat",
    "TruncToInt",
    "ceil_div",
    "is_bool_expr",
]


def _int_coeff(expr: Expr) -> tuple[int, Expr]:
    """Split ``expr`` into an integer coefficient and the rest (``6*s0`` -> 6, s0)."""
    coeff, rest = expr.as_coeff_Mul()
    if coeff.is_Integer:
        return int(coeff), rest
    return 1, expr


# sympy is untyped, so every subclass of a sympy class is a subclass of Expr.
class FloorDiv(sympy.Function):  # type: ignore[misc]  # sympy ships no types
    """Python's ``a // b`` on integers."""

    nargs = (2,)
    is_integer = True
    precedence = 50

    @classmethod
    def eval(cls, base: Expr, divisor: Expr) -> Expr:
        if base.is_Integer and divisor.is_Integer:
            if divisor == 0:
                raise ZeroDivisionError("integer division by zero in a shape expression")
            return sympy.Integer(int(base) // int(divisor))
        if divisor == 1:
            return base
        if base == 0:
            return sympy.Integer(0)
        if divisor == -1:
            return -base
        exact = _exact_quotient(base, divisor)
        if exact is not None:
            return exact
        if divisor.is_Integer and divisor < 0:
            return FloorDiv(-base, -divisor)
        if not (divisor.is_Integer and divisor > 0):
            return None
        d = int(divisor)
        if isinstance(base, FloorDiv) and base.args[1].is_Integer and base.args[1] > 0:
            return FloorDiv(base.args[0], base.args[1] * d)
        return _floordiv_split_terms(base, d)

    def _sympystr(self, printer: Any) -> str:
        a, b = (printer.parenthesize(arg, self.precedence) for arg in self.args)
        return f"({a}//{b})"


def _floordiv_split_terms(base: Expr, d: int) -> Expr:
    """(k*d*x + r) // d == k*x + r // d for integer terms; None when nothing splits."""
    terms = sympy.Add.make_args(base)
    whole, rest = [], []
    for term in terms:
        coeff, sym = _int_coeff(term)
        if coeff % d == 0 and (sym.is_integer or sym == 1):
            whole.append(sympy.Integer(coeff // d) * sym)
        else:
            rest.append(term)
    if not whole:
        return None
    remainder = sympy.Add(*rest)
    return sympy.Add(*whole) + (FloorDiv(remainder, d) if rest else 0)


class PyMod(sympy.Function):  # type: ignore[misc]  # sympy ships no types
    """Python's ``a % b`` on integers: the result has the sign of ``b``."""

    nargs = (2,)
    is_integer = True
    precedence = 50

    @classmethod
    def eval(cls, base: Expr, divisor: Expr) -> Expr:
        if base.is_Integer and divisor.is_Integer:
            if divisor == 0:
                raise ZeroDivisionError("integer modulo by zero in a shape expression")
            return sympy.Integer(int(base) % int(divisor))
        if divisor == 1 or divisor == -1 or base == 0 or base == divisor:
            return sympy.Integer(0)
        if _exact_quotient(base, divisor) is not None:
            return sympy.Integer(0)
        if not divisor.is_Integer:
            return None
        d = int(divisor)
        if isinstance(base, PyMod) and base.args[1] == divisor:
            return base
        kept = [t for t in sympy.Add.make_args(base) if not _multiple_of(t, d)]
        if len(kept) != len(sympy.Add.make_args(base)):
            return PyMod(sympy.Add(*kept), divisor)
        return None

    def _eval_is_nonnegative(self) -> bool | None:
        return True if self.args[1].is_positive else None

    def _sympystr(self, printer: Any) -> str:
        return f"Mod({printer.doprint(self.args[0])}, {printer.doprint(self.args[1])})"


def _exact_quotient(base: Expr, divisor: Expr) -> Expr:
    """``base / divisor`` when it is structurally an integer (``(a*b)/a`` -> b), else None.

    Dividing by zero is a Python error whatever the quotient, so ``a // a`` is 1.
    """
    if divisor.is_Number or not (base.is_integer and divisor.is_integer):
        return None
    q = base / divisor
    return q if q.is_integer else None


def _multiple_of(term: Expr, d: int) -> bool:
    coeff, rest = _int_coeff(term)
    return bool(coeff % d == 0 and (rest.is_integer or rest == 1))


class IntTrueDiv(sympy.Function):  # type: ignore[misc]  # sympy ships no types
    """Python's ``a / b`` on two ints: a float."""

    nargs = (2,)
    is_real = True

    @classmethod
    def eval(cls, a: Expr, b: Expr) -> Expr:
        if a.is_Integer and b.is_Integer:
            if b == 0:
                raise ZeroDivisionError("division by zero in a shape expression")
            return sympy.Float(int(a) / int(b))
        return None


class ToFloat(sympy.Function):  # type: ignore[misc]  # sympy ships no types
    """Python's ``float(a)`` on an int."""

    nargs = (1,)
    is_real = True

    @classmethod
    def eval(cls, a: Expr) -> Expr:
        if a.is_Number:
            return sympy.Float(float(a))
        if isinstance(a, ToFloat) or (a.is_Float):
            return a
        return None


class PowByNatural(sympy.Function):  # type: ignore[misc]  # sympy ships no types
    """Python's ``a ** b`` on ints with ``b >= 0`` (an int)."""

    nargs = (2,)
    is_integer = True

    @classmethod
    def eval(cls, base: Expr, exp: Expr) -> Expr:
        if exp.is_Integer and int(exp) >= 0:
            return sympy.Pow(base, exp) if int(exp) != 1 else base
        return None


class FloatPow(sympy.Function):  # type: ignore[misc]  # sympy ships no types
    """Python's ``a ** b`` on floats."""

    nargs = (2,)
    is_real = True

    @classmethod
    def eval(cls, base: Expr, exp: Expr) -> Expr:
        if base.is_Number and exp.is_Number:
            return sympy.Float(float(base) ** float(exp))
        return None


def _make_float_to_int(name: str, fn: Expr, doc: str) -> Expr:
    def eval_(cls: Expr, a: Expr) -> Expr:
        if a.is_Number:
            return sympy.Integer(fn(float(a)))
        if a.is_integer:
            return a
        return None

    attrs = {"nargs": (1,), "is_integer": True, "eval": classmethod(eval_), "__doc__": doc}
    return type(name, (sympy.Function,), attrs)


TruncToInt: Any = _make_float_to_int("TruncToInt", math.trunc, "Python's math.trunc(a).")
FloorToInt: Any = _make_float_to_int("FloorToInt", math.floor, "Python's math.floor(a).")
CeilToInt: Any = _make_float_to_int("CeilToInt", math.ceil, "Python's math.ceil(a).")
RoundToInt: Any = _make_float_to_int("RoundToInt", round, "Python's round(a) (half to even).")


class RoundDecimal(sympy.Function):  # type: ignore[misc]  # sympy ships no types
    """Python's ``round(a, ndigits)`` on a float: a float."""

    nargs = (2,)
    is_real = True

    @classmethod
    def eval(cls, a: Expr, ndigits: Expr) -> Expr:
        if a.is_Number and ndigits.is_Integer:
            return sympy.Float(round(float(a), int(ndigits)))
        return None


def _make_bitwise(name: str, fn: Expr) -> Expr:
    def eval_(cls: Expr, a: Expr, b: Expr) -> Expr:
        if a.is_Integer and b.is_Integer:
            return sympy.Integer(fn(int(a), int(b)))
        return None

    attrs = {"nargs": (2,), "is_integer": True, "eval": classmethod(eval_), "__doc__": f"Python's int {name}."}
    return type(name, (sympy.Function,), attrs)


BitwiseAnd: Any = _make_bitwise("BitwiseAnd", lambda a, b: a & b)
BitwiseOr: Any = _make_bitwise("BitwiseOr", lambda a, b: a | b)
BitwiseXor: Any = _make_bitwise("BitwiseXor", lambda a, b: a ^ b)


def _fold_or(op: Expr, fold: Expr) -> Expr:
    """A sympy constructor that folds numbers exactly and otherwise skips sympy's
    assumption-driven evaluation (``Max`` and relationals ask the assumption
    system about every pair of arguments: the main cost of naive sympy use)."""

    def build(a: Expr, b: Expr) -> Expr:
        a, b = sympy.sympify(a), sympy.sympify(b)
        if a.is_Number and b.is_Number:
            return fold(a, b)
        return op(a, b, evaluate=False)

    return build


def _max_fold(a: Expr, b: Expr) -> Expr:
    return a if a >= b else b


def _min_fold(a: Expr, b: Expr) -> Expr:
    return a if a <= b else b


def _rel_fold(pyop: Expr) -> Expr:
    return lambda a, b: sympy.true if pyop(a, b) else sympy.false


def _same_or(build: Expr, same: Expr) -> Expr:
    return lambda a, b: same(a) if a == b else build(a, b)


Max2 = _same_or(_fold_or(sympy.Max, _max_fold), lambda a: a)
Min2 = _same_or(_fold_or(sympy.Min, _min_fold), lambda a: a)
Eq2 = _same_or(_fold_or(sympy.Eq, _rel_fold(lambda a, b: a == b)), lambda a: sympy.true)
Ne2 = _same_or(_fold_or(sympy.Ne, _rel_fold(lambda a, b: a != b)), lambda a: sympy.false)
Lt2 = _same_or(_fold_or(sympy.Lt, _rel_fold(lambda a, b: a < b)), lambda a: sympy.false)
Le2 = _same_or(_fold_or(sympy.Le, _rel_fold(lambda a, b: a <= b)), lambda a: sympy.true)
Gt2 = _same_or(_fold_or(sympy.Gt, _rel_fold(lambda a, b: a > b)), lambda a: sympy.false)
Ge2 = _same_or(_fold_or(sympy.Ge, _rel_fold(lambda a, b: a >= b)), lambda a: sympy.true)


_REBUILD: dict[Expr, Expr] = {
    sympy.Eq: Eq2, sympy.Ne: Ne2, sympy.Lt: Lt2, sympy.Le: Le2, sympy.Gt: Gt2, sympy.Ge: Ge2,
}  # fmt: skip


def rebuild(e: Expr, args: Sequence[Expr]) -> Expr:
    """``e.func(*args)``, but relationals and two-argument Max/Min are built without
    sympy's assumption-driven evaluation (numbers still fold): rewriting deep inside a
    condition must not cost a trip through ``is_eq`` for every enclosing relational."""
    build = _REBUILD.get(type(e))
    if build is not None:
        return build(*args)
    if len(args) == 2 and type(e) is sympy.Max:
        return Max2(*args)
    if len(args) == 2 and type(e) is sympy.Min:
        return Min2(*args)
    return e.func(*args)


def substitute(expr: Expr, mapping: Mapping[Expr, Expr]) -> Expr:
    """``expr.xreplace(mapping)``, rebuilding through ``rebuild``."""
    memo: dict[Expr, Expr] = {}

    def walk(e: Expr) -> Expr:
        found = mapping.get(e)
        if found is not None:
            return found
        if e.is_Atom:
            return e
        done = memo.get(e)
        if done is None:
            args = [walk(a) for a in e.args]
            done = memo[e] = e if all(a is b for a, b in zip(args, e.args)) else rebuild(e, args)
        return done

    return walk(expr)


# The rewriting-relevant function classes each expression contains: a pure function
# of the (interned) expression, kept for the process (bounded).
_KINDS: dict[Expr, frozenset[Expr]] = {}
_NONE: frozenset[Expr] = frozenset()


def kinds(expr: Expr) -> frozenset[Expr]:
    """Which of Max, Min, FloorDiv and PyMod occur in ``expr`` (sympy's ``has`` is slow)."""
    if expr.is_Atom:
        return _NONE
    found = _KINDS.get(expr)
    if found is None:
        found = frozenset().union(*(kinds(a) for a in expr.args))
        if type(expr) in _KIND_TYPES:
            found = found | {type(expr)}
        if len(_KINDS) > 200_000:
            _KINDS.clear()
        _KINDS[expr] = found
    return found


_SYMBOLS: dict[Expr, frozenset[Expr]] = {}


def symbols_in(expr: Expr) -> frozenset[Expr]:
    """``expr.free_symbols``, kept per (interned) expression: sympy recomputes it on
    every access, which costs most on the large expressions that are asked most."""
    found = _SYMBOLS.get(expr)
    if found is None:
        if len(_SYMBOLS) > 200_000:
            _SYMBOLS.clear()
        found = _SYMBOLS[expr] = frozenset(expr.free_symbols)
    return found


def is_bool_expr(expr: Expr) -> bool:
    """True for sympy booleans, relationals included (sympy's ``is_Boolean`` misses those)."""
    if expr.is_Symbol:  # sympy makes every Symbol a Boolean too; ours are numbers
        return False
    return bool(expr.is_Boolean) or isinstance(expr, sympy.logic.boolalg.Boolean)


_KIND_TYPES = frozenset({sympy.Max, sympy.Min, FloorDiv, PyMod})


def ceil_div(a: Expr, b: Expr) -> Expr:
    """Python's ``-(-a // b)``."""
    return -FloorDiv(-a, b)
