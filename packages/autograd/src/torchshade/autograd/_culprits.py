"""In-place culprits: which op, at which user line, changed a tensor in place.

``record_inplace_culprits()`` is an opt-in dispatch mode.  Every aten op
that writes to an argument (its schema marks the argument ``Tensor(a!)``)
is recorded against the storage it wrote, with the tensor's version before
the write and the user's ``file:line``.  While the mode is active, tensors
saved by autograd's own formulas get version-checking identity hooks, so
when backward finds a saved tensor changed, the error names the write that
changed it::

    with record_inplace_culprits():
        y = x.exp()
        y.add_(1)                 # <- named in the error
        y.sum().backward()        # SavedTensorModifiedError: ... changed by aten.add_.Tensor at test.py:3
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ._frames import user_line
from ._hooks import identity, saved_tensors_hooks

_HISTORY = 8  # writes remembered per storage


@dataclass(frozen=True)
class InplaceWrite:
    """One in-place write: the op, the version it found, and the user's line."""

    op: str
    version_before: int
    line: str


def _storage_key(t: torch.Tensor) -> int:
    return int(t.untyped_storage()._cdata)


def _written_args(func: torch._ops.OpOverload) -> list[int]:
    return [
        i
        for i, arg in enumerate(func._schema.arguments)
        if arg.alias_info is not None and arg.alias_info.is_write
    ]


_WRITTEN: dict[torch._ops.OpOverload, list[int]] = {}
_ACTIVE: list[record_inplace_culprits] = []


class record_inplace_culprits(TorchDispatchMode):
    """Record every in-place write, so that version errors name the op and line."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # torch's __init__ is untyped
        self.writes: dict[int, list[InplaceWrite]] = {}
        self._hooks: saved_tensors_hooks | None = None

    def __enter__(self) -> record_inplace_culprits:
        hooks = saved_tensors_hooks(identity, identity)
        hooks.detailed = True
        hooks.__enter__()
        self._hooks = hooks
        _ACTIVE.append(self)
        super().__enter__()  # type: ignore[no-untyped-call]  # torch's is untyped
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        super().__exit__(exc_type, exc, tb)  # type: ignore[no-untyped-call]  # torch's is untyped
        _ACTIVE.remove(self)
        if self._hooks is not None:
            self._hooks.__exit__(exc_type, exc, tb)

    def __torch_dispatch__(
        self,
        func: torch._ops.OpOverload,
        types: Sequence[type],
        args: Sequence[object] = (),
        kwargs: Mapping[str, object] | None = None,
    ) -> object:
        written = _WRITTEN.get(func)
        if written is None:
            written = _WRITTEN[func] = _written_args(func)
        for index in written:
            target = args[index] if index < len(args) else None
            if isinstance(target, torch.Tensor) and not target.is_inference():
                self._record(str(func), target)
        return func(*args, **(kwargs or {}))

    def _record(self, op: str, target: torch.Tensor) -> None:
        history = self.writes.setdefault(_storage_key(target), [])
        history.append(InplaceWrite(op, target._version, user_line()))
        del history[:-_HISTORY]

    def culprit(self, t: torch.Tensor, saved_version: int) -> InplaceWrite | None:
        """The first recorded write to ``t``'s storage at or after ``saved_version``."""
        for write in self.writes.get(_storage_key(t), []):
            if write.version_before >= saved_version:
                return write
        return None


def culprit_text(t: torch.Tensor, saved_version: int) -> str:
    """`` It was changed by <op> at <line>.`` from the active recorders, or a hint to record."""
    for recorder in reversed(_ACTIVE):
        write = recorder.culprit(t, saved_version)
        if write is not None:
            return (
                f" It was changed in place by {write.op} at {write.line}"
                f" (version {write.version_before} -> {write.version_before + 1})."
            )
    if _ACTIVE:
        return " No in-place write to it was recorded while record_inplace_culprits() was active."
    return (
        " To find the in-place operation that changed it, run the forward and"
        " backward under torchshade.autograd.record_inplace_culprits()."
    )
