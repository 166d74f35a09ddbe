"""Shared fixtures for torchshade.shapes tests."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

# Every hypothesis test here: no deadline (a shared machine's speed must never
# fail a test), no example database, and hypothesis's own files (its cache of
# constants) in the temporary folder: tests write nothing into the checkout.
settings.register_profile("torchshade", deadline=None, database=None)
settings.load_profile("torchshade")
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "torchshade-hypothesis")

from torchshade.shapes import ShapeEnv


@pytest.fixture
def env() -> ShapeEnv:
    """A ShapeEnv whose symbols are all distinct (duck_shape=False): the tests
    that use it name one symbol per input, whatever their example values."""
    return ShapeEnv(duck_shape=False)


@pytest.fixture
def xy(env: ShapeEnv) -> tuple[torch.SymInt, torch.SymInt]:
    """The sizes (s0, s1) of an input ``x`` of example shape 4x3."""
    sizes, _, _ = env.create_symbolic_sizes_strides_storage_offset(torch.empty(4, 3), "x")
    s0, s1 = sizes
    assert isinstance(s0, torch.SymInt) and isinstance(s1, torch.SymInt)
    return s0, s1
