"""Views of contiguous tensors, with the fewest guards.

torch's reshape reference (``torch._refs._reshape_view_helper_core_alg``)
walks the input dimensions and asks, for each output length, "is it equal to
this input size?" and "does it divide it?".  On symbolic sizes every answer
becomes a guard, and the answers depend on the example: ``x.reshape(2, -1)``
on ``[s0, s1]`` with hints (4, 3) guards ``s0 != 2`` and ``s0 % 2 == 0``, so a
2x6 or 3x4 input is rejected although the reshape is valid for both.  The
branching only decides *how* the strides are derived; for a contiguous input
the answer is always the contiguous strides of the new shape.

``view_contiguous`` computes that directly.  Its only condition is the one
the reshape needs, ``numel % prod(known sizes) == 0`` (or equality of numels
without ``-1``), recorded through ``torch._check``: a guard for backed sizes,
a runtime assert for unbacked ones.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import torch

IntLike = int | torch.SymInt


def _prod(values: Sequence[IntLike]) -> IntLike:
    out: IntLike = 1
    for v in values:
        out = out * v
    return out


def view_contiguous(sizes: Sequence[IntLike], shape: Sequence[IntLike]) -> tuple[list[IntLike], list[IntLike]]:
    """Sizes and strides of a contiguous tensor of ``sizes`` viewed as ``shape``.

    ``shape`` may hold one ``-1``, inferred from the number of elements.
    Raises ``RuntimeError`` (torch's wording) for a shape that does not fit.
    """
    inferred = [i for i, d in enumerate(shape) if isinstance(d, int) and d == -1]
    if len(inferred) > 1:
        raise RuntimeError(f"only one dimension can be inferred, got shape {list(shape)}")
    bad = [d for d in shape if isinstance(d, int) and d < -1]
    if bad:
        raise RuntimeError(f"invalid shape dimension {bad[0]} in shape {list(shape)}")
    numel = _prod(sizes)
    out = list(shape)
    if inferred:
        known = _prod([d for i, d in enumerate(shape) if i != inferred[0]])
        torch._check(
            known != 0,
            lambda: f"cannot reshape a tensor of size {numel} into shape {list(shape)}: "
            "the size of -1 is ambiguous when another size is 0",
        )
        torch._check(operator.mod(numel, known) == 0, lambda: f"shape '{list(shape)}' is invalid for input of size {numel}")
        out[inferred[0]] = numel // known
    else:
        torch._check(numel == _prod(shape), lambda: f"shape '{list(shape)}' is invalid for input of size {numel}")
    strides: list[IntLike] = [1] * len(out)
    for i in range(len(out) - 2, -1, -1):
        strides[i] = strides[i + 1] * torch.sym_max(out[i + 1], 1)  # as torch: size 0 keeps strides
    return out, strides
