"""The progress display: drawn on a terminal, absent when stderr is a pipe."""

import os
import pty
import subprocess
import sys
import threading
from pathlib import Path

COMMAND = Path(sys.executable).parent / "torchshade"
MODEL = '''
import torch

def build():
    return torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU()), {"input": "f32[batch, 8]"}
'''


def test_progress_on_a_terminal_only(tmp_path: Path) -> None:
    source = tmp_path / "tiny.py"
    source.write_text(MODEL)
    argv = [str(COMMAND), "memory", f"{source}:build", "--at", "batch=4"]
    piped = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert piped.returncode == 0 and piped.stderr == ""
    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:  # read while the command writes, so a full pty buffer never blocks it
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=slave, text=True, timeout=300)
    os.close(slave)
    reader.join(timeout=60)
    os.close(master)
    assert done.returncode == 0
    drawn = b"".join(chunks)
    assert b"memory of" in drawn and b"tiny.py:build" in drawn  # the spinner's text, wrapped at the pty's width
    assert done.stdout.splitlines()[:-1] == piped.stdout.splitlines()[:-1]  # all but the timing line
