"""cond: run ``true_fn(*operands)`` or ``false_fn(*operands)`` depending on ``pred``.

Sections, the same in every op module: the user function, then one rule per
setting (eager, fake, trace, autograd), each followed by its registration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.utils._pytree import TreeSpec, tree_unflatten

from torchshade.fake import FakeTensorMode
from torchshade.trace import add_call, add_subgraph, is_tracing, trace_subgraph

from ._closure import closed_over_grads, lift_closed_over
from ._core import FlatFn, check_structure, compare_leaves, describe, fake_mode_of, flatten_leaves, input_paths, is_constant, mismatch, same_sizes, same_value
from ._errors import HopArgumentError
from ._op import HigherOrderOp, needs_grad
from ._subgraph import align_lifted, outside_trace

cond_op = HigherOrderOp("cond")
"""The flat op: ``cond_op(pred, true_fn, false_fn, operands)`` -> tuple of output leaves."""

_FIX = "Both branches must return the same structure, with tensors of the same dtype and device."
_NAMES = ("true_fn", "false_fn")


# -- the user function -----------------------------------------------------------------
def cond(pred: bool | torch.SymBool | torch.Tensor, true_fn: Callable[..., Any], false_fn: Callable[..., Any],
         operands: tuple[Any, ...] | list[Any] = ()) -> Any:  # fmt: skip
    """``true_fn(*operands)`` if ``pred`` else ``false_fn(*operands)``, in every setting.

    ``pred`` is a bool, a SymBool or a one-element tensor; a constant one
    (a bool) runs its branch only, inline. Example::

        >>> cond(x.sum() > 0, lambda x: x.sin(), lambda x: x.cos(), (x,))
    """
    _check_pred(pred)
    if not isinstance(operands, (tuple, list)):
        raise HopArgumentError(
            f"cond: operands is a {type(operands).__name__}; it must be a tuple or list of the "
            "branches' arguments: cond(pred, true_fn, false_fn, (x,))."
        )
    leaves, specs = _flatten_operands(operands)
    paths = [p for i, o in enumerate(operands) for p in input_paths(f"operands[{i}]", o)]
    true_flat = FlatFn(true_fn, specs, "cond", "true_fn", paths)
    false_flat = FlatFn(false_fn, specs, "cond", "false_fn", paths)
    if is_constant(pred):
        taken = true_flat if bool(pred) else false_flat
        outs = taken(*leaves)
        return tree_unflatten(list(outs), taken.out_spec)  # type: ignore[arg-type]  # set by the call
    outs = cond_op(pred, true_flat, false_flat, tuple(leaves))
    spec = true_flat.out_spec if true_flat.out_spec is not None else false_flat.out_spec
    return tree_unflatten(list(outs), spec)  # type: ignore[arg-type]  # set by the call


def _check_pred(pred: object) -> None:
    if isinstance(pred, torch.Tensor):
        if pred.numel() != 1:
            raise HopArgumentError(
                f"cond: pred is a tensor {describe(pred)} with {pred.numel()} elements; it must have "
                "exactly one. Reduce it first: pred.any(), pred.all(), or pred.sum() > 0."
            )
        return
    if not isinstance(pred, (bool, torch.SymBool)):
        raise HopArgumentError(
            f"cond: pred is a {type(pred).__name__} ({pred!r:.60}); it must be a bool, a SymBool "
            "or a one-element tensor. Compare first: cond(x.sum() > 0, ...)."
        )


def _flatten_operands(operands: Sequence[object]) -> tuple[list[object], list[TreeSpec]]:
    leaves: list[object] = []
    specs: list[TreeSpec] = []
    for i, operand in enumerate(operands):
        part, spec = flatten_leaves("cond", f"operands[{i}]", operand)
        leaves.extend(part)
        specs.append(spec)
    return leaves, specs


# -- eager -----------------------------------------------------------------------------
def cond_eager(pred: object, true_fn: Callable[..., Sequence[object]], false_fn: Callable[..., Sequence[object]],
               operands: tuple[object, ...]) -> tuple[object, ...]:  # fmt: skip
    """Runs the branch ``pred`` picks (a tensor's value read with ``.item()``)."""
    taken = bool(pred.item()) if isinstance(pred, torch.Tensor) else bool(pred)
    return tuple((true_fn if taken else false_fn)(*operands))


cond_op.register("eager")(cond_eager)


# -- fake ------------------------------------------------------------------------------
def cond_fake(pred: object, true_fn: Callable[..., Sequence[object]], false_fn: Callable[..., Sequence[object]],
              operands: tuple[object, ...]) -> tuple[object, ...]:  # fmt: skip
    """Both branches on the fake operands; outputs merged (``merge_branches``)."""
    mode = fake_mode_of(operands)
    assert mode is not None  # the fake rule runs only on fake operands
    if torch.is_grad_enabled() and closed_over_grads((true_fn, false_fn), operands):
        return cond_autograd_traced(pred, true_fn, false_fn, operands)  # closed-over weights need their gradients
    with mode:
        first, second = tuple(true_fn(*operands)), tuple(false_fn(*operands))
    return merge_branches(mode, true_fn, false_fn, first, second)


def merge_branches(mode: FakeTensorMode | None, true_fn: object, false_fn: object,
                   first: tuple[object, ...], second: tuple[object, ...]) -> tuple[object, ...]:  # fmt: skip
    """The outputs of either branch: equal sizes kept, differing sizes unbacked symbols."""
    if isinstance(true_fn, FlatFn) and isinstance(false_fn, FlatFn):
        assert true_fn.out_spec is not None and false_fn.out_spec is not None
        check_structure("cond", "the branches return different outputs", (true_fn.out_spec, false_fn.out_spec), _NAMES, _FIX)
        paths = true_fn.out_paths
    else:
        paths = [f"[{i}]" for i in range(len(first))]
    what = "the branches return different outputs"
    compare_leaves("cond", what, paths, list(zip(first, second)), _NAMES, _FIX, sizes=False)
    with outside_trace(mode):
        return tuple(_merge(mode, path, a, b) for path, a, b in zip(paths, first, second))


def _merge(mode: FakeTensorMode | None, path: str, a: object, b: object) -> object:
    env = None if mode is None else mode.shape_env
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if same_sizes(a, b):
            return a
        if mode is None or env is None:
            raise mismatch("cond", "the branches return different outputs", path, a, b, _NAMES, "shape",
                           "Their sizes may differ only under fake tensors with a ShapeEnv (tracing_mode="
                           "'symbolic'), where they become unbacked symbols; otherwise pad or reshape the "
                           "outputs to one shape.")  # fmt: skip
        sizes = [x if same_value(x, y) else mode.new_unbacked_size(cond_op) for x, y in zip(a.shape, b.shape)]
        return torch.empty(sizes, dtype=a.dtype, device=a.device)
    if same_value(a, b) or env is None:
        return a
    return env.create_unbacked_symfloat() if isinstance(a, float) else env.create_unbacked_symint()


cond_op.register("fake")(cond_fake)


# -- trace -----------------------------------------------------------------------------
def cond_trace(pred: object, true_fn: Callable[..., tuple[object, ...]], false_fn: Callable[..., tuple[object, ...]],
               operands: tuple[object, ...]) -> tuple[object, ...]:  # fmt: skip
    """One ``cond`` node; both branches subgraphs (``true_graph_0``, ``false_graph_0``)."""
    first, second = trace_subgraph(true_fn, operands), trace_subgraph(false_fn, operands)
    if needs_grad([*first.lifted, *second.lifted]):  # closed-over tensors need grad: the differentiable path
        return cond_autograd_traced(pred, true_fn, false_fn, operands)
    lifted = align_lifted(first, second, len(operands))
    mode = fake_mode_of([pred, *operands, *first.outputs])
    merged = merge_branches(mode, true_fn, false_fn, first.outputs, second.outputs)
    if mode is None:  # real values: the branch pred picks gives the node's value
        with outside_trace(None):
            taken = bool(pred.item()) if isinstance(pred, torch.Tensor) else bool(pred)
        merged = first.outputs if taken else second.outputs
    graphs = (add_subgraph("true_graph", first), add_subgraph("false_graph", second))
    add_call(cond_op, (pred, *graphs, (*operands, *lifted)), merged)
    return merged


cond_op.register("trace")(cond_trace)


# -- autograd --------------------------------------------------------------------------
# Eagerly, the branch pred picks runs with grad mode on, so autograd records
# its ops and the gradient is that branch's (the untaken branch gives none).
cond_op.register("autograd")(cond_eager)


class CondFunction(torch.autograd.Function):
    """cond under fake tensors or tracing, differentiable: backward is a cond of the branches' vjps.

    ``apply(pred, true_fn, false_fn, count, *inputs)``: both branches take
    every input (``count`` of them) and close over nothing requiring grad.
    """

    @staticmethod
    def forward(ctx: Any, pred: object, true_fn: Branch, false_fn: Branch, count: int, *inputs: object) -> tuple[object, ...]:
        ctx.branches = (pred, true_fn, false_fn, count)
        ctx.save_for_backward(*[o for o in inputs if isinstance(o, torch.Tensor)])
        ctx.others = [None if isinstance(o, torch.Tensor) else o for o in inputs]
        with torch.no_grad():
            outs: tuple[object, ...] = cond_op(pred, true_fn, false_fn, tuple(inputs[:count]))
        ctx.mark_non_differentiable(*[o for o in outs if isinstance(o, torch.Tensor) and not o.is_floating_point()])
        return outs

    @staticmethod
    def backward(ctx: Any, *grads: object) -> tuple[object, ...]:
        pred, true_fn, false_fn, count = ctx.branches
        tensors = iter(ctx.saved_tensors)
        inputs = tuple(next(tensors) if o is None else o for o in ctx.others)
        flat_grads = tuple(g if g is not None else torch.zeros(()) for g in grads)
        vjps = (_vjp(true_fn, len(inputs)), _vjp(false_fn, len(inputs)))
        with torch.no_grad():
            grad_inputs = cond_op(pred, *vjps, (*inputs, *flat_grads))
        return (None, None, None, None, *grad_inputs)


Branch = Callable[..., Sequence[object]]


def _vjp(fn: Branch, width: int) -> Branch:
    """``(*inputs, *grads) -> grad of each input`` of one branch (zeros where it has none)."""

    def vjp(*args: object) -> tuple[object, ...]:
        operands, grads = args[:width], args[width:]
        with torch.enable_grad():
            inputs = [o.detach().requires_grad_() if isinstance(o, torch.Tensor) and o.is_floating_point() else o for o in operands]
            outs = fn(*inputs)
            pairs = [(o, g) for o, g in zip(outs, grads) if isinstance(o, torch.Tensor) and o.requires_grad]
            wrt = [i for i in inputs if isinstance(i, torch.Tensor) and i.requires_grad]
            found = torch.autograd.grad([o for o, _ in pairs], wrt, [g for _, g in pairs], allow_unused=True) if pairs and wrt else [None] * len(wrt)  # type: ignore[misc]  # pairs hold tensors
        found_iter = iter(found)
        result: list[object] = []
        for i in inputs:
            if isinstance(i, torch.Tensor) and i.requires_grad:
                g = next(found_iter)
                result.append(torch.zeros_like(i) if g is None else g)
            else:
                result.append(torch.zeros(()) if isinstance(i, torch.Tensor) else 0)
        return tuple(result)

    return vjp


def cond_autograd_traced(pred: object, true_fn: Branch, false_fn: Branch, operands: tuple[object, ...]) -> tuple[object, ...]:
    """Under fake tensors or tracing with grad needed: ``CondFunction`` over branches that take every input.

    Traced, the branches are first traced into subgraphs that take what they
    close over as arguments (``trace_subgraph``); under fake tensors alone the
    closed-over tensors that require grad are passed in (``lift_closed_over``).
    Either way the vjps differentiate with respect to those too.
    """
    if not is_tracing():
        captured = closed_over_grads((true_fn, false_fn), operands)
        inputs = (*operands, *captured)
        branches = (lift_closed_over(true_fn, captured), lift_closed_over(false_fn, captured))
    else:
        first, second = trace_subgraph(true_fn, operands), trace_subgraph(false_fn, operands)
        inputs = (*operands, *align_lifted(first, second, len(operands)))
        branches = (first.module, second.module)
    return tuple(CondFunction.apply(pred, *branches, len(inputs), *inputs))  # type: ignore[no-untyped-call]  # Function.apply is untyped


cond_op.register("autograd_traced")(cond_autograd_traced)
