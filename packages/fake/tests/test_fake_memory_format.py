"""Memory formats: channels-last inputs and weights give eager's output strides.

Every case runs eagerly, under torch's FakeTensorMode and under ours; ours
must give eager's sizes and strides (and torch's mode is checked to do so
too, so that a case where torch itself differs is seen, not hidden).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch._subclasses.fake_tensor import FakeTensorMode as TorchFakeTensorMode
from torch.utils._pytree import tree_leaves

from torchshade.fake import FakeTensorMode
from torchshade.shapes import ShapeEnv

CL, CL3D, CONTIG = torch.channels_last, torch.channels_last_3d, torch.contiguous_format
Layout = list[tuple[tuple[int, ...], tuple[int, ...]]]


def channels_last(rank: int) -> torch.memory_format:
    return CL3D if rank == 5 else CL


def in_format(t: torch.Tensor, fmt: torch.memory_format) -> torch.Tensor:
    """``t`` with the same values in ``fmt``; a 3-d tensor is made channels-last through a unit dim."""
    if t.dim() == 3 and fmt == CL:
        return t.unsqueeze(2).contiguous(memory_format=CL).squeeze(2)
    return t.contiguous(memory_format=fmt)


def layout(out: object) -> Layout:
    """Sizes and strides of every tensor in ``out``; symbols are read by their hints."""
    def ints(values: tuple[object, ...]) -> tuple[int, ...]:
        return tuple(int(v.node.hint) if isinstance(v, torch.SymInt) else int(v) for v in values)  # type: ignore[call-overload]  # an int or a SymInt's int hint

    return [(ints(tuple(t.shape)), ints(tuple(t.stride()))) for t in tree_leaves(out) if isinstance(t, torch.Tensor)]


def three_ways(fn: Callable[[], object]) -> tuple[Layout, Layout, Layout]:
    """(eager, torch's fake mode, ours) layouts of ``fn()``; real tensors met are converted."""
    eager = layout(fn())
    theirs = TorchFakeTensorMode(allow_non_fake_inputs=True)
    with theirs:
        torch_fake = layout(fn())
    ours = FakeTensorMode(allow_non_fake_inputs=True)
    with ours:
        our_fake = layout(fn())
    return eager, torch_fake, our_fake


def conv_case(dims: int, transposed: bool, x_fmt: torch.memory_format, w_fmt: torch.memory_format) -> Callable[[], object]:
    torch.manual_seed(0)
    x = in_format(torch.randn(2, 4, *(7,) * dims), x_fmt)
    w = in_format(torch.randn(*((4, 6) if transposed else (6, 4)), *(3,) * dims), w_fmt)
    bias = torch.randn(6)
    if transposed:
        fn = getattr(F, f"conv_transpose{dims}d")
        return lambda: fn(x, w, bias, stride=2, output_padding=1)
    fn = getattr(F, f"conv{dims}d")
    return lambda: fn(x, w, bias, stride=2, padding=1)


FORMAT_PAIRS = list(itertools.product(("contiguous", "channels_last"), repeat=2))


def formats(dims: int, pair: tuple[str, str]) -> tuple[torch.memory_format, torch.memory_format]:
    fmt = channels_last(dims + 2)
    x_fmt, w_fmt = (fmt if name == "channels_last" else CONTIG for name in pair)
    return x_fmt, w_fmt


@pytest.mark.parametrize("pair", FORMAT_PAIRS, ids=["-".join(p) for p in FORMAT_PAIRS])
@pytest.mark.parametrize("transposed", [False, True], ids=["conv", "conv_transpose"])
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_convolution_output_strides_equal_eagers(dims: int, transposed: bool, pair: tuple[str, str]) -> None:
    eager, torch_fake, ours = three_ways(conv_case(dims, transposed, *formats(dims, pair)))
    assert torch_fake == eager  # the oracle agrees with eager on these cases
    assert ours == eager


@pytest.mark.parametrize("pair", FORMAT_PAIRS, ids=["-".join(p) for p in FORMAT_PAIRS])
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_convolution_backward_gradient_strides_equal_eagers(dims: int, pair: tuple[str, str]) -> None:
    x_fmt, w_fmt = formats(dims, pair)

    def grads() -> object:
        torch.manual_seed(0)
        x = in_format(torch.randn(2, 4, *(6,) * dims), x_fmt).requires_grad_()
        w = in_format(torch.randn(6, 4, *(3,) * dims), w_fmt).requires_grad_()
        b = torch.randn(6, requires_grad=True)
        out = getattr(F, f"conv{dims}d")(x, w, b, padding=1)
        return torch.autograd.grad(out.sum(), (x, w, b))

    eager, torch_fake, ours = three_ways(grads)
    assert torch_fake == eager
    assert ours == eager


def test_grouped_depthwise_convolution_keeps_channels_last() -> None:
    x = torch.randn(2, 8, 9, 9).contiguous(memory_format=CL)
    w = torch.randn(8, 1, 3, 3)
    eager, torch_fake, ours = three_ways(lambda: F.conv2d(x, w, groups=8))
    assert eager[0][1] == torch.empty(eager[0][0]).contiguous(memory_format=CL).stride()
    assert ours == eager == torch_fake


@pytest.mark.parametrize("x_fmt", ["contiguous", "channels_last"])
def test_symbolic_convolution_strides_equal_eagers_at_the_hints(x_fmt: str) -> None:
    fmt = CL if x_fmt == "channels_last" else CONTIG
    x, w = torch.randn(2, 4, 8, 8).contiguous(memory_format=fmt), torch.randn(6, 4, 3, 3)
    mode = FakeTensorMode(shape_env=ShapeEnv())
    fake_x, fake_w = mode.from_tensor(x, source="x"), mode.from_tensor(w, source="w")
    with mode:
        out = F.conv2d(fake_x, fake_w)
    assert isinstance(out.shape[0], torch.SymInt)
    assert layout(out) == layout(F.conv2d(x, w))


def test_channels_last_cnn_keeps_eagers_strides_layer_after_layer() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 3, stride=2),
        torch.nn.AdaptiveAvgPool2d(2),
    ).to(memory_format=CL)  # type: ignore[call-overload]  # Module.to takes memory_format; its stub omits it
    x = torch.randn(2, 3, 16, 16).contiguous(memory_format=CL)

    def every_layer() -> list[torch.Tensor]:
        outs, h = [], x
        for layer in net:
            h = layer(h)
            outs.append(h)
        return outs

    eager, torch_fake, ours = three_ways(every_layer)
    assert ours == eager == torch_fake


