"""Property tests: symbolic evaluation agrees with Python, guards mean what they say.

Random integer expressions are generated as trees over 2-4 symbols (``+ - *
// %``, min, max, ceil division, ``**`` with exponents 0-3, ``/``) and built
through the ``torch.SymInt`` operators on symbols with random hints >= 2.
The properties:

* expressions: the SymInt's hint, and its sympy expression with the hints (or
  any other values) substituted, equal Python's own evaluation of the tree;
  also after decisions taught the env replacements and divisibility, wherever
  the guards hold;
* guards: after a few decisions (``bool(a < b)``, ``bool(a % 2 == 0)``), the
  guards accept exactly the inputs on which every decision comes out the same;
* torch's ShapeEnv as the oracle for the static questions both answer: our
  static answers and value ranges are sound, what torch knows without a guard
  we know too, and our ranges are no looser than torch's.

``TORCHSHADE_PROPERTY_EXAMPLES=2000`` runs a deeper search (default 200 each).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
import sympy
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from torchshade.shapes import DimDynamic, ShapeEnv

# No example database: it would write a .hypothesis folder wherever pytest runs.
PROPERTY = settings(
    max_examples=int(os.environ.get("TORCHSHADE_PROPERTY_EXAMPLES", "300")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
# Comparisons of strength with torch: derandomized, so that a gap found is
# found again on every run (and its shrunk example is the same one).
AGAINST_TORCH = settings(PROPERTY, derandomize=True)
NAMES = ("a", "b", "c", "d")  # each symbol's source, by position
INT_OPS = ("add", "sub", "mul", "floordiv", "mod", "min", "max", "ceildiv")
# Drawn more often: the operators whose Python semantics differ from C's and
# sympy's on negative operands, and the subtraction that makes those.
OP_WEIGHTS = INT_OPS + ("sub", "floordiv", "mod", "ceildiv")
COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "<": lambda x, y: x < y,
    "<=": lambda x, y: x <= y,
    ">": lambda x, y: x > y,
    ">=": lambda x, y: x >= y,
    "==": lambda x, y: x == y,
    "!=": lambda x, y: x != y,
}


# --------------------------------------------------------------------------
# Expression trees
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Tree:
    """An integer expression; ``repr`` is the Python source (``(a // (b - 2))``)."""

    op: str  # "sym", "const", "neg", "pow", "truediv" or one of INT_OPS
    args: tuple[Tree | int, ...]

    def __repr__(self) -> str:
        if self.op == "sym":
            return NAMES[self._int(0)]
        if self.op == "const":
            return str(self._int(0))
        if self.op == "neg":
            return f"(-{self._tree(0)!r})"
        if self.op == "pow":
            return f"({self._tree(0)!r} ** {self._int(1)})"
        infix = {"add": "+", "sub": "-", "mul": "*", "floordiv": "//", "mod": "%", "truediv": "/"}
        left, right = self._tree(0), self._tree(1)
        if self.op in infix:
            return f"({left!r} {infix[self.op]} {right!r})"
        if self.op == "ceildiv":
            return f"(-(-{left!r} // {right!r}))"
        return f"{self.op}({left!r}, {right!r})"

    def _int(self, i: int) -> int:
        arg = self.args[i]
        assert isinstance(arg, int)
        return arg

    def _tree(self, i: int) -> Tree:
        arg = self.args[i]
        assert isinstance(arg, Tree)
        return arg


# The evaluator is duck-typed: the same code runs on Python ints and on SymInts
# (and SymFloats after a true division), so its values are ``Any``.
def evaluate(tree: Tree, leaves: Sequence[Any]) -> Any:
    """Evaluate ``tree`` with ``leaves[i]`` for symbol i, with Python's operators."""
    if tree.op == "sym":
        return leaves[tree._int(0)]
    if tree.op == "const":
        return tree._int(0)
    if tree.op == "neg":
        return -evaluate(tree._tree(0), leaves)
    if tree.op == "pow":
        return evaluate(tree._tree(0), leaves) ** tree._int(1)
    x, y = evaluate(tree._tree(0), leaves), evaluate(tree._tree(1), leaves)
    return BINARY[tree.op](x, y)


BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "floordiv": lambda x, y: x // y,
    "mod": lambda x, y: x % y,
    "min": torch.sym_min,  # builtins.min on two ints
    "max": torch.sym_max,
    "ceildiv": lambda x, y: -(-x // y),
    "truediv": lambda x, y: x / y,
}


def int_trees(n: int, max_leaves: int = 7) -> st.SearchStrategy[Tree]:
    """Integer expressions over symbols 0..n-1 and small constants."""
    leaf = st.one_of(
        st.integers(0, n - 1).map(lambda i: Tree("sym", (i,))),
        st.integers(0, n - 1).map(lambda i: Tree("sym", (i,))),
        st.integers(-3, 7).map(lambda c: Tree("const", (c,))),
    )

    def extend(kids: st.SearchStrategy[Tree]) -> st.SearchStrategy[Tree]:
        ops = st.sampled_from((*OP_WEIGHTS, "pow", "neg"))
        return st.builds(_node, ops, kids, kids, st.integers(0, 3))

    return st.recursive(leaf, extend, max_leaves=max_leaves)


def _node(op: str, x: Tree, y: Tree, exponent: int) -> Tree:
    if op == "pow":
        return Tree("pow", (x, exponent))
    if op == "neg":
        return Tree("neg", (x,))
    return Tree(op, (x, y))


def signed_division_trees(n: int) -> st.SearchStrategy[Tree]:
    """``//``, ``%`` or ceil-division where an operand is a difference (often negative)."""
    small = int_trees(n, 3)
    diff = st.builds(lambda x, y: Tree("sub", (x, y)), small, small)
    op = st.sampled_from(("floordiv", "mod", "ceildiv"))
    return st.one_of(
        st.builds(lambda o, x, y: Tree(o, (x, y)), op, diff, small),
        st.builds(lambda o, x, y: Tree(o, (x, y)), op, small, diff),
        st.builds(lambda o, x, y: Tree(o, (x, y)), op, diff, diff),
    )


def py_eval(tree: Tree, values: Sequence[int]) -> int | float | None:
    """Python's value of ``tree`` on ``values``; None where it divides by zero."""
    try:
        result: int | float = evaluate(tree, values)
    except ZeroDivisionError:
        return None
    return result


def small_values(n: int) -> st.SearchStrategy[list[int]]:
    """Sizes >= 2 (a dynamic symbol's range); often tiny, so equalities and divisibility happen."""
    return st.lists(st.one_of(st.integers(2, 6), st.integers(2, 40)), min_size=n, max_size=n)


def nearby_values(hints: Sequence[int]) -> st.SearchStrategy[list[int]]:
    """Other values for the symbols: often the hint or close to it, sometimes anything."""
    def one(h: int) -> st.SearchStrategy[int]:
        return st.one_of(
            st.just(h), st.integers(max(2, h - 3), h + 3), st.just(2 * h), st.integers(2, 200)
        )

    return st.tuples(*(one(h) for h in hints)).map(list)


# --------------------------------------------------------------------------
# Building through our ShapeEnv
# --------------------------------------------------------------------------


def make_symbols(env: ShapeEnv, hints: Sequence[int]) -> list[torch.SymInt]:
    syms = []
    for name, hint in zip(NAMES, hints):
        s = env.create_symint(hint, name, dynamic=DimDynamic.DYNAMIC)
        assert isinstance(s, torch.SymInt), f"hint {hint} should give a symbol, got {s!r}"
        syms.append(s)
    return syms


def substitute(value: Any, symbols: Sequence[Any], values: Sequence[int]) -> Any:
    """A SymInt/SymFloat's sympy expression with ``values`` put in for the ``symbols``."""
    mapping = {s: sympy.Integer(v) for s, v in zip(symbols, values)}
    return value.node.expr.xreplace(mapping)


def assert_same_number(got: Any, want: int | float, what: str) -> None:
    if isinstance(want, float):
        assert got.is_number, f"{what}: {got} did not evaluate to a number"
        assert math.isclose(float(got), want, rel_tol=1e-9, abs_tol=1e-12), f"{what}: {got} != {want}"
    else:
        assert getattr(got, "is_Integer", False) or isinstance(got, int), (
            f"{what}: {got} did not evaluate to an integer (want {want})"
        )
        assert int(got) == want, f"{what}: {got} != {want}"


# --------------------------------------------------------------------------
# (a) expressions equal Python evaluation, at the hints and elsewhere
# --------------------------------------------------------------------------


def check_expression(tree: Tree, hints: list[int], others: list[list[int]]) -> None:
    want = py_eval(tree, hints)
    assert want is not None, "callers skip trees that divide by zero at the hints"
    env = ShapeEnv(duck_shape=False)
    syms = make_symbols(env, hints)
    symbols = [s.node.expr for s in syms]
    symbol_guards = env.format_guards()  # each symbol's range [2, inf]
    got = evaluate(tree, syms)
    if not isinstance(got, (torch.SymInt, torch.SymFloat)):  # folded to a constant
        assert got == want, f"{tree!r} at {hints}: constant {got!r} != {want!r}"
        return
    assert type(got.node.hint) is type(want), f"{tree!r}: hint {got.node.hint!r}, Python {want!r}"
    assert got.node.hint == want or math.isclose(got.node.hint, want), (
        f"{tree!r} at {hints}: hint {got.node.hint!r} != Python {want!r}"
    )
    assert_same_number(substitute(got, symbols, hints), want, f"{tree!r} = {got.node.expr} at {hints}")
    for values in others:
        other = py_eval(tree, values)
        if other is None:
            continue
        at = f"{tree!r} = {got.node.expr} at {dict(zip(NAMES, values))}"
        assert_same_number(substitute(got, symbols, values), other, at)
    assert env.format_guards() == symbol_guards, f"building {tree!r} added guards: {env.format_guards()}"


@PROPERTY
@given(data=st.data())
def test_int_expression_matches_python(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, 4), label="symbols")
    hints = data.draw(small_values(n), label="hints")
    tree = data.draw(st.one_of(int_trees(n), signed_division_trees(n)), label="tree")
    assume(py_eval(tree, hints) is not None)
    others = data.draw(st.lists(small_values(n), min_size=6, max_size=12), label="others")
    check_expression(tree, hints, others)


@PROPERTY
@given(data=st.data())
def test_true_division_matches_python(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, 4), label="symbols")
    hints = data.draw(small_values(n), label="hints")
    tree = Tree("truediv", (data.draw(int_trees(n, 4)), data.draw(int_trees(n, 4))))
    assume(py_eval(tree, hints) is not None)
    others = data.draw(st.lists(small_values(n), min_size=6, max_size=12), label="others")
    check_expression(tree, hints, others)


