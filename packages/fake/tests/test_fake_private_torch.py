"""torch's private entry points are used through _torch_private.py only."""

from __future__ import annotations

import ast
from pathlib import Path

import torchshade.fake

PRIVATE = ("torch._C", "torch._library", "torch._meta_registrations", "torch._decomp", "torch._prims_common")


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def test_no_module_but_torch_private_reaches_into_torch_internals() -> None:
    folder = Path(torchshade.fake.__file__).parent
    found = []
    for path in sorted(folder.glob("*.py")):
        if path.name == "_torch_private.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Attribute):
                names = [_dotted(node)]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            line = getattr(node, "lineno", 0)
            found += [f"{path.name}:{line} {n}" for n in names if n.startswith(PRIVATE)]
    assert found == []
    assert (folder / "_torch_private.py").exists()
