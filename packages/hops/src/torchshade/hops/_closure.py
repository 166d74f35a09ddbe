"""Closed-over tensors under fake tensors alone: found, and passed in as explicit inputs.

Under make_fx a body is traced into its own graph and what it closes over
becomes a placeholder (``_subgraph.BodyTracer``). Without a tracer there is
no graph to rewrite, yet a body that reads an RNN's weights from ``self``
must still hand their gradients back. So the body is run under a
``TorchFunctionMode`` that swaps each closed-over tensor for the value of an
extra argument at every torch call it appears in::

    step(h, x)                      reads self.w (requires grad) from its closure
    lifted = lift_closed_over(step, [self.w])
    lifted(h, x, w2)                the same program, with w2 wherever self.w was used

Called with the original tensors the lifted body computes what the body
computes; called (in a backward) with detached copies that require grad,
autograd reaches those copies, so the gradient of ``self.w`` is the gradient
with respect to its copy.

Both finding and swapping happen at the torch-function level (above
autograd), where the user's program passes its tensors to torch, so the
tensors found are exactly the ones swapped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves, tree_map_only

from torchshade.fake import FakeTensor

from ._subgraph import outside_trace

Body = Callable[..., Sequence[object]]


class _Finder(TorchFunctionMode):
    """Notes every tensor requiring grad that a torch call gets and that is not one of ``known``."""

    def __init__(self, known: Sequence[object]) -> None:
        super().__init__()
        self.known = {id(t) for t in known}
        self.found: dict[int, torch.Tensor] = {}

    def __torch_function__(self, func: Any, types: Sequence[type], args: Sequence[object] = (),
                           kwargs: Mapping[str, object] | None = None) -> object:  # fmt: skip
        kwargs = kwargs or {}
        for t in tree_leaves((list(args), dict(kwargs))):
            if isinstance(t, torch.Tensor) and t.requires_grad and id(t) not in self.known:
                self.found.setdefault(id(t), t)
        return func(*args, **kwargs)


class _Swap(TorchFunctionMode):
    """Passes ``swaps[id(t)]`` to torch wherever the program passes ``t``."""

    def __init__(self, originals: Sequence[torch.Tensor], replacements: Sequence[object]) -> None:
        super().__init__()
        self.originals = originals  # kept alive, so their ids stay theirs
        self.swaps = {id(t): r for t, r in zip(originals, replacements)}

    def __torch_function__(self, func: Any, types: Sequence[type], args: Sequence[object] = (),
                           kwargs: Mapping[str, object] | None = None) -> object:  # fmt: skip
        swap = self.swaps
        args, kwargs = tree_map_only(torch.Tensor, lambda t: swap.get(id(t), t), (tuple(args), dict(kwargs or {})))
        return func(*args, **kwargs)


def closed_over_grads(fns: Sequence[Callable[..., object]], args: Sequence[object]) -> list[torch.Tensor]:
    """The tensors requiring grad that ``fns`` read without getting them in ``args`` (each run once, no grad)."""
    fake_mode = next((t.fake_mode for t in args if isinstance(t, FakeTensor)), None)
    found: dict[int, torch.Tensor] = {}
    for fn in fns:
        finder = _Finder(args)
        with outside_trace(fake_mode), torch.no_grad(), finder:
            fn(*args)
        found.update(finder.found)
    return list(found.values())


def lift_closed_over(fn: Body, captured: Sequence[torch.Tensor]) -> Body:
    """``fn`` taking ``captured``'s replacements as its last arguments (see the module docstring)."""
    if not captured:
        return fn
    count = len(captured)

    def lifted(*args: object) -> Sequence[object]:
        with _Swap(captured, args[-count:]):
            return fn(*args[:-count])

    return lifted
