"""``saved_tensors_hooks``: pack/unpack hooks that keep the version check.

torch's ``torch.autograd.graph.saved_tensors_hooks`` lets a pair of
functions decide how a saved tensor is stored (``pack_hook``) and brought
back (``unpack_hook``), for the tensors torch's own formulas save (both
operands of ``a * b``) as well as those a custom ``Function`` saves.  Ours
takes the same arguments and differs in two ways:

- The version check stays.  torch skips it while hooks are active, so a
  tensor changed in place after it was saved silently gives different
  gradients; ours raises ``SavedTensorModifiedError`` as torch does without
  hooks.  The check reads the version of the original tensor through a weak
  reference, so it keeps no data alive that the hooks moved elsewhere.
- Nested pairs compose.  torch applies only the innermost pair.  Ours packs
  with the innermost pair first and then each enclosing pair in turn (each
  packs what the one inside returned); unpacking runs the pairs in the
  reverse order::

      with saved_tensors_hooks(outer_pack, outer_unpack):
          with saved_tensors_hooks(inner_pack, inner_unpack):
              y = a * b     # saved: outer_pack(inner_pack(a))
                            # unpacked: inner_unpack(outer_unpack(packed))

Composition is among our pairs: a pair of torch's entered inside one of ours
applies alone, as torch's always do.  The stack of pairs is per thread, as
torch's is.

Subclass it as torch's ``save_on_cpu`` does: call ``super().__init__(pack,
unpack)``.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import Any, Final

import torch

from ._errors import SavedTensorHooksError, SavedTensorModifiedError, tensor_str

PackHook = Callable[[torch.Tensor], Any]
UnpackHook = Callable[[Any], torch.Tensor]

MODIFIED_BY_PACK: Final = (
    "{tensor}: a saved tensor pack hook changed its input in place (version {before} -> "
    "{after}). The input of a pack hook is the tensor autograd saves; changing it changes "
    "what the forward computes. Pack a copy instead: return x.clone() and change that."
)


def identity(x: Any) -> Any:
    """The identity hook (pack and unpack): keeps the tensor as it is."""
    return x


def version_error(
    t: torch.Tensor, saved: int, producer: str | None, output_nr: int
) -> SavedTensorModifiedError:
    """The error for a saved tensor found at another version than the one saved."""
    from ._culprits import culprit_text

    where = f", which is output {output_nr} of {producer}," if producer else ""
    return SavedTensorModifiedError(
        f"one of the variables needed for gradient computation has been modified by an "
        f"inplace operation: the saved tensor {tensor_str(t)}{where} is at version "
        f"{t._version}; expected version {saved} instead.{culprit_text(t, saved)} Make the "
        "operation out of place (x = x + 1 instead of x.add_(1)) or change a .clone() of it."
    )


def check_pack_kept(t: torch.Tensor, before: int) -> None:
    """Raise if a pack hook changed ``t`` in place."""
    after = t._version
    if after != before:
        raise SavedTensorHooksError(
            MODIFIED_BY_PACK.format(tensor=tensor_str(t), before=before, after=after)
        )


# What a pack through our hooks stores, as a tuple (cheaper than an object):
# (packed value, version when saved, None or a weak reference to the tensor),
# and with ``detailed`` also (the class of its grad_fn, its output_nr) for the
# message.  None stands for "the packed value is the tensor itself" (the data
# is kept anyway, so nothing is held that would not be); otherwise the tensor
# is reached through a weak reference, so nothing the hooks moved away is kept
# alive.  The class of grad_fn, not the node, is kept, so that an output saved
# by its own node does not keep that node alive.  A pack hook that changes its
# input in place is caught by torch right after our pack returns.
_Record = tuple[Any, ...]


def _record(t: torch.Tensor, version: int, value: Any, detailed: bool) -> _Record:
    held = None if value is t else weakref.ref(t)
    if detailed:
        return (value, version, held, type(t.grad_fn), t.output_nr)
    return (value, version, held)


def _check(record: _Record) -> None:
    """Raise if the tensor behind ``record`` is alive at another version than saved."""
    value, version, held = record[:3]
    t = value if held is None else held()
    if t is not None and t._version != version:
        producer = None
        if len(record) == 5 and record[3] is not type(None):
            producer = record[3].__name__
        raise version_error(t, version, producer, record[4] if len(record) == 5 else 0)


def _one_pair(
    pack_hook: PackHook, unpack_hook: UnpackHook
) -> tuple[Callable[[torch.Tensor], _Record], Callable[[_Record], torch.Tensor]]:
    """One pair without details, as two closures that torch calls directly: the hot path.

    Each adds to the user's hook one Python frame, one read of ``_version``
    and, in pack, a 3-tuple; everything they use is bound here, as locals.
    """
    ref = weakref.ref

    def pack(t: torch.Tensor) -> _Record:
        version = t._version
        value = pack_hook(t)
        return (value, version, None if value is t else ref(t))

    def unpack(record: _Record) -> torch.Tensor:
        value, version, held = record
        if held is None:  # the packed value is the tensor
            if value._version != version:
                _check(record)
        elif (t := held()) is not None and t._version != version:
            _check(record)
        return unpack_hook(value)  # torch raises a TypeError if this is not a tensor

    return pack, unpack


def _nested_pairs(
    pairs: list[saved_tensors_hooks],
) -> tuple[Callable[[torch.Tensor], _Record], Callable[[_Record], torch.Tensor]]:
    """The pairs active at one moment composed into one pack and one unpack, once, at enter."""
    packs = tuple(p.pack_hook for p in reversed(pairs))  # innermost first
    unpacks = tuple(p.unpack_hook for p in pairs)  # outermost first
    detailed = any(p.detailed for p in pairs)

    def pack(t: torch.Tensor) -> _Record:
        version = t._version
        value: Any = t
        for hook in packs:
            value = hook(value)
        return _record(t, version, value, detailed)

    def unpack(record: _Record) -> torch.Tensor:
        _check(record)
        value = record[0]
        for hook in unpacks:
            value = hook(value)
        return _tensor_or_raise(value)

    return pack, unpack


def _tensor_or_raise(value: object) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise SavedTensorHooksError(
            f"an unpack hook returned {type(value).__name__}, not a tensor. The "
            "unpack hook must return the tensor its pack hook stored (e.g. "
            "torch.load(path) for a path, or packed.to(device) for a copy)."
        )
    return value


class _Stack(threading.local):
    """Our active pairs, innermost last; per thread, as torch's stack of default hooks."""

    def __init__(self) -> None:
        self.pairs: list[saved_tensors_hooks] = []


_STACK = _Stack()


class saved_tensors_hooks:
    """Context manager: pack/unpack every tensor autograd saves, keeping the version check."""

    detailed = False  # also record which output of which node each tensor is, for messages

    def __init__(self, pack_hook: PackHook, unpack_hook: UnpackHook) -> None:
        self.pack_hook = pack_hook
        self.unpack_hook = unpack_hook

    def __enter__(self) -> None:
        pairs = [*_STACK.pairs, self]
        if len(pairs) == 1 and not self.detailed:
            pack, unpack = _one_pair(self.pack_hook, self.unpack_hook)
        else:
            pack, unpack = _nested_pairs(pairs)
        torch._C._autograd._push_saved_tensors_default_hooks(pack, unpack)  # raises if disabled
        _STACK.pairs = pairs

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        torch._C._autograd._pop_saved_tensors_default_hooks()
        _STACK.pairs = _STACK.pairs[:-1]


def active_hooks() -> tuple[PackHook, UnpackHook] | None:
    """The pack/unpack pair autograd would apply now (ours or torch's), or None."""
    return torch._C._autograd._top_saved_tensors_default_hooks(False)
