"""Data-dependent decisions: a clear error with the fix, never-failing queries, torch._check."""

from __future__ import annotations

import pytest
import torch
from torch.fx.experimental import symbolic_shapes as torch_shapes

from torchshade.shapes import GuardOnDataDependentSymNode, ShapeEnv, SymNode


def _node(value: object) -> SymNode:
    """The node of a SymBool that torch's stubs type as bool."""
    assert isinstance(value, torch.SymBool)
    node = value.node
    assert isinstance(node, SymNode)
    return node

THIS_FILE = __file__


def test_branching_on_unbacked_raises_with_expression_line_and_fix(env: ShapeEnv) -> None:
    u = env.create_unbacked_symint()
    with pytest.raises(GuardOnDataDependentSymNode) as info:
        if u > 2:
            pass
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert "Could not guard on data-dependent expression u0 > 2" in message
    assert f"{THIS_FILE}:" in message and "in test_branching_on_unbacked_raises" in message
    assert "u0 has no example value (only a range: u0 in [-inf, inf])" in message
    assert "torch._check(u0 > 2)" in message and "torch._check(u0 <= 2)" in message
    assert "torch.fx.experimental.symbolic_shapes.guard_or_false / guard_or_true" in message
    assert str(info.value.expr) == "u0 > 2"


def test_int_of_unbacked_raises_with_advice(env: ShapeEnv) -> None:
    u = env.create_unbacked_symint()
    with pytest.raises(GuardOnDataDependentSymNode, match=r"tracing needs the int value of 2 \* u0"):
        int(u * 2)
    with pytest.raises(GuardOnDataDependentSymNode, match="Keep it symbolic instead of calling int"):
        int(u)


def test_error_uses_the_source_name_when_given(env: ShapeEnv) -> None:
    n = env.create_unbacked_symint(source="nnz")
    with pytest.raises(GuardOnDataDependentSymNode, match=r"torch._check\(nnz == 0\)"):
        bool(n == 0)


def test_never_failing_queries_never_raise(env: ShapeEnv) -> None:
    u = env.create_unbacked_symint()
    assert torch_shapes.guard_or_false(u == 3) is False
    assert torch_shapes.guard_or_true(u == 3) is True
    assert torch_shapes.statically_known_true(u == 3) is False
    node = _node(u > 1)
    assert node.guard_or_false("", 0) is False and node.guard_or_true("", 0) is True
    assert node.statically_known_true("", 0) is False
    assert env.input_guards() == [g for g in env.input_guards() if g.kind != "decision"]


def test_torch_check_refines_the_range_and_records_a_runtime_assert(env: ShapeEnv) -> None:
    u = env.create_unbacked_symint()
    line = _line_of("torch._check(u >= 2)")
    torch._check(u >= 2)
    assert bool(u > 1) is True and bool(u == 0) is False  # decided by the range now
    assert (env.var_to_range[u.node.expr].lower, env.var_to_range[u.node.expr].upper) == (2, float("inf"))
    (item,) = env.runtime_asserts
    assert item.text == "u0 >= 2" and item.origin.line == line and item.origin.file == THIS_FILE
    assert f"u0 >= 2  # from {THIS_FILE}:{line}" in env.format_runtime_asserts()


def test_torch_check_of_relation_between_unbacked_and_backed(env: ShapeEnv) -> None:
    s0 = env.create_symint(5, "n")
    u = env.create_unbacked_symint()
    torch._check(u == s0)
    assert str(env.simplify((u + 1).node.expr)) == "s0 + 1"
    assert bool(u > 1) is True


def test_torch_check_false_on_backed_raises_torchs_error(env: ShapeEnv) -> None:
    s0 = env.create_symint(5, "n")
    with pytest.raises(RuntimeError, match="Expected cond to be True"):
        torch._check(s0 > 10)


def test_unbacked_bool(env: ShapeEnv) -> None:
    b = env.create_unbacked_symbool()
    with pytest.raises(GuardOnDataDependentSymNode, match="Eq"):
        bool(b)
    assert torch_shapes.guard_or_false(b) is False


def _line_of(text: str) -> int:
    with open(THIS_FILE) as f:
        lines = f.read().splitlines()
    hits = [i + 1 for i, line in enumerate(lines) if line.strip() == text]
    assert len(hits) == 1
    return hits[0]


def test_guard_size_oblivious_treats_size_like_symbols_as_at_least_two(env: ShapeEnv) -> None:
    u = env.create_unbacked_symint()
    torch_shapes._constrain_range_for_size(u)
    # (torch's own guard_size_oblivious helper is deprecated and warns; C++ calls the node's)
    assert _node(u == 1).guard_size_oblivious("", 0) is False  # a size: the general path
    assert _node(u >= 0).guard_size_oblivious("", 0) is True
    with pytest.raises(GuardOnDataDependentSymNode, match="u0 > 5"):
        _node(u > 5).guard_size_oblivious("", 0)
    other = env.create_unbacked_symint()
    with pytest.raises(GuardOnDataDependentSymNode, match=r"Eq\(u1, 1\)"):
        _node(other == 1).guard_size_oblivious("", 0)  # not size-like: no such assumption


def test_unbacked_equal_to_a_backed_size_gets_its_hint(env: ShapeEnv) -> None:
    s0 = env.create_symint(5, "n")
    u = env.create_unbacked_symint()
    torch._check(u == s0)
    assert bool(u > 3) is True  # decided from s0's hint, as a guard on s0
    assert [g.python for g in env.input_guards() if g.kind == "decision"] == []
    assert [g.python for g in env.input_guards() if g.kind == "bound"] == ["4 <= n"]  # was [2, inf]


def test_every_unbacked_symbol_goes_into_one_record_in_order_as_torch_lists_them() -> None:
    ours, theirs = ShapeEnv(), torch_shapes.ShapeEnv()
    before = ours.unbacked.mark()
    for env in (ours, theirs):
        env.create_unbacked_symint()
        env.create_unbacked_symfloat()
        env.create_unbacked_symbool()
    fresh = ours.unbacked.fresh_since(before)
    assert [str(s) for s in fresh] == [str(s) for s in theirs.pending_fresh_unbacked_symbols] == ["u0", "zuf0", "u1"]
    mark = ours.unbacked.mark()
    assert ours.unbacked.fresh_since(mark) == []
    sizes, _, _ = ours.create_symbolic_sizes_strides_storage_offset(torch.empty(4, 3), "x")
    assert ours.unbacked.fresh_since(mark) == []  # backed symbols are not in it
    (u,) = [ours.create_unbacked_symint() for _ in range(1)]
    assert ours.unbacked.fresh_since(mark) == [u.node.expr]


def test_clearing_torchs_pending_list_leaves_the_record() -> None:
    # torch's compute_unbacked_bindings clears pending_fresh_unbacked_symbols once
    # it has bound them; a mark taken earlier must still see what came after it.
    env = ShapeEnv()
    env.create_unbacked_symint()
    mark = env.unbacked.mark()
    u1 = env.create_unbacked_symint()
    env.pending_fresh_unbacked_symbols.clear()
    assert [str(s) for s in env.pending_fresh_unbacked_symbols] == ["u0", "u1"]
    assert env.unbacked.fresh_since(mark) == [u1.node.expr]
