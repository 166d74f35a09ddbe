"""Forward passes of GPT-2-small, Llama-style 7B and 70B and a ResNet-50 under fake tensors: ours against torch's.

Each model is written below in plain torch.nn and built on the meta device
(no weight is ever allocated). A run converts every parameter and buffer,
converts the input batch, and calls the model with
`torch.func.functional_call` inside the mode. Seven variants run in one
process, alternating, `--repeats` times each:

    meta        the model called on meta tensors, no mode: the floor
    torch       torch's FakeTensorMode, static sizes
    ours        torchshade.fake's FakeTensorMode, static sizes
    torch+SE    torch's mode with torch's ShapeEnv; weights converted with
                static_shapes=True, so only the input's dimensions (batch and
                sequence, or batch, height and width) are symbols (run under
                enable_python_dispatcher(), as torch's own tracers run it)
    ours+SE     our mode with our ShapeEnv, the same two (or three) symbols
    torch+SE*   every dimension symbolic: every parameter, buffer and input
                converted with `mode.from_tensor(t)` and the ShapeEnv's
                default policy (what make_fx(..., tracing_mode="symbolic")
                does); the hardest common variant
    ours+SE*    the same, ours
    torch+SE*d  every dimension symbolic and every dimension its own symbol
                (ShapeEnv(duck_shape=False)): the most symbols and guards
    ours+SE*d   the same, ours

Times include making the mode and converting the weights. The table shows
medians of the warm runs, and the ratio ours/torch as the median over rounds
of the two times measured in the same round (robust to a machine whose load
changes between rounds). A fresh mode is made for every run, while the
dispatch caches of both implementations live as long as the process, so the
first round is reported apart, as "cold".

Peak resident memory (VmHWM) of the full 70B configuration (80 layers,
whatever --layers says) is measured in fresh subprocesses, one per variant,
next to a baseline process that only imports torch and builds the model.

`--instructions` instead counts the instructions of each forward pass with
valgrind's callgrind, in a child process per model: a figure other load on
the machine cannot move, where the wall clock of these shared machines moves
by tens of percent between runs. It runs `ours` and `ours+SE` (or
`--variants`) on 4 layers per model (or `--layers`), 2 warm passes each and
then `--repeats` (default 2) counted ones, and prints millions of
instructions per pass and the same ratios as the timed table (about 3
minutes per model here; valgrind must be installed).

    python3 tools/fake_benchmark.py [--models gpt2,llama-7b,llama-70b]
        [--repeats N] [--quick] [--layers L] [--batch B] [--seq S] [--no-memory]
        [--ours torchshade.fake] [--ours-shapes torchshade.shapes]
    python3 tools/fake_benchmark.py --instructions [--models gpt2,llama-7b,resnet50] [--variants ours,ours+SE]
"""

from __future__ import annotations

import argparse
import gc
import importlib
import math
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import chain
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from _callgrind import count as count_instructions
from _callgrind import mark
from fake_conformance import OURS_FAKE, OURS_SHAPES, TORCH_FAKE, TORCH_SHAPES, Side, entered, hint, load_side

# ----------------------------------------------------------------------------
# The models


@dataclass(frozen=True)
class Config:
    """One model's shape. `kv_heads < heads` is grouped-query attention."""

    name: str
    family: str  # "gpt2" or "llama"
    layers: int
    dim: int
    heads: int
    kv_heads: int
    hidden: int  # width of the MLP
    vocab: int
    max_seq: int
    dtype: torch.dtype


