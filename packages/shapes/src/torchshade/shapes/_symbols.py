"""Symbol names and the free-symbol queries over SymInts, tensors and sequences.

Names follow torch's convention, which torch's own helpers rely on (its
``free_unbacked_symbols`` tells unbacked symbols by their name's prefix):

    s0, s1, ...     backed ints (they have a hint)
    zf0, ...        backed floats
    u0, u1, ...     unbacked ints (value range only)
    zuf0, ...       unbacked floats
"""

from __future__ import annotations

from collections.abc import Iterator

import sympy
import torch

from ._expr import Expr

BACKED_INT = "s"
BACKED_FLOAT = "zf"
UNBACKED_INT = "u"
UNBACKED_FLOAT = "zuf"


def is_unbacked_symbol(symbol: Expr) -> bool:
    """True for symbols with no hint: ``u*`` ints and ``zuf*`` floats."""
    name: str = symbol.name
    return name.startswith(UNBACKED_INT) or name.startswith(UNBACKED_FLOAT)


def _exprs(value: object) -> Iterator[Expr]:
    if isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        yield value.node.expr
    elif isinstance(value, sympy.Basic):
        yield value
    elif isinstance(value, torch.Tensor):
        yield from _exprs(tuple(value.size()))
        if value.layout == torch.strided:
            yield from _exprs(tuple(value.stride()))
            yield from _exprs(value.storage_offset())
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _exprs(item)


def free_symbols(value: object) -> set[Expr]:
    """Every sympy symbol in a SymInt/SymFloat/SymBool, tensor or nested sequence."""
    out: set[Expr] = set()
    for expr in _exprs(value):
        out |= expr.free_symbols
    return out


def free_unbacked_symbols(value: object) -> set[Expr]:
    """The unbacked symbols (``u0``, ``zuf0``, ...) in ``value``'s expressions."""
    return {s for s in free_symbols(value) if is_unbacked_symbol(s)}


def has_free_symbols(value: object) -> bool:
    """True when any expression in ``value`` is not a plain number."""
    return any(e.free_symbols for e in _exprs(value))
