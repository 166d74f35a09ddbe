"""One record of fresh unbacked symbols: the cache and FakeTensorProp read the same one.

An op the mode knows nothing special about makes an unbacked symbol straight
on the ShapeEnv (its Meta kernel calls ``create_unbacked_symint`` on the env
of its input's size).  Each call must give a new symbol, as under torch's
fake mode, and FakeTensorProp must bind it every time the node runs.
A fallback kernel's call is never cached either, for its own reason (counted
apart, ``mode.fallback_runs``): a mode without fallback must not be served it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
import torch.fx
from torch._subclasses.fake_tensor import FakeTensorMode as TorchFakeTensorMode
from torch.fx.experimental.symbolic_shapes import ShapeEnv as TorchShapeEnv

from torchshade.fake import FakeTensorMode, FakeTensorProp, MissingFakeImplError
from torchshade.shapes import ShapeEnv

_NAME = "torchshade_test_fresh_size"


def _fresh_size_meta(x: torch.Tensor) -> torch.Tensor:
    """Rows of ``x`` kept by data: as many as a new unbacked symbol, made on the env."""
    size = x.shape[0]
    assert isinstance(size, torch.SymInt)  # the tests give x a symbolic size
    u = size.node.shape_env.create_unbacked_symint()
    torch._check(u >= 0)
    return x.new_empty((u,))


@pytest.fixture(scope="module")
def fresh_size() -> Iterator[torch._ops.OpOverload]:
    """An aten-namespace op (so the dispatch cache considers it) whose Meta kernel makes an unbacked size."""
    lib = torch.library.Library("aten", "FRAGMENT")
    lib.define(f"{_NAME}(Tensor x) -> Tensor")
    lib.impl(_NAME, _fresh_size_meta, "Meta")
    yield getattr(torch.ops.aten, _NAME).default
    lib._destroy()


def _sizes_of_two_calls(mode: object, x: torch.Tensor, op: torch._ops.OpOverload) -> tuple[str, str]:
    with mode:  # type: ignore[attr-defined]  # either fake mode
        return str(op(x).shape[0]), str(op(x).shape[0])


def test_each_call_gets_its_own_symbol_as_under_torch(fresh_size: torch._ops.OpOverload) -> None:
    ours = FakeTensorMode(shape_env=ShapeEnv())
    theirs = TorchFakeTensorMode(shape_env=TorchShapeEnv())
    x = torch.empty(5)
    mine = _sizes_of_two_calls(ours, ours.from_tensor(x), fresh_size)
    torchs = _sizes_of_two_calls(theirs, theirs.from_tensor(x), fresh_size)
    assert mine == torchs == ("u0", "u1")  # never the first call's u0 from the cache


def test_fake_tensor_prop_binds_a_fresh_symbol_on_every_run(fresh_size: torch._ops.OpOverload) -> None:
    graph = torch.fx.Graph()
    x = graph.placeholder("x")
    out = graph.call_function(fresh_size, (x,))
    graph.output(out)
    gm = torch.fx.GraphModule(torch.nn.Module(), graph)
    mode = FakeTensorMode(shape_env=ShapeEnv())
    fake = mode.from_tensor(torch.empty(5))
    bound = []
    for _ in range(2):  # the second run is where a cached call would have made no symbol
        FakeTensorProp(gm, mode).propagate_dont_convert_inputs(fake)
        ((symbol, path),) = out.meta["unbacked_bindings"].items()
        assert path == ("size", 0) and out.meta["val"].shape[0].node.expr == symbol
        bound.append(str(symbol))
    assert bound == ["u0", "u1"]


def test_a_fallback_kernels_call_is_never_served_to_a_mode_without_fallback() -> None:
    with_fallback = FakeTensorMode()  # static modes share one table of entries
    without = FakeTensorMode(allow_fallback_kernels=False)
    x = torch.randn(4, 3)
    eager_q, eager_tau = torch.geqrf(x)  # geqrf has no meta kernel: the CPU kernel runs on zeros
    with with_fallback:
        q, tau = torch.geqrf(with_fallback.from_tensor(x))
    assert with_fallback.fallback_runs == 1
    assert (q.shape, q.stride(), tau.shape) == (eager_q.shape, eager_q.stride(), eager_tau.shape)
    with pytest.raises(MissingFakeImplError, match="geqrf"), without:
        torch.geqrf(without.from_tensor(x))
