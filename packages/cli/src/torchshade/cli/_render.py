"""Text output of the three commands (``--format json`` is each report's ``to_json()``)."""

from __future__ import annotations

from ._memory import MemoryReport
from ._trace import TraceReport


def human(n: int) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def count(n: int) -> str:
    """``70553706496`` -> ``"70.55B"``."""
    for div, suffix in ((10**9, "B"), (10**6, "M"), (10**3, "K")):
        if n >= div:
            return f"{n / div:.2f}{suffix}"
    return str(n)


def models_text(rows: list[dict[str, object]]) -> str:
    lines = [f"{'name':<10} {'parameters':>11} {'bytes':>10}  {'input':<30} description"]
    for r in rows:
        params, nbytes, inputs = r["parameters"], r["parameter_bytes"], r["inputs"]
        assert isinstance(params, int) and isinstance(nbytes, int) and isinstance(inputs, list)
        lines.append(f"{r['name']!s:<10} {count(params):>11} {human(nbytes):>10}  {' '.join(inputs):<30} {r['description']}")
    return "\n".join(lines)


def memory_text(r: MemoryReport) -> str:
    inputs = " ".join(f"{s.name}={s}" for s in r.inputs)
    lines = [
        f"{r.target}  {inputs}  {'training step, Adam' if r.train else 'forward + backward'}",
        f"  parameters          {count(r.parameter_count)} = {human(r.parameter_bytes)}",
        f"  saved for backward  {r.saved_formula} bytes",
    ]
    for p in r.points:
        at = ",".join(f"{k}={v}" for k, v in p.dims.items())
        lines += [
            f"at {at}:",
            f"  saved for backward  {human(p.saved_bytes):>10}",
            f"  peak activations    {human(p.peak_activation_bytes):>10}   = {p.peak_formula} bytes",
        ]
        if r.train:
            lines += [f"  gradients           {human(r.gradient_bytes):>10}", f"  Adam state          {human(r.adam_bytes):>10}"]
        lines.append(f"  total               {human(p.total_bytes):>10}   (parameters{' + gradients + Adam' if r.train else ''} + peak activations)")
    for symbol, bound in r.data_dependent.items():
        lines.append(f"data-dependent size {symbol} taken at its worst case, {bound}")
    lines.append("guards: " + ("; ".join(r.guards) if r.guards else "none beyond each named dim >= 2"))
    return "\n".join(lines)


def trace_text(r: TraceReport) -> str:
    inputs = " ".join(f"{s.name}={s}" for s in r.inputs)
    lines = [f"{r.target}  {inputs}  ({r.mode} trace)", "graph:"]
    for n in r.nodes:
        args = ", ".join(str(a) for a in n["args"]) if isinstance(n["args"], list) else ""
        if n["op"] == "output":
            lines.append(f"  return {args}")
            continue
        call = "" if n["op"] == "placeholder" else f" = {n['target']}({args})"
        where = f"  # {n['line']}" if n["line"] else ""
        lines.append(f"  {n['name']}: {n['value']}{call}{where}")
    lines.append("op histogram:")
    lines += [f"  {c:>6}  {op}" for op, c in r.histogram.items()]
    lines.append("outputs: " + ", ".join(r.outputs))
    lines.append("guards:")
    lines += [f"  {g['guard']}  # from {g['origin']}" for g in r.guards] or [
        "  (none: static sizes)" if r.mode == "fake" else "  (none beyond each named dim >= 2)"
    ]
    return "\n".join(lines)
