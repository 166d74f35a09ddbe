"""Data-dependent ops: unbacked symbols with a ShapeEnv, clear errors without."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torchshade.shapes import GuardOnDataDependentSymNode, free_unbacked_symbols

from torchshade.fake import DataDependentOutputException, DynamicOutputShapeException, FakeTensorMode

SIZE_OPS: dict[str, tuple[Callable[[torch.Tensor], object], str]] = {
    "nonzero": (lambda x: x.nonzero(), "number of nonzero elements"),
    "masked_select": (lambda x: x.masked_select(x > 0), "how many elements the mask selects"),
    "bool_index": (lambda x: x[x > 0], "how many elements the boolean mask selects"),
    "unique": (lambda x: torch.unique(x), "number of distinct values"),
    "unique_dim": (lambda x: torch.unique(x, dim=0), "number of distinct slices"),
    "unique_consecutive": (lambda x: torch.unique_consecutive(x), "number of distinct values"),
    "repeat_interleave": (lambda x: torch.repeat_interleave(x.long()), "sum of repeats"),
    "bincount": (lambda x: torch.bincount(x.long().flatten()), "largest value"),
}


@pytest.mark.parametrize("name", sorted(SIZE_OPS))
def test_without_env_names_the_op_and_the_fix(mode: FakeTensorMode, name: str) -> None:
    fn, what = SIZE_OPS[name]
    x = mode.from_tensor(torch.randn(4, 3))
    with mode, pytest.raises(DynamicOutputShapeException, match=what) as info:
        fn(x)
    assert "aten." in str(info.value) and "ShapeEnv" in str(info.value)


@pytest.mark.parametrize("name", sorted(SIZE_OPS))
def test_with_env_sizes_are_unbacked(sym_mode: FakeTensorMode, name: str) -> None:
    fn, _ = SIZE_OPS[name]
    x = sym_mode.from_tensor(torch.randn(4, 3), static_shapes=True)
    with sym_mode:
        out = fn(x)
    first = out[0] if isinstance(out, tuple) else out
    assert isinstance(first, torch.Tensor)
    assert free_unbacked_symbols(first.shape), first.shape


def test_shapes_match_eager_with_hints_substituted(sym_mode: FakeTensorMode) -> None:
    x = sym_mode.from_tensor(torch.randn(4, 3), static_shapes=True)
    with sym_mode:
        nz = x.nonzero()
        values, inverse, counts = torch.ops.aten._unique2(x, True, True, True)
    assert nz.dim() == 2 and nz.shape[1] == 2 and nz.stride()[0] == 1
    assert inverse.shape == (4, 3) and values.dtype == torch.float32 and counts.dtype == torch.int64


def test_nonzero_of_one_tensor_is_memoized(sym_mode: FakeTensorMode) -> None:
    m = sym_mode.from_tensor(torch.rand(5) > 0.5, static_shapes=True)
    a = sym_mode.from_tensor(torch.randn(5), static_shapes=True)
    b = sym_mode.from_tensor(torch.randn(5), static_shapes=True)
    with sym_mode:
        assert str(a[m].shape[0]) == str(b[m].shape[0])
        m.logical_not_()
        assert str(a[m].shape[0]) != str(b[0:1].shape[0])


def test_item_and_tolist(mode: FakeTensorMode, sym_mode: FakeTensorMode) -> None:
    x = mode.from_tensor(torch.randn(3))
    with mode, pytest.raises(DataDependentOutputException, match=r"\.item\(\), \.tolist\(\)"):
        x.sum().item()
    with mode, pytest.raises(DataDependentOutputException, match=r"f32\[\] on cpu"):
        x.tolist()
    y = sym_mode.from_tensor(torch.arange(3), static_shapes=True)
    with sym_mode:
        values = y.tolist()
        f = y.float().sum().item()
    assert all(isinstance(v, torch.SymInt) for v in values)
    assert isinstance(f, torch.SymFloat)


def test_one_hot_without_num_classes(mode: FakeTensorMode, sym_mode: FakeTensorMode) -> None:
    # one_hot decomposes above the fake mode into x.max().item(), so the
    # error is about the value, not the size.
    x = mode.from_tensor(torch.tensor([0, 2]))
    with mode, pytest.raises(DataDependentOutputException, match="item"):
        torch.nn.functional.one_hot(x)
    # With an env the value is an unbacked symbol, and the decomposition's
    # int(...) on it is refused by the ShapeEnv with its own fix-it message.
    y = sym_mode.from_tensor(torch.tensor([0, 2]), static_shapes=True)
    with sym_mode, pytest.raises(GuardOnDataDependentSymNode, match="torch._check"):
        torch.nn.functional.one_hot(y)


def test_equal_needs_data(mode: FakeTensorMode) -> None:
    x = mode.from_tensor(torch.randn(3))
    with mode, pytest.raises(DataDependentOutputException, match="comparing values needs data"):
        torch.equal(x, x)


def test_repeat_interleave_with_output_size_is_static(mode: FakeTensorMode) -> None:
    r = mode.from_tensor(torch.tensor([1, 2]))
    with mode:
        out = torch.repeat_interleave(r, output_size=3)
    assert out.shape == (3,)


def test_small_constants_keep_their_value(mode: FakeTensorMode) -> None:
    with mode:
        t = torch.tensor([3])
        assert t.item() == 3
        u = t + 4
        assert u.item() == 7
        assert int(torch.tensor(5) * 2) == 10
        t.add_(1)
        assert t.item() == 4  # updated by running for real
        big = torch.empty(3)
        t.copy_(big[:1])  # written with an unknown value: the constant is dropped
        with pytest.raises(DataDependentOutputException):
            t.item()


def test_torch_also_raises_without_env() -> None:
    from torch._subclasses.fake_tensor import (
        DynamicOutputShapeException as TorchDynamicOutputShapeException,
    )
    from torch._subclasses.fake_tensor import FakeTensorMode as TorchFakeTensorMode

    theirs = TorchFakeTensorMode()
    x = theirs.from_tensor(torch.randn(3))
    with theirs, pytest.raises(TorchDynamicOutputShapeException):
        x.nonzero()


def test_allclose_needs_data(mode: FakeTensorMode) -> None:
    x = mode.from_tensor(torch.randn(3))
    with mode, pytest.raises(DataDependentOutputException, match="aten.allclose.default on f32\\[3\\]"):
        torch.allclose(x, x)


def test_slicing_at_an_unbacked_position(sym_mode: FakeTensorMode) -> None:
    # torch.narrow at a tensor start: the decomposition would guard on u0 < 0.
    x = sym_mode.from_tensor(torch.randn(5, 6), static_shapes=True)
    start = sym_mode.from_tensor(torch.tensor(2), static_shapes=True)
    with sym_mode:
        y = torch.narrow(x, 1, start, 3)
        i = start.item()
        z = x[i:]
    assert y.shape[0] == 5 and free_unbacked_symbols(y.shape)
    assert z.shape[1] == 6 and free_unbacked_symbols(z.shape)
    assert y._base is x and z._base is x


def test_slicing_at_an_unbacked_position_needs_an_env(mode: FakeTensorMode) -> None:
    x = mode.from_tensor(torch.randn(5, 6))
    start = mode.from_tensor(torch.tensor([2, 3]))
    with mode, pytest.raises(DataDependentOutputException, match="i64\\[\\] on cpu"):
        torch.narrow(x, 1, start[0], 3)
