"""Errors of torchshade.shapes; each docstring says the cause and the fix."""

from __future__ import annotations


class GuardOnDataDependentSymNode(RuntimeError):
    """A decision was asked of an expression whose value is not known at trace time.

    Cause: the expression contains an unbacked symbol (``u0`` from ``.item()``,
    ``nonzero``, ``create_unbacked_symint``), so there is no example value to
    branch on, and its value range does not settle the question.

    Fix: tell the shape environment what holds, before the decision, with
    ``torch._check(...)`` (the message gives the exact line to paste), or
    rewrite the branch with ``torch.sym_max`` / ``torch.sym_ite`` /
    ``guard_or_false`` so that no decision is needed.
    """

    def __init__(self, message: str, expr: object = None) -> None:
        super().__init__(message)
        self.expr = expr


class ConstraintViolationError(RuntimeError):
    """Tracing needed a fact that contradicts a user's ``Dim`` constraint.

    Cause: a dimension was declared dynamic over a range (``Dim("batch",
    min=2, max=1024)``), but the program branched in a way that is only valid
    for part of that range (for example it needs ``batch == 4``).

    Fix: either narrow the declaration to what the program supports (the
    message suggests the ``Dim`` to write), or change the program so it does
    not branch on that dimension.
    """


class DimHintMismatchError(ValueError):
    """An example size does not fit the ``Dim`` it was declared with.

    Cause: the example input's size lies outside ``[min, max]`` of its ``Dim``,
    or a derived dimension (``2*batch``) does not agree with its root's size.

    Fix: pass example inputs whose sizes satisfy the declared dimensions, or
    correct the declaration.
    """


class GuardSourceError(ValueError):
    """A guard could not be evaluated on the inputs given to ``check_guards``.

    Cause: an input named in a guard's source (``x`` in ``x.size()[0]``) is
    missing from the mapping passed in, or is not the kind of value the source
    expects.

    Fix: pass every input by the name used when its symbols were created.
    """
