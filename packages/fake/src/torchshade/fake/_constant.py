"""Constants: small tensors made inside the mode keep their real value.

``torch.tensor([3])`` inside the mode reaches us as ``lift_fresh`` of a real
one-element tensor; its fake keeps that tensor as ``.constant`` so ``.item()``
gives ``3``. An op whose tensor inputs are all constants runs for real, and
its small outputs stay constants. Writing to a constant any other way (or to
a tensor sharing its storage) drops the value: it is no longer known.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import torch

from . import _torch_private as private
from ._tensor import FakeTensor

if TYPE_CHECKING:
    from ._mode import FakeTensorMode

# torch's limit too: only one-element tensors are kept.
CONSTANT_NUMEL_LIMIT = 1
NOT_CONSTANT = object()
_CPU = torch.device("cpu")


def may_be_constant(t: torch.Tensor) -> bool:
    """Whether a real output is small and plain enough to keep as a constant."""
    return type(t) is torch.Tensor and t.numel() <= CONSTANT_NUMEL_LIMIT and t.layout == torch.strided


def _swap(value: object) -> object:
    if isinstance(value, FakeTensor):
        return value.constant
    if isinstance(value, (list, tuple)):
        return type(value)(_swap(v) for v in value)
    return value


def propagate(
    mode: FakeTensorMode,
    func: torch._ops.OpOverload,
    args: Sequence[object],
    kwargs: Mapping[str, object],
    tensors: Sequence[FakeTensor],
) -> object:
    """Run ``func`` on the constants of ``tensors`` (all have one), or NOT_CONSTANT."""
    tags = func.tags
    if torch.Tag.nondeterministic_seeded in tags or (
        torch.Tag.inplace_view in tags and func is not torch.ops.aten.detach_.default
    ):
        return NOT_CONSTANT
    device = kwargs.get("device")
    if device is not None and torch.device(device) != _CPU:  # type: ignore[call-overload]  # device kwarg is a device or str
        return NOT_CONSTANT
    if any(t.fake_device != _CPU for t in tensors):
        return NOT_CONSTANT
    real_args, real_kwargs = _swap(args), {k: _swap(v) for k, v in kwargs.items()}
    assert isinstance(real_args, (list, tuple))  # args is a sequence
    with private.DisableTorchDispatch():
        out = func(*real_args, **real_kwargs)
    flat = out if isinstance(out, (list, tuple)) else (out,)
    outs = [o for o in flat if isinstance(o, torch.Tensor)]
    if not all(may_be_constant(o) for o in outs):
        return NOT_CONSTANT
    return _wrap(mode, out)


def _wrap(mode: FakeTensorMode, out: object) -> object:
    if isinstance(out, torch.Tensor):
        return mode.converter.from_tensor(out, constant=out)
    if isinstance(out, (list, tuple)):
        return type(out)(_wrap(mode, o) for o in out)
    return out


def invalidate_written(func: torch._ops.OpOverload, tensors: Sequence[FakeTensor]) -> None:
    """``func`` writes without running for real: drop constants it may change."""
    if not func._schema.is_mutable:
        return
    written = {t.untyped_storage()._cdata for t in tensors if t.constant is not None}
    if not written:
        return
    mode = tensors[0].fake_mode
    for key, other in list(mode.constants.items()):
        if other.untyped_storage()._cdata in written:
            other.constant = None
            del mode.constants[key]
