"""The user's line: the innermost stack frame outside torch and torchshade."""

from __future__ import annotations

import os
import sys

import torch

import torchshade

_LIBRARY_DIRS: tuple[str, ...] = (
    os.path.dirname(torch.__file__) + os.sep,
    *(os.path.join(path, "") for path in torchshade.__path__),
    os.path.dirname(os.__file__) + os.sep + "contextlib.py",
)


def user_line(skip: int = 1) -> str:
    """``file.py:12 in fn`` for the innermost frame not in torch, torchshade or contextlib."""
    frame = sys._getframe(skip)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_LIBRARY_DIRS) and not filename.startswith("<frozen"):
            return f"{filename}:{frame.f_lineno} in {frame.f_code.co_name}"
        back = frame.f_back
        if back is None:
            break
        frame = back
    return "<unknown line>"
