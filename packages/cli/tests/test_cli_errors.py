"""The command's other errors, in process: the words, stderr, and the exit status."""

from pathlib import Path

import pytest
from torchshade.cli import main

NO_SPECS = '''
import torch

def build():
    return torch.nn.Linear(4, 2)

def forward_raises():
    class Bad(torch.nn.Module):
        def forward(self, x):
            return x.view(3, -1, 7)
    return Bad(), {"x": "f32[batch, 4]"}
'''


@pytest.fixture
def source(tmp_path: Path) -> Path:
    # In a folder named torchshade, as a clone of this repository is: the user's
    # frames must still be shown (they are told apart by real locations, not names).
    path = tmp_path / "torchshade" / "m.py"
    path.parent.mkdir()
    path.write_text(NO_SPECS)
    return path


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str], status: int) -> str:
    assert main(argv) == status
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("torchshade: ")
    return captured.err


def test_memory_needs_points(capsys: pytest.CaptureFixture[str]) -> None:
    err = _fails(["memory", "gpt2"], capsys, 2)
    assert "give the sizes to evaluate at, e.g. --at batch=1,seq=1." in err


def test_factory_without_specs_needs_inputs(source: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _fails(["memory", f"{source}:build", "--at", "batch=2"], capsys, 2)
    assert "gives no input specs; pass each input as --input NAME=SPEC" in err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _fails(["trace", f"{tmp_path}/absent.py:build"], capsys, 2)
    assert f"no file '{tmp_path}/absent.py'. Give the path of an existing Python file." in err


def test_model_that_raises_while_running(source: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _fails(["memory", f"{source}:forward_raises", "--at", "batch=2"], capsys, 1)
    assert "running the model on fake inputs raised" in err
    assert f'File "{source}", line 10, in forward' in err and "return x.view(3, -1, 7)" in err


def test_fake_trace_needs_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    err = _fails(["trace", "gpt2", "--mode", "fake"], capsys, 2)
    assert "--mode fake: static sizes needed, e.g. --at batch=2,seq=2." in err
