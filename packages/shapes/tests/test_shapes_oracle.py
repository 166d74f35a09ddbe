"""torch's own ShapeEnv as the oracle: same questions, same answers (and no more guards)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sympy
import torch
import torch._refs
from torch._dynamo.source import LocalSource
from torch.fx.experimental import symbolic_shapes as torch_shapes

from torchshade.shapes import GuardOnDataDependentSymNode, ShapeEnv

Pair = tuple[Any, Any]


def _torch_pair(shape: tuple[int, int]) -> tuple[torch_shapes.ShapeEnv, Pair]:
    env = torch_shapes.ShapeEnv(duck_shape=False)
    ctx: Any = torch_shapes.StatelessSymbolicContext(dynamic_sizes=[torch_shapes.DimDynamic.DYNAMIC] * 2)
    sizes, _, _ = env.create_symbolic_sizes_strides_storage_offset(
        torch.empty(*shape), LocalSource("x"), symbolic_context=ctx
    )
    return env, (sizes[0], sizes[1])


def _our_pair(shape: tuple[int, int]) -> tuple[ShapeEnv, Pair]:
    env = ShapeEnv()
    sizes, _, _ = env.create_symbolic_sizes_strides_storage_offset(torch.empty(*shape), "x")
    return env, (sizes[0], sizes[1])


QUESTIONS: list[Callable[[Any, Any], Any]] = [
    lambda a, b: a > b,
    lambda a, b: a * b >= 12,
    lambda a, b: a % 2 == 0,
    lambda a, b: a // b == 1,
    lambda a, b: (a + b) % 3 == 1,
    lambda a, b: torch.sym_max(a, b) == a,
    lambda a, b: a * a > 3 * b,
    lambda a, b: a - b != 1,
    lambda a, b: a == 1,
    lambda a, b: b >= 2,
]


@pytest.mark.parametrize("shape", [(4, 3), (6, 6), (2, 9), (7, 2)])
def test_decisions_match_torch(shape: tuple[int, int]) -> None:
    (t_env, (ta, tb)), (o_env, (oa, ob)) = _torch_pair(shape), _our_pair(shape)
    for i, q in enumerate(QUESTIONS):
        assert bool(q(oa, ob)) == bool(q(ta, tb)), i
    assert len(o_env.input_guards()) > 0


@pytest.mark.parametrize("shape", [(4, 3), (6, 6)])
def test_we_know_statically_what_torch_knows(shape: tuple[int, int]) -> None:
    (t_env, (ta, tb)), (o_env, (oa, ob)) = _torch_pair(shape), _our_pair(shape)
    for i, q in enumerate(QUESTIONS + [lambda a, b: a >= 0, lambda a, b: a * b != 1, lambda a, b: a + b > 3]):
        theirs = t_env._maybe_evaluate_static(q(ta, tb).node.expr)
        ours = o_env._maybe_evaluate_static(q(oa, ob).node.expr)
        if theirs is not None:
            assert ours == theirs, i


def _hint(value: Any) -> Any:
    return value.node.hint


def _torch_guard_holds(env: torch_shapes.ShapeEnv, values: dict[Any, int]) -> bool:
    return all(bool(g.expr.xreplace(values)) for g in env.guards)


@pytest.mark.parametrize("shape", [(4, 3), (6, 4), (8, 5)])
def test_reshape_guards_are_fewer_and_accept_at_least_torchs_inputs(shape: tuple[int, int]) -> None:
    (t_env, (ta, tb)), (o_env, (oa, ob)) = _torch_pair(shape), _our_pair(shape)
    t_out = torch._refs.reshape(torch.empty_strided((ta, tb), (tb, 1), device="meta"), (2, -1))
    o_out = torch._refs.reshape(torch.empty_strided((oa, ob), (ob, 1), device="meta"), (2, -1))
    assert [_hint(o) for o in o_out.shape[1:]] == [_hint(t) for t in t_out.shape[1:]]
    ours = [g for g in o_env.input_guards() if g.kind == "decision"]
    assert len(ours) < len(t_env.guards)
    syms = (ta.node.expr, tb.node.expr)
    for new in [(2, 6), (3, 4), (4, 4), (6, 2), (10, 3), (8, 8), (4, 3)]:
        if _torch_guard_holds(t_env, dict(zip(syms, new))):
            assert not o_env.check_guards({"x": torch.empty(*new)}), new


def test_data_dependent_errors_match_torch() -> None:
    t_env = torch_shapes.ShapeEnv()
    o_env = ShapeEnv()
    tu, ou = t_env.create_unbacked_symint(), o_env.create_unbacked_symint()
    unknown: list[Callable[[Any], Any]] = [lambda u: u > 2, lambda u: u == 0, lambda u: u % 2 == 0]
    for q in unknown:
        with pytest.raises(torch_shapes.GuardOnDataDependentSymNode):
            bool(q(tu))
        with pytest.raises(GuardOnDataDependentSymNode):
            bool(q(ou))
    torch._check(tu >= 3)
    torch._check(ou >= 3)
    known: list[Callable[[Any], Any]] = [lambda u: u > 2, lambda u: u == 0, lambda u: u != 1]
    for q in known:
        assert bool(q(tu)) == bool(q(ou))
    assert str(o_env.runtime_asserts[0].expr) == "u0 >= 3"


def test_size_like_unbacked_ranges_match_torch() -> None:
    t_env = torch_shapes.ShapeEnv()
    o_env = ShapeEnv()
    tu, ou = t_env.create_unbacked_symint(), o_env.create_unbacked_symint()
    torch_shapes._constrain_range_for_size(tu, min=0, max=100)
    torch_shapes._constrain_range_for_size(ou, min=0, max=100)
    t_range = t_env.var_to_range[tu.node.expr]
    o_range = o_env.var_to_range[ou.node.expr]
    assert (int(t_range.lower), int(t_range.upper)) == (o_range.lower, o_range.upper)
    assert torch_shapes.statically_known_true(ou <= 100) and torch_shapes.statically_known_true(tu <= 100)


def test_hints_match_torch() -> None:
    (t_env, (ta, tb)), (o_env, (oa, ob)) = _torch_pair((5, 3)), _our_pair((5, 3))
    exprs: list[Callable[[Any, Any], Any]] = [lambda a, b: a * b + 1, lambda a, b: a // b, lambda a, b: a % b, lambda a, b: -a - b * 7]
    for f in exprs:
        assert f(oa, ob).node.hint == t_env.guarding_hint_or_throw(f(ta, tb).node.expr)
    assert sympy.Integer(int(oa * ob)) == 15


def test_duck_shape_matches_torch() -> None:
    t_env = torch_shapes.ShapeEnv(duck_shape=True)
    ctx: Any = torch_shapes.StatelessSymbolicContext(dynamic_sizes=[torch_shapes.DimDynamic.DUCK] * 3)
    t_sizes, _, _ = t_env.create_symbolic_sizes_strides_storage_offset(
        torch.empty(4, 4, 3), LocalSource("x"), symbolic_context=ctx
    )
    o_env = ShapeEnv(duck_shape=True)
    o_sizes, _, _ = o_env.create_symbolic_sizes_strides_storage_offset(torch.empty(4, 4, 3), "x")
    same_t = [str(s) == str(t_sizes[0]) for s in t_sizes]
    same_o = [str(s) == str(o_sizes[0]) for s in o_sizes]
    assert same_o == same_t == [True, True, False]


OPS: list[Callable[[Any, Any], Any]] = [
    lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b, lambda a, b: a // b,
    lambda a, b: a % b, lambda a, b: torch.sym_max(a, b), lambda a, b: torch.sym_min(a, b),
]  # fmt: skip
CMPS: list[Callable[[Any, Any], Any]] = [
    lambda a, b: a < b, lambda a, b: a <= b, lambda a, b: a == b, lambda a, b: a != b,
]  # fmt: skip


@pytest.mark.parametrize("seed", range(16))
def test_random_decision_sequences_match_torch(seed: int) -> None:
    import random

    rng = random.Random(seed)
    shape = (rng.randint(2, 9), rng.randint(2, 9))
    (t_env, t_pair), (o_env, o_pair) = _torch_pair(shape), _our_pair(shape)
    for _ in range(12):
        i, j, op, cmp = rng.randrange(2), rng.randrange(2), rng.randrange(7), rng.randrange(4)
        k = rng.randint(1, 12)
        t_val = CMPS[cmp](OPS[op](t_pair[i], t_pair[j]), k)
        o_val = CMPS[cmp](OPS[op](o_pair[i], o_pair[j]), k)
        assert bool(o_val) == bool(t_val)
    x = torch.empty(*shape)
    assert not o_env.check_guards({"x": x})
    assert len([g for g in o_env.input_guards() if g.kind == "decision"]) <= len(t_env.guards)
