"""Symbolic outputs laid out as ``torch.empty`` lays them out are rebuilt with it.

A fresh symbolic output whose strides are, expression for expression, those
``torch.empty(shape)`` gives (and its storage size the same, or equal by
example value) is rebuilt on a hit with ``empty`` (about half of
``empty_strided``'s cost); any other is rebuilt with ``empty_strided``.
Either way a hit equals the kernel's output (compared with ``cache=False``):
sizes, strides and offset by expression, storage size by example value, as
crosscheck mode compares them (kernels write it in either form).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torchshade.shapes import ShapeEnv

from torchshade.fake import FakeTensorMode
from torchshade.fake._cache import OutputSpec

Program = Callable[[torch.Tensor], torch.Tensor]

PROGRAMS: dict[str, tuple[Program, bool]] = {
    # name: (program, rebuilt with empty)
    "pointwise": (lambda x: x * 2, True),
    "pointwise with a scalar tensor": (lambda x: x * torch.ones(()), True),
    "reduction": (lambda x: x.sum(1), True),
    "cat": (lambda x: torch.cat([x, x], 1), True),
    "transposed copy keeps the input's strides": (lambda x: torch.empty_like(x.transpose(0, 1)), False),
    "channels-last copy": (lambda x: x.unsqueeze(0).contiguous(memory_format=torch.channels_last), False),
}


def layout(t: torch.Tensor) -> tuple[object, ...]:
    nbytes = t.untyped_storage().nbytes()
    example = nbytes.node.hint if isinstance(nbytes, torch.SymInt) else nbytes
    return (str(tuple(t.shape)), str(t.stride()), str(t.storage_offset()), example)


def outputs(program: Program, cache: bool) -> tuple[FakeTensorMode, list[torch.Tensor]]:
    mode = FakeTensorMode(shape_env=ShapeEnv(duck_shape=False), cache=cache, cache_crosscheck=False)
    x = mode.from_tensor(torch.empty(4, 6, 8))
    with mode:
        # A miss, then hits when cached (an op's first call may register kernels
        # lazily, which moves the registration stamp: the third call is a hit).
        return mode, [program(x), program(x), program(x)]


@pytest.mark.parametrize("name", PROGRAMS, ids=list(PROGRAMS))
def test_a_hit_is_laid_out_as_the_kernels_output(name: str) -> None:
    program, as_empty = PROGRAMS[name]
    mode, (miss, _, hit) = outputs(program, cache=True)
    _, (kernel, _, _) = outputs(program, cache=False)
    assert mode.cache_info().hits >= 1
    assert layout(hit) == layout(miss) == layout(kernel)
    specs = [e.outputs for e in mode.cache.entries.values() if isinstance(e.outputs, OutputSpec)]
    fresh = [s for s in specs if s.symbolic and s.view_of is None and s.arg is None]
    assert fresh and fresh[-1].as_empty is as_empty


def test_checking_the_layout_records_no_guard() -> None:
    env = ShapeEnv(duck_shape=False)
    mode = FakeTensorMode(shape_env=env, cache_crosscheck=False)
    x = mode.from_tensor(torch.empty(4, 6, 8))
    with mode:
        x * 2
        torch.empty_like(x.transpose(0, 1))
    assert env.guards == []