A, B = Tree("sym", (0,)), Tree("sym", (1,))


def _k(c: int) -> Tree:
    return Tree("const", (c,))


TRICKY = [
    # Python's floor semantics on negative operands and divisors.
    Tree("floordiv", (Tree("sub", (A, B)), B)),
    Tree("mod", (A, Tree("sub", (A, B)))),
    Tree("ceildiv", (A, _k(-2))),
    Tree("floordiv", (A, _k(-1))),
    Tree("mod", (Tree("neg", (A,)), _k(3))),
    Tree("pow", (Tree("sub", (B, A)), 3)),
    # min/max must not pick a side from one ordering of the hints.
    Tree("min", (A, B)),
    Tree("max", (A, B)),
    Tree("sub", (A, Tree("min", (A, B)))),
    Tree("max", (Tree("sub", (A, B)), _k(0))),
    # Rewrites that are only true for some signs or divisibilities.
    Tree("mul", (Tree("floordiv", (A, B)), B)),
    Tree("floordiv", (Tree("mul", (A, B)), B)),
    Tree("floordiv", (Tree("floordiv", (A, _k(2))), _k(3))),
    Tree("mod", (Tree("add", (Tree("mul", (_k(4), A)), B)), _k(2))),
]


@pytest.mark.parametrize(
    ("tree", "hints"),
    [(t, h) for t in TRICKY for h in ([5, 3], [3, 5], [4, 4]) if py_eval(t, h) is not None],
    ids=lambda x: repr(x) if isinstance(x, Tree) else str(x),
)
def test_tricky_expressions_keep_python_semantics(tree: Tree, hints: list[int]) -> None:
    others = [[v, w] for v in (2, 3, 10, 17) for w in (2, 5, 9, 30)]
    check_expression(tree, hints, others)


