"""``torchshade trace`` of the built-in models, in process."""

import json

import pytest
from torchshade.cli import main


def test_rnn_traces_its_time_loop_as_one_scan_node(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "rnn", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["op_histogram"]["scan"] == 1 and report["outputs"] == ["f32[batch, seq, 1024]"]
