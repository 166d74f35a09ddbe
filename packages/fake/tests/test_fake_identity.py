"""Identity: deepcopy stays in the mode, modules built inside get fakes, mixing is refused."""

from __future__ import annotations

import copy
import resource
import warnings

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode as TorchFakeTensorMode

from torchshade.fake import FakeModeMismatchError, FakeTensor, FakeTensorMode, NonFakeInputError


def test_deepcopy_of_fakes_stays_in_the_mode(mode: FakeTensorMode) -> None:
    x = mode.from_tensor(torch.randn(2, 3, requires_grad=True))
    y = copy.deepcopy(x)
    assert isinstance(y, FakeTensor) and y.fake_mode is mode and y is not x
    assert (y.shape, y.requires_grad, y.is_leaf) == ((2, 3), True, True)


def test_deepcopy_of_a_module_keeps_parameters(mode: FakeTensorMode) -> None:
    with mode:
        lin = torch.nn.Linear(3, 4)
    twin = copy.deepcopy(lin)
    assert isinstance(twin.weight, torch.nn.Parameter) and isinstance(twin.weight, FakeTensor)
    assert twin.weight.fake_mode is mode and twin.weight is not lin.weight
    with mode:
        out = twin(torch.empty(2, 3))
    assert out.shape == (2, 4)


def test_transformer_builds_and_runs_without_allocating(mode: FakeTensorMode) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with mode, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nn.Transformer's nested-tensor advice
        model = torch.nn.Transformer(d_model=1024, nhead=8, num_encoder_layers=2, num_decoder_layers=2)
        out = model(torch.empty(10, 2, 1024), torch.empty(7, 2, 1024))
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert out.shape == (7, 2, 1024) and isinstance(out, FakeTensor)
    assert all(isinstance(p, FakeTensor) and p.fake_mode is mode for p in model.parameters())
    assert grown_mb < 100  # the real model would be ~190 MB of float32 weights


def test_torch_fails_on_transformer_because_deepcopy_copies_its_mode() -> None:
    # nn.Transformer deep-copies its layers; torch's FakeTensor.__deepcopy__
    # copies the tensor's __dict__, including fake_mode, so the copies belong
    # to a second mode. Ours returns itself from FakeTensorMode.__deepcopy__.
    with TorchFakeTensorMode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(AssertionError, match="Mixing fake modes"):
            torch.nn.Transformer(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1)


def test_mixing_two_modes_names_both(mode: FakeTensorMode) -> None:
    other = FakeTensorMode()
    x, y = mode.from_tensor(torch.randn(2)), other.from_tensor(torch.randn(2))
    with mode, pytest.raises(FakeModeMismatchError, match=r"belongs to FakeTensorMode#\d+.*runs under FakeTensorMode#\d+"):
        x + y


def test_real_tensor_meeting_a_fake(mode: FakeTensorMode) -> None:
    x = mode.from_tensor(torch.randn(2))
    real = torch.randn(2)
    with mode, pytest.raises(NonFakeInputError, match=r"real tensor \(f32\[2\] on cpu\).*allow_non_fake_inputs=True"):
        x + real
    lenient = FakeTensorMode(allow_non_fake_inputs=True)
    with lenient:
        out = lenient.from_tensor(torch.randn(2)) + real
    assert isinstance(out, FakeTensor) and out.fake_mode is lenient
    assert lenient.from_tensor(real) is lenient.from_tensor(real)


def test_reentering_the_mode_is_a_no_op(mode: FakeTensorMode) -> None:
    with mode:
        with mode:
            a = torch.empty(2)
        b = torch.empty(3)
    assert isinstance(a, FakeTensor) and isinstance(b, FakeTensor)
    c = torch.empty(1)
    assert not isinstance(c, FakeTensor)


def test_deepcopy_keeps_storage_sharing_like_real_tensors(mode: FakeTensorMode) -> None:
    real = torch.randn(4, 4)
    pair = [real, real[1:]]
    real_copy = copy.deepcopy(pair)
    fakes = [mode.from_tensor(t) for t in pair]
    fake_copy = copy.deepcopy(fakes)
    for copies in (real_copy, fake_copy):
        assert copies[0].untyped_storage()._cdata == copies[1].untyped_storage()._cdata
    assert fake_copy[0].untyped_storage()._cdata != fakes[0].untyped_storage()._cdata
    assert [(t.shape, t.stride(), t.storage_offset()) for t in fake_copy] == [
        (t.shape, t.stride(), t.storage_offset()) for t in real_copy
    ]
    assert all(isinstance(t, FakeTensor) and t.fake_mode is mode for t in fake_copy)
