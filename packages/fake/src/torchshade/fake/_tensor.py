"""FakeTensor: a tensor with metadata and no data.

How it is built, and why
------------------------
A ``FakeTensor`` *is* a meta tensor: ``torch.Tensor._make_subclass`` wraps a
meta tensor's ``TensorImpl`` (sharing its storage, sizes, strides and offset)
in this Python class, with the Python dispatch key set so every op reaches
:class:`~torchshade.fake.FakeTensorMode`. ``dispatch_device=True`` makes
``.device`` ask us, so the tensor reports the device the user asked for
(``cuda:0`` works on a CPU-only machine), while ``device_for_backend_keys``
gives it that device's dispatch keys.

We chose ``_make_subclass`` over ``_make_wrapper_subclass`` because a
wrapper owns no real storage: every wrapper would get its own storage object,
and views of one base could not share one ``untyped_storage()``. Being a meta
tensor, a fake tensor shares storage with its views exactly as a real tensor
does, in-place metadata changes (``t.unsqueeze_(0)``) act on the tensor
itself, and meta kernels can run directly on it (the mode puts ``Meta`` in
the thread-local dispatch set while a kernel runs; see ``_kernel.py``).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import torch

from . import _torch_private as private
from ._spec import shape_str
from ._stand_in import DeviceMethods, cpp_device, stand_in

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ._mode import FakeTensorMode

_PRIM_DEVICE = torch.ops.prim.device.default
_META = torch.device("meta")


class FakeTensor(DeviceMethods):
    """A tensor with sizes, strides, dtype and device, but no data.

    Made by :meth:`FakeTensorMode.from_tensor` or by running ops inside a
    ``FakeTensorMode``::

        >>> mode = FakeTensorMode()
        >>> x = mode.from_tensor(torch.empty(2, 3))
        >>> with mode:
        ...     y = x @ x.T
        >>> y
        FakeTensor(f32[2, 2], device='cpu')
    """

    fake_mode: FakeTensorMode
    fake_device: torch.device
    # What torch's C++ is told (prim.device): fake_device, or a stand-in (_stand_in.py).
    cpp_device: torch.device
    # The real value of a small tensor made inside the mode (torch.tensor([3])),
    # kept so .item() works; dropped when the tensor is written to.
    constant: torch.Tensor | None
    # Unbacked symbols already made for this tensor's data-dependent facts
    # (e.g. its nonzero count), keyed by fact, with the data stamp they hold for.
    _memo: dict[str, tuple[tuple[int, int, int], object]]

    @staticmethod
    def __new__(
        cls,
        fake_mode: FakeTensorMode,
        elem: torch.Tensor,
        device: torch.device,
        constant: torch.Tensor | None = None,
        requires_grad: bool = False,
    ) -> FakeTensor:
        self = torch.Tensor._make_subclass(
            cls,
            elem,
            requires_grad,
            dispatch_device=True,
            device_for_backend_keys=device,
        )
        self.fake_mode = fake_mode
        self.fake_device = device
        self.cpp_device = stand_in(device)
        self.constant = constant
        self._memo = {}
        return self

    def __init__(self, *args: object, **kwargs: object) -> None:
        # Python calls __init__ with __new__'s arguments; Tensor.__init__ would
        # reject them, and there is nothing left to initialize.
        pass

    # Every op goes to __torch_dispatch__; the Python-level wrapping that
    # Tensor.__torch_function__ would add costs time and changes nothing.
    __torch_function__ = private.disabled_torch_function_impl  # type: ignore[assignment]  # torch types it as a 4-argument method

    @classmethod
    def __torch_dispatch__(  # type: ignore[override]  # torch's stub declares it an instance method
        cls,
        func: torch._ops.OpOverload,
        types: Sequence[type],
        args: Sequence[object] = (),
        kwargs: Mapping[str, object] | None = None,
    ) -> object:
        if func is _PRIM_DEVICE:
            tensor = args[0]
            assert isinstance(tensor, FakeTensor)  # prim.device has one tensor arg
            return cpp_device(tensor)
        mode = _find_mode(args, kwargs)
        return mode.dispatch_outside_mode(func, types, args, kwargs or {})

    def __repr__(self, *, tensor_contents: Any = None) -> str:  # type: ignore[override]  # torch stubs the keyword oddly
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"FakeTensor({shape_str(self.dtype, self.shape)}, device='{self.fake_device}'{grad})"

    def __deepcopy__(self, memo: dict[Any, object]) -> FakeTensor:
        """A copy in the same mode (torch's copies its mode along with the tensor).

        As for real tensors, copies made in one ``deepcopy`` call share storage
        where the originals did (static sizes; symbolic tensors are cloned).
        """
        if id(self) in memo:
            result = memo[id(self)]
            assert isinstance(result, FakeTensor)  # memo maps id(self) to its copy
            return result
        with self.fake_mode, torch.no_grad():
            new = self._copy_storage(memo) if not self._has_symbolic_sizes_strides else self.clone()
        assert isinstance(new, FakeTensor)  # made under our mode
        new.requires_grad_(self.requires_grad)
        for key, value in self.__dict__.items():
            if key not in ("fake_mode", "_memo"):
                new.__dict__[key] = copy.deepcopy(value, memo)
        memo[id(self)] = new
        return new

    def _copy_storage(self, memo: dict[Any, object]) -> torch.Tensor:
        """A tensor like self on the copy of self's storage (one copy per memo)."""
        key = ("torchshade.fake storage", self.untyped_storage()._cdata)
        storage = memo.get(key)
        if storage is None:
            nbytes = self.untyped_storage().nbytes()
            with private.DisableTorchDispatch():
                storage = torch.empty(nbytes, dtype=torch.uint8, device=_META).untyped_storage()
            memo[key] = storage
        assert isinstance(storage, torch.UntypedStorage)  # stored just above
        new = torch.empty(0, dtype=self.dtype, device=self.fake_device)
        return new.set_(storage, self.storage_offset(), self.size(), self.stride())

    def _data_stamp(self) -> tuple[int, int, int]:
        """What identifies this tensor's data: version, storage, writes to that storage.

        ``_version`` alone is not enough: a write under
        ``torch.autograd._unsafe_preserve_version_counter`` puts the old
        version back, so the mode also counts every write to each storage.
        """
        storage = self.untyped_storage()
        return (self._version, storage._cdata, self.fake_mode.storage_writes.get(storage, 0))

    def _recall(self, fact: str) -> object | None:
        """The value remembered for ``fact`` (e.g. ``"nonzero"``) if the data is unchanged."""
        found = self._memo.get(fact)
        if found is not None and found[0] == self._data_stamp():
            return found[1]
        return None

    def _remember(self, fact: str, value: object) -> None:
        """Remember ``value`` for ``fact`` until this tensor's data changes."""
        self._memo[fact] = (self._data_stamp(), value)

    def tolist(self) -> Any:
        """Python numbers via ``.item()``: exact for constants, else symbols or an error."""
        if self.dim() == 0:
            return self.item()
        return [row.tolist() for row in self.unbind(0)]


def _find_mode(args: Sequence[object], kwargs: Mapping[str, object] | None) -> FakeTensorMode:
    for arg in args:
        if isinstance(arg, FakeTensor):
            return arg.fake_mode
        if isinstance(arg, (list, tuple)):
            for item in arg:
                if isinstance(item, FakeTensor):
                    return item.fake_mode
    for value in (kwargs or {}).values():
        if isinstance(value, FakeTensor):
            return value.fake_mode
        if isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, FakeTensor):
                    return item.fake_mode
    raise AssertionError("FakeTensor.__torch_dispatch__ called without a FakeTensor argument")