def max_pool(x: torch.Tensor) -> object:
    return (F.max_pool2d if x.dim() == 4 else F.max_pool3d)(x, 2, return_indices=True)


def adaptive_avg_pool(x: torch.Tensor, size: int) -> object:
    return (F.adaptive_avg_pool2d if x.dim() == 4 else F.adaptive_avg_pool3d)(x, size)


def upsample_linear(x: torch.Tensor) -> object:
    return F.interpolate(x, scale_factor=2, mode="bilinear" if x.dim() == 4 else "trilinear")


OTHER_OPS: dict[str, Callable[[torch.Tensor], object]] = {
    "batch_norm": lambda x: F.batch_norm(x, torch.zeros(4), torch.ones(4), training=True),
    "batch_norm_eval": lambda x: F.batch_norm(x, torch.zeros(4), torch.ones(4)),
    "max_pool": max_pool,
    "adaptive_avg_pool": lambda x: adaptive_avg_pool(x, 3),
    "adaptive_avg_pool_1": lambda x: adaptive_avg_pool(x, 1),
    "upsample_nearest": lambda x: F.interpolate(x, scale_factor=2),
    "upsample_linear": upsample_linear,
    "add_scalar": lambda x: x + 1,
    "add_contiguous": lambda x: x + torch.ones(x.shape),
}


@pytest.mark.parametrize("name", sorted(OTHER_OPS))
@pytest.mark.parametrize("rank", [4, 5])
def test_channels_last_ops_give_eagers_strides(name: str, rank: int) -> None:
    x = torch.randn(2, 4, *(6,) * (rank - 2)).contiguous(memory_format=channels_last(rank))
    eager, torch_fake, ours = three_ways(lambda: OTHER_OPS[name](x))
    assert torch_fake == eager
    assert ours == eager


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "sliced"])
def test_view_copy_copies_where_a_view_is_impossible_as_eager_does(layout: str) -> None:
    base = torch.randn(5, 6)
    x = {"contiguous": base, "transposed": base.mT.contiguous().mT, "sliced": torch.randn(5, 12)[:, ::2]}[layout]
    eager, torch_fake, ours = three_ways(lambda: torch.ops.aten.view_copy(x, [30]))
    assert ours == eager == torch_fake


def test_the_format_decision_records_no_guard() -> None:
    """A channels-last input costs no guard more than a contiguous one (the format follows layouts)."""
    recorded = {}
    for name, fmt in (("contiguous", CONTIG), ("channels_last", CL)):
        env = ShapeEnv()
        mode = FakeTensorMode(shape_env=env)
        x = mode.from_tensor(torch.randn(2, 4, 8, 8).contiguous(memory_format=fmt), source="x")
        w = mode.from_tensor(torch.randn(6, 4, 3, 3), source="w")
        before = len(env.guards)
        with mode:
            out = F.conv2d(x, w)
        assert layout(out) == layout(F.conv2d(torch.randn(2, 4, 8, 8).contiguous(memory_format=fmt), torch.randn(6, 4, 3, 3)))
        recorded[name] = [str(g.expr) for g in env.guards[before:]]
    assert recorded["channels_last"] == recorded["contiguous"]


def unpool(x: torch.Tensor) -> object:
    pooled, indices = F.max_pool2d(x, 2, return_indices=True)
    return F.max_unpool2d(pooled, indices, (2, 2))


BEYOND_TORCH: dict[str, tuple[int, Callable[[torch.Tensor], object]]] = {
    "channel_shuffle_4d": (4, lambda x: F.channel_shuffle(x, 2)),
    "channel_shuffle_5d": (5, lambda x: F.channel_shuffle(x, 2)),
    "native_channel_shuffle": (4, lambda x: torch.native_channel_shuffle(x, 2)),
    "max_unpool2d": (4, unpool),
}


@pytest.mark.parametrize("name", sorted(BEYOND_TORCH))
@pytest.mark.parametrize("fmt", ["contiguous", "channels_last"])
def test_ops_that_keep_their_inputs_format_as_eager_does(name: str, fmt: str) -> None:
    """Here torch's fake mode gives contiguous outputs; eager (and ours) keep channels-last."""
    rank, fn = BEYOND_TORCH[name]
    x = torch.randn(2, 4, *(6,) * (rank - 2))
    if fmt == "channels_last":
        x = x.contiguous(memory_format=channels_last(rank))
    eager, _, ours = three_ways(lambda: fn(x))
    assert ours == eager
