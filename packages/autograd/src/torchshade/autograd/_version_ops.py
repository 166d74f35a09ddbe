"""Traceable version ops: read and set a tensor's version counter as operators.

``tensor_version(t)`` is ``t._version`` and ``set_version_counter(tensors,
versions)`` is ``torch._C._autograd._unsafe_set_version_counter``, as
operators ``torchshade::tensor_version`` and
``torchshade::set_version_counter`` registered with ``torch.library``:

- eagerly they read and set the version;
- under a fake tensor mode with a ShapeEnv (ours or torch's) the version is
  a new unbacked SymInt (``u0``): a traced program must not specialize on
  how often its inputs were changed before it ran; without a ShapeEnv it is
  the fake tensor's own version;
- under a tracer they are graph nodes, and the setter is marked
  side-effecting (``torch.fx.node.has_side_effect``) so dead-code
  elimination never removes it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.fx.node


@torch.library.custom_op("torchshade::tensor_version", mutates_args=())
def _tensor_version(tensor: torch.Tensor) -> int:
    return tensor._version


@_tensor_version.register_fake
def _tensor_version_fake(tensor: torch.Tensor) -> int | torch.SymInt:
    ctx = torch.library.get_ctx()
    if getattr(ctx, "_shape_env", None) is None:
        return tensor._version
    return ctx.new_dynamic_size()


@torch.library.custom_op("torchshade::set_version_counter", mutates_args=())
def _set_version_counter(tensors: Sequence[torch.Tensor], versions: Sequence[int]) -> None:
    torch._C._autograd._unsafe_set_version_counter(tuple(tensors), tuple(versions))


@_set_version_counter.register_fake
def _set_version_counter_fake(tensors: Sequence[torch.Tensor], versions: Sequence[int]) -> None:
    if all(type(v) is int for v in versions):
        torch._C._autograd._unsafe_set_version_counter(tuple(tensors), tuple(versions))


torch.fx.node.has_side_effect(torch.ops.torchshade.set_version_counter.default)


def tensor_version(tensor: torch.Tensor) -> int:
    """``tensor._version`` as an operator: an unbacked SymInt under fake tensors with a ShapeEnv."""
    version: int = torch.ops.torchshade.tensor_version(tensor)
    return version


def set_version_counter(tensors: Sequence[torch.Tensor], versions: Sequence[int]) -> None:
    """Set each tensor's version (autograd's in-place check reads it) as an operator."""
    if len(tensors) != len(versions):
        raise ValueError(
            f"set_version_counter: got {len(tensors)} tensors but {len(versions)} versions; "
            "give one version per tensor."
        )
    torch.ops.torchshade.set_version_counter(list(tensors), list(versions))
