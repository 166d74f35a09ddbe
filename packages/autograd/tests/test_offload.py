"""save_on_cpu and save_on_disk: gradients as without hooks, bytes where claimed, nothing left behind."""

import gc
import os
from pathlib import Path
from typing import Any

import pytest
import torch

from torchshade.autograd import SavedTensorModifiedError, save_on_cpu, save_on_disk, saved_tensors_hooks
from torchshade.fake import FakeTensorMode


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.GELU(), torch.nn.Linear(64, 8))


def _grads(model: torch.nn.Module, loss: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return torch.autograd.grad(loss, list(model.parameters()))


def test_disk_gradients_equal_and_files_hold_the_saved_bytes(tmp_path: Path) -> None:
    model = _model()
    x = torch.randn(16, 32)
    expected = _grads(model, model(x).sum())
    saved_bytes: list[int] = []

    def count(t: torch.Tensor) -> torch.Tensor:
        saved_bytes.append(t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(count, lambda t: t):
        model(x).sum()
    spill = save_on_disk(tmp_path)
    with spill:
        loss = model(x).sum()
    files = spill.files()
    assert len(files) == len(saved_bytes)
    on_disk = [torch.load(os.path.join(spill.directory, f), weights_only=True) for f in files]
    assert sorted(t.numel() * t.element_size() for t in on_disk) == sorted(saved_bytes)
    torch.testing.assert_close(_grads(model, loss), expected)
    assert spill.files() == []  # backward freed the saved tensors, and their files


def test_disk_directory_removed_when_done() -> None:
    a = torch.randn(8, requires_grad=True)
    spill = save_on_disk()
    with spill:
        y = a.exp().sum()
    directory = spill.directory
    assert os.path.isdir(directory)
    y.backward()
    del spill, y
    gc.collect()
    assert not os.path.exists(directory)


def test_disk_nothing_left_behind_on_error(tmp_path: Path) -> None:
    a = torch.randn(8, requires_grad=True)
    spill = save_on_disk(tmp_path)

    def failing_forward() -> None:
        h = a.exp() * a
        h.sin()
        raise ValueError("the forward fails after saving")

    with pytest.raises(ValueError, match="the forward fails"):
        with spill:
            failing_forward()
    gc.collect()
    assert spill.files() == []


def test_disk_keeps_the_version_check(tmp_path: Path) -> None:
    a = torch.randn(8, requires_grad=True)
    with save_on_disk(tmp_path):
        h = a * 1
        y = (h * a).sum()
    h.add_(1)
    with pytest.raises(SavedTensorModifiedError, match=r"f32\[8\].*is at version 1; expected version 0"):
        y.backward()


def test_cpu_gradients_equal_on_cpu_tensors() -> None:
    model = _model()
    x = torch.randn(16, 32)
    expected = _grads(model, model(x).sum())
    with save_on_cpu():
        loss = model(x).sum()
    torch.testing.assert_close(_grads(model, loss), expected)


def test_cpu_moves_accelerator_tensors_to_cpu_and_back() -> None:
    # No accelerator here: fake CUDA tensors show where the bytes go.
    mode = FakeTensorMode()
    hooks = save_on_cpu()
    with mode:
        t = torch.empty(4, 5, device="cuda")
        device, packed = hooks.pack_hook(t)
        back = hooks.unpack_hook((device, packed))
    assert packed.device == torch.device("cpu")
    assert packed.shape == t.shape and packed.stride() == t.stride()
    assert back.device == t.device
    cpu = torch.randn(3)
    assert hooks.pack_hook(cpu)[1] is cpu  # nothing to move


def keeping(store: list[Any]) -> Any:
    """A hook that records what it is given and passes it on."""

    def hook(x: Any) -> Any:
        store.append(x)
        return x

    return hook


def _meta(t: torch.Tensor) -> tuple[object, ...]:
    return (tuple(t.shape), t.stride(), t.dtype, t.device)


def test_cpu_under_autograd_with_fake_cuda_tensors() -> None:
    # Through autograd, with fake CUDA tensors (no accelerator here): spies
    # inside and outside save_on_cpu see what autograd saved, what
    # save_on_cpu packed (compared with torch's own save_on_cpu), and what
    # came back for backward.
    saved: list[torch.Tensor] = []
    packed: list[tuple[torch.device, torch.Tensor]] = []
    unpacked: list[torch.Tensor] = []
    mode = FakeTensorMode()
    with mode:
        w = torch.empty(5, 3, device="cuda").requires_grad_()
        x = torch.empty(4, 5, device="cuda")
        (expected,) = torch.autograd.grad((x @ w).tanh().sum(), w)
        inner = saved_tensors_hooks(keeping(saved), keeping(unpacked))
        with saved_tensors_hooks(keeping(packed), lambda p: p), save_on_cpu(), inner:
            y = (x @ w).tanh()
        (grad,) = torch.autograd.grad(y.sum(), w)
        theirs = [torch.autograd.graph.save_on_cpu().pack_hook(t) for t in saved]
    assert len(saved) == len(packed) == len(unpacked) >= 2
    for t, (device, cpu), (their_device, their_cpu) in zip(saved, packed, theirs, strict=True):
        assert t.device.type == "cuda" and device == t.device == their_device
        assert cpu.device == their_cpu.device == torch.device("cpu")
        assert _meta(cpu)[:3] == _meta(their_cpu)[:3] == _meta(t)[:3]
        assert cpu.is_pinned() == torch.accelerator.is_available()  # pinned only where pinning exists
    assert sorted(map(_meta, unpacked), key=str) == sorted(map(_meta, saved), key=str)  # back on cuda
    assert _meta(grad) == _meta(expected)


def test_cpu_keeps_cpu_tensors_where_they_are_under_autograd() -> None:
    saved: list[torch.Tensor] = []
    packed: list[tuple[torch.device, torch.Tensor]] = []
    a = torch.randn(4, requires_grad=True)
    with saved_tensors_hooks(keeping(packed), lambda p: p), save_on_cpu():
        with saved_tensors_hooks(keeping(saved), lambda t: t):
            y = (a * a).exp()
    assert len(packed) == len(saved) >= 2
    assert all(cpu is t for (_, cpu), t in zip(packed, saved, strict=True))  # nothing moved, nothing copied
    y.sum().backward()
    assert a.grad is not None
    torch.testing.assert_close(a.grad, (2 * a * (a * a).exp()).detach())


def test_disk_writes_a_view_s_own_bytes_not_its_base(tmp_path: Path) -> None:
    base = torch.randn(1000, 100, requires_grad=True)
    spill = save_on_disk(tmp_path)
    with spill:
        rows = base[:10] * 1  # an activation; its slice below is a view of it
        y = (rows[:, :5] * rows[:, :5]).sum()
    sizes = [os.path.getsize(os.path.join(spill.directory, f)) for f in spill.files()]
    assert sizes and max(sizes) < 10 * 100 * 4  # the 10x5 slice, not the 10x100 activation
    y.backward()
    assert base.grad is not None
    torch.testing.assert_close(base.grad[:10, :5], 2 * base.detach()[:10, :5])