# --------------------------------------------------------------------------
# (b) guards accept exactly the inputs on which the decisions hold
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """``left op right``; ``repr`` is its Python source."""

    left: Tree
    op: str
    right: Tree

    def __repr__(self) -> str:
        return f"{self.left!r} {self.op} {self.right!r}"

    def evaluate(self, leaves: Sequence[Any]) -> Any:
        return COMPARISONS[self.op](evaluate(self.left, leaves), evaluate(self.right, leaves))

    def py_decide(self, values: Sequence[int]) -> bool | None:
        try:
            return bool(self.evaluate(values))
        except ZeroDivisionError:
            return None


def conditions(n: int) -> st.SearchStrategy[Condition]:
    sym = st.integers(0, n - 1).map(lambda i: Tree("sym", (i,)))
    divisible = st.builds(
        lambda x, k: Condition(Tree("mod", (x, Tree("const", (k,)))), "==", Tree("const", (0,))),
        st.one_of(sym, int_trees(n, 3)),
        st.integers(2, 4),
    )
    compare_syms = st.builds(Condition, sym, st.sampled_from(list(COMPARISONS)), sym)
    general = st.builds(Condition, int_trees(n, 4), st.sampled_from(list(COMPARISONS)), int_trees(n, 3))
    return st.one_of(compare_syms, divisible, general)


