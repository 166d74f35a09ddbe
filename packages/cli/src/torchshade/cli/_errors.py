"""The errors of the ``torchshade`` command: each names the input, what is wrong and the fix.

The command prints ``torchshade: <message>`` on stderr and exits with status 2
(a usage error: target, spec, dimension) or 1 (the user's factory raised).
"""

from __future__ import annotations


class CliError(Exception):
    """A user-facing error of the ``torchshade`` command; ``exit_code`` is its exit status."""

    exit_code = 2


class TargetError(CliError):
    """TARGET is neither a built-in model nor ``path/to/file.py:factory`` that can be loaded.

    Fix: run ``torchshade models`` for the built-in names, or give an existing
    Python file and the name of a function defined in it.
    """


class SpecError(CliError):
    """A ``--input NAME=SPEC`` is malformed; the message points at the position.

    Fix: write SPEC as ``DTYPE[DIM, ...]`` with named or numeric dims,
    e.g. ``i64[batch, seq]``.
    """


class DimensionError(CliError):
    """An ``--at`` point names a dimension no input has, misses one, or gives a bad value."""


class FactoryError(CliError):
    """The user's factory, or the model it built, raised; the message holds their traceback."""

    exit_code = 1


DTYPE_HELP = "f32, f64, f16, bf16, i64, i32, i16, i8, u8, b8 (or bool)"
SPEC_HELP = (
    "Write SPEC as DTYPE[DIM, ...]: DTYPE is one of " + DTYPE_HELP + "; each DIM is a name "
    "(a symbol, e.g. batch) or a number (a static size), e.g. --input tokens=i64[batch, seq]."
)
