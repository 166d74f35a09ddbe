"""eval_shape: what a function returns, in shapes, without running it for real.

Arguments may be real tensors, fake tensors, or spec strings such as
``"f32[batch, 128]"``; every named dimension becomes one symbol of a
ShapeEnv (equal names, one symbol), so the result is symbolic in them, and
is written with the user's names. The result also carries the guards under
which those shapes hold: the conditions on the named dimensions that the
function's code relied on::

    >>> eval_shape(lambda x, w: x @ w, "f32[batch, 128]", torch.empty(128, 64))
    f32[batch, 64] on cpu
    >>> eval_shape(lambda x: torch.ones(12)[: x.shape[0]], "f32[batch]")
    f32[batch] on cpu, valid for 2 <= batch <= 12

The guards are the ShapeEnv's guards on inputs (``input_guards()``) that the
call added or narrowed: ``2 <= batch`` alone, every named size's default
range, is not printed.

Real tensors the function meets inside (a model's weights, closed over) are
converted to fakes as they are met, like JAX's ``eval_shape`` treats
closed-over arrays: converting reads their metadata only, so they are never
copied or written, and in-place ops inside act on their fakes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import sympy
import torch
import torch.utils._pytree as pytree
from torch.overrides import TorchFunctionMode
from torchshade.shapes import ShapeEnv

from ._errors import FakeModeMismatchError, ShapeSpecError
from ._mode import FakeTensorMode
from ._spec import parse_spec, shape_str
from ._tensor import FakeTensor

# Example values given to named dimensions: distinct primes, so no two names
# are accidentally equal and none is specialized as 0 or 1.
_REAL_TYPES = (torch.Tensor, torch.nn.Parameter, torch.nn.Buffer)
_HINTS = (11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97)


@dataclass(frozen=True)
class ShapeDtypeStruct:
    """The shape, dtype and device of a tensor, as ``eval_shape`` returns it.

    ``shape`` holds ints and SymInts; ``dims`` writes it with the names of the
    spec strings (``("batch", 64)``, ``"2*batch"``); ``guards`` are the
    conditions, as Python source over those names, under which the shape holds
    (``"2 <= batch <= 11"``), all of them true together.
    """

    shape: tuple[int | torch.SymInt, ...]
    dtype: torch.dtype
    device: torch.device
    guards: tuple[str, ...] = ()
    # Symbol (sympy) -> the user's name for it, from the spec strings.
    names: Mapping[Any, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def dims(self) -> tuple[int | str, ...]:
        """The shape with symbols written by the user's names."""
        return tuple(_dim_text(n, self.names) for n in self.shape)

    def __repr__(self) -> str:
        text = f"{shape_str(self.dtype, self.dims)} on {self.device}"
        if self.guards:
            text += ", valid for " + " and ".join(self.guards)
        return text


def eval_shape(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` on fakes of its arguments; return its outputs' shapes, dtypes, devices.

    Tensors in the output pytree become :class:`ShapeDtypeStruct` (with the
    guards under which the shapes hold); other leaves (ints, SymInts, None)
    are returned as they are. Real tensors met inside ``fn`` are converted
    (never copied or modified).
    """
    leaves, spec = pytree.tree_flatten((args, kwargs))
    mode = _choose_mode(leaves)
    env = mode.shape_env
    names: dict[str, torch.SymInt] = {}
    fakes = [_to_fake(mode, leaf, names) for leaf in leaves]
    # What holds by construction (a spec's dimension is >= 2) is not news: only what
    # the call adds or narrows is reported.
    before: set[str] = set() if env is None else {g.python for g in env.input_guards()}
    fake_args, fake_kwargs = pytree.tree_unflatten(fakes, spec)
    with _converting_real_tensors(mode), mode:
        out = fn(*fake_args, **fake_kwargs)
    # The merged guards on inputs (bounds, decisions), less those that held before.
    guards = () if env is None else tuple(g.python for g in env.input_guards() if g.python not in before)
    symbol_names = {s.node.expr: name for name, s in names.items()}
    return pytree.tree_map(lambda value: _describe(value, guards, symbol_names), out)


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
        # No duck shaping: each name is its own symbol, whatever its example.
        env = ShapeEnv(duck_shape=False)
        return FakeTensorMode(shape_env=env, static_shapes=True, allow_non_fake_inputs=True)
    return FakeTensorMode(allow_non_fake_inputs=True)


class _ConvertRealTensors(TorchFunctionMode):
    """Swaps each real tensor argument of a torch call for its fake, before the call.

    Converting at the torch-function level, above the dispatcher, keeps real
    tensors out of everything the call does: autograd records the fakes (so a
    backward inside accumulates into fake grads), and an in-place op bumps the
    fake's version counter, not the real tensor's (torch bumps versions before
    a dispatch mode sees the op).
    """

    def __init__(self, mode: FakeTensorMode) -> None:
        super().__init__()
        self.mode = mode

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: object,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        args, kwargs = pytree.tree_map_only(torch.Tensor, self._fake, (args, kwargs or {}))
        return func(*args, **kwargs)

    def _fake(self, t: torch.Tensor) -> torch.Tensor:
        if isinstance(t, FakeTensor) or type(t) not in _REAL_TYPES:
            return t
        return self.mode.from_tensor(t, static_shapes=True)


@contextlib.contextmanager
def _converting_real_tensors(mode: FakeTensorMode) -> Iterator[None]:
    """Convert the real tensors ``fn`` meets, for the call only.

    ``_ConvertRealTensors`` catches calls through torch's Python API; the
    mode's own ``allow_non_fake_inputs`` catches the rest.
    """
    previous = mode.allow_non_fake_inputs
    mode.allow_non_fake_inputs = True
    try:
        with _ConvertRealTensors(mode):
            yield
    finally:
        mode.allow_non_fake_inputs = previous


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
        index = len(names)
        hint = _HINTS[index] if index < len(_HINTS) else 101 + 2 * index
        names[dim] = env.create_symint(hint, dim)
    return names[dim]


def _describe(value: Any, guards: tuple[str, ...], names: Mapping[Any, str]) -> Any:
    if isinstance(value, torch.Tensor):
        return ShapeDtypeStruct(tuple(value.shape), value.dtype, value.device, guards, names)
    return value


def _dim_text(n: int | torch.SymInt, names: Mapping[Any, str]) -> int | str:
    if isinstance(n, int):
        return n
    expr = n.node.expr
    if expr.is_Integer:
        return int(expr)
    renamed = {s: sympy.Symbol(names[s], integer=True) for s in expr.free_symbols if s in names}
    return str(expr.xreplace(renamed))
