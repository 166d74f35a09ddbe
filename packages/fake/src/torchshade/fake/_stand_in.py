"""Fake tensors on a device this torch build has no backend for (CUDA on a CPU-only build).

A fake tensor tells torch's C++ its device through ``prim.device``. C++ then
asks the device's guard (``c10::impl::getDeviceGuardImpl``) for the current
device and stream: the Python bindings of ``copy_`` and ``.to("cuda")``,
and autograd, for every tensor that requires grad (``InputMetadata``). A
CPU-only build has no CUDA guard, so those raise, and in autograd, where
the error cannot propagate, the process aborts (torch's own fake mode aborts
there too).

So C++ is told a *stand-in* device instead: ``meta:k``, a meta device whose
index ``k`` names the fake device (``cuda:0`` -> ``meta:0`` for the first
one seen). Meta has a guard that does nothing, and autograd runs meta work
on the CPU queue. Python sees the fake device: :class:`DeviceMethods`, a
base of ``FakeTensor``, answers ``device``, ``is_cuda``, ``is_meta``,
``is_cpu`` and ``get_device`` from ``fake_device``, and its ``to`` /
``cuda`` fill in the index of ``"cuda"`` (which C++ would ask the missing
CUDA runtime for) and return the tensor itself when nothing changes, as
eager does. A C++ composite kernel that makes a tensor "like" a fake one
passes the stand-in as its ``device=``; the mode maps it back
(:func:`from_stand_in`). The price: such kernels see ``is_cuda() == False``
and take their non-CUDA path (e.g. dropout's unfused one), which has the same
output metadata; and a tensor asked for on ``meta:k`` by the user itself,
rare for meta, is put on the k-th stand-in's device.

Builds that have the backend (a CUDA build, even with no GPU: the mode calls
``torch._C._ensureCUDADeviceGuardSet()``) use no stand-in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from ._tensor import FakeTensor

_META = torch.device("meta")
# Device types whose guard this build lacks.
_MISSING_BACKENDS: frozenset[str] = frozenset(() if torch.backends.cuda.is_built() else ("cuda",))
_stand_ins: dict[torch.device, torch.device] = {}
_by_index: list[torch.device] = []


def stand_in(device: torch.device) -> torch.device:
    """The device torch's C++ is told for a fake on ``device``: itself, or ``meta:k``."""
    if device.type not in _MISSING_BACKENDS:
        return device
    found = _stand_ins.get(device)
    if found is None:
        found = _stand_ins[device] = torch.device("meta", len(_by_index))
        _by_index.append(device)
    return found


def has_no_backend(device: torch.device) -> bool:
    """Whether this build lacks ``device``'s backend (its fakes use a stand-in)."""
    return device.type in _MISSING_BACKENDS


def from_stand_in(device: torch.device) -> torch.device:
    """The fake device a stand-in ``meta:k`` stands for; any other device unchanged."""
    if device.type == "meta" and device.index is not None and device.index < len(_by_index):
        return _by_index[device.index]
    return device


def for_cpp(device: object) -> object:
    """A device argument as C++ must get it: ``"cuda"`` -> ``meta:k``, the stand-in of ``cuda:0``.

    C++ would ask the missing runtime for the index of ``"cuda"``, and
    initialize it for ``"cuda:0"``; the mode maps ``meta:k`` back.
    """
    if isinstance(device, (str, torch.device)):
        parsed = torch.device(device)
        if parsed.type in _MISSING_BACKENDS:
            return stand_in(torch.device(parsed.type, parsed.index or 0))
    return device


class DeviceMethods(torch.Tensor):
    """The Python face of a fake tensor's device: its ``fake_device``, never the stand-in.

    Inside a kernel (a meta kernel running on the fake as the meta tensor it
    is) the answer is ``meta``, as ``prim.device``'s is.
    """

    fake_device: torch.device
    cpp_device: torch.device
    fake_mode: Any

    def _python_device(self) -> torch.device:
        return _META if self.fake_mode.in_kernel else self.fake_device

    @property
    def device(self) -> torch.device:  # type: ignore[override]  # same type as Tensor.device
        return self._python_device()

    @property
    def is_cuda(self) -> bool:  # type: ignore[override]  # same type as Tensor.is_cuda
        return self._python_device().type == "cuda"

    @property
    def is_cpu(self) -> bool:  # type: ignore[override]  # same type as Tensor.is_cpu
        return self._python_device().type == "cpu"

    @property
    def is_meta(self) -> bool:  # type: ignore[override]  # same type as Tensor.is_meta
        return self._python_device().type == "meta"

    def get_device(self) -> int:
        device = self._python_device()
        return -1 if device.type in ("cpu", "meta") else (device.index or 0)

    def to(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        args = tuple(for_cpp(a) for a in args)
        if "device" in kwargs:
            kwargs["device"] = for_cpp(kwargs["device"])
        return super().to(*args, **kwargs)

    def cuda(
        self,
        device: int | str | torch.device | None = None,
        non_blocking: bool = False,
        memory_format: torch.memory_format = torch.preserve_format,
    ) -> torch.Tensor:
        if device is None or isinstance(device, int):
            device = torch.device("cuda", device or 0)
        return self.to(device, non_blocking=non_blocking, memory_format=memory_format)

    @property
    def data(self) -> torch.Tensor:
        return torch.Tensor.data.__get__(self)  # type: ignore[attr-defined, no-any-return]  # the C getset

    @data.setter
    def data(self, value: torch.Tensor) -> None:
        # Module.to("cuda") swaps a parameter's data: the fake device goes with it.
        torch.Tensor.data.__set__(self, value)  # type: ignore[attr-defined]  # the C getset
        fake_device = getattr(value, "fake_device", None)
        if isinstance(fake_device, torch.device):
            self.fake_device = fake_device
            self.cpp_device = stand_in(fake_device)


def cpp_device(tensor: FakeTensor) -> torch.device:
    """The answer to ``prim.device``: meta inside a kernel, else the stand-in (or the device)."""
    return _META if tensor.fake_mode.in_kernel else tensor.cpp_device
