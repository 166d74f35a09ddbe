"""``torchshade memory --plot``: a PNG or SVG file, written where asked, the report unchanged."""

import json
from pathlib import Path

import pytest
from torchshade.cli import main

MODEL = '''
import torch

def build():
    net = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.GELU(), torch.nn.Linear(64, 8))
    return net, {"input": "f32[batch, 32]"}
'''


@pytest.mark.parametrize(("suffix", "magic"), [(".png", b"\x89PNG"), (".svg", b"<?xml")])
def test_plot_writes_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str, magic: bytes) -> None:
    source = tmp_path / "mlp.py"
    source.write_text(MODEL)
    plot = tmp_path / f"memory{suffix}"
    argv = ["memory", f"{source}:build", "--at", "batch=64", "--format", "json"]
    assert main([*argv, "--plot", str(plot)]) == 0
    with_plot = json.loads(capsys.readouterr().out)
    assert plot.read_bytes().startswith(magic)
    assert main(argv) == 0
    without = json.loads(capsys.readouterr().out)
    assert with_plot["points"] == without["points"] and len(without["points"]) == 1
