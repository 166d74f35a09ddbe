"""The dispatch cache: op + argument metadata -> output metadata.

A key holds the op and, for each argument, what a meta kernel can see:
a fake tensor's dtype, device, sizes, strides, offset and conj/neg bits
(symbolic sizes by their sympy expression, which hashes structurally), and
plain values with their type (so ``1``, ``1.0`` and ``True`` differ).

An entry describes each output as "argument i itself" (in-place ops), "a
view of argument i's storage" (rebuilt with ``set_`` on that storage, so
aliasing is exact) or "a fresh tensor" (rebuilt with ``empty_strided``).
Hits return fresh tensor objects, never a cached one.

Never cached: ops outside aten/prims (custom ops may have side effects),
data-dependent ops, ops that change metadata in place or write ``out=``,
and any call that made an unbacked symbol.

Symbolic views are rebuilt with the C++ ``as_strided`` meta kernel rather
than ``set_``, whose symbolic storage-bounds check costs milliseconds.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import torch

from ._kernel import call_in_kernel
from ._tensor import FakeTensor

if TYPE_CHECKING:
    from ._mode import FakeTensorMode

_META = torch.device("meta")
_AS_STRIDED = torch.ops.aten.as_strided.default
_SYM_TYPES = (torch.SymInt, torch.SymFloat, torch.SymBool)
_PLAIN_TYPES = (torch.dtype, torch.device, torch.layout, torch.memory_format, str, type(None))
_NEVER = frozenset(
    {torch.Tag.dynamic_output_shape, torch.Tag.data_dependent_output, torch.Tag.inplace_view}
)
_MAX_ENTRIES = 200_000


class CacheInfo(NamedTuple):
    """Counts of the dispatch cache (``mode.cache_info()``)."""

    hits: int
    misses: int
    bypasses: int
    size: int


class Uncacheable(Exception):
    """Raised while building a key or an entry: this call is not cached."""


@dataclass(frozen=True)
class OutputSpec:
    """How to rebuild one output tensor."""

    arg: int | None  # the output *is* tensor argument `arg` (in-place ops)
    view_of: int | None  # the output shares tensor argument `view_of`'s storage
    dtype: torch.dtype
    device: torch.device
    shape: tuple[int | torch.SymInt, ...]
    stride: tuple[int | torch.SymInt, ...]
    offset: int | torch.SymInt
    symbolic: bool = False


def _sym_key(value: object) -> Hashable:
    if isinstance(value, _SYM_TYPES):
        return (type(value), value.node.expr)
    assert isinstance(value, Hashable)  # ints of a Size
    return value


def tensor_key(t: torch.Tensor) -> Hashable:
    """What a kernel sees of ``t``."""
    if not isinstance(t, FakeTensor) or t.layout != torch.strided:
        raise Uncacheable
    if t._has_symbolic_sizes_strides:
        shape = tuple(_sym_key(s) for s in t.shape)
        stride = tuple(_sym_key(s) for s in t.stride())
        offset = _sym_key(t.storage_offset())
    else:
        shape, stride, offset = t.shape, t.stride(), t.storage_offset()
    dtype = t.dtype
    # The conjugate and negative bits are only ever set on complex tensors.
    bits = (t.is_conj(), t.is_neg()) if dtype.is_complex else None
    return (dtype, t.fake_device, shape, stride, offset, bits)


def value_key(value: object) -> Hashable:
    """A hashable key for one argument, distinguishing 1, 1.0 and True."""
    if isinstance(value, torch.Tensor):
        return tensor_key(value)
    if isinstance(value, (bool, int, float, complex)):
        return (type(value), value)
    if isinstance(value, _PLAIN_TYPES):
        return value
    if isinstance(value, (list, tuple)):
        return (type(value), tuple(value_key(v) for v in value))
    if isinstance(value, _SYM_TYPES):
        return _sym_key(value)
    raise Uncacheable


def is_cacheable_op(func: torch._ops.OpOverload) -> bool:
    """Whether calls of ``func`` may ever be cached (see the module docstring)."""
    if func.namespace not in ("aten", "prims") or _NEVER.intersection(func.tags):
        return False
    schema = func._schema
    if not schema.is_mutable:
        return True
    name = schema.name.split("::")[-1]
    in_place = name.endswith("_") and not name.startswith("_")
    writes_out = any(a.is_out for a in schema.arguments)
    return in_place and not writes_out and name not in ("resize_", "resize_as_", "set_")


def output_spec(out: torch.Tensor, tensors: Sequence[torch.Tensor], storages: Sequence[int]) -> OutputSpec:
    """Describe ``out`` relative to the op's tensor arguments."""
    if not isinstance(out, FakeTensor) or out.layout != torch.strided:
        raise Uncacheable
    for index, t in enumerate(tensors):
        if out is t:
            return OutputSpec(index, None, out.dtype, out.fake_device, (), (), 0)
    storage = out.untyped_storage()._cdata
    view_of = storages.index(storage) if storage in storages else None
    offset = out.storage_offset()
    if view_of is None and (offset != 0 or not _storage_is_exact(out)):
        raise Uncacheable
    return OutputSpec(
        None, view_of, out.dtype, out.fake_device, tuple(out.shape), tuple(out.stride()), offset,
        out._has_symbolic_sizes_strides,
    )


