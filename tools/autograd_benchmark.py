"""The cost of saved-tensor hooks over a small GPT's training step, ours against torch's.

A training step is: forward of a small GPT (token and position embeddings,
pre-norm blocks with explicit causal attention and an MLP, a tied LM head),
cross-entropy loss, backward, an SGD step. Four variants run in one process,
`--rounds` rounds of `--steps` steps each, in an order rotated every round
(and reversed every other cycle of rotations):

    none     no hooks
    torch    torch.autograd.graph.saved_tensors_hooks(identity, identity)
    ours     torchshade.autograd.saved_tensors_hooks(identity, identity)
             (which also keeps the version check on every saved tensor)
    wrapper  torch's hooks, each identity called from one pass-through Python
             function (no check): what any Python-level wrapper costs, the
             floor for a version check written in Python

and with `--breakdown` the wrapper plus a 2-tuple reading `_version` at pack
only (`read-pack`), at unpack only (`read-unpack`), or at both and comparing
(`check`, the least a version check in Python does: where ours should land).

The figure is the hooks' overhead: a variant's time per step minus the
hook-free time *of the same round*. Printed for each variant: the ratio of
median overheads over torch's, a 90% bootstrap interval of it (rounds
resampled), the median of the same-round ratios, and a low-quantile estimate
(from each variant's 20% quantile time per step, the least disturbed rounds).
Times are taken on two clocks: this process's CPU time (insensitive to being
descheduled by other load) and wall time. The process runs one thread pinned
to one core, with the garbage collector off while timing.

`--instructions` instead counts the instructions each variant executes per
step (including `--breakdown`'s), with valgrind's callgrind, in a child
process: a figure other load on the machine cannot move (valgrind must be
installed; it takes about three minutes here).

Peak resident memory (VmHWM) of one training step of a larger configuration
is measured in fresh subprocesses, one per variant: no hooks, `save_on_disk`
(every saved tensor waits in a file), and `save_on_cpu` (which on a CPU-only
machine has nothing to move, so it is the control), next to a baseline
process that only builds the model and its input.

`--report-70b` instead runs `saved_tensors_report` over a Llama-style 70B
configuration (80 layers, d=8192, 64 heads, 8 KV heads, FFN 28672, vocab
128256, bf16) built under torchshade.fake's FakeTensorMode, on one sequence
of 4096 tokens, in a fresh process, and prints the report's first and last
lines, the time and the process's peak resident memory.

    python3 tools/autograd_benchmark.py [--rounds N] [--steps S] [--quick] [--no-memory] [--breakdown]
    python3 tools/autograd_benchmark.py --instructions
    python3 tools/autograd_benchmark.py --report-70b
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from _callgrind import count as count_instructions
from _callgrind import mark
from _workspace import require_root
from torchshade.autograd import save_on_cpu, save_on_disk, saved_tensors_hooks, saved_tensors_report
from torchshade.fake import FakeTensorMode


@dataclass(frozen=True)
class Config:
    vocab: int
    d: int
    heads: int
    layers: int
    batch: int
    seq: int


SMALL = Config(vocab=128, d=32, heads=2, layers=2, batch=2, seq=16)
LARGE = Config(vocab=2048, d=384, heads=6, layers=4, batch=8, seq=512)


class Block(nn.Module):
    def __init__(self, c: Config) -> None:
        super().__init__()
        self.heads = c.heads
        self.ln1, self.ln2 = nn.LayerNorm(c.d), nn.LayerNorm(c.d)
        self.qkv, self.proj = nn.Linear(c.d, 3 * c.d), nn.Linear(c.d, c.d)
        self.fc, self.out = nn.Linear(c.d, 4 * c.d), nn.Linear(4 * c.d, c.d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, s, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-1, -2)) * (d // self.heads) ** -0.5
        mask = torch.ones(s, s, dtype=torch.bool, device=x.device).tril()
        att = scores.masked_fill(~mask, float("-inf")).softmax(-1)
        x = x + self.proj((att @ v).transpose(1, 2).reshape(b, s, d))
        out: torch.Tensor = x + self.out(F.gelu(self.fc(self.ln2(x))))
        return out


class GPT(nn.Module):
    def __init__(self, c: Config) -> None:
        super().__init__()
        self.tok, self.pos = nn.Embedding(c.vocab, c.d), nn.Embedding(c.seq, c.d)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.layers))
        self.ln = nn.LayerNorm(c.d)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))
        for block in self.blocks:
            x = block(x)
        logits: torch.Tensor = self.ln(x) @ self.tok.weight.t()
        return logits


class LlamaBlock(nn.Module):
    """A Llama-style decoder layer: RMSNorm, grouped-query attention, SwiGLU."""

    def __init__(self, d: int, heads: int, kv_heads: int, ffn: int) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, d // heads
        self.norm1, self.norm2 = nn.RMSNorm(d), nn.RMSNorm(d)
        self.q = nn.Linear(d, d, bias=False)
        self.kv = nn.Linear(d, 2 * kv_heads * self.head_dim, bias=False)
        self.o = nn.Linear(d, d, bias=False)
        self.gate, self.up = nn.Linear(d, ffn, bias=False), nn.Linear(d, ffn, bias=False)
        self.down = nn.Linear(ffn, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        h = self.norm1(x)
        q = self.q(h).view(b, s, self.heads, self.head_dim).transpose(1, 2)
        k, v = self.kv(h).view(b, s, 2, self.kv_heads, self.head_dim).unbind(2)
        k = k.transpose(1, 2).repeat_interleave(self.heads // self.kv_heads, dim=1)
        v = v.transpose(1, 2).repeat_interleave(self.heads // self.kv_heads, dim=1)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.o(a.transpose(1, 2).reshape(b, s, d))
        h = self.norm2(x)
        out: torch.Tensor = x + self.down(F.silu(self.gate(h)) * self.up(h))
        return out


class Llama(nn.Module):
    def __init__(self, layers: int = 80, d: int = 8192, vocab: int = 128256) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.layers = nn.ModuleList(LlamaBlock(d, 64, 8, 28672) for _ in range(layers))
        self.norm = nn.RMSNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.emb(idx)
        for layer in self.layers:
            x = layer(x)
        out: torch.Tensor = self.head(self.norm(x))
        return out


def report_70b_child() -> None:
    start = time.perf_counter()
    mode = FakeTensorMode()
    with mode:
        torch.set_default_dtype(torch.bfloat16)
        model = Llama()
        torch.set_default_dtype(torch.float32)
        idx = torch.zeros(1, 4096, dtype=torch.long)
    built = time.perf_counter()
    report = saved_tensors_report(model, idx)
    done = time.perf_counter()
    lines = str(report).splitlines()
    print("\n".join([*lines[:3], "...", *lines[-2:]]))
    params = sum(p.numel() for p in model.parameters())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{params / 1e9:.1f}B parameters; build {built - start:.1f} s, report {done - built:.1f} s; peak RSS {peak:.0f} MB")


def identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _wrapped() -> AbstractContextManager[object]:
    """torch's hooks around a pass-through Python frame each way: the cost of any wrapper."""

    def pack(t: torch.Tensor) -> torch.Tensor:
        return identity(t)

    def unpack(t: torch.Tensor) -> torch.Tensor:
        return identity(t)

    return torch.autograd.graph.saved_tensors_hooks(pack, unpack)


