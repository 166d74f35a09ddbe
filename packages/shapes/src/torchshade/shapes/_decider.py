"""Decider: every question about a symbolic value is answered here.

    statically known (ranges, replacements, facts)  -> answer, no guard
    backed (has a hint)                             -> answer from the hint, record a guard
    unbacked, with a fallback (guard_or_false ...)  -> the fallback, no guard
    unbacked otherwise                              -> GuardOnDataDependentSymNode

It reads the knowledge and the symbols' hints; a decision's fact is learned
(``Knowledge``) and its guard logged (``GuardLog``) together, and a ``Dim``
constraint that rejects it undoes both (``_snapshot``).  ``expect_true`` turns
a condition on unbacked symbols into a runtime assert.  The ShapeEnv forwards
its questions here (bound once: a SymNode asks on every branch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sympy

from ._expr import Expr, is_bool_expr
from ._errors import ConstraintViolationError, GuardOnDataDependentSymNode
from ._guards import GuardLog, Provenance, RuntimeAssert, decision_kind
from ._knowledge import Knowledge, Learned, negate
from ._ranges import ValueRanges, bound
from ._snapshot import rollback_on_error
from ._source import python_source
from ._symbol_table import SymbolTable
from ._symbols import is_unbacked_symbol

if TYPE_CHECKING:
    from ._node import SymNode

_CHECK_HELP = (
    "If you know which way it goes, say so before this line (paste one):\n"
    "    torch._check({yes})\n"
    "    torch._check({no})\n"
    "or avoid the decision: torch.sym_max / torch.sym_min, or "
    "torch.fx.experimental.symbolic_shapes.guard_or_false / guard_or_true "
    "where either answer is correct."
)


class Decider:
    """Answers questions about symbolic values on what is known; logs the guards it relies on."""

    def __init__(self, knowledge: Knowledge, symbols: SymbolTable, log: GuardLog) -> None:
        self.knowledge = knowledge
        self.symbols = symbols
        self.hints = symbols.hints  # the same dict: read on every decision
        self.log = log
        self.suppressed = 0  # > 0 inside ShapeEnv.suppress_guards(): no guard, nothing learned
        self.size_like: set[Expr] = set()  # unbacked symbols marked as sizes (size-oblivious decisions)

    # -- static questions --------------------------------------------------
    def simplify(self, expr: Expr) -> Expr:
        return self.knowledge.simplify(sympy.sympify(expr))

    def bound_sympy(self, expr: Expr) -> ValueRanges:
        """The value range of ``expr`` under everything known."""
        return self.knowledge.bound(sympy.sympify(expr))

    def _maybe_evaluate_static(self, expr: Expr, **_: object) -> Expr:
        """``expr``'s value if known without a guard, else None (torch's name)."""
        return self.knowledge.evaluate_static(sympy.sympify(expr))

    def hint_of(self, expr: Expr) -> int | float | bool | None:
        """The example value of ``expr`` from symbol hints, or None if any is unbacked."""
        free = expr.free_symbols
        if any(s not in self.hints for s in free):
            return None
        value = expr.xreplace({s: self.hints[s] for s in free})
        if value is sympy.true or value is sympy.false:
            return bool(value)
        return int(value) if value.is_Integer else float(value)

    def guarding_hint_or_throw(self, expr: Expr) -> int | float | bool:
        """The example value of ``expr`` (torch's name); raises for unbacked expressions."""
        expr = sympy.sympify(expr)
        hint = self.hint_of(self.knowledge.simplify(expr))
        if hint is None:
            raise self.data_dependent_error(expr)
        return hint

    def optimization_hint(self, expr: Expr, fallback: int | None = None) -> int | float | bool | None:
        """The example value of ``expr``, or ``fallback`` when it has none (torch's name)."""
        hint = self.hint_of(self.knowledge.simplify(sympy.sympify(expr)))
        return fallback if hint is None else hint

    def size_hint(self, expr: Expr, *, allow_none: bool = False) -> int | float | bool | None:
        """Older torch name: the hint, None if ``allow_none`` and there is none."""
        return self.optimization_hint(expr) if allow_none else self.guarding_hint_or_throw(expr)

    # -- decisions -------------------------------------------------------------
    def evaluate_expr(self, expr: Expr, hint: Any = None, fx_node: object = None,
                      size_oblivious: bool = False, fallback_value: bool | None = None,
                      **_: object) -> Expr:  # fmt: skip
        """Decide ``expr`` (torch's signature): a sympy value, guarding if needed."""
        return self.decide(sympy.sympify(expr), hint, fallback_value)

    def evaluate_sym_node(self, sym_node: SymNode, size_oblivious: bool = False,
                          fallback_value: bool | None = None) -> Expr:  # fmt: skip
        return self.decide(sym_node.expr, sym_node.hint, fallback_value)

    def decide(self, expr: Expr, hint: Any, fallback: bool | None = None) -> Expr:
        """The value of a boolean (or number) ``expr``; records a guard when not static."""
        static = self.knowledge.evaluate_static(expr)
        if static is not None:
            return static
        if hint is None:  # unbacked symbols may have been replaced by backed ones
            hint = self.hint_of(self.knowledge.simplify(expr))
        if hint is None:
            if fallback is not None:
                return sympy.true if fallback else sympy.false
            raise self.data_dependent_error(expr)
        value = sympy.sympify(hint)
        if not self.suppressed:
            fact = expr if value is sympy.true else negate(expr) if value is sympy.false else sympy.Eq(expr, value)
            self.record(fact, Provenance.capture())
            self.knowledge.remember(expr, value)
        return value

    def expect_true(self, expr: Expr, hint: Any) -> bool:
        """Assume ``expr``: a guard if backed, a runtime assert if unbacked; False if refuted."""
        static = self.knowledge.evaluate_static(expr)
        if static is not None:
            return bool(static)
        if hint is None:
            hint = self.hint_of(self.knowledge.simplify(expr))
        if hint is not None:
            return bool(self.decide(expr, hint))
        origin = Provenance.capture()
        if self._may_violate(expr):
            with rollback_on_error(self.knowledge, self.log):  # all a decision changes
                self.check_constraints(self.knowledge.learn(expr), expr, origin)
        else:
            self.check_constraints(self.knowledge.learn(expr), expr, origin)
        self.log.asserts.append(RuntimeAssert(expr, str(expr), origin))
        return True

    def record(self, fact: Expr, origin: Provenance) -> None:
        """Learn ``fact`` (a decision just taken on hints) and log its guard.

        A ``Dim`` constraint may reject what is learned: then everything learned
        is undone before the ``ConstraintViolationError`` leaves, so no fact
        stays without its guard.
        """
        if self._may_violate(fact):
            with rollback_on_error(self.knowledge, self.log):  # all a decision changes
                self._learn_and_log(fact, origin)
        else:
            self._learn_and_log(fact, origin)

    def _may_violate(self, fact: Expr) -> bool:
        """True when ``fact`` mentions a symbol with a user's ``Dim`` (after replacements)."""
        protected = self.knowledge.protected
        return bool(protected) and not protected.isdisjoint(self.knowledge.simplify(fact).free_symbols)

    def _learn_and_log(self, fact: Expr, origin: Provenance) -> None:
        # A decision on an unbacked symbol replaced by backed ones is a guard on those (as torch's).
        shown = self.knowledge.simplify(fact) if any(map(is_unbacked_symbol, fact.free_symbols)) else fact
        kinds: list[str] = []
        for part in sympy.And.make_args(fact):  # each conjunct is minimal on its own
            learned = self.knowledge.learn(part)
            self.check_constraints(learned, part, origin)
            for item in learned:
                kinds.append(item.kind)
                if item.kind == "range":
                    self.log.range_origin[item.symbol] = origin
                elif item.kind != "known":
                    self.log.record_needed(part, origin, decision_kind([item.kind]))
        self.log.record_decision(shown, origin, decision_kind(kinds))

    def check_constraints(self, learned: list[Learned], fact: Expr, origin: Provenance) -> None:
        for item in learned:
            info = self.symbols.infos.get(item.symbol)
            if info is None or info.dim is None:
                continue
            dim, r = info.dim, self.knowledge.ranges[item.symbol]
            if item.kind == "replacement":
                value = self.knowledge.replacements[item.symbol]
                fix = (f"Dim({dim.name!r}, min={value}, max={value}) or a static size"
                       if value.is_Integer else "one shared Dim (or a derived Dim such as 2*batch) for both")  # fmt: skip
                need = f"{dim.name} == {python_source(value, self.symbols.names())}"
            elif item.kind == "divisible":
                k = self.knowledge.divisible[item.symbol]
                fix = f"it as a multiple: {k}*Dim('{dim.name}_div{k}') in place of {dim.name}"
                need = f"{dim.name} % {k} == 0"
            elif item.kind == "range" and (r.lower > dim.min or r.upper < dim.max):
                fix = f"Dim({dim.name!r}, min={r.lower}, max={r.upper})".replace("max=inf)", ")")
                need = f"{r.lower} <= {dim.name} <= {r.upper}"
            else:
                continue
            raise ConstraintViolationError(
                f"Constraint violated for {dim} ({info.sources[0]}): the program needs "
                f"{need} (from the condition {fact}) at {origin}, but {dim} allows every size in "
                f"[{dim.min}, {dim.max}]. Either declare {fix}, or change the program so it does "
                f"not branch on {dim.name}."
            )

    def data_dependent_error(self, expr: Expr) -> GuardOnDataDependentSymNode:
        origin = Provenance.capture()
        unbacked = sorted((s for s in expr.free_symbols if is_unbacked_symbol(s)), key=str)
        ranges = ", ".join(f"{s} in {self.knowledge.bound(s)}" for s in unbacked)
        names = self.symbols.names()
        if is_bool_expr(expr):
            question = f"whether {python_source(expr, names)} is True or False"
            help_ = _CHECK_HELP.format(yes=python_source(expr, names), no=python_source(negate(expr), names))
        else:
            question = f"the int value of {python_source(expr, names)}"
            help_ = ("Keep it symbolic instead of calling int() on it, or bound it first, e.g.\n"
                     f"    torch._check({python_source(expr, names)} >= 0)")  # fmt: skip
        return GuardOnDataDependentSymNode(
            f"Could not guard on data-dependent expression {expr} at {origin}: tracing needs "
            f"{question}, but {', '.join(map(str, unbacked))} "
            f"{'has' if len(unbacked) == 1 else 'have'} no example value (only a range: {ranges}).\n"
            + help_,
            expr,
        )

    def decide_size_oblivious(self, expr: Expr, hint: Any) -> Expr:
        """Like ``decide``, but size-like unbacked symbols count as >= 2 when that settles it.

        torch's meaning: a size that is 0 or 1 at run time takes the general
        path anyway, so the answer for sizes >= 2 is the one to trace.
        """
        if self.size_like and expr.free_symbols & self.size_like:
            k = self.knowledge
            ranges = dict(k.ranges)
            for s in expr.free_symbols & self.size_like:
                r = ranges.get(s, k.default_range(s))
                ranges[s] = ValueRanges(max(r.lower, 2), r.upper)
            r = bound(k.simplify(expr), ranges, k.default_range)
            if r.is_point() and is_bool_expr(expr):
                return sympy.true if r.lower == 1 else sympy.false
        return self.decide(expr, hint)
