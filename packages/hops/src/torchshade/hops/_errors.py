"""Exceptions raised by torchshade.hops.

Each class says in its docstring why it happens and what to do. Every message
names the op, the function (``true_fn``, ``body_fn``, ``combine_fn``), the
leaf path inside the pytree (``[1]['h']``) and the field that is wrong.
"""

from __future__ import annotations


class HopError(RuntimeError):
    """Base class of every error raised by torchshade.hops."""


class OutputMismatchError(HopError):
    """Two functions that must agree return different outputs.

    ``cond``'s branches must return the same pytree structure with leaves of
    the same kind, dtype and device (sizes may differ only under fake
    tensors with a ShapeEnv, where they become unbacked symbols); a
    ``while_loop`` body or a ``scan`` combine_fn must return carries exactly
    like the ones it was given (structure, dtype, device and shape).

    Fix: make both return the same structure and dtypes (``.to(dtype)``,
    ``.to(device)``), or pad/reshape so the shapes agree.
    """


class InputMutationError(HopError):
    """A body changed one of its inputs in place (``x.add_(1)``, ``x[0] = 0``).

    Bodies of control-flow ops must be pure: the op may run them more than
    once (both branches under fake tensors, a recomputation in backward), so
    an in-place change would happen a different number of times than in
    the program as written.

    Fix: compute a new tensor (``x = x + 1``), or ``x = x.clone()`` first.
    """


class AliasingError(HopError):
    """A body returned a view of one of its inputs (``x[0]``, ``x.view(-1)``, ``x.t()``).

    The op's outputs are new tensors; a view would tie an output to the
    memory of an input, so a later in-place change of one would change the
    other. (An input returned unchanged, or one tensor returned twice, is
    fine: the op copies it.)

    Fix: return ``view.clone()``.
    """


class HopArgumentError(HopError):
    """An argument of the op itself is of the wrong kind.

    ``pred`` must be a bool, a SymBool or a one-element tensor; operands,
    carries and ``xs`` pytrees of tensors, ints, floats and bools; ``xs``
    leaves tensors with the scanned dimension; ``length=`` only without ``xs``.

    Fix: what the message says for the argument it names.
    """