CONFIGS = {
    "gpt2": Config("gpt2", "gpt2", 12, 768, 12, 12, 3072, 50257, 1024, torch.float32),
    "llama-7b": Config("llama-7b", "llama", 32, 4096, 32, 32, 11008, 32000, 4096, torch.bfloat16),
    "llama-70b": Config("llama-70b", "llama", 80, 8192, 64, 8, 28672, 32000, 4096, torch.bfloat16),
    # ResNet-50: `layers` counts bottleneck blocks (3, 4, 6, 3 per stage), `dim` the image side.
    "resnet50": Config("resnet50", "resnet", 16, 224, 0, 0, 0, 1000, 0, torch.float32),
}


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) + causal mask) v over [batch, heads, seq, head_dim]."""
    seq = q.shape[-2]
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    mask = torch.ones(seq, seq, dtype=torch.bool, device=q.device).tril()
    return scores.masked_fill(~mask, float("-inf")).softmax(dim=-1) @ v


class GPT2Block(nn.Module):
    def __init__(self, c: Config) -> None:
        super().__init__()
        self.heads = c.heads
        self.ln_1, self.ln_2 = nn.LayerNorm(c.dim), nn.LayerNorm(c.dim)
        self.c_attn, self.c_proj = nn.Linear(c.dim, 3 * c.dim), nn.Linear(c.dim, c.dim)
        self.c_fc, self.mlp_proj = nn.Linear(c.dim, c.hidden), nn.Linear(c.hidden, c.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = (y.view(b, t, self.heads, d // self.heads).transpose(1, 2) for y in self.c_attn(self.ln_1(x)).split(d, dim=2))
        x = x + self.c_proj(causal_attention(q, k, v).transpose(1, 2).reshape(b, t, d))
        out: torch.Tensor = x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))
        return out


class GPT2(nn.Module):
    """GPT-2 with the output head tied to the token embedding."""

    def __init__(self, c: Config) -> None:
        super().__init__()
        self.wte, self.wpe = nn.Embedding(c.vocab, c.dim), nn.Embedding(c.max_seq, c.dim)
        self.blocks = nn.ModuleList(GPT2Block(c) for _ in range(c.layers))
        self.ln_f = nn.LayerNorm(c.dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.wte(tokens) + self.wpe(torch.arange(tokens.shape[1], device=tokens.device))
        for block in self.blocks:
            x = block(x)
        logits: torch.Tensor = self.ln_f(x) @ self.wte.weight.t()
        return logits


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.float()
        return (h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding: x cos + rotate_half(x) sin."""
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


class LlamaBlock(nn.Module):
    def __init__(self, c: Config) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = c.heads, c.kv_heads, c.dim // c.heads
        kv = c.kv_heads * self.head_dim
        self.attention_norm, self.ffn_norm = RMSNorm(c.dim), RMSNorm(c.dim)
        self.wq, self.wk = nn.Linear(c.dim, c.dim, bias=False), nn.Linear(c.dim, kv, bias=False)
        self.wv, self.wo = nn.Linear(c.dim, kv, bias=False), nn.Linear(c.dim, c.dim, bias=False)
        self.w1, self.w3 = nn.Linear(c.dim, c.hidden, bias=False), nn.Linear(c.dim, c.hidden, bias=False)
        self.w2 = nn.Linear(c.hidden, c.dim, bias=False)

    def repeat_kv(self, x: torch.Tensor) -> torch.Tensor:
        """[b, kv_heads, t, d] -> [b, heads, t, d] for grouped-query attention."""
        b, kvh, t, d = x.shape
        if kvh == self.heads:
            return x
        return x[:, :, None].expand(b, kvh, self.heads // kvh, t, d).reshape(b, self.heads, t, d)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        h = self.attention_norm(x)
        q = self.wq(h).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.wk(h).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.wv(h).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        y = causal_attention(q, self.repeat_kv(k), self.repeat_kv(v))
        x = x + self.wo(y.transpose(1, 2).reshape(b, t, d))
        h = self.ffn_norm(x)
        out: torch.Tensor = x + self.w2(F.silu(self.w1(h)) * self.w3(h))
        return out


class Llama(nn.Module):
    """Llama: RMSNorm, rotary embedding, SwiGLU MLP, grouped-query attention when kv_heads < heads."""

    inv_freq: torch.Tensor

    def __init__(self, c: Config) -> None:
        super().__init__()
        head_dim = c.dim // c.heads
        self.tok_embeddings = nn.Embedding(c.vocab, c.dim)
        self.layers = nn.ModuleList(LlamaBlock(c) for _ in range(c.layers))
        self.norm = RMSNorm(c.dim)
        self.output = nn.Linear(c.dim, c.vocab, bias=False)
        self.register_buffer("inv_freq", 1.0 / (10000.0 ** (torch.arange(0, head_dim, 2).float() / head_dim)))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.tok_embeddings(tokens)
        positions = torch.arange(tokens.shape[1], device=tokens.device).float()
        freqs = torch.outer(positions, self.inv_freq)
        angles = torch.cat((freqs, freqs), dim=-1)
        cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
        for layer in self.layers:
            x = layer(x, cos, sin)
        logits: torch.Tensor = self.output(self.norm(x))
        return logits


class Bottleneck(nn.Module):
    """ResNet's 1x1 -> 3x3 (strided) -> 1x1 block with batch norms and a projected shortcut."""

    def __init__(self, inplanes: int, planes: int, stride: int) -> None:
        super().__init__()
        out = planes * 4
        self.conv1, self.bn1 = nn.Conv2d(inplanes, planes, 1, bias=False), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False), nn.BatchNorm2d(planes)
        self.conv3, self.bn3 = nn.Conv2d(planes, out, 1, bias=False), nn.BatchNorm2d(out)
        self.downsample = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(y + shortcut)


