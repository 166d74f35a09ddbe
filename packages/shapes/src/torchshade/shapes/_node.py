"""SymNode: the Python object behind ``torch.SymInt`` / ``SymFloat`` / ``SymBool``.

torch's C++ calls 56 methods on it by name (``python_symnode.h``) and torch's
Python magic methods (installed on ``torch.SymInt`` at import) call the same
ones plus ``is_constant``.  A node holds:

    expr        the sympy expression (s0*s1, Eq(u0, 1), ...)
    hint        the example value as a plain Python number (None if unbacked)
    pytype      int, float or bool
    constant    the value for wrapped literals (``wrap_int(3)``), else None
    shape_env   the ShapeEnv that decides on it
    fx_node     set by a tracer; None otherwise

Hints are computed alongside expressions with Python's own operators, so no
sympy substitution is ever needed to know a value.  Expressions for each
(op, operands) are kept process-wide, keyed by the interned sympy objects.

A node is a value: nothing changes it once made (``_int`` is a memo of what
the knowledge says of it, kept with the knowledge version it holds for). So
an env hands out the same node again for the same operation on the same
operand nodes (``env.nodes``, keyed by op and operand identities; an entry
keeps its operands alive), and the same node for a literal it wrapped
before. C++ repeats the same arithmetic on the same size nodes for every
tensor it builds from a cached output spec, and a repeat then costs one
lookup instead of a new node.  ``sym_min``/``sym_max`` simplify by what is
known, so theirs are kept with the knowledge version they hold for.  While
a tracer records SymNode operations (``_tracing.py``) every operation makes
and reports a new node, and nothing is kept.
"""

from __future__ import annotations

import builtins
import math
import operator
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import sympy

