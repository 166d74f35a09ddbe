"""Instructions executed by the parts of a child process, counted by valgrind's callgrind.

A wall clock on a shared machine moves with other load; an instruction count
does not (the same binary, inputs and environment give the same count). The
benchmarks run their measured code in a child process under callgrind and
call :func:`mark` between parts: callgrind cuts a dump of its counters before
every ``getppid()`` (``--dump-before=getppid``), so each part's instructions
land in a dump of their own. Dump 1 is everything before the first mark
(start-up, imports, warm-up); the part after the last mark is not reported.

    # in the child
    mark()                # part 1 starts
    ... part 1 ...
    mark()                # part 2 starts
    ... part 2 ...
    mark()                # the end of the last part

    # in the parent
    part_1, part_2 = count([sys.executable, __file__, "--child"], parts=2)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path


class CallgrindMissing(RuntimeError):
    """valgrind is not installed."""


def mark() -> None:
    """End one measured part and begin the next (callgrind dumps before every getppid)."""
    os.getppid()


def count(command: Sequence[str], parts: int, env: dict[str, str] | None = None) -> list[int]:
    """Run ``command`` under callgrind; the instructions of each of its first ``parts`` parts.

    Raises :class:`CallgrindMissing` without valgrind, and ``RuntimeError`` with
    the end of the child's stderr if it fails or marks fewer parts.
    """
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise CallgrindMissing(
            "valgrind is not installed: instruction counts need valgrind's callgrind "
            "(on Debian: apt-get install valgrind)"
        )
    with tempfile.TemporaryDirectory(prefix="callgrind-") as folder:
        out = Path(folder) / "callgrind.out"
        run = [valgrind, "--tool=callgrind", "--dump-before=getppid", f"--callgrind-out-file={out}", *command]
        done = subprocess.run(run, capture_output=True, text=True, check=False, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed under callgrind:\n{done.stderr[-3000:]}")
        counts = []
        for k in range(2, 2 + parts):  # dump 1 is everything before the first mark
            dump = Path(f"{out}.{k}")
            if not dump.exists():
                raise RuntimeError(f"the child marked {k - 2} parts, {parts} expected:\n{done.stderr[-3000:]}")
            counts.append(_total(dump))
    return counts


def _total(dump: Path) -> int:
    with dump.open() as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError(f"{dump.name}: no summary line")
