"""The developer tools can fail, and say why in words a developer can act on."""

from __future__ import annotations

import ast
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

Load = Callable[[str], ModuleType]


def test_import_rule_catches_torchs_own_subsystems(load_tool: Load, tmp_path: Path) -> None:
    rule = load_tool("import_rule")
    workspace = load_tool("_workspace")
    fake = next(p for p in workspace.packages() if p.name == "fake")
    source = tmp_path / "leaky.py"
    source.write_text(
        "import torch\n"
        "def f() -> None:\n"
        "    from torch.fx.experimental import symbolic_shapes\n"
        "    import importlib; importlib.import_module('torch._subclasses.fake_tensor')\n"
        "import torchshade.trace\n"
        "import torchshade.shapes\n"
    )
    problems = rule.check_file(source, fake, tmp_path)
    assert len(problems) == 3, problems
    assert "leaky.py:3: imports torch.fx.experimental.symbolic_shapes: torch's own" in problems[0]
    assert "leaky.py:4: imports torch._subclasses.fake_tensor" in problems[1]
    assert "torchshade-trace is not declared in fake/pyproject.toml (declared: shapes)" in problems[2]


def test_import_rule_passes_on_the_workspace(load_tool: Load, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(root)
    assert load_tool("import_rule").main() == 0


def test_tools_refuse_to_run_elsewhere(load_tool: Load, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(root / "packages" / "shapes")
    with pytest.raises(SystemExit) as exit:
        load_tool("import_rule").main()
    message = str(exit.value.code)
    assert "tools/import_rule.py: run this from the repository root" in message
    assert "hatch takes that package as the whole project" in message


def test_typing_coverage_sees_an_unannotated_function(load_tool: Load, tmp_path: Path) -> None:
    coverage = load_tool("typing_coverage")
    module = tmp_path / "half.py"
    module.write_text("def typed(x: int) -> int:\n    return x\n\n\ndef untyped(x):\n    return x\n")
    rows = coverage.linecount([module])
    annotated_lines, lines, annotated_functions, functions = rows["half"]
    assert (annotated_functions, functions) == (1, 2)
    total = coverage.Coverage()
    total.add(rows["half"])
    assert not total.complete


def test_code_size_counts_code_only(load_tool: Load) -> None:
    size = load_tool("code_size")
    source = '"""Module doc."""\n\n# a comment\ndef f(x):\n    """Doc\n    on two lines."""\n    y = (x +\n         1)\n    return y\n'
    tree = ast.parse(source)
    lines = size.code_lines(source, tree)
    assert lines == {4, 7, 8, 9}
    (function,) = size.functions(tree, lines, "m.py")
    assert (function.name, function.lines) == ("f", 4)


_PARTS_CHILD = """
import sys
sys.path.insert(0, {tools!r})
from _callgrind import mark
def work(n):
    total = 0
    for i in range(n):
        total += i * i
    return total
work(1000)
mark()
work({small})
mark()
work({large})
{last}
"""


def _parts_child(root: Path, small: int, large: int, last_mark: bool) -> list[str]:
    code = _PARTS_CHILD.format(tools=str(root / "tools"), small=small, large=large,
                               last="mark()" if last_mark else "")
    return [sys.executable, "-c", code]


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="needs valgrind's callgrind")
def test_callgrind_counts_each_part_apart(load_tool: Load, root: Path) -> None:
    callgrind = load_tool("_callgrind")
    small, large = callgrind.count(_parts_child(root, 20_000, 60_000, last_mark=True), parts=2)
    # the loop is most of each part: three times the iterations, about three times the instructions
    assert 2.7 < large / small < 3.3, (small, large)
    with pytest.raises(RuntimeError, match="the child marked 1 parts, 2 expected"):
        callgrind.count(_parts_child(root, 100, 100, last_mark=False), parts=2)


def test_callgrind_says_when_valgrind_is_missing(load_tool: Load, monkeypatch: pytest.MonkeyPatch) -> None:
    callgrind = load_tool("_callgrind")
    monkeypatch.setattr(callgrind.shutil, "which", lambda name: None)
    with pytest.raises(callgrind.CallgrindMissing, match=r"valgrind is not installed: instruction counts need"):
        callgrind.count(["true"], parts=1)
