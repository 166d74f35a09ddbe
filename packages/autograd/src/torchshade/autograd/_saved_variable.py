"""``SavedVariable``: torch's C++ SavedVariable, in Python.

A saved variable keeps a tensor for the backward pass together with the
version it had when saved, and refuses to give it back when that is no
longer right::

    sv = SavedVariable(x)          # remembers x._version
    x.add_(1)
    sv.unpack()                    # SavedTensorModifiedError: ... f32[3, 4] ... is at version 1; expected version 0

What it keeps, as torch does:

- an input or a leaf is kept as it is and given back as it is;
- an output of the node that saves it (``is_output=True``) is kept as a
  detached alias (same storage, same version counter); of its ``grad_fn``
  only the name is kept, so that the node and the tensor do not keep each
  other alive (torch's C++ nodes cannot be referenced weakly from Python).
  Python has no way to make a tensor whose ``grad_fn`` is a given node, so
  ``unpack`` gives the alias back detached; ``Function`` hands outputs to
  torch's own saving so that double backward through them works.

With hooks (``register_hooks``, or ``saved_tensors_hooks`` active when the
variable is made), only the packed value and a weak reference to the tensor
are kept, and unlike torch the version is still checked.
"""

from __future__ import annotations

import weakref
from typing import Any, Final

import torch

from ._errors import (
    InferenceTensorSavedError,
    SavedTensorDetachedError,
    SavedTensorFreedError,
    SavedTensorHooksError,
    tensor_str,
)
from ._hooks import PackHook, UnpackHook, active_hooks, check_pack_kept, version_error

FREED: Final = (
    "trying to backward through the graph a second time (or to read saved tensors "
    "after they were freed): the saved tensor {tensor} is gone. backward() and torch.autograd.grad() free the "
    "tensors saved in the graph they run through. Pass retain_graph=True to every "
    "backward but the last one through this graph."
)
DETACHED: Final = (
    "{tensor}: a saved tensor was detached in place (.detach_()) after it was saved, so "
    "its gradient cannot reach the node that produced it. Use the out-of-place "
    "x = x.detach() instead."
)
INFERENCE: Final = (
    "{tensor}: an inference tensor (made under torch.inference_mode()) cannot be saved for "
    "backward: it has no version counter. Make it under torch.no_grad() instead, or save "
    "x.clone() made outside inference mode."
)
HOOKS_TWICE: Final = (
    "{tensor}: hooks are already registered on this saved tensor; only one pack/unpack "
    "pair is allowed. Compose them into one pair, or nest saved_tensors_hooks contexts "
    "(which compose)."
)
HOOKS_AFTER_FREE: Final = (
    "{tensor}: cannot register hooks on a saved tensor that backward already freed. "
    "Register them before backward, or pass retain_graph=True to backward."
)


class SavedVariable:
    """A tensor saved for backward, with its version; ``unpack`` checks it."""

    def __init__(
        self,
        tensor: torch.Tensor | None,
        is_output: bool = False,
        is_inplace_on_view: bool = False,
    ) -> None:
        self._freed = False
        self._hooks: tuple[PackHook, UnpackHook] | None = None
        self._packed: Any = None
        self._ref: weakref.ref[torch.Tensor] | None = None
        self._data = tensor
        if tensor is None:
            return
        self._original = weakref.ref(tensor)  # read for the version while hooks hold the data
        if tensor.is_inference():
            raise InferenceTensorSavedError(INFERENCE.format(tensor=tensor_str(tensor)))
        self._desc = tensor_str(tensor)
        self._version = tensor._version
        self._is_leaf = tensor.is_leaf
        self._output_nr = tensor.output_nr
        self._is_inplace_on_view = is_inplace_on_view
        self._is_output = is_output and not tensor.is_leaf
        grad_fn = tensor.grad_fn
        self._had_grad_fn = grad_fn is not None
        self._producer = None if grad_fn is None else grad_fn.name()
        if self._is_output:
            self._data = tensor.detach()  # same storage and version counter, no grad_fn
        hooks = active_hooks()
        if hooks is not None:
            self.register_hooks(*hooks)

    def __repr__(self) -> str:
        if self._data is None and self._hooks is None:
            return "SavedVariable(freed)" if self._freed else "SavedVariable(None)"
        return f"SavedVariable({self._desc}, version={self._version})"

    @property
    def version(self) -> int:
        """The version the tensor had when it was saved."""
        return self._version

    def register_hooks(self, pack_hook: PackHook, unpack_hook: UnpackHook) -> None:
        """Pack the tensor now with ``pack_hook``; ``unpack`` will call ``unpack_hook``."""
        desc = getattr(self, "_desc", "None")
        if self._hooks is not None:
            raise SavedTensorHooksError(HOOKS_TWICE.format(tensor=desc))
        data = self._data
        if data is None:
            if self._freed:
                raise SavedTensorHooksError(HOOKS_AFTER_FREE.format(tensor=desc))
            raise SavedTensorHooksError(
                "cannot register hooks on a saved variable that holds None: there is "
                "no tensor to pack."
            )
        before = data._version
        self._packed = pack_hook(data)
        check_pack_kept(data, before)
        self._hooks = (pack_hook, unpack_hook)
        self._ref = self._original
        self._data = None

    def unpack(self, saved_for: object = None) -> torch.Tensor | None:
        """The saved tensor, after checking it is still the one that was saved."""
        if self._freed:
            raise SavedTensorFreedError(FREED.format(tensor=self._desc))
        current = self._data
        if self._hooks is not None and self._ref is not None:
            current = self._ref()
        if current is None and self._hooks is None:
            return None
        if current is not None and current._version != self._version:
            raise version_error(current, self._version, self._node_name(), self._output_nr)
        if current is not None and self._detached_in_place(current, saved_for):
            raise SavedTensorDetachedError(DETACHED.format(tensor=self._desc))
        if self._hooks is None:
            return current
        value = self._hooks[1](self._packed)
        if not isinstance(value, torch.Tensor):
            raise SavedTensorHooksError(
                f"{self._desc}: the unpack hook returned {type(value).__name__}, not a "
                "tensor. It must return the tensor its pack hook stored."
            )
        return value

    def release(self) -> None:
        """Free the saved data, as backward does without ``retain_graph``."""
        self._freed = True
        self._data = None
        self._packed = None

    def _node_name(self) -> str | None:
        return self._producer

    def _detached_in_place(self, current: torch.Tensor, saved_for: object) -> bool:
        if self._is_leaf or self._is_output or not self._had_grad_fn:
            return False
        return current.grad_fn is None and saved_for is None
