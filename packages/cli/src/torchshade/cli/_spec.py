"""``--input NAME=SPEC`` and ``--at DIM=N,...``: parsing with errors that point at the position.

A SPEC is ``DTYPE[DIM, ...]``: ``i64[batch, seq]``, ``f32[batch, 3, 224, 224]``.
Named dims are symbols shared by every input that names them; numbers are static.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from ._errors import SPEC_HELP, DimensionError, SpecError

DTYPES: dict[str, torch.dtype] = {
    "f32": torch.float32, "f64": torch.float64, "f16": torch.float16, "bf16": torch.bfloat16,
    "i64": torch.int64, "i32": torch.int32, "i16": torch.int16, "i8": torch.int8,
    "u8": torch.uint8, "b8": torch.bool, "bool": torch.bool,
}  # fmt: skip
DTYPE_NAMES: dict[torch.dtype, str] = {dtype: name for name, dtype in DTYPES.items() if name != "bool"}
_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z_0-9]*)|(?P<num>[0-9]+))\s*")


@dataclass(frozen=True)
class TensorSpec:
    """One input: its name, dtype and dims (ints are static, strings are named symbols)."""

    name: str
    dtype: torch.dtype
    dims: tuple[int | str, ...]

    def __str__(self) -> str:
        return f"{DTYPE_NAMES.get(self.dtype, str(self.dtype))}[{', '.join(str(d) for d in self.dims)}]"


def _point(text: str, position: int, what: str, option: str) -> SpecError:
    caret = " " * position + "^"
    return SpecError(f"{option}: {what} at position {position}:\n  {text}\n  {caret}\n{SPEC_HELP}")


def parse_spec(name: str, text: str, option: str = "--input") -> TensorSpec:
    """``parse_spec("tokens", "i64[batch, seq]")``; raises ``SpecError`` pointing at the fault."""
    where = f"{option} {name}={text}"
    bracket = text.find("[")
    if bracket < 0:
        after_dtype = re.match(r"\s*\w*", text)
        raise _point(text, after_dtype.end() if after_dtype else 0, "expected '[' after the dtype", where)
    dtype_name = text[:bracket].strip()
    if dtype_name not in DTYPES:
        raise _point(text, 0, f"unknown dtype {dtype_name!r}", where)
    close = text.find("]", bracket)
    if close < 0:
        raise _point(text, len(text), "expected ']' to close the dims", where)
    if text[close + 1 :].strip():
        raise _point(text, close + 1, "unexpected text after ']'", where)
    dims: list[int | str] = []
    body = text[bracket + 1 : close]
    if not body.strip():
        return TensorSpec(name, DTYPES[dtype_name], ())
    offset = bracket + 1
    for part in body.split(","):
        match = _TOKEN.fullmatch(part)
        if match is None:
            bad = len(part) - len(part.lstrip())
            bad += next((i for i, c in enumerate(part.strip()) if not (c.isalnum() or c == "_")), 0)
            raise _point(text, offset + bad, "expected a dimension (a name or a number)", where)
        dims.append(match["name"] if match["name"] else int(match["num"]))
        offset += len(part) + 1
    return TensorSpec(name, DTYPES[dtype_name], tuple(dims))


def parse_input(option_value: str) -> TensorSpec:
    """``"tokens=i64[batch, seq]"`` -> a ``TensorSpec``."""
    name, eq, spec = option_value.partition("=")
    if not eq or not name.strip().isidentifier():
        raise SpecError(
            f"--input {option_value}: expected NAME=SPEC, with NAME the input's name "
            f"(a Python identifier). {SPEC_HELP}"
        )
    return parse_spec(name.strip(), spec)


def parse_point(text: str, dims: Sequence[str]) -> dict[str, int]:
    """``"batch=1,seq=4096"`` -> ``{"batch": 1, "seq": 4096}``; every named dim must be given."""
    point: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, eq, value = item.partition("=")
        name = name.strip()
        if not eq or not value.strip().isdigit():
            raise DimensionError(
                f"--at {text}: {item!r} is not DIM=N with N a whole number; write e.g. --at batch=1,seq=4096."
            )
        if name not in dims:
            known = ", ".join(dims) or "(none: every input dimension is a number)"
            raise DimensionError(
                f"--at {text}: unknown dimension {name!r}; the inputs' named dimensions are {known}. "
                "Name one of these, or add it to an --input SPEC."
            )
        point[name] = int(value)
    missing = [d for d in dims if d not in point]
    if missing:
        raise DimensionError(
            f"--at {text}: no value for {', '.join(missing)}; give every named dimension, "
            f"e.g. --at {','.join(f'{d}={point.get(d, 1)}' for d in dims)}."
        )
    return point


def named_dims(specs: Sequence[TensorSpec]) -> list[str]:
    """The named dims of the inputs, in order of first appearance."""
    names: dict[str, None] = {}
    for spec in specs:
        names.update((d, None) for d in spec.dims if isinstance(d, str))
    return list(names)


def concrete_shape(spec: TensorSpec, point: Mapping[str, int]) -> list[int]:
    """The spec's dims at one ``--at`` point."""
    return [d if isinstance(d, int) else point[d] for d in spec.dims]
