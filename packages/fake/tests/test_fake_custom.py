"""Custom ops: register_fake impls run; ops without one get a paste-able fix."""

from __future__ import annotations

import pytest
import torch
from torchshade.shapes import free_unbacked_symbols

from torchshade.fake import DynamicOutputShapeException, FakeTensorMode, MissingFakeImplError


@torch.library.custom_op("torchshade_test::scale", mutates_args=())
def scale(x: torch.Tensor, k: float) -> torch.Tensor:
    return x * k


@scale.register_fake
def _(x: torch.Tensor, k: float) -> torch.Tensor:
    return torch.empty_like(x)


@torch.library.custom_op("torchshade_test::positives", mutates_args=())
def positives(x: torch.Tensor) -> torch.Tensor:
    return x[x > 0]


@positives.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    n = torch.library.get_ctx().new_dynamic_size()
    return x.new_empty(n)


_LIB = torch.library.Library("torchshade_test", "FRAGMENT")
_LIB.define("no_fake(Tensor x, int n) -> Tensor")
_LIB.impl("no_fake", lambda x, n: x.clone(), "CPU")


def test_register_fake_impl_runs(mode: FakeTensorMode) -> None:
    x = mode.from_tensor(torch.randn(2, 3, dtype=torch.float64))
    with mode:
        y = scale(x, 2.0)
    assert (y.shape, y.dtype, y.fake_mode) == ((2, 3), torch.float64, mode)
    assert mode.cache_info().hits == 0  # custom ops are never cached


def test_new_dynamic_size_gives_an_unbacked_symbol(sym_mode: FakeTensorMode) -> None:
    x = sym_mode.from_tensor(torch.randn(5), static_shapes=True)
    with sym_mode:
        a, b = positives(x), positives(x)
    assert free_unbacked_symbols(a.shape) and str(a.shape[0]) != str(b.shape[0])


def test_new_dynamic_size_without_env(mode: FakeTensorMode) -> None:
    x = mode.from_tensor(torch.randn(5))
    with mode, pytest.raises(DynamicOutputShapeException, match="torchshade_test.positives.*ShapeEnv"):
        positives(x)


def test_missing_impl_names_the_op_and_shows_code(mode: FakeTensorMode) -> None:
    x = mode.from_tensor(torch.randn(2))
    with mode, pytest.raises(MissingFakeImplError) as info:
        torch.ops.torchshade_test.no_fake(x, 3)
    message = str(info.value)
    assert "torchshade_test.no_fake.default has no meta kernel and no fake implementation" in message
    assert '@torch.library.register_fake("torchshade_test::no_fake")' in message
    assert "def _(x, n):" in message and "return torch.empty_like(x)" in message


def test_aten_op_without_meta_falls_back_to_cpu_kernel(mode: FakeTensorMode) -> None:
    x = mode.from_tensor(torch.randn(5, 3))
    with mode:
        a, tau = torch.geqrf(x)
    real_a, real_tau = torch.geqrf(torch.randn(5, 3))
    assert (a.shape, a.stride(), tau.shape) == (real_a.shape, real_a.stride(), real_tau.shape)
    strict = FakeTensorMode(allow_fallback_kernels=False)
    y = strict.from_tensor(torch.randn(5, 3))
    with strict, pytest.raises(MissingFakeImplError, match='register_fake\\("aten::geqrf"\\)'):
        torch.geqrf(y)


@torch.library.custom_op("torchshade_test::bad_bounds", mutates_args=())
def bad_bounds(x: torch.Tensor) -> torch.Tensor:
    return x.clone()


@bad_bounds.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    n = torch.library.get_ctx().new_dynamic_size(min=-1)
    return x.new_empty(n)


def test_new_dynamic_size_checks_its_bounds(sym_mode: FakeTensorMode) -> None:
    x = sym_mode.from_tensor(torch.randn(5), static_shapes=True)
    with sym_mode, pytest.raises(ValueError, match="min must be >= 0"):
        bad_bounds(x)
