"""make_fx of GPT-2-small, a Llama-style 7B and a small GPT training step: ours against torch's.

The models are tools/fake_benchmark.py's (plain torch.nn, built on the meta
device: no weight is ever allocated). The traced function is
``run(params, tokens) = functional_call(model, params, (tokens,))``, so the
weights are inputs: in fake mode they become fake tensors, in symbolic mode
every one of their dimensions is a symbol, as are batch and sequence (what
``make_fx(..., tracing_mode="symbolic")`` does). The training step is the same
forward, a cross-entropy loss and ``torch.autograd.grad`` over every weight.

Variants, run in one process, alternating, ``--repeats`` warm rounds after
one cold round:

    meta          the model called on meta tensors, no tracing: the floor
    torch-fake    torch.fx.experimental.proxy_tensor.make_fx, tracing_mode="fake"
    ours-fake     torchshade.trace.make_fx, tracing_mode="fake"
    torch-sym     torch's make_fx, tracing_mode="symbolic"
    ours-sym      ours, tracing_mode="symbolic" (graph with its guard check)
    torch-named   torch's make_fx of inputs made fake by its own FakeTensorMode
                  with a ShapeEnv: weights static, batch and sequence symbols
    ours-named    the same with our FakeTensorMode and ShapeEnv

The ratio is the median over rounds of ours / torch measured in the same
round (robust to load that changes between rounds on a shared machine).
``--memory`` traces llama-70b symbolically (all 80 layers) in a fresh process
and prints its time and peak resident memory (VmHWM).

    python3 tools/trace_benchmark.py [--models gpt2,llama-7b,gpt2-train]
        [--repeats N] [--layers L] [--batch B] [--seq S] [--memory]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode as TorchFakeTensorMode
from torch.fx.experimental.proxy_tensor import make_fx as torch_make_fx
from torch.fx.experimental.symbolic_shapes import ShapeEnv as TorchShapeEnv

from fake_benchmark import CONFIGS, Config, build, vm_hwm_mb
from torchshade.fake import FakeTensorMode
from torchshade.shapes import ShapeEnv
from torchshade.trace import make_fx as ours_make_fx

Mode = Literal["fake", "symbolic"]
Params = dict[str, torch.Tensor]


def forward_fn(model: nn.Module) -> Callable[[Params, torch.Tensor], torch.Tensor]:
    def run(params: Params, tokens: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = torch.func.functional_call(model, params, (tokens,))
        return out

    return run


def train_fn(model: nn.Module) -> Callable[[Params, torch.Tensor], tuple[torch.Tensor, ...]]:
    def step(params: Params, tokens: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits = torch.func.functional_call(model, params, (tokens,))
        loss = F.cross_entropy(logits.flatten(0, 1), tokens.flatten())
        trainable = [v for v in params.values() if v.requires_grad]
        grads = torch.autograd.grad(loss, trainable, allow_unused=True)
        return (loss.detach(), *(g for g in grads if g is not None))

    return step


@dataclass
class Case:
    """One row: a model, whether it is a training step, its inputs on the meta device."""

    name: str
    config: Config
    train: bool

    def inputs(self, batch: int, seq: int) -> tuple[nn.Module, Params, torch.Tensor]:
        model = build(self.config)
        params = {k: v for k, v in (*model.named_parameters(), *model.named_buffers())}
        return model, params, torch.zeros(batch, seq, dtype=torch.long, device="meta")


def run_variant(label: str, model: nn.Module, params: Params, tokens: torch.Tensor, train: bool) -> float:
    fn: Callable[..., Any] = train_fn(model) if train else forward_fn(model)
    start = time.perf_counter()
    if label == "meta":
        fn(params, tokens)
        return time.perf_counter() - start
    side, mode = label.split("-")
    make_fx: Callable[..., Any] = ours_make_fx if side == "ours" else torch_make_fx
    if mode == "named":
        params, tokens = named_inputs(side, params, tokens)
    gm = make_fx(fn, tracing_mode="symbolic" if mode == "sym" else "fake")(params, tokens)
    if len(gm.graph.nodes) < 10:
        sys.exit(f"{label}: a graph of {len(gm.graph.nodes)} nodes")
    return time.perf_counter() - start


def named_inputs(side: str, params: Params, tokens: torch.Tensor) -> tuple[Params, torch.Tensor]:
    """Fake inputs of the side's own mode: static weights, symbolic batch and sequence."""
    mode: Any = FakeTensorMode(shape_env=ShapeEnv()) if side == "ours" else TorchFakeTensorMode(shape_env=TorchShapeEnv())
    fake_params = {k: mode.from_tensor(v, static_shapes=True) for k, v in params.items()}
    return fake_params, mode.from_tensor(tokens)


