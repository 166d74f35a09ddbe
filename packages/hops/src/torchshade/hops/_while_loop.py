"""while_loop: ``carry = body_fn(*carry, *additional)`` while ``cond_fn(*carry, *additional)``.

Sections, the same in every op module: the user function, then one rule per
setting (eager, fake, trace, autograd), each followed by its registration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.utils.checkpoint import checkpoint as torch_checkpoint
from torch.utils._pytree import tree_unflatten

from torchshade.fake import FakeTensorMode

from ._core import FlatFn, compare_leaves, describe, fake_mode_of, flatten_leaves, input_paths, spec_text
from ._errors import HopArgumentError, OutputMismatchError
from ._op import HigherOrderOp, needs_grad, reverse_mode_error
from ._scan import segment_length
from ._subgraph import closed_over_grads, add_node, add_subgraph, align_lifted, outside_trace, trace_body

while_loop_op = HigherOrderOp("while_loop")
"""The flat op: ``while_loop_op(cond_fn, body_fn, carried, additional, checkpoint)`` -> the final carries."""

_FIX = "body_fn must return carries exactly like carried_inputs (structure, kind, dtype, device, shape)."
_NAMES = ("carried_inputs", "body_fn's output")
BodyFn = Callable[..., Sequence[object]]


# -- the user function -----------------------------------------------------------------
def while_loop(cond_fn: Callable[..., Any], body_fn: Callable[..., Any], carried_inputs: tuple[Any, ...],
               additional_inputs: tuple[Any, ...] = (), *, checkpoint: int | None = None) -> tuple[Any, ...]:  # fmt: skip
    """``carried_inputs`` after ``body_fn`` ran while ``cond_fn`` was true.

    Both functions take ``(*carried_inputs, *additional_inputs)``; ``body_fn``
    returns the next carries (a tuple like ``carried_inputs``); ``cond_fn`` a
    bool or a one-element bool tensor. A loop whose ``cond_fn`` returns a
    Python bool is run (unrolled) as Python in every setting. ``checkpoint=k``
    makes backward keep every k-th carry only (``while_loop_autograd``). Example::

        >>> while_loop(lambda i, x: i < 3, lambda i, x: (i + 1, x * 2), (torch.tensor(0), x))
    """
    if not isinstance(carried_inputs, (tuple, list)) or not isinstance(additional_inputs, (tuple, list)):
        raise HopArgumentError("while_loop: carried_inputs and additional_inputs must be tuples: while_loop(cond_fn, body_fn, (x,), (w,)).")
    carried, carried_spec = flatten_leaves("while_loop", "carried_inputs", tuple(carried_inputs))
    extra, extra_spec = flatten_leaves("while_loop", "additional_inputs", tuple(additional_inputs))
    specs = [carried_spec.child(i) for i in range(carried_spec.num_children)]
    specs += [extra_spec.child(i) for i in range(extra_spec.num_children)]
    paths = [*input_paths("carried_inputs", tuple(carried_inputs)), *input_paths("additional_inputs", tuple(additional_inputs))]
    cond_flat = FlatFn(cond_fn, specs, "while_loop", "cond_fn", paths)
    body_flat = FlatFn(lambda *args: _as_tuple(body_fn(*args)), specs, "while_loop", "body_fn", paths)
    body_flat.in_spec = carried_spec  # type: ignore[attr-defined]  # read by check_body
    if checkpoint is not None and (isinstance(checkpoint, bool) or not isinstance(checkpoint, int) or checkpoint < 1):
        raise HopArgumentError(f"while_loop: checkpoint={checkpoint!r} is not a policy; use None (save every carry) or an int k >= 1 (save every k-th carry). 'sqrt' needs the number of iterations, which a while_loop does not know in advance.")
    outs = while_loop_op(cond_flat, body_flat, tuple(carried), tuple(extra), checkpoint)
    return tuple(tree_unflatten(list(outs), carried_spec))


def _as_tuple(out: object) -> tuple[object, ...]:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def truth(value: object) -> bool | None:
    """cond_fn's answer as a bool: None when it cannot be known now (fake, symbolic)."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise HopArgumentError(f"while_loop: cond_fn returned {describe(value)}; it must return a bool or a one-element tensor.")
        if fake_mode_of([value]) is not None:
            return None
        return bool(value.item())
    if isinstance(value, torch.SymBool):
        return bool(value.node.constant) if value.node.constant is not None else None
    return bool(value)


def check_body(fn: object, carried: Sequence[object], outs: Sequence[object]) -> None:
    """The body's output must be like the carries (sizes too)."""
    if isinstance(fn, FlatFn):
        expected = getattr(fn, "in_spec")
        if fn.out_spec is None or fn.out_spec != expected:
            raise OutputMismatchError(f"while_loop: body_fn returns {spec_text(fn.out_spec) if fn.out_spec is not None else None} but carried_inputs is {spec_text(expected)} (the pytree structure differs). {_FIX}")
        paths = fn.out_paths
    else:
        paths = [f"[{i}]" for i in range(len(carried))]
    compare_leaves("while_loop", "the carry changed", paths, list(zip(carried, outs)), _NAMES, _FIX, sizes=True)


# -- eager -----------------------------------------------------------------------------
def while_loop_eager(cond_fn: BodyFn, body_fn: BodyFn, carried: tuple[object, ...],
                     additional: tuple[object, ...], checkpoint: int | str | None = None) -> tuple[object, ...]:  # fmt: skip
    """A Python while loop; the carries checked after the first iteration."""
    carry: tuple[object, ...] = carried
    first = True
    while truth(cond_fn(*carry, *additional)[0]):
        carry = tuple(body_fn(*carry, *additional))
        if first:
            check_body(body_fn, carried, carry)
            first = False
    return tuple(c.clone() if isinstance(c, torch.Tensor) and any(c is i for i in carried) else c for c in carry)


