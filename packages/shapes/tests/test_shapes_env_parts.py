"""ShapeEnv is a facade over parts (symbol table, decider, guard log) that share one knowledge.

What callers see must not depend on the split: a SymNode's questions reach the
decider with no extra call, a deep copy is a whole new env, and a rollback
restores every part.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode as TorchFakeTensorMode
from torch._dynamo.source import LocalSource
from torch.fx.experimental import symbolic_shapes as torch_shapes

from torchshade.shapes import Dim, DimHintMismatchError, ShapeEnv

QUESTIONS = ("decide", "decide_size_oblivious", "expect_true", "evaluate_expr", "hint_of", "simplify",
             "bound_sympy", "_maybe_evaluate_static", "guarding_hint_or_throw", "optimization_hint")  # fmt: skip


def test_questions_are_the_deciders_methods_bound_once() -> None:
    env = ShapeEnv()
    for name in QUESTIONS:
        method = getattr(env, name)
        assert method.__self__ is env.decider and getattr(env, name) is method, name  # no wrapper per call
    assert env.hints is env.symbols.hints and env.infos is env.symbols.infos
    assert env.unbacked is env.symbols.unbacked and env.size_like is env.decider.size_like
    (s0, _), _, _ = env.create_symbolic_sizes_strides_storage_offset(torch.empty(4, 3), "x")
    assert isinstance(s0, torch.SymInt) and s0.node.shape_env is env  # torch's kernels read it
    assert bool(s0 > 3) and [str(g.expr) for g in env.guards] == ["s0 > 3"]


def test_a_deep_copy_is_a_whole_env_of_its_own_as_torchs() -> None:
    ours = ShapeEnv()
    (o0, _), _, _ = ours.create_symbolic_sizes_strides_storage_offset(torch.empty(4, 3), "x")
    theirs = torch_shapes.ShapeEnv()
    t0 = TorchFakeTensorMode(shape_env=theirs).from_tensor(torch.empty(4, 3), source=LocalSource("x")).shape[0]
    assert bool(o0 > 2) and bool(t0 > 2)
    for env, size in ((ours, o0), (theirs, t0)):
        clone = copy.deepcopy(env)
        assert isinstance(size, torch.SymInt)
        before = len(env.guards)
        assert clone.evaluate_expr(size.node.expr > 3)  # decided on the copy only
        assert len(clone.guards) == before + 1 and len(env.guards) == before
    clone = copy.deepcopy(ours)
    for name in QUESTIONS:
        assert getattr(clone, name).__self__ is clone.decider, name
    assert clone.decider.knowledge is clone.knowledge is clone.symbols.knowledge
    assert clone.decider.log is clone.log and clone.hints is clone.decider.hints is clone.symbols.hints
    u = clone.create_unbacked_symint()
    assert clone.unbacked.fresh_since(0) == [u.node.expr] and ours.unbacked.fresh_since(0) == []


def test_a_failed_conversion_restores_the_symbol_table_too() -> None:
    env = ShapeEnv()
    with pytest.raises(DimHintMismatchError, match=r"x.size\(\)\[1\] = 100 does not fit Dim\('seq'"):
        env.create_symbolic_sizes_strides_storage_offset(
            torch.empty(7, 100), "x", dims={1: Dim("seq", max=16)}
        )  # x's 7 became s0 (and a duck-shape entry) before the Dim rejected its 100
    (y0,), _, _ = env.create_symbolic_sizes_strides_storage_offset(torch.empty(7), "y")
    assert isinstance(y0, torch.SymInt)
    assert str(y0) == "s0" and env.var_to_sources == {y0.node.expr: ["y.size()[0]"]}  # nothing of x's is left
