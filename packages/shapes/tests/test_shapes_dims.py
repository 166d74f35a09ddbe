"""User constraints: named dims with bounds, derived dims, violations with a suggested fix."""

from __future__ import annotations

import pytest
import torch

from torchshade.shapes import ConstraintViolationError, Dim, DimHintMismatchError, ShapeEnv


def _sizes(env: ShapeEnv, shape: tuple[int, ...], source: str, dims: dict[int, object]) -> list[str]:
    sizes, _, _ = env.create_symbolic_sizes_strides_storage_offset(
        torch.empty(*shape), source, dims=dims  # type: ignore[arg-type]  # Dim | DerivedDim values
    )
    return [str(s) for s in sizes]


def test_a_dim_is_one_symbol_with_its_range() -> None:
    env = ShapeEnv()
    batch = Dim("batch", min=2, max=1024)
    assert _sizes(env, (4, 3), "x", {0: batch}) == ["s0", "s1"]
    assert _sizes(env, (4,), "y", {0: batch}) == ["s0"]
    assert "2 <= x.size()[0] <= 1024" in [g.python for g in env.input_guards()]
    assert "y.size()[0] == x.size()[0]" in [g.python for g in env.input_guards()]
    assert not env.check_guards({"x": torch.empty(1000, 3), "y": torch.empty(1000)})
    (failure,) = env.check_guards({"x": torch.empty(2000, 3), "y": torch.empty(2000)})
    assert "2 <= x.size()[0] <= 1024" in str(failure)


def test_derived_dims() -> None:
    env = ShapeEnv()
    batch = Dim("batch")
    assert _sizes(env, (4,), "x", {0: batch}) == ["s0"]
    assert _sizes(env, (9,), "y", {0: 2 * batch + 1}) == ["2*s0 + 1"]
    assert not env.check_guards({"x": torch.empty(6), "y": torch.empty(13)})
    assert env.check_guards({"x": torch.empty(6), "y": torch.empty(12)})
    assert str(2 * batch + 1) == "2*batch + 1" and str(batch - 1) == "batch - 1"


def test_derived_dim_alone_gets_its_root_from_the_size() -> None:
    env = ShapeEnv()
    half = Dim("half")
    assert _sizes(env, (8,), "y", {0: 2 * half}) == ["2*s0"]
    assert env.var_to_val[next(iter(env.var_to_val))] == 4
    assert "y.size()[0] == 2 * (y.size()[0] // 2)" in [g.python for g in env.input_guards()]
    assert env.check_guards({"y": torch.empty(7)})


def test_tracing_that_specializes_a_dim_is_an_error_with_a_fix() -> None:
    env = ShapeEnv()
    batch = Dim("batch", max=1024)
    sizes, _, _ = env.create_symbolic_sizes_strides_storage_offset(torch.empty(4, 3), "x", dims={0: batch})
    with pytest.raises(ConstraintViolationError) as info:
        if sizes[0] == 4:
            pass
    message = str(info.value)
    assert "Constraint violated for Dim('batch', max=1024) (x.size()[0]): the program needs batch == 4" in message
    assert "test_shapes_dims.py" in message
    assert "Either declare Dim('batch', min=4, max=4) or a static size" in message


def test_tracing_that_narrows_a_dim_is_an_error_with_the_dim_that_fits() -> None:
    env = ShapeEnv()
    sizes, _, _ = env.create_symbolic_sizes_strides_storage_offset(
        torch.empty(4), "x", dims={0: Dim("seq", max=512)}
    )
    with pytest.raises(ConstraintViolationError, match=r"needs 2 <= seq <= 8 .*declare Dim\('seq', min=2, max=8\)"):
        if sizes[0] <= 8:
            pass


def test_two_dims_forced_equal_is_an_error() -> None:
    env = ShapeEnv()
    (a,), _, _ = env.create_symbolic_sizes_strides_storage_offset(torch.empty(4), "x", dims={0: Dim("a")})
    (b,), _, _ = env.create_symbolic_sizes_strides_storage_offset(torch.empty(4), "y", dims={0: Dim("b")})
    with pytest.raises(ConstraintViolationError, match="one shared Dim"):
        torch._check(a == b)


def test_decisions_inside_the_range_are_fine() -> None:
    env = ShapeEnv()
    (a,), _, _ = env.create_symbolic_sizes_strides_storage_offset(torch.empty(4), "x", dims={0: Dim("a")})
    assert a != 1 and a > 0 and a * 2 > a
    assert [g.kind for g in env.input_guards() if g.kind == "decision"] == []


def test_example_sizes_must_fit_the_dims() -> None:
    env = ShapeEnv()
    with pytest.raises(DimHintMismatchError, match=r"w.size\(\)\[0\] = 2000 does not fit Dim\('seq', max=1000\)"):
        _sizes(env, (2000,), "w", {0: Dim("seq", max=1000)})
    batch = Dim("batch")
    with pytest.raises(DimHintMismatchError, match="no int value of batch gives 2\\*batch == 7"):
        _sizes(env, (7,), "z", {0: 2 * batch})
    _sizes(env, (4,), "x", {0: batch})
    with pytest.raises(DimHintMismatchError, match=r"batch is 4 \(from x.size\(\)\[0\]\), so 2\*batch would be 8"):
        _sizes(env, (6,), "y", {0: 2 * batch})


def test_bad_dim_declarations() -> None:
    with pytest.raises(ValueError, match="sizes need 0 <= min <= max"):
        Dim("b", min=5, max=3)
    with pytest.raises(ValueError, match="is not a Python identifier"):
        Dim("my batch")
    with pytest.raises(ValueError, match="the coefficient must be a positive int"):
        Dim("b") * 0


def test_tracing_that_needs_a_multiple_suggests_a_derived_dim() -> None:
    env = ShapeEnv()
    (a,), _, _ = env.create_symbolic_sizes_strides_storage_offset(torch.empty(8), "x", dims={0: Dim("seq")})
    with pytest.raises(ConstraintViolationError, match=r"needs seq % 4 == 0 .*declare it as a multiple: 4\*Dim\('seq_div4'\)"):
        torch._check(a % 4 == 0)
