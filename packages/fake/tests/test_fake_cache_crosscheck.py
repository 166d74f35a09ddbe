"""Crosscheck mode: every cache hit is recomputed, and a wrong entry is caught."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode as TorchFakeTensorMode

import torchshade.fake._mode as mode_module
from torchshade.fake import DispatchCacheMismatchError, FakeTensorMode
from torchshade.fake._cache import Entry, OutputSpec
from torchshade.fake._crosscheck import check_hit
from torchshade.shapes import ShapeEnv


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("0", False), ("", False)])
def test_the_environment_variable_turns_it_on(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: bool
) -> None:
    monkeypatch.setenv("TORCHSHADE_FAKE_CROSSCHECK", value)
    assert FakeTensorMode().cache_crosscheck is expected
    assert FakeTensorMode(cache_crosscheck=not expected).cache_crosscheck is not expected


def test_unset_means_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TORCHSHADE_FAKE_CROSSCHECK", raising=False)
    assert FakeTensorMode().cache_crosscheck is False


def _count_kernel_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    runs: list[str] = []
    original = mode_module.FakeTensorMode._run_kernel

    def counting(self: FakeTensorMode, func: Any, *rest: Any) -> object:
        runs.append(str(func))
        return original(self, func, *rest)

    monkeypatch.setattr(mode_module.FakeTensorMode, "_run_kernel", counting)
    return runs


@pytest.mark.parametrize("symbolic", [False, True])
def test_every_hit_reruns_the_kernel_and_a_transformer_agrees(
    monkeypatch: pytest.MonkeyPatch, symbolic: bool
) -> None:
    runs = _count_kernel_runs(monkeypatch)
    mode = FakeTensorMode(shape_env=ShapeEnv() if symbolic else None, cache_crosscheck=True)
    mode.cache_clear()
    with mode:
        model = torch.nn.Sequential(
            *[torch.nn.TransformerEncoderLayer(32, 4, 64, batch_first=True) for _ in range(3)]
        )
    x = mode.from_tensor(torch.randn(2, 6, 32))
    runs.clear()
    before = mode.cache_info()
    with mode:
        out = model(x)
    info = mode.cache_info()
    hits, misses = info.hits - before.hits, info.misses - before.misses
    assert hits > misses > 0
    assert len(runs) >= hits + misses  # every hit ran the kernel too (plus bypasses)
    with TorchFakeTensorMode() as torch_mode:
        torch_model = torch.nn.Sequential(
            *[torch.nn.TransformerEncoderLayer(32, 4, 64, batch_first=True) for _ in range(3)]
        )
        expected = torch_model(torch_mode.from_tensor(torch.randn(2, 6, 32)))
    assert (tuple(out.shape), out.stride(), out.dtype) == (tuple(expected.shape), expected.stride(), expected.dtype)


def _corrupt(mode: FakeTensorMode, **changes: Any) -> None:
    """Change every tensor output of every entry of ``mode``'s (private) table."""
    for key, entry in mode.cache.entries.items():
        if isinstance(entry.outputs, OutputSpec):
            outputs = dataclasses.replace(entry.outputs, **changes)
            mode.cache.entries[key] = Entry(outputs, entry.decisions)


def _observed(t: torch.Tensor, field: str) -> object:
    if field == "device":
        return getattr(t, "fake_device", t.device)
    value = getattr(t, field)
    return tuple(value) if field == "shape" else value() if callable(value) else value


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"shape": (4, 3), "stride": (3, 1)}, "shape"),
        ({"neg": True}, "is_neg"),
        ({"dtype": torch.float64}, "dtype"),
        ({"device": torch.device("cuda", 0)}, "device"),
    ],
)
def test_a_corrupted_entry_is_caught_and_named(
    mode: FakeTensorMode, changes: dict[str, Any], field: str
) -> None:
    mode.cache_crosscheck = False  # also under TORCHSHADE_FAKE_CROSSCHECK=1
    real = torch.randn(3, 4)
    x = mode.from_tensor(real)
    with mode:
        x.exp()
        _corrupt(mode, **changes)
        served = x.exp()  # without crosscheck the bad entry is served
        mode.cache_crosscheck = True
        with pytest.raises(DispatchCacheMismatchError, match=rf"aten\.exp\.default: .*output 0: {field} is"):
            x.exp()
    assert _observed(served, field) != _observed(real.exp(), field)


def test_a_wrong_aliasing_pattern_is_caught(mode: FakeTensorMode) -> None:
    mode.cache_crosscheck = False  # also under TORCHSHADE_FAKE_CROSSCHECK=1
    real = torch.randn(4, 6)
    x = mode.from_tensor(real)
    with mode:
        x[:3]
        for key, entry in mode.cache.entries.items():
            if isinstance(entry.outputs, OutputSpec) and entry.outputs.view_of is not None:
                fresh = dataclasses.replace(entry.outputs, view_of=None)
                mode.cache.entries[key] = Entry(fresh, entry.decisions)
        served = x[:3]  # without crosscheck: a tensor of its own, where eager gives a view
        mode.cache_crosscheck = True
        with pytest.raises(
            DispatchCacheMismatchError,
            match=r"storage is fresh storage #0 from the cache but shares the storage of input 0",
        ):
            x[:3]
    assert real[:3].untyped_storage().data_ptr() == real.untyped_storage().data_ptr()
    assert served.untyped_storage()._cdata != x.untyped_storage()._cdata


def test_crosscheck_accepts_what_the_shape_env_proves_equal(sym_mode: FakeTensorMode) -> None:
    x = sym_mode.from_tensor(torch.randn(4, 3), source="x")
    y = sym_mode.from_tensor(torch.randn(5, 7), source="y")
    narrow, wide = x.shape[1], y.shape[1]  # two symbols, hints 3 and 7
    assert isinstance(narrow, torch.SymInt) and isinstance(wide, torch.SymInt)
    with pytest.raises(DispatchCacheMismatchError, match=r"op: .* value is \S+ from the cache but \S+ \+ 4 from"):
        check_hit("op", wide, narrow + 4, [x, y])  # not known to be equal: a real difference
    torch._check(wide == narrow + 4)
    check_hit("op", wide, narrow + 4, [x, y])  # now the ShapeEnv proves it, with no guard
