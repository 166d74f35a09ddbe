"""Benchmark: torchshade.shapes against torch's own ShapeEnv on a model-sized workload.

The workload is the size arithmetic a tracer does for a decoder-only transformer
whose every input dimension is dynamic: one symbol per dimension of the inputs,
of every weight and of every layer's key/value cache (25 per layer plus a few),
then per layer the expressions (products, flattening, floor division into
heads, ceil division into chunks, concat sums, window slices clamped with
min/max, contiguous strides) and the decisions (broadcast equality checks,
divisibility, branch conditions) that tracing makes. A backward pass derives
the same shapes again, so repeated decisions hit whatever caching the ShapeEnv
does. At the end the guards are produced once and checked against many new
inputs.

The workload is written once, over a `Backend` (create a symbol, produce a
guard checker); both ShapeEnvs run exactly the same Python code, and all the
arithmetic goes through the ``torch.SymInt`` operators. The same code run on
plain Python ints gives the ground truth: every decision and every
expression's hint must match it, and a new input should be accepted iff every
decision comes out the same on it (rejecting more is over-guarding, accepting
more is a soundness bug).

Runs alternate (ours, torch, ours, torch, ...) in one process after one
untimed warm-up each; sympy's global cache is cleared before every run so that
neither side profits from the other's work. Reported: the median per phase and
in total, and the ratio ours/torch of the medians (target: at most 0.5x).

    python3 tools/shapes_benchmark.py            # 16 layers, 5 repeats
    python3 tools/shapes_benchmark.py --quick    # 4 layers, 3 repeats
    python3 tools/shapes_benchmark.py --profile  # plus a cProfile of ours
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import operator
import pstats
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, Union

import sympy
import torch

Size = Union[torch.SymInt, int]
_V = TypeVar("_V")
Checker = Callable[[Sequence[int]], bool]
PHASES = ("symbols", "trace", "guards", "check")


# --------------------------------------------------------------------------
# Backends
# --------------------------------------------------------------------------


class Backend(Protocol):
    """What the workload needs from a symbolic-shapes implementation."""

    name: str

    def reset(self) -> None:
        """Start from a fresh environment (no symbols, no guards)."""

    def symbol(self, hint: int, source: str) -> Size:
        """A new dynamic (non-duck, non-specialized) size symbol with this hint."""

    def checker(self, symbols: Sequence[Size], sources: Sequence[str]) -> Checker:
        """Produce the guards once; return a function checking them on new values.

        The values come in the order of ``symbols`` (one int per symbol, whose
        source is the same position of ``sources``).
        """


class TorchBackend:
    """torch.fx.experimental.symbolic_shapes.ShapeEnv, the peer to beat."""

    name = "torch"

    def __init__(self) -> None:
        from torch.fx.experimental.symbolic_shapes import ShapeEnv

        self._env = ShapeEnv()

    def reset(self) -> None:
        from torch.fx.experimental.symbolic_shapes import ShapeEnv

        self._env = ShapeEnv()

    def symbol(self, hint: int, source: str) -> Size:
        from torch._dynamo.source import ConstantSource
        from torch.fx.experimental.symbolic_shapes import DimDynamic

        src = ConstantSource(source)
        expr = self._env.create_symbol(hint, source=src, dynamic_dim=DimDynamic.DYNAMIC)
        return self._env.create_symintnode(expr, hint=hint, source=src)

    def checker(self, symbols: Sequence[Size], sources: Sequence[str]) -> Checker:
        from torch.fx.experimental.symbolic_shapes import SYMPY_INTERP

        keep = [i for i, s in enumerate(symbols) if isinstance(s, torch.SymInt)]
        placeholders = [s for s in symbols if isinstance(s, torch.SymInt)]
        code = self._env.produce_guards_expression(placeholders)
        if code is None:
            return lambda values: True
        # Compiled once (evaluate_guards_expression would compile on every call).
        compiled = compile(code, "<torch guards>", "eval")
        names = [f"t{i}" for i in range(len(keep))]

        def check(values: Sequence[int]) -> bool:
            local = {n: values[i] for n, i in zip(names, keep)}
            return bool(eval(compiled, SYMPY_INTERP, {"L": local}))

        return check


class OursBackend:
    """torchshade.shapes.ShapeEnv."""

    name = "ours"

    def __init__(self) -> None:
        from torchshade.shapes import ShapeEnv

        self._env = ShapeEnv()

    def reset(self) -> None:
        from torchshade.shapes import ShapeEnv

        self._env = ShapeEnv()

    def symbol(self, hint: int, source: str) -> Size:
        from torchshade.shapes import DimDynamic

        return self._env.create_symint(hint, source, dynamic=DimDynamic.DYNAMIC)

    def checker(self, symbols: Sequence[Size], sources: Sequence[str]) -> Checker:
        env = self._env
        _ = env.input_guards()  # produce them now (they are built lazily), as torch's side does

        def check(values: Sequence[int]) -> bool:
            return not env.check_guards(dict(zip(sources, values)))

        return check


# --------------------------------------------------------------------------
# The workload
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """A decoder-only transformer's sizes (the hints of the symbols)."""

    batch: int = 8
    seq: int = 512
    past: int = 1536
    hidden: int = 4096
    kv_hidden: int = 1024
    ffn: int = 11008
    vocab: int = 32000


