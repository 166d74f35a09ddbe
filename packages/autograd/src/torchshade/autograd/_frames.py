"""The user's line: the innermost stack frame that is not library code.

Which files are library code (our packages, torch, sympy, the standard
library, by their real locations on disk) is one rule for the whole
project, ``torchshade.shapes.is_library_file``; a user's folder that happens
to be called ``torchshade`` is user code.
"""

from __future__ import annotations

import sys

from torchshade.shapes import is_library_file


def user_line(skip: int = 1) -> str:
    """``file.py:12 in fn`` for the innermost frame of user code (below the caller's ``skip``)."""
    frame = sys._getframe(skip)
    while frame is not None:
        code = frame.f_code
        if not is_library_file(code.co_filename):
            return f"{code.co_filename}:{frame.f_lineno} in {code.co_name}"
        back = frame.f_back
        if back is None:
            break
        frame = back
    return "<unknown line>"
