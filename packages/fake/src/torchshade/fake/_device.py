"""Which device an op's outputs are on: torch's propagation rules.

All tensor arguments must share a device, except that a 0-dim CPU tensor may
meet a tensor of any device (it acts as a scalar), and a few ops move data
between devices by design (``copy_``, indexing with CPU indices). Ops with a
``device=`` argument put their outputs there.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ._errors import FakeDeviceMismatchError
from ._spec import tensor_str
from ._stand_in import from_stand_in

aten = torch.ops.aten
_CPU = torch.device("cpu")

# Ops whose tensor arguments may legitimately live on different devices.
_MIXED_DEVICE_OPS: frozenset[object] = frozenset(
    {
        aten.copy_.default,
        aten._copy_from.default,
        aten._copy_from_and_resize.default,
        aten._foreach_copy.default,
        aten._foreach_copy_.default,
        aten.index.Tensor,
        aten.index_put.default,
        aten.index_put_.default,
        aten._index_put_impl_.default,
        aten.set_.source_Storage_storage_offset,
        aten.set_.source_Tensor,
        aten.nextafter.default,
    }
)
# Ops where a 0-dim CPU argument does not defer to the other device.
_NO_CPU_SCALAR_RULE: frozenset[object] = frozenset({aten.nextafter.default})


def common_device(
    func: torch._ops.OpOverload, tensors: Sequence[torch.Tensor]
) -> torch.device | None:
    """The device shared by ``tensors`` under torch's rules, or None if there are none.

    Raises :class:`FakeDeviceMismatchError` naming both tensors when two
    non-scalar arguments disagree.
    """
    if not tensors:
        return None
    first = tensors[0]
    device = _device_of(first)
    if len(tensors) == 1:
        return device
    chosen = first
    chosen_is_scalar = device == _CPU and first.dim() == 0
    for index, t in enumerate(tensors[1:], start=1):
        t_device = _device_of(t)
        if t_device == device:
            if chosen_is_scalar and t.dim() != 0:
                chosen, chosen_is_scalar = t, False
            continue
        if func in _MIXED_DEVICE_OPS:
            continue
        scalar_rule = func not in _NO_CPU_SCALAR_RULE
        if scalar_rule and t_device == _CPU and t.dim() == 0:
            continue
        if scalar_rule and chosen_is_scalar:
            chosen, device, chosen_is_scalar = t, t_device, False
            continue
        raise FakeDeviceMismatchError(
            f"{func}: expected all tensors to be on the same device, but found "
            f"{tensor_str(chosen)} (tensor argument {_position(tensors, chosen)}) and "
            f"{tensor_str(t)} (tensor argument {index}). Move one of them with "
            f".to({str(device)!r}) or .to({str(t_device)!r}); only 0-dim CPU "
            "tensors may be mixed with tensors on another device."
        )
    return device


def normalize(device: torch.device) -> torch.device:
    """``cuda`` -> ``cuda:0``: fake tensors always report an indexed accelerator.

    A stand-in ``meta:k`` (``_stand_in.py``) becomes the device it stands for.
    """
    device = from_stand_in(device)
    if device.index is None and device.type not in ("cpu", "meta"):
        return torch.device(device.type, 0)
    return device


def _device_of(t: torch.Tensor) -> torch.device:
    # A fake's device is an attribute; asking t.device would go through Python dispatch.
    fake_device = getattr(t, "fake_device", None)
    return fake_device if isinstance(fake_device, torch.device) else t.device


def _position(tensors: Sequence[torch.Tensor], t: torch.Tensor) -> int:
    for index, candidate in enumerate(tensors):
        if candidate is t:
            return index
    return -1
