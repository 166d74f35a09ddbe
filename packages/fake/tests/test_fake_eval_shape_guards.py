"""eval_shape keeps what it learned: the guards under which its shapes hold,
written with the spec's names.

The oracle is eager torch: for every size of the named dimension where the
guards hold, the shapes eval_shape gave (with that size substituted) are the
shapes eager computes; and each guard is needed: some size that fails it
gives eager shapes that differ.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torchshade.shapes import ShapeEnv

from torchshade.fake import FakeTensorMode, ShapeDtypeStruct, eval_shape

Fn = Callable[[torch.Tensor], torch.Tensor]

FUNCTIONS: dict[str, tuple[Fn, str]] = {
    "slice of a constant": (lambda x: torch.ones(12)[: x.shape[0]], "2 <= batch <= 12"),
    "slice of the input": (lambda x: x[:12], "2 <= batch <= 11"),
    "branch": (lambda x: x[:, :5] if x.shape[0] > 9 else x, "10 <= batch"),
    "no decision": (lambda x: x @ torch.ones(8, 3), ""),
}


def _substitute(out: ShapeDtypeStruct, batch: int) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) else eval(d, {"batch": batch}) for d in out.dims)  # noqa: S307  # our own dims text


def _holds(guards: tuple[str, ...], batch: int) -> bool:
    return all(eval(g, {"batch": batch, "math": math}) for g in guards)  # noqa: S307  # our own guard source


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_shapes_are_eagers_where_the_guards_hold(name: str) -> None:
    fn, expected = FUNCTIONS[name]
    out = eval_shape(fn, "f32[batch, 8]")
    assert isinstance(out, ShapeDtypeStruct)
    assert " and ".join(out.guards) == expected
    assert "s0" not in repr(out) and "batch" in repr(out)
    failing_differs = False
    for batch in range(2, 30):
        eager = tuple(fn(torch.empty(batch, 8)).shape)
        if _holds(out.guards, batch):
            assert eager == _substitute(out, batch), batch
        else:
            failing_differs |= eager != _substitute(out, batch)
    assert failing_differs == bool(out.guards)


def test_repr_prints_the_guards() -> None:
    out = eval_shape(lambda x: torch.ones(12)[: x.shape[0]], "f32[batch, 8]")
    assert repr(out) == "f32[batch] on cpu, valid for 2 <= batch <= 12"
    assert out.dims == ("batch",)
    assert isinstance(out.shape[0], torch.SymInt)


def test_every_leaf_carries_the_guards_and_names() -> None:
    out = eval_shape(
        lambda x, y: {"cat": torch.cat([x, y]), "first": x[:4]}, "f32[n, m]", "f32[k, m]"
    )
    assert out["cat"].dims == ("k + n", "m")
    assert out["first"].dims == (4, "m")
    assert out["cat"].guards == out["first"].guards
    assert "4 <= n" in out["cat"].guards


def test_no_guards_for_static_shapes() -> None:
    out = eval_shape(lambda a: a.sum(0), torch.randn(3, 4))
    assert out.guards == () and repr(out) == "f32[4] on cpu"


def test_guards_of_the_call_only_with_the_users_mode() -> None:
    mode = FakeTensorMode(shape_env=ShapeEnv())
    x = mode.from_tensor(torch.randn(6, 4), source="x")
    with mode:
        x[:20]  # a guard taken before the call: not this call's
    out = eval_shape(lambda a: a[:3], x)
    # The bound on x.size()[0] narrowed: it is printed merged, whole.
    assert out.guards == ("3 <= x.size()[0] <= 19",)
    assert out.dims == (3, str(x.shape[1]))


def test_the_result_surface_is_pinned() -> None:
    import dataclasses

    fields = [f.name for f in dataclasses.fields(ShapeDtypeStruct)]
    assert fields == ["shape", "dtype", "device", "guards", "names"]
    out = eval_shape(lambda x, w: x @ w, "f32[batch, 128]", torch.empty(128, 64))
    assert repr(out) == "f32[batch, 64] on cpu" and out.dims == ("batch", 64)
    assert out == ShapeDtypeStruct(out.shape, torch.float32, torch.device("cpu"))
