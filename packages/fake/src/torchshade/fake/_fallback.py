"""The fallback kernel: an op with no meta kernel runs for real on zeros.

A few aten ops (``geqrf``, some linalg kernels) have no meta kernel. With
``allow_fallback_kernels`` (the default, as in torch) and static CPU inputs,
the op's real CPU kernel runs on zero-filled tensors with the inputs' exact
sizes, strides and offsets, and its outputs' metadata is kept. Outputs that
are inputs stay those fakes; new outputs become fakes of this mode.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import torch

from . import _torch_private as private
from ._tensor import FakeTensor

if TYPE_CHECKING:
    from ._mode import FakeTensorMode

_CPU = torch.device("cpu")


def can_fall_back(mode: FakeTensorMode, func: torch._ops.OpOverload, tensors: Sequence[torch.Tensor]) -> bool:
    """Only torch's own ops, only CPU, only static sizes."""
    return (
        mode.allow_fallback_kernels
        and func.namespace in ("aten", "prims")
        and all(isinstance(t, FakeTensor) and t.fake_device == _CPU for t in tensors)
        and not any(t._has_symbolic_sizes_strides for t in tensors)
    )


def _zeros_like(t: FakeTensor) -> torch.Tensor:
    if t.layout != torch.strided:
        return _sparse_zeros_like(t)
    nbytes = t.untyped_storage().nbytes()
    base = torch.zeros(nbytes // t.element_size() + 1, dtype=t.dtype)
    real = base.as_strided(t.shape, t.stride(), t.storage_offset())
    return real.requires_grad_(False)


def _sparse_zeros_like(t: FakeTensor) -> torch.Tensor:
    """A valid real sparse tensor with ``t``'s layout, size and component sizes."""
    with private.DisableTorchDispatch(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta")
        if t.layout == torch.sparse_coo:
            indices, values = t._indices(), t._values()
            return torch.sparse_coo_tensor(
                torch.zeros(indices.shape, dtype=indices.dtype),
                torch.zeros(values.shape, dtype=values.dtype),
                t.shape,
                is_coalesced=t.is_coalesced(),
                check_invariants=False,
            )
        if t.layout in (torch.sparse_csr, torch.sparse_bsr):
            compressed, plain = t.crow_indices(), t.col_indices()
        else:
            compressed, plain = t.ccol_indices(), t.row_indices()
        values = t.values()
        real_compressed = torch.zeros(compressed.shape, dtype=compressed.dtype)
        real_compressed[..., -1] = plain.shape[-1]  # all entries in the last row/column
        return torch.sparse_compressed_tensor(
            real_compressed,
            torch.zeros(plain.shape, dtype=plain.dtype),
            torch.zeros(values.shape, dtype=values.dtype),
            t.shape,
            layout=t.layout,
            check_invariants=False,
        )


def run_fallback(
    mode: FakeTensorMode,
    func: torch._ops.OpOverload,
    args: Sequence[object],
    kwargs: Mapping[str, object],
) -> object:
    """Run ``func``'s CPU kernel on zeros shaped like the fakes; fake the outputs."""
    reals: dict[int, torch.Tensor] = {}

    def to_real(value: object) -> object:
        if isinstance(value, FakeTensor):
            reals[id(value)] = real = _zeros_like(value)
            fakes[id(real)] = value
            return real
        if isinstance(value, (list, tuple)):
            return type(value)(to_real(v) for v in value)
        return value

    fakes: dict[int, FakeTensor] = {}
    mode.fallback_runs += 1  # never cached: modes without fallback must not be served this
    real_args = [to_real(a) for a in args]
    real_kwargs = {k: to_real(v) for k, v in kwargs.items()}
    with private.DisableTorchDispatch(), torch.no_grad():
        out = func(*real_args, **real_kwargs)
    return _to_fake(mode, out, fakes)


def _to_fake(mode: FakeTensorMode, out: object, fakes: dict[int, FakeTensor]) -> object:
    if isinstance(out, torch.Tensor):
        found = fakes.get(id(out))
        return found if found is not None else mode.from_tensor(out, static_shapes=True)
    if isinstance(out, (list, tuple)):
        return type(out)(_to_fake(mode, o, fakes) for o in out)
    return out