def decide_all(env: ShapeEnv, conds: Sequence[Condition], syms: Sequence[torch.SymInt]) -> list[bool]:
    return [bool(c.evaluate(syms)) for c in conds]


@PROPERTY
@given(data=st.data())
def test_guards_accept_exactly_the_inputs_that_keep_every_decision(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, 4), label="symbols")
    hints = data.draw(small_values(n), label="hints")
    conds = data.draw(st.lists(conditions(n), min_size=1, max_size=4), label="conditions")
    expected = [c.py_decide(hints) for c in conds]
    assume(None not in expected)
    env = ShapeEnv(duck_shape=False)
    decisions = decide_all(env, conds, make_symbols(env, hints))
    assert decisions == expected, f"{conds} at {hints}: decided {decisions}, Python says {expected}"
    guards = env.format_guards()
    assert not env.check_guards(dict(zip(NAMES, hints))), (
        f"guards reject the inputs they came from {hints}:\n{guards}"
    )
    for values in data.draw(st.lists(nearby_values(hints), min_size=4, max_size=8), label="others"):
        outcome = [c.py_decide(values) for c in conds]
        if None in outcome:  # the program divides by zero there: any answer, but no crash
            assert isinstance(env.check_guards(dict(zip(NAMES, values))), list)
            continue
        keep = outcome == decisions
        accepted = not env.check_guards(dict(zip(NAMES, values)))
        assert accepted == keep, (
            f"decisions {conds} at hints {hints} -> {decisions}; at {values} -> {outcome}, "
            f"but the guards {'accept' if accepted else 'reject'} {values}:\n{guards}"
        )


@PROPERTY
@given(data=st.data())
def test_expressions_after_decisions_hold_wherever_the_guards_do(data: st.DataObject) -> None:
    """What decisions taught the env (replacements, divisibility) keeps expressions exact."""
    n = data.draw(st.integers(2, 3), label="symbols")
    hints = data.draw(small_values(n), label="hints")
    conds = data.draw(st.lists(conditions(n), min_size=1, max_size=3), label="conditions")
    tree = data.draw(int_trees(n), label="tree")
    want = py_eval(tree, hints)
    assume(want is not None and None not in [c.py_decide(hints) for c in conds])
    env = ShapeEnv(duck_shape=False)
    syms = make_symbols(env, hints)
    symbols = [s.node.expr for s in syms]  # before decisions replace any of them
    decide_all(env, conds, syms)
    got = evaluate(tree, syms)
    if not isinstance(got, torch.SymInt):
        assert got == want, f"after {conds} at {hints}: {tree!r} folded to {got!r}, Python {want!r}"
        return
    assert got.node.hint == want, f"after {conds}: {tree!r} hint {got.node.hint} != Python {want}"
    for values in [hints, *data.draw(st.lists(nearby_values(hints), min_size=4, max_size=8))]:
        other = py_eval(tree, values)
        if other is None or env.check_guards(dict(zip(NAMES, values))):
            continue
        at = f"after {conds} (guards hold), {tree!r} = {got.node.expr} at {dict(zip(NAMES, values))}"
        assert_same_number(substitute(got, symbols, values), other, at)


