"""Pointwise ops on dense tensors with symbolic sizes, without torch's Python refs.

With symbolic sizes, torch runs a pointwise op (``add``, ``mul``, ``relu``,
``where``, ...) through its Python reference: broadcasting, type promotion
and ``compute_elementwise_output_strides`` ask dozens of symbolic questions
per call, which is most of the time of a symbolic forward pass. Yet when
one input is dense (contiguous or channels-last, every dimension of size
at least 2) and every other tensor input has its shape or broadcasts to it
dimension by dimension, the answer cannot depend on the values of the
symbols: the output has that input's sizes and layout (TensorIterator
follows the layout of a dense full-size input; the strides are written as
torch's ``make_contiguous_strides_for`` writes them, products of
``Max(size, 1)``), and the dtype comes from the type promotion of the
dtypes alone.

So the op runs once on *stand-ins*: meta tensors of the example sizes and
strides (the hints), through torch's C++ meta kernel. Its output must have
exactly the full input's example sizes and strides, or the fast path
declines; its dtype is the answer's. The output is then an empty tensor of
the full input's symbolic sizes and strides. Anything else (mutating ops,
random ops, symbolic scalars, 0-dim or mismatched tensors, mixed devices)
returns ``NotImplemented`` and the op takes the ordinary path; so does an op
that hands back an input (``conj_physical`` of a real tensor, ``positive``).

``FakeTensorMode(cache_crosscheck=True)`` (or ``TORCHSHADE_FAKE_CROSSCHECK=1``)
runs the ordinary path too and compares the outputs (_crosscheck.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sympy
import torch

from . import _torch_private as private
from ._tensor import FakeTensor

if TYPE_CHECKING:
    from ._mode import FakeTensorMode

IntLike = int | torch.SymInt
_META = torch.device("meta")
_SYM_TYPES = (torch.SymInt, torch.SymFloat, torch.SymBool)
# Arguments that make an op something other than "the same computation per element".
_LAYOUT_ARGS = frozenset({"memory_format", "dtype", "layout", "device", "pin_memory", "out"})
_ELIGIBLE: dict[int, bool] = {}


def eligible(func: torch._ops.OpOverload) -> bool:
    """Whether ``func`` is a functional aten pointwise op returning one tensor (by id, cached)."""
    found = _ELIGIBLE.get(id(func))
    if found is None:
        schema = func._schema
        found = _ELIGIBLE[id(func)] = (
            func.namespace == "aten"
            and torch.Tag.pointwise in func.tags
            and torch.Tag.nondeterministic_seeded not in func.tags
            and not schema.is_mutable
            and len(schema.returns) == 1
            and str(schema.returns[0].type) == "Tensor"
            and schema.returns[0].alias_info is None
            and not any(a.name in _LAYOUT_ARGS for a in schema.arguments)
        )
    return found


def run_pointwise(
    mode: FakeTensorMode,
    func: torch._ops.OpOverload,
    args: Sequence[object],
    kwargs: Mapping[str, object],
    fakes: Sequence[FakeTensor],
) -> object:
    """The output of ``func`` by the rule above, or ``NotImplemented``."""
    env = mode.shape_env
    if env is None or any(isinstance(v, _SYM_TYPES) for v in [*args, *kwargs.values()]):
        return NotImplemented
    written = _Written(env.simplify)
    full = _full_input(fakes, written)
    if full is None:
        return NotImplemented
    shape, strides = written(full.shape), written(full.stride())
    order = _dense_order(shape, strides, env.simplify)
    if order is None or not all(_fits(t, full, shape, strides, written) for t in fakes):
        return NotImplemented
    try:
        hints = {id(t): _stand_in(t) for t in fakes}
    except _NoHint:
        return NotImplemented

    def swap(value: object) -> object:
        return hints.get(id(value), value)

    with private.DisableTorchDispatch():
        example = func(*[swap(a) for a in args], **{k: swap(v) for k, v in kwargs.items()})
        like = hints[id(full)]
        stand_ins = {t.untyped_storage()._cdata for t in hints.values()}
        if not (
            isinstance(example, torch.Tensor)
            # An op may hand back its input (conj_physical or positive of a real
            # tensor, as eager does): aliasing is the ordinary path's to get right.
            and example.untyped_storage()._cdata not in stand_ins
            and example.shape == like.shape
            and example.stride() == like.stride()
            and example.storage_offset() == 0
        ):
            return NotImplemented
        size = [env.symint_from_expr(e, n) for e, n in zip(shape, like.shape)]
        out_strides = _contiguous_strides(shape, order, env.simplify)
        stride = [env.symint_from_expr(e, n) for e, n in zip(out_strides, like.stride())]
        elem = torch.empty_strided(size, stride, dtype=example.dtype, device=_META)
    return FakeTensor(mode, elem, full.fake_device)


class _Written:
    """Sizes as sympy expressions, with what the ShapeEnv knows applied (replacements
    such as ``s1 := 3`` rewrite ``-s1 + x + 4`` to ``x + 1``). Compared as written
    after that, so no symbolic question is asked and no SymInt arithmetic is made
    (a tracer would record it)."""

    def __init__(self, simplify: Callable[[Any], Any]) -> None:
        self._simplify = simplify

    def __call__(self, values: Sequence[IntLike]) -> tuple[Any, ...]:
        return tuple(
            self._simplify(v.node.expr) if isinstance(v, torch.SymInt) else sympy.Integer(v) for v in values
        )


def _full_input(fakes: Sequence[FakeTensor], written: _Written) -> FakeTensor | None:
    """The first tensor of the highest rank, if it is dense and has no dimension below 2."""
    if not fakes:
        return None
    full = max(fakes, key=lambda t: t.dim())
    if full.dim() == 0 or full.layout != torch.strided or full.is_conj() or full.is_neg():
        return None
    if not full._has_symbolic_sizes_strides:
        return None  # static sizes: the C++ kernel is exact and fast already
    shape = written(full.shape)
    if any(n.is_Integer and n < 2 for n in shape) or written((full.storage_offset(),)) != (0,):
        return None
    return full


def _fits(t: FakeTensor, full: FakeTensor, shape: tuple[Any, ...], strides: tuple[Any, ...],
          written: _Written) -> bool:  # fmt: skip
    """``t`` is ``full``'s shape and layout, or broadcasts to it one dimension at a time."""
    if t is full:
        return True
    if t.fake_device != full.fake_device or t.layout != torch.strided or t.is_conj() or t.is_neg():
        return False
    sizes = written(t.shape)
    if sizes == shape:
        return written(t.stride()) == strides and written((t.storage_offset(),)) == (0,)
    if t.dim() == 0 or t.dim() > full.dim():
        return False
    return all(n == 1 or n == m for n, m in zip(reversed(sizes), reversed(shape)))


