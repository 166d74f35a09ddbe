"""Function against torch.autograd.Function: the same bodies, the same gradients and errors."""

import gc
import math
import weakref
from typing import Any

import pytest
import torch

from torchshade.autograd import Function, SavedTensorFreedError, SavedTensorModifiedError, saved_tensors_hooks


def _forward(ctx: Any, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    y = (x * w).exp2()
    ctx.save_for_backward(x, w, y)  # two inputs and the output
    return y


def _backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x, w, y = ctx.saved_tensors
    g = grad * y * math.log(2)
    return g * w, g * x


class OursExp2(Function):
    forward = staticmethod(_forward)
    backward = staticmethod(_backward)


class TheirsExp2(torch.autograd.Function):
    forward = staticmethod(_forward)
    backward = staticmethod(_backward)


class OursSetup(Function):
    @staticmethod
    def forward(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return (x * w).exp2()

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[torch.Tensor, torch.Tensor], output: torch.Tensor) -> None:
        ctx.save_for_backward(*inputs, output)

    backward = staticmethod(_backward)


def _theirs(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    out: torch.Tensor = TheirsExp2.apply(x, w)  # type: ignore[no-untyped-call]  # torch's apply is untyped
    return out


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    return (torch.randn(5, dtype=torch.double, requires_grad=True), torch.randn(5, dtype=torch.double, requires_grad=True))


@pytest.mark.parametrize("ours", [OursExp2, OursSetup])
def test_gradients_equal_torch(ours: Any) -> None:
    x, w = _inputs()
    expected = torch.autograd.grad(_theirs(x, w).sum(), (x, w))
    got = torch.autograd.grad(ours.apply(x, w).sum(), (x, w))
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("ours", [OursExp2, OursSetup])
def test_gradcheck_and_double_backward(ours: Any) -> None:
    x, w = _inputs()
    assert torch.autograd.gradcheck(ours.apply, (x, w))
    assert torch.autograd.gradgradcheck(ours.apply, (x, w))


def test_input_changed_in_place_raises_as_torch_does() -> None:
    x, w = _inputs()
    h = x * 1
    theirs = _theirs(h, w)
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        theirs.sum().backward()
    h = x * 1
    ours = OursExp2.apply(h, w)
    h.add_(1)
    with pytest.raises(
        SavedTensorModifiedError,
        match=r"the saved tensor f64\[5\], which is output 0 of MulBackward0, is at version 1; expected version 0",
    ):
        ours.sum().backward()


def test_output_changed_in_place_names_our_node() -> None:
    x, w = _inputs()
    y = OursExp2.apply(x, w)
    y.mul_(2)
    with pytest.raises(SavedTensorModifiedError, match=r"f64\[5\], which is output 0 of OursExp2Backward, is at version 1"):
        y.sum().backward()


def test_backward_twice_raises_and_retain_graph_allows_it() -> None:
    x, w = _inputs()
    theirs = _theirs(x, w).sum()
    theirs.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        theirs.backward()
    ours = OursExp2.apply(x, w).sum()
    ours.backward()
    with pytest.raises(SavedTensorFreedError, match="backward through the graph a second time.*retain_graph=True"):
        ours.backward()
    kept = OursExp2.apply(x, w).sum()
    x.grad = None
    kept.backward(retain_graph=True)
    assert x.grad is not None
    first = x.grad.clone()
    kept.backward()
    torch.testing.assert_close(x.grad, 2 * first)


def test_saved_inputs_are_released_after_backward() -> None:
    x, w = _inputs()
    h = x * 1
    y = OursExp2.apply(h, w)
    ref = weakref.ref(h)
    del h
    gc.collect()
    assert ref() is not None  # saved for backward
    y.sum().backward()
    gc.collect()
    assert ref() is None  # released, though y and its node are still alive
    assert y.grad_fn is not None


def test_node_and_output_do_not_keep_each_other_alive() -> None:
    x, w = _inputs()
    y = OursExp2.apply(x, w)
    node = weakref.ref(y.grad_fn)
    del y
    gc.collect()
    assert node() is None


def test_hooks_see_every_saved_tensor_and_gradients_match() -> None:
    x, w = _inputs()
    packed: list[tuple[int, ...]] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        packed.append(tuple(t.shape))
        return t.clone()

    with saved_tensors_hooks(pack, lambda t: t):
        y = OursExp2.apply(x, w)
    assert len(packed) == 3
    expected = torch.autograd.grad(_theirs(x, w).sum(), (x, w))
    torch.testing.assert_close(torch.autograd.grad(y.sum(), (x, w)), expected)


def test_hooks_keep_the_version_check_on_our_function() -> None:
    x, w = _inputs()
    with torch.autograd.graph.saved_tensors_hooks(lambda t: t.clone(), lambda t: t):
        h = x * 1
        theirs = _theirs(h, w)
    h.add_(1)
    theirs.sum().backward()  # torch: no error, a gradient from the stale copy
    with saved_tensors_hooks(lambda t: t.clone(), lambda t: t):
        h = x * 1
        ours = OursExp2.apply(h, w)
    h.add_(1)
    with pytest.raises(SavedTensorModifiedError, match="is at version 1; expected version 0"):
        ours.sum().backward()


def _add_one_forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
    x.add_(1)
    ctx.mark_dirty(x)
    ctx.save_for_backward(x, None)
    return x


def _add_one_backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
    x, nothing = ctx.saved_tensors
    assert nothing is None
    return grad * torch.ones_like(x)


class OursAddOne(Function):
    forward = staticmethod(_add_one_forward)
    backward = staticmethod(_add_one_backward)


class TheirsAddOne(torch.autograd.Function):
    forward = staticmethod(_add_one_forward)
    backward = staticmethod(_add_one_backward)


def test_in_place_function_marked_dirty_saves_its_output_like_torch() -> None:
    a = torch.randn(3, requires_grad=True)
    theirs_h = a * 2
    theirs = TheirsAddOne.apply(theirs_h)  # type: ignore[no-untyped-call]  # torch's apply is untyped
    expected = torch.autograd.grad((theirs * theirs).sum(), a)
    ours_h = a * 2
    ours = OursAddOne.apply(ours_h)
    assert ours._version == theirs._version  # torch bumps a dirty output after forward
    torch.testing.assert_close(torch.autograd.grad((ours * ours).sum(), a), expected)


def test_no_grad_apply_saves_nothing_and_computes_the_same() -> None:
    x, w = _inputs()
    with torch.no_grad():
        ours = OursExp2.apply(x, w)
        theirs = _theirs(x, w)
    assert ours.grad_fn is None
    torch.testing.assert_close(ours, theirs)
