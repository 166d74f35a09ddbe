"""The user's frames of a traceback: everything but torch's and torchshade's own.

Decided by real locations on disk (torch's folder, each installed torchshade
package's folder), never by a name inside a path: a user's project, or a
clone of this repository, may well live in a folder called ``torchshade``.
"""

from __future__ import annotations

import os
import traceback
from types import TracebackType

import torch

import torchshade


def _real_dir(path: str) -> str:
    return os.path.join(os.path.realpath(path), "")


_TORCH_DIR = _real_dir(os.path.dirname(torch.__file__))


def user_frames(tb: TracebackType | None) -> list[traceback.FrameSummary]:
    """The frames of ``tb`` outside torch and torchshade, outermost first."""
    ours = (_TORCH_DIR, *(_real_dir(path) for path in torchshade.__path__))
    return [f for f in traceback.extract_tb(tb) if not os.path.realpath(f.filename).startswith(ours)]
