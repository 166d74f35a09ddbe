"""``torchshade memory --plot FILE``: memory along the program, and against one dimension (matplotlib).

Left: live activation bytes after each op of the step at the first ``--at``
point, the start of the backward pass marked. Right: peak activation and
saved-for-backward bytes as the last named dimension varies, the others
held at the first point. The file's suffix picks the format (``.png``,
``.svg``, ``.pdf``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ._memory import MemoryReport, PointReport

SWEEP = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0)
"""The swept dimension's values, as multiples of its value at the first point."""


def sweep_points(first: dict[str, int], dim: str) -> list[dict[str, int]]:
    """The first point with ``dim`` scaled by each factor of ``SWEEP`` (at least 2)."""
    return [{**first, dim: max(2, round(first[dim] * f))} for f in SWEEP]


def plot_memory(report: MemoryReport, sweep: Sequence[PointReport], dim: str, path: Path) -> None:
    """Draw both panels into ``path``."""
    import matplotlib

    matplotlib.use("Agg")  # files only: never a window
    import matplotlib.pyplot as plt

    gib = 2.0**30
    fig, (along, against) = plt.subplots(1, 2, figsize=(12, 4.5))
    first = ",".join(f"{k}={v}" for k, v in report.points[0].dims.items())
    along.plot(range(1, len(report.timeline) + 1), [b / gib for b in report.timeline], lw=1)
    along.axvline(report.backward_at, color="gray", ls="--", lw=1, label="backward starts")
    along.set(xlabel="op", ylabel="live activations (GiB)", title=f"{report.target} at {first}")
    along.legend()
    xs = [p.dims[dim] for p in sweep]
    against.plot(xs, [p.peak_activation_bytes / gib for p in sweep], "o-", label="peak activations")
    against.plot(xs, [p.saved_bytes / gib for p in sweep], "s-", label="saved for backward")
    against.set(xscale="log", xlabel=dim, ylabel="GiB", title=f"against {dim}")
    against.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