while_loop_op.register("eager")(while_loop_eager)


# -- fake ------------------------------------------------------------------------------
def while_loop_fake(cond_fn: BodyFn, body_fn: BodyFn, carried: tuple[object, ...],
                    additional: tuple[object, ...], checkpoint: int | str | None = None) -> tuple[object, ...]:  # fmt: skip
    """Unrolled while cond_fn's answer is known; else the carries' metadata, ints unbacked."""
    mode = fake_mode_of([*carried, *additional])
    assert mode is not None  # the fake rule runs only on fake operands
    if torch.is_grad_enabled() and closed_over_grads((cond_fn, body_fn), (*carried, *additional)):
        raise reverse_mode_error("while_loop", "fake")
    with mode:
        carry = carried
        while (known := truth(cond_fn(*carry, *additional)[0])) is not None:
            if not known:
                return carry
            carry = tuple(body_fn(*carry, *additional))
        check_body(body_fn, carry, tuple(body_fn(*carry, *additional)))
        return abstract_carries(mode, carry)


def abstract_carries(mode: FakeTensorMode | None, carried: Sequence[object]) -> tuple[object, ...]:
    """New tensors like the carries; int carries unbacked symbols (a ShapeEnv needed)."""
    env = None if mode is None else mode.shape_env
    outs: list[object] = []
    for i, c in enumerate(carried):
        if isinstance(c, torch.Tensor):
            outs.append(torch.empty_strided(c.shape, c.stride(), dtype=c.dtype, device=c.device))
        elif env is None:
            raise HopArgumentError(
                f"while_loop: carry {i} is {describe(c)}; a number carried through a loop whose "
                "condition depends on data needs symbolic sizes (a FakeTensorMode with a ShapeEnv, "
                "tracing_mode='symbolic'), where it becomes an unbacked symbol. Carry it as a "
                "tensor (torch.tensor(i)) instead."
            )
        else:
            outs.append(env.create_unbacked_symfloat() if isinstance(c, (float, torch.SymFloat)) else env.create_unbacked_symint())
    return tuple(outs)


while_loop_op.register("fake")(while_loop_fake)


# -- trace -----------------------------------------------------------------------------
def while_loop_trace(cond_fn: BodyFn, body_fn: BodyFn, carried: tuple[object, ...],
                     additional: tuple[object, ...], checkpoint: int | str | None = None) -> tuple[object, ...]:  # fmt: skip
    """Unrolled inline when cond_fn answers a Python bool; else one ``while_loop`` node."""
    mode = fake_mode_of([*carried, *additional])
    with outside_trace(mode):
        first = cond_fn(*carried, *additional)[0]
    if not isinstance(first, torch.Tensor) and truth(first) is not None:  # a Python bool: unrolled
        return while_loop_eager(cond_fn, body_fn, carried, additional)
    with outside_trace(mode):
        inputs = abstract_carries(mode, carried) if mode is not None else carried
    cond_body, body = trace_body(cond_fn, (*inputs, *additional)), trace_body(body_fn, (*inputs, *additional))
    if needs_grad([*cond_body.lifted, *body.lifted]):
        raise reverse_mode_error("while_loop", "trace")
    check_body(body_fn, inputs, body.outputs)
    lifted = align_lifted(cond_body, body, len(inputs) + len(additional))
    with outside_trace(mode):
        outs = abstract_carries(mode, body.outputs) if mode is not None else while_loop_eager(cond_fn, body_fn, carried, additional)
    graphs = (add_subgraph("cond_graph", cond_body), add_subgraph("body_graph", body))
    add_node(while_loop_op, (*graphs, carried, (*additional, *lifted), checkpoint), outs)
    return outs


while_loop_op.register("trace")(while_loop_trace)


# -- autograd --------------------------------------------------------------------------
def while_loop_autograd(cond_fn: BodyFn, body_fn: BodyFn, carried: tuple[object, ...], additional: tuple[object, ...],
                        checkpoint: int | str | None = None) -> tuple[object, ...]:  # fmt: skip
    """The eager loop under grad mode: autograd records each iteration (the unrolled loop's gradient).

    ``checkpoint=k`` runs the iterations in segments of k under
    ``torch.utils.checkpoint`` (non-reentrant): backward keeps one carry per
    segment and recomputes the iterations inside it (cond_fn is asked again
    and must answer the same). ``"sqrt"`` is not available: the number of
    iterations is not known in advance.
    """
    every = segment_length(checkpoint, 0, "while_loop")
    if every is None:
        return while_loop_eager(cond_fn, body_fn, carried, additional)
    carry = carried
    if truth(cond_fn(*carry, *additional)[0]):  # the first iteration, with the checks
        carry = tuple(body_fn(*carry, *additional))
        check_body(body_fn, carried, carry)
        running = True
        while running:
            def run(*c: object) -> tuple[object, ...]:
                for _ in range(every):
                    if not truth(cond_fn(*c, *additional)[0]):
                        return (*c, False)
                    c = tuple(body_fn(*c, *additional))
                return (*c, True)

            *rest, running = torch_checkpoint(run, *carry, use_reentrant=False)
            carry = tuple(rest)
    return tuple(c.clone() if isinstance(c, torch.Tensor) and any(c is i for i in carried) else c for c in carry)


while_loop_op.register("autograd")(while_loop_autograd)
