"""from_tensor does what torch's converter does: grads, symbolic storage
offsets, fakes of another mode on one ShapeEnv, nonzero's bound.

Each test runs the same conversion through torch's FakeTensorMode with
torch's ShapeEnv and through ours, and compares.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode as TorchFakeTensorMode
from torch.fx.experimental.symbolic_shapes import ShapeEnv as TorchShapeEnv
from torchshade.shapes import ShapeEnv

from torchshade.fake import FakeModeMismatchError, FakeTensor, FakeTensorMode

Mode = FakeTensorMode | TorchFakeTensorMode


def _modes() -> tuple[FakeTensorMode, TorchFakeTensorMode]:
    return FakeTensorMode(shape_env=ShapeEnv()), TorchFakeTensorMode(shape_env=TorchShapeEnv())


def _hint(n: int | torch.SymInt) -> tuple[str, int]:
    """("int", 3) or ("SymInt", its hint)."""
    if isinstance(n, torch.SymInt):
        return ("SymInt", int(n.node.hint))
    return ("int", n)


def _symbol_pattern(t: torch.Tensor, names: dict[str, int]) -> tuple[object, ...]:
    """Sizes and strides with each symbol numbered by first appearance, so two
    envs' fakes compare by which dimensions share a symbol, not by names."""

    def canon(n: int | torch.SymInt) -> object:
        if isinstance(n, int):
            return n
        return _rename(str(n.node.expr), names)

    return tuple(canon(n) for n in (*t.shape, *t.stride()))


def _rename(text: str, names: dict[str, int]) -> str:
    def number(match: re.Match[str]) -> str:
        return f"v{names.setdefault(match.group(0), len(names))}"

    renamed = re.sub(r"[su]\d+", number, text.replace(" ", ""))
    return "*".join(sorted(renamed.split("*")))  # a product's factors in one order


# -- .grad ------------------------------------------------------------------

GRADS: dict[str, Callable[[], torch.Tensor]] = {
    "contiguous": lambda: torch.randn(3, 5),
    "transposed": lambda: torch.randn(5, 3).t(),
    "channels-last": lambda: torch.randn(2, 3, 4, 5).contiguous(memory_format=torch.channels_last),
    "strided": lambda: torch.randn(3, 10)[:, ::2],
}
SHAPES = {"contiguous": (3, 5), "transposed": (3, 5), "channels-last": (2, 3, 4, 5), "strided": (3, 5)}


@pytest.mark.parametrize("symbolic", [False, True], ids=["static", "symbolic"])
@pytest.mark.parametrize("kind", list(GRADS))
def test_grad_is_the_fake_of_the_grad(kind: str, symbolic: bool) -> None:
    ours, theirs = _modes() if symbolic else (FakeTensorMode(), TorchFakeTensorMode())
    rows = []
    for mode in (ours, theirs):
        torch.manual_seed(0)
        w = torch.nn.Parameter(torch.randn(*SHAPES[kind]))
        w.grad = GRADS[kind]()
        fake = mode.from_tensor(w)
        assert fake.grad is not None and isinstance(fake.grad, type(fake))
        assert fake.grad.fake_mode is mode
        assert mode.from_tensor(w.grad) is fake.grad  # memoized like any tensor
        names: dict[str, int] = {}
        rows.append(
            (
                _symbol_pattern(fake, names),
                _symbol_pattern(fake.grad, names),
                [_hint(n) for n in fake.grad.stride()],
                fake.grad.dtype,
                fake.grad.requires_grad,
            )
        )
    assert rows[0] == rows[1]


def test_non_leaf_grad_is_not_read() -> None:
    # pytest runs with warnings as errors: reading .grad of a non-leaf warns,
    # and torch's converter does read it (test_fake_convert.py hides that).
    w = torch.randn(3, requires_grad=True)
    w.grad = torch.randn(3)
    fake = FakeTensorMode().from_tensor(w * 2)
    assert not fake.is_leaf and fake.requires_grad


