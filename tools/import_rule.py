"""Check the import rule of DESIGN.md over every package's source.

A package's source may not import torch's own implementation of a subsystem
torchshade provides, nor a torchshade package it does not declare in its
pyproject.toml. Imports inside functions and `importlib.import_module("...")`
with a literal name count too. Exits 1 and lists each violation as
`file:line: what it imports: why not allowed`.

    python tools/import_rule.py
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

from _workspace import Package, packages, require_root

FORBIDDEN = (
    "torch._subclasses",
    "torch.fx.experimental.symbolic_shapes",
    "torch.fx.experimental.sym_node",
    "torch.fx.experimental.proxy_tensor",
    "torch.fx.passes.fake_tensor_prop",
    "torch._higher_order_ops",
    "torch._dynamo",
    "torch._guards",
    "torch.utils._sympy",
)


def imported_names(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, dotted module name) for every import in `tree`, wherever it stands."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:  # `from torch.fx.experimental import symbolic_shapes`
                yield node.lineno, f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Call) and (target := _import_call_target(node)):
            yield node.lineno, target


def _import_call_target(node: ast.Call) -> str | None:
    """The literal module name of `importlib.import_module("x")` or `__import__("x")`."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if name in ("import_module", "__import__") and node.args:
        first = node.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value
    return None


def violation(module: str, package: Package) -> str | None:
    """Why `package` may not import `module`, or None if it may."""
    for forbidden in FORBIDDEN:
        if module == forbidden or module.startswith(forbidden + "."):
            return f"torch's own {forbidden}, which torchshade provides (DESIGN.md)"
    parts = module.split(".")
    if parts[0] == "torchshade" and len(parts) > 1:
        target = parts[1]
        if target != package.name and target not in package.dependencies:
            return (
                f"torchshade-{target} is not declared in {package.folder.name}/pyproject.toml "
                f"(declared: {', '.join(package.dependencies) or 'none'})"
            )
    return None


def check_file(path: Path, package: Package, root: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    problems = []
    for line, module in sorted(imported_names(tree)):
        why = violation(module, package)
        if why:
            problems.append(f"{path.relative_to(root)}:{line}: imports {module}: {why}")
    return problems


def main() -> int:
    root = require_root("tools/import_rule.py")
    problems = []
    checked = 0
    for package in packages():
        for path in sorted(package.source.rglob("*.py")):
            problems += check_file(path, package, root)
            checked += 1
    for problem in problems:
        print(problem)
    verdict = f"{len(problems)} violation(s)" if problems else "no violations"
    print(f"import rule: {checked} files in {len(packages())} packages, {verdict}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
