"""The user's frames of a traceback: everything but torch's and torchshade's own."""

from __future__ import annotations

import traceback
from types import TracebackType

from torchshade.shapes import is_library_file


def user_frames(tb: TracebackType | None) -> list[traceback.FrameSummary]:
    """The frames of ``tb`` outside torch, sympy, the standard library and torchshade
    (by real location, so a user's folder called ``torchshade`` is user code)."""
    return [f for f in traceback.extract_tb(tb) if not is_library_file(f.filename)]
