"""Reasoner: what a SymNode asks of the ShapeEnv it belongs to.

A node keeps its env (``node.shape_env``: torch's kernels read it and call
the env's own methods) and, on the hottest path of symbolic tracing, asks it:

    knowledge                ``simplify``, ``evaluate_static`` without a guard
    decide                   ``bool(s0 > 3)``, ``int(s0)``: answer, record a guard
    decide_size_oblivious    the same, size-like unbacked symbols taken as >= 2
    expect_true              ``torch._check``: a guard, or a runtime assert
    hint_of                  an expression's example value

``ShapeEnv`` provides these by binding its parts' methods and attributes
once (``Decider``'s methods), so a question costs no call
beyond the one that answers it.  This protocol is the type a node holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from ._expr import Expr
from ._knowledge import Knowledge

if TYPE_CHECKING:
    from ._node import NodeMemo


class Reasoner(Protocol):
    """The ShapeEnv as a SymNode sees it (see the module docstring)."""

    knowledge: Knowledge
    # SymNodes made from others, by (op, operand ids), and wrapped literals: see _node.py.
    nodes: NodeMemo

    def decide(self, expr: Expr, hint: Any, fallback: bool | None = None) -> Expr: ...

    def decide_size_oblivious(self, expr: Expr, hint: Any) -> Expr: ...

    def expect_true(self, expr: Expr, hint: Any) -> bool: ...

    def hint_of(self, expr: Expr) -> int | float | bool | None: ...
