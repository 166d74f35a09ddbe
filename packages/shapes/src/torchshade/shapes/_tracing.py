"""The one point every SymNode operation passes, where a tracer can record it.

A tracer (``torchshade.trace``) enters ``sym_op_tracing(callback)`` while it
runs a program; each new ``SymNode`` made from others (``s0 * 2``,
``sym_max(s0, s1)``, ``s0 == 4``) is then reported as
``callback(op, inputs, out)``, where ``op`` is the SymNode method's name
(``"mul"``, ``"sym_max"``, ``"eq"``, ``"sym_sum"``, ...), ``inputs`` the
operand nodes in order and ``out`` the new node.  Only the innermost callback
is called, so a nested trace sees its own operations only.

shapes never imports a tracer: the registry is a stack of plain callables.
Outside any ``sym_op_tracing`` block the cost is one truth test of an empty
list per operation.

Example::

    >>> seen = []
    >>> with sym_op_tracing(lambda op, inputs, out: seen.append(op)):
    ...     n = s0 * 2          # s0 a torch.SymInt of a ShapeEnv
    >>> seen
    ['mul']
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._node import SymNode

SymOpCallback = Callable[[str, "tuple[SymNode, ...]", "SymNode"], None]

# The stack of active callbacks; ``_node`` tests it before calling ``record``.
ACTIVE: list[SymOpCallback] = []


@contextlib.contextmanager
def sym_op_tracing(callback: SymOpCallback) -> Iterator[None]:
    """Report every SymNode operation made inside the block to ``callback``."""
    ACTIVE.append(callback)
    try:
        yield
    finally:
        for i in range(len(ACTIVE) - 1, -1, -1):  # the innermost entry of this callback
            if ACTIVE[i] is callback:
                del ACTIVE[i]
                break


def record(op: str, inputs: tuple[SymNode, ...], out: SymNode) -> None:
    """Called by ``SymNode`` for each new node; hands it to the innermost callback."""
    if ACTIVE:
        ACTIVE[-1](op, inputs, out)