def test_guard_that_divides_by_zero_on_new_inputs_rejects_them() -> None:
    env = ShapeEnv(duck_shape=False)
    a, b = make_symbols(env, [2, 2])
    assert not bool(a < a // (b - 3))  # 2 // -1 == -2
    assert not env.check_guards({"a": 2, "b": 2})
    # At b == 3 the traced program itself divides by zero: the trace does not apply.
    assert env.check_guards({"a": 2, "b": 3}) != []
    (failure,) = env.check_guards({"a": 2, "b": 3})
    assert "a // (b - 3)" in str(failure)


# --------------------------------------------------------------------------
# (c) torch's ShapeEnv as the oracle for static questions
# --------------------------------------------------------------------------


class TorchEnv:
    """torch's ShapeEnv with the same symbols (dynamic, not duck-sized, range [2, inf])."""

    def __init__(self, hints: Sequence[int]) -> None:
        from torch._dynamo.source import ConstantSource
        from torch.fx.experimental.symbolic_shapes import DimDynamic as TorchDimDynamic
        from torch.fx.experimental.symbolic_shapes import ShapeEnv as TorchShapeEnv

        self.env = TorchShapeEnv()
        self.syms: list[torch.SymInt] = []
        for name, hint in zip(NAMES, hints):
            src = ConstantSource(name)
            expr = self.env.create_symbol(hint, source=src, dynamic_dim=TorchDimDynamic.DYNAMIC)
            sym = self.env.create_symintnode(expr, hint=hint, source=src)
            assert isinstance(sym, torch.SymInt)
            self.syms.append(sym)


def statically_known(cond: Any) -> bool:
    """torch's own helper; on our SymBool it asks our env (``_maybe_evaluate_static``)."""
    from torch.fx.experimental.symbolic_shapes import statically_known_true

    return bool(statically_known_true(cond)) if isinstance(cond, torch.SymBool) else bool(cond)


def _negated(cond: Any, negate: bool) -> Any:
    return torch.sym_not(cond) if negate else cond


def _both(hints: Sequence[int], cond: Condition) -> tuple[ShapeEnv, Any, Any]:
    env = ShapeEnv(duck_shape=False)
    ours = cond.evaluate(make_symbols(env, hints))
    theirs = cond.evaluate(TorchEnv(hints).syms)
    return env, ours, theirs


@PROPERTY
@given(data=st.data())
def test_static_answers_are_sound(data: st.DataObject) -> None:
    """What we know without a guard holds everywhere, and torch never knows the opposite."""
    n = data.draw(st.integers(2, 3), label="symbols")
    hints = data.draw(small_values(n), label="hints")
    cond = data.draw(conditions(n), label="condition")
    assume(cond.py_decide(hints) is not None)
    env = ShapeEnv(duck_shape=False)
    syms = make_symbols(env, hints)
    symbol_guards = env.format_guards()
    ours = cond.evaluate(syms)
    theirs = cond.evaluate(TorchEnv(hints).syms)
    others = data.draw(st.lists(small_values(n), min_size=3, max_size=6), label="others")
    for negate in (False, True):
        if not statically_known(_negated(ours, negate)):
            continue
        what = f"{'not ' if negate else ''}({cond!r}) for sizes >= 2"
        for values in [hints, *others]:
            outcome = cond.py_decide(values)
            assert outcome is None or outcome != negate, f"we claim {what}; false at {values}"
        assert not statically_known(_negated(theirs, not negate)), f"we claim {what}; torch the opposite"
    assert env.format_guards() == symbol_guards, f"static queries added guards: {env.format_guards()}"


@AGAINST_TORCH
@given(data=st.data())
def test_what_torch_knows_statically_we_know(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, 3), label="symbols")
    hints = data.draw(small_values(n), label="hints")
    cond = data.draw(conditions(n), label="condition")
    assume(cond.py_decide(hints) is not None)
    _, ours, theirs = _both(hints, cond)
    for negate in (False, True):
        if statically_known(_negated(theirs, negate)):
            assert statically_known(_negated(ours, negate)), (
                f"torch knows {'not ' if negate else ''}({cond!r}) for sizes >= 2 statically, we do not"
            )


