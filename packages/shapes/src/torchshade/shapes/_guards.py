"""Guards and runtime asserts: the conditions a traced program relies on.

A *guard* is a condition on backed symbols that held for the example inputs
and that the trace depends on; new inputs must satisfy every guard to reuse
the trace.  A *runtime assert* is a condition on unbacked symbols the user
promised with ``torch._check``; it can only be checked when the program runs.

Each carries its provenance: the user's ``file:line`` (the first frame
outside torch, sympy, the standard library and torchshade) and, when
different, the framework frame that asked (e.g. torch's reshape reference).
"""

from __future__ import annotations

import os
import sys
import sysconfig
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import sympy
import torch

_INTERNAL_DIRS = tuple(
    os.path.dirname(os.path.abspath(path)) + os.sep
    for path in (torch.__file__, sympy.__file__, os.path.dirname(__file__))
)
_TORCHSHADE = os.sep + "torchshade" + os.sep
_internal_cache: dict[str, bool] = {}
_STDLIB = sysconfig.get_paths()["stdlib"]


def _is_internal(filename: str) -> bool:
    found = _internal_cache.get(filename)
    if found is None:
        found = (
            filename.startswith(_INTERNAL_DIRS)
            or _TORCHSHADE in filename
            or filename.startswith("<frozen")
            or (filename.startswith(_STDLIB) and "site-packages" not in filename)
        )
        _internal_cache[filename] = found
    return found


_PLUMBING = (
    os.sep + "torch" + os.sep + "__init__.py",
    os.sep + "experimental" + os.sep + "symbolic_shapes.py",
    os.sep + "experimental" + os.sep + "sym_node.py",
    os.sep + "sympy" + os.sep,
    _TORCHSHADE,
)


def _is_plumbing(filename: str) -> bool:
    """Frames of SymInt magic methods and helpers: never the interesting framework line."""
    return any(part in filename for part in _PLUMBING)


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a guard was asked for: the user's line and the framework line that asked."""

    file: str
    line: int
    function: str
    framework: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line} in {self.function}"
        return f"{where} (via {self.framework})" if self.framework else where

    @staticmethod
    def capture() -> Provenance:
        """The innermost user frame on the current Python stack."""
        frame: FrameType | None = sys._getframe(1)
        framework = ""
        while frame is not None:
            name = frame.f_code.co_filename
            if not _is_internal(name):
                return Provenance(name, frame.f_lineno, frame.f_code.co_name, framework)
            if not framework and not _is_plumbing(name):
                short = name.split("site-packages" + os.sep)[-1]
                framework = f"{short}:{frame.f_lineno} in {frame.f_code.co_name}"
            frame = frame.f_back
        return Provenance("<unknown>", 0, "<unknown>", framework)


@dataclass(frozen=True)
class Guard:
    """One guard as data: the sympy condition, its text, Python source and origin.

    ``kind`` is one of ``"decision"`` (a branch the program took),
    ``"equality"`` (two sizes must be equal, or a size must be a constant),
    ``"divisible"``, ``"bound"`` (a symbol's range) or ``"duck"`` (two inputs
    share one symbol because their example sizes were equal).
    """

    expr: Any
    text: str
    python: str
    origin: Provenance
    kind: str

    def __str__(self) -> str:
        return f"{self.python}  # {self.text}, from {self.origin}"


@dataclass(frozen=True)
class RuntimeAssert:
    """A condition on unbacked symbols promised by ``torch._check``, checked at run time."""

    expr: Any
    text: str
    origin: Provenance

    def __str__(self) -> str:
        return f"{self.text}  # from {self.origin}"


@dataclass(frozen=True)
class GuardFailure:
    """A guard that new inputs violate, with the values it saw."""

    guard: Guard
    values: dict[str, object] = field(default_factory=dict)

    def __str__(self) -> str:
        seen = ", ".join(f"{k} = {v!r}" for k, v in self.values.items())
        return (
            f"guard `{self.guard.python}` ({self.guard.text}) failed"
            f"{' with ' + seen if seen else ''}; it comes from {self.guard.origin}"
        )


@dataclass
class GuardRecord:
    """A guard as recorded during tracing; turned into ``Guard`` lazily."""

    expr: Any
    origin: Provenance
    kind: str
    extra_text: str = ""
    sources: tuple[str, ...] = ()
