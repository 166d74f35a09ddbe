"""Real tensor -> fake tensor, memoized, with storage aliasing preserved.

The converter keeps two weak memos:

* real tensor -> its fake (``WeakTensorKeyDictionary``: the real tensor is
  not kept alive, and its entry goes when it dies);
* real storage -> one meta storage (keyed by ``StorageWeakRef``), so every
  tensor on one real storage becomes a fake on one fake storage.

A view (``t._base`` set) is made by converting its base first and taking
``as_strided`` of the fake base under the mode, so the fake's ``_base`` is
the fake base, as in eager.

What else comes across, as torch's converter does it:

* ``.grad`` of a leaf: the fake's ``.grad`` is the fake of the grad. With a
  ShapeEnv a grad of the tensor's shape gets the tensor's own size symbols
  (autograd requires a grad to have its tensor's shape).
* the storage offset: with a ShapeEnv a nonzero offset (a view's, usually) is
  a symbol like any size, with the real offset as its hint (0 and 1
  specialize, as sizes do).
* a fake tensor of another mode: converted like a real tensor when its sizes
  are plain ints; when they are symbols of this mode's ShapeEnv (two modes on
  one env, as export and re-tracing use), the new fake keeps those very
  symbols. Symbols of a different ShapeEnv are refused.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils.weak import WeakTensorKeyDictionary

from . import _torch_private as private
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
        if isinstance(t, FakeTensor) and t.fake_mode is self._mode:
            return t
        found = self._tensors.get(t)
        if found is not None:
            assert isinstance(found, FakeTensor)  # the memo holds only fakes
            return found
        self._count += 1
        name = source if source is not None else f"tensor{self._count - 1}"
        symbolic = self._mode.shape_env is not None and not static_shapes
        if isinstance(t, FakeTensor):  # another mode's: its metadata as they are
            self._check_foreign(t)
            symbolic = False
            constant = t.constant if constant is None else constant
        fake = self._convert(t, name, symbolic, dynamic_dims)
        if constant is not None:
            fake.constant = constant
            self._mode.constants[id(fake)] = fake
        if isinstance(t, torch.nn.Parameter):
            fake._is_param = True
        self._tensors[t] = fake
        self._convert_grad(t, fake, name, symbolic)
        return fake

    def _check_foreign(self, t: FakeTensor) -> None:
        """Refuse a fake of another mode whose symbols belong to another ShapeEnv."""
        symbolic = any(
            isinstance(n, torch.SymInt) for n in (*t.shape, *t.stride(), t.storage_offset())
        )
        if symbolic and t.fake_mode.shape_env is not self._mode.shape_env:
            raise FakeModeMismatchError(
                f"from_tensor: {t!r} belongs to {t.fake_mode!r}, whose ShapeEnv is not "
                f"the one of {self._mode!r}, and its sizes are symbols of that other "
                "ShapeEnv. Give both modes one ShapeEnv "
                "(FakeTensorMode(shape_env=the_other_mode.shape_env)), or convert the "
                "real tensor with this mode instead."
            )

    def _convert_grad(self, t: torch.Tensor, fake: FakeTensor, source: str, symbolic: bool) -> None:
        """Give ``fake`` the fake of ``t.grad`` (leaves only: a non-leaf's grad warns)."""
        grad = t.grad if t.is_leaf else None
        if grad is None:
            return
        fake_grad = self._tensors.get(grad)
        if fake_grad is None and symbolic and not isinstance(grad, FakeTensor):
            fake_grad = self._grad_with_symbols_of(grad, t, fake, source)
        if fake_grad is None:
            fake_grad = self.from_tensor(grad, static_shapes=not symbolic, source=f"{source}.grad")
        with torch.no_grad():
            fake.grad = fake_grad

    def _grad_with_symbols_of(
        self, grad: torch.Tensor, t: torch.Tensor, fake: FakeTensor, source: str
    ) -> FakeTensor | None:
        """The fake of ``grad`` with the size symbols of ``fake`` (the fake of ``t``).

        For a grad of ``t``'s shape at the start of its storage (what autograd
        makes); None for any other grad, and for a view whose base is converted
        already (it becomes a view of that).
        """
        if grad.layout != torch.strided or grad.storage_offset() != 0:
            return None
        if grad._is_view() and grad._base in self._tensors:
            return None
        if grad.shape != t.shape:
            return None
        strides = self._strides_over(grad, fake.shape, f"{source}.grad")
        elem = self._fresh_elem(grad, fake.shape, strides, 0, True)
        private.unsafe_set_version_counter((elem,), (grad._version,))
        out = FakeTensor(self._mode, elem, grad.device, requires_grad=grad.requires_grad)
        self._tensors[grad] = out
        return out

    def _strides_over(
        self, t: torch.Tensor, sizes: Sequence[int | torch.SymInt], source: str
    ) -> tuple[int | torch.SymInt, ...]:
        """``t``'s strides written over ``sizes``, innermost first: a stride that
        is the product of the sizes inside it is that product, any other is a
        symbol of its own (as the ShapeEnv writes a converted tensor's strides)."""
        env = self._mode.shape_env
        assert env is not None  # called for symbolic conversions only
        real = t.stride()
        out: list[int | torch.SymInt] = [0] * t.dim()
        expected: int = 1
        expected_sym: int | torch.SymInt = 1
        for d in sorted(range(t.dim()), key=lambda d: (real[d], -d)):
            if real[d] == expected:
                out[d] = expected_sym
            else:
                out[d] = env.create_symint(real[d], f"{source}.stride()[{d}]")
            expected, expected_sym = real[d] * t.size(d), out[d] * sizes[d]
        return tuple(out)

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
        private.unsafe_set_version_counter((elem,), (t._version,))
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
        if storage is None and (symbolic or _has_symbols(sizes, strides)) and _is_zero(offset):
            # The usual case: a symbolic tensor alone on its storage. Building it
            # directly avoids set_'s storage-bounds check, which would add a guard.
            elem = torch.empty_strided(sizes, strides, dtype=t.dtype, device=_META)
            self._remember(key, elem.untyped_storage())
            return elem
        if storage is None:
            nbytes = t.untyped_storage().nbytes()
            storage = torch.empty(nbytes, dtype=torch.uint8, device=_META).untyped_storage()
            self._remember(key, storage)
        env = self._mode.shape_env
        # set_ checks that the sizes fit the storage; for symbols that check is
        # a fact of the real tensor, not a decision of the program (no guard, as
        # in torch's converter).
        quiet = env.suppress_guards() if env is not None else contextlib.nullcontext()
        with torch.no_grad(), quiet:
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
        symbolic = _has_symbols(sizes, strides, (offset,))
        fake_base = self.from_tensor(base, static_shapes=not symbolic, source=f"{source}._base")
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


def _has_symbols(*lists: Sequence[int | torch.SymInt]) -> bool:
    return any(isinstance(n, torch.SymInt) for numbers in lists for n in numbers)


def _is_zero(n: int | torch.SymInt) -> bool:
    """``n == 0`` known without a guard (a symbol is never known to be 0 here)."""
    return isinstance(n, int) and n == 0
