"""The user's line is found wherever the user's code lives, even in a folder named ``torchshade``.

Internal frames are decided by the real locations of our packages, torch,
sympy and the standard library, never by a name inside a path: a clone of
this repository (``git clone`` makes a folder ``torchshade``) or a user's
project of that name is user code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

USER_SCRIPT = textwrap.dedent(
    """
    import json, torch, torch._refs
    from torchshade.shapes import GuardOnDataDependentSymNode, ShapeEnv

    def lines_of(marker):
        with open(__file__) as f:
            return [i + 1 for i, line in enumerate(f) if line.rstrip().endswith(marker)]

    def user_function(env):
        (s0, s1), _, _ = env.create_symbolic_sizes_strides_storage_offset(torch.empty(4, 3), "x")  # CONVERT
        if s0 > s1:  # DECIDE
            pass
        m = torch.empty_strided((s0, s1), (s1, 1), device="meta")
        torch._refs.reshape(m, (2, -1))  # RESHAPE
        u = env.create_unbacked_symint()
        torch._check(u >= 2)  # CHECK
        try:
            bool(u > 5)  # DATA
        except GuardOnDataDependentSymNode as e:
            return str(e)
        return ""

    env = ShapeEnv()
    message = user_function(env)
    first, reshape = env.guards[0], env.guards[1:]
    print(json.dumps({
        "file": __file__,
        "lines": {m: lines_of(m)[0] for m in ("# CONVERT", "# DECIDE", "# RESHAPE", "# CHECK", "# DATA")},
        "decision": [first.origin.file, first.origin.line, first.origin.function],
        "reshape": [[g.origin.file, g.origin.line, g.origin.framework] for g in reshape],
        "inputs": [[g.kind, g.origin.file, g.origin.line] for g in env.input_guards()],
        "assert": [env.runtime_asserts[0].origin.file, env.runtime_asserts[0].origin.line],
        "message": message,
    }))
    """
)


@pytest.mark.parametrize("folders", [("torchshade",), ("torchshade", "packages", "shapes", "torchshade")])
def test_guard_origins_in_a_folder_named_torchshade(tmp_path: Path, folders: tuple[str, ...]) -> None:
    where = tmp_path.joinpath(*folders)
    where.mkdir(parents=True)
    script = where / "user.py"
    script.write_text(USER_SCRIPT)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    run = subprocess.run([sys.executable, str(script)], cwd=where, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    file, lines = seen["file"], seen["lines"]
    assert os.path.realpath(file) == os.path.realpath(script)
    assert seen["decision"] == [file, lines["# DECIDE"], "user_function"]
    assert seen["reshape"], "torch's reshape reference decides on the sizes"
    for origin_file, line, framework in seen["reshape"]:
        assert (origin_file, line) == (file, lines["# RESHAPE"])
        assert framework.startswith("torch/_") and "torchshade" not in framework
    assert {(f, line) for _, f, line in seen["inputs"]} >= {(file, lines["# CONVERT"])}
    assert all(f == file for _, f, _ in seen["inputs"]), seen["inputs"]
    assert seen["assert"] == [file, lines["# CHECK"]]
    assert f"{file}:{lines['# DATA']} in user_function" in seen["message"]
    assert "<unknown>" not in run.stdout