@PROPERTY
@given(data=st.data())
def test_value_ranges_are_sound(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, 3), label="symbols")
    hints = data.draw(small_values(n), label="hints")
    tree = data.draw(int_trees(n, 5), label="tree")
    assume(py_eval(tree, hints) is not None)
    env = ShapeEnv(duck_shape=False)
    ours = evaluate(tree, make_symbols(env, hints))
    assume(isinstance(ours, torch.SymInt))
    r = env.bound_sympy(ours.node.expr)
    for values in [hints, *data.draw(st.lists(small_values(n), min_size=3, max_size=6))]:
        value = py_eval(tree, values)
        if value is not None:
            assert r.lower <= value <= r.upper, f"{tree!r} = {value} at {values} is outside {r}"


@AGAINST_TORCH
@given(data=st.data())
def test_value_ranges_are_no_looser_than_torch(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, 3), label="symbols")
    hints = data.draw(small_values(n), label="hints")
    tree = data.draw(int_trees(n, 5), label="tree")
    assume(py_eval(tree, hints) is not None)
    env = ShapeEnv(duck_shape=False)
    ours = evaluate(tree, make_symbols(env, hints))
    torch_env = TorchEnv(hints)
    theirs = evaluate(tree, torch_env.syms)
    assume(isinstance(ours, torch.SymInt) and isinstance(theirs, torch.SymInt))
    r = env.bound_sympy(ours.node.expr)
    t = torch_env.env.bound_sympy(theirs.node.expr)
    lo, hi = _torch_bound(t.lower), _torch_bound(t.upper)
    assert lo <= r.lower and r.upper <= hi, (
        f"{tree!r}: our range [{r.lower}, {r.upper}] is looser than torch's [{lo}, {hi}]"
    )


@pytest.mark.parametrize(
    "cond",
    [
        Condition(A, "<", Tree("mul", (A, B))),
        Condition(Tree("pow", (B, 3)), ">=", B),
        Condition(Tree("mul", (A, B)), "!=", A),
        Condition(Tree("floordiv", (A, A)), "==", _k(1)),
        Condition(Tree("floordiv", (Tree("mul", (_k(2), A)), A)), "==", _k(2)),
        Condition(Tree("mod", (Tree("mul", (A, B)), A)), "==", _k(0)),
        Condition(Tree("mod", (Tree("neg", (A,)), A)), "==", _k(0)),
        Condition(Tree("add", (A, B)), ">", A),
        Condition(Tree("mul", (A, B)), ">=", _k(4)),
        Condition(Tree("floordiv", (A, _k(2))), ">=", _k(1)),
        Condition(Tree("mod", (A, _k(4))), "<", _k(4)),
        Condition(Tree("sub", (A, B)), "<", A),
        Condition(Tree("max", (A, B)), ">=", _k(2)),
        Condition(Tree("add", (Tree("floordiv", (A, _k(-1))), A)), "==", _k(0)),
        Condition(Tree("floordiv", (B, Tree("add", (B, B)))), "==", _k(0)),
        Condition(Tree("mod", (A, Tree("add", (A, A)))), "==", A),
        Condition(Tree("add", (Tree("mul", (B, A)), _k(7))), ">", A),
        Condition(Tree("sub", (A, _k(1))), "<", Tree("pow", (A, 2))),
        Condition(Tree("add", (B, Tree("mul", (A, B)))), ">", A),
        Condition(Tree("mul", (B, A)), ">=", Tree("add", (A, B))),
    ],
    ids=repr,
)
def test_static_facts_torch_knows(cond: Condition) -> None:
    """Minimal cases of the strength property (each was a gap once)."""
    env, ours, theirs = _both([3, 5], cond)
    assert statically_known(theirs), f"torch should know {cond!r} (the test's premise)"
    symbol_guards = env.format_guards()  # the ranges a, b >= 2
    assert bool(ours)
    assert env.format_guards() == symbol_guards, (
        f"{cond!r} holds for all sizes >= 2, yet deciding it added a guard:\n{env.format_guards()}"
    )


def _torch_bound(x: Any) -> float:
    """torch's int_oo / -int_oo / sympy numbers as Python numbers."""
    text = str(x)
    if text in ("int_oo", "oo"):
        return math.inf
    if text in ("-int_oo", "-oo"):
        return -math.inf
    return float(x)