def _storage_is_exact(t: torch.Tensor) -> bool:
    """Whether ``empty_strided`` would allocate exactly ``t``'s storage."""
    if t._has_symbolic_sizes_strides:
        return True
    needed = 0 if t.numel() == 0 else 1 + sum((s - 1) * st for s, st in zip(t.shape, t.stride()))
    return needed * t.element_size() == t.untyped_storage().nbytes()


def rebuild(mode: FakeTensorMode, spec: OutputSpec, tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """A new output tensor described by ``spec``."""
    if spec.arg is not None:
        return tensors[spec.arg]
    if spec.view_of is not None and spec.symbolic:
        view = call_in_kernel(
            mode, _AS_STRIDED, (tensors[spec.view_of], spec.shape, spec.stride, spec.offset), {}
        )
        assert isinstance(view, torch.Tensor)  # as_strided returns a tensor
        return FakeTensor(mode, view, spec.device)
    with torch._C._DisableTorchDispatch():
        if spec.view_of is None:
            elem = torch.empty_strided(spec.shape, spec.stride, dtype=spec.dtype, device=_META)
        else:
            elem = torch.empty(0, dtype=spec.dtype, device=_META)
            source = tensors[spec.view_of].untyped_storage()
            elem.set_(source, spec.offset, spec.shape, spec.stride)
    return FakeTensor(mode, elem, spec.device)


# Entries of static modes: output metadata that depends on input metadata only.
_SHARED_ENTRIES: dict[Hashable, object] = {}


class DispatchCache:
    """A mode's cache from keys to output descriptions, with its own counts.

    ``shared`` caches (static modes) use one process-wide table of entries.
    """

    def __init__(self, enabled: bool = True, shared: bool = False) -> None:
        self.enabled = enabled
        self.entries: dict[Hashable, object] = _SHARED_ENTRIES if shared else {}
        self.hits = 0
        self.misses = 0
        self.bypasses = 0
        # Keyed by id(op): OpOverload.__hash__ is Python code, and ops live forever.
        self._cacheable: dict[int, bool] = {}

    def info(self) -> CacheInfo:
        return CacheInfo(self.hits, self.misses, self.bypasses, len(self.entries))

    def clear(self) -> None:
        self.entries.clear()
        self.hits = self.misses = self.bypasses = 0

    def key(
        self, func: torch._ops.OpOverload, args: Sequence[object], kwargs: Mapping[str, object]
    ) -> Hashable | None:
        """The key of this call, or None (counted as a bypass) if it is never cached."""
        cacheable = self._cacheable.get(id(func))
        if cacheable is None:
            cacheable = self._cacheable[id(func)] = is_cacheable_op(func)
        if not cacheable:
            self.bypasses += 1
            return None
        try:
            arg_keys = tuple(value_key(a) for a in args)
            kw_keys = tuple((k, value_key(v)) for k, v in kwargs.items())
        except Uncacheable:
            self.bypasses += 1
            return None
        return (id(func), arg_keys, kw_keys, torch.get_default_dtype())

    def store(self, key: Hashable, out: object, tensors: Sequence[torch.Tensor]) -> None:
        """Remember ``out`` for ``key``; silently skip outputs we cannot describe."""
        storages = [t.untyped_storage()._cdata for t in tensors]
        try:
            entry = _entry(out, tensors, storages)
        except Uncacheable:
            self.bypasses += 1
            return
        if len(self.entries) >= _MAX_ENTRIES:
            self.entries.clear()
        self.entries[key] = entry

    def lookup(
        self, mode: FakeTensorMode, key: Hashable, tensors: Sequence[torch.Tensor]
    ) -> tuple[bool, object]:
        """(True, rebuilt output) on a hit, (False, None) on a miss."""
        entry = self.entries.get(key)
        if entry is None:
            self.misses += 1
            return False, None
        self.hits += 1
        return True, _from_entry(mode, entry, tensors)


def _entry(out: object, tensors: Sequence[torch.Tensor], storages: Sequence[int]) -> object:
    if isinstance(out, torch.Tensor):
        return output_spec(out, tensors, storages)
    if isinstance(out, (list, tuple)):
        items = tuple(_entry(o, tensors, storages) for o in out)
        fresh = [
            e.shape for e in items if isinstance(e, OutputSpec) and e.arg is None and e.view_of is None
        ]
        fresh_storages = {
            o.untyped_storage()._cdata for o in out if isinstance(o, torch.Tensor)
        } - set(storages)
        if len(fresh_storages) != len(fresh):
            raise Uncacheable  # fresh outputs aliasing each other
        return (type(out) is list, items)
    if out is None or isinstance(out, (bool, int, float, *_SYM_TYPES)):
        return _Value(out)
    raise Uncacheable


@dataclass(frozen=True)
class _Value:
    value: object


def _from_entry(mode: FakeTensorMode, entry: object, tensors: Sequence[torch.Tensor]) -> object:
    if isinstance(entry, OutputSpec):
        return rebuild(mode, entry, tensors)
    if isinstance(entry, _Value):
        return entry.value
    assert isinstance(entry, tuple)  # (is_list, items) from _entry
    is_list, items = entry
    outs = [_from_entry(mode, item, tensors) for item in items]
    return outs if is_list else tuple(outs)
