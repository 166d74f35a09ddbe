"""Kernels registered after an op's first call are used; cache_clear is per mode."""

from __future__ import annotations

import pytest
import torch
from torch._decomp import decomposition_table

from torchshade.fake import FakeTensorMode, MissingFakeImplError

aten = torch.ops.aten


calls: list[object] = []


def _transposed_full_like(self: torch.Tensor, fill_value: object, **kwargs: object) -> torch.Tensor:
    """A decomposition for full_like with a tell-tale layout: column-major strides."""
    calls.append(self.shape)
    return self.new_empty((self.shape[1], self.shape[0])).t()


def test_a_decomposition_registered_after_the_first_call_is_used(sym_mode: FakeTensorMode) -> None:
    op = aten.full_like.default
    x = sym_mode.from_tensor(torch.randn(4, 3), source="x")
    with sym_mode:
        before = op(x, 2.0)
    assert before.stride() == x.stride()  # the C++ meta kernel: x's layout
    decomposition_table[op] = _transposed_full_like
    calls.clear()
    try:
        with sym_mode:
            after = op(x, 2.0)  # the same call: a hit unless the registration is seen
        ran = len(calls)
        expected = _transposed_full_like(torch.empty(4, 3, device="meta"), 2.0)  # on torch's meta
    finally:
        del decomposition_table[op]
    assert ran == 1
    assert [int(s) for s in after.stride()] == list(expected.stride()) == [1, 4]
    with sym_mode:
        again = op(x, 2.0)  # unregistered: the meta kernel's answer again
    assert [int(s) for s in again.stride()] == [3, 1]


def test_a_meta_kernel_registered_after_the_first_call_is_used() -> None:
    op = aten.geqrf.default
    mode = FakeTensorMode(allow_fallback_kernels=False)
    x = mode.from_tensor(torch.randn(4, 3))
    with pytest.raises(MissingFakeImplError, match="geqrf"), mode:
        op(x)

    def geqrf_meta(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m, n = a.shape
        return a.new_empty((n, m)).t(), a.new_empty(min(m, n))

    lib = torch.library.Library("aten", "IMPL")
    try:
        lib.impl("geqrf", geqrf_meta, "Meta")
        with mode:
            q, tau = op(x)
            q2, _ = op(x)  # a hit now
        meta_q, meta_tau = op(torch.empty(4, 3, device="meta"))  # torch's own dispatch: the oracle
    finally:
        lib._destroy()
    assert (q.shape, q.stride(), tau.shape) == (meta_q.shape, meta_q.stride(), meta_tau.shape)
    assert q2.stride() == meta_q.stride()
    with pytest.raises(MissingFakeImplError, match="geqrf"), mode:
        op(x)  # deregistered: no stale entry answers


def _warm_up() -> None:
    """torch registers some kernels lazily on first use; each moves the registration stamp."""
    warm = FakeTensorMode()
    with warm:
        warm.from_tensor(torch.randn(5, 7)).sin()


def test_cache_clear_on_one_mode_leaves_the_others_alone() -> None:
    _warm_up()
    first, second = FakeTensorMode(), FakeTensorMode()  # both on the process-wide table
    with first:
        first.from_tensor(torch.randn(5, 7)).sin()
    size = second.cache_info().size
    assert size >= 1
    first.cache_clear()
    assert first.cache_info() == (0, 0, 0, 0)
    assert second.cache_info().size == size
    with second:
        second.from_tensor(torch.randn(5, 7)).sin()
    assert second.cache_info().hits >= 1 and second.cache_info().misses == 0


def test_cache_clear_of_a_symbolic_mode_leaves_another_symbolic_mode_alone(
    sym_mode: FakeTensorMode,
) -> None:
    other = FakeTensorMode(shape_env=sym_mode.shape_env)
    for m in (sym_mode, other):
        with m:
            m.from_tensor(torch.randn(5, 7), source=f"x{id(m)}").sin()
    size = other.cache_info().size
    sym_mode.cache_clear()
    assert sym_mode.cache_info().size == 0 and other.cache_info().size == size > 0
