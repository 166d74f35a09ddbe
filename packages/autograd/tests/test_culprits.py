"""record_inplace_culprits: the version error names the op and the user's line."""

import re

import pytest
import torch

from torchshade.autograd import Function, SavedTensorModifiedError, record_inplace_culprits


class _Square(Function):
    @staticmethod
    def forward(ctx: object, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)  # type: ignore[attr-defined]  # ctx is the node
        return x * x

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors  # type: ignore[attr-defined]  # ctx is the node
        out: torch.Tensor = 2 * grad * x
        return out


def _line_of(marker: str) -> int:
    with open(__file__) as f:
        return next(i for i, line in enumerate(f, 1) if marker in line and "_line_of" not in line)


def test_builtin_formula_error_names_op_and_line() -> None:
    a = torch.randn(3, requires_grad=True)
    with record_inplace_culprits():
        h = a * 2
        y = h.sin().sum()
        h.add_(1)  # the culprit
        with pytest.raises(SavedTensorModifiedError) as info:
            y.backward()
    line = _line_of("# the culprit")
    assert re.search(rf"changed in place by aten\.add_\.Tensor at .*test_culprits\.py:{line} in test_builtin", str(info.value))
    assert "(version 0 -> 1)" in str(info.value)
    assert "the saved tensor f32[3], which is output 0 of MulBackward0, is at version 1" in str(info.value)


def test_our_function_error_names_a_write_through_a_view() -> None:
    a = torch.randn(4, requires_grad=True)
    with record_inplace_culprits():
        h = a * 1
        y = _Square.apply(h).sum()
        h[1:].zero_()  # the write through a view
        with pytest.raises(SavedTensorModifiedError) as info:
            y.backward()
    line = _line_of("# the write through a view")
    assert re.search(rf"changed in place by aten\.zero_\.default at .*test_culprits\.py:{line}", str(info.value))


def test_without_recording_the_message_says_how_to_record() -> None:
    a = torch.randn(3, requires_grad=True)
    h = a * 1
    y = _Square.apply(h).sum()
    h.add_(1)
    with pytest.raises(SavedTensorModifiedError, match=r"run the forward and backward under torchshade\.autograd\.record_inplace_culprits\(\)"):
        y.backward()


def test_gradients_unchanged_under_recording() -> None:
    a = torch.randn(3, requires_grad=True)
    expected = torch.autograd.grad((a * 2).sin().sum(), a)
    with record_inplace_culprits():
        got = torch.autograd.grad((a * 2).sin().sum(), a)
    torch.testing.assert_close(got, expected)
