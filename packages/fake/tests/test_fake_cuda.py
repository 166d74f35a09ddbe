"""Fake CUDA tensors on a CPU-only build: made, moved, trained, never initializing CUDA.

Everything that could abort the process (autograd on fake CUDA tensors
aborts under torch's own fake mode on a CPU-only build) runs in a child
process, one script for all cases: an abort fails these tests instead of
killing pytest. Each case prints one JSON line; the tests read them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from torchshade.fake import FakeDeviceMismatchError, FakeTensorMode

SCRIPT = r'''
import json, torch
from torchshade.fake import FakeTensorMode

CASES = {}

def case(fn):
    CASES[fn.__name__] = fn
    return fn

def meta(t):
    return {"device": str(t.device), "shape": list(t.shape), "stride": list(t.stride()),
            "requires_grad": t.requires_grad, "is_cuda": t.is_cuda, "get_device": t.get_device()}

@case
def empty():
    return meta(torch.empty(2, 3, device="cuda"))

@case
def linear():
    layer = torch.nn.Linear(4, 3, device="cuda")
    return {"weight": meta(layer.weight), "out": meta(layer(torch.empty(2, 4, device="cuda")))}

@case
def to_cuda():
    x = torch.empty(2, 3)
    y = x.to("cuda")
    return {"to": meta(y), "to_same_is_self": y.to("cuda:0") is y, "to_dtype": meta(y.to(torch.float64)),
            "kw": meta(x.to(device="cuda")), "cpu": meta(y.cpu())}

@case
def dot_cuda():
    x = torch.empty(2, 3)
    return {"cuda": meta(x.cuda()), "cuda0": meta(x.cuda(0)), "cuda1": meta(x.cuda(1))}

@case
def module_to_cuda():
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)).to("cuda")
    out = net(torch.empty(5, 4, device="cuda"))
    return {"params": sorted({str(p.device) for p in net.parameters()}), "out": meta(out),
            "cuda_method": sorted({str(p.device) for p in torch.nn.Linear(2, 2).cuda().parameters()})}

@case
def backward():
    x = torch.empty(2, 3, device="cuda", requires_grad=True)
    (x * 2).sum().backward()
    return meta(x.grad)

@case
def training_step():
    layer = torch.nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, batch_first=True, device="cuda")
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    out = layer(torch.empty(2, 5, 16, device="cuda"))
    out.sum().backward()
    opt.step()
    grads = sorted({str(p.grad.device) for p in layer.parameters()})
    return {"out": meta(out), "grads": grads, "missing": sum(p.grad is None for p in layer.parameters())}

@case
def conv_channels_last():
    conv = torch.nn.Conv2d(3, 8, 3, device="cuda")
    x = torch.empty(2, 3, 8, 8, device="cuda").contiguous(memory_format=torch.channels_last)
    out = conv(x)
    out.sum().backward()
    return {"out": meta(out), "weight_grad": meta(conv.weight.grad)}

@case
def sdpa():
    q = torch.empty(2, 4, 8, 16, device="cuda", requires_grad=True)
    out = torch.nn.functional.scaled_dot_product_attention(q, q, q)
    out.sum().backward()
    return {"out": meta(out), "grad": meta(q.grad)}

@case
def made_like_a_cuda_tensor():
    # C++ composite kernels and bindings pass a fake's device on: they see the stand-in.
    x = torch.empty(2, 3, device="cuda")
    labels = torch.zeros(2, dtype=torch.long, device="cuda")
    made = {
        "new_tensor": x.new_tensor([1.0, 2.0]),
        "tensor_on_x_device": torch.tensor([1.0, 2.0], device=x.device),
        "one_hot": torch.nn.functional.one_hot(labels, 4),
        "cross_entropy": torch.nn.functional.cross_entropy(x, labels),
        "dropout": torch.nn.functional.dropout(x, 0.5),
        "copy_": x.copy_(torch.empty(2, 3, device="cuda")),
    }
    return {name: str(t.device) for name, t in made.items()}

@case
def real_tensor_to_cuda():
    real = torch.ones(2)  # made before the mode: a real CPU tensor
    return real

results = {}
real = torch.ones(2)
mode = FakeTensorMode()
with mode:
    for name, fn in CASES.items():
        try:
            if name == "real_tensor_to_cuda":
                real.to("cuda")
                results[name] = {"ok": True}
            else:
                results[name] = {"ok": True, "value": fn()}
        except Exception as error:
            results[name] = {"ok": False, "error": f"{type(error).__name__}: {error}"}
results["cuda_initialized"] = torch.cuda.is_initialized()
print(json.dumps(results))
'''


@pytest.fixture(scope="module")
def results() -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"the child process died ({done.returncode}):\n{done.stderr[-4000:]}"
    found: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def value(results: dict[str, object], name: str) -> dict[str, object]:
    entry = results[name]
    assert isinstance(entry, dict)
    assert entry["ok"], entry.get("error")
    found = entry["value"]
    assert isinstance(found, dict)
    return found


def expected(shape: list[int], requires_grad: bool = False, device: str = "cuda:0", **strides: list[int]) -> dict[str, object]:
    """The metadata eager CUDA gives: contiguous strides unless given."""
    stride = strides.get("stride", list(torch.empty(shape).stride()))
    index = torch.device(device).index
    return {"device": device, "shape": shape, "stride": stride, "requires_grad": requires_grad,
            "is_cuda": device.startswith("cuda"), "get_device": -1 if index is None else index}


def test_factories_with_device_cuda(results: dict[str, object]) -> None:
    assert value(results, "empty") == {**expected([2, 3])}


def test_linear_built_on_cuda(results: dict[str, object]) -> None:
    found = value(results, "linear")
    assert found == {"weight": expected([3, 4], True), "out": expected([2, 3], True)}


def test_to_cuda_without_an_index_and_back(results: dict[str, object]) -> None:
    found = value(results, "to_cuda")
    assert found["to"] == expected([2, 3]) and found["kw"] == expected([2, 3])
    assert found["to_same_is_self"] is True  # as eager: .to() of the device it is on returns the tensor
    assert found["to_dtype"] == expected([2, 3])
    assert found["cpu"] == expected([2, 3], device="cpu")


def test_dot_cuda_with_and_without_an_index(results: dict[str, object]) -> None:
    found = value(results, "dot_cuda")
    assert found == {"cuda": expected([2, 3]), "cuda0": expected([2, 3]), "cuda1": expected([2, 3], device="cuda:1")}


def test_module_to_cuda_moves_every_parameter(results: dict[str, object]) -> None:
    found = value(results, "module_to_cuda")
    assert found == {"params": ["cuda:0"], "out": expected([5, 2], True), "cuda_method": ["cuda:0"]}


def test_backward_on_fake_cuda_tensors(results: dict[str, object]) -> None:
    assert value(results, "backward") == expected([2, 3])


def test_a_training_step_of_a_transformer_layer_on_cuda(results: dict[str, object]) -> None:
    found = value(results, "training_step")
    assert found == {"out": expected([2, 5, 16], True), "grads": ["cuda:0"], "missing": 0}


def test_channels_last_convolution_on_cuda_follows_cudnn(results: dict[str, object]) -> None:
    found = value(results, "conv_channels_last")
    channels_last = list(torch.empty(2, 8, 6, 6).contiguous(memory_format=torch.channels_last).stride())
    assert found == {"out": expected([2, 8, 6, 6], True, stride=channels_last), "weight_grad": expected([8, 3, 3, 3])}


def test_attention_forward_and_backward_on_cuda(results: dict[str, object]) -> None:
    found = value(results, "sdpa")
    assert found == {"out": expected([2, 4, 8, 16], True), "grad": expected([2, 4, 8, 16])}


def test_tensors_made_like_a_cuda_fake_are_on_cuda(results: dict[str, object]) -> None:
    found = value(results, "made_like_a_cuda_tensor")
    assert found == dict.fromkeys(["new_tensor", "tensor_on_x_device", "one_hot", "cross_entropy", "dropout", "copy_"], "cuda:0")


def test_a_real_tensor_moved_to_cuda_is_an_error_naming_cuda(results: dict[str, object]) -> None:
    entry = results["real_tensor_to_cuda"]
    assert isinstance(entry, dict) and not entry["ok"]
    assert "cuda" in str(entry["error"]).lower()


def test_cuda_is_never_initialized(results: dict[str, object]) -> None:
    assert results["cuda_initialized"] is False


def test_mixing_cpu_and_cuda_fakes_names_both() -> None:
    mode = FakeTensorMode()
    with mode:
        a, b = torch.empty(2, 3, device="cuda"), torch.empty(2, 3)
        with pytest.raises(FakeDeviceMismatchError, match=r"f32\[2, 3\] on cuda:0.*f32\[2, 3\] on cpu"):
            torch.add(a, b)


def test_the_stand_in_device_never_shows_in_python() -> None:
    mode = FakeTensorMode()
    with mode:
        x = torch.empty(2, device="cuda")
        y = x + 1
    for t in (x, y):
        assert (str(t.device), t.is_cuda, t.is_meta, t.is_cpu, t.get_device()) == ("cuda:0", True, False, False, 0)
        assert repr(t) == "FakeTensor(f32[2], device='cuda:0')"


def test_the_fake_device_agrees_with_torchs_fake_mode_where_torch_can() -> None:
    code = textwrap.dedent(
        """
        import torch
        from torch._subclasses.fake_tensor import FakeTensorMode
        mode = FakeTensorMode()
        with mode:
            out = torch.empty(2, 3, device="cuda") @ torch.empty(3, 4, device="cuda")
        print(out.device, list(out.shape), list(out.stride()))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    mode = FakeTensorMode()
    with mode:
        ours = torch.empty(2, 3, device="cuda") @ torch.empty(3, 4, device="cuda")
    assert done.stdout.split("\n")[0] == f"{ours.device} {list(ours.shape)} {list(ours.stride())}"
