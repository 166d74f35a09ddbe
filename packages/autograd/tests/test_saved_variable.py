"""SavedVariable against torch's C++ SavedVariable (reached through grad_fn._raw_saved_*)."""

import gc
import weakref
from typing import Any

import pytest
import torch

from torchshade.autograd import (
    InferenceTensorSavedError,
    SavedTensorDetachedError,
    SavedTensorFreedError,
    SavedTensorHooksError,
    SavedTensorModifiedError,
    SavedVariable,
)


def _torch_error(fn: object) -> str:
    assert callable(fn)
    with pytest.raises(RuntimeError) as info:
        fn()
    return str(info.value)


def test_unpack_gives_back_an_input_as_it_is() -> None:
    x = torch.randn(3, 4, requires_grad=True)
    h = x * 2
    sv = SavedVariable(h)
    out = sv.unpack()
    assert out is h
    assert sv.version == h._version == 0


def test_output_is_kept_detached_sharing_data_and_version() -> None:
    x = torch.randn(3, requires_grad=True)
    y = x.exp()
    sv = SavedVariable(y, is_output=True)
    out = sv.unpack()
    assert out is not None
    assert out.grad_fn is None
    assert out.data_ptr() == y.data_ptr()
    torch.testing.assert_close(out, y.detach())


def test_modified_in_place_names_tensor_node_and_versions_like_torch() -> None:
    x = torch.randn(3, 4, requires_grad=True)
    y = x.exp()
    sv = SavedVariable(y, is_output=True)
    node: Any = y.grad_fn  # its _saved_result unpacks torch's own saved variable for y
    y.add_(1)
    torch_message = _torch_error(lambda: node._saved_result)
    assert "is at version 1; expected version 0 instead" in torch_message
    with pytest.raises(
        SavedTensorModifiedError,
        match=r"modified by an inplace operation: the saved tensor f32\[3, 4\], which is output 0 "
        r"of ExpBackward0, is at version 1; expected version 0 instead\..*record_inplace_culprits",
    ):
        sv.unpack()


def test_freed_after_release_like_backward() -> None:
    x = torch.randn(3, requires_grad=True)
    y = x.exp()
    sv = SavedVariable(y, is_output=True)
    node: Any = y.grad_fn
    y.sum().backward()
    assert "backward through the graph a second time" in _torch_error(lambda: node._saved_result)
    sv.release()
    with pytest.raises(SavedTensorFreedError, match=r"backward through the graph a second time.*f32\[3\].*retain_graph=True"):
        sv.unpack()


def test_detached_in_place() -> None:
    x = torch.randn(3, requires_grad=True)
    h = x * 2
    sv = SavedVariable(h)
    h.detach_()
    with pytest.raises(SavedTensorDetachedError, match=r"detached in place \(\.detach_\(\)\).*x = x\.detach\(\)"):
        sv.unpack()
    assert sv.unpack(saved_for=object()) is h  # torch lets the node that saved it through


def test_inference_tensor_refused_like_torch() -> None:
    with torch.inference_mode():
        t = torch.randn(2, 5)
    b = torch.randn(2, 5, requires_grad=True)
    assert "Inference tensors cannot be saved for backward" in _torch_error(lambda: b * t)
    with pytest.raises(InferenceTensorSavedError, match=r"f32\[2, 5\]: an inference tensor .*torch\.no_grad\(\)"):
        SavedVariable(t)


def test_hooks_twice_and_after_free_like_torch() -> None:
    x = torch.randn(3, requires_grad=True)
    y = x.exp()
    node: Any = y.grad_fn
    theirs = node._raw_saved_result
    theirs.register_hooks(lambda t: t, lambda t: t)
    assert "hooks have already been set" in _torch_error(lambda: theirs.register_hooks(lambda t: t, lambda t: t))
    sv = SavedVariable(y, is_output=True)
    sv.register_hooks(lambda t: t, lambda t: t)
    with pytest.raises(SavedTensorHooksError, match="hooks are already registered on this saved tensor; only one"):
        sv.register_hooks(lambda t: t, lambda t: t)
    freed = SavedVariable(y, is_output=True)
    freed.release()
    with pytest.raises(SavedTensorHooksError, match="cannot register hooks on a saved tensor that backward already freed"):
        freed.register_hooks(lambda t: t, lambda t: t)


def test_pack_hook_modifying_its_input_like_torch() -> None:
    def doubling(t: torch.Tensor) -> torch.Tensor:
        t.mul_(2)
        return t

    a = torch.randn(3, requires_grad=True)
    h = a * 1
    prod = h * a  # keeps the node alive: _raw_saved_* does not
    prod_node: Any = prod.grad_fn
    theirs = prod_node._raw_saved_self
    assert "pack hook is modifying its input in place" in _torch_error(lambda: theirs.register_hooks(doubling, lambda t: t))
    sv = SavedVariable(a * 1)
    with pytest.raises(SavedTensorHooksError, match=r"f32\[3\]: a saved tensor pack hook changed its input in place \(version 0 -> 1\).*x\.clone\(\)"):
        sv.register_hooks(doubling, lambda t: t)


def test_hooks_keep_the_version_check_torch_drops() -> None:
    x = torch.randn(4, requires_grad=True)
    h = x * 1
    prod = h * x  # keeps the node alive: _raw_saved_* does not
    prod_node: Any = prod.grad_fn
    theirs = prod_node._raw_saved_self
    theirs.register_hooks(lambda t: t.clone(), lambda t: t)
    sv = SavedVariable(h)
    sv.register_hooks(lambda t: t.clone(), lambda t: t)
    h.add_(1)
    theirs.unpack()  # torch: no error, and the stale copy comes back
    with pytest.raises(SavedTensorModifiedError, match="is at version 1; expected version 0"):
        sv.unpack()


def test_hooks_round_trip_and_hold_no_data() -> None:
    x = torch.randn(4, requires_grad=True)
    h = x * 3
    expected = h.detach().clone()
    sv = SavedVariable(h)
    sv.register_hooks(lambda t: t.detach().clone().numpy(), lambda a: torch.from_numpy(a))
    ref = weakref.ref(h)
    del h
    gc.collect()
    assert ref() is None  # the saved variable kept only the packed copy
    out = sv.unpack()
    assert out is not None
    torch.testing.assert_close(out, expected)


def test_unpack_hook_must_return_a_tensor() -> None:
    sv = SavedVariable(torch.randn(2, requires_grad=True) * 1)
    sv.register_hooks(lambda t: t, lambda t: "not a tensor")  # type: ignore[arg-type, return-value]  # the mistake under test
    with pytest.raises(SavedTensorHooksError, match="the unpack hook returned str, not a tensor"):
        sv.unpack()


def test_none_round_trips() -> None:
    sv = SavedVariable(None)
    assert sv.unpack() is None
    with pytest.raises(SavedTensorHooksError, match="holds None: there is no tensor to pack"):
        sv.register_hooks(lambda t: t, lambda t: t)


class _Twice(torch.autograd.Function):
    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor) -> torch.Tensor:
        return x * 2

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        return grad * 2


def test_output_does_not_keep_its_node_alive() -> None:
    x = torch.randn(3, requires_grad=True)
    y = _Twice.apply(x)  # type: ignore[no-untyped-call]  # torch's apply is untyped
    assert y.grad_fn is not None
    node = weakref.ref(y.grad_fn)  # a Python node (torch's C++ ones cannot be referenced weakly)
    sv = SavedVariable(y, is_output=True)
    del y
    gc.collect()
    assert node() is None
    assert sv.unpack() is not None  # the data stays; only the node was held weakly
