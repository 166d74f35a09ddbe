"""The public surface of torchshade.shapes, pinned: names, signatures, import direction."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import torchshade.shapes as shapes
from torchshade.shapes import ShapeEnv

PACKAGE = Path(__file__).resolve().parents[1]


def test_public_names() -> None:
    assert set(shapes.__all__) == {
        "ConstraintViolationError",
        "DerivedDim",
        "Dim",
        "DimDynamic",
        "DimHintMismatchError",
        "Guard",
        "GuardFailure",
        "GuardOnDataDependentSymNode",
        "GuardSourceError",
        "Provenance",
        "RuntimeAssert",
        "ShapeEnv",
        "SymNode",
        "ValueRanges",
        "free_symbols",
        "free_unbacked_symbols",
        "has_free_symbols",
        "is_library_file",
        "sym_op_tracing",
        "view_contiguous",
    }
    for name in shapes.__all__:
        assert getattr(shapes, name).__module__.startswith("torchshade.shapes._"), name


def _sig(fn: object) -> str:
    return str(inspect.signature(fn))  # type: ignore[arg-type]  # any callable


def test_entry_point_signatures() -> None:
    assert _sig(ShapeEnv.__init__) == (
        "(self, *, duck_shape: 'bool' = True, specialize_zero_one: 'bool' = True, reuse_answers: 'bool' = True) -> 'None'"
    )
    assert _sig(ShapeEnv.create_symbolic_sizes_strides_storage_offset) == (
        "(self, t: 'torch.Tensor', source: 'str', *, dynamic_dims: 'Sequence[DimDynamic] | None' = None, "
        "dims: 'Mapping[int, Dim | DerivedDim] | None' = None) -> "
        "'tuple[tuple[SizeLike, ...], tuple[SizeLike, ...], SizeLike]'"
    )
    assert _sig(ShapeEnv.create_symint) == (
        "(self, hint: 'int', source: 'str', dynamic: 'DimDynamic' = <DimDynamic.DYNAMIC: 'dynamic'>, *, is_size: 'bool' = True) -> 'SizeLike'"
    )
    assert _sig(ShapeEnv.create_unbacked_symint) == "(self, source: 'str | None' = None) -> 'torch.SymInt'"
    assert _sig(ShapeEnv.create_unbacked_symfloat) == "(self, source: 'str | None' = None) -> 'torch.SymFloat'"
    assert _sig(ShapeEnv.create_unbacked_symbool) == "(self, source: 'str | None' = None) -> 'torch.SymBool'"
    assert _sig(ShapeEnv._constrain_range_for_size) == "(self, a: 'Any', min: 'Any' = None, max: 'Any' = None) -> 'None'"
    assert _sig(ShapeEnv.is_unbacked) == "(self, symbol: 'Expr') -> 'bool'"
    assert _sig(ShapeEnv.check_guards) == "(self, inputs: 'Mapping[str, object]') -> 'list[GuardFailure]'"
    assert _sig(ShapeEnv.format_guards) == "(self) -> 'str'"
    assert _sig(ShapeEnv.guards_source) == "(self, function_name: 'str' = 'check_guards') -> 'str'"
    assert _sig(ShapeEnv.input_guards) == "(self, sources: 'Collection[str] | None' = None) -> 'list[Guard]'"
    for gone in ("evaluate_guards", "guards_hold", "failed_guards"):  # one checking API: check_guards
        assert not hasattr(ShapeEnv, gone), gone
    assert _sig(shapes.free_unbacked_symbols) == "(value: 'object') -> 'set[Expr]'"
    assert isinstance(inspect.getattr_static(ShapeEnv, "guards"), property)
    assert isinstance(inspect.getattr_static(ShapeEnv, "runtime_asserts"), property)


def test_importing_shapes_does_not_import_fake() -> None:
    code = "import sys, torchshade.shapes; print('torchshade.fake' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(PACKAGE / "src"), "PATH": ""})  # fmt: skip
    assert out.stdout.strip() == "False"


def test_no_namespace_init_file() -> None:
    assert not (PACKAGE / "src" / "torchshade" / "__init__.py").exists()
    assert (PACKAGE / "src" / "torchshade" / "shapes" / "py.typed").exists()
