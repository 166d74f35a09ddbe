"""With a ShapeEnv: sizes stay symbolic; no dimension is silently specialized."""

from __future__ import annotations

import pytest
import sympy
import torch
import torch.nn.functional as F
from torchshade.shapes import DimDynamic, ShapeEnv

from torchshade.fake import FakeTensorMode


def _specializations(env: ShapeEnv) -> list[str]:
    """Guards (other than the conversion's own) that fail for other sizes.

    A guard that holds for every size is harmless; one that fails when s0
    and s1 take other values pins them, e.g. Eq(s0, 8).
    """
    s0, s1 = sympy.Symbol("s0", integer=True), sympy.Symbol("s1", integer=True)
    bad: list[str] = []
    for g in env.guards:
        if g.kind in ("static", "layout", "bound"):
            continue
        for values in ({"s0": 3, "s1": 5}, {"s0": 7, "s1": 2}, {"s0": 16, "s1": 31}):
            subs = {sym: values[sym.name] for sym in g.expr.free_symbols if sym.name in values}
            if not bool(g.expr.subs(subs)):
                bad.append(g.text)
                break
    return bad


def test_pad_does_not_specialize(env: ShapeEnv, sym_mode: FakeTensorMode) -> None:
    # The TOOLING.md trap: without the Python dispatcher F.pad guards Eq(s0, 8).
    x = sym_mode.from_tensor(torch.randn(8, 6), source="x")
    assert env.guards == []  # converting records no guard (its guards come from input_guards())
    with sym_mode:
        y = F.pad(x, (1, 2, 3, 4))
    assert str(y.shape) == "torch.Size([s0 + 7, s1 + 3])"
    assert env.guards == []
    assert _specializations(env) == []


def test_model_ops_stay_symbolic(env: ShapeEnv, sym_mode: FakeTensorMode) -> None:
    # The feature dim must equal the layer's width, so it is made static.
    dims = [DimDynamic.DYNAMIC, DimDynamic.DYNAMIC, DimDynamic.STATIC]
    x = sym_mode.from_tensor(torch.randn(4, 6, 32), source="x", dynamic_dims=dims)
    with sym_mode:
        layer = torch.nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)
        y = layer(x)
        z = y.reshape(-1, 32).view(x.shape[0], -1)
        w = torch.cat([z, z], 1)[:, 1:]
    assert str(y.shape) == "torch.Size([s0, s1, 32])"
    assert str(w.shape[0]) == "s0" and isinstance(w.shape[1], torch.SymInt)
    assert w.shape[1].node.hint == 64 * 6 - 1
    assert _specializations(env) == []


def test_strides_and_offsets_are_symbolic(sym_mode: FakeTensorMode) -> None:
    x = sym_mode.from_tensor(torch.randn(5, 7), source="x")
    with sym_mode:
        v = x.t()[1:]
    assert [str(s) for s in v.shape] == ["s1 - 1", "s0"]
    assert [str(s) for s in v.stride()] == ["1", "s1"]
    assert v.storage_offset() == 1


def test_symbolic_results_match_eager_with_hints(sym_mode: FakeTensorMode) -> None:
    real = torch.randn(3, 5, 7)
    fake = sym_mode.from_tensor(real, source="x")

    def fn(t: torch.Tensor) -> torch.Tensor:
        return F.interpolate(t, scale_factor=2.0).flatten(1).softmax(-1)

    out = fn(real)
    with sym_mode:
        fake_out = fn(fake)
    hinted = tuple(int(s.node.hint) if isinstance(s, torch.SymInt) else s for s in fake_out.shape)
    assert hinted == tuple(out.shape)


def test_cpu_scalar_tensors_broadcast_in_prims(sym_mode: FakeTensorMode) -> None:
    # torch's prims check "0-dim CPU tensor" by device: they must see cpu, not meta.
    x = sym_mode.from_tensor(torch.randn(5), source="x")
    y = sym_mode.from_tensor(torch.tensor(2.0), source="y")
    with sym_mode:
        z = x * y + y
    assert str(z.shape) == "torch.Size([s0])"


def test_metadata_queries_as_ops(sym_mode: FakeTensorMode) -> None:
    x = sym_mode.from_tensor(torch.randn(5, 3), source="x")
    aten = torch.ops.aten
    assert str(aten.sym_size.int(x, 1)) == "s1"
    assert [str(s) for s in aten.sym_stride.default(x)] == ["s1", "1"]
    assert aten.sym_storage_offset.default(x) == 0
    assert str(aten.sym_numel.default(x)) == "s0*s1"


def test_resizing_symbolic_sizes_to_plain_ones_says_what_torch_refuses_and_what_works() -> None:
    from torch._subclasses.fake_tensor import FakeTensorMode as TorchFakeTensorMode
    from torch.fx.experimental.symbolic_shapes import ShapeEnv as TorchShapeEnv

    from torchshade.fake import FakeTensorError

    torch_mode = TorchFakeTensorMode(shape_env=TorchShapeEnv())
    theirs = torch_mode.from_tensor(torch.empty(4, 6))
    with torch_mode, pytest.raises(RuntimeError, match="tried to directly modify sizes for customized tensor"):
        theirs.clone().resize_(8, 6)  # torch itself cannot
    mode = FakeTensorMode(shape_env=ShapeEnv())
    x = mode.from_tensor(torch.empty(4, 6))
    with mode:
        with pytest.raises(FakeTensorError) as caught:
            x.clone().resize_(8, 6)
        with pytest.raises(FakeTensorError, match=r"the plain sizes \(3, 5, 2\) .*\(torch\.empty\(3, 5, 2\)\)\.$"):
            x.clone().resize_(3, 5, 2)  # the suggestion names the sizes asked for
        y = x.clone().resize_(x.shape[0] * 2, 6)  # sizes made from symbolic ones: as torch
    assert str(caught.value) == (
        "aten.resize_.default: cannot resize f32[s0, s1] on cpu (symbolic sizes) to the plain sizes (8, 6) "
        "in place: torch keeps a symbolic tensor's sizes symbolic and refuses plain ints over them (its own "
        "fake tensors raise 'tried to directly modify sizes for customized tensor'). Resize to sizes computed "
        "from symbolic ones (t.resize_(t.shape[0] * 2, 6)), or make a new tensor of the plain sizes "
        "(torch.empty(8, 6))."
    )
    assert str(tuple(y.shape)) == "(2*s0, 6)"
