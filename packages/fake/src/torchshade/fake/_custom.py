"""Custom ops: run ``torch.library.register_fake`` impls, explain missing ones.

A fake impl may call ``torch.library.get_ctx().new_dynamic_size()`` for an
output size that depends on data; :class:`FakeImplCtx` answers it with an
unbacked symbol from the mode's ShapeEnv.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import torch

from . import _torch_private as private
from ._errors import DynamicOutputShapeException, MissingFakeImplError
from ._spec import tensor_str

if TYPE_CHECKING:
    from ._mode import FakeTensorMode


class FakeImplCtx:
    """What ``torch.library.get_ctx()`` returns inside a fake impl run by us."""

    def __init__(self, mode: FakeTensorMode, op: torch._ops.OpOverload) -> None:
        self._fake_mode = mode
        self._shape_env = mode.shape_env
        self._op = op

    def new_dynamic_size(self, *, min: int = 0, max: int | None = None) -> torch.SymInt:
        """A new unbacked SymInt for a data-dependent size in ``[min, max]``."""
        if isinstance(min, torch.SymInt) or isinstance(max, torch.SymInt):
            raise ValueError(
                f"ctx.new_dynamic_size(min={min}, max={max}): min and max must be "
                "plain ints, not SymInts."
            )
        if min < 0:
            raise ValueError(
                f"ctx.new_dynamic_size(min={min}): sizes are non-negative, so min "
                "must be >= 0."
            )
        return self._fake_mode.new_unbacked_size(self._op, min=min, max=max)

    def create_unbacked_symint(self, *, min: int = 2, max: int | None = None) -> torch.SymInt:
        """Old name of :meth:`new_dynamic_size` (torch keeps it too)."""
        return self.new_dynamic_size(min=min, max=max)


def run_custom_fake_impl(
    mode: FakeTensorMode,
    func: torch._ops.OpOverload,
    args: Sequence[object],
    kwargs: Mapping[str, object],
) -> object:
    """Run the fake impl registered for ``func`` under ``mode`` with a ctx set."""
    from ._kernel import under_mode  # _kernel imports this module

    kernel = private.custom_op_registry.find(func.name()).fake_impl.kernel
    assert kernel is not None  # choose_plan picked CUSTOM because it exists
    ctx = FakeImplCtx(mode, func)
    with private.fake_impl.set_ctx_getter(lambda: ctx):
        return under_mode(mode, kernel, args, kwargs)


def missing_fake_impl_error(
    func: torch._ops.OpOverload, args: Sequence[object], kwargs: Mapping[str, object]
) -> MissingFakeImplError:
    """The error for an op with no meta kernel and no fake impl, with the fix."""
    schema = func._schema
    names = [a.name for a in schema.arguments if not a.kwarg_only]
    kw_names = [a.name for a in schema.arguments if a.kwarg_only]
    params = ", ".join(names + (["*"] + kw_names if kw_names else []))
    first_tensor = next((a.name for a in schema.arguments if a.type.kind() == "TensorType"), None)
    body = f"torch.empty_like({first_tensor})" if first_tensor else "torch.empty(...)"
    called = ", ".join(
        tensor_str(a) if isinstance(a, torch.Tensor) else type(a).__name__
        for a in [*args, *kwargs.values()]
    )
    return MissingFakeImplError(
        f"{func} has no meta kernel and no fake implementation, so it cannot run "
        f"on fake tensors (called with {called}). Register a fake implementation "
        "that returns empty tensors of the right shape, dtype and device, e.g.:\n\n"
        f'    @torch.library.register_fake("{func._schema.name}")\n'
        f"    def _({params}):\n"
        f"        return {body}\n"
    )
