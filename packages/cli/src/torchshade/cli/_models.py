"""The built-in models: names, what they are, the inputs they take by default.

Each is built by the command inside a fake tensor mode (or on the meta device
for ``torchshade models``), so no parameter memory is ever allocated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ._llama import LLAMA_7B, LLAMA_70B, GPT2, GPT2Config, Llama
from ._resnet_moe import MoE, ResNet50
from ._rnn import ScanRNN
from ._spec import TensorSpec


@dataclass(frozen=True)
class Model:
    """A model the command can build: by name, or from ``path/to/file.py:factory``."""

    name: str
    description: str
    build: Callable[[], Callable[..., object]]
    inputs: tuple[TensorSpec, ...]
    memory_note: str = ""  # why `torchshade memory` cannot run it, printed with the error if it fails


def _tokens() -> tuple[TensorSpec, ...]:
    return (TensorSpec("tokens", torch.int64, ("batch", "seq")),)


BUILTIN_MODELS: dict[str, Model] = {
    m.name: m
    for m in (
        Model("gpt2", "GPT-2 small: 12 layers, d=768, 12 heads, learned positions (seq <= 1024), f32",
              lambda: GPT2(GPT2Config()), _tokens()),
        Model("llama-7b", "Llama-style 7B: 32 layers, d=4096, 32 heads, RMSNorm, rotary, SwiGLU, bf16",
              lambda: Llama(LLAMA_7B), _tokens()),
        Model("llama-70b", "Llama-style 70B: 80 layers, d=8192, 64 query / 8 key-value heads (GQA), bf16",
              lambda: Llama(LLAMA_70B), _tokens()),
        Model("resnet50", "ResNet-50-like CNN: bottlenecks [3, 4, 6, 3], BatchNorm, 1000 classes, f32",
              ResNet50, (TensorSpec("images", torch.float32, ("batch", 3, 224, 224)),)),
        Model("moe", "Mixture-of-experts block: d=1024, 8 SwiGLU experts, top-2 data-dependent routing, f32",
              MoE, (TensorSpec("x", torch.float32, ("batch", "seq", 1024)),)),
        Model("rnn", "RNN on torchshade.hops.scan: tanh cell, d=1024, hidden 2048, one scan over seq, f32",
              ScanRNN, (TensorSpec("x", torch.float32, ("batch", "seq", 1024)),)),
    )
}  # fmt: skip


def parameter_count(module: object) -> tuple[int, int]:
    """Parameters and their bytes (each storage once: tied weights count once)."""
    if not isinstance(module, nn.Module):
        return 0, 0
    seen: dict[int, nn.Parameter] = {id(p): p for p in module.parameters()}
    return sum(p.numel() for p in seen.values()), sum(p.numel() * p.element_size() for p in seen.values())


def describe_models() -> list[dict[str, object]]:
    """One row per built-in model, its parameters counted on the meta device."""
    rows: list[dict[str, object]] = []
    for model in BUILTIN_MODELS.values():
        with torch.device("meta"):
            count, nbytes = parameter_count(model.build())
        rows.append({
            "name": model.name, "parameters": count, "parameter_bytes": nbytes,
            "inputs": [f"{s.name}={s}" for s in model.inputs], "description": model.description,
        })  # fmt: skip
    return rows
