"""Real tensor -> fake tensor, memoized, with storage aliasing preserved.

The converter keeps two weak memos:

* real tensor -> its fake (``WeakTensorKeyDictionary``: the real tensor is
  not kept alive, and its entry goes when it dies);
* real storage -> one meta storage (keyed by ``StorageWeakRef``), so every
  tensor on one real storage becomes a fake on one fake storage.

A view (``t._base`` set) is made by converting its base first and taking
``as_strided`` of the fake base under the mode, so the fake's ``_base`` is
the fake base, as in eager.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils.weak import WeakTensorKeyDictionary

from ._errors import FakeModeMismatchError
from ._tensor import FakeTensor

if TYPE_CHECKING:
    from ._mode import FakeTensorMode

_META = torch.device("meta")
_SWEEP_EVERY = 256


class FakeTensorConverter:
    """Makes and remembers the fakes of real tensors for one mode."""

    def __init__(self, mode: FakeTensorMode) -> None:
        self._mode = mode
        self._tensors: WeakTensorKeyDictionary = WeakTensorKeyDictionary()
        self._storages: dict[StorageWeakRef, torch.UntypedStorage] = {}
        self._inserted = 0
        self._count = 0

    def __len__(self) -> int:
        return len(self._tensors)

    def from_tensor(
        self,
        t: torch.Tensor,
        *,
        static_shapes: bool | None = None,
        source: str | None = None,
        dynamic_dims: Sequence[Any] | None = None,
        constant: torch.Tensor | None = None,
    ) -> FakeTensor:
        """The fake of ``t`` (the same fake each time ``t`` is passed)."""
        if isinstance(t, FakeTensor):
            if t.fake_mode is not self._mode:
                raise FakeModeMismatchError(
                    f"from_tensor: {t!r} belongs to {t.fake_mode!r}, not to "
                    f"{self._mode!r}. A fake tensor can only be used with the mode "
                    "that made it; convert the real tensor with this mode instead."
                )
            return t
        found = self._tensors.get(t)
        if found is not None:
            assert isinstance(found, FakeTensor)  # the memo holds only fakes
            return found
        self._count += 1
        name = source if source is not None else f"tensor{self._count - 1}"
        symbolic = self._mode.shape_env is not None and not static_shapes
        fake = self._convert(t, name, symbolic, dynamic_dims)
        if constant is not None:
            fake.constant = constant
            self._mode.constants[id(fake)] = fake
        if isinstance(t, torch.nn.Parameter):
            fake._is_param = True
        self._tensors[t] = fake
        return fake

    def _convert(
        self, t: torch.Tensor, source: str, symbolic: bool, dynamic_dims: Sequence[Any] | None
    ) -> FakeTensor:
        if t.layout != torch.strided:
            return self._convert_sparse(t, source)
        sizes, strides, offset = self._metadata(t, source, symbolic, dynamic_dims)
        base = t._base if t._is_view() else None
        if base is not None and base.layout != torch.strided:
            base = None  # crow_indices() and friends are views of the sparse tensor
        if base is not None:
            return self._convert_view(t, base, sizes, strides, offset, source)
        elem = self._fresh_elem(t, sizes, strides, offset, symbolic)
        # set_ bumped the version; the fake starts where the real tensor is.
        torch._C._autograd._unsafe_set_version_counter((elem,), (t._version,))
        fake = FakeTensor(self._mode, elem, t.device, requires_grad=t.requires_grad)
        if t.requires_grad and not t.is_leaf:
            fake = self._make_non_leaf(fake)
        return fake

    def _metadata(
        self, t: torch.Tensor, source: str, symbolic: bool, dynamic_dims: Sequence[Any] | None
    ) -> tuple[Sequence[int | torch.SymInt], Sequence[int | torch.SymInt], int | torch.SymInt]:
        if symbolic:
            env = self._mode.shape_env
            assert env is not None  # symbolic implies an env
            sizes, strides, offset = env.create_symbolic_sizes_strides_storage_offset(
                t, source, dynamic_dims=dynamic_dims
            )
            return tuple(sizes), tuple(strides), offset
        return t.size(), t.stride(), t.storage_offset()

    def _fresh_elem(
        self,
        t: torch.Tensor,
        sizes: Sequence[int | torch.SymInt],
        strides: Sequence[int | torch.SymInt],
        offset: int | torch.SymInt,
        symbolic: bool,
    ) -> torch.Tensor:
        """A meta tensor for ``t`` on the one fake storage of ``t``'s real storage."""
        key = StorageWeakRef(t.untyped_storage())
        storage = self._storages.get(key)
        if storage is None and symbolic and offset == 0:
            # The usual case: a symbolic tensor alone on its storage. Building it
            # directly avoids set_'s storage-bounds check, which would add a guard.
            elem = torch.empty_strided(sizes, strides, dtype=t.dtype, device=_META)
            self._remember(key, elem.untyped_storage())
            return elem
        if storage is None:
            nbytes = t.untyped_storage().nbytes()
            storage = torch.empty(nbytes, dtype=torch.uint8, device=_META).untyped_storage()
            self._remember(key, storage)
        with torch.no_grad():
            elem = torch.empty(0, dtype=t.dtype, device=_META)
            elem.set_(storage, offset, sizes, strides)
        return elem

    def _remember(self, key: StorageWeakRef, storage: torch.UntypedStorage) -> None:
        self._storages[key] = storage
        self._inserted += 1
        if self._inserted % _SWEEP_EVERY == 0:
            self._storages = {k: v for k, v in self._storages.items() if not k.expired()}

    def _convert_view(
        self,
        t: torch.Tensor,
        base: torch.Tensor,
        sizes: Sequence[int | torch.SymInt],
        strides: Sequence[int | torch.SymInt],
        offset: int | torch.SymInt,
        source: str,
    ) -> FakeTensor:
        fake_base = self.from_tensor(base, source=f"{source}._base")
        grad = torch.enable_grad() if t.requires_grad else torch.no_grad()
        with self._mode, grad:
            view = fake_base.as_strided(sizes, strides, offset)
        assert isinstance(view, FakeTensor)  # as_strided of a fake under its mode
        return view

    def _convert_sparse(self, t: torch.Tensor, source: str) -> FakeTensor:
        """A sparse tensor: its component tensors converted, reassembled under the mode.

        Sizes stay static: the components' sizes (nnz) are data.
        """
        layout, shape = t.layout, t.shape
        coalesced = t.is_coalesced() if layout == torch.sparse_coo else False
        if layout == torch.sparse_coo:
            parts = {"indices": t._indices(), "values": t._values()}
        elif layout in (torch.sparse_csr, torch.sparse_bsr):
            parts = {"compressed": t.crow_indices(), "plain": t.col_indices(), "values": t.values()}
        else:
            parts = {"compressed": t.ccol_indices(), "plain": t.row_indices(), "values": t.values()}
        fakes = {
            name: self.from_tensor(part, static_shapes=True, source=f"{source}.{name}")
            for name, part in parts.items()
        }
        with self._mode, torch.no_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta")
            if layout == torch.sparse_coo:
                out = torch.sparse_coo_tensor(
                    fakes["indices"], fakes["values"], shape,
                    is_coalesced=coalesced, check_invariants=False,
                )
            else:
                out = torch.sparse_compressed_tensor(
                    fakes["compressed"], fakes["plain"], fakes["values"], shape,
                    layout=layout, check_invariants=False,
                )
        assert isinstance(out, FakeTensor)  # built under our mode
        out.requires_grad_(t.requires_grad)
        return out

    def _make_non_leaf(self, leaf: FakeTensor) -> FakeTensor:
        """A non-leaf (has a grad_fn) fake on the same storage as ``leaf``."""
        with self._mode, torch.enable_grad():
            non_leaf = leaf.clone()
        with self._mode, torch.no_grad():
            non_leaf.set_(leaf.untyped_storage(), leaf.storage_offset(), leaf.size(), leaf.stride())
        assert isinstance(non_leaf, FakeTensor)  # clone of a fake under its mode
        return non_leaf
