"""Teach torch's Python meta kernels the device of our fake tensors, only while they run.

About 25 meta kernels in ``torch._meta_registrations`` (FFTs, ``linalg_eig``,
attention, embedding bags, ...) choose output strides by device through a
module-level ``device_hint(tensor)``. It recognizes torch's own FakeTensor
class and otherwise falls back to the tensor's device, which inside a kernel
is ``meta`` for us, and then it assumes CUDA. On a CPU fake that gives CUDA
strides (``fft.rfftn``: (6, 1, 30) instead of eager's (24, 4, 1)).

:class:`DeviceHint` puts a wrapper in that module's ``device_hint`` that
answers ``fake_device.type`` for our fake tensors and defers to the function
it replaced for everything else, and only while one of our kernels runs
(``_kernel.call_in_kernel``): outside, every user of torch in the process
sees torch's own function object. Uses are counted (kernels nest, and may
run on several threads); the last one out puts the original back, unless
someone else replaced the function meanwhile, whose function then stays.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType


from . import _torch_private as private
from ._tensor import FakeTensor

HintFn = Callable[[object], str]


class DeviceHint:
    """A context manager: our ``device_hint`` is in torch's module while any user is inside."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._replaced: HintFn | None = None

    def __enter__(self) -> None:
        with self._lock:
            self._users += 1
            if self._users == 1:
                self._replaced = private.meta_registrations.device_hint
                _set(self._hint)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                replaced, self._replaced = self._replaced, None
                if replaced is not None and private.meta_registrations.device_hint == self._hint:
                    _set(replaced)

    @property
    def installed(self) -> bool:
        """Whether our wrapper is in torch's module now."""
        return bool(private.meta_registrations.device_hint == self._hint)

    def _hint(self, tensor: object) -> str:
        if isinstance(tensor, FakeTensor):
            return tensor.fake_device.type
        replaced = self._replaced
        assert replaced is not None  # set while installed
        return replaced(tensor)


def _set(fn: HintFn) -> None:
    # setattr: mypy types the module attribute as that one function.
    setattr(private.meta_registrations, "device_hint", fn)  # noqa: B010


DEVICE_HINT = DeviceHint()