def test_grad_of_a_grad_less_tensor_is_none(sym_mode: FakeTensorMode) -> None:
    assert sym_mode.from_tensor(torch.nn.Parameter(torch.randn(2, 2))).grad is None


# -- storage offset -----------------------------------------------------------

VIEWS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "rows": lambda x: x[1:],
    "column": lambda x: x[:, 1],
    "transposed": lambda x: x[2:].t(),
    "block": lambda x: x[1:, 2:],
    "detached": lambda x: x[3:].detach(),
    "base": lambda x: x,
    "offset-one": lambda x: x.view(-1)[1:],
}


@pytest.mark.parametrize("view", list(VIEWS))
def test_storage_offset_is_symbolic_like_torch(view: str) -> None:
    ours, theirs = _modes()
    found = []
    for mode in (ours, theirs):
        x = torch.randn(4, 6)
        real = VIEWS[view](x)
        fake = mode.from_tensor(real)
        found.append((_hint(fake.storage_offset()), fake._is_view()))
        assert _hint(fake.storage_offset())[1] == real.storage_offset()
    assert found[0] == found[1]


def test_symbolic_offset_is_its_own_symbol_with_a_range(sym_mode: FakeTensorMode) -> None:
    x = torch.randn(4, 6)
    fake = sym_mode.from_tensor(x[1:, 2:], source="v")
    offset = fake.storage_offset()
    assert isinstance(offset, torch.SymInt) and int(offset.node.hint) == 8
    env = sym_mode.shape_env
    assert env is not None
    (symbol,) = offset.node.expr.free_symbols
    assert "v.storage_offset()" in env.var_to_sources[symbol]
    assert env.var_to_range[symbol].lower == 2  # like sizes: 0 and 1 specialize
    with sym_mode:  # the fake works as a view: ops on it and through its base
        out = (fake + 1).sum(0)
        fake.mul_(2)
    assert str(out.shape) == f"torch.Size([{fake.shape[1]}])"


def test_static_shapes_keep_the_offset_static(sym_mode: FakeTensorMode) -> None:
    fake = sym_mode.from_tensor(torch.randn(4, 6)[1:], static_shapes=True)
    assert type(fake.storage_offset()) is int and fake.storage_offset() == 6


# -- fakes of another mode --------------------------------------------------------


def _convert_across(first: Mode, second: Mode) -> tuple[torch.Tensor, torch.Tensor]:
    real = torch.randn(4, 6, requires_grad=True)
    view = real[1:, 2:]
    with warnings.catch_warnings():  # torch's converter reads .grad of non-leaves
        warnings.simplefilter("ignore")
        fake = first.from_tensor(view)
        again = second.from_tensor(fake)
    return fake, again


def _two_modes_on_one_env(ours: bool) -> tuple[Mode, Mode, ShapeEnv | TorchShapeEnv]:
    if ours:
        env = ShapeEnv()
        return FakeTensorMode(shape_env=env), FakeTensorMode(shape_env=env), env
    their_env = TorchShapeEnv()
    return TorchFakeTensorMode(shape_env=their_env), TorchFakeTensorMode(shape_env=their_env), their_env


@pytest.mark.parametrize("ours", [True, False], ids=["ours", "torch"])
def test_fake_of_another_mode_on_one_env_keeps_its_symbols(ours: bool) -> None:
    first, second, env = _two_modes_on_one_env(ours)
    fake, again = _convert_across(first, second)
    symbols_before = len(env.backed_var_to_val)
    assert again is not fake and getattr(again, "fake_mode") is second  # noqa: B009  # two FakeTensor classes
    assert str(again.shape) == str(fake.shape)
    assert str(again.stride()) == str(fake.stride())
    assert str(again.storage_offset()) == str(fake.storage_offset())
    assert (again.requires_grad, again.is_leaf, again._is_view()) == (True, False, True)
    assert again._base is second.from_tensor(fake._base)
    assert second.from_tensor(fake) is again
    with second:
        out = again @ again.t()
    assert str(out.shape) == f"torch.Size([{fake.shape[0]}, {fake.shape[0]}])"
    assert len(env.backed_var_to_val) == symbols_before  # no new symbol


