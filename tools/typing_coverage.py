"""Typing coverage per package: annotated functions and lines over the total.

Runs mypy's line-count report over every package's source and prints a table.
Exits 1 if any package's source is below 100%: every function annotated.

    python tools/typing_coverage.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from _workspace import packages, require_root


@dataclass
class Coverage:
    annotated_lines: int = 0
    lines: int = 0
    annotated_functions: int = 0
    functions: int = 0

    def add(self, row: list[int]) -> None:
        self.annotated_lines += row[0]
        self.lines += row[1]
        self.annotated_functions += row[2]
        self.functions += row[3]

    @property
    def complete(self) -> bool:
        return self.annotated_functions == self.functions and self.annotated_lines == self.lines


def _percent(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:6.1f}%" if whole else "     -"


def linecount(sources: list[Path]) -> dict[str, list[int]]:
    """mypy's line-count report as {module: [annotated lines, lines, annotated funcs, funcs]}."""
    with tempfile.TemporaryDirectory() as report:
        command = [sys.executable, "-m", "mypy", "--linecount-report", report, *map(str, sources)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode not in (0, 1):  # 1 is "type errors found": `hatch run types` reports those
            sys.exit(f"typing_coverage: mypy failed:\n{done.stdout}{done.stderr}")
        rows = {}
        for line in (Path(report) / "linecount.txt").read_text().splitlines():
            *numbers, module = line.split()
            rows[module] = [int(n) for n in numbers]
        return rows


def main() -> int:
    require_root("tools/typing_coverage.py")
    members = packages()
    rows = linecount([p.source for p in members])
    print(f"{'package':<24} {'functions':>18} {'lines':>18}")
    incomplete = []
    for package in members:
        coverage = Coverage()
        for module, row in rows.items():
            if module == package.module or module.startswith(package.module + "."):
                coverage.add(row)
        functions = f"{coverage.annotated_functions}/{coverage.functions} {_percent(coverage.annotated_functions, coverage.functions)}"
        lines = f"{coverage.annotated_lines}/{coverage.lines} {_percent(coverage.annotated_lines, coverage.lines)}"
        print(f"{package.module:<24} {functions:>18} {lines:>18}")
        if not coverage.complete:
            incomplete.append(package.module)
    if incomplete:
        print(f"typing coverage below 100% in: {', '.join(incomplete)} (annotate every function)")
        return 1
    print("typing coverage: 100% in every package")
    return 0


if __name__ == "__main__":
    sys.exit(main())
