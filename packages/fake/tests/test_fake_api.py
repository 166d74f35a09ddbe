"""The public surface of torchshade.fake is pinned here."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import torchshade.fake as fake


def test_public_names_are_pinned() -> None:
    assert sorted(fake.__all__) == [
        "DataDependentOutputException",
        "DispatchCacheMismatchError",
        "DynamicOutputShapeException",
        "FakeDeviceMismatchError",
        "FakeModeMismatchError",
        "FakeTensor",
        "FakeTensorError",
        "FakeTensorMode",
        "FakeTensorProp",
        "MissingFakeImplError",
        "NonFakeInputError",
        "ShapeDtypeStruct",
        "ShapeSpecError",
        "eval_shape",
    ]
    for name in fake.__all__:
        assert getattr(fake, name).__module__.startswith("torchshade.fake.")


def test_signatures_match_torch_names() -> None:
    params = inspect.signature(fake.FakeTensorMode).parameters
    for name in ("allow_non_fake_inputs", "shape_env", "static_shapes", "allow_fallback_kernels"):
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
    from_tensor = inspect.signature(fake.FakeTensorMode.from_tensor).parameters
    assert list(from_tensor)[:2] == ["self", "t"]
    assert {"static_shapes", "source", "dynamic_dims"} <= set(from_tensor)
    prop = inspect.signature(fake.FakeTensorProp).parameters
    assert list(prop) == ["module", "mode"]


def test_errors_are_runtime_errors() -> None:
    assert issubclass(fake.DynamicOutputShapeException, RuntimeError)
    assert issubclass(fake.DataDependentOutputException, RuntimeError)
    assert issubclass(fake.ShapeSpecError, ValueError)


FORBIDDEN = (
    "torch._subclasses",
    "torch.fx.experimental.symbolic_shapes",
    "torch.fx.experimental.sym_node",
    "torch.fx.experimental.proxy_tensor",
    "torch._higher_order_ops",
    "torch._dynamo",
    "torch._guards",
    "torch.utils._sympy",
    "torch.fx.passes.fake_tensor_prop",
)


def test_source_imports_none_of_torchs_fake_machinery() -> None:
    src = Path(fake.__file__).parent
    files = sorted(src.glob("*.py"))
    assert len(files) >= 10
    for path in files:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Attribute):
                names = [ast.unparse(node)]
            for name in names:
                assert not name.startswith(FORBIDDEN), f"{path.name} uses {name}"


def test_importing_shapes_does_not_import_fake() -> None:
    code = "import sys, torchshade.shapes; print('torchshade.fake' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
