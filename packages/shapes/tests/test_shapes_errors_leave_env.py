"""Every error leaves the ShapeEnv as it was: no fact learned without its guard."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from torchshade.shapes import (
    ConstraintViolationError,
    Dim,
    DimHintMismatchError,
    GuardOnDataDependentSymNode,
    GuardSourceError,
    ShapeEnv,
)


def _state(env: ShapeEnv) -> dict[str, object]:
    """Everything a user can see of the env: guards, input guards, what it learned."""
    return {
        "guards": [(str(g.expr), g.kind) for g in env.guards],
        "input_guards": [g.python for g in env.input_guards()],
        "replacements": env.replacements,
        "ranges": env.var_to_range,
        "divisible": env.divisible,
        "sources": env.var_to_sources,
        "hints": env.var_to_val,
        "asserts": [str(a.expr) for a in env.runtime_asserts],
    }


def _env_with_batch() -> tuple[ShapeEnv, Any, Any]:
    env = ShapeEnv()
    sizes, _, _ = env.create_symbolic_sizes_strides_storage_offset(
        torch.empty(4, 3), "x", dims={0: Dim("batch", max=64)}
    )
    s0, s1 = sizes
    assert bool(s1 > 2)  # an earlier guard that must survive
    return env, s0, s1


@pytest.mark.parametrize(
    ("decision", "words"),
    [
        (lambda s0, s1: bool(s0 == 4), r"needs batch == 4"),
        (lambda s0, s1: int(s0), r"needs batch == 4"),
        (lambda s0, s1: bool(s0 < 10), r"needs 2 <= batch <= 9"),
        (lambda s0, s1: bool(s0 % 2 == 0), r"needs batch % 2 == 0"),
        (lambda s0, s1: bool(s0 == 2 * s1 - 2), r"needs batch == 2 \* x.size\(\)\[1\] - 2"),
        (lambda s0, s1: torch._check(s0 < 10), r"needs 2 <= batch <= 9"),
    ],
)
def test_a_constraint_violation_learns_nothing(decision: Callable[[Any, Any], object], words: str) -> None:
    env, s0, s1 = _env_with_batch()
    before = _state(env)
    with pytest.raises(ConstraintViolationError, match=words):
        decision(s0, s1)
    assert _state(env) == before
    # Had ``s0 := 4`` (or a narrower range) stayed learned, the same question would now be
    # answered without a guard, and check_guards would accept a batch of 8 for a trace that needs 4.
    with pytest.raises(ConstraintViolationError, match=words):
        decision(s0, s1)
    assert _state(env) == before
    assert not env.check_guards({"x": torch.empty(8, 3)})


def test_a_dim_hint_mismatch_leaves_no_symbol_behind() -> None:
    env = ShapeEnv()
    env.create_symbolic_sizes_strides_storage_offset(torch.empty(5), "z")
    before = _state(env)
    batch, seq = Dim("batch", max=64), Dim("seq", max=16)
    with pytest.raises(DimHintMismatchError, match=r"x.size\(\)\[1\] = 100 does not fit Dim\('seq'"):
        env.create_symbolic_sizes_strides_storage_offset(torch.empty(4, 100), "x", dims={0: batch, 1: seq})
    assert _state(env) == before
    env.create_symbolic_sizes_strides_storage_offset(torch.empty(4, 8), "x", dims={0: batch, 1: seq})
    assert [str(s) for s in env.var_to_val] == ["s0", "s1", "s2"]  # numbering goes on from z's s0
    before = _state(env)
    with pytest.raises(DimHintMismatchError, match=r"batch is 4 \(from x.size\(\)\[0\]\)"):
        env.create_symbolic_sizes_strides_storage_offset(torch.empty(8, 10), "y", dims={0: seq, 1: 2 * batch})
    assert _state(env) == before


def test_a_data_dependent_error_learns_nothing(env: ShapeEnv, xy: tuple[torch.SymInt, torch.SymInt]) -> None:
    u = env.create_unbacked_symint()
    torch._check(u >= 2)
    before = _state(env)
    with pytest.raises(GuardOnDataDependentSymNode, match=r"u0 > 5"):
        bool(u > 5)
    assert _state(env) == before


def test_errors_of_checks_and_ranges_change_nothing(env: ShapeEnv, xy: tuple[torch.SymInt, torch.SymInt]) -> None:
    s0, s1 = xy
    assert bool(s0 > s1)
    before = _state(env)
    with pytest.raises(GuardSourceError, match=r"got names \['y'\]"):
        env.check_guards({"y": torch.empty(4, 3)})
    with pytest.raises(ValueError, match=r"max is below min"):
        env.constrain_range(s0, min=5, max=3)
    assert _state(env) == before


def test_a_snapshot_restores_in_place_and_moves_versions_forward() -> None:
    from torchshade.shapes._snapshot import rollback_on_error

    class Slotted:
        __slots__ = ("table", "version")

        def __init__(self) -> None:
            self.table: dict[int, set[int]] = {1: {2}}
            self.version = 3

    obj, env = Slotted(), ShapeEnv()
    held, start = obj.table, env.knowledge.version
    with pytest.raises(KeyError), rollback_on_error(obj, env.knowledge):
        obj.table[1].add(5)
        obj.table[7] = set()
        obj.version = 9
        env.knowledge.version += 4
        raise KeyError("the operation fails")
    assert obj.table == {1: {2}} and obj.table is held  # whoever held the dict sees the old contents
    assert obj.version == 10 and env.knowledge.version == start + 5  # past both: caches keyed on it are stale
