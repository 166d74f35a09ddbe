"""make_fx(..., tracing_mode="symbolic") against eager, op by op, over torch's OpInfo database.

For every sample of every OpInfo that runs on CPU in float32 (the first K
samples of each), the op is wrapped as a function of the sample's tensors
(every other argument a constant) and, for each side (torch's make_fx and
ours, torchshade.trace):

    1. traced with tracing_mode="symbolic" on clones of the sample's tensors
    2. the graph re-run on fresh clones of the same real tensors
    3. its outputs compared with eager's (run on fresh clones too, with the
       same random seed): the same pytree, and per tensor the same shape,
       dtype and values (torch.testing.assert_close, NaNs equal); per number
       the same value. An op whose eager outputs differ between two seeds,
       or whose graph holds an op tagged nondeterministic_seeded or an
       ``aten.empty*`` op (uninitialized memory), has no values to compare:
       only shapes and dtypes are.

Outcomes per side and sample:

    ok            the graph reproduces eager
    structure     the same values in another container (a plain tuple for
                  eager's torch.return_types named tuple)
    wrong         the graph ran and returned other values (the worst case)
    trace:T       tracing raised T
    rerun:T       the graph raised T when run on the real inputs
    timeout       tracing or re-running took more than --timeout seconds

A sample on which eager raises is skipped. The summary gives ok counts per
side, every sample where ours is wrong, and every sample torch reproduces and
ours does not ("regressions"). packages/trace/tests/test_trace_conformance.py
runs a subset in CI and requires no wrong sample and no regression.

    python3 tools/trace_conformance.py [--ops REGEX] [--limit N] [--samples K]
        [--timeout S] [--verbose]
"""

from __future__ import annotations

import argparse
import contextlib
import re
import signal
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import torch
from torch.fx.experimental.proxy_tensor import make_fx as torch_make_fx
from torch.utils._pytree import tree_flatten, tree_unflatten

from torchshade.trace import make_fx as ours_make_fx

Maker = Callable[..., Any]
SIDES: dict[str, Maker] = {"torch": torch_make_fx, "ours": ours_make_fx}


