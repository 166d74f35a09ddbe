"""Models traced symbolically at one size, re-run at another against eager, and
re-run at a size that breaks a guard of the trace (which must raise).

Weights are inputs (``torch.func.functional_call``), so every weight dimension
is symbolic too, as ``make_fx(..., tracing_mode="symbolic")`` makes them.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from torchshade.trace import GuardViolationError, make_fx

Params = dict[str, torch.Tensor]


def _params(model: nn.Module) -> Params:
    return {k: v.detach() for k, v in (*model.named_parameters(), *model.named_buffers())}


def _runner(model: nn.Module) -> Callable[[Params, torch.Tensor], torch.Tensor]:
    def run(params: Params, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = functional_call(model, params, (x,))
        return out

    return run


class GPTBlock(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=-1)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
        out: torch.Tensor = x + self.out(F.gelu(self.fc(self.ln2(x))))
        return out


class GPT(nn.Module):
    def __init__(self, vocab: int = 64, d: int = 16, heads: int = 2, layers: int = 2, max_pos: int = 12) -> None:
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Parameter(torch.randn(max_pos, d) * 0.02)
        self.blocks = nn.ModuleList(GPTBlock(d, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.wte(idx) + self.wpe[: idx.shape[1]]
        for block in self.blocks:
            x = block(x)
        logits: torch.Tensor = self.ln_f(x) @ self.wte.weight.t()
        return logits


class RMSNorm(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


class LlamaBlock(nn.Module):
    """RoPE from cached cos/sin tables and grouped-query attention (4 query heads, 2 kv heads)."""

    cos: torch.Tensor
    sin: torch.Tensor

    def __init__(self, d: int = 16, heads: int = 4, kv_heads: int = 2, max_seq: int = 12) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.hd = heads, kv_heads, d // heads
        self.q = nn.Linear(d, d, bias=False)
        self.kv = nn.Linear(d, 2 * kv_heads * self.hd, bias=False)
        self.o = nn.Linear(d, d, bias=False)
        self.gate, self.up, self.down = (nn.Linear(d, 32, bias=False), nn.Linear(d, 32, bias=False),
                                         nn.Linear(32, d, bias=False))  # fmt: skip
        self.norm1, self.norm2 = RMSNorm(d), RMSNorm(d)
        freqs = 1.0 / (10000 ** (torch.arange(0, self.hd, 2).float() / self.hd))
        angles = torch.outer(torch.arange(max_seq).float(), freqs).repeat(1, 2)
        self.register_buffer("cos", angles.cos())
        self.register_buffer("sin", angles.sin())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        h = self.norm1(x)
        q = self.q(h).view(b, t, self.heads, self.hd).transpose(1, 2)
        k, v = self.kv(h).view(b, t, 2 * self.kv_heads, self.hd).transpose(1, 2).chunk(2, dim=1)
        cos, sin = self.cos[:t], self.sin[:t]
        q, k = _rotate(q, cos, sin), _rotate(k, cos, sin)
        groups = self.heads // self.kv_heads
        k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.o(y.transpose(1, 2).reshape(b, t, d))
        h = self.norm2(x)
        out: torch.Tensor = x + self.down(F.silu(self.gate(h)) * self.up(h))
        return out


class ResBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(c, c, 3, padding=1), nn.Conv2d(c, c, 3, padding=1)
        self.bn1, self.bn2 = nn.BatchNorm2d(c), nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))


class ResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.blocks = nn.Sequential(ResBlock(8), ResBlock(8))
        self.fc = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(F.relu(self.stem(x)))
        out: torch.Tensor = self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))
        return out


class MoE(nn.Module):
    """Top-2 routing over 4 experts; each expert runs on the tokens routed to it (data-dependent sizes)."""

    def __init__(self, d: int = 8, experts: int = 4) -> None:
        super().__init__()
        self.router = nn.Linear(d, experts, bias=False)
        self.experts = nn.ModuleList(nn.Sequential(nn.Linear(d, 16), nn.GELU(), nn.Linear(16, d))
                                     for _ in range(experts))  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights, chosen = self.router(x).softmax(-1).topk(2, dim=-1)
        out = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            token, slot = (chosen == e).nonzero(as_tuple=True)
            out = out.index_add(0, token, expert(x[token]) * weights[token, slot, None])
        return out


def _trace_and_check(model: nn.Module, example: torch.Tensor, other: torch.Tensor,
                     breaking: torch.Tensor, guard: str) -> None:  # fmt: skip
    torch.manual_seed(0)
    run, params = _runner(model), _params(model)
    gm = make_fx(run, tracing_mode="symbolic")(params, example)
    made = [n for n in gm.graph.nodes if n.op == "call_function" and n.name != "check_guards"]
    assert all("val" in n.meta and "forward" in n.meta["stack_trace"] for n in made)
    for x in (example, other):
        expected = run(params, x)
        got = gm(params, x)
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
        assert got.stride() == expected.stride()
    with pytest.raises(GuardViolationError, match=guard):
        gm(params, breaking)


def test_gpt2_like() -> None:
    torch.manual_seed(0)
    model = GPT()

    def tokens(b: int, t: int) -> torch.Tensor:
        return torch.randint(0, 64, (b, t))

    _trace_and_check(model, tokens(2, 8), tokens(3, 11), tokens(2, 14), r"x\.size\(\)\[1\]|x\.size\(\)\[0\]")


def test_llama_like_with_rope_and_grouped_query_attention() -> None:
    torch.manual_seed(0)
    model = LlamaBlock()
    _trace_and_check(model, torch.randn(2, 6, 16), torch.randn(3, 10, 16), torch.randn(2, 13, 16),
                     r"x\.size\(\)\[1\]")  # fmt: skip


def test_resnet_like_channels_last() -> None:
    torch.manual_seed(0)
    model = ResNet().eval()

    def image(b: int, h: int, w: int) -> torch.Tensor:
        return torch.randn(b, 3, h, w).to(memory_format=torch.channels_last)

    # H != W in the example: equal example sizes would share one symbol (duck shaping, as torch).
    _trace_and_check(model, image(2, 16, 20), image(3, 20, 24), image(1, 16, 20), r"x\.size\(\)\[0\]")


def test_mixture_of_experts_with_data_dependent_routing() -> None:
    torch.manual_seed(0)
    model = MoE()
    _trace_and_check(model, torch.randn(10, 8), torch.randn(17, 8), torch.randn(1, 8), r"x\.size\(\)\[0\]")


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out


def test_mlp_training_step() -> None:
    torch.manual_seed(0)
    model = MLP()

    def step(params: Params, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, Params]:
        leaves = {k: v.detach().requires_grad_() for k, v in params.items()}
        loss = F.cross_entropy(functional_call(model, leaves, (x,)), y)
        grads = torch.autograd.grad(loss, list(leaves.values()))
        return loss.detach(), {k: (p - 0.1 * g).detach() for (k, p), g in zip(leaves.items(), grads)}

    params = _params(model)

    def data(b: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.randn(b, 6), torch.randint(0, 3, (b,))

    gm = make_fx(step, tracing_mode="symbolic")(params, *data(8))
    for batch in (8, 5):
        x, y = data(batch)
        torch.testing.assert_close(gm(params, x, y), step(params, x, y))
    with pytest.raises(GuardViolationError, match=r"x\.size\(\)\[0\]"):
        gm(params, *data(1))
