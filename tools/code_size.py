"""Code lines per package and module, and the longest functions.

Code lines are the lines that hold code: blank lines, comments and docstrings
are free (STYLE.md: budgets, not golf). Modules over about 400 code lines and
functions over about 40 are marked with `!`; the figures inform, they do not
fail a build.

    python tools/code_size.py [--top N] [--quiet]
"""

from __future__ import annotations

import argparse
import ast
import io
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

from _workspace import packages, require_root

MODULE_BUDGET = 400
FUNCTION_BUDGET = 40


@dataclass(frozen=True)
class Function:
    where: str
    name: str
    lines: int


def docstring_lines(tree: ast.AST) -> set[int]:
    """Line numbers covered by module, class and function docstrings."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    end = body[0].end_lineno or body[0].lineno
                    lines.update(range(body[0].lineno, end + 1))
    return lines


def code_lines(source: str, tree: ast.AST) -> set[int]:
    """Line numbers that hold a token other than a comment, a newline or a docstring."""
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skip:
            lines.update(range(token.start[0], token.end[0] + 1))
    return lines - docstring_lines(tree)


def functions(tree: ast.AST, lines: set[int], where: str) -> list[Function]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            span = range(node.lineno, (node.end_lineno or node.lineno) + 1)
            found.append(Function(f"{where}:{node.lineno}", node.name, len(lines.intersection(span))))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--top", type=int, default=10, help="how many of the longest functions to list")
    parser.add_argument("--quiet", action="store_true", help="per-package totals and the longest functions only")
    args = parser.parse_args()
    root = require_root("tools/code_size.py")
    everything: list[Function] = []
    print(f"{'package / module':<52} {'code lines':>10}")
    for package in packages():
        rows = []
        for path in sorted(package.source.rglob("*.py")):
            source = path.read_text()
            tree = ast.parse(source)
            lines = code_lines(source, tree)
            where = str(path.relative_to(root))
            rows.append((where, len(lines)))
            everything += functions(tree, lines, where)
        print(f"{package.module:<52} {sum(n for _, n in rows):>10}")
        for where, count in rows if not args.quiet else []:
            mark = " !" if count > MODULE_BUDGET else ""
            print(f"  {Path(where).name:<50} {count:>10}{mark}")
    print(f"\nlongest functions (budget about {FUNCTION_BUDGET} code lines):")
    for function in sorted(everything, key=lambda f: -f.lines)[: args.top]:
        mark = " !" if function.lines > FUNCTION_BUDGET else ""
        print(f"  {function.lines:>4}  {function.name:<36} {function.where}{mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