class SampleTimeout(Exception):
    """One side took longer than --timeout seconds on one sample."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def expired(signum: int, frame: FrameType | None) -> None:
        raise SampleTimeout

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Sample:
    """One OpInfo sample as a function of its tensors."""

    name: str
    index: int
    fn: Callable[..., object]
    tensors: list[torch.Tensor]

    def fresh(self) -> list[torch.Tensor]:
        return [t.detach().clone() for t in self.tensors]


def as_sample(op: Any, index: int, sample: Any) -> Sample:
    leaves, spec = tree_flatten((sample.input, tuple(sample.args), dict(sample.kwargs)))
    where = [i for i, leaf in enumerate(leaves) if isinstance(leaf, torch.Tensor)]

    def fn(*tensors: torch.Tensor) -> object:
        filled = list(leaves)
        for i, t in zip(where, tensors):
            filled[i] = t
        first, args, kwargs = tree_unflatten(filled, spec)
        return op.op(first, *args, **kwargs)

    return Sample(op.name if not op.variant_test_name else f"{op.name}.{op.variant_test_name}", index, fn,
                  [leaves[i] for i in where])  # fmt: skip


def same(eager: object, got: object, values: bool = True, structure: bool = True) -> bool:
    """The same pytree (unless not ``structure``: then the same leaves in order) with the same
    tensors (shape, dtype and, with ``values``, values)."""
    eager_leaves, eager_spec = tree_flatten(tuple(eager) if isinstance(eager, torch.Size) else eager)
    got_leaves, got_spec = tree_flatten(tuple(got) if isinstance(got, torch.Size) else got)
    if eager_spec != got_spec if structure else len(eager_leaves) != len(got_leaves):
        return False
    for a, b in zip(eager_leaves, got_leaves):
        if isinstance(a, torch.Tensor):
            if not isinstance(b, torch.Tensor) or a.shape != b.shape or a.dtype != b.dtype:
                return False
            if not values:
                continue
            try:
                torch.testing.assert_close(b.detach(), a.detach(), equal_nan=True, rtol=1e-4, atol=1e-5)
            except AssertionError:
                return False
        elif a != b and not (isinstance(a, float) and isinstance(b, float) and a != a and b != b):
            return False
    return True


def run_side(make_fx: Maker, sample: Sample, eager: object, random: bool, timeout: float) -> str:
    try:
        with time_limit(timeout):
            gm = make_fx(sample.fn, tracing_mode="symbolic")(*sample.fresh())
    except SampleTimeout:
        return "timeout"
    except Exception as e:  # noqa: BLE001 - every failure is an outcome to count
        return f"trace:{type(e).__name__}"
    try:
        with time_limit(timeout):
            torch.manual_seed(0)
            got = gm(*sample.fresh())
    except SampleTimeout:
        return "timeout"
    except Exception as e:  # noqa: BLE001
        return f"rerun:{type(e).__name__}"
    values = not (random or seeded(gm))
    if same(eager, got, values):
        return "ok"
    return "structure" if same(eager, got, values, structure=False) else "wrong"


def seeded(gm: torch.fx.GraphModule) -> bool:
    """Whether the graph draws random numbers (OpInfo seeds random ops inside the op, out of the
    graph) or returns uninitialized memory (``aten.empty*``): then values mean nothing."""
    tag = torch.Tag.nondeterministic_seeded
    ops = [n.target for n in gm.graph.nodes if isinstance(n.target, torch._ops.OpOverload)]
    return any(tag in op.tags or "empty" in op.name() for op in ops)


@dataclass
class Results:
    """Outcome per side per sample key (``op#index``)."""

    outcomes: dict[str, dict[str, str]] = field(default_factory=dict)
    skipped: int = 0

    def ok(self, side: str) -> int:
        return sum(1 for o in self.outcomes.values() if o[side] == "ok")

    def wrong(self, side: str) -> list[str]:
        return [k for k, o in self.outcomes.items() if o[side] == "wrong"]

    def regressions(self) -> dict[str, str]:
        return {k: o["ours"] for k, o in self.outcomes.items() if o["torch"] == "ok" and o["ours"] != "ok"}


def select_ops(pattern: str | None, limit: int | None) -> list[Any]:
    from torch.testing._internal.common_methods_invocations import op_db  # noqa: PLC0415 - slow import

    chosen = [op for op in op_db if torch.float32 in op.supported_dtypes("cpu")]
    if pattern:
        chosen = [op for op in chosen if re.fullmatch(pattern, op.name)]
    return chosen[:limit] if limit else chosen


def run(ops: Sequence[Any], samples: int, timeout: float, verbose: bool = False) -> Results:
    results = Results()
    for op in ops:
        try:
            listed = list(op.sample_inputs("cpu", torch.float32, requires_grad=False))[:samples]
        except Exception:  # noqa: BLE001 - an OpInfo that cannot make samples here is skipped
            results.skipped += 1
            continue
        for index, raw in enumerate(listed):
            sample = as_sample(op, index, raw)
            try:
                torch.manual_seed(1)
                other = sample.fn(*sample.fresh())
                torch.manual_seed(0)
                eager = sample.fn(*sample.fresh())
            except Exception:  # noqa: BLE001 - eager itself refuses the sample
                results.skipped += 1
                continue
            random = not same(eager, other)  # a random op: compare metadata only
            key = f"{sample.name}#{index}"
            results.outcomes[key] = {side: run_side(maker, sample, eager, random, timeout)
                                     for side, maker in SIDES.items()}  # fmt: skip
            if verbose:
                print(f"{key}: {results.outcomes[key]}", file=sys.stderr)
    return results


def report(results: Results) -> None:
    total = len(results.outcomes)
    print(f"\n{total} samples ({results.skipped} skipped: eager raised or no samples)")
    for side in SIDES:
        counts = Counter(o[side] for o in results.outcomes.values())
        rest = ", ".join(f"{k} {v}" for k, v in counts.most_common() if k != "ok")
        print(f"{side:>6}: ok {results.ok(side)}/{total}  ({rest})")
    wrong = results.wrong("ours")
    print(f"ours wrong: {len(wrong)}" + "".join(f"\n  {k}" for k in wrong))
    regressions = results.regressions()
    print(f"torch ok, ours not: {len(regressions)}" + "".join(f"\n  {k}: {v}" for k, v in regressions.items()))


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--ops", help="regex on OpInfo names (full match)")
    parser.add_argument("--limit", type=int, help="first N matching ops")
    parser.add_argument("--samples", type=int, default=2, help="samples per op (default 2)")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per side per sample")
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    results = run(select_ops(args.ops, args.limit), args.samples, args.timeout, args.verbose)
    report(results)
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
