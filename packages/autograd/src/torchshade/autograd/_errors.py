"""The errors of torchshade.autograd, and the short tensor form they use.

Every error is a ``SavedTensorError``, itself a ``RuntimeError`` so that code
written against torch's autograd (which raises ``RuntimeError``) still
catches ours.  Each class docstring says why it happens and what to do.
"""

from __future__ import annotations

import torch

_DTYPE_CODES: dict[torch.dtype, str] = {
    torch.float32: "f32",
    torch.float64: "f64",
    torch.float16: "f16",
    torch.bfloat16: "bf16",
    torch.int64: "i64",
    torch.int32: "i32",
    torch.int16: "i16",
    torch.int8: "i8",
    torch.uint8: "u8",
    torch.bool: "b8",
    torch.complex64: "c64",
    torch.complex128: "c128",
}


def tensor_str(t: torch.Tensor) -> str:
    """``f32[3, 4]``: dtype code and sizes, symbolic sizes by name."""
    code = _DTYPE_CODES.get(t.dtype, str(t.dtype).removeprefix("torch."))
    return f"{code}[{', '.join(str(s) for s in t.shape)}]"


class SavedTensorError(RuntimeError):
    """Base class of every error torchshade.autograd raises about a saved tensor."""


class SavedTensorModifiedError(SavedTensorError):
    """A tensor saved for backward was changed in place after it was saved.

    Cause: autograd kept the tensor to compute a gradient later, and an
    in-place operation (``x.add_(1)``, ``x[0] = 0``, ``relu(inplace=True)``,
    an optimizer step) changed it in between, so the gradient would be
    computed from the wrong values.  Fix: make the operation out of place
    (``x = x + 1``), or ``.clone()`` the tensor before changing it.  Run under
    ``record_inplace_culprits()`` to have the message name the op and line
    that changed it.
    """


class SavedTensorFreedError(SavedTensorError):
    """A saved tensor was used after autograd freed it.

    Cause: ``backward()`` and ``torch.autograd.grad()`` free the saved tensors
    of the graph they run through, so a second backward through the same
    graph (or reading ``ctx.saved_tensors`` afterwards) finds nothing.  Fix:
    pass ``retain_graph=True`` to every backward but the last one through
    the graph.
    """


class SavedTensorDetachedError(SavedTensorError):
    """A saved tensor was detached in place (``x.detach_()``) after it was saved.

    Cause: the tensor lost the link to the node that produced it, so its
    gradient cannot flow back.  Fix: use the out-of-place ``x.detach()``.
    """


class InferenceTensorSavedError(SavedTensorError):
    """An inference tensor (made under ``torch.inference_mode()``) was saved for backward.

    Cause: inference tensors have no version counter, so autograd cannot
    tell whether they change before backward.  Fix: ``.clone()`` the tensor
    outside inference mode before using it with autograd, or make it under
    ``torch.no_grad()`` instead of ``torch.inference_mode()``.
    """


class SavedTensorHooksError(SavedTensorError):
    """Pack/unpack hooks were used in a way saved tensors do not support.

    Causes: a second pair of hooks registered on one saved tensor (only one
    pair is allowed; compose them in one pair, or nest
    ``saved_tensors_hooks`` contexts, which compose), hooks registered after
    the saved tensor was freed by backward (register them before, or pass
    ``retain_graph=True``), a pack hook that changed its input in place
    (pack a copy: ``x.clone()``), or an unpack hook that returned something
    other than a tensor.  Fix: the message names which one, and what to do.
    """
