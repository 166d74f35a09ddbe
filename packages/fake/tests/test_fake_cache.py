"""The dispatch cache: hits on repeated layers, fresh and correctly aliased outputs."""

from __future__ import annotations

import torch
from torchshade.shapes import ShapeEnv

from torchshade.fake import FakeTensor, FakeTensorMode


def _layer_stack(mode: FakeTensorMode, layers: int) -> torch.Tensor:
    with mode:
        model = torch.nn.Sequential(
            *[torch.nn.TransformerEncoderLayer(64, 4, 128, batch_first=True) for _ in range(layers)]
        )
        out = model(torch.empty(2, 10, 64))
    assert isinstance(out, torch.Tensor)
    return out


def test_repeated_transformer_layers_hit_the_cache(mode: FakeTensorMode) -> None:
    _layer_stack(mode, 4)
    info = mode.cache_info()
    assert info.hits > info.misses > 0
    assert info.size == info.misses - 0 or info.size <= info.misses


def test_hits_give_fresh_tensors_with_the_same_metadata(mode: FakeTensorMode) -> None:
    x = mode.from_tensor(torch.randn(3, 4))
    with mode:
        a = x.exp()
        b = x.exp()
    assert mode.cache_info().hits == 1
    assert a is not b and a.untyped_storage()._cdata != b.untyped_storage()._cdata
    assert (a.shape, a.stride(), a.dtype) == (b.shape, b.stride(), b.dtype)
    assert isinstance(b, FakeTensor) and b.fake_mode is mode


def test_hits_for_views_alias_their_input(mode: FakeTensorMode) -> None:
    x = mode.from_tensor(torch.randn(4, 6))
    y = mode.from_tensor(torch.randn(4, 6))
    with mode:
        vx = x[1:, 2:]
        vy = y[1:, 2:]
    assert mode.cache_info().hits >= 1
    assert vy._base is y and vy.untyped_storage()._cdata == y.untyped_storage()._cdata
    assert (vy.shape, vy.stride(), vy.storage_offset()) == (vx.shape, vx.stride(), vx.storage_offset())


def test_hits_for_in_place_ops_return_the_input(mode: FakeTensorMode) -> None:
    x, y = mode.from_tensor(torch.randn(3)), mode.from_tensor(torch.randn(3))
    with mode:
        assert x.add_(1) is x
        assert y.add_(1) is y
    assert mode.cache_info().hits == 1
    assert y._version == 1


def test_keys_distinguish_ints_floats_and_bools(mode: FakeTensorMode) -> None:
    x = mode.from_tensor(torch.arange(3))
    with mode:
        a = x + 1
        b = x + 1.0
        c = x + True
    assert (a.dtype, b.dtype, c.dtype) == (torch.int64, torch.float32, torch.int64)


def test_data_dependent_and_mutating_metadata_ops_are_not_cached(sym_mode: FakeTensorMode) -> None:
    x = sym_mode.from_tensor(torch.randn(4), static_shapes=True)
    with sym_mode:
        a, b = x.nonzero(), x.nonzero()  # memoized per tensor, never cached
        x.unsqueeze_(0)
        x.squeeze_(0)
    aten = torch.ops.aten
    cached_ops = {key[0] for key in sym_mode.cache.entries}  # type: ignore[index]  # keys are tuples
    never = {aten.nonzero.default, aten.unsqueeze_.default, aten.squeeze_.dim}
    assert not cached_ops & {id(op) for op in never}
    assert id(aten.new_empty.default) in cached_ops  # used inside the nonzero handler
    assert sym_mode.cache_info().bypasses >= 2  # the two in-place view ops
    assert str(a.shape[0]) == str(b.shape[0])
    assert x.shape == (4,)


def test_symbolic_views_hit_with_exact_aliasing(sym_mode: FakeTensorMode) -> None:
    x = sym_mode.from_tensor(torch.randn(4, 6), source="x")
    with sym_mode:
        a = x[1:]
        b = x[1:]
    assert sym_mode.cache_info().hits >= 1
    assert b._base is x and b.untyped_storage()._cdata == x.untyped_storage()._cdata
    assert (str(b.shape), str(b.stride()), str(b.storage_offset())) == (
        str(a.shape), str(a.stride()), str(a.storage_offset())
    )


def test_symbolic_keys_hash_structurally(sym_mode: FakeTensorMode) -> None:
    x = sym_mode.from_tensor(torch.randn(3, 4), source="x")
    y = sym_mode.from_tensor(torch.randn(5, 4), source="y")
    with sym_mode:
        x.relu()
        first = sym_mode.cache_info()
        x.relu()  # same expressions (s0, s1): one hit at the top, nothing else runs
        second = sym_mode.cache_info()
        y.relu()  # new symbols: misses again
        third = sym_mode.cache_info()
    assert (second.hits - first.hits, second.misses - first.misses) == (1, 0)
    assert third.hits == second.hits and third.misses > second.misses


def test_static_entries_are_shared_between_modes() -> None:
    first, other = FakeTensorMode(), FakeTensorMode()  # both on the process-wide table
    with first:
        first.from_tensor(torch.randn(7, 3)).cos()
    with other:
        out = other.from_tensor(torch.randn(7, 3)).cos()
    assert other.cache_info().hits >= 1 and other.cache_info().misses == 0
    assert isinstance(out, FakeTensor) and out.fake_mode is other
    symbolic = FakeTensorMode(shape_env=ShapeEnv())
    assert symbolic.cache_info().size == 0  # symbolic entries stay with their env


def test_cache_can_be_disabled_and_cleared() -> None:
    off = FakeTensorMode(cache=False)
    x = off.from_tensor(torch.randn(3))
    with off:
        x.exp()
        x.exp()
    assert off.cache_info().hits == 0 and off.cache_info().size == 0
    on = FakeTensorMode()
    with on:
        on.from_tensor(torch.randn(3)).exp()
    on.cache_clear()
    assert on.cache_info() == (0, 0, 0, 0)
