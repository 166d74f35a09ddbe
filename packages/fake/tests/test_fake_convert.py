"""mode.from_tensor: memoized, weak, metadata- and aliasing-preserving."""

from __future__ import annotations

import gc
import warnings
import weakref

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode as TorchFakeTensorMode

from torchshade.fake import FakeModeMismatchError, FakeTensor, FakeTensorMode


def _row(t: torch.Tensor) -> tuple[object, ...]:
    return (
        tuple(t.shape), t.stride(), t.storage_offset(), t.dtype, str(t.device),
        t.requires_grad, t.is_leaf, isinstance(t, torch.nn.Parameter), t._is_view(),
    )


def test_metadata_is_kept_like_torch(mode: FakeTensorMode) -> None:
    base = torch.randn(4, 6, requires_grad=True)
    reals = [
        base,
        base[1:, ::2],
        (base * 2),
        torch.randn(3, 4).t(),
        torch.nn.Parameter(torch.randn(2, 2)),
        torch.empty(2, 3, dtype=torch.float16).as_strided((2, 2), (1, 2), 1),
        torch.arange(6),
    ]
    theirs = TorchFakeTensorMode()
    for real in reals:
        fake = mode.from_tensor(real)
        assert isinstance(fake, FakeTensor) and fake.fake_mode is mode
        assert _row(fake) == _row(real)
        with warnings.catch_warnings():  # torch's converter reads .grad of non-leaves
            warnings.simplefilter("ignore")
            their_fake = theirs.from_tensor(real)
        assert _row(fake) == _row(their_fake)


def test_memoized(mode: FakeTensorMode) -> None:
    x = torch.randn(3)
    assert mode.from_tensor(x) is mode.from_tensor(x)
    assert mode.from_tensor(mode.from_tensor(x)) is mode.from_tensor(x)


def test_real_tensors_are_held_weakly(mode: FakeTensorMode) -> None:
    x = torch.randn(1000)
    ref = weakref.ref(x)
    fake = mode.from_tensor(x)
    del x
    gc.collect()
    assert ref() is None
    assert fake.shape == (1000,)
    assert len(mode.converter) == 0


def test_views_share_one_fake_storage(mode: FakeTensorMode) -> None:
    x = torch.randn(4, 4)
    v = x[1:]
    fx, fv = mode.from_tensor(x), mode.from_tensor(v)
    assert fv._base is fx
    assert fv.untyped_storage()._cdata == fx.untyped_storage()._cdata
    # A view converted first still finds its base afterwards.
    y = torch.randn(5)
    fw = mode.from_tensor(y[2:])
    assert fw._base is mode.from_tensor(y)
    # Non-view aliases (same storage, no _base) share storage too.
    z = torch.randn(3)
    alias = z.detach()
    assert mode.from_tensor(alias).untyped_storage()._cdata == mode.from_tensor(z).untyped_storage()._cdata


def test_in_place_on_view_is_visible_through_base_metadata(mode: FakeTensorMode) -> None:
    x = torch.randn(4, 4)
    fx, fv = mode.from_tensor(x), mode.from_tensor(x[1:])
    assert fv._version == fx._version == x._version == 0
    with mode:
        fv.mul_(2)
        fx.unsqueeze_(0)
    v = x[1:]
    v.mul_(2)
    x.unsqueeze_(0)
    assert fx.shape == x.shape == (1, 4, 4)
    assert (fv._version, fx._version) == (v._version, x._version) == (2, 2)


def test_fakes_with_symbols_of_another_env_are_refused(sym_mode: FakeTensorMode) -> None:
    from torchshade.shapes import ShapeEnv

    other = FakeTensorMode(shape_env=ShapeEnv())
    y = other.from_tensor(torch.randn(2, 3))
    with pytest.raises(FakeModeMismatchError, match=r"belongs to FakeTensorMode#\d+.*Give both modes one ShapeEnv"):
        sym_mode.from_tensor(y)


def test_symbolic_sizes_from_the_env(sym_mode: FakeTensorMode) -> None:
    fake = sym_mode.from_tensor(torch.randn(3, 4), source="x")
    assert all(isinstance(s, torch.SymInt) for s in fake.shape)
    assert str(fake.shape) == "torch.Size([s0, s1])"
    static = sym_mode.from_tensor(torch.randn(3, 4), static_shapes=True)
    assert static.shape == (3, 4) and all(type(s) is int for s in static.shape)


def test_dynamic_dims_policy_is_passed_through(sym_mode: FakeTensorMode) -> None:
    from torchshade.shapes import DimDynamic

    fake = sym_mode.from_tensor(
        torch.randn(3, 4), source="y", dynamic_dims=[DimDynamic.STATIC, DimDynamic.DYNAMIC]
    )
    assert type(fake.shape[0]) is int and fake.shape[0] == 3
    assert isinstance(fake.shape[1], torch.SymInt)


@pytest.mark.parametrize("layout", ["coo", "csr"])
def test_sparse_tensors_convert_and_run(mode: FakeTensorMode, layout: str) -> None:
    dense = torch.randn(4, 5)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta")
        real = dense.to_sparse() if layout == "coo" else dense.to_sparse_csr()
    fake = mode.from_tensor(real)
    assert (fake.layout, fake.shape, fake.device) == (real.layout, real.shape, real.device)
    with mode:
        out = fake @ torch.empty(5, 3)
    assert isinstance(out, FakeTensor) and out.shape == (4, 3)
