"""Views and reshapes of contiguous tensors with symbolic sizes, with one guard.

torch's meta kernel for ``view`` (``torch._refs._reshape_view_helper_core_alg``,
reached by ``view``, ``reshape``, ``flatten`` and ``_unsafe_view``) walks the
input dimensions and asks of each output length "is it this input size?",
"does it divide it?". On symbolic sizes every answer is a guard that depends
on the example: ``x.reshape(2, -1)`` on ``[s0, s1]`` traced at 4x3 guards
``s0 % 2 == 0`` and ``4 <= s0``, so a 2x6 or 3x4 input is rejected although
the reshape is valid for both.

For a contiguous input the answer never depends on that walk: the output has
the contiguous strides of the new shape. ``torchshade.shapes.view_contiguous``
computes them with the one condition the view needs (the element counts fit),
and the output is made with ``as_strided`` on the input's storage, at its
storage offset. Inputs not known to be contiguous without a guard keep the
meta kernel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import torch
from torchshade.shapes import view_contiguous

from ._kernel import call_view_kernel
from ._tensor import FakeTensor

if TYPE_CHECKING:
    from ._mode import FakeTensorMode

aten = torch.ops.aten
_AS_STRIDED = aten.as_strided.default
# Ops that are a view of a contiguous input with contiguous strides (by id).
OPS: frozenset[int] = frozenset(
    id(op) for op in (aten.view.default, aten._unsafe_view.default, aten.reshape.default)
)

IntLike = int | torch.SymInt


def run_contiguous_view(
    mode: FakeTensorMode, args: Sequence[object], kwargs: Mapping[str, object]
) -> object:
    """One of ``OPS`` on a contiguous fake tensor; ``NotImplemented`` for other inputs."""
    values = [*args, *kwargs.values()]
    if len(values) != 2:
        return NotImplemented
    t, shape = values
    if (
        not isinstance(t, FakeTensor)
        or not isinstance(shape, (list, tuple))
        or t.layout != torch.strided
        or t.is_conj()
        or t.is_neg()
        or not _known_contiguous(t.shape, t.stride())
    ):
        return NotImplemented
    sizes, strides = view_contiguous(t.shape, shape)
    out = call_view_kernel(_AS_STRIDED, (t, sizes, strides, t.storage_offset()))
    return FakeTensor(mode, out, t.fake_device)


def _known_contiguous(sizes: Sequence[IntLike], strides: Sequence[IntLike]) -> bool:
    """Contiguous without a guard: each stride is the product of the later sizes.

    Dimensions of size 1 may have any stride. "Known" means provable without
    recording a guard; anything unsure answers False (the meta kernel runs).
    """
    expected: IntLike = 1
    for size, stride in zip(reversed(sizes), reversed(strides)):
        if not _known_equal(stride, expected):
            if not _known_equal(size, 1):
                return False
            continue
        expected = expected * size
    return True


def _known_equal(a: IntLike, b: IntLike) -> bool:
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    left = a.node.expr if isinstance(a, torch.SymInt) else a
    right = b.node.expr if isinstance(b, torch.SymInt) else b
    if left == right:  # structural: the common case costs no symbolic reasoning
        return True
    same = a == b
    if isinstance(same, bool):
        return same
    return bool(same.node.statically_known_true("", 0))
