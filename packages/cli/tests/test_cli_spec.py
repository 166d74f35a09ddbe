"""SPEC and --at parsing: the words of each error, and the position it points at."""

import pytest
import torch
from torchshade.cli import DimensionError, SpecError, TensorSpec, parse_spec
from torchshade.cli._spec import parse_input, parse_point


def test_spec_parses_names_and_numbers() -> None:
    assert parse_spec("x", "f32[batch, 3, 224,224]") == TensorSpec("x", torch.float32, ("batch", 3, 224, 224))
    assert parse_spec("t", "i64[]").dims == ()
    assert str(parse_input("tokens=bf16[ batch , seq ]")) == "bf16[batch, seq]"


@pytest.mark.parametrize(
    ("text", "words", "position"),
    [
        ("i64[batch,,seq]", "expected a dimension (a name or a number)", 10),
        ("q32[batch]", "unknown dtype 'q32'", 0),
        ("i64[batch", "expected ']' to close the dims", 9),
        ("i64[ba-tch]", "expected a dimension", 6),
        ("i64[a]x", "unexpected text after ']'", 6),
        ("i64 batch", "expected '[' after the dtype", 3),
    ],
)
def test_bad_spec_points_at_the_position(text: str, words: str, position: int) -> None:
    with pytest.raises(SpecError, match=r"Write SPEC as DTYPE\[DIM, \.\.\.\]") as info:
        parse_spec("tokens", text)
    message = str(info.value)
    assert words in message and f"at position {position}:" in message and f"--input tokens={text}" in message
    shown, caret = message.splitlines()[1:3]
    assert shown == f"  {text}" and caret == "  " + " " * position + "^"


def test_input_needs_a_name() -> None:
    with pytest.raises(SpecError, match="expected NAME=SPEC"):
        parse_input("i64[batch]")


def test_at_errors_name_the_dimension_and_the_fix() -> None:
    assert parse_point("batch=1, seq=4096", ["batch", "seq"]) == {"batch": 1, "seq": 4096}
    with pytest.raises(DimensionError, match="unknown dimension 'sequence'; the inputs' named dimensions are batch, seq"):
        parse_point("batch=1,sequence=4096", ["batch", "seq"])
    with pytest.raises(DimensionError, match="no value for seq; give every named dimension, e.g. --at batch=2,seq=1"):
        parse_point("batch=2", ["batch", "seq"])
    with pytest.raises(DimensionError, match="'batch=two' is not DIM=N"):
        parse_point("batch=two", ["batch"])
