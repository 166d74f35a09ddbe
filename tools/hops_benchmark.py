"""Eager scan against the plain Python loop and torch's eager scan; backward memory by checkpoint policy.

Speed: ``scan(step, init, xs)`` over ``--steps`` small steps (``c = c * 0.9 +
x; y = c * 2`` on ``--width`` floats), three variants run in one process,
alternating (the order rotating each round), ``--repeats`` rounds after one warm-up round each:

    python    for x in xs.unbind(0): c, y = step(c, x); ys.append(y); torch.stack(ys)
    ours      torchshade.hops.scan
    torch     torch._higher_order_ops.scan.scan (eager, through torch.compile)

Each figure is the median over rounds; each ratio the median of the ratios
measured in the same round (robust to load that changes between rounds).

Memory (``--memory``): a ``--steps``-step scan of a recurrent cell (carry
f64[4w], x f64[w], a hidden layer of 4w, weights closed over and requiring
grad), then backward, once per checkpoint policy (None = save every carry,
k, "sqrt"):
eagerly, the bytes autograd saved for backward during the forward (counted
with ``torch.autograd.graph.saved_tensors_hooks``) and the peak of the CPU
allocations made during forward and backward (torch's profiler,
``profile_memory``: every allocation and free, summed in order), torch's
own scan for comparison; traced (``make_fx`` symbolic of forward and backward), the peak
of a run of the graph on real tensors. Each with the largest difference of
the gradients from the policy None's. Then a 1000-iteration ``while_loop``
(a tensor predicate) the same way, eager and traced, policies None and 10.

    python3 -m hatch run python tools/hops_benchmark.py [--steps N] [--width W] [--repeats R] [--memory]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch._higher_order_ops.scan import scan as torch_scan
from torch.profiler import ProfilerActivity, profile

from torchshade.hops import scan, while_loop
from torchshade.trace import make_fx

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


Inputs = tuple[torch.Tensor, ...]


def cell_inputs(steps: int, width: int) -> Inputs:
    """``(init, xs, a, b, c)``: carry f64[4w], xs f64[steps, w], the weights of a cell with a hidden layer of 4w."""
    gen = torch.Generator().manual_seed(0)
    shapes = ((4 * width,), (steps, width), (4 * width, 4 * width), (width, 4 * width), (4 * width, 4 * width))
    return tuple((torch.randn(s, dtype=torch.float64, generator=gen) / s[0] ** 0.5).requires_grad_() for s in shapes)


def cell_grads(inputs: Inputs, policy: int | str | None, scan_fn: Callable[..., Any] = scan,
               forward_hooks: Callable[[], Any] = contextlib.nullcontext) -> Inputs:  # fmt: skip
    """A scan of a recurrent cell whose state is larger than its input, and the gradients of every input.

    Eagerly autograd saves the cell's hidden activations at every step; a
    checkpointed backward keeps one carry per segment and recomputes the rest.
    The weights are closed over (their gradients are summed over the steps).
    """
    init, xs, a, b, c = inputs

    def cell(h: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        nxt = torch.tanh(torch.tanh(h @ a + x @ b) @ c)
        return nxt, nxt.sum()

    with forward_hooks():
        carry, ys = scan_fn(cell, init, xs) if policy == "torch" else scan_fn(cell, init, xs, checkpoint=policy)
    return torch.autograd.grad(carry.sum() + ys.sum(), inputs)


def peak_bytes(run: Variant) -> int:
    """The peak of CPU allocations (above what was live before) while ``run`` runs, from torch's profiler."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    now = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        now += event.nbytes()
        peak = max(peak, now)
    return peak


