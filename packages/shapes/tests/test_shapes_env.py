"""ShapeEnv: creating symbols from hints, per-dimension policies, sources, unbacked symbols."""

from __future__ import annotations

import operator

import pytest
import sympy
import torch
from torch.fx.experimental import symbolic_shapes as torch_shapes

from torchshade.shapes import DimDynamic, GuardOnDataDependentSymNode, ShapeEnv, free_unbacked_symbols


def _strs(values: tuple[object, ...]) -> tuple[str, ...]:
    return tuple(map(str, values))


def test_sizes_strides_offset_of_a_contiguous_tensor() -> None:
    env = ShapeEnv()
    sizes, strides, offset = env.create_symbolic_sizes_strides_storage_offset(torch.empty(4, 3, 5), "x")
    assert _strs(sizes) == ("s0", "s1", "s2")
    assert _strs(strides) == ("s1*s2", "s2", "1")
    assert offset == 0
    assert env.var_to_sources[sympy.Symbol("s1", integer=True, nonnegative=True)] == ["x.size()[1]"]


def test_strides_of_a_permuted_tensor_are_products_too() -> None:
    env = ShapeEnv()
    _, strides, _ = env.create_symbolic_sizes_strides_storage_offset(torch.empty(4, 3).t(), "x")
    assert _strs(strides) == ("1", "s0")


def test_non_dense_strides_get_their_own_symbol() -> None:
    env = ShapeEnv()
    _, strides, _ = env.create_symbolic_sizes_strides_storage_offset(torch.empty(4, 6)[:, ::2], "x")
    assert _strs(strides) == ("s1*s2", "s2")  # the inner stride is a symbol, the outer derives from it
    assert env.var_to_sources[strides[1].node.expr] == ["x.stride()[1]"]  # type: ignore[union-attr]  # a SymInt here
    assert "x.stride()[0] == x.size()[1] * x.stride()[1]" in env.format_guards()


def test_zero_one_specialize_by_default() -> None:
    env = ShapeEnv()
    sizes, _, _ = env.create_symbolic_sizes_strides_storage_offset(torch.empty(1, 0, 5), "x")
    assert sizes[:2] == (1, 0) and str(sizes[2]) == "s0"
    assert env.bound_sympy(sizes[2].node.expr).lower == 2  # type: ignore[union-attr]  # a SymInt here
    assert "x.size()[0] == 1" in env.format_guards()


def test_specialize_zero_one_off_keeps_them_symbolic() -> None:
    env = ShapeEnv(specialize_zero_one=False)
    sizes, _, _ = env.create_symbolic_sizes_strides_storage_offset(torch.empty(1, 5), "x")
    assert _strs(sizes) == ("s0", "s1")
    assert env.bound_sympy(sizes[0].node.expr).lower == 0  # type: ignore[union-attr]  # a SymInt here


def test_duck_shape_is_the_default_as_in_torch() -> None:
    plain = ShapeEnv(duck_shape=False)
    a = plain.create_symint(5, "a")
    b = plain.create_symint(5, "b")
    assert str(a) != str(b)
    duck = ShapeEnv()
    a = duck.create_symint(5, "a")
    b = duck.create_symint(5, "b")
    assert str(a) == str(b) == "s0"
    assert "b == a" in duck.format_guards()


def test_dim_dynamic_policies() -> None:
    env = ShapeEnv()
    assert env.create_symint(7, "n", DimDynamic.STATIC) == 7
    assert str(env.create_symint(1, "m", DimDynamic.SIZE_LIKE)) == "s0"
    first = env.create_symint(9, "p", DimDynamic.DUCK)
    assert str(env.create_symint(9, "q", DimDynamic.DUCK)) == str(first)
    sizes, _, _ = env.create_symbolic_sizes_strides_storage_offset(
        torch.empty(4, 3), "x", dynamic_dims=[DimDynamic.STATIC, DimDynamic.DYNAMIC]
    )
    assert sizes[0] == 4 and isinstance(sizes[1], torch.SymInt)


def test_dynamic_dims_length_must_match() -> None:
    with pytest.raises(ValueError, match="dynamic_dims has 1 entries but x has 2 dimensions"):
        ShapeEnv().create_symbolic_sizes_strides_storage_offset(
            torch.empty(4, 3), "x", dynamic_dims=[DimDynamic.DYNAMIC]
        )


def test_unbacked_symbols_use_torchs_prefixes() -> None:
    env = ShapeEnv()
    u = env.create_unbacked_symint()
    f = env.create_unbacked_symfloat()
    b = env.create_unbacked_symbool()
    assert (str(u), str(f), str(b)) == ("u0", "zuf0", "Eq(u1, 1)")
    assert env.is_unbacked(u.node.expr) and not env.is_unbacked(env.create_symint(4, "n").node.expr)  # type: ignore[union-attr]  # a SymInt here
    expected = {u.node.expr, f.node.expr}
    assert free_unbacked_symbols([u, f, 3]) == expected
    assert torch_shapes.free_unbacked_symbols([u, f]) == expected  # torch's helper agrees


def test_free_unbacked_symbols_of_tensors() -> None:
    env = ShapeEnv()
    u = env.create_unbacked_symint()
    torch_shapes._constrain_range_for_size(u)
    t = torch.empty(u, 3, device="meta")
    assert free_unbacked_symbols(t) == {u.node.expr}


def test_constrain_range_for_size_through_torch() -> None:
    env = ShapeEnv()
    u = env.create_unbacked_symint()
    torch_shapes._constrain_range_for_size(u, min=2, max=64)
    r = env.var_to_range[u.node.expr]
    assert (r.lower, r.upper) == (2, 64)
    torch_shapes.constrain_range(u, min=4, max=None)
    assert env.var_to_range[u.node.expr].lower == 4
    with pytest.raises(ValueError, match="max is below min"):
        env._constrain_range(u, 10, 3)


def test_backed_symfloat() -> None:
    env = ShapeEnv()
    f = env.create_symfloat(2.5, "scale")
    assert str(f) == "zf0" and float(operator.mul(f, 2)) == 5.0  # SymFloat's * is installed at run time
    assert env.var_to_val[f.node.expr] == 2.5


def test_int_inputs_may_be_negative() -> None:
    env = ShapeEnv()
    n = env.create_symint(-3, "n", is_size=False)
    assert isinstance(n, torch.SymInt)
    assert bool(n < 0) is True
    assert [g.python for g in env.input_guards()] == ["n <= -1"]
    assert not env.check_guards({"n": -7}) and env.check_guards({"n": 0})
    assert env.create_symint(1, "one", is_size=False) == 1  # 0 and 1 still specialize, as in torch
    assert "one == 1" in [g.python for g in env.input_guards()]


def test_hint_queries_torchs_names() -> None:
    env = ShapeEnv()
    n = env.create_symint(6, "n")
    u = env.create_unbacked_symint()
    assert isinstance(n, torch.SymInt)
    assert env.guarding_hint_or_throw(n.node.expr * 2) == 12
    assert env.optimization_hint(u.node.expr, fallback=64) == 64
    assert env.size_hint(u.node.expr, allow_none=True) is None
    with pytest.raises(GuardOnDataDependentSymNode, match="u0"):
        env.guarding_hint_or_throw(u.node.expr + 1)
