"""The user's frames at the moment a node is made: ``stack_trace`` and ``nn_module_stack``.

A trace remembers the frame that called the user's function; for each node
it walks from the current frame up to that one and keeps the frames of user
code (not torch, not torchshade, not the standard library), innermost last,
as ``(file, line, function)`` triples. They are formatted into
``node.meta["stack_trace"]`` (traceback's format) once, when the graph is
finished.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Mapping
from types import FrameType

import torch
from torchshade.shapes import is_library_file

Frame = tuple[str, int, str]


def user_frames(entry: FrameType | None) -> tuple[Frame, ...]:
    """User frames between the caller and ``entry`` (the frame that called the program)."""
    out: list[Frame] = []
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame is not entry:
        code = frame.f_code
        if not is_library_file(code.co_filename):
            out.append((code.co_filename, frame.f_lineno, code.co_name))
        frame = frame.f_back
    out.reverse()
    return tuple(out)


def module_stack(entry: FrameType | None, names: Mapping[int, str]) -> dict[str, tuple[str, str]]:
    """The ``nn.Module``s whose ``forward`` is running, outermost first: path -> (path, type)."""
    found: list[tuple[str, str]] = []
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame is not entry:
        if frame.f_code.co_name == "forward":
            module = frame.f_locals.get("self")
            if isinstance(module, torch.nn.Module):
                cls = type(module)
                path = names.get(id(module), cls.__name__)
                found.append((path, f"{cls.__module__}.{cls.__qualname__}"))
        frame = frame.f_back
    found.reverse()
    return {path: (path, kind) for path, kind in found}


class StackFormatter:
    """Formats frame tuples as traceback text, each distinct stack once."""

    def __init__(self) -> None:
        self._done: dict[tuple[Frame, ...], str] = {}

    def __call__(self, frames: tuple[Frame, ...]) -> str:
        text = self._done.get(frames)
        if text is None:
            summary = traceback.StackSummary.from_list([(f, n, fn, None) for f, n, fn in frames])
            text = self._done[frames] = "".join(summary.format())
        return text
