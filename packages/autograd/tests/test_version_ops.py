"""tensor_version and set_version_counter: eager, under fake tensors, traced."""

import pytest
import torch
from torch.fx.experimental.proxy_tensor import make_fx
from torch._subclasses.fake_tensor import FakeTensorMode as TorchFakeTensorMode
from torch.fx.experimental.symbolic_shapes import ShapeEnv as TorchShapeEnv

from torchshade.autograd import set_version_counter, tensor_version
from torchshade.fake import FakeTensorMode
from torchshade.shapes import ShapeEnv, free_unbacked_symbols


def test_eager_reads_and_sets_like_torch_private_ops() -> None:
    t = torch.randn(3)
    t.add_(1)
    t.mul_(2)
    assert tensor_version(t) == t._version == 2
    set_version_counter([t], [7])
    assert t._version == 7
    u = torch.randn(2)
    torch._C._autograd._unsafe_set_version_counter((u,), (7,))
    assert u._version == t._version


def test_set_version_counter_lengths_must_match() -> None:
    with pytest.raises(ValueError, match="got 2 tensors but 1 versions; give one version per tensor"):
        set_version_counter([torch.randn(1), torch.randn(1)], [3])


def test_set_version_keeps_autograd_from_noticing_a_write() -> None:
    a = torch.randn(3, requires_grad=True)
    h = a * 1
    y = h.sin().sum()
    version = tensor_version(h)
    with torch.no_grad():
        h.add_(0)
    set_version_counter([h], [version])
    y.backward()  # torch's own check passes: the version is back
    assert a.grad is not None


def test_under_our_fake_mode_with_shape_env_the_version_is_unbacked() -> None:
    env = ShapeEnv()
    mode = FakeTensorMode(shape_env=env)
    fake = mode.from_tensor(torch.randn(3), static_shapes=True)
    with mode:
        v = tensor_version(fake)
        set_version_counter([fake], [v])
    assert isinstance(v, torch.SymInt)
    assert free_unbacked_symbols(v)


def test_under_our_fake_mode_without_shape_env_the_version_is_the_fakes() -> None:
    mode = FakeTensorMode()
    fake = mode.from_tensor(torch.randn(3))
    with mode:
        fake.add_(1)
        assert tensor_version(fake) == fake._version == 1
        set_version_counter([fake], [5])
    assert fake._version == 5


def test_under_torch_fake_mode_with_shape_env_the_version_is_unbacked() -> None:
    mode = TorchFakeTensorMode(shape_env=TorchShapeEnv())
    fake = mode.from_tensor(torch.randn(3))
    with mode:
        v = tensor_version(fake)
    assert isinstance(v, torch.SymInt)


def test_traced_they_are_nodes_and_the_setter_survives_dead_code_elimination() -> None:
    def fn(t: torch.Tensor) -> torch.Tensor:
        v = tensor_version(t)
        set_version_counter([t], [v])
        return t * 2

    gm = make_fx(fn, tracing_mode="symbolic")(torch.randn(3))
    gm.graph.eliminate_dead_code()
    targets = [n.target for n in gm.graph.nodes if n.op == "call_function"]
    assert torch.ops.torchshade.tensor_version.default in targets
    assert torch.ops.torchshade.set_version_counter.default in targets
    t = torch.randn(3)
    torch.testing.assert_close(gm(t), fn(t))
