"""ShapeEnv: owns every symbol, decides on symbolic values, records guards.

    env = ShapeEnv()
    sizes, strides, offset = env.create_symbolic_sizes_strides_storage_offset(x, "x")
    # sizes == (s0, s1) as torch.SymInt; branching on them records guards
    env.format_guards()

It is a facade over parts with one job each, which share one ``Knowledge``
(what is known: ranges, replacements, facts; ``_knowledge.py``):

    symbols   SymbolTable   making symbols: hints, sources, duck shapes, Dims
    decider   Decider       answering questions: static, or on hints with a guard
    log       GuardLog      the guards and runtime asserts, built, checked, printed

Its methods and attributes are torch's ShapeEnv's.  The questions (``decide``,
``evaluate_expr``, ``hint_of``, ...) are the decider's methods bound once onto
the env, and ``hints``, ``infos``, ``size_like``, ``unbacked`` are the parts'
own containers: a SymNode asks on every operation, through no extra call.

Defaults, torch's:

* ``duck_shape=True``: dimensions whose example sizes are equal share one
  symbol (every 768 of GPT-2's weights is the same symbol), as torch's
  ShapeEnv and ``make_fx(..., tracing_mode="symbolic")`` do; the trace then
  holds for inputs where those sizes stay equal, and a guard on inputs says
  so.  ``duck_shape=False`` gives every dimension its own symbol, so a trace
  never requires two sizes to be equal unless the program does: that
  equality is then a guard with its line, and one symbol replaces the other.
  It makes many more symbols (GPT-2 with every weight symbolic: 200 instead
  of 7) and costs more time.
* ``specialize_zero_one=True``: example sizes 0 and 1 become constants, and
  every dynamic size gets the range [2, inf], so broadcasting questions
  (``s0 == 1``?) are answered by the range without a guard.  (As torch.)

Not torch's: ``reuse_answers=True`` reads and adds to what other envs in the
same knowledge state worked out (``simplify`` and ``evaluate_static``
answers, and torchshade.fake's dispatch-cache entries), and hands out the
same SymNode again for a repeated operation (``env.nodes``).  ``False``
works everything out again, for this env only: slower, and the way around
a wrong reused answer should one ever be found
(``TORCHSHADE_SHAPES_CROSSCHECK=1`` checks every shared one).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

import sympy
import torch

from ._expr import Expr
from ._decider import Decider
from ._dims import DerivedDim, Dim
from ._guards import Guard, GuardFailure, GuardLog, Provenance, RuntimeAssert, guards_function, source_root
from ._knowledge import Knowledge
from ._node import KeepNothing, NodeMemo, SymNode
from ._ranges import ValueRanges
from ._snapshot import rollback_on_error
from ._symbol_table import DimDynamic, SymbolTable
from ._symbols import BACKED_FLOAT, UNBACKED_FLOAT, UNBACKED_INT, is_unbacked_symbol

SizeLike = int | torch.SymInt


class ShapeEnv:
    """Owns symbols, their hints, ranges and sources, and the guards on them (see the module docstring)."""

    def __init__(self, *, duck_shape: bool = True, specialize_zero_one: bool = True,
                 reuse_answers: bool = True) -> None:  # fmt: skip
        self.knowledge = Knowledge()
        self.knowledge.shares = reuse_answers
        self.log = GuardLog()
        self.symbols = SymbolTable(self.knowledge, self.log, self.record_source_equality,
                                   duck_shape=duck_shape, specialize_zero_one=specialize_zero_one)  # fmt: skip
        self.decider = Decider(self.knowledge, self.symbols, self.log)
        # The parts' containers, shared (never rebound: a rollback refills them in place).
        self.hints = self.symbols.hints
        self.infos = self.symbols.infos
        self.unbacked = self.symbols.unbacked  # every unbacked symbol made, in order (_unbacked.py)
        self.size_like = self.decider.size_like
        # The questions, bound once (SymNode asks on every branch; see _reasoner.py).
        decider = self.decider
        self.decide = decider.decide
        self.decide_size_oblivious = decider.decide_size_oblivious
        self.expect_true = decider.expect_true
        self.evaluate_expr = decider.evaluate_expr
        self.evaluate_sym_node = decider.evaluate_sym_node
        self.hint_of = decider.hint_of
        self.simplify = decider.simplify
        self.bound_sympy = decider.bound_sympy
        self._maybe_evaluate_static = decider._maybe_evaluate_static
        self.guarding_hint_or_throw = decider.guarding_hint_or_throw
        self.optimization_hint = decider.optimization_hint
        self.size_hint = decider.size_hint
        # Attributes torch's meta kernels and fake impls read.
        self.allow_dynamic_output_shape_ops = True
        self.allow_scalar_outputs = True
        self.unbacked_renamings: dict[Expr, Expr] = {}
        # SymNodes already made for an operation on the same operand nodes (_node.py).
        self.nodes = NodeMemo() if reuse_answers else KeepNothing()

    def _parts(self) -> tuple[object, ...]:
        """Every object whose state the env's answers depend on (what a rollback restores)."""
        return (self.symbols, self.unbacked, self.decider, self.knowledge, self.log)

    # -- settings (the symbol table's) -----------------------------------------
    @property
    def duck_shape(self) -> bool:
        return self.symbols.duck_shape

    @duck_shape.setter
    def duck_shape(self, value: bool) -> None:
        self.symbols.duck_shape = value

    @property
    def specialize_zero_one(self) -> bool:
        return self.symbols.specialize_zero_one

    @specialize_zero_one.setter
    def specialize_zero_one(self, value: bool) -> None:
        self.symbols.specialize_zero_one = value

    @property
    def suppressed(self) -> int:
        """How many ``suppress_guards()`` are open (> 0: decisions record nothing)."""
        return self.decider.suppressed

    # -- torch-compatible views of the knowledge ----------------------------
    @property
    def var_to_range(self) -> dict[Expr, ValueRanges]:
        return {s: self.knowledge.ranges.get(s, self.knowledge.default_range(s)) for s in self.infos}

    @property
    def replacements(self) -> dict[Expr, Expr]:
        return dict(self.knowledge.replacements)

    @property
    def divisible(self) -> dict[Expr, int]:
        return dict(self.knowledge.divisible)

    @property
    def var_to_sources(self) -> dict[Expr, list[str]]:
        return {s: list(i.sources) for s, i in self.infos.items()}

    @property
    def backed_var_to_val(self) -> dict[Expr, int | float]:
        return dict(self.hints)

    var_to_val = backed_var_to_val

    @property
    def pending_fresh_unbacked_symbols(self) -> list[Expr]:
        """torch's name: the unbacked symbols made so far, a copy of ``unbacked``'s record."""
        return list(self.unbacked.symbols)

    def is_unbacked(self, symbol: Expr) -> bool:
        """True for a symbol with no hint (``u0``, ``zuf0``)."""
        return is_unbacked_symbol(symbol)

    def is_unbacked_symint(self, symbol: Expr) -> bool:
        return is_unbacked_symbol(symbol) and symbol.name.startswith(UNBACKED_INT)

    # -- symbols -------------------------------------------------------------
    def node(self, expr: Expr, hint: Any, pytype: type) -> SymNode:
        """A SymNode of this env for ``expr``."""
        return SymNode(expr, self, pytype, hint)

    def create_symbol(self, hint: int, source: str, dynamic: DimDynamic = DimDynamic.DYNAMIC,
                      *, dim: Dim | DerivedDim | None = None, is_size: bool = True) -> Expr:  # fmt: skip
        """A sympy expression for an input size (or, with ``is_size=False``, any int):
        a constant, a symbol, or a Dim's expression.  Sizes are >= 0 and, with
        ``specialize_zero_one``, dynamic ones get the range [2, inf]; other ints
        keep the whole range (0 and 1 still specialize, as torch does)."""
        return self.symbols.create_symbol(hint, source, dynamic, dim=dim, is_size=is_size)

    def create_symint(self, hint: int, source: str, dynamic: DimDynamic = DimDynamic.DYNAMIC,
                      *, is_size: bool = True) -> SizeLike:  # fmt: skip
        """A SymInt for an int input named ``source`` (an int if it specializes).

        By default the int is a size (>= 0, range [2, inf] when dynamic); pass
        ``is_size=False`` for an int that may be negative.
        """
        return self.symint_from_expr(self.create_symbol(hint, source, dynamic, is_size=is_size), hint)

    def create_symbolic_sizes_strides_storage_offset(
        self,
        t: torch.Tensor,
        source: str,
        *,
        dynamic_dims: Sequence[DimDynamic] | None = None,
        dims: Mapping[int, Dim | DerivedDim] | None = None,
    ) -> tuple[tuple[SizeLike, ...], tuple[SizeLike, ...], SizeLike]:
        """Symbolic sizes, strides and storage offset for ``t``, named ``source``.

        Size ``i`` has source ``f"{source}.size()[{i}]"``.  Strides of a
        contiguous (or dense, permuted) tensor are products of sizes; any
        other stride gets its own symbol.  ``dims`` maps dimensions to ``Dim``
        constraints; an example size that does not fit its ``Dim`` raises
        ``DimHintMismatchError`` and leaves the env as it was.  Converting
        records no guard in ``guards``; the guards on this input's sizes,
        strides and offset come from ``input_guards()``.
        """
        if dims:
            with rollback_on_error(*self._parts()):
                sizes, strides, offset = self.symbols.tensor_exprs(t, source, dynamic_dims, dims)
        else:
            sizes, strides, offset = self.symbols.tensor_exprs(t, source, dynamic_dims, dims)
        return (
            tuple(self.symint_from_expr(e, int(n)) for e, n in zip(sizes, t.size())),
            tuple(self.symint_from_expr(e, int(n)) for e, n in zip(strides, t.stride())),
            self.symint_from_expr(offset, int(t.storage_offset())),
        )

    def create_unbacked_symint(self, source: str | None = None) -> torch.SymInt:
        """A fresh int ``u<n>`` with no hint and range [-inf, inf]."""
        symbol = self.symbols.new_symbol(UNBACKED_INT, None, source, integer=True)
        return torch.SymInt(self.node(symbol, None, int))

    def create_unbacked_symfloat(self, source: str | None = None) -> torch.SymFloat:
        """A fresh float ``zuf<n>`` with no hint."""
        symbol = self.symbols.new_symbol(UNBACKED_FLOAT, None, source, real=True)
        return torch.SymFloat(self.node(symbol, None, float))

    def create_unbacked_symbool(self, source: str | None = None) -> torch.SymBool:
        """A fresh bool: ``Eq(u<n>, 1)`` for an unbacked int ``u<n>`` in [0, 1]."""
        symbol = self.symbols.new_symbol(UNBACKED_INT, None, source, integer=True)
        self.knowledge.narrow(symbol, ValueRanges(0, 1))
        return torch.SymBool(self.node(sympy.Eq(symbol, 1), None, bool))

    def create_symfloat(self, hint: float, source: str) -> torch.SymFloat:
        """A backed float symbol ``zf<n>`` for a float input named ``source``."""
        symbol = self.symbols.new_symbol(BACKED_FLOAT, float(hint), source, real=True)
        return torch.SymFloat(self.node(symbol, float(hint), float))

    def symint_from_expr(self, expr: Expr, hint: int | None) -> SizeLike:
        """A plain int for a constant expression, else a SymInt on our node."""
        if expr.is_Integer:
            return int(expr)
        return torch.SymInt(self.node(expr, hint, int))

    # -- ranges the user or torch's fake impls set -----------------------------------
    def _constrain_range_for_size(self, a: Any, min: Any = None, max: Any = None) -> None:
        """Mark ``a`` as a size: range [max(min, 0), max]; torch's fake impls call this."""
        self._constrain_range(a, 0 if min is None else min, max)
        symbol = a.node.expr if hasattr(a, "node") else sympy.sympify(a)
        if symbol.is_Symbol:
            self.size_like.add(symbol)

    def _constrain_range(self, a: Any, min: Any, max: Any) -> None:
        symbol = a.node.expr if hasattr(a, "node") else sympy.sympify(a)
        lo = _as_bound(min, -math.inf)
        hi = _as_bound(max, math.inf)
        if hi < lo:
            raise ValueError(f"cannot constrain {symbol} to [{lo}, {hi}]: max is below min")
        if symbol.is_Integer:
            if not lo <= int(symbol) <= hi:
                raise ValueError(f"Invalid value {symbol} for range [{lo}:{hi}]")
            return
        self.knowledge.narrow(symbol, ValueRanges(lo, hi))

    constrain_range = _constrain_range

    # -- guards out ------------------------------------------------------------
    @contextlib.contextmanager
    def suppress_guards(self) -> Iterator[None]:
        """Inside, decisions answer from hints but record no guard and learn nothing."""
        self.decider.suppressed += 1
        try:
            yield
        finally:
            self.decider.suppressed -= 1

    @property
    def guards(self) -> list[Guard]:
        """One guard per decision taken while evaluating, in order, as torch's ``ShapeEnv.guards``.

        ``bool(s0 > 3)`` appends ``s0 > 3`` (``.expr``), ``int(s0)`` appends
        ``Eq(s0, 4)``.  A question already settled (by ranges, replacements,
        divisibility, earlier guards) appends nothing, nor does converting an
        input: the guards on inputs come from ``input_guards()``.
        """
        return self.log.decision_guards(self.names())

    def input_guards(self, sources: Collection[str] | None = None) -> list[Guard]:
        """The guards new inputs must satisfy to reuse the trace (torch's ``produce_guards``).

        The minimal merged set over the inputs' sources: each converted
        input's sizes, strides and storage offset (constants, shared symbols,
        ``Dim`` expressions, strides as products of sizes), one bound per
        narrowed symbol (``2 <= s0`` and a later ``s0 > 3`` give ``4 <= s0``),
        and the decisions that the ranges, replacements and divisibility do
        not already imply.  With ``sources`` (input names such as ``"x"``),
        only the guards that read those inputs and no others.
        """
        guards = self.log.input_guards(self.knowledge, self.hints, self.names)
        if sources is None:
            return guards
        wanted, names = set(sources), self.names()
        return [g for g in guards if {source_root(names.get(s, s.name)) for s in g.expr.free_symbols} <= wanted]

    @property
    def runtime_asserts(self) -> list[RuntimeAssert]:
        """Conditions on unbacked symbols promised with ``torch._check``."""
        return list(self.log.asserts)

    def format_guards(self) -> str:
        """The input guards, one a line: Python source, sympy text and provenance."""
        return "\n".join(f" - {g}" for g in self.input_guards())

    def format_runtime_asserts(self) -> str:
        return "\n".join(f" - {a}" for a in self.log.asserts)

    def guards_source(self, function_name: str = "check_guards") -> str:
        """A Python function over the inputs (by their source names) that returns
        True when every input guard holds, one guard per line with its provenance."""
        return guards_function(function_name, self.input_guards(), self._sources())

    def check_guards(self, inputs: Mapping[str, object]) -> list[GuardFailure]:
        """The input guards that new ``inputs`` violate; ``[]`` when the trace is valid for them.

        ``inputs`` maps each input's name to its value (``{"x": x}``); each
        failure names the guard, the values it saw and where it comes from.
        The one way to check guards: ``not env.check_guards(inputs)`` is the
        yes/no answer (all guards at once, compiled, when they hold).  Raises
        ``GuardSourceError`` when an input a guard reads is missing.
        """
        return self.log.check(self.input_guards(), inputs, self.names)

    def _sources(self) -> set[str]:
        return self.symbols.sources() | {s for r in self.log.needed for s in r.sources}

    def record_source_equality(self, source: str, expr: Expr, kind: str) -> None:
        """An input guard made by converting an input: ``source`` equals ``expr``."""
        if not self.decider.suppressed:
            self.log.record_input(source, expr, Provenance.capture(), kind)

    def names(self) -> dict[Expr, str]:
        """Each symbol's first source, for printing guards as Python (shared: do not modify)."""
        return self.symbols.names()

    def __repr__(self) -> str:
        return f"ShapeEnv({len(self.infos)} symbols, {len(self.log.decisions)} guards recorded)"


def _as_bound(x: Any, default: float) -> int | float:
    """An int, or +-inf for None and for infinities of any kind (torch passes its own int_oo)."""
    if x is None:
        return default
    if isinstance(x, int):
        return x
    f = float(x)
    return f if math.isinf(f) else int(x)
