"""Answers shared between ShapeEnvs whose knowledge is in the same state.

``simplify`` and ``evaluate_static`` answers are kept process-wide under
(knowledge state, expression), and SymNode expressions under (op,
operands): a new ShapeEnv per trace reads what an earlier one worked out.
With ``TORCHSHADE_SHAPES_CROSSCHECK`` every shared answer is worked out again
and compared.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sympy
import torch

from torchshade.shapes import Dim, ShapeEnv
from torchshade.shapes import _knowledge


def sizes(env: ShapeEnv, *shape: int) -> list[torch.SymInt]:
    out, _, _ = env.create_symbolic_sizes_strides_storage_offset(torch.empty(*shape), "x")
    assert all(isinstance(s, torch.SymInt) for s in out)
    return list(out)  # type: ignore[arg-type]  # every size is symbolic (asserted above)


def expr_of(s: torch.SymInt) -> sympy.Expr:
    return s.node.expr


@pytest.fixture
def crosscheck_off(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(_knowledge, "CROSSCHECK", False)
    yield


def history(env: ShapeEnv) -> tuple[torch.SymInt, torch.SymInt]:
    """Two symbols and one decision: s0 > 5 (hint 8)."""
    s0, s1 = sizes(env, 8, 3)
    assert bool(s0 > 5)
    return s0, s1


def test_a_second_env_in_the_same_state_reads_the_first_ones_answers(crosscheck_off: None) -> None:
    first, second = ShapeEnv(), ShapeEnv()
    a0, _ = history(first)
    b0, _ = history(second)
    assert first.knowledge.state == second.knowledge.state
    question = sympy.Gt(expr_of(a0), 4)
    assert first.knowledge.evaluate_static(question) is sympy.true
    key = (first.knowledge.state, question)
    assert _knowledge._SHARED_STATIC[key] is sympy.true
    # The second env's answer comes from the table: a planted answer is returned as is.
    planted = sympy.Gt(expr_of(b0), 3)
    _knowledge._SHARED_STATIC[(second.knowledge.state, planted)] = sympy.false
    assert second.knowledge.evaluate_static(planted) is sympy.false
    del _knowledge._SHARED_STATIC[(second.knowledge.state, planted)]


def test_another_history_reads_nothing(crosscheck_off: None) -> None:
    first, other = ShapeEnv(), ShapeEnv()
    a0, _ = history(first)
    o0, _ = sizes(other, 8, 3)  # no decision: another state
    assert first.knowledge.state != other.knowledge.state
    question = sympy.Gt(expr_of(o0), 4)
    assert first.knowledge.evaluate_static(question) is sympy.true
    assert other.knowledge.evaluate_static(question) is None  # s0 >= 2 only: undecided


def test_simplify_answers_are_shared_too(crosscheck_off: None) -> None:
    first, second = ShapeEnv(), ShapeEnv()
    a0, a1 = sizes(first, 6, 3)
    b0, b1 = sizes(second, 6, 3)
    expr = expr_of(a0) * 2 + expr_of(a1)
    assert first.knowledge.simplify(expr) == expr
    assert _knowledge._SHARED_SIMPLIFIED[(first.knowledge.state, expr)] == expr
    assert second.knowledge.state == first.knowledge.state
    planted = expr_of(b0) * 3 + expr_of(b1)
    _knowledge._SHARED_SIMPLIFIED[(second.knowledge.state, planted)] = sympy.Integer(7)
    try:
        assert second.knowledge.simplify(planted) == 7
    finally:
        del _knowledge._SHARED_SIMPLIFIED[(second.knowledge.state, planted)]


def test_crosscheck_finds_a_shared_answer_that_is_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_knowledge, "CROSSCHECK", True)
    first, second = ShapeEnv(), ShapeEnv()
    a0, _ = history(first)
    history(second)
    question = sympy.Gt(expr_of(a0), 2)
    _knowledge._SHARED_STATIC[(first.knowledge.state, question)] = sympy.false
    try:
        with pytest.raises(_knowledge.SharedAnswerMismatch) as info:
            second.knowledge.evaluate_static(question)
    finally:
        del _knowledge._SHARED_STATIC[(first.knowledge.state, question)]
    assert str(info.value) == (
        f"evaluate_static({question}) shared between Knowledges in one state is False, "
        "but this Knowledge works it out as True. Equal states must answer alike, "
        "so this is a bug in torchshade.shapes: please report it with this message."
    )


def test_crosscheck_agrees_on_honest_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_knowledge, "CROSSCHECK", True)
    envs = [ShapeEnv(), ShapeEnv()]
    for env in envs:
        s0, s1 = history(env)
        assert bool(s0 * s1 > 20)
        assert env.knowledge.evaluate_static(sympy.Gt(expr_of(s0) * expr_of(s1), 20)) is sympy.true
        assert env.knowledge.evaluate_static(sympy.Gt(expr_of(s0), 100)) is None


def test_envs_with_protected_symbols_share_nothing(crosscheck_off: None) -> None:
    first, second = ShapeEnv(), ShapeEnv()
    batch = Dim("batch", max=64)
    for env in (first, second):
        env.create_symbolic_sizes_strides_storage_offset(torch.empty(8, 3), "x", dims={0: batch})
    assert first.knowledge.protected
    expr = next(iter(first.knowledge.protected))
    question = sympy.Gt(expr, 1)
    assert first.knowledge.evaluate_static(question) is sympy.true
    assert (first.knowledge.state, question) not in _knowledge._SHARED_STATIC


def test_symnode_expressions_are_built_once_for_every_env() -> None:
    first, second = ShapeEnv(), ShapeEnv()
    a0, a1 = sizes(first, 8, 3)
    b0, b1 = sizes(second, 8, 3)
    assert (a0 * a1 + 1).node.expr is (b0 * b1 + 1).node.expr


def test_an_env_that_reuses_no_answers_reads_none(crosscheck_off: None) -> None:
    first, second = ShapeEnv(), ShapeEnv(reuse_answers=False)
    history(first)
    b0, _ = history(second)
    assert first.knowledge.state == second.knowledge.state
    planted = sympy.Gt(expr_of(b0), 3)
    _knowledge._SHARED_STATIC[(second.knowledge.state, planted)] = sympy.false
    try:
        assert second.knowledge.evaluate_static(planted) is sympy.true  # worked out, not read
    finally:
        del _knowledge._SHARED_STATIC[(second.knowledge.state, planted)]
    question = sympy.Gt(expr_of(b0), 2)
    assert second.knowledge.evaluate_static(question) is sympy.true
    assert (second.knowledge.state, question) not in _knowledge._SHARED_STATIC  # nor added
