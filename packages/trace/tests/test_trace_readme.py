"""The README's first example runs as it says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from torchshade.trace import GuardViolationError

README = Path(__file__).resolve().parents[1] / "README.md"


def test_first_example_runs_and_its_last_call_raises() -> None:
    code = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)[0]
    lines = [line for line in code.splitlines() if not line.lstrip().startswith("#")]
    failing = next(i for i, line in enumerate(lines) if "gm(torch.ones(3))" in line)
    namespace: dict[str, object] = {}
    exec(compile("\n".join(lines[:failing]), str(README), "exec"), namespace)  # noqa: S102 - our README
    with pytest.raises(GuardViolationError, match=r"`5 <= x\.size\(\)\[0\]` \(5 <= s0\) failed with x\.size\(\)\[0\] = 3"):
        exec(lines[failing], namespace)  # noqa: S102
