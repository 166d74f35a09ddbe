"""A ResNet-50-like CNN and a mixture-of-experts block, in plain ``torch.nn``.

ResNet-50: bottleneck blocks ``[3, 4, 6, 3]`` with BatchNorm, images
``f32[batch, 3, H, W]`` to class logits. The mixture of experts routes each
token to its top-k experts; which tokens an expert sees depends on the data
(``nonzero``), so under fake tensors those sizes are unbacked symbols.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Bottleneck(nn.Module):
    """1x1, 3x3 (strided), 1x1 convolutions with a projected shortcut where shapes change."""

    def __init__(self, inp: int, width: int, stride: int) -> None:
        super().__init__()
        out = 4 * width
        self.body = nn.Sequential(
            nn.Conv2d(inp, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, out, 1, bias=False), nn.BatchNorm2d(out),
        )  # fmt: skip
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or inp != out:
            self.shortcut = nn.Sequential(nn.Conv2d(inp, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class ResNet50(nn.Module):
    """Stem, four stages of bottlenecks, global average pool, a linear classifier."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
        ]  # fmt: skip
        inp = 64
        for i, (blocks, width) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512), strict=True)):
            for j in range(blocks):
                layers.append(Bottleneck(inp, width, 2 if j == 0 and i > 0 else 1))
                inp = 4 * width
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(inp, classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc(self.features(images).mean(dim=(2, 3)))
        return out


class MoE(nn.Module):
    """Top-k routing over SwiGLU experts; the tokens each expert gets depend on the data."""

    def __init__(self, dim: int = 1024, ffn: int = 2816, experts: int = 8, top_k: int = 2) -> None:
        super().__init__()
        self.top_k = top_k
        self.router = nn.Linear(dim, experts, bias=False)
        self.w1 = nn.ModuleList(nn.Linear(dim, ffn, bias=False) for _ in range(experts))
        self.w3 = nn.ModuleList(nn.Linear(dim, ffn, bias=False) for _ in range(experts))
        self.w2 = nn.ModuleList(nn.Linear(ffn, dim, bias=False) for _ in range(experts))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        weights, chosen = self.router(flat).softmax(dim=-1).topk(self.top_k, dim=-1)
        out = torch.zeros_like(flat)
        for e, (w1, w3, w2) in enumerate(zip(self.w1, self.w3, self.w2, strict=True)):
            token, slot = (chosen == e).nonzero(as_tuple=True)  # data-dependent: how many tokens chose e
            h = flat[token]
            y = w2(F.silu(w1(h)) * w3(h)) * weights[token, slot, None]
            out = out.index_add(0, token, y)
        return out.view_as(x)
