"""Importing a package, in a fresh interpreter, loads none of the packages that depend on it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

PROBE = "import sys, importlib; importlib.import_module(sys.argv[1]); print(' '.join(sorted(sys.modules)))"


def modules_loaded_by(module: str, extra_path: Path | None = None) -> set[str]:
    """Every module a fresh interpreter holds after importing `module`."""
    env = None
    if extra_path is not None:
        env = {"PYTHONPATH": str(extra_path), "PATH": ""}
    done = subprocess.run([sys.executable, "-c", PROBE, module], capture_output=True, text=True, env=env, check=True)
    return set(done.stdout.split())


def dependents_loaded(module: str, dependents: set[str], extra_path: Path | None = None) -> set[str]:
    loaded = modules_loaded_by(module, extra_path)
    return {d for d in dependents if f"torchshade.{d}" in loaded}


@pytest.mark.parametrize("name", ["shapes", "fake", "trace", "autograd", "hops", "cli"])
def test_package_loads_no_dependent(name: str, load_tool: Callable[[str], ModuleType]) -> None:
    workspace = load_tool("_workspace")
    dependents = workspace.dependents(name, workspace.packages())
    assert dependents_loaded(f"torchshade.{name}", dependents) == set()


def test_dependents_follow_the_design(load_tool: Callable[[str], ModuleType]) -> None:
    workspace = load_tool("_workspace")
    assert workspace.dependents("shapes", workspace.packages()) == {"fake", "trace", "autograd", "hops", "cli"}
    assert workspace.dependents("autograd", workspace.packages()) == {"hops", "cli"}
    assert workspace.dependents("cli", workspace.packages()) == set()


def test_the_probe_can_fail(tmp_path: Path) -> None:
    # A module that imports torchshade.cli must be caught loading it (and hops, which
    # cli uses for its scan-based RNN model).
    (tmp_path / "leaky.py").write_text("import torchshade.cli\n")
    assert dependents_loaded("leaky", {"cli", "hops"}, extra_path=tmp_path) == {"cli", "hops"}
