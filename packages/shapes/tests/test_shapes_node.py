"""SymNode: the protocol torch's C++ and Python call, method by method and through torch."""

from __future__ import annotations

import math
import operator
import re
from pathlib import Path

import pytest
import sympy
import torch
from torch.fx.experimental import symbolic_shapes as torch_shapes

from torchshade.shapes import ShapeEnv, SymNode

SymPair = tuple[torch.SymInt, torch.SymInt]


def _node(value: object) -> SymNode:
    """The node of a SymBool that torch's stubs type as bool."""
    assert isinstance(value, torch.SymBool)
    node = value.node
    assert isinstance(node, SymNode)
    return node


def _cpp_method_names() -> set[str]:
    header = Path(torch.__file__).parent / "include/torch/csrc/utils/python_symnode.h"
    text = header.read_text()
    names = set(re.findall(r'attr\("(\w+)"\)', text))
    names |= set(re.findall(r"c10::SymNode (\w+)\(", text)) - {"dispatch_common_", "dispatch_sym_ite_"}
    names |= set(re.findall(r"TORCH_SYMNODE_SIZES_STRIDES\((\w+)\)", text))
    names.discard("n")  # the macro's parameter
    return names


def test_every_method_cpp_calls_exists(xy: SymPair) -> None:
    names = _cpp_method_names()
    assert len(names) >= 56
    missing = sorted(n for n in names if not callable(getattr(xy[0].node, n, None)))
    assert missing == []


def test_type_queries_return_the_true_and_false_singletons(env: ShapeEnv, xy: SymPair) -> None:
    node = xy[0].node
    assert node.is_int() is True and node.is_float() is False and node.is_bool() is False
    assert node.is_nested_int() is False and node.has_hint() is True
    assert _node(xy[0] > 1).is_bool() is True
    assert torch.sym_float(xy[0]).node.is_float() is True
    assert env.create_unbacked_symint().node.has_hint() is False


def test_attributes_torch_reads(env: ShapeEnv, xy: SymPair) -> None:
    node = (xy[0] * xy[1]).node
    assert isinstance(node, SymNode)
    assert node.expr == sympy.Symbol("s0", integer=True, nonnegative=True) * sympy.Symbol(
        "s1", integer=True, nonnegative=True
    )
    assert node.hint == 12 and node._hint == 12 and node.pytype is int
    assert node.shape_env is env and node.constant is None and node.fx_node is None
    node.fx_node = "set by a tracer"
    assert node.fx_node == "set by a tracer"


def test_wrap_and_constants(xy: SymPair) -> None:
    node = xy[0].node
    three = node.wrap_int(3)
    assert three.is_constant() is True and three.constant == 3 and three.is_int() is True
    assert node.wrap_float(1.5).is_float() is True and node.wrap_bool(True).is_bool() is True
    assert node.maybe_as_int() is None and three.maybe_as_int() == 3
    assert node.clone() is node
    assert node.str() == "s0" and node._graph_repr() == "s0"


def test_binary_methods_compute_expr_and_hint(xy: SymPair) -> None:
    a, b = xy[0].node, xy[1].node  # hints 4, 3
    cases = {
        "add": 7, "sub": 1, "mul": 12, "floordiv": 1, "int_floordiv": 1, "mod": 1,
        "truediv": 4 / 3, "int_truediv": 4 / 3, "pow": 64, "pow_by_natural": 64,
        "eq": False, "ne": True, "lt": False, "le": False, "gt": True, "ge": True,
        "sym_min": 3, "sym_max": 4,
    }  # fmt: skip
    for name, hint in cases.items():
        out = getattr(a, name)(b)
        assert out.hint == hint, name
        if out.expr.free_symbols:
            values = {s: v for s, v in zip(sorted(out.expr.free_symbols, key=str), (4, 3))}
            assert out.shape_env.hint_of(out.expr) == pytest.approx(hint), name
            assert values


def test_unary_methods(xy: SymPair) -> None:
    a = xy[0].node
    assert a.neg().hint == -4 and a.sym_float().hint == 4.0 and a.sym_float().is_float()
    f = a.truediv(xy[1].node)
    assert f.ceil().hint == 2 and f.floor().hint == 1 and f.sym_int().hint == 1
    assert a.gt(a.wrap_int(2)).sym_not().hint is False


