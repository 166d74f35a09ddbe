"""eval_shape: what a function returns, in shapes, without running it for real.

Arguments may be real tensors, fake tensors, or spec strings such as
``"f32[batch, 128]"``; every named dimension becomes one symbol of a
ShapeEnv (equal names, one symbol), so the result is symbolic in them::

    >>> eval_shape(lambda x, w: x @ w, "f32[batch, 128]", torch.empty(128, 64))
    f32[s0, 64] on cpu
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.utils._pytree as pytree
from torchshade.shapes import ShapeEnv

from ._errors import FakeModeMismatchError, ShapeSpecError
from ._mode import FakeTensorMode
from ._spec import parse_spec, shape_str
from ._tensor import FakeTensor

# Example values given to named dimensions: distinct primes, so no two names
# are accidentally equal and none is specialized as 0 or 1.
_HINTS = (11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97)


@dataclass(frozen=True)
class ShapeDtypeStruct:
    """The shape, dtype and device of a tensor, as ``eval_shape`` returns it."""

    shape: tuple[int | torch.SymInt, ...]
    dtype: torch.dtype
    device: torch.device

    def __repr__(self) -> str:
        return f"{shape_str(self.dtype, self.shape)} on {self.device}"


def eval_shape(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` on fakes of its arguments; return its outputs' shapes, dtypes, devices.

    Tensors in the output pytree become :class:`ShapeDtypeStruct`; other
    leaves (ints, SymInts, None) are returned as they are.
    """
    leaves, spec = pytree.tree_flatten((args, kwargs))
    mode = _choose_mode(leaves)
    names: dict[str, torch.SymInt] = {}
    fakes = [_to_fake(mode, leaf, names) for leaf in leaves]
    fake_args, fake_kwargs = pytree.tree_unflatten(fakes, spec)
    with mode:
        out = fn(*fake_args, **fake_kwargs)
    return pytree.tree_map(_describe, out)


def _choose_mode(leaves: list[Any]) -> FakeTensorMode:
    modes = {id(leaf.fake_mode): leaf.fake_mode for leaf in leaves if isinstance(leaf, FakeTensor)}
    if len(modes) > 1:
        first, second = list(modes.values())[:2]
        raise FakeModeMismatchError(
            f"eval_shape: the arguments are fake tensors of two modes, {first!r} and "
            f"{second!r}; make them all with one mode."
        )
    if modes:
        return next(iter(modes.values()))
    if any(isinstance(leaf, str) and "[" in leaf for leaf in leaves):
        return FakeTensorMode(shape_env=ShapeEnv(), static_shapes=True)
    return FakeTensorMode()


def _to_fake(mode: FakeTensorMode, leaf: Any, names: dict[str, torch.SymInt]) -> Any:
    if isinstance(leaf, torch.Tensor):
        return mode.from_tensor(leaf)
    if isinstance(leaf, str) and "[" in leaf:
        parsed = parse_spec(leaf)
        sizes = [_dim(mode, d, names) for d in parsed.dims]
        with mode:
            return torch.empty(sizes, dtype=parsed.dtype)
    return leaf


def _dim(mode: FakeTensorMode, dim: int | str, names: dict[str, torch.SymInt]) -> int | torch.SymInt:
    if isinstance(dim, int):
        return dim
    if dim not in names:
        env = mode.shape_env
        if env is None:
            raise ShapeSpecError(
                f"eval_shape: the named dimension {dim!r} needs a ShapeEnv, but the "
                f"fake tensor arguments belong to {mode!r}, which has none. Use integer "
                "dimensions, or make the fakes with FakeTensorMode(shape_env=ShapeEnv())."
            )
        names[dim] = env.create_symint(_HINTS[len(names) % len(_HINTS)], dim)
    return names[dim]


def _describe(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return ShapeDtypeStruct(tuple(value.shape), value.dtype, value.device)
    return value
