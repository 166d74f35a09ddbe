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

Subclass it as torch's ``save_on_cpu`` does: call ``super().__init__(pack,
unpack)``.
"""

from __future__ import annotations

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


class _Packed:
    """What a pack through our hooks stores: the packed value and how to check the version."""

    __slots__ = ("value", "version", "strong", "ref", "producer", "output_nr")

    def __init__(self, t: torch.Tensor, value: object) -> None:
        self.value = value
        self.version = t._version
        grad_fn = t.grad_fn
        self.producer = None if grad_fn is None else grad_fn.name()
        self.output_nr = t.output_nr
        if value is t:  # the data is kept anyway: no weak reference needed
            self.strong: torch.Tensor | None = t
            self.ref: weakref.ref[torch.Tensor] | None = None
        else:
            self.strong = None
            self.ref = weakref.ref(t)

    def check(self) -> None:
        t = self.strong if self.ref is None else self.ref()
        if t is not None and t._version != self.version:
            raise version_error(t, self.version, self.producer, self.output_nr)


class _Composed:
    """The pairs active at one moment, composed into one pack and one unpack."""

    def __init__(self, pairs: list[saved_tensors_hooks]) -> None:
        self.packs = [p.pack_hook for p in reversed(pairs)]  # innermost first
        self.unpacks = [p.unpack_hook for p in pairs]  # outermost first

    def pack(self, t: torch.Tensor) -> _Packed:
        before = t._version
        value: Any = t
        for hook in self.packs:
            value = hook(value)
        check_pack_kept(t, before)
        return _Packed(t, value)

    def unpack(self, packed: _Packed) -> torch.Tensor:
        packed.check()
        value = packed.value
        for hook in self.unpacks:
            value = hook(value)
        if not isinstance(value, torch.Tensor):
            raise SavedTensorHooksError(
                f"an unpack hook returned {type(value).__name__}, not a tensor. The "
                "unpack hook must return the tensor its pack hook stored (e.g. "
                "torch.load(path) for a path, or packed.to(device) for a copy)."
            )
        return value


_STACK: list[saved_tensors_hooks] = []


class saved_tensors_hooks:
    """Context manager: pack/unpack every tensor autograd saves, keeping the version check."""

    def __init__(self, pack_hook: PackHook, unpack_hook: UnpackHook) -> None:
        self.pack_hook = pack_hook
        self.unpack_hook = unpack_hook

    def __enter__(self) -> None:
        _STACK.append(self)
        composed = _Composed(list(_STACK))
        torch._C._autograd._push_saved_tensors_default_hooks(composed.pack, composed.unpack)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        torch._C._autograd._pop_saved_tensors_default_hooks()
        _STACK.pop()


def active_hooks() -> tuple[PackHook, UnpackHook] | None:
    """The pack/unpack pair autograd would apply now (ours or torch's), or None."""
    return torch._C._autograd._top_saved_tensors_default_hooks(False)