class ResNet(nn.Module):
    """ResNet-50 (torchvision's layout) in eval mode; `blocks` cuts the 16 bottlenecks short."""

    def __init__(self, c: Config) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        blocks: list[nn.Module] = []
        inplanes = 64
        for stage, (planes, count) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3))):
            for i in range(count):
                if len(blocks) < c.layers:
                    blocks.append(Bottleneck(inplanes, planes, 2 if i == 0 and stage > 0 else 1))
                inplanes = planes * 4
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(2048, c.vocab)
        self.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(images))
        x = F.pad(x, (0, 0, 0, 0, 0, 2048 - x.shape[1]))  # a cut-short network still feeds fc
        logits: torch.Tensor = self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
        return logits


def build(c: Config) -> nn.Module:
    """The model on the meta device, in its dtype."""
    with torch.device("meta"):
        model: nn.Module = GPT2(c) if c.family == "gpt2" else Llama(c) if c.family == "llama" else ResNet(c)
    return model.to(c.dtype) if c.dtype != torch.float32 else model


def example_input(c: Config, batch: int, seq: int) -> tuple[torch.Tensor, tuple[int, ...]]:
    """The model's input on the meta device and the size its output must have."""
    if c.family == "resnet":
        return torch.zeros(batch, 3, c.dim, c.dim, device="meta"), (batch, c.vocab)
    return torch.zeros(batch, seq, dtype=torch.long, device="meta"), (batch, seq, c.vocab)


# ----------------------------------------------------------------------------
# One forward pass per variant


@dataclass(frozen=True)
class Variant:
    """One column of the table: a side (None: plain meta tensors) and a pass.

    `symbolic`: a ShapeEnv; `every_dim`: weights symbolic too, not only the input.
    """

    label: str
    side: Side | None
    symbolic: bool
    every_dim: bool = False


