"""The real ``torchshade`` command, in a subprocess: output, JSON, errors and exit status."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sympy
import torch
from torchshade.cli._llama import LLAMA_70B

COMMAND = Path(sys.executable).parent / "torchshade"
USER_MODEL = '''
import torch

class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(16, 32)
        self.b = torch.nn.Linear(32, 4)

    def forward(self, x):
        if x.shape[0] > 3:
            x = x * 2
        return self.b(torch.relu(self.a(x)))

def build():
    return Net(), {"x": "f32[batch, 16]"}

def broken():
    return Net(widths=3)
'''


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    assert COMMAND.exists(), f"the console script is not installed next to {sys.executable}"
    return subprocess.run([str(COMMAND), *args], capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.fixture
def user_file(tmp_path: Path) -> Path:
    path = tmp_path / "net.py"
    path.write_text(USER_MODEL)
    return path


def test_main_job_llama_70b_memory_json() -> None:
    done = run("memory", "llama-70b", "--input", "tokens=i64[batch,seq]", "--at", "batch=1,seq=4096",
               "--at", "batch=2,seq=1024", "--train", "--format", "json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no progress display when stderr is not a terminal
    report = json.loads(done.stdout)
    assert sorted(report) == [  # the documented schema, torchshade.memory/1: a change here is a new version
        "adam_state_bytes", "data_dependent", "format", "gradient_bytes", "guards", "inputs", "ops",
        "parameters", "points", "saved_for_backward_formula", "target", "train",
    ]  # fmt: skip
    assert sorted(report["points"][0]) == ["dims", "peak_activation_bytes", "peak_formula", "saved_bytes", "total_bytes"]
    c = LLAMA_70B
    layer = 2 * c.dim + c.dim * c.dim * (2 + 2 * c.kv_heads / c.heads) + 3 * c.dim * c.ffn
    assert report["parameters"]["count"] == 2 * c.vocab * c.dim + c.dim + c.layers * layer
    assert report["parameters"]["bytes"] == 2 * report["parameters"]["count"]  # bf16
    assert report["gradient_bytes"] == report["parameters"]["bytes"]
    assert report["adam_state_bytes"] == 2 * report["parameters"]["bytes"]
    saved = sympy.sympify(report["saved_for_backward_formula"])
    for point in report["points"]:
        assert saved.subs(point["dims"]) == point["saved_bytes"]
        assert sympy.sympify(point["peak_formula"]).subs(point["dims"]) == point["peak_activation_bytes"]
        assert point["peak_activation_bytes"] >= point["saved_bytes"]
        assert point["total_bytes"] == 4 * report["parameters"]["bytes"] + point["peak_activation_bytes"]
    assert report["format"] == "torchshade.memory/1"


def test_models_lists_the_built_in_models() -> None:
    done = run("models", "--format", "json")
    assert done.returncode == 0, done.stderr
    rows = {r["name"]: r for r in json.loads(done.stdout)}
    assert rows["gpt2"]["parameters"] == 124439808  # GPT-2 small as published (tied head)
    with torch.device("meta"):
        resnet = __import__("torchshade.cli._resnet_moe", fromlist=["ResNet50"]).ResNet50()
    assert rows["resnet50"]["parameters"] == sum(p.numel() for p in resnet.parameters())
    assert "llama-70b" in run("models").stdout


def test_trace_of_a_user_factory(user_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "trace.json"
    done = run("trace", f"{user_file}:build", "--format", "json", "--out", str(out))
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["format"] == "torchshade.trace/1" and report["outputs"] == ["f32[batch, 4]"]
    assert sorted(report) == ["format", "guards", "inputs", "mode", "nodes", "op_histogram", "outputs", "target"]
    assert sorted(report["nodes"][0]) == ["args", "line", "name", "op", "target", "value"]
    assert report["op_histogram"]["aten.addmm.default"] == 2
    guard = next(g for g in report["guards"] if "batch" in g["guard"] and "4" in g["guard"])
    assert f"{user_file}:11" in guard["origin"]  # the user's `if x.shape[0] > 3:`
    text = run("trace", f"{user_file}:build", "--mode", "fake", "--at", "batch=5")
    assert text.returncode == 0, text.stderr
    assert "outputs: f32[5, 4]" in text.stdout and "aten.relu.default" in text.stdout


def test_bad_target() -> None:
    done = run("memory", "llama-8b", "--at", "batch=1,seq=8")
    assert done.returncode == 2
    assert "TARGET 'llama-8b' is not a built-in model (gpt2, llama-7b, llama-70b, resnet50, moe, rnn)" in done.stderr
    assert "Run `torchshade models`" in done.stderr


def test_bad_spec_points_at_the_position() -> None:
    done = run("memory", "llama-70b", "--input", "tokens=i64[batch,,seq]", "--at", "batch=1,seq=8")
    assert done.returncode == 2
    assert "expected a dimension (a name or a number) at position 10:\n  i64[batch,,seq]\n            ^" in done.stderr


def test_unknown_dimension_in_at() -> None:
    done = run("memory", "gpt2", "--at", "batch=1,sequence=8")
    assert done.returncode == 2
    assert "unknown dimension 'sequence'; the inputs' named dimensions are batch, seq" in done.stderr


def test_factory_that_raises_shows_the_users_traceback(user_file: Path) -> None:
    done = run("memory", f"{user_file}:broken", "--at", "batch=4")
    assert done.returncode == 1
    assert "the factory raised" in done.stderr
    assert f'File "{user_file}", line 19, in broken' in done.stderr
    assert "TypeError: Net.__init__() got an unexpected keyword argument 'widths'" in done.stderr
    missing = run("memory", f"{user_file}:nothing", "--at", "batch=4")
    assert missing.returncode == 2 and "has no function 'nothing'; its functions are Net, broken, build" in missing.stderr
