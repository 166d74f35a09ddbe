"""Data-dependent ops: outputs whose size or value depends on tensor data.

With a ShapeEnv each unknown quantity becomes an unbacked symbol (a size is
constrained to ``[0, numel]``); without one the op raises
:class:`DynamicOutputShapeException` or :class:`DataDependentOutputException`
naming the op and the fix. One handler per op, registered in ``HANDLERS``
right below it; a handler returns ``NotImplemented`` to let the ordinary
path run (e.g. ``index`` without boolean masks).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torchshade.shapes import free_unbacked_symbols

from ._errors import DataDependentOutputException, DynamicOutputShapeException
from ._kernel import under_mode
from ._spec import tensor_str
from ._tensor import FakeTensor

if TYPE_CHECKING:
    from ._mode import FakeTensorMode

aten = torch.ops.aten
Handler = Callable[
    ["FakeTensorMode", torch._ops.OpOverload, Sequence[object], Mapping[str, object]], object
]
# Keyed by id(op): OpOverload.__hash__ is Python code, and ops live forever.
HANDLERS: dict[int, Handler] = {}

_SIZE_FIX = (
    "Its output size depends on the values in the input, which a fake tensor "
    "does not have. Give the mode a ShapeEnv "
    "(FakeTensorMode(shape_env=ShapeEnv())) to get an unbacked symbol for the size"
)


def _register(*ops: object) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for op in ops:
            HANDLERS[id(op)] = handler
        return handler

    return register


def dynamic_size(
    mode: FakeTensorMode,
    func: torch._ops.OpOverload,
    t: torch.Tensor,
    what: str,
    memo: str | None = None,
    extra_fix: str = "",
    bounded: bool = True,
) -> torch.SymInt:
    """An unbacked size for ``what`` of ``t``, or the error when there is no env."""
    if mode.shape_env is None:
        raise DynamicOutputShapeException(
            func, f"{func} on {tensor_str(t)}: cannot compute {what}. {_SIZE_FIX}{extra_fix}."
        )
    fake = t if isinstance(t, FakeTensor) else None
    if fake is not None and memo is not None:
        found = fake._recall(memo)
        if found is not None:
            assert isinstance(found, torch.SymInt)  # memos hold symbols
            return found
    upper = _numel_bound(mode, t.numel()) if bounded else sys.maxsize - 1
    size = mode.new_unbacked_size(func, min=0, max=upper)
    if fake is not None and memo is not None:
        fake._remember(memo, size)
    return size


def _numel_bound(mode: FakeTensorMode, numel: int | torch.SymInt) -> int:
    """``numel``, or the finite upper end of its range when it is symbolic (as torch)."""
    if isinstance(numel, int):
        return numel
    assert mode.shape_env is not None  # a symbolic numel comes from the mode's env
    upper = mode.shape_env.bound_sympy(numel.node.expr).upper
    return int(upper) if upper != float("inf") else sys.maxsize - 1


def _arg(args: Sequence[object], kwargs: Mapping[str, object], i: int, name: str) -> object:
    return args[i] if len(args) > i else kwargs.get(name)


def _tensor_arg(args: Sequence[object], kwargs: Mapping[str, object], i: int, name: str) -> torch.Tensor:
    value = _arg(args, kwargs, i, name)
    assert isinstance(value, torch.Tensor)  # the schema says Tensor
    return value


def _empty(mode: FakeTensorMode, like: torch.Tensor, shape: Sequence[object], dtype: torch.dtype) -> torch.Tensor:
    out = under_mode(mode, like.new_empty, (shape,), {"dtype": dtype})
    assert isinstance(out, torch.Tensor)  # new_empty returns a tensor
    return out


@_register(aten._local_scalar_dense.default)
def local_scalar_dense(
    mode: FakeTensorMode, func: torch._ops.OpOverload, args: Sequence[object], kwargs: Mapping[str, object]
) -> object:
    """``t.item()``: an unbacked SymInt / SymFloat / SymBool, by dtype."""
    t = _tensor_arg(args, kwargs, 0, "self")
    env = mode.shape_env
    if env is None:
        raise DataDependentOutputException(
            func,
            f"{func} on {tensor_str(t)}: .item(), .tolist(), int(t), float(t) and "
            "bool(t) need the value inside the tensor, which a fake tensor does not "
            "have. Give the mode a ShapeEnv (FakeTensorMode(shape_env=ShapeEnv())) to "
            "get an unbacked symbol, or pass the value as a Python number.",
        )
    memo = t._recall("item") if isinstance(t, FakeTensor) else None
    if memo is not None:
        return memo
    value: object
    if t.dtype.is_floating_point or t.dtype.is_complex:
        value = env.create_unbacked_symfloat()
    elif t.dtype == torch.bool:
        value = env.create_unbacked_symbool()
    else:
        value = env.create_unbacked_symint()
    if isinstance(t, FakeTensor):
        t._remember("item", value)
    return value


@_register(aten.equal.default, aten.allclose.default)
def equal(
    mode: FakeTensorMode, func: torch._ops.OpOverload, args: Sequence[object], kwargs: Mapping[str, object]
) -> object:
    """``torch.equal`` / ``allclose`` compare data: an error, or an unbacked SymBool."""
    a, b = _tensor_arg(args, kwargs, 0, "self"), _tensor_arg(args, kwargs, 1, "other")
    if mode.shape_env is None:
        raise DataDependentOutputException(
            func,
            f"{func} on {tensor_str(a)} and {tensor_str(b)}: comparing values needs "
            "data, which fake tensors do not have. Give the mode a ShapeEnv "
            "(FakeTensorMode(shape_env=ShapeEnv())) to get an unbacked symbol.",
        )
    return mode.shape_env.create_unbacked_symbool()


@_register(aten.nonzero.default)
def nonzero(
    mode: FakeTensorMode, func: torch._ops.OpOverload, args: Sequence[object], kwargs: Mapping[str, object]
) -> object:
    """``[nnz, ndim]`` int64 indices, column-major as eager returns them."""
    t = _tensor_arg(args, kwargs, 0, "self")
    nnz = dynamic_size(mode, func, t, "the number of nonzero elements", memo="nonzero")
    out = _empty(mode, t, (nnz, t.dim()), torch.int64)
    return under_mode(mode, out.as_strided, ((nnz, t.dim()), (1, nnz)), {})


@_register(aten.masked_select.default)
def masked_select(
    mode: FakeTensorMode, func: torch._ops.OpOverload, args: Sequence[object], kwargs: Mapping[str, object]
) -> object:
    """A 1-D tensor of the selected elements."""
    t, mask = _tensor_arg(args, kwargs, 0, "self"), _tensor_arg(args, kwargs, 1, "mask")
    shape = torch.broadcast_shapes(t.shape, mask.shape)
    holder = _empty(mode, t, shape, t.dtype)
    nnz = dynamic_size(mode, func, holder, "how many elements the mask selects")
    return _empty(mode, t, (nnz,), t.dtype)


@_register(aten.index.Tensor)
def index_with_masks(
    mode: FakeTensorMode, func: torch._ops.OpOverload, args: Sequence[object], kwargs: Mapping[str, object]
) -> object:
    """``x[mask]``: each boolean mask becomes the columns of ``mask.nonzero()``."""
    x = _tensor_arg(args, kwargs, 0, "self")
    indices = _arg(args, kwargs, 1, "indices")
    assert isinstance(indices, (list, tuple))  # the schema says Tensor?[]
    if not any(isinstance(i, torch.Tensor) and i.dtype in (torch.bool, torch.uint8) for i in indices):
        return NotImplemented
    new_indices: list[object] = []
    for index in indices:
        if isinstance(index, torch.Tensor) and index.dtype in (torch.bool, torch.uint8):
            mask_size = dynamic_size(
                mode, func, index, "how many elements the boolean mask selects", memo="nonzero",
                extra_fix=", or index with integer indices",
            )
            columns = _empty(mode, index, (mask_size,), torch.int64)
            new_indices.extend([columns] * index.dim())
        else:
            new_indices.append(index)
    return under_mode(mode, func, (x, new_indices), {})


@_register(aten.repeat_interleave.Tensor)
def repeat_interleave(
    mode: FakeTensorMode, func: torch._ops.OpOverload, args: Sequence[object], kwargs: Mapping[str, object]
) -> object:
    """Without ``output_size`` the length is ``repeats.sum()``, known only from data."""
    repeats = _tensor_arg(args, kwargs, 0, "repeats")
    if kwargs.get("output_size") is not None:
        return NotImplemented
    size = dynamic_size(
        mode, func, repeats, "the output length (the sum of repeats)",
        extra_fix=", or pass output_size=",
        bounded=False,
    )
    return _empty(mode, repeats, (size,), repeats.dtype)


def _unique_outputs(
    mode: FakeTensorMode,
    func: torch._ops.OpOverload,
    t: torch.Tensor,
    dim: int | None,
    inverse: bool,
    counts: bool,
) -> tuple[torch.Tensor, ...]:
    """(values, inverse, counts) of a unique-like op; unused ones have size 0."""
    if dim is None:
        n = dynamic_size(mode, func, t, "the number of distinct values")
        values = _empty(mode, t, (n,), t.dtype)
        inverse_shape: tuple[object, ...] = tuple(t.shape) if inverse else (0,)
    else:
        dim = dim % max(t.dim(), 1)
        n = dynamic_size(mode, func, t, f"the number of distinct slices along dim {dim}")
        values = _empty(mode, t, (*t.shape[:dim], n, *t.shape[dim + 1 :]), t.dtype)
        inverse_shape = (t.shape[dim],) if inverse else (0,)
    inverse_out = _empty(mode, t, inverse_shape, torch.int64)
    counts_out = _empty(mode, t, (n,) if counts else (0,), torch.int64)
    return values, inverse_out, counts_out


@_register(aten._unique2.default)
def unique2(
    mode: FakeTensorMode, func: torch._ops.OpOverload, args: Sequence[object], kwargs: Mapping[str, object]
) -> object:
    """``torch.unique``: (values, inverse, counts)."""
    t = _tensor_arg(args, kwargs, 0, "self")
    inverse = bool(_arg(args, kwargs, 2, "return_inverse"))
    counts = bool(_arg(args, kwargs, 3, "return_counts"))
    return _unique_outputs(mode, func, t, None, inverse, counts)


@_register(aten._unique.default)
def unique(
    mode: FakeTensorMode, func: torch._ops.OpOverload, args: Sequence[object], kwargs: Mapping[str, object]
) -> object:
    """Old ``torch.unique`` kernel: (values, inverse)."""
    t = _tensor_arg(args, kwargs, 0, "self")
    inverse = bool(_arg(args, kwargs, 2, "return_inverse"))
    return _unique_outputs(mode, func, t, None, inverse, False)[:2]


@_register(aten.unique_dim.default)
def unique_dim(
    mode: FakeTensorMode, func: torch._ops.OpOverload, args: Sequence[object], kwargs: Mapping[str, object]
) -> object:
    """``torch.unique(dim=d)``: inverse and counts are always filled."""
    t = _tensor_arg(args, kwargs, 0, "self")
    dim = _arg(args, kwargs, 1, "dim")
    assert isinstance(dim, int)  # the schema says int
    return _unique_outputs(mode, func, t, dim, True, True)


@_register(aten.unique_consecutive.default)
def unique_consecutive(
    mode: FakeTensorMode, func: torch._ops.OpOverload, args: Sequence[object], kwargs: Mapping[str, object]
) -> object:
    """``torch.unique_consecutive``: (values, inverse, counts)."""
    t = _tensor_arg(args, kwargs, 0, "self")
    inverse = bool(_arg(args, kwargs, 1, "return_inverse"))
    counts = bool(_arg(args, kwargs, 2, "return_counts"))
    dim = _arg(args, kwargs, 3, "dim")
    assert dim is None or isinstance(dim, int)  # the schema says int?
    return _unique_outputs(mode, func, t, dim, inverse, counts)


@_register(aten.bincount.default)
def bincount(
    mode: FakeTensorMode, func: torch._ops.OpOverload, args: Sequence[object], kwargs: Mapping[str, object]
) -> object:
    """Length ``max(x.max() + 1, minlength)``, known only from data."""
    t = _tensor_arg(args, kwargs, 0, "self")
    weights = _arg(args, kwargs, 1, "weights")
    size = dynamic_size(
        mode, func, t, "the output length (the largest value + 1)", bounded=False
    )
    dtype = weights.dtype if isinstance(weights, torch.Tensor) else torch.int64
    return _empty(mode, t, (size,), dtype)


@_register(aten.one_hot.default)
def one_hot(
    mode: FakeTensorMode, func: torch._ops.OpOverload, args: Sequence[object], kwargs: Mapping[str, object]
) -> object:
    """Without ``num_classes`` the class count is ``x.max() + 1``, known only from data."""
    t = _tensor_arg(args, kwargs, 0, "self")
    if _arg(args, kwargs, 1, "num_classes") not in (None, -1):
        return NotImplemented
    size = dynamic_size(
        mode, func, t, "the number of classes (the largest value + 1)",
        extra_fix=", or pass num_classes=",
        bounded=False,
    )
    return _empty(mode, t, (*t.shape, size), torch.int64)


def _known(condition: object) -> bool:
    """True only when ``condition`` is surely true; never guards on unbacked symbols."""
    if isinstance(condition, torch.SymBool):
        return bool(condition.node.guard_or_false("", 0))
    return bool(condition)


def _slice_index(size: object, index: Any) -> Any:
    """``index`` clamped into ``[0, size]`` as slicing does, or None if unknowable."""
    if _known((index >= 0) & (index <= size)):
        return index
    if _known((index < 0) & (index >= -size)):  # type: ignore[operator]  # an int or SymInt
        return index + size
    if _known(index < -size):  # type: ignore[operator]  # an int or SymInt
        return 0
    if _known(index > size):
        return size
    if _known(index >= 0):
        return torch.sym_min(index, size)
    if _known(index < 0):
        return torch.sym_max(index + size, 0)
    return None


@_register(aten.slice.Tensor)
def slice_unbacked(
    mode: FakeTensorMode, func: torch._ops.OpOverload, args: Sequence[object], kwargs: Mapping[str, object]
) -> object:
    """``x[a:b]`` with unbacked bounds (``narrow`` at ``t.item()``): sizes without guards.

    The Python decomposition would ask ``start < 0`` and fail on an unbacked
    start; here every comparison that cannot be decided is answered with
    ``sym_max``/``sym_min``, or with a new unbacked size.
    """
    start, end = _arg(args, kwargs, 2, "start"), _arg(args, kwargs, 3, "end")
    if mode.shape_env is None or not (free_unbacked_symbols(start) or free_unbacked_symbols(end)):
        return NotImplemented
    x = _tensor_arg(args, kwargs, 0, "self")
    dim_arg, step_arg = _arg(args, kwargs, 1, "dim"), _arg(args, kwargs, 4, "step")
    dim = (dim_arg if isinstance(dim_arg, int) else 0) % x.dim()
    step = step_arg if isinstance(step_arg, int) else 1
    sizes: list[Any] = list(x.shape)
    strides: list[Any] = list(x.stride())
    first = 0 if start is None else _slice_index(sizes[dim], start)
    last = sizes[dim] if end is None else _slice_index(sizes[dim], end)
    if first is None or last is None:
        size: Any = mode.new_unbacked_size(func, min=0)
        torch._check(size <= sizes[dim])
    else:
        size = (torch.sym_max(last - first, 0) + step - 1) // step
    offset = x.storage_offset() + (first if first is not None else 0) * strides[dim]
    if first is None:
        offset = mode.new_unbacked_size(func, min=0)
    sizes[dim], strides[dim] = size, strides[dim] * step
    return under_mode(mode, x.as_strided, (sizes, strides, offset), {})
