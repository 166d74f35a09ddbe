"""Eager scan against the plain Python loop and torch's eager scan; backward memory by checkpoint policy.

Speed: ``scan(step, init, xs)`` over ``--steps`` small steps (``c = c * 0.9 +
x; y = c * 2`` on ``--width`` floats), three variants run in one process,
alternating (the order rotating each round), ``--repeats`` rounds after one warm-up round each:

    python    for x in xs.unbind(0): c, y = step(c, x); ys.append(y); torch.stack(ys)
    ours      torchshade.hops.scan
    torch     torch._higher_order_ops.scan.scan (eager, through torch.compile)

Each figure is the median over rounds; each ratio the median of the ratios
measured in the same round (robust to load that changes between rounds).

Memory (``--memory``): a ``--steps``-step scan of a tanh recurrence, then
backward, once per checkpoint policy (None = save every carry, k, "sqrt"):
the bytes autograd saved for backward during the forward (counted with
``torch.autograd.graph.saved_tensors_hooks``) and the largest difference of
the gradients from the policy None's.

    python3 -m hatch run python tools/hops_benchmark.py [--steps N] [--width W] [--repeats R] [--memory]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

import torch
from torch._higher_order_ops.scan import scan as torch_scan

from torchshade.hops import scan

Variant = Callable[[], object]


def step(c: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    nxt = c * 0.9 + x
    return nxt, nxt * 2


def python_loop(init: torch.Tensor, xs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    c, ys = init, []
    for x in xs.unbind(0):
        c, y = step(c, x)
        ys.append(y)
    return c, torch.stack(ys)


def timed(fn: Variant) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def speed(steps: int, width: int, repeats: int) -> None:
    init, xs = torch.randn(width), torch.randn(steps, width)
    variants: dict[str, Variant] = {
        "python": lambda: python_loop(init, xs),
        "ours": lambda: scan(step, init, xs),
        "torch": lambda: torch_scan(step, init, xs),
    }
    expected = python_loop(init, xs)
    for name, fn in variants.items():  # warm-up, and every variant computes the same
        torch.testing.assert_close(fn(), expected, msg=f"{name} differs from the Python loop")
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for r in range(repeats):
        for name in names[r % 3 :] + names[: r % 3]:  # each variant first in a third of the rounds
            times[name].append(timed(variants[name]))
    print(f"eager scan, {steps} steps of f32[{width}], {repeats} rounds (median ms; ratio = median of same-round ratios)")
    for name in variants:
        ratio = statistics.median(t / p for t, p in zip(times[name], times["python"]))
        print(f"  {name:7s} {statistics.median(times[name]) * 1e3:9.2f} ms   {ratio:5.2f}x the Python loop")


def memory(steps: int, width: int, policies: Sequence[int | str | None]) -> None:
    init = torch.randn(width, dtype=torch.float64, requires_grad=True)
    xs = torch.randn(steps, width, dtype=torch.float64, requires_grad=True)

    def tanh_step(c: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        nxt = torch.tanh(c * x + c.sin())
        return nxt, nxt.sum()

    reference: tuple[torch.Tensor, ...] | None = None
    print(f"scan backward, {steps} steps of f64[{width}]: bytes saved for backward by the forward")
    for policy in policies:
        saved = [0]

        def pack(t: torch.Tensor, saved: list[int] = saved) -> torch.Tensor:
            saved[0] += t.numel() * t.element_size()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            carry, ys = scan(tanh_step, init, xs, checkpoint=policy)
        grads = torch.autograd.grad(carry.sum() + ys.sum(), (init, xs))
        reference = reference or grads
        diff = max(float((a - b).abs().max()) for a, b in zip(grads, reference))
        print(f"  checkpoint={policy!s:5s} {saved[0] / 1024:9.1f} KiB   max |grad - grad(None)| = {diff:.1e}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--memory", action="store_true")
    args = parser.parse_args(argv)
    speed(args.steps, args.width, args.repeats)
    if args.memory:
        memory(args.steps, args.width, [None, 10, "sqrt"])


if __name__ == "__main__":
    main()
