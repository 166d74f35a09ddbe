"""Predicted memory against a small Llama run for real on CPU.

One symbolic run predicts saved-for-backward and peak activation bytes as
formulas in batch and seq; each is evaluated at two points and compared with
real runs at those sizes: saved bytes through saved-tensor hooks (distinct
storages of activations), peak bytes through torch's profiler (every CPU
allocation and free of the step, in order).
"""

import json
from collections.abc import Callable

import pytest
import torch
from torch.profiler import ProfilerActivity, profile
from torchshade.cli import MemoryReport, TensorSpec, main, measure_memory
from torchshade.cli._liveness import Liveness
from torchshade.cli._llama import Llama, LlamaConfig
from torchshade.cli._memory import new_mode
from torchshade.cli._resnet_moe import MoE
from torchshade.cli._rnn import ScanRNN

SMALL = LlamaConfig(vocab=512, dim=256, layers=2, heads=4, kv_heads=2, ffn=688, dtype=torch.float32)
POINTS = [{"batch": 2, "seq": 128}, {"batch": 3, "seq": 80}]
TOKENS = [TensorSpec("tokens", torch.int64, ("batch", "seq"))]


def _drop_grads(model: torch.nn.Module) -> None:
    for p in model.parameters():
        p.register_post_accumulate_grad_hook(lambda q: setattr(q, "grad", None))


def _profiled_peak(step: Callable[[], object]) -> int:
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    now = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        now += event.nbytes()
        peak = max(peak, now)
    return peak


def _real_run(batch: int, seq: int) -> tuple[int, int]:
    torch.manual_seed(0)
    return _saved_and_peak(Llama(SMALL), torch.randint(0, SMALL.vocab, (batch, seq)))


def _saved_and_peak(model: torch.nn.Module, tokens: torch.Tensor) -> tuple[int, int]:
    """Saved-for-backward bytes (distinct storages of activations) and the profiled peak of one step."""
    _drop_grads(model)
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        base = t._base
        if not (t.is_leaf or (base is not None and base.is_leaf)):
            storage = t.untyped_storage()
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    def step() -> None:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(tokens).sum().backward()

    peak = _profiled_peak(step)
    return sum(saved.values()), peak


@pytest.fixture(scope="module")
def predicted() -> MemoryReport:
    mode = new_mode()
    with mode:
        model = Llama(SMALL)
    return measure_memory("small llama", model, TOKENS, mode, POINTS, train=False)


@pytest.mark.parametrize("index", [0, 1])
def test_saved_and_peak_within_ten_percent_of_a_real_run(predicted: MemoryReport, index: int) -> None:
    point = predicted.points[index]
    saved, peak = _real_run(point.dims["batch"], point.dims["seq"])
    assert abs(point.saved_bytes - saved) <= 0.10 * saved, (point.saved_bytes, saved)
    assert abs(point.peak_activation_bytes - peak) <= 0.10 * peak, (point.peak_activation_bytes, peak)


def test_formula_equals_allocation_accounting_of_real_kernels(predicted: MemoryReport) -> None:
    """The same accounting on real tensors (real kernels, real sizes) gives the formula's value exactly."""
    point = predicted.points[0]
    torch.manual_seed(0)
    model = Llama(SMALL)
    _drop_grads(model)
    tokens = torch.randint(0, SMALL.vocab, (point.dims["batch"], point.dims["seq"]))
    external = {int(t.untyped_storage()._cdata) for t in [*model.parameters(), tokens]}
    live = Liveness([{}], external)
    with live:
        model(tokens).sum().backward()
    assert live.peak == [point.peak_activation_bytes]
    assert "batch*seq" in predicted.saved_formula


def test_data_dependent_routing_is_bounded_by_its_worst_case() -> None:
    spec = [TensorSpec("x", torch.float32, ("batch", "seq", 64))]
    mode = new_mode()
    with mode:
        fake = MoE(dim=64, ffn=128, experts=4, top_k=2)
    report = measure_memory("moe", fake, spec, mode, [{"batch": 2, "seq": 32}], train=False)
    assert report.data_dependent and all("batch*seq" in b for b in report.data_dependent.values())
    torch.manual_seed(0)
    real = MoE(dim=64, ffn=128, experts=4, top_k=2)
    _drop_grads(real)
    x = torch.randn(2, 32, 64)
    peak = _profiled_peak(lambda: real(x).sum().backward())
    assert peak <= report.points[0].peak_activation_bytes


def test_scan_rnn_within_ten_percent_of_a_real_run() -> None:
    spec = [TensorSpec("x", torch.float32, ("batch", "seq", 64))]
    mode = new_mode()
    with mode:
        fake = ScanRNN(64, 128)
    point = measure_memory("rnn", fake, spec, mode, [{"batch": 4, "seq": 32}], train=False).points[0]
    torch.manual_seed(0)
    saved, peak = _saved_and_peak(ScanRNN(64, 128), torch.randn(4, 32, 64))  # eagerly: scan's unrolled autograd
    assert abs(point.saved_bytes - saved) <= 0.10 * saved, (point.saved_bytes, saved)
    assert abs(point.peak_activation_bytes - peak) <= 0.10 * peak, (point.peak_activation_bytes, peak)


def test_rnn_memory_command_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """The built-in rnn (hidden 2048): the formulas in batch and seq, from scan's backward under fake tensors."""
    assert main(["memory", "rnn", "--at", "batch=2,seq=8", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "batch*seq" in report["saved_for_backward_formula"]
    assert report["points"][0]["saved_bytes"] >= 2 * 2 * 8 * 2048 * 4  # at least each step's carry, f32[batch, 2048]
