"""``saved_tensors_report``: what autograd keeps for backward, without the data.

It runs ``fn(*args, **kwargs)`` under fake tensors with hooks that record
every tensor autograd saves: its shape, dtype, bytes, the torch function
that saved it and the user's line.  The tensors are fake, so the saved
activations of a 70B-parameter model are reported on a laptop::

    mode = FakeTensorMode()
    with mode:
        model = Llama70B()                       # fake weights
    report = saved_tensors_report(model, torch.zeros(1, 4096, dtype=torch.long))
    print(report)                                # one line per saved tensor, then the totals

Real tensor arguments are converted to fake ones; fake ones (ours) are used
as they are, under their own mode (with its ShapeEnv, bytes are symbolic).
A tensor saved by several nodes (``a * a``, a weight used twice) is listed
each time and counted once in the totals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.utils._pytree as pytree
from torch.overrides import TorchFunctionMode

from torchshade.fake import FakeTensor, FakeTensorMode

from ._errors import tensor_str
from ._frames import user_line
from ._hooks import saved_tensors_hooks


@dataclass(frozen=True)
class SavedTensorEntry:
    """One tensor saved for backward."""

    spec: str  # f32[8, 4096]
    dtype: torch.dtype
    nbytes: int | torch.SymInt
    op: str  # the torch function that saved it, e.g. "linear"
    line: str  # the user's file:line
    is_leaf: bool  # a parameter or an input rather than an activation

    def __str__(self) -> str:
        kind = "leaf" if self.is_leaf else "activation"
        return f"{self.spec:<24} {_size(self.nbytes):>10}  {kind:<10}  {self.op:<28} {self.line}"


@dataclass(frozen=True)
class SavedTensorsReport:
    """Every tensor saved for backward, and the bytes they hold."""

    entries: tuple[SavedTensorEntry, ...]
    total_bytes: int | torch.SymInt  # distinct storages, leaves included
    activation_bytes: int | torch.SymInt  # distinct storages of non-leaf tensors

    def __str__(self) -> str:
        lines = [str(e) for e in self.entries]
        lines.append(
            f"{len(self.entries)} saved tensors: {_size(self.activation_bytes)} of activations, "
            f"{_size(self.total_bytes)} in all (parameters and inputs included)"
        )
        return "\n".join(lines)


def _size(n: int | torch.SymInt) -> str:
    if not isinstance(n, int):
        return f"{n} B"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


class _CurrentOp(TorchFunctionMode):
    """Names the outermost torch function running, for the entries it saves."""

    def __init__(self) -> None:
        super().__init__()
        self.current = "?"

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Sequence[type],
        args: Sequence[object] = (),
        kwargs: Mapping[str, object] | None = None,
    ) -> object:
        outer = self.current
        self.current = getattr(func, "__name__", str(func))
        try:
            return func(*args, **(kwargs or {}))
        finally:
            self.current = outer


class _Recorder:
    def __init__(self, op: _CurrentOp) -> None:
        self.op = op
        self.entries: list[SavedTensorEntry] = []
        self.storages: dict[int, tuple[int | torch.SymInt, bool]] = {}

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        nbytes = t.numel() * t.element_size()
        base = t._base
        is_leaf = t.is_leaf or (base is not None and base.is_leaf)  # W.t() of a weight too
        entry = SavedTensorEntry(tensor_str(t), t.dtype, nbytes, self.op.current, user_line(), is_leaf)
        self.entries.append(entry)
        key = int(t.untyped_storage()._cdata)
        seen = self.storages.get(key)
        if seen is None or (isinstance(nbytes, int) and isinstance(seen[0], int) and nbytes > seen[0]):
            self.storages[key] = (nbytes, is_leaf)
        return t  # fake: keeps metadata only, and keeps storage ids distinct

    def report(self) -> SavedTensorsReport:
        total: int | torch.SymInt = 0
        activations: int | torch.SymInt = 0
        for nbytes, is_leaf in self.storages.values():
            total = total + nbytes
            if not is_leaf:
                activations = activations + nbytes
        return SavedTensorsReport(tuple(self.entries), total, activations)


def _mode_of(fn: object, args: Sequence[object], kwargs: Mapping[str, object]) -> FakeTensorMode:
    leaves = pytree.tree_leaves((args, kwargs))
    if isinstance(fn, torch.nn.Module):
        leaves += list(fn.parameters()) + list(fn.buffers())
    for leaf in leaves:
        if isinstance(leaf, FakeTensor):
            return leaf.fake_mode
    return FakeTensorMode(allow_non_fake_inputs=True)


def saved_tensors_report(fn: Callable[..., object], *args: object, **kwargs: object) -> SavedTensorsReport:
    """Run ``fn`` under fake tensors and report every tensor autograd saves for backward."""
    mode = _mode_of(fn, args, kwargs)

    def to_fake(t: torch.Tensor) -> torch.Tensor:
        return t if isinstance(t, FakeTensor) else mode.from_tensor(t)

    args, kwargs = pytree.tree_map_only(torch.Tensor, to_fake, (args, kwargs))
    op = _CurrentOp()
    recorder = _Recorder(op)
    hooks = saved_tensors_hooks(recorder.pack, _never_unpacked)
    with mode, torch.enable_grad(), hooks, op:
        fn(*args, **kwargs)
    return recorder.report()


def _never_unpacked(t: torch.Tensor) -> torch.Tensor:
    return t
