"""torch._meta_registrations.device_hint: ours only while our kernels run, torch's otherwise."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest
import torch
import torch._meta_registrations as meta_registrations
from torch._subclasses.fake_tensor import FakeTensorMode as TorchFakeTensorMode

from torchshade.fake import FakeTensorMode
from torchshade.fake._device_hint import DEVICE_HINT

ORIGINAL = meta_registrations.device_hint


def run_fresh(code: str) -> str:
    """Run ``code`` in a new Python process; its stdout (a failure fails the test, abort included)."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_importing_and_using_our_mode_leaves_torchs_function_in_a_fresh_process() -> None:
    out = run_fresh(
        """
        import torch
        import torch._meta_registrations as m
        original = m.device_hint
        import torchshade.fake
        from torchshade.fake import FakeTensorMode
        print(m.device_hint is original)
        mode = FakeTensorMode()
        with mode:
            y = torch.fft.rfftn(torch.empty(2, 3, 4))
            print(m.device_hint is original)
        print(m.device_hint is original, y.stride())
        """
    )
    assert out.split("\n")[:3] == ["True", "True", f"True {torch.fft.rfftn(torch.empty(2, 3, 4)).stride()}"]


def test_a_cpu_fake_gets_eagers_strides_from_device_hinted_kernels() -> None:
    real = torch.randn(2, 3, 4)
    mode = FakeTensorMode()
    x = mode.from_tensor(real)
    with mode:
        ours = torch.fft.rfftn(x)
    theirs_mode = TorchFakeTensorMode()
    with theirs_mode:
        theirs = torch.fft.rfftn(theirs_mode.from_tensor(real))
        assert meta_registrations.device_hint is ORIGINAL  # inside the mode, between ops
    eager = torch.fft.rfftn(real)
    # rfftn's meta kernel asks device_hint: without ours it would answer "cuda" and
    # give CUDA strides (6, 1, 30) on this CPU fake.
    assert ours.stride() == theirs.stride() == eager.stride()
    assert meta_registrations.device_hint is ORIGINAL


def test_an_error_inside_a_kernel_restores_torchs_function() -> None:
    mode = FakeTensorMode()
    a, b = mode.from_tensor(torch.empty(2, 3)), mode.from_tensor(torch.empty(4, 5))
    with mode, pytest.raises(RuntimeError, match=r"Expected size for first two dimensions of batch2"):
        torch.bmm(a.unsqueeze(0), b.unsqueeze(0))  # a Python meta kernel raises
    assert meta_registrations.device_hint is ORIGINAL


def test_someone_elses_replacement_made_while_ours_is_in_stays() -> None:
    def theirs(tensor: object) -> str:
        return "cpu"

    try:
        with DEVICE_HINT:
            meta_registrations.device_hint = theirs
        assert meta_registrations.device_hint is theirs
    finally:
        meta_registrations.device_hint = ORIGINAL


def test_kernels_on_several_threads_leave_torchs_function() -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            mode = FakeTensorMode()
            x = mode.from_tensor(torch.empty(4, 6))
            with mode:
                for _ in range(50):
                    torch.fft.rfft(x)
        except BaseException as error:  # reported below, on the test's thread
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert meta_registrations.device_hint is ORIGINAL
