"""Fixtures shared by torchshade.fake's tests."""

from __future__ import annotations

import pytest
from torchshade.shapes import ShapeEnv

from torchshade.fake import FakeTensorMode


@pytest.fixture
def mode() -> FakeTensorMode:
    """A static fake mode with an empty dispatch cache of its own."""
    static = FakeTensorMode()
    static.cache_clear()
    return static


@pytest.fixture
def env() -> ShapeEnv:
    """A fresh ShapeEnv of torchshade.shapes."""
    return ShapeEnv()


@pytest.fixture
def sym_mode(env: ShapeEnv) -> FakeTensorMode:
    """A fake mode with a ShapeEnv: converted tensors get symbolic sizes."""
    return FakeTensorMode(shape_env=env)
