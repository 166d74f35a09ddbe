"""The errors torchshade.trace raises.

Each class says in its docstring why it happens and what to do; each message
names the input or tensor at fault, what is wrong with it and the fix.
Errors from the program itself (shapes' ``GuardOnDataDependentSymNode`` for a
branch on a tensor's value, fake's errors) pass through unchanged.
"""

from __future__ import annotations


class TraceError(RuntimeError):
    """Base class of every error raised by torchshade.trace."""


class TracingModeError(ValueError):
    """``make_fx`` was given a ``tracing_mode`` other than real, fake or symbolic.

    Fix: pass ``tracing_mode="real"`` (run on the inputs as they are),
    ``"fake"`` (fake tensors, static sizes) or ``"symbolic"`` (fake tensors
    with every size a symbol).
    """


class TraceInputError(TypeError):
    """An input of the traced function is of a type make_fx cannot trace.

    Inputs are pytrees (tuples, lists, dicts, registered containers) of
    tensors, ints, floats, bools and None. Fix: pass the value through a
    closure instead, or register its container type with
    ``torch.utils._pytree.register_pytree_node``.
    """


class TraceOutputError(TypeError):
    """The traced function returned a value a graph cannot return.

    A graph returns pytrees of tensors, SymInts and plain Python constants
    (numbers, bools, strings, None). Fix: return those, and keep other objects
    (modules, graphs, callables) out of the traced function's result.
    """


class CapturedTensorError(TraceError):
    """The traced function used a real tensor that is not one of its inputs.

    In fake and symbolic modes every tensor the program touches must be an
    input (and so fake) or made inside the program. Fix: pass the tensor as an
    input, or call ``make_fx(..., _allow_non_fake_inputs=True)`` to turn it into
    a constant attribute of the graph.
    """


class ForeignSymbolError(TraceError):
    """A symbolic size that does not come from this trace's inputs reached the graph.

    It comes from another ShapeEnv (another trace, another fake mode). Fix:
    make every fake input with one mode, or let make_fx convert real inputs.
    """


class GuardViolationError(TraceError):
    """A traced graph was called with inputs that break a guard of its trace.

    The graph is valid only for inputs that satisfy every guard recorded while
    tracing (the message names the guard, the input values and the user's line
    that created it). Fix: trace again with example inputs like these, or mark
    the dimension dynamic so the branch is not specialized. Graphs built with
    ``make_fx(..., check_guards=False)`` skip this check.
    """
