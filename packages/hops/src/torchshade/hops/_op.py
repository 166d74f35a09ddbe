"""HigherOrderOp: one flat entry point per op, one rule per setting.

    op = HigherOrderOp("cond")
    @op.register("eager")  def cond_eager(...)      real tensors (autograd records through it)
    @op.register("fake")   def cond_fake(...)       FakeTensors, no tracer
    @op.register("trace")  def cond_trace(...)      under torchshade.trace's make_fx
    @op.register("autograd") ...                    eager, and a tensor needs grad (grad mode on)
    @op.register("autograd_traced") ...             fake or traced, and a tensor needs grad

``op(*flat_args)`` picks the rule; the op object is also the target of the
one FX node a trace makes, so a traced graph re-run calls it again (eagerly,
under FakeTensorProp, or under another make_fx).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch
from torch.utils._pytree import tree_leaves

from torchshade.trace import is_tracing

from ._core import fake_mode_of
from ._errors import HopError

Rule = TypeVar("Rule", bound=Callable[..., Any])


class HigherOrderOp:
    """A control-flow op: its name and its rule per setting (``eager``, ``fake``, ``trace``)."""

    def __init__(self, name: str) -> None:
        self.__name__ = name
        self.__qualname__ = name
        self.__module__ = "torchshade.hops"
        self.rules: dict[str, Callable[..., Any]] = {}

    def register(self, setting: str) -> Callable[[Rule], Rule]:
        def add(rule: Rule) -> Rule:
            self.rules[setting] = rule
            return rule

        return add

    def setting(self, operands: Sequence[object]) -> str:
        leaves = tree_leaves(list(operands))
        base = "trace" if is_tracing() else "fake" if fake_mode_of(leaves) is not None else "eager"
        if not torch.is_grad_enabled() or not any(isinstance(t, torch.Tensor) and t.requires_grad for t in leaves):
            return base
        if base == "eager":
            return "autograd"
        if "autograd_traced" in self.rules:
            return "autograd_traced"
        raise reverse_mode_error(self.__name__, base)

    def __call__(self, *args: Any) -> Any:
        return self.rules[self.setting(args)](*args)

    def __repr__(self) -> str:
        return f"torchshade.hops.{self.__name__}"


def reverse_mode_error(op: str, setting: str) -> HopError:
    """``op`` cannot be differentiated in ``setting`` ("trace" or "fake") yet."""
    return HopError(
        f"{op}: reverse mode under {'tracing' if setting == 'trace' else 'fake tensors'} is not "
        f"supported yet for {op} (its eager backward is). Trace the forward only (inputs and "
        "closed-over tensors that do not require grad, or under torch.no_grad()), or "
        "differentiate eagerly."
    )


def needs_grad(values: Sequence[object]) -> bool:
    """Grad mode is on and one of ``values`` is a tensor that requires grad."""
    return torch.is_grad_enabled() and any(isinstance(v, torch.Tensor) and v.requires_grad for v in values)