def memory(steps: int, width: int, policies: Sequence[int | str | None]) -> None:
    inputs = cell_inputs(steps, width)
    reference = cell_grads(inputs, None)
    given = {t.untyped_storage().data_ptr() for t in inputs}
    print(f"eager scan forward + backward, {steps} steps, carry f64[{4 * width}], x f64[{width}], hidden f64[{4 * width}]: "
          "bytes saved by the forward (distinct storages of activations), peak of forward + backward")
    for policy in [*policies, "torch"]:
        saved: dict[int, int] = {}

        def pack(t: torch.Tensor, saved: dict[int, int] = saved) -> torch.Tensor:
            storage = t.untyped_storage()
            if storage.data_ptr() not in given:  # not an input, nor a view of one
                saved[storage.data_ptr()] = storage.nbytes()
            return t

        def run(policy: int | str | None = policy, pack: Callable[[torch.Tensor], torch.Tensor] = pack) -> None:
            if policy == "torch":  # no hooks: they make torch's scan compile again, and trace into them
                found.append(cell_grads(inputs, policy, torch_scan))
                return
            hooks = lambda: torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t)  # noqa: E731
            found.append(cell_grads(inputs, policy, forward_hooks=hooks))  # saved: counted in the forward only

        found: list[Inputs] = []
        if policy == "torch":
            cell_grads(inputs, policy, torch_scan)  # compiled once first: the figures are of a run
        peak = peak_bytes(run)
        diff = max(float((g - r).abs().max()) for g, r in zip(found[0], reference))
        name = "torch's scan" if policy == "torch" else f"checkpoint={policy!s}"
        counted = f"{sum(saved.values()) / 1024:8.1f} KiB" if policy != "torch" else "       - KiB"
        print(f"  {name:16s} saved {counted}   peak {peak / 1024:8.1f} KiB"
              f"   max |grad - grad(None)| = {diff:.1e}")
    traced_memory(inputs, reference, policies)


def traced_memory(inputs: Inputs, reference: Inputs, policies: Sequence[int | str | None]) -> None:
    """The same, traced: make_fx (symbolic) of forward and backward, the graph run on real tensors without autograd."""
    values = [t.detach() for t in inputs]
    print(f"traced scan forward + backward (make_fx symbolic), {inputs[1].shape[0]} steps: peak of a run of the graph")
    for policy in policies:
        gm = make_fx(lambda *args: cell_grads(args, policy), tracing_mode="symbolic")(*inputs)
        found: list[Inputs] = []
        peak = peak_bytes(lambda: found.append(gm(*values)))
        diff = max(float((g - r).abs().max()) for g, r in zip(found[0], reference))
        print(f"  checkpoint={policy!s:5s} peak {peak / 1024:8.1f} KiB   max |grad - grad(None)| = {diff:.1e}")
    init = inputs[0]
    print(f"  (every carry, stacked: {inputs[1].shape[0] * init.numel() * init.element_size() / 1024:.1f} KiB)")


def loop_grads(h: torch.Tensor, w: torch.Tensor, policy: int | None) -> Inputs:
    """A while_loop of 1000 iterations (a tensor predicate decides), and the gradients of its inputs."""
    body = lambda h, i: (torch.tanh(torch.tanh(h @ w) @ w + 0.01), i + 1)  # noqa: E731
    out, _ = while_loop(lambda h, i: i < 1000, body, (h, torch.tensor(0)), checkpoint=policy)
    return torch.autograd.grad(out.sum(), (h, w))


def loop_memory(width: int) -> None:
    """Peak of forward + backward of a 1000-iteration while_loop, eager and traced, by checkpoint policy."""
    h = torch.randn(4 * width, dtype=torch.float64, requires_grad=True)
    w = (torch.randn(4 * width, 4 * width, dtype=torch.float64) / (2 * width)).requires_grad_()
    reference = loop_grads(h, w, None)
    print(f"while_loop forward + backward, 1000 iterations, carry f64[{4 * width}]: peak, eager and traced (make_fx symbolic)")
    for policy in (None, 10):
        found: list[Inputs] = []
        eager = peak_bytes(lambda: found.append(loop_grads(h, w, policy)))
        gm = make_fx(lambda h, w: loop_grads(h, w, policy), tracing_mode="symbolic")(h, w)
        values = (h.detach(), w.detach())
        traced = peak_bytes(lambda: found.append(gm(*values)))
        diff = max(float((g - r).abs().max()) for grads in found for g, r in zip(grads, reference))
        print(f"  checkpoint={policy!s:5s} eager peak {eager / 1024:8.1f} KiB   traced peak {traced / 1024:8.1f} KiB"
              f"   max |grad - grad(None, eager)| = {diff:.1e}")


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
        loop_memory(args.width)


if __name__ == "__main__":
    main()
