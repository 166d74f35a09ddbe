"""Sympy expressions of sizes -> FX nodes of ``operator.*`` / ``math.*`` / ``torch.sym_*``.

Most SymInt arithmetic reaches the graph as it happens, through shapes'
``sym_op_tracing``. Some symbolic values come with no recorded history (a
size computed inside a kernel, a SymInt handed out by the fake dispatch
cache, a runtime assert): the tracer then writes their expression as nodes
over the nodes of its symbols. ``SymExprBuilder`` does that, one sympy class
at a time; its handlers are keyed by class name so that trace needs none of
shapes' private modules.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any, NoReturn

import sympy
import torch

from ._errors import ForeignSymbolError

Value = object  # an fx.Node, or a Python number
Emit = Callable[[Callable[..., object], tuple[Value, ...], Any], Value]
Lookup = Callable[[Any], "Value | None"]
Remember = Callable[[Any, Value], None]

_RELATIONAL: dict[str, Callable[..., object]] = {
    "Equality": operator.eq, "Eq2": operator.eq,
    "Unequality": operator.ne, "Ne2": operator.ne,
    "StrictLessThan": operator.lt, "Lt2": operator.lt,
    "LessThan": operator.le, "Le2": operator.le,
    "StrictGreaterThan": operator.gt, "Gt2": operator.gt,
    "GreaterThan": operator.ge, "Ge2": operator.ge,
}  # fmt: skip
_FOLDED: dict[str, Callable[..., object]] = {
    "And": operator.and_,
    "Or": operator.or_,
    "Max": torch.sym_max,
    "Min": torch.sym_min,
    "Max2": torch.sym_max,
    "Min2": torch.sym_min,
}
_BINARY: dict[str, Callable[..., object]] = {
    "FloorDiv": operator.floordiv,
    "PyMod": operator.mod,
    "Mod": operator.mod,
    "IntTrueDiv": operator.truediv,
    "PowByNatural": operator.pow,
    "FloatPow": operator.pow,
    "BitwiseAnd": operator.and_,
    "BitwiseOr": operator.or_,
    "BitwiseXor": operator.xor,
}
_UNARY: dict[str, Callable[..., object]] = {
    "Not": torch.sym_not,
    "CeilToInt": math.ceil,
    "FloorToInt": math.floor,
    "TruncToInt": math.trunc,
    "RoundToInt": round,
    "ToFloat": torch.sym_float,
    "Abs": operator.abs,
}


class SymExprBuilder:
    """Writes sympy expressions as FX nodes, reusing a node per subexpression.

    ``emit(target, args, expr)`` makes one ``call_function`` node whose value
    is ``expr``; ``lookup(expr)`` gives the node already computing ``expr``
    (a symbol's own node, or an earlier result), or None; ``remember(expr,
    node)`` records a new one.
    """

    def __init__(self, emit: Emit, lookup: Lookup, remember: Remember) -> None:
        self.emit = emit
        self.lookup = lookup
        self.remember = remember

    def build(self, expr: Any) -> Value:
        found = self.lookup(expr)
        if found is None:
            found = self._build(expr)
            self.remember(expr, found)
        return found

    def _build(self, e: Any) -> Value:
        if e is sympy.true or e is sympy.false:
            return e is sympy.true
        if e.is_Integer:
            return int(e)
        if e.is_Number:
            return float(e)
        if e.is_Symbol:
            return self.foreign(e)
        name = type(e).__name__
        args = [self.build(a) for a in e.args]
        if name in _RELATIONAL:
            return self.emit(_RELATIONAL[name], (args[0], args[1]), e)
        if name in _BINARY:
            return self.emit(_BINARY[name], (args[0], args[1]), e)
        if name in _UNARY:
            return self.emit(_UNARY[name], (args[0],), e)
        if name == "Add":
            return self._fold(operator.add, e)
        if name == "Mul":
            return self._fold(operator.mul, e)
        if name in _FOLDED:
            return self._fold(_FOLDED[name], e)
        if name == "Pow" and e.args[1].is_Integer and e.args[1] > 0:
            return self.emit(operator.pow, (args[0], args[1]), e)
        if name == "Piecewise" and len(e.args) == 2:
            (then, cond), (other, _) = e.args
            return self.emit(torch.sym_ite, (self.build(cond), self.build(then), self.build(other)), e)
        raise NotImplementedError(f"torchshade.trace: cannot write {name} ({e}) as graph nodes")

    def _fold(self, target: Callable[..., object], e: Any) -> Value:
        """Left fold of an n-ary sympy node into binary nodes, numbers last."""
        terms = sorted(e.args, key=lambda t: bool(t.is_Number))
        value = self.build(terms[0])
        for i in range(1, len(terms)):
            partial = e if i == len(terms) - 1 else e.func(*terms[: i + 1])
            value = self.emit(target, (value, self.build(terms[i])), partial)
        return value

    def foreign(self, expr: Any) -> NoReturn:
        """A symbol with no node in this trace: it belongs to another ShapeEnv."""
        raise ForeignSymbolError(
            f"make_fx: the symbolic value {expr} does not come from this trace's "
            "inputs or ops (it belongs to another ShapeEnv: another trace or fake "
            "mode). Make every fake input with one FakeTensorMode, or pass real "
            "tensors and let make_fx convert them."
        )
