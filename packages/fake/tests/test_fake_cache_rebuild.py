"""How a cache hit rebuilds its outputs, compared with running the kernel.

A fresh symbolic output whose strides are, expression for expression, those
``torch.empty(shape)`` gives (and its storage size the same, or equal by
example value) is rebuilt on a hit with ``empty``, which also marks it
contiguous. Any other fresh symbolic output is rebuilt as a flat tensor of
its storage's element count seen through ``as_strided``, and keeps the
miss's storage size as the same expression. Symbolic views are rebuilt with
``as_strided`` below autograd; the op itself records the view relation.
Either way a hit equals the kernel's output (compared with ``cache=False``)
in everything a program sees: sizes, strides, offset, storage size,
contiguity, and whether it is a view of the input (compared with eager too).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torchshade.shapes import ShapeEnv

from torchshade.fake import FakeTensorMode
from torchshade.fake._cache import OutputSpec

Program = Callable[[torch.Tensor], torch.Tensor]

FRESH: dict[str, tuple[Program, str]] = {
    # name: (program, how a hit rebuilds its output)
    "pointwise": (lambda x: x * 2, "empty"),
    "pointwise with a scalar tensor": (lambda x: x * torch.ones(()), "empty"),
    "reduction": (lambda x: x.sum(1), "empty"),
    "cat": (lambda x: torch.cat([x, x], 1), "empty"),
    "transposed copy keeps the input's strides": (lambda x: torch.empty_like(x.transpose(0, 1)), "flat"),
    "channels-last copy": (lambda x: x.unsqueeze(0).contiguous(memory_format=torch.channels_last), "flat"),
    "pointwise on a transposed input": (lambda x: x.transpose(0, 2) * 2, "flat"),
}

VIEWS: dict[str, Program] = {
    "transpose": lambda x: x.transpose(0, 1),
    "view": lambda x: x.view(-1),
    "slice": lambda x: x[:, 1:],
    "expand": lambda x: x[:1].expand(x.shape[0], -1, -1),
    "unbind": lambda x: x.unbind(1)[0],
    "alias": lambda x: torch.ops.aten.alias(x),
    "detach (shares storage, not a view)": lambda x: x.detach(),
    "_unsafe_view (shares storage, not a view)": lambda x: torch.ops.aten._unsafe_view(x, [x.shape[0] * x.shape[1], x.shape[2]]),
    "reshape of a transposed input (a copy)": lambda x: x.transpose(0, 1).reshape(-1),
}


def nbytes(t: torch.Tensor) -> object:
    return t.untyped_storage().nbytes()


def example(value: object) -> object:
    return value.node.hint if isinstance(value, torch.SymInt) else value


def layout(t: torch.Tensor) -> tuple[object, ...]:
    return (str(tuple(t.shape)), str(t.stride()), str(t.storage_offset()), example(nbytes(t)),
            t.is_contiguous(), t.is_contiguous(memory_format=torch.channels_last) if t.dim() == 4 else None)


def outputs(program: Program, cache: bool, requires_grad: bool = False) -> tuple[FakeTensorMode, torch.Tensor, list[torch.Tensor]]:
    mode = FakeTensorMode(shape_env=ShapeEnv(duck_shape=False), cache=cache, cache_crosscheck=False)
    x = mode.from_tensor(torch.empty(4, 6, 8, requires_grad=requires_grad))
    with mode:
        # A miss, then hits when cached (an op's first call may register kernels
        # lazily, which moves the registration stamp: the third call is a hit).
        return mode, x, [program(x), program(x), program(x)]


def rebuilt_with(spec: OutputSpec) -> str:
    return "empty" if spec.as_empty else "flat" if spec.storage_elems is not None else "empty_strided"


@pytest.mark.parametrize("name", FRESH, ids=list(FRESH))
def test_a_fresh_hit_is_laid_out_as_the_kernels_output(name: str) -> None:
    program, how = FRESH[name]
    mode, _, (miss, _, hit) = outputs(program, cache=True)
    _, _, (kernel, _, _) = outputs(program, cache=False)
    assert mode.cache_info().hits >= 1
    assert layout(hit) == layout(miss) == layout(kernel)
    specs = [e.outputs for e in mode.cache.entries.values() if isinstance(e.outputs, OutputSpec)]
    fresh = [s for s in specs if s.symbolic and s.view_of is None and s.arg is None]
    assert fresh and rebuilt_with(fresh[-1]) == how
    if how == "flat":  # the miss's storage size, written as the miss wrote it
        assert str(nbytes(hit)) == str(nbytes(miss))


@pytest.mark.parametrize("requires_grad", [False, True], ids=["no grad", "requires grad"])
@pytest.mark.parametrize("name", VIEWS, ids=list(VIEWS))
def test_a_view_hit_relates_to_its_input_as_the_kernels_output_and_eager(name: str, requires_grad: bool) -> None:
    program = VIEWS[name]

    def relation(t: torch.Tensor, x: torch.Tensor) -> tuple[bool, bool, bool, bool]:
        same_storage = t.untyped_storage()._cdata == x.untyped_storage()._cdata
        return (t._is_view(), t._base is x, t.requires_grad, same_storage)

    mode, x, (_, _, hit) = outputs(program, cache=True, requires_grad=requires_grad)
    _, y, (kernel, _, _) = outputs(program, cache=False, requires_grad=requires_grad)
    real = torch.empty(4, 6, 8, requires_grad=requires_grad)
    assert mode.cache_info().hits >= 1
    assert relation(hit, x) == relation(kernel, y) == relation(program(real), real)
    assert layout(hit) == layout(kernel)


def test_checking_the_layout_records_no_guard() -> None:
    env = ShapeEnv(duck_shape=False)
    mode = FakeTensorMode(shape_env=env, cache_crosscheck=False)
    x = mode.from_tensor(torch.empty(4, 6, 8))
    with mode:
        x * 2
        torch.empty_like(x.transpose(0, 1))
        x.transpose(0, 2) * 2
    assert env.guards == []