def _dense_order(shape: tuple[Any, ...], strides: tuple[Any, ...],
                 simplify: Callable[[Any], Any]) -> list[int] | None:  # fmt: skip
    """The dimensions innermost first, if ``strides`` are contiguous in that order
    (row-major, or channels-last for 4-d / 5-d), written as products of the sizes
    or of ``Max(size, 1)`` as torch's ``make_contiguous_strides_for`` writes them."""
    orders = [list(range(len(shape) - 1, -1, -1))]
    if len(shape) in (4, 5):
        orders.append([1, *range(len(shape) - 1, 1, -1), 0])
    for order in orders:
        plain = sympy.Integer(1)
        clamped = sympy.Integer(1)
        for d in order:
            if strides[d] != plain and strides[d] != clamped:
                break
            plain = plain * shape[d]
            clamped = simplify(clamped * _clamped(shape[d]))
        else:
            return order
    return None


def _clamped(size: Any) -> Any:
    """``Max(size, 1)`` as torch's ``sym_max`` on our SymNode builds it: numbers folded,
    otherwise unevaluated (sympy's own evaluation of ``Max`` asks its assumption system
    about every pair of arguments; what the ShapeEnv knows then simplifies it)."""
    if size.is_Integer:
        return sympy.Integer(max(int(size), 1))
    return sympy.Max(size, 1, evaluate=False)


def _contiguous_strides(shape: tuple[Any, ...], order: list[int], simplify: Callable[[Any], Any]) -> list[Any]:
    """The strides torch's pointwise kernels give an output laid out in ``order``:
    contiguous in that order, each a product of ``Max(size, 1)`` (simplified by what
    the ShapeEnv knows, so ``Max(s0, 1)`` is ``s0`` when ``s0 >= 2``)."""
    out: list[Any] = [None] * len(shape)
    multiplier = sympy.Integer(1)
    for d in order:
        out[d] = multiplier
        multiplier = simplify(multiplier * _clamped(shape[d]))
    return out


def _stand_in(t: FakeTensor) -> torch.Tensor:
    """A meta tensor of ``t``'s example sizes and strides (hints for symbols)."""
    size = [_hint(n) for n in t.shape]
    stride = [_hint(n) for n in t.stride()]
    return torch.empty_strided(size, stride, dtype=t.dtype, device=_META)


def _hint(value: IntLike) -> int:
    if isinstance(value, int):
        return value
    hint = value.node.hint
    if not isinstance(hint, int):
        raise _NoHint
    return hint


class _NoHint(Exception):
    """A size without an example value (unbacked): the fast path declines."""