HEADS = 32  # a Python constant, as in a model's config
WINDOW = 4096  # sliding-window attention
CHUNK = 256  # attention computed in chunks of this many keys
MAX_POSITIONS = 8192


@dataclass
class Tally:
    """What one workload run did, and the decisions it took (in order)."""

    expressions: int = 0
    decisions: list[bool] = field(default_factory=list)
    hints: list[int | float] = field(default_factory=list)
    record_hints: bool = False

    def ex(self, value: _V) -> _V:
        """Count one built expression (and, when verifying, keep its hint)."""
        self.expressions += 1
        if self.record_hints:
            self.hints.append(_hint(value))
        return value

    def decide(self, cond: object) -> bool:
        """One branch of the traced program on a symbolic condition."""
        answer = bool(cond)
        self.decisions.append(answer)
        return answer


def _hint(value: object) -> int | float:
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, (torch.SymInt, torch.SymFloat)):
        hint: int | float = value.node.hint
        return hint
    raise TypeError(f"not a number: {value!r}")


def symbol_hints(cfg: Config, layers: int) -> list[tuple[str, int]]:
    """One (source, hint) per input dimension, in creation order."""
    b, s, p, h, kv, f, v = (
        cfg.batch, cfg.seq, cfg.past, cfg.hidden, cfg.kv_hidden, cfg.ffn, cfg.vocab
    )
    hd = h // HEADS
    dims: list[tuple[str, list[int]]] = [
        ("input_ids", [b, s]),
        ("attention_mask", [b, s + p]),
        ("position_ids", [b, s]),
        ("embed.weight", [v, h]),
    ]
    for i in range(layers):
        dims += [
            (f"l{i}.ln1.weight", [h]),
            (f"l{i}.ln1.bias", [h]),
            (f"l{i}.q.weight", [h, h]),
            (f"l{i}.k.weight", [kv, h]),
            (f"l{i}.v.weight", [kv, h]),
            (f"l{i}.o.weight", [h, h]),
            (f"l{i}.ln2.weight", [h]),
            (f"l{i}.ff1.weight", [f, h]),
            (f"l{i}.ff3.weight", [f, h]),
            (f"l{i}.ff2.weight", [h, f]),
            (f"l{i}.past_k", [b, kv // hd, p, hd]),
            (f"l{i}.past_v", [b, kv // hd, p, hd]),
        ]
    dims.append(("lm_head.weight", [v, h]))
    # Sources are plain identifiers (``l0_q_weight_size0``) so that both envs
    # can take new values as a flat name -> int mapping.
    return [
        (f"{name.replace('.', '_')}_size{d}", n) for name, sizes in dims for d, n in enumerate(sizes)
    ]


def run_workload(
    backend: Backend, hints: Sequence[int], layers: int, tally: Tally
) -> tuple[list[Size], list[str], dict[str, float]]:
    """Create the symbols, trace forward and backward, time each phase."""
    times: dict[str, float] = {}
    with _timed(times, "symbols"):
        backend.reset()
        names = [name for name, _ in symbol_hints(Config(), layers)]
        syms = [backend.symbol(h, name) for name, h in zip(names, hints)]
    with _timed(times, "trace"):
        _trace(syms, layers, tally)
    return syms, names, times


def _trace(syms: Sequence[Size], layers: int, t: Tally) -> None:
    it = iter(syms)
    bx, sx = next(it), next(it)
    mask_b, mask_len = next(it), next(it)
    pos_b, pos_s = next(it), next(it)
    vocab, emb_h = next(it), next(it)
    t.decide(mask_b == bx)
    t.decide(pos_b == bx)
    t.decide(pos_s == sx)
    t.decide(sx <= MAX_POSITIONS)
    hx = emb_h
    layer_syms = [[next(it) for _ in range(25)] for _ in range(layers)]
    head_v, head_h = next(it), next(it)
    for ls in layer_syms:  # forward
        _layer(ls, bx, sx, hx, mask_len, t)
    t.decide(head_h == hx)
    t.ex(bx * sx * head_v)
    t.decide(head_v == vocab)
    for ls in reversed(layer_syms):  # backward: the same shapes again
        _layer(ls, bx, sx, hx, mask_len, t)


def _layer(ls: Sequence[Size], bx: Size, sx: Size, hx: Size, mask_len: Size, t: Tally) -> None:
    (ln1, ln1b, q_out, q_in, k_out, k_in, v_out, v_in, o_out, o_in, ln2,
     f1_out, f1_in, f3_out, f3_in, f2_out, f2_in,
     pk_b, pk_n, pk_p, pk_d, pv_b, pv_n, pv_p, pv_d) = ls
    _norm(ln1, hx, t)
    _norm(ln1b, hx, t)
    bs = t.ex(bx * sx)
    hd = _attention_projections(bx, sx, hx, (q_out, q_in, k_out, k_in, v_out, v_in), t)
    nkv = t.ex(k_out // hd)
    total = _kv_cache(bx, sx, nkv, hd, (pk_b, pk_n, pk_p, pk_d, pv_b, pv_n, pv_p, pv_d), t)
    t.decide(mask_len == total)
    _scores(bx, sx, total, t)
    _window(total, t)
    _strides(bx, sx, hd, t)
    t.decide(o_in == t.ex(HEADS * hd))
    t.decide(o_out == hx)
    t.decide(hx == o_out)  # residual add: broadcast check again
    _norm(ln2, hx, t)
    _ffn(bs, hx, (f1_out, f1_in, f3_out, f3_in, f2_out, f2_in), t)
    nh_kv = t.ex(k_out // hd)
    _activations([
        (bx, sx, hx), (bx, sx, q_out), (bx, sx, k_out), (bx, HEADS, sx, hd),
        (bx, nh_kv, total, hd), (bx, HEADS, sx, total), (bx, sx, f1_out), (bs, hx),
    ], t)


def _activations(shapes: Sequence[tuple[Size, ...]], t: Tally) -> None:
    """What a tracer computes for every intermediate: numel, bytes, strides."""
    for shape in shapes:
        stride: Size = 1
        for size in reversed(shape[1:]):
            stride = t.ex(stride * size)
        numel = t.ex(stride * shape[0])
        t.ex(numel * 2)  # bf16 bytes


def _norm(weight: Size, hx: Size, t: Tally) -> None:
    """Broadcast x[..., H] with weight[H]: the size-1 tests, then equality."""
    if not t.decide(weight == 1) and not t.decide(hx == 1):
        t.decide(weight == hx)


def _attention_projections(
    bx: Size, sx: Size, hx: Size, w: Sequence[Size], t: Tally
) -> Size:
    q_out, q_in, k_out, k_in, v_out, v_in = w
    t.decide(q_in == hx)
    t.decide(k_in == hx)
    t.decide(v_in == hx)
    t.decide(q_out % HEADS == 0)
    hd = t.ex(q_out // HEADS)
    t.decide(t.ex(bx * sx * q_out) == t.ex(bx * sx * HEADS * hd))  # view numel
    t.decide(operator.mod(k_out, hd) == 0)  # (torch's stubs: no SymInt % SymInt|int)
    t.decide(v_out == k_out)
    nkv = t.ex(k_out // hd)
    t.decide(operator.mod(HEADS, nkv) == 0)  # (torch's stubs: no SymInt.__rmod__)
    t.ex(HEADS // nkv)  # query groups per kv head
    t.ex(hd ** 2)
    t.ex(hd / HEADS)  # true division: a SymFloat
    return hd


def _kv_cache(bx: Size, sx: Size, nkv: Size, hd: Size, past: Sequence[Size], t: Tally) -> Size:
    pk_b, pk_n, pk_p, pk_d, pv_b, pv_n, pv_p, pv_d = past
    for b, n, d in ((pk_b, pk_n, pk_d), (pv_b, pv_n, pv_d)):
        t.decide(b == bx)
        t.decide(n == nkv)
        t.decide(d == hd)
    t.decide(pv_p == pk_p)
    total = t.ex(pk_p + sx)
    t.ex(bx * nkv * total * hd)  # the concatenated cache's numel
    t.decide(total <= MAX_POSITIONS)
    return total


def _scores(bx: Size, sx: Size, total: Size, t: Tally) -> None:
    numel = t.ex(bx * HEADS * sx * total)
    t.decide(t.ex(numel * 2) > 2**31)  # fits in one 2 GiB buffer?
    chunks = t.ex(-(-total // CHUNK))
    t.decide(chunks > 1)
    t.ex(t.ex(chunks * CHUNK) - total)  # padding of the last chunk
    t.decide(sx > 1)  # causal mask needed


def _window(total: Size, t: Tally) -> None:
    start = t.ex(torch.sym_max(total - WINDOW, 0))
    length = t.ex(torch.sym_min(total, WINDOW))
    end = t.ex(torch.sym_min(start + length, total))
    t.ex(end - start)
    t.ex(total % CHUNK)
    t.decide(total > WINDOW)


def _strides(bx: Size, sx: Size, hd: Size, t: Tally) -> None:
    """Strides of a contiguous [B, S, heads, hd], then its transpose(1, 2)."""
    s2 = hd
    s1 = t.ex(HEADS * hd)
    s0 = t.ex(sx * s1)
    t.ex(bx * s0)
    t.decide(sx == 1)  # is_contiguous after the transpose
    t.decide(s2 == s1)


def _ffn(bs: Size, hx: Size, w: Sequence[Size], t: Tally) -> None:
    f1_out, f1_in, f3_out, f3_in, f2_out, f2_in = w
    t.decide(f1_in == hx)
    t.decide(f3_in == hx)
    t.decide(f3_out == f1_out)
    t.decide(f2_in == f1_out)
    t.decide(f2_out == hx)
    t.ex(2 * bs * hx * f1_out * 3)  # FLOPs


@contextmanager
def _timed(times: dict[str, float], phase: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    times[phase] = times.get(phase, 0.0) + time.perf_counter() - start


# --------------------------------------------------------------------------
# New inputs for the guard checks, and the truth about them
# --------------------------------------------------------------------------


def check_inputs(layers: int, count: int, seed: int = 0) -> list[list[int]]:
    """New input values: other batch/seq/past, other models, single perturbations."""
    rng = random.Random(seed)
    base = [h for _, h in symbol_hints(Config(), layers)]
    inputs = [base]
    for i in range(count - 1):
        kind = i % 4
        if kind == 0:
            cfg = Config(batch=rng.randint(0, 64), seq=rng.randint(0, 4096),
                         past=rng.randint(0, 8192))
            inputs.append([h for _, h in symbol_hints(cfg, layers)])
        elif kind == 1:  # other batch and sequence, same window regime
            cfg = Config(batch=rng.randint(2, 64), seq=rng.randint(2, 1024),
                         past=rng.randint(1024, 3000))
            inputs.append([h for _, h in symbol_hints(cfg, layers)])
        elif kind == 2:
            h = 128 * rng.randint(4, 64)
            cfg = Config(hidden=h, kv_hidden=h // rng.choice([1, 2, 4, 8]),
                         ffn=rng.randint(2, 4) * h)
            inputs.append([x for _, x in symbol_hints(cfg, layers)])
        else:
            values = list(base)
            j = rng.randrange(len(values))
            values[j] = max(0, values[j] + rng.choice([-2, -1, 1, 2, values[j]]))
            inputs.append(values)
    return inputs


def truth(values: Sequence[int], layers: int, original: Sequence[bool]) -> bool:
    """Would every decision come out the same on these values?"""
    tally = Tally()
    try:
        _trace(list(values), layers, tally)
    except ZeroDivisionError:
        return False
    return tally.decisions == list(original)


# --------------------------------------------------------------------------
# Running and reporting
# --------------------------------------------------------------------------


@dataclass
class RunResult:
    times: dict[str, float]
    tally: Tally
    accepted: list[bool]


def run_once(backend: Backend, layers: int, inputs: Sequence[Sequence[int]],
             verify: bool = False) -> RunResult:
    """One timed run from a fresh env and a cold sympy cache."""
    tally = Tally(record_hints=verify)
    syms, names, times = run_workload(backend, inputs[0], layers, tally)
    with _timed(times, "guards"):
        check = backend.checker(syms, names)
    with _timed(times, "check"):
        accepted = [check(v) for v in inputs]
    return RunResult(times, tally, accepted)


def verify(results: dict[str, RunResult], layers: int, inputs: Sequence[Sequence[int]]) -> None:
    """Cross-check the backends against plain Python and print guard precision."""
    plain = Tally(record_hints=True)
    _trace([h for h in inputs[0]], layers, plain)
    want = [truth(v, layers, plain.decisions) for v in inputs]
    print(f"guard checks: {len(inputs)} new inputs, {sum(want)} keep every decision")
    for name, r in results.items():
        problems = []
        if r.tally.decisions != plain.decisions:
            first = next(i for i, (a, b) in enumerate(zip(r.tally.decisions, plain.decisions))
                         if a != b) if len(r.tally.decisions) == len(plain.decisions) else -1
            problems.append(f"DECISIONS DIFFER from Python (first at #{first})")
        if r.tally.hints != plain.hints:
            problems.append("EXPRESSION HINTS DIFFER from Python")
        if not r.accepted[0]:
            problems.append("REJECTS THE INPUT ITS GUARDS CAME FROM")
        unsound = sum(a and not w for a, w in zip(r.accepted, want))
        over = sum(w and not a for a, w in zip(r.accepted, want))
        if unsound:
            problems.append(f"ACCEPTS {unsound} INPUTS ON WHICH A DECISION CHANGES")
        print(f"  {name:6} accepts {sum(r.accepted):4}, wrongly rejects {over:4} "
              f"(over-guarding){'; ' + '; '.join(problems) if problems else ''}")


def _row(label: str, cells: Sequence[str]) -> str:
    return f"{label:<10}" + "".join(f"{c:>12}" for c in cells)


def report(samples: dict[str, list[dict[str, float]]]) -> float:
    names = list(samples)
    print(_row("phase", [f"{n} ms" for n in names] + ["ours/torch"]))
    ratio = float("nan")
    for phase in (*PHASES, "total"):
        med = {}
        for n in names:
            vals = [sum(s.values()) if phase == "total" else s[phase] for s in samples[n]]
            med[n] = statistics.median(vals) * 1e3
        cells = [f"{med[n]:.1f}" for n in names]
        if "ours" in med and "torch" in med and med["torch"] > 0:
            r = med["ours"] / med["torch"]
            cells.append(f"{r:.2f}x")
            if phase == "total":
                ratio = r
        print(_row(phase, cells))
    return ratio


def _cold_start() -> None:
    """Neither side may profit from sympy's cache warmed by the other, or pay for its garbage."""
    sympy.core.cache.clear_cache()
    gc.collect()


def profile_ours(layers: int, inputs: Sequence[Sequence[int]]) -> None:
    prof = cProfile.Profile()
    backend = OursBackend()
    _cold_start()
    prof.enable()
    run_once(backend, layers, inputs)
    prof.disable()
    for key, title in (("cumulative", "cumulative, torchshade only"), ("tottime", "own time")):
        out = io.StringIO()
        stats = pstats.Stats(prof, stream=out).sort_stats(key)
        if key == "cumulative":
            stats.print_stats("torchshade", 10)
        else:
            stats.print_stats(10)
        print(f"--- profile of ours: top 10 by {title} ---")
        text = out.getvalue()
        print(text[text.find("   ncalls"):].rstrip())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="4 layers, 3 repeats")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per backend")
    parser.add_argument("--layers", type=int, default=None, help="transformer layers")
    parser.add_argument("--checks", type=int, default=200, help="new inputs to check")
    parser.add_argument("--profile", action="store_true", help="cProfile one run of ours")
    parser.add_argument("--torch-only", action="store_true", help="skip torchshade")
    args = parser.parse_args(argv)
    layers = args.layers or (4 if args.quick else 16)
    repeats = args.repeats or (3 if args.quick else 5)
    inputs = check_inputs(layers, args.checks)
    backends: list[Backend] = [] if args.torch_only else [OursBackend()]
    backends.append(TorchBackend())

    first: dict[str, RunResult] = {}
    for b in backends:  # warm-up, and the correctness cross-check
        _cold_start()
        first[b.name] = run_once(b, layers, inputs, verify=True)
    t = first["torch"].tally
    print(f"workload: {layers} layers, {len(inputs[0])} symbols, {t.expressions} expressions, "
          f"{len(t.decisions)} decisions, {len(inputs)} guard checks; {repeats} repeats")
    verify(first, layers, inputs)

    samples: dict[str, list[dict[str, float]]] = {b.name: [] for b in backends}
    for _ in range(repeats):
        for b in backends:
            _cold_start()
            samples[b.name].append(run_once(b, layers, inputs).times)
    ratio = report(samples)
    if ratio == ratio:
        print(f"ours/torch total: {ratio:.2f}x (target <= 0.50x)")
    if args.profile and not args.torch_only:
        profile_ours(layers, inputs)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
