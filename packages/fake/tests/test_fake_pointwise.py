"""The pointwise fast path (_pointwise.py): same answers as eager and as torch's refs."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

from torchshade.fake import DispatchCacheMismatchError, FakeTensorMode
from torchshade.fake import _pointwise
from torchshade.shapes import ShapeEnv

Op = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
OPS: dict[str, Op] = {
    "add": lambda x, b: x + b,
    "mul_broadcast": lambda x, b: x * b,
    "sub_scalar": lambda x, b: x - 2,
    "relu": lambda x, b: F.relu(x),
    "gelu": lambda x, b: F.gelu(x, approximate="tanh"),
    "where": lambda x, b: torch.where(x > 0, x, b),
    "sqrt": lambda x, b: x.sqrt(),
    "int_promotion": lambda x, b: (x > 0).int() + 2.5,
    "float64_promotion": lambda x, b: x.double() + x,
    "div_int": lambda x, b: (x > 0).long() / 3,
    "pow_scalar": lambda x, b: x.pow(2),
    "conj_physical_of_real": lambda x, b: torch.conj_physical(x),  # eager returns x itself
    "positive": lambda x, b: torch.positive(x),  # likewise
}
LAYOUTS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "contiguous": lambda t: t,
    "channels_last": lambda t: t.contiguous(memory_format=torch.channels_last),
    "transposed": lambda t: t.transpose(2, 3),  # not dense as written: the ordinary path
    "sliced": lambda t: t[:, :, :, ::2],
}


def _hints(values: tuple[int | torch.SymInt, ...]) -> list[object]:
    return [v.node.hint if isinstance(v, torch.SymInt) else v for v in values]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", OPS)
def test_matches_eager_and_the_ordinary_path(name: str, layout: str) -> None:
    op = OPS[name]
    x = LAYOUTS[layout](torch.randn(2, 8, 6, 6))
    b = torch.randn(8, 1, 1)
    mode = FakeTensorMode(shape_env=ShapeEnv(), cache_crosscheck=True)  # runs both paths
    fx, fb = mode.from_tensor(x), mode.from_tensor(b)
    with mode:
        got = op(fx, fb)
    want = op(x, b)
    assert _hints(tuple(got.shape)) == list(want.shape)
    assert _hints(got.stride()) == list(want.stride())
    assert got.dtype == want.dtype
    assert got.device == want.device
    assert (got is fx) == (want is x)  # an op that hands back its input does so here too
    assert mode.shape_env is not None and mode.shape_env.guards == []


def test_the_fast_path_answers_dense_inputs_and_declines_others() -> None:
    mode = FakeTensorMode(shape_env=ShapeEnv())
    dense = mode.from_tensor(torch.randn(2, 8, 6, 5))
    channels_last = mode.from_tensor(torch.randn(2, 8, 6, 5).contiguous(memory_format=torch.channels_last))
    transposed = mode.from_tensor(torch.randn(2, 8, 6, 5).transpose(2, 3))
    add = torch.ops.aten.add.Tensor
    assert _pointwise.eligible(add)
    for t in (dense, channels_last):
        out = _pointwise.run_pointwise(mode, add, (t, t), {}, [t, t])
        assert isinstance(out, torch.Tensor) and out.stride() == t.stride()
    assert _pointwise.run_pointwise(mode, add, (transposed, transposed), {}, [transposed, transposed]) is NotImplemented
    # A partner of another layout, or one that would widen the output: the ordinary path.
    assert _pointwise.run_pointwise(mode, add, (dense, channels_last), {}, [dense, channels_last]) is NotImplemented
    # Not eligible at all: in-place, random, or with a memory_format argument.
    assert not _pointwise.eligible(torch.ops.aten.add_.Tensor)
    assert not _pointwise.eligible(torch.ops.aten.bernoulli.p)
    assert not _pointwise.eligible(torch.ops.aten.clone.default)


def test_a_symbolic_scalar_argument_takes_the_ordinary_path() -> None:
    mode = FakeTensorMode(shape_env=ShapeEnv())
    x = mode.from_tensor(torch.randn(3, 4))
    n = x.shape[0]
    assert isinstance(n, torch.SymInt)
    add = torch.ops.aten.add.Tensor
    assert _pointwise.run_pointwise(mode, add, (x, n), {}, [x]) is NotImplemented
    with mode:
        assert _hints((x + n).stride()) == [4, 1]


def test_crosscheck_catches_a_fast_path_that_changes_an_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    real = _pointwise.run_pointwise

    def wrong(*args: object) -> object:
        out = real(*args)  # type: ignore[arg-type]  # the real signature, passed through
        assert isinstance(out, torch.Tensor)
        return out.t()  # a transposed answer: wrong strides and sizes

    monkeypatch.setattr(_pointwise, "run_pointwise", wrong)
    mode = FakeTensorMode(shape_env=ShapeEnv(), cache_crosscheck=True)
    x = mode.from_tensor(torch.randn(3, 4))
    with pytest.raises(DispatchCacheMismatchError, match=r"aten\.\w+\.\w+: the pointwise fast path differs from running the kernel.*from the fast path but"):
        with mode:
            torch.relu(x)
