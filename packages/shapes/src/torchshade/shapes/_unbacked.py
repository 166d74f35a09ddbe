"""UnbackedSymbols: the one record of the unbacked symbols a ShapeEnv made, in order.

Every unbacked symbol (``u0`` from ``.item()``, ``nonzero``, a custom op's
``new_dynamic_size``, a ``cond`` whose branches disagree, ...) is made by
the env's symbol table, which adds it here; nothing else makes one.  Whoever
needs to know which symbols a piece of work made reads this record around
it, so no route to a new symbol can be missed:

    mark = env.unbacked.mark()
    out = run_the_kernel()                   # or one FX node
    fresh = env.unbacked.fresh_since(mark)   # [u3, u4]: made meanwhile

The fake tensor cache stores no call that made one (each call must get its
own symbols); ``FakeTensorProp`` binds each one to where it appears in the
node's value.  torch's name for such a list, ``pending_fresh_unbacked_symbols``,
is a copy of it (torch's code clears that list once it has bound them).
"""

from __future__ import annotations

from ._expr import Expr


class UnbackedSymbols:
    """The unbacked symbols of one ShapeEnv, in the order they were made."""

    __slots__ = ("symbols",)

    def __init__(self) -> None:
        self.symbols: list[Expr] = []

    def add(self, symbol: Expr) -> None:
        self.symbols.append(symbol)

    def mark(self) -> int:
        """A position to pass to ``fresh_since`` later."""
        return len(self.symbols)

    def fresh_since(self, mark: int) -> list[Expr]:
        """The unbacked symbols made after ``mark`` was taken, in order."""
        return self.symbols[mark:]

    def __repr__(self) -> str:
        return f"UnbackedSymbols({self.symbols})"
