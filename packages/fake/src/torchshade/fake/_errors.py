"""Exceptions raised by torchshade.fake.

Each class says in its docstring why it happens and what to do. The names of
the two data-dependence errors are torch's, so ``except`` clauses written for
``torch._subclasses.fake_tensor`` keep working after switching the import.
"""

from __future__ import annotations


class FakeTensorError(RuntimeError):
    """Base class of every error raised by torchshade.fake."""


class DynamicOutputShapeException(FakeTensorError):
    """An op's output *size* depends on the values in its inputs.

    ``nonzero``, ``masked_select``, ``unique``, boolean-mask indexing and
    ``repeat_interleave`` without ``output_size`` cannot know how big their
    result is without looking at data, and a fake tensor has no data.

    Fix: give the mode a ``ShapeEnv`` (``FakeTensorMode(shape_env=ShapeEnv())``)
    so the size becomes an unbacked symbol, or pass the size explicitly where
    the op accepts one (``repeat_interleave(..., output_size=n)``).
    """

    def __init__(self, op: object, message: str) -> None:
        super().__init__(message)
        self.func = op


class DataDependentOutputException(FakeTensorError):
    """An op returns a Python value computed from tensor data.

    ``.item()``, ``.tolist()``, ``torch.equal`` and ``bool(tensor)`` need the
    numbers inside a tensor, which a fake tensor does not have.

    Fix: give the mode a ``ShapeEnv`` so the value becomes an unbacked
    symbol, or keep the value out of tensors (pass a Python number).
    """

    def __init__(self, op: object, message: str) -> None:
        super().__init__(message)
        self.func = op


class FakeDeviceMismatchError(FakeTensorError):
    """Two tensor arguments of one op are on different devices.

    Eager PyTorch raises here too. Only 0-dim CPU tensors may meet tensors of
    another device. Fix: move one of them with ``.to(device)``.
    """


class FakeModeMismatchError(FakeTensorError):
    """Fake tensors made by two different ``FakeTensorMode`` objects met.

    Each mode owns its tensors (and their symbols); they cannot be mixed.
    Fix: make every fake tensor with one mode, e.g. ``mode.from_tensor(t)``.
    """


class NonFakeInputError(FakeTensorError):
    """A real tensor was passed to an op running under a ``FakeTensorMode``.

    Fix: convert it first with ``mode.from_tensor(t)``, or build the mode with
    ``FakeTensorMode(allow_non_fake_inputs=True)`` to convert automatically.
    """


class MissingFakeImplError(FakeTensorError):
    """An op has neither a meta kernel nor a fake implementation.

    Fake tensors run ops through their meta kernel, a decomposition, or a
    function registered with ``torch.library.register_fake``. Fix: register a
    fake implementation; the message shows the code to paste.
    """


class DispatchCacheMismatchError(FakeTensorError):
    """In crosscheck mode, a dispatch-cache hit differed from running the kernel.

    The cache is an optimization only, so this is a bug in torchshade.fake:
    the message names the op, the output and the field that differ. Report
    it with that message; until it is fixed, ``FakeTensorMode(cache=False)``
    turns the cache off.
    """


class ShapeSpecError(ValueError):
    """A shape spec string such as ``"f32[batch, 128]"`` is ill-formed.

    The message repeats the spec and puts a caret under the bad character.
    Fix: write ``<dtype>[<dim>, ...]`` where each dim is an integer or a name.
    """
