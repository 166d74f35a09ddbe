"""``Function``: ``torch.autograd.Function`` whose saved tensors are ``SavedVariable``s.

Write custom autograd functions exactly as for torch; ``ctx.save_for_backward``
and ``ctx.saved_tensors`` then check what torch checks, with our messages,
and keep the version check under ``saved_tensors_hooks``::

    class Exp2(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.exp2()

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors      # SavedTensorModifiedError if x changed in place
            return grad * x.exp2() * math.log(2)

How it is wired: the metaclass gives each subclass a backward node class
whose ``save_for_backward`` defers saving until forward has returned, when
it is known which tensors are outputs.  Inputs and other tensors become
``SavedVariable``s held by the node; outputs are handed to torch's own
saving (only torch can give back a tensor attached to this node, which
double backward through a saved output needs), with our version check run
first.  After the node's backward runs, the saved variables are released
unless the graph is retained, as torch does.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import Any

import torch
from torch.autograd.function import BackwardCFunction, FunctionCtx, FunctionMeta

from ._errors import SavedTensorFreedError, tensor_str
from ._hooks import version_error
from ._saved_variable import FREED, SavedVariable


class _SavedOutput:
    """An output saved through torch: its index there and what the version check needs."""

    __slots__ = ("index", "version", "ref", "output_nr", "desc")

    def __init__(self, index: int, t: torch.Tensor, output_nr: int) -> None:
        self.index = index
        self.version = t._version
        self.ref = weakref.ref(t)
        self.output_nr = output_nr
        self.desc = tensor_str(t)


def _keep_graph() -> bool:
    try:
        return torch._C._autograd._get_current_graph_task_keep_graph()
    except RuntimeError:  # called outside a backward pass (grad_fn.apply by hand)
        return True


class _SavedCtx(BackwardCFunction):
    """The backward node (and ``ctx``) of a torchshade ``Function``."""

    def save_for_backward(self, *tensors: torch.Tensor | None) -> None:
        self.__dict__["_ts_pending"] = tensors

    def _ts_finish(self, outputs: object) -> None:
        pending = self.__dict__.pop("_ts_pending", None)
        if pending is None:
            return
        outs = outputs if isinstance(outputs, tuple) else (outputs,)
        out_nr = {id(o): i for i, o in enumerate(outs) if isinstance(o, torch.Tensor)}
        saved: list[SavedVariable | _SavedOutput] = []
        to_torch: list[torch.Tensor] = []
        for t in pending:
            if t is not None and id(t) in out_nr:
                saved.append(_SavedOutput(len(to_torch), t, out_nr[id(t)]))
                to_torch.append(t)
            else:
                saved.append(SavedVariable(t))
        FunctionCtx.save_for_backward(self, *to_torch)
        self.__dict__["_ts_saved"] = saved

    @property
    def saved_tensors(self) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]  # torch's is a C getter of the same type
        saved: list[SavedVariable | _SavedOutput] | None = self.__dict__.get("_ts_saved")
        if saved is None:
            if self.__dict__.get("_ts_freed"):
                raise SavedTensorFreedError(FREED.format(tensor="of this node"))
            return ()
        from_torch: tuple[torch.Tensor, ...] | None = None
        result: list[torch.Tensor | None] = []
        for item in saved:
            if isinstance(item, SavedVariable):
                result.append(item.unpack(self))
                continue
            t = item.ref()
            if t is not None and t._version != item.version:
                raise version_error(t, item.version, type(self).__name__, item.output_nr)
            if from_torch is None:
                from_torch = super().saved_tensors
            result.append(from_torch[item.index])
        return tuple(result)

    def _ts_settle(self) -> None:
        """Read the saved outputs' versions again once torch has processed them.

        torch bumps the version of outputs marked dirty (``ctx.mark_dirty``)
        after forward returns, and saves them after that.
        """
        for item in self.__dict__.get("_ts_saved", ()):
            if isinstance(item, _SavedOutput):
                t = item.ref()
                if t is not None:
                    item.version = t._version

    def apply(self, *args: Any) -> Any:
        result = super().apply(*args)  # type: ignore[no-untyped-call]  # torch's is untyped
        if not _keep_graph():
            self._ts_release()
        return result

    def _ts_release(self) -> None:
        saved = self.__dict__.pop("_ts_saved", None)
        if saved is not None:
            for item in saved:
                if isinstance(item, SavedVariable):
                    item.release()
            self.__dict__["_ts_freed"] = True


def _finish_after_forward(forward: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(forward)
    def wrapper(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        out = forward(ctx, *args, **kwargs)
        if isinstance(ctx, _SavedCtx):
            ctx._ts_finish(out)
        return out

    return wrapper


def _finish_after_setup(setup: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(setup)
    def wrapper(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        setup(ctx, inputs, output)
        if isinstance(ctx, _SavedCtx):
            ctx._ts_finish(output)

    return wrapper


class _FunctionMeta(FunctionMeta):
    def __init__(cls, name: str, bases: tuple[type, ...], attrs: dict[str, Any]) -> None:
        super().__init__(name, bases, attrs)  # type: ignore[no-untyped-call]  # torch's is untyped
        torch_backward: Any = cls._backward_cls
        ours = type(name + "Backward", (_SavedCtx,), {"_forward_cls": cls})
        ours._autograd_function_id = torch_backward._autograd_function_id  # type: ignore[attr-defined]  # torch reads it from the node class
        cls._backward_cls = ours
        if "setup_context" in attrs:
            cls.setup_context = staticmethod(_finish_after_setup(attrs["setup_context"].__func__))
        elif "forward" in attrs:
            cls.forward = staticmethod(_finish_after_forward(attrs["forward"].__func__))


class Function(torch.autograd.Function, metaclass=_FunctionMeta):
    """``torch.autograd.Function`` with ``SavedVariable`` checks on ``ctx.saved_tensors``."""

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run ``forward`` and record the node for backward, as torch's ``Function.apply``."""
        out = super().apply(*args, **kwargs)  # type: ignore[no-untyped-call]  # torch's is untyped
        for t in out if isinstance(out, tuple) else (out,):
            if isinstance(t, torch.Tensor) and isinstance(t.grad_fn, _SavedCtx):
                t.grad_fn._ts_settle()
                break
        return out
