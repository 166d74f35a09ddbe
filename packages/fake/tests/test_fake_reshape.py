"""view / reshape / flatten on symbolic fakes: contiguous inputs guard only what the view needs."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
import torch
from torch._dispatch.python import enable_python_dispatcher
from torch._dynamo.source import LocalSource
from torch._subclasses.fake_tensor import FakeTensorMode as TorchFakeTensorMode
from torch.fx.experimental.symbolic_shapes import ShapeEnv as TorchShapeEnv
from torchshade.shapes import ShapeEnv

from torchshade.fake import FakeTensorMode

VALID_FOR_2_BY_ANY = [(2, 6), (3, 4), (6, 2), (4, 3)]
Op = Callable[[torch.Tensor], torch.Tensor]


def _hinted(values: Sequence[int | torch.SymInt] | torch.Size) -> tuple[int, ...]:
    """Sizes or strides with every symbol replaced by its example value."""
    out = []
    for v in values:
        hint = v.node.hint if isinstance(v, torch.SymInt) else v
        assert isinstance(hint, int)
        out.append(hint)
    return tuple(out)


def _decisions(env: ShapeEnv) -> list[str]:
    return [g.text for g in env.guards if g.kind in ("decision", "divisible", "equality")]


def test_reshape_of_contiguous_input_is_a_view_with_one_guard(env: ShapeEnv, sym_mode: FakeTensorMode) -> None:
    x = sym_mode.from_tensor(torch.empty(4, 3), source="x")
    s0, s1 = x.shape
    with sym_mode:
        y = x.reshape(2, -1)
    rows, cols = y.shape
    half = (s0 * s1) // 2  # made by our SymNode: the expression reshape must give
    assert rows == 2 and isinstance(cols, torch.SymInt) and isinstance(half, torch.SymInt)
    assert cols.node.expr == half.node.expr and str(cols) == "((s0*s1)//2)"
    assert _hinted(y.shape) == (2, 6) and _hinted(y.stride()) == (6, 1)
    assert y._base is x and y.untyped_storage()._cdata == x.untyped_storage()._cdata
    assert y.storage_offset() == 0 and y.fake_mode is sym_mode
    assert _decisions(env) == ["Eq(Mod(s0*s1, 2), 0)"]
    for shape in VALID_FOR_2_BY_ANY:
        assert not env.check_guards({"x": torch.empty(*shape)}), shape
    (failure,) = env.check_guards({"x": torch.empty(3, 3)})
    assert "(x.size()[0] * x.size()[1]) % 2 == 0" in str(failure)


def test_torchs_fake_reshape_rejects_inputs_ours_accepts() -> None:
    torch_env = TorchShapeEnv()
    torch_mode = TorchFakeTensorMode(shape_env=torch_env)
    x = torch_mode.from_tensor(torch.empty(4, 3), source=LocalSource("x"))
    with torch_mode, enable_python_dispatcher():
        y = x.reshape(2, -1)
    assert _hinted(y.shape) == (2, 6) and y._base is x
    dims: list[object] = list(x.shape)  # SymInts, though torch.Size is typed as ints
    symbols = [s.node.expr for s in dims if isinstance(s, torch.SymInt)]
    assert len(symbols) == 2

    def torch_accepts(shape: tuple[int, int]) -> bool:
        values = dict(zip(symbols, shape, strict=True))
        return all(bool(g.expr.xreplace(values)) for g in torch_env.guards)

    # torch's reshape walk guards s0 != 2 and s0 % 2 == 0 (among others) at hints (4, 3).
    assert [torch_accepts(s) for s in VALID_FOR_2_BY_ANY] == [False, False, True, True]
    assert not torch_accepts((3, 3))
    env = ShapeEnv()
    mode = FakeTensorMode(shape_env=env)
    ours = mode.from_tensor(torch.empty(4, 3), source="x")
    with mode:
        ours.reshape(2, -1)
    assert [not env.check_guards({"x": torch.empty(*s)}) for s in VALID_FOR_2_BY_ANY] == [True] * 4


def test_a_cached_reshape_is_still_a_view(env: ShapeEnv, sym_mode: FakeTensorMode) -> None:
    x = sym_mode.from_tensor(torch.empty(4, 3), source="x")
    with sym_mode:
        first = x.view(2, -1)
        hits = sym_mode.cache_info().hits
        second = x.view(2, -1)
    assert sym_mode.cache_info().hits == hits + 1
    assert second is not first and second._base is x
    assert second.untyped_storage()._cdata == x.untyped_storage()._cdata
    assert [str(s) for s in second.shape] == [str(s) for s in first.shape]
    assert _decisions(env) == ["Eq(Mod(s0*s1, 2), 0)"]


def test_storage_offset_is_kept(env: ShapeEnv, sym_mode: FakeTensorMode) -> None:
    real = torch.empty(4, 3)
    x = sym_mode.from_tensor(real, source="x")
    with sym_mode:
        y = x[1:].view(-1)
    eager = real[1:].view(-1)
    assert _hinted(y.shape) == tuple(eager.shape) and _hinted(y.stride()) == eager.stride()
    assert isinstance(y.storage_offset(), torch.SymInt) and str(y.storage_offset()) == "s1"
    assert y._base is x and y.untyped_storage()._cdata == x.untyped_storage()._cdata


CASES: dict[str, tuple[tuple[int, ...], Op]] = {
    "view(-1)": ((4, 3), lambda t: t.view(-1)),
    "flatten": ((4, 3), lambda t: t.flatten()),
    "flatten(1)": ((2, 4, 3), lambda t: t.flatten(1)),
    "view(2, 1, -1)": ((4, 3), lambda t: t.view(2, 1, -1)),
    "view(-1, 1)": ((4, 3), lambda t: t.view(-1, 1)),
    "unsqueeze().view()": ((4, 3), lambda t: t.unsqueeze(1).view(2, -1, 3)),
    "view on transposed": ((4, 3), lambda t: t.t().view(3, 1, 4)),
    "reshape on transposed": ((4, 3), lambda t: t.t().reshape(-1)),
    "flatten on transposed": ((2, 4, 3), lambda t: t.transpose(1, 2).flatten(1)),
    "reshape on expanded": ((4, 3), lambda t: t[:, None].expand(-1, 2, -1).reshape(8, -1)),
}


def _torch_fake(shape: tuple[int, ...], op: Op) -> torch.Tensor:
    mode = TorchFakeTensorMode(shape_env=TorchShapeEnv())
    x = mode.from_tensor(torch.empty(*shape), source=LocalSource("x"))
    with mode, enable_python_dispatcher():
        return op(x)


@pytest.mark.parametrize("name", list(CASES))
def test_views_match_eager_and_torchs_fake(name: str, env: ShapeEnv, sym_mode: FakeTensorMode) -> None:
    shape, op = CASES[name]
    real = torch.empty(*shape)
    eager = op(real)
    aliases = eager.untyped_storage().data_ptr() == real.untyped_storage().data_ptr()
    x = sym_mode.from_tensor(real, source="x")
    with sym_mode:
        ours = op(x)
    theirs = _torch_fake(shape, op)
    expected = (tuple(eager.shape), eager.stride(), eager.storage_offset())
    assert (_hinted(ours.shape), _hinted(ours.stride()), ours.storage_offset()) == expected
    assert (_hinted(theirs.shape), _hinted(theirs.stride()), theirs.storage_offset()) == expected
    assert (ours.untyped_storage()._cdata == x.untyped_storage()._cdata) == aliases
    assert (ours._base is x) == (eager._base is real)
    assert not env.check_guards({"x": real})


@pytest.mark.parametrize("name", list(CASES))
def test_static_views_match_eager(name: str, mode: FakeTensorMode) -> None:
    shape, op = CASES[name]
    real = torch.empty(*shape)
    eager = op(real)
    x = mode.from_tensor(real)
    with mode:
        ours = op(x)
    assert (tuple(ours.shape), ours.stride(), ours.storage_offset()) == (
        tuple(eager.shape),
        eager.stride(),
        eager.storage_offset(),
    )
    assert (ours._base is x) == (eager._base is real)


def test_a_view_that_does_not_fit_raises_in_torchs_words(sym_mode: FakeTensorMode) -> None:
    x = sym_mode.from_tensor(torch.empty(4, 3), source="x")
    with sym_mode, pytest.raises(RuntimeError, match=r"shape '\[5, -1\]' is invalid for input of size"):
        x.view(5, -1)
    with sym_mode, pytest.raises(RuntimeError, match="only one dimension can be inferred"):
        x.reshape(-1, -1)


def test_a_view_of_an_unbacked_contiguous_tensor(env: ShapeEnv, sym_mode: FakeTensorMode) -> None:
    mask = sym_mode.from_tensor(torch.ones(4, 3, dtype=torch.bool), source="m")
    with sym_mode:
        rows = torch.nonzero(mask).contiguous()
        flat = rows.view(-1)
    (u0,) = rows.shape[:1]
    assert isinstance(u0, torch.SymInt) and str(flat.shape[0]) == "2*u0"
    assert flat.stride() == (1,) and flat._base is rows
