"""ProxyTorchDispatchMode: the dispatch mode a trace runs under, paired with its ProxyTracer.

For each aten op the program runs::

    decomposition_table has it       run the decomposition, under this mode
    CompositeImplicitAutograd op     run its decomposition, under this mode
    otherwise                        ProxyTracer.call: one node, outputs tracked

It sits above a ``FakeTensorMode`` (which holds torch's infra-mode slot), so
it sees each op first and the fake mode computes the outputs.

Traces nest: a make_fx called while another trace runs (a higher-order op
tracing its bodies into subgraphs) records into its own graph only. Each mode
records only while it is the innermost active trace (``ACTIVE``); an outer
mode passes the inner trace's ops through.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ._tracer import ProxyTracer

_composite: dict[int, bool] = {}
_PRIM_DEVICE = torch.ops.prim.device.default
_LIFT_FRESH = torch.ops.aten.lift_fresh.default
_LIFT_FRESH_COPY = torch.ops.aten.lift_fresh_copy.default
ACTIVE: list[ProxyTorchDispatchMode] = []  # the traces running, innermost last


def _is_composite(func: torch._ops.OpOverload) -> bool:
    found = _composite.get(id(func))
    if found is None:
        try:
            found = torch._C._dispatch_has_kernel_for_dispatch_key(func.name(), "CompositeImplicitAutograd")
        except RuntimeError:  # not a dispatcher op (prim::device)
            found = False
        _composite[id(func)] = found
    return found


class ProxyTorchDispatchMode(TorchDispatchMode):
    """Sends every aten op of the traced program to its ``ProxyTracer``."""

    def __init__(self, tracer: ProxyTracer,
                 decompositions: Mapping[Any, Callable[..., object]]) -> None:  # fmt: skip
        super().__init__()  # type: ignore[no-untyped-call]  # TorchDispatchMode.__init__ is untyped
        self.tracer = tracer
        self.decompositions = decompositions

    def __enter__(self) -> ProxyTorchDispatchMode:
        ACTIVE.append(self)
        super().__enter__()  # type: ignore[no-untyped-call]  # TorchDispatchMode.__enter__ is untyped
        return self

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)  # type: ignore[no-untyped-call]  # TorchDispatchMode.__exit__ is untyped
        ACTIVE.pop()

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False  # no Dynamo "disable" shim around every op (as FakeTensorMode)

    def __torch_dispatch__(
        self,
        func: torch._ops.OpOverload,
        types: Sequence[type],
        args: Sequence[object] = (),
        kwargs: Mapping[str, object] | None = None,
    ) -> object:
        kwargs = kwargs or {}
        if func is _PRIM_DEVICE or ACTIVE[-1] is not self:  # a metadata query; an inner trace's op
            return func(*args, **kwargs)
        if func is _LIFT_FRESH:
            # A tensor literal (torch.tensor([1., 2.])) becomes a graph constant; lifting it
            # without a copy would let an in-place op on the literal change that constant, so
            # every later call of the graph would see the changed value (torch copies too).
            func = _LIFT_FRESH_COPY
        decomposition = self.decompositions.get(func)
        if decomposition is not None:
            with self:
                out = decomposition(*args, **kwargs)
            if out is not NotImplemented:
                return out
        if _is_composite(func):
            with self:
                out = func.decompose(*args, **kwargs)
            if out is not NotImplemented:
                return out
        return self.tracer.call(func, args, kwargs)
