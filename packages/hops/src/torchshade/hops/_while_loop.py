"""while_loop: ``carry = body_fn(*carry, *additional)`` while ``cond_fn(*carry, *additional)``.

Sections, the same in every op module: the user function, then one rule per
setting (eager, fake, trace, autograd), each followed by its registration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import torch
from torch.utils.checkpoint import checkpoint as torch_checkpoint
from torch.utils._pytree import tree_unflatten

from torchshade.fake import FakeTensorMode
from torchshade.trace import add_call, add_subgraph, is_tracing, trace_subgraph

from ._closure import closed_over_grads, lift_closed_over
from ._core import FlatFn, compare_leaves, describe, fake_mode_of, flatten_leaves, input_paths, spec_text, zero_sum
from ._errors import HopArgumentError, HopError, OutputMismatchError
from ._op import HigherOrderOp, needs_grad
from ._scan import scan_op, segment_length
from ._subgraph import align_lifted, outside_trace

while_loop_op = HigherOrderOp("while_loop")
"""The flat op: ``while_loop_op(cond_fn, body_fn, carried, additional, checkpoint, keep=0)`` -> the final carries.

With ``keep=k`` >= 1, the carries at iterations 0, k, 2k, ... follow, each leaf stacked (``while_loop_eager``).
"""

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
def while_loop_eager(cond_fn: BodyFn, body_fn: BodyFn, carried: tuple[object, ...], additional: tuple[object, ...],
                     checkpoint: int | str | None = None, keep: int = 0) -> tuple[object, ...]:  # fmt: skip
    """A Python while loop; the carries checked after the first iteration.

    ``keep=k`` (k >= 1; the forward of a differentiable loop) also returns, after
    the final carries, each carry leaf stacked at the iterations 0, k, 2k, ...
    that ran: the carries backward starts its segments from.
    """
    carry: tuple[object, ...] = carried
    kept: list[tuple[object, ...]] = []
    i = 0
    while truth(cond_fn(*carry, *additional)[0]):
        if keep and i % keep == 0:
            kept.append(carry)
        carry = tuple(body_fn(*carry, *additional))
        if i == 0:
            check_body(body_fn, carried, carry)
        i += 1
    final = tuple(c.clone() if isinstance(c, torch.Tensor) and any(c is i for i in carried) else c for c in carry)
    return (*final, *stack_carries(carried, kept)) if keep else final


def stack_carries(carried: Sequence[object], kept: Sequence[Sequence[object]]) -> list[torch.Tensor]:
    """Each carry leaf of ``kept`` stacked along a new first dim (length 0 when none ran)."""
    leaves = cast(Sequence[torch.Tensor], carried)  # a differentiable loop's carries are tensors
    if not kept:
        return [c.new_empty((0, *c.shape)) for c in leaves]
    return [torch.stack([cast(torch.Tensor, k[j]) for k in kept]) for j in range(len(leaves))]


while_loop_op.register("eager")(while_loop_eager)


# -- fake ------------------------------------------------------------------------------
def while_loop_fake(cond_fn: BodyFn, body_fn: BodyFn, carried: tuple[object, ...], additional: tuple[object, ...],
                    checkpoint: int | str | None = None, keep: int = 0) -> tuple[object, ...]:  # fmt: skip
    """Unrolled while cond_fn's answer is known; else the carries' metadata, ints unbacked.

    With ``keep``, the stacked carries of a loop whose trip count depends on
    data have an unbacked length (a ShapeEnv needed).
    """
    mode = fake_mode_of([*carried, *additional])
    assert mode is not None  # the fake rule runs only on fake operands
    if not keep and torch.is_grad_enabled() and closed_over_grads((cond_fn, body_fn), (*carried, *additional)):
        return while_loop_autograd_traced(cond_fn, body_fn, carried, additional, checkpoint)
    with mode:
        carry = carried
        kept: list[tuple[object, ...]] = []
        while (known := truth(cond_fn(*carry, *additional)[0])) is not None:
            if not known:
                return (*carry, *stack_carries(carried, kept[::keep])) if keep else carry
            kept.append(carry)
            carry = tuple(body_fn(*carry, *additional))
        check_body(body_fn, carry, tuple(body_fn(*carry, *additional)))
        outs = abstract_carries(mode, carry)
        return (*outs, *stacked_like(mode, carry)) if keep else outs


def stacked_like(mode: FakeTensorMode, carried: Sequence[object]) -> list[torch.Tensor]:
    """Empty stacks of the carries, their length one new unbacked symbol (the saved iterations)."""
    if mode.shape_env is None:
        raise HopError(
            "while_loop: reverse mode under fake tensors needs a ShapeEnv: the number of iterations "
            "of a loop whose condition depends on data is an unbacked symbol. Use "
            "FakeTensorMode(shape_env=ShapeEnv()) or make_fx(..., tracing_mode='symbolic')."
        )
    n = mode.new_unbacked_size(while_loop_op)
    return [torch.empty((n, *c.shape), dtype=c.dtype, device=c.device) for c in cast(Sequence[torch.Tensor], carried)]


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
def while_loop_trace(cond_fn: BodyFn, body_fn: BodyFn, carried: tuple[object, ...], additional: tuple[object, ...],
                     checkpoint: int | str | None = None, keep: int = 0) -> tuple[object, ...]:  # fmt: skip
    """Unrolled inline when cond_fn answers a Python bool; else one ``while_loop`` node."""
    mode = fake_mode_of([*carried, *additional])
    with outside_trace(mode):
        first = cond_fn(*carried, *additional)[0]
    if not isinstance(first, torch.Tensor) and truth(first) is not None:  # a Python bool: unrolled
        return while_loop_eager(cond_fn, body_fn, carried, additional, checkpoint, keep)
    with outside_trace(mode):
        inputs = abstract_carries(mode, carried) if mode is not None else carried
    cond_body, body = trace_subgraph(cond_fn, (*inputs, *additional)), trace_subgraph(body_fn, (*inputs, *additional))
    if not keep and needs_grad([*cond_body.lifted, *body.lifted]):  # closed-over tensors need grad
        return while_loop_autograd_traced(cond_fn, body_fn, carried, additional, checkpoint)
    check_body(body_fn, inputs, body.outputs)
    lifted = align_lifted(cond_body, body, len(inputs) + len(additional))
    with outside_trace(mode):
        if mode is None:  # real values: run it
            outs = while_loop_eager(cond_fn, body_fn, carried, additional, checkpoint, keep)
        else:
            outs = abstract_carries(mode, body.outputs)
            outs = (*outs, *stacked_like(mode, body.outputs)) if keep else outs
    graphs = (add_subgraph("cond_graph", cond_body), add_subgraph("body_graph", body))
    add_call(while_loop_op, (*graphs, carried, (*additional, *lifted), checkpoint, keep), outs)
    return outs


while_loop_op.register("trace")(while_loop_trace)


# -- autograd --------------------------------------------------------------------------
def while_loop_autograd(cond_fn: BodyFn, body_fn: BodyFn, carried: tuple[object, ...], additional: tuple[object, ...],
                        checkpoint: int | str | None = None, keep: int = 0) -> tuple[object, ...]:  # fmt: skip
    """The eager loop under grad mode: autograd records each iteration (the unrolled loop's gradient).

    ``checkpoint=k`` keeps one carry per segment of k iterations, and
    backward recomputes the iterations inside it (cond_fn is asked again and
    must answer the same): the ``WhileLoopFunction`` of fake tensors and
    tracing, run on real tensors, when every carry is a tensor; else segments
    under ``torch.utils.checkpoint`` (non-reentrant). ``"sqrt"`` is not
    available: the number of iterations is not known in advance.
    """
    every = segment_length(checkpoint, 0, "while_loop")
    if every is None or every == 1 or keep:  # every carry kept: autograd's own record of each iteration
        return while_loop_eager(cond_fn, body_fn, carried, additional, checkpoint, keep)
    if all(isinstance(c, torch.Tensor) for c in carried):
        return while_loop_autograd_traced(cond_fn, body_fn, carried, additional, checkpoint)
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


class WhileLoopFunction(torch.autograd.Function):
    """while_loop under fake tensors or tracing, differentiable: backward scans the saved carries in reverse.

    ``apply(cond_fn, body_fn, (k, every), *carried, *additional)``: the bodies
    take every input and close over nothing requiring grad. The forward is the
    loop with ``keep=every``: it also returns the carries at the iterations 0,
    every, 2*every, ... stacked, their number the trip count (over ``every``),
    which under fake tensors is an unbacked symbol. Backward is a reverse
    ``scan`` over those: with ``every == 1`` each step is the body's vjp at
    its saved carry; else each step recomputes its segment (a ``while_loop``
    of at most ``every`` iterations from the saved carry, keeping each carry)
    and runs a reverse scan of the vjp over it. The scan's carry is the
    carries' gradient and the running sum of the ``additional`` tensors'.
    """

    @staticmethod
    def forward(ctx: Any, cond_fn: BodyFn, body_fn: BodyFn, shape: tuple[int, int], *inputs: object) -> tuple[object, ...]:
        k, every = shape
        carried, additional = inputs[:k], inputs[k:]
        with torch.no_grad():
            outs = while_loop_op(cond_fn, body_fn, carried, additional, None, every)
        ctx.state = (cond_fn, body_fn, k, every)
        ctx.others = [None if isinstance(a, torch.Tensor) else a for a in additional]
        ctx.save_for_backward(*outs[k:], *[a for a in additional if isinstance(a, torch.Tensor)])
        ctx.mark_non_differentiable(*[o for o in outs[:k] if isinstance(o, torch.Tensor) and not o.is_floating_point()])
        return tuple(outs[:k])

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor | None) -> tuple[object, ...]:
        cond_fn, body_fn, k, every = ctx.state
        stacks, rest = ctx.saved_tensors[:k], iter(ctx.saved_tensors[k:])
        additional = tuple(next(rest) if a is None else a for a in ctx.others)
        wrt = [i for i, a in enumerate(additional) if isinstance(a, torch.Tensor) and a.is_floating_point()]
        g = [torch.zeros(s.shape[1:], dtype=s.dtype, device=s.device) if gi is None else gi for gi, s in zip(grads, stacks)]
        start = (*g, *[zero_sum(cast(torch.Tensor, additional[i])) for i in wrt])
        step = _body_vjp(body_fn, k, wrt) if every == 1 else _segment_vjp(cond_fn, body_fn, k, every, wrt)
        with torch.no_grad():
            outs = scan_op(step, start, stacks, additional, 0, True, None, None)
        g_add: list[object] = [None] * len(additional)
        for i, gi in zip(wrt, outs[k : k + len(wrt)]):
            g_add[i] = gi
        g_carry = [gi if s.is_floating_point() else None for gi, s in zip(outs[:k], stacks)]
        return (None, None, None, *g_carry, *g_add)


def _body_vjp(body_fn: BodyFn, k: int, wrt: Sequence[int]) -> BodyFn:
    """One backward step: ``(*g_carry, *g_acc, *carry, *additional) -> (*g_carry', *g_acc')``."""
    a = len(wrt)

    def step(*args: object) -> tuple[object, ...]:
        tensors = cast(tuple[torch.Tensor, ...], args)  # gradients and carries are tensors
        g_carry, g_acc, carry, additional = tensors[:k], tensors[k : k + a], tensors[k + a : 2 * k + a], list(args[2 * k + a :])
        with torch.enable_grad():
            inputs = [c.detach().requires_grad_() if c.is_floating_point() else c for c in carry]
            for i in wrt:
                additional[i] = cast(torch.Tensor, additional[i]).detach().requires_grad_()
            outs = body_fn(*inputs, *additional)
            pairs = [(o, g) for o, g in zip(outs, g_carry) if isinstance(o, torch.Tensor) and o.requires_grad]
            wanted = [*[c for c in inputs if c.requires_grad], *[cast(torch.Tensor, additional[i]) for i in wrt]]
            found = torch.autograd.grad([o for o, _ in pairs], wanted, [g for _, g in pairs], allow_unused=True) if pairs else (None,) * len(wanted)
        grads = iter(torch.zeros_like(w) if f is None else f for f, w in zip(found, wanted))
        g_next = [next(grads) if c.requires_grad else torch.zeros_like(c) for c in inputs]
        return (*g_next, *[acc + next(grads) for acc in g_acc])

    return step


def _segment_vjp(cond_fn: BodyFn, body_fn: BodyFn, k: int, every: int, wrt: Sequence[int]) -> BodyFn:
    """One backward step over a segment: its carries recomputed from the saved one, then their vjps in reverse."""
    a = len(wrt)

    def seg_cond(*c: object) -> tuple[object, ...]:
        more = cast(torch.Tensor, c[k]) < every
        answer = cond_fn(*c[:k], *c[k + 1 :])[0]
        return (more & answer if isinstance(answer, torch.Tensor) else more if answer else more & False,)

    def seg_body(*c: object) -> tuple[object, ...]:
        return (*body_fn(*c[:k], *c[k + 1 :]), cast(torch.Tensor, c[k]) + 1)

    def step(*args: object) -> tuple[object, ...]:
        grads, start, additional = args[: k + a], args[k + a : 2 * k + a], args[2 * k + a :]
        counter = torch.zeros((), dtype=torch.int64, device=cast(torch.Tensor, start[0]).device)
        outs = while_loop_op(seg_cond, seg_body, (*start, counter), tuple(additional), None, 1)
        stacks = outs[k + 1 : 2 * k + 1]  # the counter's stack, last, is not needed
        return tuple(scan_op(_body_vjp(body_fn, k, wrt), grads, stacks, tuple(additional), 0, True, None, None))

    return step


def while_loop_autograd_traced(cond_fn: BodyFn, body_fn: BodyFn, carried: tuple[object, ...], additional: tuple[object, ...],
                               checkpoint: int | str | None = None, keep: int = 0) -> tuple[object, ...]:  # fmt: skip
    """Under fake tensors or tracing with grad needed: ``WhileLoopFunction`` over bodies that take every input.

    A loop whose cond_fn answers a Python bool is unrolled (autograd records
    each iteration). Traced, the bodies are first traced into subgraphs that
    take what they close over as arguments; under fake tensors alone the
    closed-over tensors that require grad are passed in (``lift_closed_over``).
    """
    if keep:  # a re-run of a differentiable loop's forward node: its outputs, not differentiated again
        rule = while_loop_trace if is_tracing() else while_loop_fake
        return rule(cond_fn, body_fn, carried, additional, checkpoint, keep)
    mode = fake_mode_of([*carried, *additional])
    with outside_trace(mode):
        first = cond_fn(*carried, *additional)[0]
    if not isinstance(first, torch.Tensor) and truth(first) is not None:  # a Python bool: unrolled
        return while_loop_eager(cond_fn, body_fn, carried, additional)
    for i, c in enumerate(carried):
        if not isinstance(c, torch.Tensor):
            raise HopArgumentError(
                f"while_loop: carry {i} is {describe(c)}; reverse mode of a loop whose condition depends "
                "on data (under fake tensors or tracing) needs every carry to be a tensor. Carry it as "
                "a tensor (torch.tensor(i)) instead."
            )
    if not is_tracing():
        captured = closed_over_grads((cond_fn, body_fn), (*carried, *additional))
        cond_fn, body_fn = lift_closed_over(cond_fn, captured), lift_closed_over(body_fn, captured)
        additional = (*additional, *captured)
    else:
        with outside_trace(mode):
            inputs = abstract_carries(mode, carried) if mode is not None else carried
        cond_body, body = trace_subgraph(cond_fn, (*inputs, *additional)), trace_subgraph(body_fn, (*inputs, *additional))
        check_body(body_fn, inputs, body.outputs)
        lifted = align_lifted(cond_body, body, len(inputs) + len(additional))
        cond_fn, body_fn, additional = cond_body.module, body.module, (*additional, *lifted)
    every = segment_length(checkpoint, 0, "while_loop") or 1
    return tuple(WhileLoopFunction.apply(cond_fn, body_fn, (len(carried), every), *carried, *additional))  # type: ignore[no-untyped-call]  # Function.apply is untyped


while_loop_op.register("autograd_traced")(while_loop_autograd_traced)
