"""The workspace as data: where the root is, which packages exist, what each declares.

Every tool in this folder starts here, so each one refuses, in the same words,
to run from the wrong place.
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WRONG_PLACE = """\
{tool}: run this from the repository root, not from {cwd}.
    cd {root}
    python3 -m hatch run tools
Inside a package folder hatch takes that package as the whole project and ignores
the workspace in hatch.toml (README.md, "Where to run hatch")."""


@dataclass(frozen=True)
class Package:
    """One member of the workspace: `packages/<name>`, distribution `torchshade-<name>`."""

    name: str
    folder: Path
    version: str
    dependencies: tuple[str, ...]  # torchshade package names it declares, e.g. ("shapes",)

    @property
    def module(self) -> str:
        return f"torchshade.{self.name}"

    @property
    def source(self) -> Path:
        return self.folder / "src" / "torchshade" / self.name


def require_root(tool: str) -> Path:
    """Return the repository root, or exit with a message if the caller stands elsewhere."""
    cwd = Path.cwd().resolve()
    if cwd != ROOT:
        sys.exit(WRONG_PLACE.format(tool=tool, cwd=cwd, root=ROOT))
    return ROOT


def _torchshade_dependency(requirement: str) -> str | None:
    match = re.match(r"torchshade-([a-z]+)", requirement)
    return match.group(1) if match else None


def packages() -> list[Package]:
    """Every `packages/*/pyproject.toml`, in name order."""
    found = []
    for pyproject in sorted(ROOT.glob("packages/*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())["project"]
        declared = (_torchshade_dependency(r) for r in project.get("dependencies", []))
        found.append(
            Package(
                name=pyproject.parent.name,
                folder=pyproject.parent,
                version=project["version"],
                dependencies=tuple(d for d in declared if d is not None),
            )
        )
    return found


def dependents(name: str, all_packages: list[Package]) -> set[str]:
    """Names of the packages that depend on `name`, directly or through others."""
    found: set[str] = set()
    frontier = {name}
    while frontier:
        frontier = {p.name for p in all_packages if set(p.dependencies) & frontier} - found
        found |= frontier
    return found
