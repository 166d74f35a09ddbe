"""Shape specs: ``f32[s0, 128]`` written by us and read from users.

One short notation for a tensor's dtype and shape is used in every message,
in ``repr(FakeTensor)``, in ``eval_shape`` results, and in the spec strings
``eval_shape`` accepts as arguments.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ._errors import ShapeSpecError

DTYPE_NAMES: dict[torch.dtype, str] = {
    torch.float32: "f32",
    torch.float64: "f64",
    torch.float16: "f16",
    torch.bfloat16: "bf16",
    torch.float8_e4m3fn: "f8e4m3",
    torch.float8_e5m2: "f8e5m2",
    torch.complex64: "c64",
    torch.complex128: "c128",
    torch.complex32: "c32",
    torch.int64: "i64",
    torch.int32: "i32",
    torch.int16: "i16",
    torch.int8: "i8",
    torch.uint8: "u8",
    torch.uint16: "u16",
    torch.uint32: "u32",
    torch.uint64: "u64",
    torch.bool: "b8",
}
DTYPES_BY_NAME: dict[str, torch.dtype] = {v: k for k, v in DTYPE_NAMES.items()}
DTYPES_BY_NAME["bool"] = torch.bool


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float32`` -> ``"f32"``."""
    return DTYPE_NAMES.get(dtype, str(dtype).removeprefix("torch."))


def shape_str(dtype: torch.dtype, shape: Sequence[object]) -> str:
    """``f32[s0, 3]``."""
    return f"{dtype_name(dtype)}[{', '.join(str(s) for s in shape)}]"


def tensor_str(t: torch.Tensor) -> str:
    """``f32[s0, 3] on cuda:0`` for any tensor, fake or real."""
    return f"{shape_str(t.dtype, t.shape)} on {t.device}"


@dataclass(frozen=True)
class ParsedSpec:
    """A parsed ``"f32[batch, 128]"``: dtype and dims (ints or names)."""

    dtype: torch.dtype
    dims: tuple[int | str, ...]


_DIM = re.compile(r"\s*(?:(\d+)|([A-Za-z_][A-Za-z_0-9]*))\s*")


def _spec_error(spec: str, pos: int, what: str) -> ShapeSpecError:
    caret = " " * pos + "^"
    return ShapeSpecError(
        f"bad shape spec: {what}\n  {spec}\n  {caret}\n"
        'A spec is <dtype>[<dim>, ...], e.g. "f32[batch, 128]"; dims are '
        "integers or names, and equal names are the same symbol. Known dtypes: "
        + ", ".join(sorted(DTYPES_BY_NAME))
        + "."
    )


def parse_spec(spec: str) -> ParsedSpec:
    """Parse ``"f32[batch, 128]"``; errors point at the bad character."""
    bracket = spec.find("[")
    if bracket < 0:
        raise _spec_error(spec, len(spec), "expected '[' after the dtype")
    name = spec[:bracket].strip()
    if name not in DTYPES_BY_NAME:
        start = len(spec[:bracket]) - len(spec[:bracket].lstrip())
        raise _spec_error(spec, start, f"unknown dtype {name!r}")
    if not spec.rstrip().endswith("]"):
        raise _spec_error(spec, len(spec.rstrip()), "expected ']' at the end")
    body_end = len(spec.rstrip()) - 1
    dims: list[int | str] = []
    pos = bracket + 1
    if spec[pos:body_end].strip() == "":
        return ParsedSpec(DTYPES_BY_NAME[name], ())
    while True:
        match = _DIM.match(spec, pos, body_end)
        if match is None or match.end() == pos:
            stripped = pos + len(spec[pos:body_end]) - len(spec[pos:body_end].lstrip())
            raise _spec_error(spec, stripped, "expected an integer or a name")
        dims.append(int(match.group(1)) if match.group(1) else match.group(2))
        pos = match.end()
        if pos == body_end:
            return ParsedSpec(DTYPES_BY_NAME[name], tuple(dims))
        if spec[pos] != ",":
            raise _spec_error(spec, pos, "expected ',' or ']'")
        pos += 1