def _reading(at_pack: bool, at_unpack: bool) -> Callable[[], AbstractContextManager[object]]:
    """The wrapper plus reads of ``_version`` at pack and/or unpack: where a check's cost goes.

    With both reads and the comparison this is the least a version check
    written in Python can do (it never raises here: nothing is changed in place).
    """

    def hooks() -> AbstractContextManager[object]:
        def pack(t: torch.Tensor) -> tuple[torch.Tensor, int]:
            return (identity(t), t._version if at_pack else 0)

        def unpack(record: tuple[torch.Tensor, int]) -> torch.Tensor:
            value, version = record
            if at_unpack and value._version < version:
                raise RuntimeError("modified in place")
            return identity(value)

        return torch.autograd.graph.saved_tensors_hooks(pack, unpack)

    return hooks


@contextmanager
def _entered(hooks: saved_tensors_hooks) -> Iterator[None]:
    with hooks:
        yield


HOOKS: dict[str, Callable[[], AbstractContextManager[object]]] = {
    "none": nullcontext,
    "torch": lambda: torch.autograd.graph.saved_tensors_hooks(identity, identity),
    "ours": lambda: saved_tensors_hooks(identity, identity),
    "wrapper": _wrapped,
    "read-pack": _reading(True, False),
    "read-unpack": _reading(False, True),
    "check": _reading(True, True),
    "disk": lambda: _entered(save_on_disk()),
    "cpu": lambda: _entered(save_on_cpu()),
}


def setup(c: Config) -> tuple[GPT, torch.Tensor, torch.Tensor, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = GPT(c)
    idx = torch.randint(c.vocab, (c.batch, c.seq))
    target = torch.randint(c.vocab, (c.batch, c.seq))
    return model, idx, target, torch.optim.SGD(model.parameters(), lr=1e-3)


def step(model: GPT, idx: torch.Tensor, target: torch.Tensor, opt: torch.optim.Optimizer, variant: str) -> None:
    with HOOKS[variant]():
        logits = model(idx)
        loss = F.cross_entropy(logits.flatten(0, 1), target.flatten())
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def saved_count(model: GPT, idx: torch.Tensor) -> int:
    count = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal count
        count += 1
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, identity):
        model(idx)
    return count


