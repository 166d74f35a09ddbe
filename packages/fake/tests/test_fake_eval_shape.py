"""eval_shape: shapes of a function's outputs from real, fake or spec arguments."""

from __future__ import annotations

import pytest
import torch

from torchshade.fake import (
    FakeModeMismatchError,
    FakeTensorMode,
    ShapeDtypeStruct,
    ShapeSpecError,
    eval_shape,
)


def test_real_tensor_arguments() -> None:
    out = eval_shape(lambda a, b: (a @ b, a.shape[0]), torch.randn(3, 4), torch.randn(4, 5))
    assert out == (ShapeDtypeStruct((3, 5), torch.float32, torch.device("cpu")), 3)
    assert repr(out[0]) == "f32[3, 5] on cpu"


def test_spec_strings_become_symbols() -> None:
    w = torch.randn(128, 64)
    out = eval_shape(lambda x, w, y: torch.cat([x @ w, y], 0), "f32[batch, 128]", w, "f32[batch, 64]")
    assert repr(out) == "f32[2*batch, 64] on cpu"
    assert out.dims == ("2*batch", 64)


def test_fake_arguments_and_pytrees(mode: FakeTensorMode) -> None:
    x = mode.from_tensor(torch.randn(2, 3, dtype=torch.float16))
    out = eval_shape(lambda d: {"y": d["x"].float().sum(1)}, {"x": x})
    assert repr(out["y"]) == "f32[2] on cpu"


@pytest.mark.parametrize(
    ("spec", "caret", "words"),
    [
        ("f33[2, 3]", 0, "unknown dtype 'f33'"),
        ("f32[2, 3", 8, "expected ']' at the end"),
        ("f32[2, -3]", 7, "expected an integer or a name"),
        ("f32[2 3]", 6, "expected ',' or ']'"),
        ("q[2]", 0, "unknown dtype 'q'"),
    ],
)
def test_bad_specs_point_at_the_character(spec: str, caret: int, words: str) -> None:
    with pytest.raises(ShapeSpecError, match=words) as info:
        eval_shape(lambda x: x, spec)
    lines = str(info.value).splitlines()
    assert lines[1] == f"  {spec}" and lines[2] == "  " + " " * caret + "^"


def test_named_dims_need_an_env(mode: FakeTensorMode) -> None:
    x = mode.from_tensor(torch.randn(2))
    with pytest.raises(ShapeSpecError, match="named dimension 'n' needs a ShapeEnv"):
        eval_shape(lambda a, b: a, x, "f32[n]")


def test_fakes_of_two_modes_are_refused() -> None:
    a = FakeTensorMode().from_tensor(torch.randn(2))
    b = FakeTensorMode().from_tensor(torch.randn(2))
    with pytest.raises(FakeModeMismatchError, match="fake tensors of two modes"):
        eval_shape(lambda x, y: x + y, a, b)
