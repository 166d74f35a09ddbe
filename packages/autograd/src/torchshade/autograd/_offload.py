"""Ready hooks: keep saved tensors on the CPU or on disk until backward.

Both are ``saved_tensors_hooks`` subclasses, so the version check holds and
they compose with other pairs::

    with save_on_cpu():            # accelerator tensors wait in (pinned) CPU memory
        loss = model(x)
    loss.backward()

    with save_on_disk() as spill:  # every saved tensor waits in a file
        loss = model(x)
    loss.backward()                # each file is removed when backward frees it
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import weakref
from types import TracebackType

import torch

from ._hooks import saved_tensors_hooks


def _can_pin() -> bool:
    return torch.accelerator.is_available()


class save_on_cpu(saved_tensors_hooks):
    """Saved tensors on an accelerator wait in CPU memory, pinned when pinning is available.

    CPU tensors stay as they are (there is nowhere to move them).  Unpacking
    copies back to the tensor's device, asynchronously from pinned memory.
    """

    def __init__(self, pin_memory: bool = True) -> None:
        self.pin_memory = pin_memory
        super().__init__(self._pack, self._unpack)

    def _pack(self, t: torch.Tensor) -> tuple[torch.device, torch.Tensor]:
        if t.device.type == "cpu":
            return (t.device, t)
        pin = self.pin_memory and _can_pin()
        cpu = torch.empty(t.size(), dtype=t.dtype, layout=t.layout, pin_memory=pin)
        if cpu.stride() != t.stride():
            cpu = t.new_empty_strided(t.size(), t.stride(), device="cpu", pin_memory=pin)
        cpu.copy_(t, non_blocking=pin)
        return (t.device, cpu)

    def _unpack(self, packed: tuple[torch.device, torch.Tensor]) -> torch.Tensor:
        device, t = packed
        return t.to(device, non_blocking=t.is_pinned()) if t.device != device else t


class _SpillFile:
    """One saved tensor on disk; its file is removed when this object dies."""

    __slots__ = ("path", "device", "__weakref__")

    def __init__(self, path: str, device: torch.device) -> None:
        self.path = path
        self.device = device
        weakref.finalize(self, _remove, path)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


class save_on_disk(saved_tensors_hooks):
    """Every saved tensor waits in a file until backward needs it.

    Files go to a new temporary directory (or under ``directory``); each is
    removed when autograd frees the saved tensor (after backward, or when the
    graph is dropped, also after an error).  The temporary directory is
    removed once the context has exited and its last file is gone.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = tempfile.mkdtemp(prefix="torchshade-saved-", dir=directory)
        self._count = itertools.count()
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.directory, True)
        super().__init__(self._pack, self._unpack)

    def __enter__(self) -> save_on_disk:  # type: ignore[override]  # returns self to read .directory
        super().__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        super().__exit__(exc_type, exc, tb)

    def files(self) -> list[str]:
        """The files holding saved tensors now."""
        if not os.path.isdir(self.directory):
            return []
        return sorted(os.listdir(self.directory))

    def _pack(self, t: torch.Tensor) -> tuple[_SpillFile, save_on_disk]:
        path = os.path.join(self.directory, f"{next(self._count)}.pt")
        data = t.detach().cpu()
        if data.untyped_storage().nbytes() > data.numel() * data.element_size():
            data = data.clone()  # a view: write its own bytes, not its base's whole storage
        try:
            torch.save(data, path)
        except BaseException:
            _remove(path)
            raise
        return (_SpillFile(path, t.device), self)  # the files keep the directory alive

    def _unpack(self, packed: tuple[_SpillFile, save_on_disk]) -> torch.Tensor:
        spill = packed[0]
        t: torch.Tensor = torch.load(spill.path, weights_only=True)
        return t.to(spill.device) if t.device != spill.device else t
