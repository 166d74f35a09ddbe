"""What the shape environment knows: ranges, replacements, divisibility, facts.

``Knowledge`` answers "is this expression statically decided?" without
guarding.  It learns from each decided fact:

    Eq(s1, 2*s0)         -> replacement  s1 := 2*s0
    Eq(Mod(s0, 2), 0)    -> divisibility s0 % 2 == 0
    s0 >= 3 (one symbol) -> value range  s0 in [3, inf]
    anything else        -> a fact on the difference of its sides

Answers are cached on the (interned) sympy expression.  Knowledge only grows
(ranges narrow, facts and replacements are added), so a decided answer stays
right forever and is kept; "undecided" and simplified forms are dropped by a
version counter whenever something new is learned.

Every change comes through four methods (``learn``, ``add_replacement``,
``narrow``, ``remember``), and each outermost call is an *event*: it is
appended to ``journal`` and moves ``state``, an id interned process-wide from
(previous state, event).  The methods are deterministic, so two Knowledges
(of two ShapeEnvs) with equal ``state_key`` went through the same events from
the same symbols and hints and answer every question alike; replaying one's
journal slice on the other (``replay``) takes it to the same state.  The fake
tensor cache shares entries between ShapeEnvs on that ground.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import sympy

from ._expr import Expr, FloorDiv, PyMod, is_bool_expr, kinds, rebuild, substitute, symbols_in
from ._ranges import RELATIONAL_OPS, UNKNOWN, Bounder, ValueRanges, _compare, _corners

NEGATE = {sympy.Eq: sympy.Ne, sympy.Ne: sympy.Eq, sympy.Lt: sympy.Ge, sympy.Ge: sympy.Lt,
          sympy.Le: sympy.Gt, sympy.Gt: sympy.Le}  # fmt: skip
NONNEG = ValueRanges(0, math.inf)
_DIVISIONS = frozenset({FloorDiv, PyMod})


def negate(expr: Expr) -> Expr:
    """The logical negation, keeping relationals relational (``Not(a < b)`` -> ``a >= b``)."""
    op = NEGATE.get(type(expr))
    if op is not None:
        return rebuild(op(*expr.args, evaluate=False), expr.args)  # numbers fold, nothing else evaluates
    if isinstance(expr, sympy.Not):
        return expr.args[0]
    return sympy.Not(expr)


# canonical_diff is a pure function of the (interned) expression: its answers are kept.
_DIFFS: dict[Expr, tuple[str, Expr]] = {}


def canonical_diff(expr: Expr) -> tuple[str, Expr]:
    """A relational as ``(op, d)`` meaning ``d op 0``, with ``>``/``>=`` flipped."""
    found = _DIFFS.get(expr)
    if found is None:
        if len(_DIFFS) > 100_000:
            _DIFFS.clear()
        found = _DIFFS[expr] = _canonical_diff(expr)
    return found


def _canonical_diff(expr: Expr) -> tuple[str, Expr]:
    op = RELATIONAL_OPS[type(expr)]
    diff = expr.args[0] - expr.args[1]
    if op in (">", ">="):
        return ("<" if op == ">" else "<="), -diff
    if op in ("==", "!=") and diff.could_extract_minus_sign():
        return op, -diff
    return op, diff


# -- states: interned ids of histories ----------------------------------------

_STATES: dict[tuple[int, Hashable], int] = {}
_STATE_IDS = itertools.count(1)  # never reused, even after _STATES is emptied
_MAX_STATES = 1_000_000


def _next_state(state: int, event: Hashable) -> int:
    """The id of the state ``event`` leads to from ``state``; equal events from equal
    states give equal ids (events compare as sympy expressions do: structurally)."""
    key = (state, event)
    found = _STATES.get(key)
    if found is None:
        if len(_STATES) >= _MAX_STATES:
            _STATES.clear()  # ids of live states stay valid: new ones are never equal to them
        found = _STATES[key] = next(_STATE_IDS)
    return found


Event = tuple[str, tuple[object, ...]]  # (method name, its arguments)

# simplify and evaluate_static answers of Knowledges in a state, shared by every
# Knowledge in that state (equal states answer alike; see the module docstring):
# a new ShapeEnv per trace otherwise works each answer out again. Keyed on
# (state, expr); only outside a change, and only without protected symbols
# (which steer learning but are not part of the state). With
# TORCHSHADE_SHAPES_CROSSCHECK set, every shared answer is worked out again and
# compared.
_SHARED_SIMPLIFIED: dict[tuple[int, Expr], Expr] = {}
_SHARED_STATIC: dict[tuple[int, Expr], Expr] = {}
_MAX_SHARED = 500_000
_UNDECIDED = sympy.Symbol("undecided")  # a stored "None" of evaluate_static
CROSSCHECK_VAR = "TORCHSHADE_SHAPES_CROSSCHECK"
CROSSCHECK = os.environ.get(CROSSCHECK_VAR, "0") not in ("", "0")


class SharedAnswerMismatch(AssertionError):
    """A shared answer differs from the one worked out again (a bug in state keeping)."""


def _share(table: dict[tuple[int, Expr], Expr], key: tuple[int, Expr], value: Expr) -> None:
    if len(table) >= _MAX_SHARED:
        table.clear()
    table[key] = value


def _crosscheck(what: str, expr: Expr, shared: Expr, computed: Expr) -> None:
    if shared != computed:
        raise SharedAnswerMismatch(
            f"{what}({expr}) shared between Knowledges in one state is {shared}, "
            f"but this Knowledge works it out as {computed}. Equal states must answer alike, "
            "so this is a bug in torchshade.shapes: please report it with this message."
        )


@dataclass(frozen=True, slots=True)
class Learned:
    """What ``Knowledge.learn`` did with a fact: its kind and the symbol it touched."""

    kind: str  # "replacement", "divisible", "range", "fact", "known"
    symbol: Expr = None


class Knowledge:
    """Replacements, divisibility, ranges and facts; static evaluation over them."""

    def __init__(self) -> None:
        self.ranges: dict[Expr, ValueRanges] = {}
        self.replacements: dict[Expr, Expr] = {}
        self.divisible: dict[Expr, int] = {}
        self.diff_ranges: dict[Expr, ValueRanges] = {}
        # Symbol ranges that follow from linear facts (s0 + s1 < 11 and s1 >= 2 give
        # s0 <= 8): used for reasoning, never printed as guards of their own.
        self.implied: dict[Expr, ValueRanges] = {}
        self.nonzero: set[Expr] = set()
        self.bool_facts: dict[Expr, bool] = {}
        self.version = 0
        self._simplified: dict[Expr, Expr] = {}
        self._static: dict[Expr, Expr] = {}
        self._decided: dict[Expr, Expr] = {}  # never invalidated: knowledge only grows
        self._substituted: dict[Expr, tuple[int, Expr]] = {}
        self._subst_version = 0  # bumped when replacements or divisibility change
        self._users: dict[Expr, set[Expr]] = {}  # symbol -> replaced symbols whose value has it
        self._cache_version = 0
        self._bounder: Bounder | None = None
        # Symbols with a user's Dim: replaced only when nothing else can be.
        self.protected: set[Expr] = set()
        # Whether answers are shared with other knowledges in the same state (ShapeEnv's
        # reuse_answers).
        self.shares = True
        # The history (see the module docstring): outermost changes, and where they led.
        self.journal: list[Event] = []
        self.state = 0
        self._depth = 0  # > 0 inside a change: inner changes are part of the outer event
        self._inputs_state = 0  # the hints and protected symbols folded in so far
        self._hints_seen = 0
        self._protected_seen = 0

    # -- history -----------------------------------------------------------
    def _begin(self, name: str, args: tuple[object, ...], event: Hashable = None) -> None:
        """Enter a change; an outermost one is journaled and moves the state (by
        ``event``, or by its name and arguments)."""
        if self._depth == 0:
            self.state = _next_state(self.state, event if event is not None else (name, args))
            self.journal.append((name, args))
        self._depth += 1

    def state_key(self, hints: Mapping[Expr, object]) -> tuple[int, int]:
        """Equal for Knowledges (of any ShapeEnvs) that answer every question alike:
        the same events, from symbols with the same hints (``hints`` only grows, in
        order) and the same protected symbols."""
        if len(hints) != self._hints_seen or len(self.protected) != self._protected_seen:
            state = self._inputs_state
            for symbol, hint in itertools.islice(hints.items(), self._hints_seen, None):
                state = _next_state(state, ("hint", symbol, type(hint), hint))
            if len(self.protected) != self._protected_seen:
                state = _next_state(state, ("protected", frozenset(self.protected)))
            self._inputs_state, self._hints_seen, self._protected_seen = state, len(hints), len(self.protected)
        return self.state, self._inputs_state

    def replay(self, events: Sequence[Event]) -> None:
        """Make the changes ``events`` (a slice of another Knowledge's journal) made."""
        for name, args in events:
            getattr(self, name)(*args)

    # -- queries ---------------------------------------------------------
    def default_range(self, symbol: Expr) -> ValueRanges:
        if symbol.is_nonnegative:
            return NONNEG
        if symbol.is_Boolean:
            return ValueRanges(0, 1)
        return UNKNOWN

    def _sync(self) -> None:
        if self._cache_version != self.version:
            self._simplified.clear()
            self._static.clear()
            self._bounder = None
            self._cache_version = self.version

    def bounder(self) -> Bounder:
        """A bounder over what is known now, its memo shared until something is learned."""
        self._sync()
        if self._bounder is None:
            self._bounder = _FactBounder(self)
        return self._bounder

    def simplified_memo(self, expr: Expr) -> Expr | None:
        """``simplify(expr)`` if it is memoized for what is known now, else None."""
        if self._cache_version != self.version:
            return None
        return self._simplified.get(expr)

    def simplify(self, expr: Expr) -> Expr:
        """``expr`` with replacements and divisibility applied (cached, bounded work)."""
        if self._cache_version != self.version:
            self._sync()
        found = self._simplified.get(expr)
        if found is None:
            sharing = self.shares and self._depth == 0 and not self.protected
            if sharing:
                key = (self.state, expr)
                found = _SHARED_SIMPLIFIED.get(key)
            if found is None or CROSSCHECK:
                computed = self._substitute(expr)
                if kinds(computed):
                    computed = self._drop_dominated(computed)
                if found is not None:
                    _crosscheck("simplify", expr, found, computed)
                elif sharing:
                    _share(_SHARED_SIMPLIFIED, key, computed)
                found = computed
            self._simplified[expr] = found
        return found

    def _substitute(self, expr: Expr) -> Expr:
        """``expr`` with replacements and divisibility applied; cached until either changes
        (most facts only narrow ranges, which this step does not read)."""
        cached = self._substituted.get(expr)
        if cached is not None and cached[0] == self._subst_version:
            return cached[1]
        found = expr
        if self.replacements and not expr.is_Atom:
            found = substitute(found, self.replacements)
        elif expr in self.replacements:
            found = self.replacements[expr]
        if self.divisible and kinds(found) & _DIVISIONS:
            found = self._apply_divisibility(found)
        self._substituted[expr] = (self._subst_version, found)
        return found

    def _apply_divisibility(self, expr: Expr) -> Expr:
        """``Mod(t, k)`` -> 0 and ``FloorDiv(t, k)`` -> ``t / k`` where t is a known multiple of k."""

        def multiple(term: Expr, k: int) -> bool:
            c = 1
            for f in sympy.Mul.make_args(term):
                if f.is_Integer:
                    c *= int(f)
                    continue
                base, exp = f.as_base_exp()
                if exp.is_Integer and exp > 0:
                    c *= self.divisible.get(base, 1) ** int(exp)
            return c % k == 0

        def rewrite(e: Expr) -> Expr:
            if e.is_Atom:
                return e
            args = [rewrite(a) for a in e.args]
            if isinstance(e, (PyMod, FloorDiv)) and args[1].is_Integer and args[1] != 0:
                k = int(args[1])
                if all(multiple(t, k) for t in sympy.Add.make_args(args[0])):
                    return sympy.Integer(0) if isinstance(e, PyMod) else args[0] / k
            return rebuild(e, args) if args != list(e.args) else e

        return rewrite(expr)

    def _drop_dominated(self, expr: Expr) -> Expr:
        """Rewrites the ranges justify: ``Max(1, s0)`` -> ``s0`` when s0 >= 1 (likewise
        Min, see ``_dominant``); ``x // y`` -> 0 and ``x % y`` -> x when 0 <= x < y."""
        bounder = self.bounder()

        def rewrite(e: Expr) -> Expr:
            if e.is_Atom:
                return e
            args = [rewrite(a) for a in e.args]
            if isinstance(e, (FloorDiv, PyMod)):
                x, y = args
                if bounder.bound(x).lower >= 0 and bounder.bound(y - x).lower > 0:
                    return sympy.Integer(0) if isinstance(e, FloorDiv) else x
            if isinstance(e, (sympy.Max, sympy.Min)):
                return _dominant(bounder, e, args)
            return rebuild(e, args) if args != list(e.args) else e

        return rewrite(expr)

    def bound(self, expr: Expr) -> ValueRanges:
        """The value range of ``expr`` under everything known."""
        return self.bounder().bound(self.simplify(expr))

    def evaluate_static(self, expr: Expr) -> Expr:
        """``expr``'s value if decided without a guard (sympy true/false/number), else None."""
        found = self._decided.get(expr)
        if found is not None:
            return found
        self._sync()
        if expr in self._static:
            return self._static[expr]
        shared = None
        sharing = self.shares and self._depth == 0 and not self.protected
        if sharing:
            key = (self.state, expr)
            shared = _SHARED_STATIC.get(key)
        if shared is None or CROSSCHECK:
            result = self._evaluate(self.simplify(expr))
            stored = _UNDECIDED if result is None else result
            if shared is not None:
                _crosscheck("evaluate_static", expr, shared, stored)
            elif sharing:
                _share(_SHARED_STATIC, key, stored)
        else:
            result = None if shared is _UNDECIDED else shared
        if result is None:
            self._static[expr] = result
        else:
            self._decided[expr] = result
        return result

    def remember(self, expr: Expr, value: Expr) -> None:
        """Record that ``expr`` has ``value`` from now on (a guard or assert ensures it)."""
        self._begin("remember", (expr, value))
        self._decided[expr] = value  # cannot raise: no try needed
        self._depth -= 1

    def _evaluate(self, e: Expr) -> Expr:
        if e.is_Number or e is sympy.true or e is sympy.false:
            return e
        if e in self.bool_facts:
            return sympy.true if self.bool_facts[e] else sympy.false
        if type(e) in RELATIONAL_OPS:
            op, d = canonical_diff(e)
            if op in ("==", "!=") and (d in self.nonzero or _never_zero(d)):
                return sympy.true if op == "!=" else sympy.false
            r = _compare(op, self.bound(d))
        else:
            r = self.bound(e)
        if not r.is_point():
            return None
        if is_bool_expr(e):
            return sympy.true if r.lower == 1 else sympy.false
        v = r.lower
        return sympy.Integer(v) if isinstance(v, int) else sympy.Float(v)

    # -- learning --------------------------------------------------------
    def learn(self, fact: Expr) -> list[Learned]:
        """Record that ``fact`` holds (it is already known to be true for the hints)."""
        self._begin("learn", (fact,))
        try:
            return self._learn(fact)
        finally:
            self._depth -= 1

    def _learn(self, fact: Expr) -> list[Learned]:
        self._decided[fact] = sympy.true
        fact = self.simplify(fact)
        if fact is sympy.true:
            return [Learned("known")]
        if isinstance(fact, sympy.And):
            return [item for arg in fact.args for item in self.learn(arg)]
        if isinstance(fact, sympy.Not) and type(fact.args[0]) in NEGATE:
            return self.learn(negate(fact.args[0]))
        self.version += 1
        if type(fact) not in RELATIONAL_OPS:
            self.bool_facts[fact] = True
            self.bool_facts[negate(fact)] = False
            return [Learned("fact")]
        learned = self._learn_relational(fact)
        self.version += 1  # what was computed while learning saw half of it
        return [learned]

    def _learn_relational(self, fact: Expr) -> Learned:
        op, d = canonical_diff(fact)
        if op == "==":
            target = self._solve(d)
            if target is not None:
                return target
            if isinstance(d, PyMod) and d.args[1].is_Integer and d.args[0].is_Symbol:
                s, k = d.args[0], int(d.args[1])
                self.divisible[s] = math.lcm(self.divisible.get(s, 1), abs(k))
                self._subst_version += 1
                self._tighten(s)
                return Learned("divisible", s)
        if op == "!=":
            edge = self._learn_excluded_edge(d)
            if edge is not None:
                return edge
            self.nonzero.add(d)
            return Learned("fact")
        learned = self._learn_symbol_bound(op, d)
        if learned is not None:
            return learned
        interval = {"==": ValueRanges(0, 0), "<": ValueRanges(-math.inf, -1 if d.is_integer else 0),
                    "<=": ValueRanges(-math.inf, 0)}[op]  # fmt: skip
        self.diff_ranges[d] = self.diff_ranges.get(d, UNKNOWN).intersect(interval)
        self._derive_bounds(d, self.diff_ranges[d])
        return Learned("fact")

    def _derive_bounds(self, d: Expr, interval: ValueRanges) -> None:
        """From ``d in interval`` for a linear ``d``, bound each of its symbols."""
        terms = d.as_coefficients_dict()
        k = terms.pop(sympy.Integer(1), 0)
        if not terms or not all(t.is_Symbol and t.is_integer and c.is_Integer for t, c in terms.items()):
            return
        bounds = {s: _FactBounder(self).bound(s) for s in terms}
        for s, c in terms.items():
            rest = ValueRanges(interval.lower - k, interval.upper - k)
            for other, c2 in terms.items():
                if other is not s:
                    r = _corners(bounds[other], ValueRanges.point(int(c2)), lambda a, b: a * b)
                    rest = ValueRanges(rest.lower - r.upper, rest.upper - r.lower)
            lo, hi = (rest.lower, rest.upper) if c > 0 else (-rest.upper, -rest.lower)
            n = abs(int(c))
            derived = ValueRanges(lo if math.isinf(lo) else -((-int(lo)) // n), hi if math.isinf(hi) else int(hi) // n)
            self.implied[s] = self.implied.get(s, UNKNOWN).intersect(derived)

    def _solve(self, d: Expr) -> Learned | None:
        """For ``d == 0`` linear in a symbol with coefficient +-1, replace that symbol."""
        candidates = sorted(symbols_in(d), key=_symbol_order, reverse=True)
        candidates.sort(key=lambda s: s in self.protected)
        for s in candidates:
            coeff = d.coeff(s)
            if coeff not in (1, -1) or s in (d - coeff * s).free_symbols:
                continue
            self.add_replacement(s, -(d - coeff * s) * coeff)
            return Learned("replacement", s)
        return None

    def add_replacement(self, symbol: Expr, value: Expr) -> None:
        self._begin("add_replacement", (symbol, value))
        try:
            self._add_replacement(symbol, value)
        finally:
            self._depth -= 1

    def _add_replacement(self, symbol: Expr, value: Expr) -> None:
        if value.is_Symbol:
            self.narrow(value, self.ranges.get(symbol, self.default_range(symbol)))
        # Rewrite only the replacements that mention ``symbol`` (a new dict: callers may hold the old).
        replacements = dict(self.replacements)
        for k in self._users.pop(symbol, set()):
            if k in replacements:
                replacements[k] = replacements[k].xreplace({symbol: value})
                self._note_users(k, replacements[k])
        replacements[symbol] = value
        self._note_users(symbol, value)
        self.replacements = replacements
        self.version += 1
        self._subst_version += 1

    def _note_users(self, key: Expr, value: Expr) -> None:
        for s in symbols_in(value):
            self._users.setdefault(s, set()).add(key)

    def _learn_symbol_bound(self, op: str, d: Expr) -> Learned | None:
        """``c*s + k  op 0`` with one symbol: narrow that symbol's range."""
        if len(symbols_in(d)) != 1:
            return None
        (s,) = symbols_in(d)
        coeff = d.coeff(s)
        rest = d - coeff * s
        if not (coeff.is_Integer and coeff != 0 and rest.is_Integer and s.is_integer):
            return None
        c, k = int(coeff), int(rest)
        hi = -k - (1 if op == "<" else 0)  # c*s <= hi (or == for "==")
        lo_s: float | int
        hi_s: float | int
        if op == "==":
            lo_s = hi_s = hi // c
        elif c > 0:
            lo_s, hi_s = -math.inf, hi // c
        else:
            lo_s, hi_s = -((-hi) // c), math.inf
        self.narrow(s, ValueRanges(lo_s, hi_s))
        return Learned("range", s)

    def _learn_excluded_edge(self, d: Expr) -> Learned | None:
        """``s != c`` where c is an end of s's range: move that end inwards."""
        if not (d.is_Add and len(symbols_in(d)) == 1):
            return None
        (s,) = symbols_in(d)
        if d.coeff(s) not in (1, -1) or not (d - d.coeff(s) * s).is_Integer or not s.is_integer:
            return None
        c = -(d - d.coeff(s) * s) * d.coeff(s)
        r = self.ranges.get(s, self.default_range(s))
        if c == r.lower:
            self.narrow(s, ValueRanges(r.lower + 1, r.upper))
        elif c == r.upper:
            self.narrow(s, ValueRanges(r.lower, r.upper - 1))
        else:
            return None
        return Learned("range", s)

    def narrow(self, s: Expr, r: ValueRanges) -> ValueRanges:
        """The one way a symbol's range is written: intersect what is known with ``r``,
        round the ends to the symbol's divisor, and forget what was computed before.
        Returns the new range (empty if ``r`` contradicts what is known)."""
        # The ends' types are part of the event: 2 and 2.0 print differently.
        self._begin("narrow", (s, r), ("narrow", s, r, type(r.lower), type(r.upper)))
        try:
            old = self.ranges.get(s, self.default_range(s))
            self.ranges[s] = old.intersect(r)
            self._tighten(s)
            self.version += 1
            return self.ranges[s]
        finally:
            self._depth -= 1

    def _tighten(self, s: Expr) -> None:
        """Round the ends of a divisible symbol's range to multiples of its divisor."""
        k = self.divisible.get(s)
        r = self.ranges.get(s)
        if k is None or r is None:
            return
        lo = r.lower if math.isinf(r.lower) else -((-int(r.lower)) // k) * k
        hi = r.upper if math.isinf(r.upper) else (int(r.upper) // k) * k
        self.ranges[s] = ValueRanges(lo, hi)


def _dominant(bounder: Bounder, e: Expr, args: list[Expr]) -> Expr:
    """``Max``/``Min`` without the arguments that can never win: ``Max(1, s0)`` -> ``s0``
    when s0 >= 1, ``Max(a, 2*a)`` -> ``2*a`` when a >= 0, ``Max(a, Min(a, b))`` -> ``a``."""
    is_max = isinstance(e, sympy.Max)
    dual = sympy.Min if is_max else sympy.Max
    # Absorption: Max(a, Min(a, b)) == a and Min(a, Max(a, b)) == a, whatever a and b are.
    kept = [x for x in args if not (isinstance(x, dual) and any(o in x.args for o in args if o is not x))]
    ranges = [bounder.bound(x) for x in kept]
    for i, (x, r) in enumerate(zip(kept, ranges)):
        if all(_wins(bounder, x, o, r, ro, is_max) for j, (o, ro) in enumerate(zip(kept, ranges)) if j != i):
            return x
    return rebuild(e, kept) if kept != list(e.args) else e


def _wins(bounder: Bounder, x: Expr, o: Expr, r: ValueRanges, ro: ValueRanges, is_max: bool) -> bool:
    """``x >= o`` (for Max; ``x <= o`` for Min) wherever both are defined."""
    if (r.lower >= ro.upper) if is_max else (r.upper <= ro.lower):
        return True
    if not (symbols_in(x) & symbols_in(o)):
        return False  # uncorrelated: the ranges said all there is
    d = bounder.bound(x - o)
    return bool(d.lower >= 0) if is_max else bool(d.upper <= 0)


def _never_zero(d: Expr) -> bool:
    """``c1*x + c2*y + k`` is never 0 when gcd(c1, c2) does not divide k (x, y ints)."""
    if not d.is_Add:
        return False
    k, g = 0, 0
    for term in d.args:
        if term.is_Integer:
            k += int(term)
            continue
        coeff, rest = term.as_coeff_Mul()
        if not (coeff.is_Integer and rest.is_integer):
            return False
        g = math.gcd(g, int(coeff))
    return g > 1 and k % g != 0


def _symbol_order(s: Expr) -> tuple[int, str, int]:
    name: str = s.name
    prefix = name.rstrip("0123456789")
    digits = name[len(prefix):]
    return (1 if prefix.startswith("u") else 0, prefix, int(digits) if digits else -1)


class _FactBounder(Bounder):
    """A Bounder that also knows ranges learned for compound expressions."""

    def __init__(self, knowledge: Knowledge) -> None:
        super().__init__(knowledge.ranges, knowledge.default_range)
        self._diffs = knowledge.diff_ranges
        self._implied = knowledge.implied

    def _bound(self, e: Expr) -> ValueRanges:
        r = super()._bound(e)
        if e.is_Symbol and e in self._implied:
            return r.intersect(self._implied[e])
        if not self._diffs or e.is_Atom or is_bool_expr(e):
            return r
        extra = self._diffs.get(e)
        if extra is not None:
            r = r.intersect(extra)
        negated = self._diffs.get(-e)  # facts are stored on a - b; the query may ask b - a
        if negated is not None:
            r = r.intersect(ValueRanges(-negated.upper, -negated.lower))
        return r
