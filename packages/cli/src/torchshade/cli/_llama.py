"""Llama-style and GPT-2-style decoder-only transformers in plain ``torch.nn``.

Llama: RMSNorm, rotary position embeddings, grouped-query attention (fewer
key/value heads than query heads, repeated to match), SwiGLU feed-forward,
untied output head. GPT-2: LayerNorm, learned positions, GELU MLP, tied
output head. Attention is ``F.scaled_dot_product_attention`` (causal): on
CPU it is the flash kernel, which never holds the ``seq x seq`` scores.
The modules take token ids ``i64[batch, seq]`` and return logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class LlamaConfig:
    """The sizes of a Llama-style model."""

    vocab: int
    dim: int
    layers: int
    heads: int
    kv_heads: int
    ffn: int
    rope_theta: float = 10000.0
    dtype: torch.dtype = torch.bfloat16


LLAMA_7B = LlamaConfig(vocab=32000, dim=4096, layers=32, heads=32, kv_heads=32, ffn=11008)
LLAMA_70B = LlamaConfig(
    vocab=128256, dim=8192, layers=80, heads=64, kv_heads=8, ffn=28672, rope_theta=500000.0
)


def rotary(x: torch.Tensor, theta: float) -> torch.Tensor:
    """Rotate pairs of channels of ``x`` (``[batch, heads, seq, head_dim]``) by position."""
    seq, half = x.shape[2], x.shape[3] // 2
    freqs = 1.0 / theta ** (torch.arange(half, device=x.device, dtype=torch.float32) / half)
    angles = torch.outer(torch.arange(seq, device=x.device, dtype=torch.float32), freqs)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


class LlamaAttention(nn.Module):
    """Grouped-query self-attention with rotary embeddings."""

    def __init__(self, c: LlamaConfig) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = c.heads, c.kv_heads, c.dim // c.heads
        self.theta = c.rope_theta
        self.wq = nn.Linear(c.dim, c.heads * self.head_dim, bias=False, dtype=c.dtype)
        self.wk = nn.Linear(c.dim, c.kv_heads * self.head_dim, bias=False, dtype=c.dtype)
        self.wv = nn.Linear(c.dim, c.kv_heads * self.head_dim, bias=False, dtype=c.dtype)
        self.wo = nn.Linear(c.heads * self.head_dim, c.dim, bias=False, dtype=c.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape
        q = self.wq(x).view(b, s, self.heads, self.head_dim).transpose(1, 2)
        k = self.wk(x).view(b, s, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.wv(x).view(b, s, self.kv_heads, self.head_dim).transpose(1, 2)
        q, k = rotary(q, self.theta), rotary(k, self.theta)
        repeat = self.heads // self.kv_heads
        if repeat > 1:  # grouped-query attention: each key/value head serves `repeat` query heads
            k = k[:, :, None].expand(b, self.kv_heads, repeat, s, self.head_dim).reshape(b, self.heads, s, self.head_dim)
            v = v[:, :, None].expand(b, self.kv_heads, repeat, s, self.head_dim).reshape(b, self.heads, s, self.head_dim)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        result: torch.Tensor = self.wo(out.transpose(1, 2).reshape(b, s, self.heads * self.head_dim))
        return result


class LlamaBlock(nn.Module):
    """Pre-norm attention and SwiGLU feed-forward, each with a residual."""

    def __init__(self, c: LlamaConfig) -> None:
        super().__init__()
        self.attn_norm = nn.RMSNorm(c.dim, dtype=c.dtype)
        self.attn = LlamaAttention(c)
        self.ffn_norm = nn.RMSNorm(c.dim, dtype=c.dtype)
        self.w1 = nn.Linear(c.dim, c.ffn, bias=False, dtype=c.dtype)
        self.w3 = nn.Linear(c.dim, c.ffn, bias=False, dtype=c.dtype)
        self.w2 = nn.Linear(c.ffn, c.dim, bias=False, dtype=c.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x + self.attn(self.attn_norm(x))
        n = self.ffn_norm(h)
        out: torch.Tensor = h + self.w2(F.silu(self.w1(n)) * self.w3(n))
        return out


class Llama(nn.Module):
    """A Llama-style decoder: token ids ``i64[batch, seq]`` to logits."""

    def __init__(self, c: LlamaConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(c.vocab, c.dim, dtype=c.dtype)
        self.layers = nn.ModuleList(LlamaBlock(c) for _ in range(c.layers))
        self.norm = nn.RMSNorm(c.dim, dtype=c.dtype)
        self.head = nn.Linear(c.dim, c.vocab, bias=False, dtype=c.dtype)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        for layer in self.layers:
            x = layer(x)
        out: torch.Tensor = self.head(self.norm(x))
        return out


@dataclass(frozen=True)
class GPT2Config:
    """The sizes of a GPT-2-style model."""

    vocab: int = 50257
    positions: int = 1024
    dim: int = 768
    layers: int = 12
    heads: int = 12


class GPT2Block(nn.Module):
    """Pre-norm causal self-attention and a GELU MLP, each with a residual."""

    def __init__(self, c: GPT2Config) -> None:
        super().__init__()
        self.heads = c.heads
        self.ln1, self.ln2 = nn.LayerNorm(c.dim), nn.LayerNorm(c.dim)
        self.qkv = nn.Linear(c.dim, 3 * c.dim)
        self.proj = nn.Linear(c.dim, c.dim)
        self.fc, self.fc_out = nn.Linear(c.dim, 4 * c.dim), nn.Linear(4 * c.dim, c.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        q, k, v = (t.view(b, s, self.heads, d // self.heads).transpose(1, 2) for t in self.qkv(self.ln1(x)).split(d, dim=2))
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, s, d)
        x = x + self.proj(att)
        out: torch.Tensor = x + self.fc_out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))
        return out


class GPT2(nn.Module):
    """GPT-2: token ids ``i64[batch, seq]`` (seq at most ``positions``) to logits."""

    def __init__(self, c: GPT2Config) -> None:
        super().__init__()
        self.wte = nn.Embedding(c.vocab, c.dim)
        self.wpe = nn.Embedding(c.positions, c.dim)
        self.blocks = nn.ModuleList(GPT2Block(c) for _ in range(c.layers))
        self.ln_f = nn.LayerNorm(c.dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.wte(tokens) + self.wpe(positions)
        for block in self.blocks:
            x = block(x)
        return F.linear(self.ln_f(x), self.wte.weight)  # the output head is tied to the embedding
