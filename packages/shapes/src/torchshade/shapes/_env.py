"""ShapeEnv: owns every symbol, decides on symbolic values, records guards.

    env = ShapeEnv()
    sizes, strides, offset = env.create_symbolic_sizes_strides_storage_offset(x, "x")
    # sizes == (s0, s1) as torch.SymInt; branching on them records guards
    env.format_guards()

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
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import sympy
import torch

from ._expr import Expr
from ._dims import DerivedDim, Dim
from ._errors import DimHintMismatchError
from ._guards import Guard, GuardFailure, Provenance, RuntimeAssert, guards_function, source_root
from ._knowledge import Knowledge
from ._ranges import ValueRanges
from ._reasoner import Reasoner
from ._snapshot import rollback_on_error
from ._symbols import BACKED_FLOAT, BACKED_INT, UNBACKED_FLOAT, UNBACKED_INT, is_unbacked_symbol
from ._unbacked import UnbackedSymbols

SizeLike = int | torch.SymInt


class DimDynamic(enum.Enum):
    """How ``create_symbol`` treats one dimension.

    STATIC:    the example size becomes a constant (a guard checks it).
    DYNAMIC:   a fresh symbol (shared with equal sizes only if ``duck_shape``).
    DUCK:      a symbol shared with every earlier DUCK/DYNAMIC size of equal hint.
    SIZE_LIKE: a fresh symbol even for sizes 0 and 1, with range [0, inf].
    """

    STATIC = "static"
    DYNAMIC = "dynamic"
    DUCK = "duck"
    SIZE_LIKE = "size_like"


@dataclass
class SymbolInfo:
    """What the env knows about one symbol besides its range."""

    symbol: Expr
    hint: int | float | None
    sources: list[str] = field(default_factory=list)
    dim: Dim | None = None
    origin: Provenance | None = None


class ShapeEnv(Reasoner):
    """Owns symbols, their hints, ranges and sources, and the guards on them."""

    def __init__(self, *, duck_shape: bool = True, specialize_zero_one: bool = True) -> None:
        super().__init__()
        self.duck_shape = duck_shape
        self.specialize_zero_one = specialize_zero_one
        self.infos: dict[Expr, SymbolInfo] = {}
        self._counters = {BACKED_INT: 0, BACKED_FLOAT: 0, UNBACKED_INT: 0, UNBACKED_FLOAT: 0}
        self._duck: dict[int, Expr] = {}
        self._dim_symbols: dict[str, Expr] = {}
        # Attributes torch's meta kernels and fake impls read.
        self.allow_dynamic_output_shape_ops = True
        self.allow_scalar_outputs = True
        self.unbacked_renamings: dict[Expr, Expr] = {}
        self.unbacked = UnbackedSymbols()  # every unbacked symbol made, in order (_unbacked.py)
        self._names: dict[Expr, str] = {}

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
    def _new_symbol(self, prefix: str, hint: int | float | None, source: str | None,
                    **assumptions: bool) -> Expr:  # fmt: skip
        index = self._counters[prefix]
        self._counters[prefix] = index + 1
        symbol = sympy.Symbol(f"{prefix}{index}", **assumptions)
        self.infos[symbol] = SymbolInfo(symbol, hint, [source or symbol.name], None, Provenance.capture())
        if hint is not None:
            self.hints[symbol] = hint
        if prefix in (UNBACKED_INT, UNBACKED_FLOAT):
            self.unbacked.add(symbol)  # the one record every unbacked symbol goes into
        return symbol

    def create_symbol(self, hint: int, source: str, dynamic: DimDynamic = DimDynamic.DYNAMIC,
                      *, dim: Dim | DerivedDim | None = None, is_size: bool = True) -> Expr:  # fmt: skip
        """A sympy expression for an input size (or, with ``is_size=False``, any int):
        a constant, a symbol, or a Dim's expression.  Sizes are >= 0 and, with
        ``specialize_zero_one``, dynamic ones get the range [2, inf]; other ints
        keep the whole range (0 and 1 still specialize, as torch does)."""
        if dim is not None:
            return self._dim_expr(dim, hint, source)
        small = hint in (0, 1) and self.specialize_zero_one and dynamic is not DimDynamic.SIZE_LIKE
        if dynamic is DimDynamic.STATIC or small:
            self.record_source_equality(source, sympy.Integer(hint), "static")
            return sympy.Integer(hint)
        duck = dynamic is DimDynamic.DUCK or (dynamic is DimDynamic.DYNAMIC and self.duck_shape)
        if duck and hint in self._duck:
            symbol = self._duck[hint]
            self.infos[symbol].sources.append(source)
            self.record_source_equality(source, symbol, "duck")
            return symbol
        assumptions = {"integer": True, "nonnegative": True} if is_size else {"integer": True}
        symbol = self._new_symbol(BACKED_INT, hint, source, **assumptions)
        if is_size and self.specialize_zero_one and dynamic is not DimDynamic.SIZE_LIKE:
            self.knowledge.narrow(symbol, ValueRanges(2, float("inf")))
            self.log.range_origin[symbol] = self.infos[symbol].origin
        if duck:
            self._duck[hint] = symbol
        return symbol

    def _dim_expr(self, dim: Dim | DerivedDim, hint: int, source: str) -> Expr:
        root = dim.root if isinstance(dim, DerivedDim) else dim
        coeff, offset = (dim.coeff, dim.offset) if isinstance(dim, DerivedDim) else (1, 0)
        root_hint = (hint - offset) // coeff
        if (hint - offset) % coeff or not root.min <= root_hint <= root.max:
            why = (f"no int value of {root.name} gives {dim} == {hint}" if (hint - offset) % coeff
                   else f"{root.name} would be {root_hint}, outside [{root.min}, {root.max}]")  # fmt: skip
            raise DimHintMismatchError(
                f"{source} = {hint} does not fit {dim}: {why}. "
                "Pass an example input that satisfies the declared Dim, or change the Dim."
            )
        symbol = self._dim_symbols.get(root.name)
        if symbol is None:
            shifted = f"({source} - {offset})" if offset > 0 else f"({source} + {-offset})" if offset else source
            text = shifted if coeff == 1 else f"({shifted} // {coeff})"
            symbol = self._new_symbol(BACKED_INT, root_hint, text, integer=True, nonnegative=True)
            self.infos[symbol].dim = root
            self._dim_symbols[root.name] = symbol
            self.knowledge.narrow(symbol, ValueRanges(root.min, root.max))
            self.knowledge.protected.add(symbol)
            self.log.range_origin[symbol] = self.infos[symbol].origin
            expr = coeff * symbol + offset
            if coeff != 1:
                self.record_source_equality(source, expr, "dim")
            return expr
        if self.hints[symbol] != root_hint:
            first = self.infos[symbol].sources[0]
            raise DimHintMismatchError(
                f"{source} = {hint} does not fit {dim}: {root.name} is {self.hints[symbol]} "
                f"(from {first}), so {dim} would be {coeff * self.hints[symbol] + offset}. "
                "Pass example inputs whose sizes agree with the declared Dims."
            )
        self.infos[symbol].sources.append(source)
        expr = coeff * symbol + offset
        self.record_source_equality(source, expr, "dim")
        return expr

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
            with rollback_on_error(self, self.knowledge, self.log, self.unbacked):
                return self._create_sizes_strides_offset(t, source, dynamic_dims, dims)
        return self._create_sizes_strides_offset(t, source, dynamic_dims, dims)

    def _create_sizes_strides_offset(
        self,
        t: torch.Tensor,
        source: str,
        dynamic_dims: Sequence[DimDynamic] | None,
        dims: Mapping[int, Dim | DerivedDim] | None,
    ) -> tuple[tuple[SizeLike, ...], tuple[SizeLike, ...], SizeLike]:
        policy = dynamic_dims if dynamic_dims is not None else [DimDynamic.DYNAMIC] * t.dim()
        if len(policy) != t.dim():
            raise ValueError(
                f"dynamic_dims has {len(policy)} entries but {source} has {t.dim()} dimensions; "
                "pass one DimDynamic per dimension"
            )
        dims = dims or {}
        size_exprs = [
            self.create_symbol(int(n), f"{source}.size()[{i}]", policy[i], dim=dims.get(i))
            for i, n in enumerate(t.size())
        ]
        stride_exprs = self._stride_exprs(t, source, size_exprs, policy)
        # A nonzero offset (a view's) is a symbol like a size, as in torch.
        static = all(p is DimDynamic.STATIC for p in policy)
        offset_policy = DimDynamic.STATIC if static else DimDynamic.DYNAMIC
        offset = self.create_symbol(int(t.storage_offset()), f"{source}.storage_offset()", offset_policy)
        return (
            tuple(self.symint_from_expr(e, int(n)) for e, n in zip(size_exprs, t.size())),
            tuple(self.symint_from_expr(e, int(n)) for e, n in zip(stride_exprs, t.stride())),
            self.symint_from_expr(offset, int(t.storage_offset())),
        )

    def _stride_exprs(self, t: torch.Tensor, source: str, sizes: list[Expr],
                      policy: Sequence[DimDynamic]) -> list[Expr]:  # fmt: skip
        """Strides as products of sizes, innermost first, where the layout is dense."""
        strides = [int(s) for s in t.stride()]
        out: list[Expr] = [None] * len(strides)
        expected, expected_expr = 1, sympy.Integer(1)
        for i in sorted(range(len(strides)), key=lambda d: (strides[d], -d)):
            source_i = f"{source}.stride()[{i}]"
            if strides[i] == expected or all(p is DimDynamic.STATIC for p in policy):
                out[i] = expected_expr if strides[i] == expected else sympy.Integer(strides[i])
                self.record_source_equality(source_i, out[i], "layout")
            else:
                out[i] = self.create_symbol(strides[i], source_i, DimDynamic.DYNAMIC)
            expected = strides[i] * int(t.size(i))
            expected_expr = out[i] * sizes[i]
        return out

    def create_unbacked_symint(self, source: str | None = None) -> torch.SymInt:
        """A fresh int ``u<n>`` with no hint and range [-inf, inf]."""
        symbol = self._new_symbol(UNBACKED_INT, None, source, integer=True)
        return torch.SymInt(self.node(symbol, None, int))

    def create_unbacked_symfloat(self, source: str | None = None) -> torch.SymFloat:
        """A fresh float ``zuf<n>`` with no hint."""
        symbol = self._new_symbol(UNBACKED_FLOAT, None, source, real=True)
        return torch.SymFloat(self.node(symbol, None, float))

    def create_unbacked_symbool(self, source: str | None = None) -> torch.SymBool:
        """A fresh bool: ``Eq(u<n>, 1)`` for an unbacked int ``u<n>`` in [0, 1]."""
        symbol = self._new_symbol(UNBACKED_INT, None, source, integer=True)
        self.knowledge.narrow(symbol, ValueRanges(0, 1))
        return torch.SymBool(self.node(sympy.Eq(symbol, 1), None, bool))

    def create_symfloat(self, hint: float, source: str) -> torch.SymFloat:
        """A backed float symbol ``zf<n>`` for a float input named ``source``."""
        symbol = self._new_symbol(BACKED_FLOAT, float(hint), source, real=True)
        return torch.SymFloat(self.node(symbol, float(hint), float))

    def symint_from_expr(self, expr: Expr, hint: int | None) -> SizeLike:
        """A plain int for a constant expression, else a SymInt on our node."""
        if expr.is_Integer:
            return int(expr)
        return torch.SymInt(self.node(expr, hint, int))

    # -- guards out ------------------------------------------------------------
    @contextlib.contextmanager
    def suppress_guards(self) -> Iterator[None]:
        """Inside, decisions answer from hints but record no guard and learn nothing."""
        self.suppressed += 1
        try:
            yield
        finally:
            self.suppressed -= 1

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
        sources = {s for info in self.infos.values() for s in info.sources}
        return sources | {s for r in self.log.needed for s in r.sources}

    def record_source_equality(self, source: str, expr: Expr, kind: str) -> None:
        """An input guard made by converting an input: ``source`` equals ``expr``."""
        if not self.suppressed:
            self.log.record_input(source, expr, Provenance.capture(), kind)

    def names(self) -> dict[Expr, str]:
        """Each symbol's first source, for printing guards as Python (shared: do not modify).

        Kept until a symbol is added: a symbol's first source never changes.
        """
        if len(self._names) != len(self.infos):
            self._names = {s: i.sources[0] for s, i in self.infos.items()}
        return self._names

    def __repr__(self) -> str:
        return f"ShapeEnv({len(self.infos)} symbols, {len(self.log.decisions)} guards recorded)"

