"""saved_tensors_report against torch's FakeTensorMode with torch's saved_tensors_hooks."""

import resource
from typing import Any

import torch
import torch.nn.functional as F
from torch._subclasses.fake_tensor import FakeTensorMode as TorchFakeTensorMode

from torchshade.autograd import SavedTensorsReport, saved_tensors_report
from torchshade.fake import FakeTensorMode
from torchshade.shapes import ShapeEnv


class Block(torch.nn.Module):
    """A Llama-style decoder layer: RMSNorm, grouped-query attention, SwiGLU."""

    def __init__(self, d: int, heads: int, kv_heads: int, ffn: int) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, d // heads
        self.norm1 = torch.nn.RMSNorm(d)
        self.norm2 = torch.nn.RMSNorm(d)
        self.q = torch.nn.Linear(d, d, bias=False)
        self.kv = torch.nn.Linear(d, 2 * kv_heads * self.head_dim, bias=False)
        self.o = torch.nn.Linear(d, d, bias=False)
        self.gate = torch.nn.Linear(d, ffn, bias=False)
        self.up = torch.nn.Linear(d, ffn, bias=False)
        self.down = torch.nn.Linear(ffn, d, bias=False)

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


def _torch_saved(mode: Any, model: torch.nn.Module, x: torch.Tensor) -> list[tuple[tuple[int, ...], torch.dtype]]:
    seen: list[tuple[tuple[int, ...], torch.dtype]] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        seen.append((tuple(t.shape), t.dtype))
        return t

    with mode, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return seen


def _specs(report: SavedTensorsReport) -> list[tuple[str, torch.dtype]]:
    return [(e.spec, e.dtype) for e in report.entries]


def _spec(shape: tuple[int, ...], dtype: torch.dtype) -> str:
    code = {torch.float32: "f32", torch.bfloat16: "bf16"}[dtype]
    return f"{code}[{', '.join(map(str, shape))}]"


def test_same_saved_tensors_as_torch_on_real_inputs() -> None:
    torch.manual_seed(0)
    model = Block(64, 4, 2, 128)
    x = torch.randn(2, 16, 64)
    report = saved_tensors_report(model, x)
    theirs = _torch_saved(TorchFakeTensorMode(allow_non_fake_inputs=True), model, x)
    assert _specs(report) == [(_spec(s, d), d) for s, d in theirs]
    assert {e.op for e in report.entries} >= {"linear", "scaled_dot_product_attention", "rms_norm"}
    assert all(e.line.startswith(__file__) for e in report.entries)  # the user's lines
    assert report.total_bytes > report.activation_bytes > 0


def test_totals_count_a_storage_once() -> None:
    a = torch.randn(100, requires_grad=True)

    def square(t: torch.Tensor) -> torch.Tensor:
        return (t * 1) * (t * 1)

    report = saved_tensors_report(square, a)
    assert len(report.entries) == 2
    assert report.activation_bytes == 2 * 400  # two different products, each saved once
    same = saved_tensors_report(lambda t: t * t, a)
    assert len(same.entries) == 2 and same.total_bytes == 400 and same.activation_bytes == 0


def test_symbolic_sizes_give_symbolic_bytes() -> None:
    mode = FakeTensorMode(shape_env=ShapeEnv())
    x = mode.from_tensor(torch.randn(4, 8), source="x")
    w = mode.from_tensor(torch.randn(8, 8, requires_grad=True))
    report = saved_tensors_report(lambda a, b: (a @ b).relu(), x, w)
    assert any(isinstance(e.nbytes, torch.SymInt) for e in report.entries)
    assert "s0" in str(report)


def test_70b_layer_without_allocating() -> None:
    mode = FakeTensorMode()
    with mode:
        torch.set_default_dtype(torch.bfloat16)
        try:
            model = Block(8192, 64, 8, 28672)
        finally:
            torch.set_default_dtype(torch.float32)
        x = torch.empty(1, 4096, 8192, dtype=torch.bfloat16)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    report = saved_tensors_report(model, x)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    assert isinstance(report.activation_bytes, int)
    assert report.total_bytes > 2**30  # one layer's weights alone are 1.6 GiB in bf16
    assert grown < report.total_bytes / 10
    theirs_mode = TorchFakeTensorMode()
    with theirs_mode:
        torch.set_default_dtype(torch.bfloat16)
        try:
            oracle_model = Block(8192, 64, 8, 28672)
        finally:
            torch.set_default_dtype(torch.float32)
        oracle_x = torch.empty(1, 4096, 8192, dtype=torch.bfloat16)
    theirs = _torch_saved(theirs_mode, oracle_model, oracle_x)
    assert _specs(report) == [(_spec(s, d), d) for s, d in theirs]
