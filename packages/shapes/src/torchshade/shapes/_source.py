"""Python source for shape expressions, over the inputs' sources.

``python_source(Eq(Mod(s0, 2), 0), {s0: "x.size()[0]"})`` is
``"x.size()[0] % 2 == 0"``: plain Python that evaluates on real inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import sympy

from ._expr import (
    Expr,
    BitwiseAnd,
    BitwiseOr,
    BitwiseXor,
    CeilToInt,
    FloatPow,
    FloorDiv,
    FloorToInt,
    IntTrueDiv,
    PowByNatural,
    PyMod,
    RoundDecimal,
    RoundToInt,
    ToFloat,
    TruncToInt,
)
from ._ranges import RELATIONAL_OPS


class _Printer:
    def __init__(self, names: Mapping[Expr, str]) -> None:
        self.names = names

    def p(self, e: Expr) -> str:
        if e.is_Symbol:
            return self.names.get(e, e.name)
        if e is sympy.true or e is sympy.false:
            return "True" if e is sympy.true else "False"
        if e.is_Integer:
            return str(int(e))
        if e.is_Rational:
            return f"({e.p} / {e.q})"
        if e.is_Float:
            return repr(float(e))
        if type(e) in RELATIONAL_OPS:
            return f"{self.p(e.args[0])} {RELATIONAL_OPS[type(e)]} {self.p(e.args[1])}"
        handler = _HANDLERS.get(type(e))
        if handler is None:
            raise NotImplementedError(f"no Python source for {type(e).__name__}: {e}")
        return handler(self, e)

    def wrapped(self, e: Expr) -> str:
        text = self.p(e)
        return text if (e.is_Atom and not (e.is_Number and e < 0)) else f"({text})"


def _add(pr: _Printer, e: Expr) -> str:
    terms = sorted(e.args, key=lambda t: t.is_Number)
    out = pr.p(terms[0])
    for t in terms[1:]:
        if t.could_extract_minus_sign():
            out += f" - ({pr.p(-t)})" if (-t).is_Add else f" - {pr.p(-t)}"
        else:
            out += f" + {pr.p(t)}"
    return out


def _mul(pr: _Printer, e: Expr) -> str:
    coeff, rest = e.as_coeff_Mul()
    if coeff == -1:
        return f"-{pr.wrapped(rest)}"
    return " * ".join(pr.wrapped(a) for a in e.args)


def _pow(pr: _Printer, e: Expr) -> str:
    return f"{pr.wrapped(e.args[0])} ** {pr.wrapped(e.args[1])}"


def _call(name: str) -> Callable[[_Printer, Expr], str]:
    return lambda pr, e: f"{name}({', '.join(pr.p(a) for a in e.args)})"


def _binary(op: str) -> Callable[[_Printer, Expr], str]:
    return lambda pr, e: f"{pr.wrapped(e.args[0])} {op} {pr.wrapped(e.args[1])}"


def _joined(op: str) -> Callable[[_Printer, Expr], str]:
    return lambda pr, e: f" {op} ".join(f"({pr.p(a)})" for a in e.args)


def _piecewise(pr: _Printer, e: Expr) -> str:
    (then, cond), (other, _) = e.args
    return f"({pr.p(then)} if {pr.p(cond)} else {pr.p(other)})"


_HANDLERS: dict[Expr, Callable[[_Printer, Expr], str]] = {
    sympy.Add: _add,
    sympy.Mul: _mul,
    sympy.Pow: _pow,
    PowByNatural: _pow,
    FloatPow: _pow,
    FloorDiv: _binary("//"),
    PyMod: _binary("%"),
    BitwiseAnd: _binary("&"),
    BitwiseOr: _binary("|"),
    BitwiseXor: _binary("^"),
    IntTrueDiv: _binary("/"),
    ToFloat: _call("float"),
    TruncToInt: _call("math.trunc"),
    FloorToInt: _call("math.floor"),
    CeilToInt: _call("math.ceil"),
    RoundToInt: _call("round"),
    RoundDecimal: _call("round"),
    sympy.Max: _call("max"),
    sympy.Min: _call("min"),
    sympy.Abs: _call("abs"),
    sympy.And: _joined("and"),
    sympy.Or: _joined("or"),
    sympy.Not: lambda pr, e: f"not ({pr.p(e.args[0])})",
    sympy.Piecewise: _piecewise,
}


def python_source(expr: Expr, names: Mapping[Expr, str]) -> str:
    """Python source of ``expr`` with each symbol written as its source in ``names``."""
    return _Printer(names).p(expr)
