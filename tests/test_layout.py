"""The workspace layout that users and tools rely on (DESIGN.md, TOOLING.md)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

PACKAGES = ("shapes", "fake", "trace", "autograd", "hops", "cli")

# DESIGN.md: shapes <- fake <- trace <- hops -> autograd -> fake; cli uses all.
DECLARED = {
    "shapes": set(),
    "fake": {"shapes"},
    "trace": {"shapes", "fake"},  # trace imports shapes directly (ShapeEnv, sym_op_tracing)
    "autograd": {"shapes", "fake"},  # autograd imports shapes directly (is_library_file)
    "hops": {"shapes", "fake", "trace", "autograd"},  # hops imports fake (FakeTensor) and shapes (sym_op_tracing) directly
    "cli": {"shapes", "fake", "trace", "autograd", "hops"},
}


def project(root: Path, name: str) -> dict[str, object]:
    data = tomllib.loads((root / "packages" / name / "pyproject.toml").read_text())
    table = data["project"]
    assert isinstance(table, dict)
    return table


def test_no_namespace_init_anywhere(root: Path) -> None:
    # One src/torchshade/__init__.py makes every other torchshade.* package unimportable.
    offenders = sorted(str(p.relative_to(root)) for p in root.glob("packages/*/src/torchshade/__init__.py"))
    assert offenders == [], f"delete {offenders}: torchshade is a PEP 420 namespace package"


def test_exactly_the_six_packages(root: Path) -> None:
    found = {p.parent.name for p in root.glob("packages/*/pyproject.toml")}
    assert found == set(PACKAGES)


@pytest.mark.parametrize("name", PACKAGES)
def test_package_files(root: Path, name: str) -> None:
    folder = root / "packages" / name
    leaf = folder / "src" / "torchshade" / name
    for needed in (folder / "README.md", leaf / "__init__.py", leaf / "py.typed", folder / "tests"):
        assert needed.exists(), f"{needed.relative_to(root)} is missing"
    assert not (folder / "src" / "torchshade" / "py.typed").exists(), "py.typed belongs in the leaf package"
    tree = ast.parse((leaf / "__init__.py").read_text())
    targets = [getattr(t, "id", None) for n in tree.body if isinstance(n, (ast.Assign, ast.AnnAssign)) for t in (n.targets if isinstance(n, ast.Assign) else [n.target])]
    assert "__all__" in targets, f"torchshade.{name} must declare __all__"


@pytest.mark.parametrize("name", PACKAGES)
def test_distribution_metadata(root: Path, name: str) -> None:
    meta = project(root, name)
    assert meta["name"] == f"torchshade-{name}"
    requirements = meta["dependencies"]
    assert isinstance(requirements, list)
    assert "torch>=2.13" in requirements
    declared = {r.split("==")[0].removeprefix("torchshade-") for r in requirements if r.startswith("torchshade-")}
    assert declared == DECLARED[name]
    pinned = {r.split("==")[1] for r in requirements if r.startswith("torchshade-")}
    assert pinned <= {meta["version"]}, "sibling packages are pinned to the same version"


def test_versions_in_lockstep(root: Path) -> None:
    versions = {name: project(root, name)["version"] for name in PACKAGES}
    assert len(set(versions.values())) == 1, versions


def test_every_environment_pins_torch_exactly(root: Path) -> None:
    # Any range resolves to the registry's CUDA build (TOOLING.md).
    config = tomllib.loads((root / "hatch.toml").read_text())
    for name, env in config["envs"].items():
        for requirement in env.get("dependencies", []) + env.get("extra-dependencies", []):
            if requirement.startswith("torch") and not requirement.startswith("torchshade"):
                assert requirement == "torch==2.13.0", f"hatch env {name!r}: {requirement!r}"


def test_no_machine_paths_committed(root: Path) -> None:
    configs = [root / "hatch.toml", root / "mypy.ini", root / "pytest.toml", *root.glob("packages/*/pyproject.toml")]
    for config in configs:
        text = config.read_text()
        for marker in ("/opt/", "/root/", "/home/", "/work/", "find-links"):
            assert marker not in text, f"{config} names {marker!r}: no machine path may be committed"


@pytest.mark.parametrize("name", PACKAGES)
def test_each_wheel_carries_the_license_it_declares(root: Path, name: str) -> None:
    meta = project(root, name)
    assert meta["license"] == "BSD-3-Clause"
    assert meta["license-files"] == ["LICENSE"]
    text = (root / "packages" / name / "LICENSE").read_text()
    assert text == (root / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License")
