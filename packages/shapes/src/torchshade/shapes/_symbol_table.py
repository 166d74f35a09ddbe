"""SymbolTable: a ShapeEnv's symbols, and how an input's sizes become expressions.

    table.create_symbol(4, "x.size()[0]")             # s0: a new symbol, a duck-shaped
                                                      # one, a constant, or a Dim's 2*s0
    table.tensor_exprs(t, "x", policy, dims)          # t's sizes, strides, offset as expressions
    table.new_symbol(UNBACKED_INT, None, None, ...)   # u0, recorded in table.unbacked

Each symbol has a name (``_symbols.py``), its hint (``hints``; none for an
unbacked one), and a ``SymbolInfo``: the sources it was read from, its
``Dim`` and where it was made.  Every unbacked symbol also goes into
``unbacked`` (``_unbacked.py``), the one record of them.

Making a symbol decides nothing.  It writes the starting range of a new
symbol into the knowledge (sizes are >= 2 with ``specialize_zero_one``, a
Dim's symbol lies in the Dim's bounds) and hands each input's own
equalities (``x.size()[0] == 4`` for a static size, ``x.stride()[0] ==
x.size()[1]``) to ``record_input``, which the ShapeEnv points at its guard log.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import sympy
import torch

from ._dims import DerivedDim, Dim
from ._errors import DimHintMismatchError
from ._expr import Expr
from ._guards import GuardLog, Provenance
from ._knowledge import Knowledge
from ._ranges import ValueRanges
from ._symbols import BACKED_FLOAT, BACKED_INT, UNBACKED_FLOAT, UNBACKED_INT
from ._unbacked import UnbackedSymbols


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


RecordInput = Callable[[str, Expr, str], None]  # (source, the expression it equals, kind)


class SymbolTable:
    """The symbols of one ShapeEnv: made here, with their hints, sources and Dims."""

    def __init__(self, knowledge: Knowledge, log: GuardLog, record_input: RecordInput, *,
                 duck_shape: bool, specialize_zero_one: bool) -> None:  # fmt: skip
        self.knowledge = knowledge
        self.log = log
        self.record_input = record_input
        self.duck_shape = duck_shape
        self.specialize_zero_one = specialize_zero_one
        self.infos: dict[Expr, SymbolInfo] = {}
        self.hints: dict[Expr, int | float] = {}  # backed symbols only; grows in order
        self.unbacked = UnbackedSymbols()
        self._counters = {BACKED_INT: 0, BACKED_FLOAT: 0, UNBACKED_INT: 0, UNBACKED_FLOAT: 0}
        self._duck: dict[int, Expr] = {}
        self._dim_symbols: dict[str, Expr] = {}
        self._names: dict[Expr, str] = {}

    def new_symbol(self, prefix: str, hint: int | float | None, source: str | None,
                   **assumptions: bool) -> Expr:  # fmt: skip
        """The next symbol of ``prefix`` (``s``, ``zf``, ``u``, ``zuf``); the one place symbols are made."""
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
        """See ``ShapeEnv.create_symbol``."""
        if dim is not None:
            return self._dim_expr(dim, hint, source)
        small = hint in (0, 1) and self.specialize_zero_one and dynamic is not DimDynamic.SIZE_LIKE
        if dynamic is DimDynamic.STATIC or small:
            self.record_input(source, sympy.Integer(hint), "static")
            return sympy.Integer(hint)
        duck = dynamic is DimDynamic.DUCK or (dynamic is DimDynamic.DYNAMIC and self.duck_shape)
        if duck and hint in self._duck:
            symbol = self._duck[hint]
            self.infos[symbol].sources.append(source)
            self.record_input(source, symbol, "duck")
            return symbol
        assumptions = {"integer": True, "nonnegative": True} if is_size else {"integer": True}
        symbol = self.new_symbol(BACKED_INT, hint, source, **assumptions)
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
            symbol = self.new_symbol(BACKED_INT, root_hint, text, integer=True, nonnegative=True)
            self.infos[symbol].dim = root
            self._dim_symbols[root.name] = symbol
            self.knowledge.narrow(symbol, ValueRanges(root.min, root.max))
            self.knowledge.protected.add(symbol)
            self.log.range_origin[symbol] = self.infos[symbol].origin
            expr = coeff * symbol + offset
            if coeff != 1:
                self.record_input(source, expr, "dim")
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
        self.record_input(source, expr, "dim")
        return expr

    def tensor_exprs(
        self,
        t: torch.Tensor,
        source: str,
        dynamic_dims: Sequence[DimDynamic] | None,
        dims: Mapping[int, Dim | DerivedDim] | None,
    ) -> tuple[list[Expr], list[Expr], Expr]:
        """``t``'s sizes, strides and storage offset as expressions, read from ``source``."""
        policy = dynamic_dims if dynamic_dims is not None else [DimDynamic.DYNAMIC] * t.dim()
        if len(policy) != t.dim():
            raise ValueError(
                f"dynamic_dims has {len(policy)} entries but {source} has {t.dim()} dimensions; "
                "pass one DimDynamic per dimension"
            )
        dims = dims or {}
        sizes = [
            self.create_symbol(int(n), f"{source}.size()[{i}]", policy[i], dim=dims.get(i))
            for i, n in enumerate(t.size())
        ]
        strides = self._stride_exprs(t, source, sizes, policy)
        # A nonzero offset (a view's) is a symbol like a size, as in torch.
        static = all(p is DimDynamic.STATIC for p in policy)
        offset_policy = DimDynamic.STATIC if static else DimDynamic.DYNAMIC
        offset = self.create_symbol(int(t.storage_offset()), f"{source}.storage_offset()", offset_policy)
        return sizes, strides, offset

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
                self.record_input(source_i, out[i], "layout")
            else:
                out[i] = self.create_symbol(strides[i], source_i, DimDynamic.DYNAMIC)
            expected = strides[i] * int(t.size(i))
            expected_expr = out[i] * sizes[i]
        return out

    def names(self) -> dict[Expr, str]:
        """Each symbol's first source, for printing guards as Python (shared: do not modify).

        Kept until a symbol is added: a symbol's first source never changes.
        """
        if len(self._names) != len(self.infos):
            self._names = {s: i.sources[0] for s, i in self.infos.items()}
        return self._names

    def sources(self) -> set[str]:
        """Every source a symbol was read from."""
        return {s for info in self.infos.values() for s in info.sources}