def test_python_operators_on_symint(xy: SymPair) -> None:
    s0, s1 = xy
    assert str(s0 + s1) == "s0 + s1" and str(s0 * 2 - 1) == "2*s0 - 1"
    assert str(s0 // 2) == "(s0//2)" and str(s0 % 3) == "Mod(s0, 3)"
    assert str(-s0) == "-s0" and str(s0**2) == "s0**2"
    assert isinstance(s0 / s1, torch.SymFloat) and str(s0 / s1) == "IntTrueDiv(s0, s1)"
    assert isinstance(2 + s0, torch.SymInt) and str(2 + s0) == "s0 + 2"
    assert int(s0 * s1) == 12 and bool(s0 > 2) is True and math.ceil(s0 / s1) == 2
    assert float(torch.sym_float(s0) * 1.5) == 6.0


def test_torch_sym_helpers(xy: SymPair) -> None:
    s0, s1 = xy
    assert str(torch.sym_max(s0, s1)) == "Max(s0, s1)" and str(torch.sym_min(s0, 2)) == "2"
    assert str(torch.sym_float(s0)) == "ToFloat(s0)"
    assert str(torch.sym_not(s0 == s1)) == "Ne(s0, s1)"
    assert str(torch.sym_sum([s0, s1, 3])) == "s0 + s1 + 3"


def test_sym_max_drops_arguments_the_ranges_dominate(xy: SymPair) -> None:
    assert str(torch.sym_max(xy[0], 1)) == "s0"


def test_torch_sym_ite_rejects_any_node_but_torchs_own(xy: SymPair) -> None:
    # torch.sym_ite checks isinstance(node, torch.fx.experimental.sym_node.SymNode);
    # a node of another class cannot pass it.  Our node's sym_ite works directly.
    s0, s1 = xy
    with pytest.raises(AssertionError, match="must be SymNodes with same pytype"):
        torch.sym_ite(s0 > s1, s0, s1)
    node = _node(s0 > s1).sym_ite(s0.node, s1.node)
    assert node.hint == 4 and str(node.expr) == "Piecewise((s0, s0 > s1), (s1, True))"


def test_hashing_rules_match_torch(env: ShapeEnv, xy: SymPair) -> None:
    s0, s1 = xy
    with pytest.raises(TypeError, match="unhashable type: non-nested SymInt"):
        hash(s0)
    assert hash(s0 == s1) == hash(False)  # a SymBool hashes by guarding, like torch
    assert "Ne(s0, s1)" in env.format_guards()
    assert hash(torch.sym_float(s0) * 1.5) == hash(6.0)


def test_construct_symint_from_node(env: ShapeEnv, xy: SymPair) -> None:
    again = torch.SymInt(xy[0].node.add(xy[1].node))
    assert str(again) == "s0 + s1" and again.node.hint == 7


def test_torch_helpers_accept_our_nodes(env: ShapeEnv, xy: SymPair) -> None:
    s0, s1 = xy
    u = env.create_unbacked_symint()
    assert torch_shapes.guard_or_false(u > 2) is False and torch_shapes.guard_or_true(u > 2) is True
    assert torch_shapes.statically_known_true(s0 >= 2) is True
    assert torch_shapes.statically_known_true(u >= 0) is False
    assert torch_shapes.guard_or_false(s0 > s1) is True
    assert str(torch_shapes.sym_eq((s0, s1), (s0, 3))) == "Eq(s1, 3)"
    assert str(torch_shapes.sym_and(s0 > 2, s1 > 2)) == "(s0 > 2) & (s1 > 2)"
    assert str(torch_shapes.sym_or(s0 > 2, s1 > 2)) == "(s0 > 2) | (s1 > 2)"
    assert torch_shapes.free_unbacked_symbols(u + s0) == {u.node.expr}
    assert torch_shapes.has_free_symbols(s0) and not torch_shapes.has_free_symbols(3)
    assert torch_shapes.guard_int(s0 * 2) == 8


def test_meta_kernels_run_on_our_symints(xy: SymPair) -> None:
    s0, s1 = xy
    m = torch.empty(s0, s1, device="meta")
    assert tuple(map(str, m.shape)) == ("s0", "s1") and tuple(map(str, m.stride())) == ("s1", "1")
    assert isinstance(m.shape[0], torch.SymInt) and isinstance(m.shape[0].node, SymNode)
    assert tuple(map(str, torch.ops.aten.add(m, m).shape)) == ("s0", "s1")
    mm = torch.ops.aten.mm(m, torch.empty(s1, 5, device="meta"))
    assert tuple(map(str, mm.shape)) == ("s0", "5")
    cat = torch.ops.aten.cat([m, m])
    assert tuple(map(str, cat.shape)) == ("2*s0", "s1")
    assert cat.shape[0].node.hint == 8
    assert m.is_contiguous()
    t = torch.ops.aten.t(m)
    assert tuple(map(str, t.shape)) == ("s1", "s0") and not t.is_contiguous()


def test_float_semantics_follow_python(env: ShapeEnv) -> None:
    n = env.create_symint(5, "n")
    assert isinstance(n, torch.SymInt)
    f = torch.sym_float(n)
    cases: list[tuple[object, float | int | bool]] = [
        (f / 2.0, 2.5), (10.0 / f, 2.0), (f // 2, 2.0), (f**2, 25.0), (n**-1, 0.2),
        (n / 2, 2.5), (operator.mod(17, n), 2), (17 // n, 3), (3 - n, -2), (n // n, 1),
        (math.floor(f / 2), 2), (math.ceil(f / 2), 3), (math.trunc(f / 2), 2), (round(f / 2), 2),
        (round(f / 4, 1), 1.2), (torch.sym_sqrt(f), math.sqrt(5)), ((f / 2).is_integer(), False),
    ]  # fmt: skip
    for value, expected in cases:
        assert isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)), value
        assert value.node.hint == pytest.approx(expected), str(value)
        assert type(value.node.hint) is type(expected) or isinstance(expected, float), str(value)
    assert isinstance(f // 2, torch.SymFloat) and isinstance(17 // n, torch.SymInt)
    assert isinstance(n**-1, torch.SymFloat)


def test_bitwise_ops_on_ints_and_logic_on_bools(env: ShapeEnv) -> None:
    a, b = env.create_symint(6, "a"), env.create_symint(3, "b")
    assert isinstance(a, torch.SymInt) and isinstance(b, torch.SymInt)
    assert [operator.and_(a, b).node.hint, operator.or_(a, b).node.hint, operator.xor(a, b).node.hint] == [2, 7, 5]
    assert str(operator.and_(a, b)) == "BitwiseAnd(s0, s1)"
    assert bool(operator.and_(a, b) == 2) and "a & b == 2" in [g.python for g in env.input_guards()]
    assert str((a > 2) & (b > 2)) == "(s0 > 2) & (s1 > 2)"


def test_maybe_as_int_keeps_its_answer_only_until_something_is_learned(env: ShapeEnv, xy: SymPair) -> None:
    s0, s1 = xy  # hints 4, 3
    node = (s0 * 2 + s1).node
    assert node.maybe_as_int() is None
    assert node.maybe_as_int() is None  # the kept answer
    assert s0 == 4  # a guard: s0 := 4 is learned
    assert node.maybe_as_int() is None  # s1 is still symbolic
    assert (s0 * 2).node.maybe_as_int() == 8
    assert s1 == 3
    assert node.maybe_as_int() == 11


def test_maybe_as_int_after_a_rolled_back_decision(env: ShapeEnv, xy: SymPair) -> None:
    from torchshade.shapes import Dim

    sizes, _, _ = env.create_symbolic_sizes_strides_storage_offset(
        torch.empty(8, 5), "y", dims={0: Dim("batch", max=64)}
    )
    batch = sizes[0]
    assert isinstance(batch, torch.SymInt)
    node = (batch * 2).node
    assert node.maybe_as_int() is None
    with pytest.raises(Exception, match="batch"):
        bool(batch == 8)  # the Dim forbids specializing batch: raises, and the env is put back
    assert node.maybe_as_int() is None
