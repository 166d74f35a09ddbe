"""Teach torch's Python meta kernels the device of our fake tensors.

About 25 meta kernels in ``torch._meta_registrations`` (FFTs, ``linalg_eig``,
attention, embedding bags, ...) choose output strides by device through a
module-level ``device_hint(tensor)``. It recognizes torch's own FakeTensor
class and otherwise falls back to the tensor's device, which inside a kernel
is ``meta`` for us, and then it assumes CUDA. On a CPU fake that gives CUDA
strides (``fft.rfftn``: (6, 1, 30) instead of eager's (24, 4, 1)).

``install()`` wraps that one function so it answers ``fake_device.type`` for
our fake tensors and defers to torch's version for everything else. It is
the only place this package changes a torch global; it is idempotent.
"""

from __future__ import annotations

from collections.abc import Callable

import torch._meta_registrations as meta_registrations

from ._tensor import FakeTensor


def install() -> None:
    """Wrap ``torch._meta_registrations.device_hint`` once."""
    original: Callable[[object], str] = meta_registrations.device_hint
    if getattr(original, "_torchshade_wrapped", False):
        return

    def device_hint(tensor: object) -> str:
        if isinstance(tensor, FakeTensor):
            return tensor.fake_device.type
        return original(tensor)

    device_hint._torchshade_wrapped = True  # type: ignore[attr-defined]  # marker on a function
    meta_registrations.device_hint = device_hint
