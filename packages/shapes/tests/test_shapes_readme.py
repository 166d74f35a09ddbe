"""The README's examples run and do what the README says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from torchshade.shapes import ConstraintViolationError, GuardOnDataDependentSymNode

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_readme_example_runs_until_the_data_dependent_error(capsys: pytest.CaptureFixture[str]) -> None:
    namespace: dict[str, object] = {}
    with pytest.raises(GuardOnDataDependentSymNode, match=r"torch._check\(u0 > 5\)"):
        exec(compile(_blocks()[0], str(README), "exec"), namespace)  # noqa: S102 - our README
    out = capsys.readouterr().out
    assert "torch.Size([2*s0, s1])" in out and "x.size()[0] > x.size()[1]  # s0 > s1" in out
    assert "u0 >= 2" in out


def test_readme_constraint_example() -> None:
    import torch

    namespace: dict[str, object] = {}
    exec(compile(_blocks()[0].split("m = torch.empty")[0], str(README), "exec"), namespace)  # noqa: S102
    namespace["x"] = torch.empty(4, 3)
    namespace["y"] = torch.empty(8)
    from torchshade.shapes import ShapeEnv

    namespace["env"] = ShapeEnv()
    code = _blocks()[1].split("#")[0]
    exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - our README
    env = namespace["env"]
    assert isinstance(env, ShapeEnv)
    sizes = env.create_symbolic_sizes_strides_storage_offset(torch.empty(4), "z", dims={0: namespace["batch"]})[0]  # type: ignore[dict-item]  # a Dim from the README
    with pytest.raises(ConstraintViolationError, match=r"Dim\('batch', min=4, max=4\)"):
        bool(sizes[0] == 4)