def quiet_process() -> str:
    """One thread, one core: fewer ways for the machine's other load to reach the timings."""
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or parallel work already ran
        pass
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[-1]})
    return f"1 thread, pinned to core {cores[-1]} of {len(cores)}"


def orders(variants: tuple[str, ...], rounds: int) -> Iterator[tuple[str, ...]]:
    """Each round's order: every rotation in turn, reversed every other cycle."""
    for r in range(rounds):
        k = r % len(variants)
        order = variants[k:] + variants[:k]
        yield order[::-1] if (r // len(variants)) % 2 else order


def run_rounds(args: argparse.Namespace, variants: tuple[str, ...]) -> dict[str, dict[str, list[float]]]:
    """Per clock ('cpu': this process's CPU time, 'wall'), per variant, µs per step in each round."""
    model, idx, target, opt = setup(SMALL)
    for v in variants:  # warm up
        for _ in range(3):
            step(model, idx, target, opt, v)
    times: dict[str, dict[str, list[float]]] = {"cpu": {v: [] for v in variants}, "wall": {v: [] for v in variants}}
    gc.collect()
    gc.freeze()
    gc.disable()  # a collection landing in one variant's run is noise, not cost
    try:
        for order in orders(variants, args.rounds):
            for v in order:
                cpu, wall = time.process_time_ns(), time.perf_counter_ns()
                for _ in range(args.steps):
                    step(model, idx, target, opt, v)
                times["cpu"][v].append((time.process_time_ns() - cpu) / args.steps / 1e3)
                times["wall"][v].append((time.perf_counter_ns() - wall) / args.steps / 1e3)
    finally:
        gc.enable()
        gc.unfreeze()
    return times


def quantile(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[round(q * 100) - 1]


def overheads(times: dict[str, list[float]], v: str) -> list[float]:
    """A variant's time minus the hook-free time of the same round, round by round."""
    return [t - n for t, n in zip(times[v], times["none"], strict=True)]


def ratio_interval(times: dict[str, list[float]], v: str, draws: int = 2000) -> tuple[float, float]:
    """A 90% bootstrap interval (rounds resampled) of the ratio of median overheads, v over torch."""
    ours, theirs = overheads(times, v), overheads(times, "torch")
    rng = random.Random(0)
    ratios = []
    for _ in range(draws):
        picks = [rng.randrange(len(ours)) for _ in ours]
        den = statistics.median(theirs[i] for i in picks)
        ratios.append(statistics.median(ours[i] for i in picks) / den if den > 0 else float("inf"))
    ratios.sort()
    return ratios[int(0.05 * draws)], ratios[int(0.95 * draws) - 1]


def print_clock(times: dict[str, list[float]], saved: int, clock: str) -> None:
    theirs = statistics.median(overheads(times, "torch"))
    low = {v: quantile(times[v], 0.2) for v in times}
    print(f"\n{clock}: {'variant':<11} {'us/step':>9} {'overhead us':>12} {'us/saved':>9} "
          f"{'/torch medians':>15} {'90% interval':>14} {'median ratio':>13} {'/torch q20':>11}")  # fmt: skip
    for v in times:
        over = overheads(times, v)
        med = statistics.median(over)
        if v in ("none", "torch"):
            print(f"{'':>{len(clock) + 1}} {v:<11} {statistics.median(times[v]):>9.1f} {med:>12.2f} {med / saved:>9.3f}")
            continue
        lo, hi = ratio_interval(times, v)
        per_round = statistics.median(o / t for o, t in zip(over, overheads(times, "torch"), strict=True) if t > 0)
        q20 = (low[v] - low["none"]) / (low["torch"] - low["none"])
        print(f"{'':>{len(clock) + 1}} {v:<11} {statistics.median(times[v]):>9.1f} {med:>12.2f} {med / saved:>9.3f} "
              f"{med / theirs:>14.2f}x {lo:>6.2f}-{hi:.2f}x {per_round:>12.2f}x {q20:>10.2f}x")  # fmt: skip


def time_steps(args: argparse.Namespace) -> None:
    where = quiet_process()
    variants: tuple[str, ...] = ("none", "torch", "ours", "wrapper")
    if args.breakdown:
        variants += ("read-pack", "read-unpack", "check")
    times = run_rounds(args, variants)
    model, idx, _, _ = setup(SMALL)
    saved = saved_count(model, idx)
    print(f"small GPT {SMALL}: {saved} saved tensors per step")
    print(f"{args.rounds} rounds of {args.steps} steps per variant, order rotated each round; {where}; GC off")
    print("overhead: a variant's time minus the hook-free time of the same round (median over rounds);")
    print("/torch medians: ratio of median overheads, with a 90% bootstrap interval over rounds;")
    print("median ratio: median over rounds of the same-round ratio; q20: from each variant's 20% quantile time")
    print("wrapper: torch's hooks around one pass-through Python frame each way (no check): the floor of any wrapper")
    if args.breakdown:
        print("read-pack, read-unpack: the wrapper and a 2-tuple, reading _version at pack or at unpack only;")
        print("check: both reads and the comparison, the least a version check in Python does")
    for clock in ("cpu", "wall"):
        print_clock(times[clock], saved, clock)


def peak_child(variant: str) -> None:
    model, idx, target, opt = setup(LARGE)
    if variant != "baseline":
        step(model, idx, target, opt, variant)
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                print(int(line.split()[1]) / 1024)
                return
    raise RuntimeError("no VmHWM in /proc/self/status")


def peak_memory() -> None:
    print(f"\npeak resident memory (VmHWM) of one training step, {LARGE}, each in a fresh process")
    peaks: dict[str, float] = {}
    for variant in ("baseline", "none", "disk", "cpu"):
        done = subprocess.run(
            [sys.executable, __file__, "--child", variant], capture_output=True, text=True, check=True
        )
        peaks[variant] = float(done.stdout.strip().splitlines()[-1])
    for variant, mb in peaks.items():
        above = mb - peaks["baseline"]
        print(f"{variant:<9} {mb:>9.0f} MB   above baseline {above:>7.0f} MB")
    saved_none = peaks["none"] - peaks["baseline"]
    saved_disk = peaks["disk"] - peaks["baseline"]
    print(f"save_on_disk: peak above baseline {saved_disk / saved_none:.2f}x of the hook-free step's")


INSTRUCTION_VARIANTS = ("none", "torch", "ours", "wrapper", "read-pack", "read-unpack", "check")


def instructions_child(steps: int) -> None:
    """Each variant's steps between two calls of getppid, where callgrind cuts a dump."""
    torch.set_num_threads(1)
    model, idx, target, opt = setup(SMALL)
    for v in INSTRUCTION_VARIANTS:
        for _ in range(3):
            step(model, idx, target, opt, v)
    gc.collect()
    gc.disable()
    for v in INSTRUCTION_VARIANTS:
        mark()
        for _ in range(steps):
            step(model, idx, target, opt, v)
    mark()


def instructions(steps: int) -> None:
    """Instructions executed per step, counted by valgrind's callgrind: no noise from other load."""
    command = [sys.executable, __file__, "--child", "instructions", "--steps", str(steps)]
    counts = count_instructions(command, len(INSTRUCTION_VARIANTS))
    per_step = dict(zip(INSTRUCTION_VARIANTS, (c / steps for c in counts), strict=True))
    saved = saved_count(*setup(SMALL)[:2])
    theirs = per_step["torch"] - per_step["none"]
    print(f"instructions per step (callgrind), {steps} steps per variant; {saved} saved tensors per step")
    print(f"{'variant':<11} {'per step':>12} {'overhead':>10} {'per saved':>10} {'/torch':>7}")
    for v, n in per_step.items():
        over = n - per_step["none"]
        print(f"{v:<11} {n:>12,.0f} {over:>10,.0f} {over / saved:>10,.0f} {over / theirs:>6.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=600)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="8 rounds of 2 steps, no memory runs")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--breakdown", action="store_true", help="also the wrapper with one or both version reads")
    parser.add_argument("--report-70b", action="store_true", help="saved_tensors_report of a 70B model")
    parser.add_argument("--instructions", action="store_true", help="count instructions under valgrind (~3 min)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "report-70b":
        report_70b_child()
        return
    if args.child == "instructions":
        instructions_child(args.steps)
        return
    if args.child:
        peak_child(args.child)
        return
    require_root("autograd_benchmark")
    if args.report_70b:
        command = [sys.executable, __file__, "--child", "report-70b"]
        print(subprocess.run(command, capture_output=True, text=True, check=True).stdout, end="")
        return
    if args.instructions:
        instructions(40)
        return
    if args.quick:
        args.rounds, args.steps, args.no_memory = 8, 2, True
    time_steps(args)
    if not args.no_memory:
        peak_memory()


if __name__ == "__main__":
    main()
