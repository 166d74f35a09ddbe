"""The user's frames are found wherever the user's code lives, a folder named torchshade too."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

USER_SCRIPT = textwrap.dedent(
    """
    import torch
    from torchshade.trace import make_fx

    def double_then_sum(x):
        y = x * 2
        return y.sum()

    gm = make_fx(double_then_sum, tracing_mode="symbolic")(torch.randn(3, 4))
    for node in gm.graph.nodes:
        if node.op == "call_function" and "mul" in str(node.target):
            print(node.meta["stack_trace"])
    """
)


def test_stack_trace_of_a_script_in_a_folder_named_torchshade(tmp_path: Path) -> None:
    # A clone of this repository is a folder named torchshade: a name inside a
    # path must not make the user's code look like ours.
    folder = tmp_path / "torchshade" / "packages" / "trace"
    folder.mkdir(parents=True)
    script = folder / "user_model.py"
    script.write_text(USER_SCRIPT)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=folder, check=False)
    assert done.returncode == 0, done.stderr
    assert "user_model.py" in done.stdout and "in double_then_sum" in done.stdout
    assert "y = x * 2" in done.stdout