LABELS = ["meta", "torch-fake", "ours-fake", "torch-sym", "ours-sym", "torch-named", "ours-named"]


def bench(case: Case, repeats: int, batch: int, seq: int) -> dict[str, list[float]]:
    model, params, tokens = case.inputs(batch, seq)
    runs: dict[str, list[float]] = {label: [] for label in LABELS}
    for _ in range(repeats + 1):
        for label in LABELS:
            runs[label].append(run_variant(label, model, params, tokens, case.train))
    return runs


def median_ratio(runs: dict[str, list[float]], a: str, b: str) -> float:
    pairs = list(zip(runs[a], runs[b]))[1:] or list(zip(runs[a], runs[b]))
    return statistics.median(x / y for x, y in pairs)


def print_table(results: Sequence[tuple[Case, dict[str, list[float]]]], repeats: int) -> None:
    print(f"\nmake_fx, ms, median of {repeats} warm runs; ratio = median over rounds of ours / torch in one round")
    head = ["case", "layers", "meta", "torch-fake", "ours-fake", "ratio", "torch-sym", "ours-sym", "ratio",
            "torch-named", "ours-named", "ratio"]  # fmt: skip
    print("".join(f"{h:>12}" for h in head))
    for case, runs in results:
        ms = {k: 1000 * statistics.median(v[1:] or v) for k, v in runs.items()}
        cells = [case.name, str(case.config.layers), f"{ms['meta']:.0f}", f"{ms['torch-fake']:.0f}",
                 f"{ms['ours-fake']:.0f}", f"{median_ratio(runs, 'ours-fake', 'torch-fake'):.2f}x",
                 f"{ms['torch-sym']:.0f}", f"{ms['ours-sym']:.0f}",
                 f"{median_ratio(runs, 'ours-sym', 'torch-sym'):.2f}x", f"{ms['torch-named']:.0f}",
                 f"{ms['ours-named']:.0f}", f"{median_ratio(runs, 'ours-named', 'torch-named'):.2f}x"]  # fmt: skip
        print("".join(f"{c:>12}" for c in cells))
    print("cold (first) round, ms: " + "; ".join(
        f"{case.name} " + ", ".join(f"{k} {1000 * v[0]:.0f}" for k, v in runs.items()) for case, runs in results))


def memory_child(args: argparse.Namespace) -> None:
    """Trace llama-70b symbolically once with ours; print seconds and VmHWM (MB)."""
    case = Case("llama-70b", CONFIGS["llama-70b"], False)
    model, params, tokens = case.inputs(args.batch, args.seq)
    seconds = run_variant("ours-sym", model, params, tokens, False)
    print(f"{seconds:.2f} {vm_hwm_mb():.1f}")


def print_memory(args: argparse.Namespace) -> None:
    command = [sys.executable, __file__, "--memory-child", "--batch", str(args.batch), "--seq", str(args.seq)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    seconds, mb = done.stdout.split()[-2:]
    print(f"\nllama-70b (80 layers), ours, symbolic make_fx in a fresh process: {float(seconds):.1f} s, "
          f"peak resident memory {float(mb):.0f} MB")  # fmt: skip


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--models", default="gpt2,llama-7b,gpt2-train",
                        help="comma-separated, of gpt2, llama-7b, llama-70b, and <model>-train")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3, help="warm rounds (default 3)")
    parser.add_argument("--layers", type=int, help="cut every model to L layers")
    parser.add_argument("--train-layers", type=int, default=2, help="layers of the training-step models (default 2)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--memory", action="store_true", help="also trace llama-70b in a fresh process")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    warnings.simplefilter("ignore")
    if args.memory_child:
        return memory_child(args)
    results = []
    for name in args.models.split(","):
        train = name.endswith("-train")
        config = CONFIGS[name.removesuffix("-train")]
        layers = args.train_layers if train else args.layers
        case = Case(name, config if layers is None else replace(config, layers=layers), train)
        start = time.perf_counter()
        results.append((case, bench(case, args.repeats, args.batch, args.seq)))
        print(f"{name}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    print_table(results, args.repeats)
    if args.memory:
        print_memory(args)
    return None


if __name__ == "__main__":
    main()