from ._expr import (
    Expr,
    BitwiseAnd,
    BitwiseOr,
    BitwiseXor,
    CeilToInt,
    Eq2,
    Ge2,
    Gt2,
    Le2,
    Lt2,
    Max2,
    Min2,
    Ne2,
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
from . import _tracing
from ._sizes_strides import SIZES_STRIDES

if TYPE_CHECKING:
    from ._reasoner import Reasoner

Hint = int | float | bool | None
_LITERAL: dict[type, Callable[[Expr], Expr]] = {
    int: sympy.Integer,
    float: sympy.Float,
    bool: lambda v: sympy.true if v else sympy.false,
}


_SMALL_INTS: dict[int, Expr] = {i: sympy.Integer(i) for i in range(-8, 1025)}

# The expression built for (op, *operands), shared by every ShapeEnv: building is a
# pure function of the operands (symbols carry their assumptions), and a new env
# for each trace would otherwise build them all again through sympy.
_EXPRS: dict[tuple[object, ...], Expr] = {}
_MAX_EXPRS = 500_000


# The same for two-operand ops, keyed by the operands' identities: a lookup hashes no
# sympy expression (sympy's __hash__ is Python code). An entry keeps its operands
# alive, so their ids cannot be reused while it exists.
_BINARY: dict[tuple[str, int, int], tuple[Expr, Expr, Expr]] = {}


def _build_once(key: tuple[object, ...], build: Callable[..., Expr], *operands: Expr) -> Expr:
    if len(_EXPRS) >= _MAX_EXPRS:
        _EXPRS.clear()
    expr = _EXPRS[key] = build(*operands)
    return expr


def _binary_expr(op: str, build: Callable[[Expr, Expr], Expr], a: Expr, b: Expr) -> Expr:
    """``build(a, b)``, from the structural table when equal operands were seen."""
    key = (op, a, b)
    expr = _EXPRS.get(key)
    if expr is None:
        expr = _build_once(key, build, a, b)
    if len(_BINARY) >= _MAX_EXPRS:
        _BINARY.clear()
    _BINARY[(op, id(a), id(b))] = (a, b, expr)
    return expr


class NodeMemo(dict[object, Any]):
    """An env's nodes by operation (see the module docstring).

    Keys hold operand ids, which mean nothing in another process or for the
    copies ``copy.deepcopy`` makes: a copied env starts with an empty memo.
    """

    def __deepcopy__(self, memo: dict[int, object]) -> NodeMemo:
        return type(self)()

    def __reduce__(self) -> tuple[type[NodeMemo], tuple[()]]:
        return (type(self), ())


class KeepNothing(NodeMemo):
    """The memo of an env made with ``reuse_answers=False``: every operation makes a new node."""

    def __setitem__(self, key: object, value: Any) -> None:
        pass


class SymNode:
    """One symbolic int/float/bool value; see the module docstring."""

    __slots__ = ("expr", "shape_env", "pytype", "_hint", "constant", "fx_node", "_int_at", "_int")

    def __init__(self, expr: Expr, shape_env: Reasoner, pytype: type, hint: Hint,
                 constant: int | float | bool | None = None) -> None:  # fmt: skip
        self.expr = expr
        self.shape_env = shape_env
        self.pytype = pytype
        self._hint = hint
        self.constant = constant
        self.fx_node: object = None
        # maybe_as_int's answer (_int) and the knowledge version it holds for (_int_at).
        self._int_at = -1
        self._int: int | None = None

    if TYPE_CHECKING:  # installed from _OPS below; declared here for type checkers

        def add(self, other: SymNode) -> SymNode: ...
        def sub(self, other: SymNode) -> SymNode: ...
        def mul(self, other: SymNode) -> SymNode: ...
        def mod(self, other: SymNode) -> SymNode: ...
        def floordiv(self, other: SymNode) -> SymNode: ...
        def int_floordiv(self, other: SymNode) -> SymNode: ...
        def truediv(self, other: SymNode) -> SymNode: ...
        def int_truediv(self, other: SymNode) -> SymNode: ...
        def float_truediv(self, other: SymNode) -> SymNode: ...
        def pow(self, other: SymNode) -> SymNode: ...
        def pow_by_natural(self, other: SymNode) -> SymNode: ...
        def float_pow(self, other: SymNode) -> SymNode: ...
        def eq(self, other: SymNode) -> SymNode: ...
        def ne(self, other: SymNode) -> SymNode: ...
        def lt(self, other: SymNode) -> SymNode: ...
        def le(self, other: SymNode) -> SymNode: ...
        def gt(self, other: SymNode) -> SymNode: ...
        def ge(self, other: SymNode) -> SymNode: ...
        def sym_min(self, other: SymNode) -> SymNode: ...
        def sym_max(self, other: SymNode) -> SymNode: ...
        def sym_and(self, other: SymNode) -> SymNode: ...
        def sym_or(self, other: SymNode) -> SymNode: ...
        def and_(self, other: SymNode) -> SymNode: ...
        def or_(self, other: SymNode) -> SymNode: ...
        def sym_not(self) -> SymNode: ...
        def neg(self) -> SymNode: ...
        def pos(self) -> SymNode: ...
        def abs(self) -> SymNode: ...
        def ceil(self) -> SymNode: ...
        def floor(self) -> SymNode: ...
        def trunc(self) -> SymNode: ...
        def sym_int(self) -> SymNode: ...
        def sym_float(self) -> SymNode: ...
        def is_integer(self) -> SymNode: ...

    @property
    def hint(self) -> Hint:
        return self._hint

    # -- type queries: C++ compares the result with the True singleton ------
    def is_int(self) -> bool:
        return self.pytype is int

    def is_float(self) -> bool:
        return self.pytype is float

    def is_bool(self) -> bool:
        return self.pytype is bool

    def is_nested_int(self) -> bool:
        return False

    def nested_int(self) -> None:
        return None

    def has_hint(self) -> bool:
        return self._hint is not None

    def is_constant(self) -> bool:
        return self.constant is not None

    def is_symbolic(self) -> bool:
        return True

    # -- wrapping Python literals ------------------------------------------------
    def _wrap(self, value: int | float | bool, pytype: type) -> SymNode:
        expr = _LITERAL[pytype](value)
        return SymNode(expr, self.shape_env, pytype, value, value)

    def wrap_int(self, num: int) -> SymNode:
        # C++ wraps a literal for most arithmetic it does on a SymInt: the env's node for it.
        value = int(num)
        env = self.shape_env
        nodes = env.nodes
        found: SymNode | None = nodes.get(value)  # an int key: only wrapped ints are keyed so
        if found is not None and not _tracing.ACTIVE:
            return found
        expr = _SMALL_INTS.get(value)
        if expr is None:
            expr = sympy.Integer(value)
        node = SymNode(expr, env, int, value, value)
        if not _tracing.ACTIVE:
            _keep(nodes, value, node)
        return node

    def wrap_float(self, num: float) -> SymNode:
        return self._wrap(float(num), float)

    def wrap_bool(self, num: bool) -> SymNode:
        return self._wrap(bool(num), bool)

    def clone(self) -> SymNode:
        return self

    def with_shape_env(self, shape_env: Reasoner) -> SymNode:
        return SymNode(self.expr, shape_env, self.pytype, self._hint, self.constant)

    # -- text --------------------------------------------------------------------
    def str(self) -> builtins.str:
        return builtins.str(self.expr)

    def _graph_repr(self) -> builtins.str:
        return builtins.str(self.expr)

    def __str__(self) -> builtins.str:
        return builtins.str(self.expr)

    def __repr__(self) -> builtins.str:
        return f"SymNode({self.expr}, hint={self._hint})"

    # -- making new nodes ----------------------------------------------------------
    def _make(self, op: builtins.str, others: Sequence[SymNode], build: Callable[..., Expr],
              hint_fn: Callable[..., Expr], pytype: type) -> SymNode:  # fmt: skip
        env = self.shape_env
        key = (op, self.expr, *(o.expr for o in others))
        expr = _EXPRS.get(key)
        if expr is None:
            expr = _build_once(key, build, self.expr, *(o.expr for o in others))
        hints = (self._hint, *(o._hint for o in others))
        hint = None if None in hints else hint_fn(*hints)
        out = SymNode(expr, env, pytype, hint)
        if _tracing.ACTIVE:  # the one point a tracer records SymNode operations (_tracing.py)
            _tracing.record(op, (self, *others), out)
        return out

    def maybe_as_int(self) -> int | None:
        # C++ asks this of every SymInt it builds or computes with (30-odd times for
        # one symbolic empty_strided), so the knowledge's memo is read inline.
        if self.constant is not None:
            return int(self.constant)
        expr = self.expr
        if expr.is_Integer:
            return int(expr)
        knowledge = self.shape_env.knowledge
        if self._int_at == knowledge.version:  # asked before, nothing learned since
            return self._int
        found = knowledge.simplified_memo(expr)
        if found is None:
            found = knowledge.simplify(expr)
        value = int(found) if found.is_Integer else None
        self._int_at, self._int = knowledge.version, value
        return value

    # -- decisions --------------------------------------------------------------------
    def guard_bool(self, file: builtins.str = "", line: int = 0) -> bool:
        if self.constant is not None:
            return bool(self.constant)
        return bool(self.shape_env.decide(self.expr, self._hint))

    def bool_(self) -> bool:
        return self.guard_bool()

    def guard_int(self, file: builtins.str = "", line: int = 0) -> int:
        if self.constant is not None:
            return int(self.constant)
        return int(self.shape_env.decide(self.expr, self._hint))

    def int_(self) -> int:
        return self.guard_int()

    def guard_float(self, file: builtins.str = "", line: int = 0) -> float:
        if self.constant is not None:
            return float(self.constant)
        return float(self.shape_env.decide(self.expr, self._hint))

    def expect_true(self, file: builtins.str = "", line: int = 0) -> bool:
        if self.constant is not None:
            return bool(self.constant)
        return self.shape_env.expect_true(self.expr, self._hint)

    def expect_size(self, file: builtins.str = "", line: int = 0) -> bool:
        return bool(self.ge(self.wrap_int(0)).expect_true(file, line))

    def guard_size_oblivious(self, file: builtins.str = "", line: int = 0) -> bool:
        if self.constant is not None:
            return bool(self.constant)
        return bool(self.shape_env.decide_size_oblivious(self.expr, self._hint))

    def guard_or_false(self, file: builtins.str = "", line: int = 0) -> bool:
        if self.constant is not None:
            return bool(self.constant)
        return bool(self.shape_env.decide(self.expr, self._hint, fallback=False))

    def guard_or_true(self, file: builtins.str = "", line: int = 0) -> bool:
        if self.constant is not None:
            return bool(self.constant)
        return bool(self.shape_env.decide(self.expr, self._hint, fallback=True))

    def statically_known_true(self, file: builtins.str = "", line: int = 0) -> bool:
        if self.constant is not None:
            return bool(self.constant)
        return self.shape_env.knowledge.evaluate_static(self.expr) is sympy.true

    def round(self, ndigits: int | None = None) -> SymNode:
        """Python's ``round``: an int without ``ndigits``, else a float."""
        if ndigits is None:
            return self._make("round", (), RoundToInt, builtins.round, int)
        digits = self.wrap_int(ndigits)
        return self._make("round_decimal", (digits,), RoundDecimal, builtins.round, float)

    def sym_sum(self, args: Sequence[SymNode]) -> SymNode:
        pytype = int if all(a.pytype is int for a in args) else float
        hints = [a._hint for a in args]
        hint = None if None in hints else sum(h for h in hints if h is not None)
        out = SymNode(sympy.Add(*(a.expr for a in args)), self.shape_env, pytype, hint)
        if _tracing.ACTIVE:
            _tracing.record("sym_sum", tuple(args), out)
        return out

    def sym_ite(self, then_node: SymNode, else_node: SymNode) -> SymNode:
        def build(c: Expr, t: Expr, f: Expr) -> Expr:
            return sympy.Piecewise((t, c), (f, True))

        return self._make("ite", (then_node, else_node), build, lambda c, t, f: t if c else f, then_node.pytype)


_MAX_NODES = 200_000


def _keep(nodes: NodeMemo, key: object, value: object) -> None:
    """Keep ``value`` in an env's ``nodes`` (emptied when it grows past ``_MAX_NODES``)."""
    if len(nodes) >= _MAX_NODES:
        nodes.clear()
    nodes[key] = value


def _binary(op: builtins.str, build: Callable[[Expr, Expr], Expr], hint_fn: Callable[[Expr, Expr], Expr],
            pytype: type | None = None, simplify: bool = False) -> Callable[[SymNode, SymNode], SymNode]:  # fmt: skip
    def method(self: SymNode, other: SymNode) -> SymNode:
        # _make, unrolled for two operands: the hottest path of symbolic tracing.
        env = self.shape_env
        nodes = env.nodes
        key = (op, id(self), id(other))
        kept = nodes.get(key)
        # min/max simplify by what is known now: theirs hold for one knowledge version.
        version = env.knowledge.version if simplify else 0
        if kept is not None and kept[2] == version and not _tracing.ACTIVE:
            node: SymNode = kept[3]
            return node
        out = pytype or (float if float is self.pytype or float is other.pytype else self.pytype)
        found = _BINARY.get((op, id(self.expr), id(other.expr)))
        expr = found[2] if found is not None else _binary_expr(op, build, self.expr, other.expr)
        if simplify:  # min/max: drop an argument the ranges dominate (Max(1, s0) -> s0); not
            expr = env.knowledge.simplify(expr)  # cached above: it depends on what is known now
        a, b = self._hint, other._hint
        node = SymNode(expr, env, out, None if a is None or b is None else hint_fn(a, b))
        if _tracing.ACTIVE:  # the one point a tracer records SymNode operations (_tracing.py)
            _tracing.record(op, (self, other), node)
        else:  # the entry keeps both operands alive: their ids stay theirs
            _keep(nodes, key, (self, other, version, node))
        return node

    method.__name__ = op
    return method


def _unary(op: builtins.str, build: Callable[[Expr], Expr], hint_fn: Callable[[Expr], Expr],
           pytype: type | None = None) -> Callable[[SymNode], SymNode]:  # fmt: skip
    def method(self: SymNode) -> SymNode:
        return self._make(op, (), build, hint_fn, pytype or self.pytype)

    method.__name__ = op
    return method


def _float_expr(e: Expr) -> Expr:
    return ToFloat(e) if e.is_integer else e


def _floordiv(a: Expr, b: Expr) -> Expr:
    """Python's ``//``: ints stay ints; with a float it is ``float(floor(a / b))``."""
    if a.is_integer and b.is_integer:
        return FloorDiv(a, b)
    return ToFloat(FloorToInt(_float_expr(a) / _float_expr(b)))


def _truediv(a: Expr, b: Expr) -> Expr:
    if a.is_integer and b.is_integer:
        return IntTrueDiv(a, b)
    return _float_expr(a) / _float_expr(b)


def _pow(a: Expr, b: Expr) -> Expr:
    if a.is_integer and b.is_integer:
        return PowByNatural(a, b)
    return FloatPow(_float_expr(a), _float_expr(b))


_OPS: dict[builtins.str, Callable[..., SymNode]] = {
    "add": _binary("add", operator.add, operator.add),
    "sub": _binary("sub", operator.sub, operator.sub),
    "mul": _binary("mul", operator.mul, operator.mul),
    "mod": _binary("mod", PyMod, operator.mod),
    "floordiv": _binary("floordiv", _floordiv, operator.floordiv),
    "int_floordiv": _binary("int_floordiv", FloorDiv, operator.floordiv, int),
    "truediv": _binary("truediv", _truediv, operator.truediv, float),
    "int_truediv": _binary("int_truediv", IntTrueDiv, operator.truediv, float),
    "float_truediv": _binary("float_truediv", lambda a, b: _float_expr(a) / _float_expr(b),
                             operator.truediv, float),
    "pow": _binary("pow", _pow, operator.pow),
    "pow_by_natural": _binary("pow_by_natural", PowByNatural, operator.pow, int),
    "float_pow": _binary("float_pow", FloatPow, lambda a, b: float(a) ** float(b), float),
    "eq": _binary("eq", Eq2, operator.eq, bool),
    "ne": _binary("ne", Ne2, operator.ne, bool),
    "lt": _binary("lt", Lt2, operator.lt, bool),
    "le": _binary("le", Le2, operator.le, bool),
    "gt": _binary("gt", Gt2, operator.gt, bool),
    "ge": _binary("ge", Ge2, operator.ge, bool),
    "sym_min": _binary("sym_min", Min2, min, simplify=True),
    "sym_max": _binary("sym_max", Max2, max, simplify=True),
    "sym_and": _binary("sym_and", sympy.And, operator.and_, bool),
    "sym_or": _binary("sym_or", sympy.Or, operator.or_, bool),
    "and_": _binary("and_", sympy.And, operator.and_, bool),
    "or_": _binary("or_", sympy.Or, operator.or_, bool),
    "bitwise_and": _binary("bitwise_and", BitwiseAnd, operator.and_, int),
    "bitwise_or": _binary("bitwise_or", BitwiseOr, operator.or_, int),
    "bitwise_xor": _binary("bitwise_xor", BitwiseXor, operator.xor, int),
    "sym_not": _unary("sym_not", sympy.Not, operator.not_, bool),
    "neg": _unary("neg", operator.neg, operator.neg),
    "pos": _unary("pos", lambda a: a, lambda a: a),
    "abs": _unary("abs", sympy.Abs, abs),
    "ceil": _unary("ceil", CeilToInt, math.ceil, int),
    "floor": _unary("floor", FloorToInt, math.floor, int),
    "trunc": _unary("trunc", TruncToInt, math.trunc, int),
    "sym_int": _unary("sym_int", TruncToInt, math.trunc, int),
    "sym_float": _unary("sym_float", _float_expr, float, float),
    "is_integer": _unary("is_integer", lambda a: sympy.Eq(FloorToInt(a), a),
                         lambda a: float(a).is_integer(), bool),
}

for _name, _fn in (("sqrt", math.sqrt), ("cos", math.cos), ("cosh", math.cosh), ("sin", math.sin),
                   ("sinh", math.sinh), ("tan", math.tan), ("tanh", math.tanh), ("asin", math.asin),
                   ("acos", math.acos), ("atan", math.atan), ("log2", math.log2)):  # fmt: skip
    _sym = getattr(sympy, _name, None) or (lambda a: sympy.log(a, 2))
    _OPS[f"sym_{_name}"] = _unary(f"sym_{_name}", _sym, _fn, float)

for _name, _method in _OPS.items():
    setattr(SymNode, _name, _method)

for _name, _sympy_fn in SIZES_STRIDES.items():

    def _sizes_strides(self: SymNode, sizes: Sequence[SymNode], strides: Sequence[SymNode],
                       _f: Callable[..., Expr] = _sympy_fn) -> SymNode:  # fmt: skip
        expr = _f([s.expr for s in sizes], [s.expr for s in strides])
        env = self.shape_env
        hints = [s._hint for s in (*sizes, *strides)]
        hint = None if None in hints else bool(env.hint_of(expr)) if expr.free_symbols else bool(expr)
        return SymNode(expr, env, bool, hint)

    setattr(SymNode, _name, _sizes_strides)