def forward(variant: Variant, model: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """One forward pass of `model` as the variant says; returns the output (meta or fake)."""
    side = variant.side
    if side is None:
        out: torch.Tensor = model(tokens)
        return out
    mode = side.make_mode(variant.symbolic)
    tensors = chain(model.named_parameters(), model.named_buffers())
    static = not variant.every_dim
    state = {name: mode.from_tensor(t, static_shapes=static) for name, t in tensors}
    fake_tokens = mode.from_tensor(tokens)
    with entered(side, mode, variant.symbolic):
        fake_out: torch.Tensor = torch.func.functional_call(model, state, (fake_tokens,))
    return fake_out


def timed(variant: Variant, model: nn.Module, tokens: torch.Tensor, expected: tuple[int, ...]) -> float:
    """Seconds for one forward pass; checks the output's size (hints substituted)."""
    start = time.perf_counter()
    out = forward(variant, model, tokens)
    seconds = time.perf_counter() - start
    got = tuple(hint(s) for s in out.shape)
    if got != expected:
        sys.exit(f"{variant.label}: output has size {got}, expected {expected}")
    if variant.symbolic and not any(isinstance(s, torch.SymInt) for s in out.shape):
        sys.exit(f"{variant.label}: output size {tuple(out.shape)} has no symbol: the ShapeEnv run stayed static")
    return seconds


@dataclass
class Timing:
    """All run times of one model, per variant label."""

    config: Config
    runs: dict[str, list[float]]

    def median(self, label: str) -> float:
        return statistics.median(self.runs[label][1:] or self.runs[label])

    def ratio(self, label: str, other: str) -> float:
        """Median over warm rounds of label's time over other's in the same round."""
        pairs = list(zip(self.runs[label], self.runs[other]))
        return statistics.median(a / b for a, b in (pairs[1:] or pairs))


def bench(c: Config, variants: Sequence[Variant], repeats: int, batch: int, seq: int) -> Timing:
    """`repeats` + 1 alternating rounds over the variants (the first is the cold run)."""
    model = build(c)
    inputs, expected = example_input(c, batch, seq)
    runs: dict[str, list[float]] = {v.label: [] for v in variants}
    for _ in range(repeats + 1):
        for v in variants:
            runs[v.label].append(timed(v, model, inputs, expected))
    return Timing(c, runs)


# ----------------------------------------------------------------------------
# Peak memory of one run, in a fresh process


def peak_memory_mb(model: str, variant: str, args: argparse.Namespace) -> float:
    """VmHWM of a child process that runs one forward of the full `model` as `variant` says."""
    command = [sys.executable, __file__, "--child", model, variant, "--batch", str(args.batch), "--seq", str(args.seq),
               "--ours", args.ours, "--ours-shapes", args.ours_shapes]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def vm_hwm_mb() -> float:
    """This process's peak resident set size, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(model: str, variant: str, args: argparse.Namespace) -> None:
    """The body of a memory child: build, run once (unless variant is "baseline"), print VmHWM."""
    c = CONFIGS[model]
    built = build(c)
    inputs, expected = example_input(c, args.batch, args.seq)
    if variant != "baseline":
        chosen = {v.label: v for v in variants(args)}[variant]
        timed(chosen, built, inputs, expected)
    print(f"{vm_hwm_mb():.1f}")


# ----------------------------------------------------------------------------
# Instructions per forward pass, counted by callgrind


def instructions_child(model: str, args: argparse.Namespace) -> None:
    """Warm every chosen variant, then run each `--repeats` times between two marks."""
    c = replace(CONFIGS[model], layers=args.layers)
    built = build(c)
    inputs, expected = example_input(c, args.batch, args.seq)
    chosen = chosen_variants(args)
    for v in chosen:
        for _ in range(2):  # the caches as the timed table's warm runs see them
            timed(v, built, inputs, expected)
    gc.collect()
    for v in chosen:
        mark()
        for _ in range(args.repeats):
            timed(v, built, inputs, expected)
    mark()


def print_instructions(args: argparse.Namespace) -> None:
    chosen = [v.label for v in chosen_variants(args)]
    rows = []
    for name in args.models.split(","):
        start = time.perf_counter()
        command = [sys.executable, __file__, "--instructions-child", name, "--layers", str(args.layers),
                   "--repeats", str(args.repeats), "--batch", str(args.batch), "--seq", str(args.seq),
                   "--variants", ",".join(chosen), "--ours", args.ours, "--ours-shapes", args.ours_shapes]
        counts = count_instructions(command, len(chosen))
        print(f"{name}: {time.perf_counter() - start:.0f} s under callgrind", file=sys.stderr)
        per_pass = {label: [n / args.repeats] for label, n in zip(chosen, counts, strict=True)}
        rows.append(Timing(replace(CONFIGS[name], layers=args.layers), per_pass))
    # print_table shows 1000 * seconds: instructions / 1e9 prints millions of instructions
    print_table(f"instructions per forward pass, millions (callgrind; mean of {args.repeats} warm passes)",
                rows, lambda t, label: t.runs[label][0] / 1e9, lambda t, a, b: t.runs[a][0] / t.runs[b][0])


# ----------------------------------------------------------------------------
# The command line


def distinct_side(side: Side, fake_module: str, shapes_module: str) -> Side:
    """``side`` with ``ShapeEnv(duck_shape=False)``: no two dimensions share a symbol."""
    mode_class: Any = getattr(importlib.import_module(fake_module), "FakeTensorMode")
    env_class: Any = getattr(importlib.import_module(shapes_module), "ShapeEnv")

    def make_mode(symbolic: bool) -> Any:
        return mode_class(allow_non_fake_inputs=True, shape_env=env_class(duck_shape=False) if symbolic else None)

    return Side(f"{side.name}-distinct", make_mode, side.python_dispatcher)


def variants(args: argparse.Namespace) -> list[Variant]:
    torch_side = load_side("torch", TORCH_FAKE, TORCH_SHAPES, python_dispatcher=True)
    ours = load_side("ours", args.ours, args.ours_shapes)
    return [
        Variant("meta", None, False),
        Variant("torch", torch_side, False),
        Variant("ours", ours, False),
        Variant("torch+SE", torch_side, True),
        Variant("ours+SE", ours, True),
        Variant("torch+SE*", torch_side, True, every_dim=True),
        Variant("ours+SE*", ours, True, every_dim=True),
        Variant("torch+SE*d", distinct_side(torch_side, TORCH_FAKE, TORCH_SHAPES), True, every_dim=True),
        Variant("ours+SE*d", distinct_side(ours, args.ours, args.ours_shapes), True, every_dim=True),
    ]


def chosen_variants(args: argparse.Namespace) -> list[Variant]:
    """The variants `--variants` names, in the table's order (all when it is not given)."""
    return [v for v in variants(args) if args.variants is None or v.label in args.variants.split(",")]


def print_table(title: str, timings: Sequence[Timing], seconds: Callable[[Timing, str], float],
                ratio: Callable[[Timing, str, str], float]) -> None:
    """One row per model: ms per variant, and ours / torch static, with a ShapeEnv (input
    dimensions symbolic) and with every dimension symbolic; last, ours+SE over our static time."""
    print(f"\n{title}")
    head = ["model", "layers", "meta", "torch", "ours", "ratio", "torch+SE", "ours+SE", "ratio",
            "torch+SE*", "ours+SE*", "ratio*", "torch+SE*d", "ours+SE*d", "ratio*d", "SE/static"]
    print("".join(f"{h:>11}" for h in head))
    for t in timings:
        ms = {label: 1000 * seconds(t, label) for label in t.runs}

        def time_of(label: str) -> str:
            return f"{ms[label]:.0f}" if label in ms else "-"

        def ratio_of(a: str, b: str) -> str:
            return f"{ratio(t, a, b):.2f}x" if a in ms and b in ms else "-"

        cells = [t.config.name, str(t.config.layers), time_of("meta"), time_of("torch"), time_of("ours"),
                 ratio_of("ours", "torch"), time_of("torch+SE"), time_of("ours+SE"), ratio_of("ours+SE", "torch+SE"),
                 time_of("torch+SE*"), time_of("ours+SE*"), ratio_of("ours+SE*", "torch+SE*"),
                 time_of("torch+SE*d"), time_of("ours+SE*d"), ratio_of("ours+SE*d", "torch+SE*d"),
                 ratio_of("ours+SE", "ours")]
        print("".join(f"{c:>11}" for c in cells))


def print_timings(timings: Sequence[Timing], repeats: int) -> None:
    print_table(f"forward pass, ms, median of {repeats} warm runs; ratio = median over rounds of ours / torch in one round",
                timings, Timing.median, Timing.ratio)
    print_table("forward pass, ms, first (cold) run", timings, lambda t, label: t.runs[label][0],
                lambda t, a, b: t.runs[a][0] / t.runs[b][0])


def print_memory(args: argparse.Namespace) -> None:
    labels = ["baseline", "ours", "ours+SE"] if args.quick else ["baseline", "ours", "ours+SE", "ours+SE*", "torch",
                                                                 "torch+SE", "torch+SE*"]
    print("\npeak resident memory (VmHWM), llama-70b, all 80 layers, one forward pass in a fresh process")
    for label in labels:
        print(f"{label:>10}  {peak_memory_mb('llama-70b', label, args):8.0f} MB")
    print("(baseline: import torch and build the model on the meta device, no forward pass)")


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--models", help=f"comma-separated, of {', '.join(CONFIGS)} (default: all but the "
                        "70B with --instructions, else all)")
    parser.add_argument("--repeats", type=int, help="warm runs per variant (default 3; 2 with --instructions)")
    parser.add_argument("--quick", action="store_true", help="2 repeats, 4 layers per model, less memory")
    parser.add_argument("--layers", type=int, help="cut every model to L layers (memory is always measured in full)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--no-memory", action="store_true", help="skip the 70B memory subprocesses")
    parser.add_argument("--variants", help="comma-separated labels to run (default: all), e.g. "
                        "ours,torch,ours+SE*,torch+SE*; a ratio needs both of its columns")
    parser.add_argument("--ours", default=OURS_FAKE, help="module holding our FakeTensorMode")
    parser.add_argument("--ours-shapes", default=OURS_SHAPES, help="module holding our ShapeEnv")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions under valgrind's callgrind instead of timing (~3 min a model)")
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "VARIANT"), help=argparse.SUPPRESS)
    parser.add_argument("--instructions-child", metavar="MODEL", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    warnings.simplefilter("ignore")
    if args.child:
        return child(args.child[0], args.child[1], args)
    if args.instructions_child:
        return instructions_child(args.instructions_child, args)
    if args.instructions:
        args.layers, args.repeats = args.layers or 4, args.repeats or 2
        args.models, args.variants = args.models or "gpt2,llama-7b,resnet50", args.variants or "ours,ours+SE"
        return print_instructions(args)
    args.repeats, args.models = args.repeats or 3, args.models or "gpt2,llama-7b,llama-70b,resnet50"
    if args.quick:
        args.repeats, args.layers = min(args.repeats, 2), args.layers or 4
    chosen = chosen_variants(args)
    timings = []
    for name in args.models.split(","):
        c = CONFIGS[name] if args.layers is None else replace(CONFIGS[name], layers=args.layers)
        start = time.perf_counter()
        timings.append(bench(c, chosen, args.repeats, args.batch, args.seq))
        print(f"{name}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    print_timings(timings, args.repeats)
    if not args.no_memory:
        print_memory(args)


if __name__ == "__main__":
    main()
