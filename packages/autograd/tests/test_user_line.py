"""The user's file:line in culprit messages and reports, also from a folder named torchshade.

Which frames are the user's is torchshade.shapes' rule (real locations on
disk, never a name in the path): a user's project folder called
``torchshade`` (a clone of this repository is one) is user code.
"""

import runpy
from pathlib import Path
from typing import Any

import pytest

from torchshade.autograd import SavedTensorModifiedError

SCRIPT = '''\
import torch
from torchshade.autograd import record_inplace_culprits, saved_tensors_report


def train():
    a = torch.randn(3, requires_grad=True)
    with record_inplace_culprits():
        h = a * 2
        y = h.sin().sum()
        h.add_(1)  # the culprit
        y.backward()


def report():
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh())
    return saved_tensors_report(model, torch.randn(2, 4))  # the report
'''


def _run_script(folder: Path) -> tuple[Path, dict[str, Any]]:
    folder.mkdir(parents=True)
    path = folder / "train.py"
    path.write_text(SCRIPT)
    return path, runpy.run_path(str(path))


def _line(marker: str) -> int:
    return next(i for i, line in enumerate(SCRIPT.splitlines(), 1) if marker in line)


@pytest.mark.parametrize("folder", ["project", "torchshade", "torchshade/src/torchshade"])
def test_culprit_names_the_user_line(tmp_path: Path, folder: str) -> None:
    path, script = _run_script(tmp_path / folder)
    with pytest.raises(SavedTensorModifiedError) as info:
        script["train"]()
    where = f"{path}:{_line('# the culprit')} in train"
    assert f"It was changed in place by aten.add_.Tensor at {where} (version 0 -> 1)." in str(info.value)


@pytest.mark.parametrize("folder", ["project", "torchshade", "torchshade/src/torchshade"])
def test_report_names_the_user_line(tmp_path: Path, folder: str) -> None:
    path, script = _run_script(tmp_path / folder)
    report = script["report"]()
    assert len(report.entries) >= 2  # linear's input, tanh's output
    assert {e.line for e in report.entries} == {f"{path}:{_line('# the report')} in report"}
