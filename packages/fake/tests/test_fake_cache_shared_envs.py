"""Symbolic cache entries shared between ShapeEnvs give what running the kernels gives.

A program traced twice in one process, each time with a new ShapeEnv, runs
its kernels once: the second env hits entries the first one's misses made,
keyed on the knowledge's state. Each test compares the sharing run with a
run of the same program without the cache (every kernel runs): the same
outputs, the same guards at the same user lines, the same knowledge.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torchshade.shapes import ShapeEnv

from torchshade.fake import FakeTensorMode

Program = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def attention_like(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    h = x @ w
    if h.shape[1] > 4:  # a decision on a symbol: one guard
        h = h[:, :4]
    scores = h @ h.transpose(1, 2) / 4.0
    return torch.softmax(scores, dim=-1).reshape(h.shape[0], -1)


def attention_like_elsewhere(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    h = x @ w
    if h.shape[1] > 4:  # the same program on other lines of this file
        h = h[:, :4]
    scores = h @ h.transpose(1, 2) / 4.0
    return torch.softmax(scores, dim=-1).reshape(h.shape[0], -1)


def run(program: Program, shape: tuple[int, ...], *, cache: bool = True,
        table: dict[Any, Any] | None = None, crosscheck: bool = False,
        reuse_answers: bool = True) -> tuple[FakeTensorMode, Any]:  # fmt: skip
    env = ShapeEnv(reuse_answers=reuse_answers)
    mode = FakeTensorMode(shape_env=env, cache=cache, cache_crosscheck=crosscheck)
    if table is not None:
        mode.cache.shared_symbolic = table
    x = mode.from_tensor(torch.randn(*shape))
    w = mode.from_tensor(torch.randn(shape[-1], 8), static_shapes=True)
    with mode:
        out = program(x, w)
    return mode, out


def shared_table(program: Program, shape: tuple[int, ...]) -> dict[Any, Any]:
    """A table of shared entries holding one run of ``program``, after a run that makes
    torch register what it registers lazily (which changes every key: see _cache.py)."""
    run(program, shape, table={})
    table: dict[Any, Any] = {}
    first, _ = run(program, shape, table=table)
    assert first.cache.shared_hits == 0
    return table


def described(mode: FakeTensorMode, out: torch.Tensor) -> dict[str, object]:
    env = mode.shape_env
    return {
        "shape": [str(s) for s in out.shape],
        "stride": [str(s) for s in out.stride()],
        "guards": [str(g) for g in env.guards],
        "input_guards": [str(g) for g in env.input_guards()],
        "replacements": env.replacements,
        "ranges": env.var_to_range,
    }


def test_a_second_env_hits_the_first_ones_entries_and_ends_where_a_full_run_ends() -> None:
    table: dict[Any, Any] = {}
    run(attention_like, (2, 8, 16), table={})
    first, first_out = run(attention_like, (2, 8, 16), table=table)
    second, second_out = run(attention_like, (2, 8, 16), table=table)
    uncached, uncached_out = run(attention_like, (2, 8, 16), cache=False)
    assert first.cache.shared_hits == 0
    assert second.cache.shared_hits > 0 and second.cache.info().misses == 0
    assert described(second, second_out) == described(uncached, uncached_out) == described(first, first_out)
    assert second.shape_env.knowledge.state == first.shape_env.knowledge.state


def test_guards_of_a_shared_hit_name_the_second_programs_own_lines() -> None:
    table = shared_table(attention_like, (2, 8, 16))
    second, second_out = run(attention_like_elsewhere, (2, 8, 16), table=table)
    uncached, uncached_out = run(attention_like_elsewhere, (2, 8, 16), cache=False)
    assert second.cache.shared_hits > 0
    guards = [str(g) for g in second.shape_env.guards]
    assert guards == [str(g) for g in uncached.shape_env.guards]
    assert any("in attention_like_elsewhere" in g for g in guards)


def test_other_hints_share_nothing() -> None:
    table = shared_table(attention_like, (2, 8, 16))
    other, other_out = run(attention_like, (3, 8, 16), table=table)
    uncached, uncached_out = run(attention_like, (3, 8, 16), cache=False)
    assert other.cache.shared_hits == 0
    assert described(other, other_out) == described(uncached, uncached_out)


def test_another_history_shares_nothing() -> None:
    """Same sizes, but the second env learned a fact first: its state differs."""
    table = shared_table(attention_like, (2, 8, 16))
    mode = FakeTensorMode(shape_env=ShapeEnv())
    mode.cache.shared_symbolic = table
    x = mode.from_tensor(torch.randn(2, 8, 16))
    w = mode.from_tensor(torch.randn(16, 8), static_shapes=True)
    assert x.shape[0] < 100  # learns s0 <= 99 before the program runs
    with mode:
        attention_like(x, w)
    assert mode.cache.shared_hits == 0


def test_crosscheck_reruns_shared_hits_and_agrees() -> None:
    table = shared_table(attention_like, (2, 8, 16))
    second, _ = run(attention_like, (2, 8, 16), table=table, crosscheck=True)
    assert second.cache.shared_hits > 0


def test_a_replay_that_misses_a_change_is_refused() -> None:
    table = shared_table(attention_like, (2, 8, 16))
    key, entry = next((k, e) for k, e in table.items() if e.decisions.shared.events)
    changes = entry.decisions.shared
    broken = type(changes)(changes.before, changes.events[:-1], changes.log, changes.after)
    table[key] = type(entry)(entry.outputs, type(entry.decisions)(entry.decisions.guards, entry.decisions.asserts,
                                                                  broken))  # fmt: skip
    with pytest.raises(AssertionError, match="replaying a shared entry's changes did not reach the state"):
        run(attention_like, (2, 8, 16), table=table)


def test_envs_with_size_like_unbacked_symbols_do_not_share() -> None:
    hits_before_nonzero: list[int] = []

    def program(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        mask = x[:, 0] > 0
        hits_before_nonzero.append(x.fake_mode.cache.shared_hits)  # type: ignore[attr-defined]  # x is a FakeTensor
        picked = x[mask]  # nonzero: a size-like unbacked symbol
        return (picked @ w).relu().sum(0)

    table = shared_table(program, (6, 16))
    second, _ = run(program, (6, 16), table=table)
    assert second.shape_env.size_like
    assert second.cache.shared_hits == hits_before_nonzero[-1] > 0  # none after nonzero


def test_cache_clear_stops_reading_shared_entries() -> None:
    table = shared_table(attention_like, (2, 8, 16))
    mode = FakeTensorMode(shape_env=ShapeEnv())
    mode.cache.shared_symbolic = table
    mode.cache_clear()
    x = mode.from_tensor(torch.randn(2, 8, 16))
    w = mode.from_tensor(torch.randn(16, 8), static_shapes=True)
    with mode:
        attention_like(x, w)
    assert mode.cache.shared_hits == 0 and len(table) > 0


def test_an_env_that_reuses_no_answers_neither_reads_nor_adds_shared_entries() -> None:
    table = shared_table(attention_like, (2, 8, 16))
    size = len(table)
    alone, alone_out = run(attention_like, (2, 8, 16), table=table, reuse_answers=False)
    uncached, uncached_out = run(attention_like, (2, 8, 16), cache=False)
    assert alone.cache.shared_hits == 0 and alone.cache.info().misses > 0
    assert len(table) == size  # its misses were kept in its own table only
    assert described(alone, alone_out) == described(uncached, uncached_out)