def test_static_fake_of_another_mode_stays_static_like_torch() -> None:
    shapes = []
    pairs: list[tuple[Mode, Mode]] = [
        (FakeTensorMode(), FakeTensorMode(shape_env=ShapeEnv())),
        (TorchFakeTensorMode(), TorchFakeTensorMode(shape_env=TorchShapeEnv())),
    ]
    for static_mode, symbolic_mode in pairs:
        static = static_mode.from_tensor(torch.nn.Parameter(torch.randn(2, 3)))
        again = symbolic_mode.from_tensor(static)
        shapes.append((tuple(again.shape), again.stride(), isinstance(again, torch.nn.Parameter)))
    assert shapes[0] == shapes[1] == ((2, 3), (3, 1), True)


def test_fake_of_another_mode_keeps_its_constant() -> None:
    first, second = FakeTensorMode(), FakeTensorMode()
    with first:
        small = torch.tensor([3])
    again = second.from_tensor(small)
    assert isinstance(again, FakeTensor) and again.fake_mode is second
    with second:
        assert again.item() == 3


def test_symbols_of_another_env_are_refused() -> None:
    fake = FakeTensorMode(shape_env=ShapeEnv()).from_tensor(torch.randn(2, 3))
    other = FakeTensorMode(shape_env=ShapeEnv())
    with pytest.raises(FakeModeMismatchError, match="sizes are symbols of that other ShapeEnv"):
        other.from_tensor(fake)


# -- nonzero's bound ---------------------------------------------------------------

NONZERO: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "nonzero": lambda x: x.nonzero(),
    "mask": lambda x: x[x > 0],
    "masked_select": lambda x: torch.masked_select(x, x > 0),
}


@pytest.mark.parametrize("bounds", ["static", "checked", "unbounded"])
@pytest.mark.parametrize("op", list(NONZERO))
def test_nonzero_size_range_like_torch(op: str, bounds: str) -> None:
    ranges: list[tuple[int, int]] = []
    for mode in _modes():
        x = mode.from_tensor(torch.randn(3, 4), static_shapes=bounds == "static")
        env = mode.shape_env
        assert env is not None
        with mode:
            if bounds == "checked":
                torch._check(x.shape[0] <= 10)
                torch._check(x.shape[1] <= 6)
            size = NONZERO[op](x).shape[0]
        assert isinstance(size, torch.SymInt)
        r = env.var_to_range[size.node.expr]
        ranges.append((int(r.lower), int(r.upper)))
    assert ranges[0] == ranges[1]
    expected = {"static": 12, "checked": 60}.get(bounds)
    if expected is not None:
        assert ranges[0] == (0, expected)


@pytest.mark.parametrize("ours", [True, False], ids=["ours", "torch"])
def test_grad_of_a_fake_of_another_mode_comes_across(ours: bool) -> None:
    first, second, _ = _two_modes_on_one_env(ours)
    w = torch.nn.Parameter(torch.randn(3, 5))
    w.grad = torch.randn(3, 5)
    fake = first.from_tensor(w)
    again = second.from_tensor(fake)
    assert again.grad is not None and fake.grad is not None
    assert getattr(again.grad, "fake_mode") is second  # noqa: B009  # two FakeTensor classes
    assert str(again.grad.shape) == str(fake.grad.shape) == str(fake.shape)
    assert isinstance(again, torch.nn.Parameter)


def test_converting_records_no_guard_like_torch() -> None:
    counts = []
    for mode in _modes():
        x = torch.randn(4, 6)
        w = torch.nn.Parameter(torch.randn(3, 5))
        w.grad = torch.randn(5, 3).t()
        for real in (x, x[3:].detach(), x[1:, 2:], x.view(-1)[1:], w, torch.randn(10)[::2]):
            mode.from_tensor(real)
        env = mode.shape_env
        assert env is not None
        counts.append(len(env.guards))
    assert counts == [0, 0]
