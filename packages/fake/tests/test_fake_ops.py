"""Differential tests: fake outputs match eager and torch's FakeTensorMode."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
import torch
import torch.nn.functional as F
from torch._subclasses.fake_tensor import FakeTensorMode as TorchFakeTensorMode

from torchshade.fake import FakeDeviceMismatchError, FakeTensor, FakeTensorError, FakeTensorMode
from torchshade.shapes import ShapeEnv

Fn = Callable[..., object]

CASES: dict[str, tuple[Fn, list[torch.Tensor]]] = {
    "matmul": (lambda a, b: a @ b, [torch.randn(3, 4), torch.randn(4, 5)]),
    "bmm_broadcast": (lambda a, b: a @ b, [torch.randn(2, 3, 4), torch.randn(4, 5)]),
    "add_broadcast": (lambda a, b: a + b, [torch.randn(3, 1), torch.randn(1, 4)]),
    "transpose_view": (lambda a: a.t(), [torch.randn(3, 4)]),
    "slice_view": (lambda a: a[1:, ::2], [torch.randn(4, 6)]),
    "reshape_copy": (lambda a: a.t().reshape(-1), [torch.randn(3, 4)]),
    "split": (lambda a: a.split(2), [torch.randn(5, 3)]),
    "softmax": (lambda a: a.softmax(-1), [torch.randn(2, 3, 4)]),
    "layer_norm": (lambda a: F.layer_norm(a, (4,)), [torch.randn(2, 3, 4)]),
    "conv2d": (lambda x, w: F.conv2d(x, w, padding=1), [torch.randn(1, 3, 8, 8), torch.randn(4, 3, 3, 3)]),
    "pad": (lambda a: F.pad(a, (1, 2)), [torch.randn(2, 3)]),
    "cat": (lambda a, b: torch.cat([a, b], 1), [torch.randn(2, 3), torch.randn(2, 5)]),
    "sum_keepdim": (lambda a: a.sum(1, keepdim=True), [torch.randn(2, 3, 4)]),
    "max_dim": (lambda a: a.max(1), [torch.randn(3, 4)]),
    "type_promotion": (lambda a, b: a * b, [torch.randn(3), torch.arange(3)]),
    "int_div": (lambda a: a / 2, [torch.arange(4)]),
    "permute_contiguous": (lambda a: a.permute(2, 0, 1).contiguous(), [torch.randn(2, 3, 4)]),
    "channels_last": (lambda a: a.to(memory_format=torch.channels_last) + 1, [torch.randn(1, 3, 4, 4)]),
    "expand": (lambda a: a.expand(3, 4), [torch.randn(1, 4)]),
    "index_select": (lambda a, i: a.index_select(0, i), [torch.randn(5, 3), torch.tensor([0, 2])]),
    "inplace_add": (lambda a: a.add_(1), [torch.randn(3)]),
    "embedding": (lambda i, w: F.embedding(i, w), [torch.tensor([[0, 1]]), torch.randn(4, 3)]),
    "rfftn_device_strides": (lambda a: torch.fft.rfftn(a), [torch.randn(5, 6, 6)]),
    "eig_device_strides": (lambda a: torch.linalg.eig(a), [torch.randn(5, 5)]),
    "dropout_eval_returns_input": (
        lambda a: F.dropout(a, 0.5, training=False), [torch.randn(3, 4)]
    ),
    "sdpa": (
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        [torch.randn(1, 2, 5, 8), torch.randn(1, 2, 5, 8), torch.randn(1, 2, 5, 8)],
    ),
}


def _leaves(out: object) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _leaves(o)]
    return []


def _meta(out: object, inputs: Sequence[torch.Tensor]) -> list[tuple[object, ...]]:
    """Shape, dtype, device, strides, offset, which inputs each output aliases / is."""
    rows: list[tuple[object, ...]] = []
    for t in _leaves(out):
        storage = t.untyped_storage()._cdata
        alias = [i for i, x in enumerate(inputs) if x.untyped_storage()._cdata == storage]
        same = [i for i, x in enumerate(inputs) if x is t]
        rows.append((tuple(t.shape), t.dtype, str(t.device), t.stride(), t.storage_offset(), alias, same))
    return rows


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_eager_and_torch_fake(name: str) -> None:
    fn, inputs = CASES[name]
    clones = [x.clone() for x in inputs]
    eager = _meta(fn(*clones), clones)

    ours = FakeTensorMode()
    fakes = [ours.from_tensor(x.clone()) for x in inputs]
    with ours:
        out = fn(*fakes)
    assert all(isinstance(t, FakeTensor) for t in _leaves(out))
    assert _meta(out, fakes) == eager

    theirs = TorchFakeTensorMode()
    their_fakes = [theirs.from_tensor(x.clone()) for x in inputs]
    with theirs:
        their_out = fn(*their_fakes)
    assert _meta(out, fakes) == _meta(their_out, their_fakes)


def test_fake_cuda_device_on_cpu_machine(mode: FakeTensorMode) -> None:
    with mode:
        x = torch.empty(2, 3, device="cuda")
        y = (x @ x.T).relu()
        scalar = torch.tensor(2.0)  # 0-dim CPU tensors mix with any device
        z = y * scalar
    assert x.device == torch.device("cuda:0")
    assert y.device == z.device == torch.device("cuda:0")
    assert isinstance(z, FakeTensor) and z.fake_mode is mode


def test_mismatched_devices_name_both_tensors(mode: FakeTensorMode) -> None:
    with mode:
        x = torch.empty(2, 3, device="cuda")
        y = torch.empty(2, 3)
        with pytest.raises(FakeDeviceMismatchError, match=r"f32\[2, 3\] on cuda:0 .* f32\[2, 3\] on cpu"):
            x + y


def test_device_mismatch_is_an_error_in_torch_too() -> None:
    theirs = TorchFakeTensorMode()
    with theirs:
        x = torch.empty(2, 3, device="cuda")
        with pytest.raises(RuntimeError, match="device"):
            x + torch.empty(2, 3)


def test_factory_device_and_dtype(mode: FakeTensorMode) -> None:
    with mode:
        a = torch.zeros(3, dtype=torch.float16, device="cuda:0")
        b = torch.ones_like(a)
        c = torch.arange(5)
        d = a.new_empty(2, 2)
    assert (a.dtype, a.device) == (torch.float16, torch.device("cuda:0"))
    assert (b.dtype, b.device) == (torch.float16, torch.device("cuda:0"))
    assert (c.dtype, c.device, c.shape) == (torch.int64, torch.device("cpu"), (5,))
    assert d.device == torch.device("cuda:0")


def test_ops_outside_the_mode_still_run_fake(mode: FakeTensorMode) -> None:
    x = mode.from_tensor(torch.randn(3, 4))
    y = (x * 2).sum(0)
    assert isinstance(y, FakeTensor) and y.shape == (4,) and y.fake_mode is mode


def test_backward_on_fakes(mode: FakeTensorMode) -> None:
    with mode:
        w = torch.nn.Parameter(torch.empty(4, 3))
        loss = (torch.empty(2, 4) @ w).sum()
        loss.backward()
    assert w.grad is not None and isinstance(w.grad, FakeTensor) and w.grad.shape == (4, 3)


def test_repr_is_short(mode: FakeTensorMode) -> None:
    x = mode.from_tensor(torch.empty(2, 3, requires_grad=True))
    assert repr(x) == "FakeTensor(f32[2, 3], device='cpu', requires_grad=True)"


def test_an_op_error_is_eagers_own_and_a_fake_error_is_ours() -> None:
    # The README's two kinds of error: a wrong program raises what eager raises.
    a, b = torch.randn(2, 3), torch.randn(4, 5)
    with pytest.raises(RuntimeError) as eager:
        a @ b
    mode = FakeTensorMode()
    fa, fb = mode.from_tensor(a), mode.from_tensor(b)
    with pytest.raises(RuntimeError) as fake:
        with mode:
            fa @ fb
    assert type(fake.value) is type(eager.value) and not isinstance(fake.value, FakeTensorError)
    torch_mode = TorchFakeTensorMode()
    ta, tb = torch_mode.from_tensor(a), torch_mode.from_tensor(b)
    with pytest.raises(RuntimeError) as torchs:
        with torch_mode:
            ta @ tb
    assert str(fake.value) == str(torchs.value)  # the meta kernel's words, as torch's fake mode gives
    with pytest.raises(FakeTensorError, match="is a real tensor"):
        with mode:
            fa + a


def _python_dispatcher_on() -> bool:
    return bool(torch._C._dispatch_tls_is_dispatch_key_included(torch._C.DispatchKey.PythonDispatcher))


def test_static_mode_with_a_shape_env_runs_without_the_python_dispatcher_like_torchs_make_fx() -> None:
    # torch's make_fx(..., tracing_mode="fake"): static inputs, a ShapeEnv for data-dependent
    # sizes only, and no Python dispatcher (whose decompositions differ from eager: dropout in
    # eval mode would clone).
    mode = FakeTensorMode(shape_env=ShapeEnv(), static_shapes=True)
    assert repr(mode).endswith("(static, with a ShapeEnv)")
    x = mode.from_tensor(torch.randn(3, 4))
    with mode:
        assert not _python_dispatcher_on()
        assert F.dropout(x, 0.5, training=False) is x
        rows = x.nonzero().shape[0]
    assert isinstance(rows, torch.SymInt) and not rows.node.has_hint()  # unbacked
    with FakeTensorMode(shape_env=ShapeEnv()) as symbolic_mode:  # the decompositions keep sizes symbolic
        assert _python_dispatcher_on()
    assert repr(symbolic_mode).endswith("(symbolic)") and repr(FakeTensorMode()).endswith("(static)")
    env = ShapeEnv()
    symbolic = FakeTensorMode(shape_env=env, static_shapes=True)
    symbolic.from_tensor(torch.randn(3, 4), static_shapes=False)  # a backed symbol, made before entering
    with symbolic:
        assert _python_dispatcher_on()
