"""scan: ``carry, y = combine_fn(carry, x)`` over slices ``x`` of ``xs``; the ``y``s stacked.

Sections, the same in every op module: the user function, then one rule per
setting (eager, fake, trace, autograd), each followed by its registration.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, cast

import torch
from torch.utils.checkpoint import checkpoint as torch_checkpoint
from torch.utils._pytree import tree_unflatten

from torchshade.trace import add_call, add_subgraph, is_tracing, trace_subgraph

from ._closure import closed_over_grads, lift_closed_over
from ._core import FlatFn, compare_leaves, root, describe, fake_mode_of, flatten_leaves, input_paths, spec_text, zero_sum
from ._errors import HopArgumentError, OutputMismatchError
from ._op import HigherOrderOp, needs_grad, reverse_mode_error
from ._subgraph import outside_trace

scan_op = HigherOrderOp("scan")
"""The flat op: ``scan_op(combine_fn, init, xs, additional, dim, reverse, length, checkpoint)`` -> (*carry, *ys)."""

_FIX = "combine_fn must return (next_carry, y) with next_carry exactly like init (structure, dtype, device, shape)."
_NAMES = ("init", "combine_fn's next carry")


# -- the user function -----------------------------------------------------------------
def scan(combine_fn: Callable[[Any, Any], tuple[Any, Any]], init: Any, xs: Any = None, *, dim: int = 0,
         reverse: bool = False, length: int | None = None, checkpoint: int | str | None = None) -> tuple[Any, Any]:  # fmt: skip
    """An inclusive scan: returns ``(final_carry, ys)``, each ``ys`` leaf stacked along ``dim``.

    ``combine_fn(carry, x) -> (next_carry, y)``, ``x`` a slice of ``xs`` along
    ``dim`` (backwards with ``reverse=True``). Without ``xs``, ``length=n``
    calls ``combine_fn(carry, None)`` n times. ``checkpoint`` is the backward's
    memory policy (see ``scan_autograd``): None, an int k, or ``"sqrt"``. Example::

        >>> scan(lambda c, x: (c + x, (c + x).clone()), torch.zeros(3), torch.ones(5, 3))
    """
    init_leaves, init_spec = flatten_leaves("scan", "init", init)
    xs_leaves, xs_spec = flatten_leaves("scan", "xs", xs) if xs is not None else ([], None)
    n = _length(xs, xs_leaves, dim, length)
    paths = [*input_paths("init", init), *(input_paths("xs", xs) if xs is not None else [])]
    if xs_spec is None:
        flat = FlatFn(lambda carry: combine_fn(carry, None), [init_spec], "scan", "combine_fn", paths)
    else:
        flat = FlatFn(combine_fn, [init_spec, xs_spec], "scan", "combine_fn", paths)
    if isinstance(n, int) and n == 0:
        return init, []
    dims = [d % x.dim() for x in xs_leaves if isinstance(x, torch.Tensor) for d in (dim,)]
    segment_length(checkpoint, 0, "scan")  # a wrong policy fails now, not in backward
    outs = scan_op(flat, tuple(init_leaves), tuple(xs_leaves), (), dims[0] if dims else 0, reverse,
                   None if xs_leaves else n, checkpoint)  # fmt: skip
    assert flat.out_spec is not None  # set by the first call
    y_spec = flat.out_spec.child(1)
    k = len(init_leaves)
    return tree_unflatten(list(outs[:k]), init_spec), tree_unflatten(list(outs[k:]), y_spec)


def _length(xs: object, leaves: Sequence[object], dim: int, length: int | None) -> int | torch.SymInt:
    if not leaves:
        if length is None:
            raise HopArgumentError("scan: xs has no tensors and no length= was given; pass xs, or length=n to run combine_fn(carry, None) n times.")
        return length
    if length is not None:
        raise HopArgumentError("scan: both xs and length= were given; the length is xs's size along dim. Drop length=.")
    sizes = []
    for path, x in zip(input_paths("xs", xs), leaves):
        if not isinstance(x, torch.Tensor) or not -x.dim() <= dim < max(x.dim(), 1) or x.dim() == 0:
            raise HopArgumentError(
                f"scan: {path} is {describe(x)}, which has no dimension {dim} to scan over; every "
                "xs leaf must be a tensor with that dimension."
            )
        sizes.append((path, x, x.shape[dim]))
    for path, x, size in sizes[1:]:
        if size is not sizes[0][2] and size != sizes[0][2]:
            raise HopArgumentError(
                f"scan: {path} is {describe(x)} but {sizes[0][0]} is {describe(sizes[0][1])}: their "
                f"sizes along dim {dim} differ. Every xs leaf must have the same length along dim."
            )
    return sizes[0][2]


def check_carry(fn: object, init: Sequence[object], outs: Sequence[object]) -> None:
    """The first step's next carry must be like ``init``."""
    if isinstance(fn, FlatFn):
        spec = fn.out_spec
        if spec is None or spec.num_children != 2 or spec.type not in (tuple, list):
            raise OutputMismatchError(f"scan: combine_fn must return a pair (next_carry, y); it returned {spec_text(spec) if spec is not None else None}. {_FIX}")
        paths = fn.out_paths[: len(init)]
        if spec.child(0).num_leaves != len(init):
            raise OutputMismatchError(f"scan: combine_fn's next carry has {spec.child(0).num_leaves} leaves but init has {len(init)}. {_FIX}")
    else:
        paths = [f"[0][{i}]" for i in range(len(init))]
    compare_leaves("scan", "the carry changed", paths, list(zip(init, outs)), _NAMES, _FIX, sizes=True)


# -- eager -----------------------------------------------------------------------------
Step = Callable[..., Sequence[object]]


def scan_eager(fn: Step, init: tuple[object, ...], xs: tuple[torch.Tensor, ...], additional: tuple[object, ...],
               dim: int, reverse: bool, length: int | None, checkpoint: int | str | None = None) -> tuple[object, ...]:  # fmt: skip
    """A Python loop over the slices; the checks of the first step only, then the plain loop."""
    slices = [x.unbind(dim) for x in xs]
    n = len(slices[0]) if slices else int(length or 0)
    if n == 0:  # no step (a loop's backward that ran zero times): combine_fn once for the ys' shapes
        with torch.no_grad():
            out = fn(*init, *first_slices(xs, dim), *additional)
        return (*[c.clone() if isinstance(c, torch.Tensor) else c for c in init], *scan_outputs(list(out), len(init), 0, dim)[len(init) :])
    steps = list(range(n - 1, -1, -1) if reverse else range(n))
    carry, ys = run_steps(fn, init, slices, additional, steps, check=True)
    return finish((*init, *xs), carry, ys, reverse, dim)


def first_slices(xs: Sequence[torch.Tensor], dim: int) -> list[torch.Tensor]:
    """A slice of each xs leaf along ``dim`` to run combine_fn on once; zeros when the length may be 0."""
    return [x.select(dim, 0) if _surely_nonempty(x.shape[dim]) else x.new_zeros((*x.shape[:dim], *x.shape[dim + 1 :])) for x in xs]


def _surely_nonempty(size: int | torch.SymInt) -> bool:
    if isinstance(size, torch.SymInt):  # a size of an input, or an expression (n // k), or unbacked (a trip count)
        return bool(size.node.expr.is_Symbol and size.node.has_hint() and size.node.hint > 0)  # no guard made
    return size > 0


def run_steps(fn: Step, carry: Sequence[object], slices: Sequence[Sequence[torch.Tensor]], additional: tuple[object, ...],
              steps: Sequence[int], check: bool) -> tuple[Sequence[object], list[Sequence[object]]]:  # fmt: skip
    """``steps`` of the scan from ``carry``: the last carry and each step's ys."""
    k = len(carry)
    ys: list[Sequence[object]] = []
    per_step = list(zip(*slices)) if slices else [()] * (max(steps) + 1 if steps else 0)
    fast = isinstance(fn, FlatFn) and fn.all_leaves and all(isinstance(t, torch.Tensor) for t in (*carry, *additional))
    others = [*(per_step[steps[0]] if steps else ()), *additional]  # outlive the loop: checked once, after it
    versions = [t._version if isinstance(t, torch.Tensor) else -1 for t in others]
    for i in steps:
        if fast and not check:
            out = fn.call_tensors((*carry, *per_step[i], *additional), k)  # type: ignore[attr-defined]  # a FlatFn of tensors when fast
        else:
            out = fn(*carry, *per_step[i], *additional)
        if check:
            check_carry(fn, carry, out)
            check = False
            if isinstance(fn, FlatFn):  # the step that checked is representative; the outputs
                fn.check_aliases = False  # are made new at the end (finish), not at each step
            fast = fast and fn.width > 0 and all(isinstance(t, torch.Tensor) for t in out[:k])  # type: ignore[attr-defined]  # a FlatFn when fast
        carry = out[:k]
        ys.append(out[k:])
    if isinstance(fn, FlatFn):
        fn.check_aliases = True
        fn.check_versions(others, versions, offset=k)  # xs share their slices' versions
    return carry, ys


def finish(inputs: Sequence[object], carry: Sequence[object], ys: list[Sequence[object]], reverse: bool,
           dim: int) -> tuple[object, ...]:  # fmt: skip
    """The op's outputs: the carry (copied where it shares memory with an input) and the ys stacked."""
    if reverse:
        ys.reverse()
    stacked = [torch.stack([y[j] for y in ys], dim) for j in range(len(ys[0]))]  # type: ignore[misc]  # y leaves are tensors
    roots = {id(root(t)) for t in inputs if isinstance(t, torch.Tensor)}
    return (*(c.clone() if isinstance(c, torch.Tensor) and id(root(c)) in roots else c for c in carry), *stacked)


scan_op.register("eager")(scan_eager)


# -- fake ------------------------------------------------------------------------------
def scan_fake(fn: Callable[..., Sequence[object]], init: tuple[object, ...], xs: tuple[torch.Tensor, ...],
              additional: tuple[object, ...], dim: int, reverse: bool, length: int | None,
              checkpoint: int | str | None = None) -> tuple[object, ...]:  # fmt: skip
    """combine_fn once on the first slices; the carry as it returned, the ys stacked n times."""
    mode = fake_mode_of([*init, *xs, *additional])
    assert mode is not None  # the fake rule runs only on fake operands
    if torch.is_grad_enabled() and closed_over_grads((fn,), (*init, *first_slices(xs, dim), *additional)):
        return scan_autograd_traced(fn, init, xs, additional, dim, reverse, length, checkpoint)  # closed-over weights
    with mode:
        out = list(fn(*init, *first_slices(xs, dim), *additional))
        check_carry(fn, init, out)
        return scan_outputs(out, len(init), xs[0].shape[dim] if xs else length, dim)


def scan_outputs(out: list[object], k: int, n: object, dim: int) -> tuple[object, ...]:
    """New tensors for the op's outputs, from one step's: the carry as is, each y with n at ``dim``.

    ``out`` is emptied first, so the step's tensors are gone before the
    outputs are made: a fake run counts them apart, as in a real run, where
    the last step's carry *is* the output carry.
    """
    like = [(o.shape, o.stride(), o.dtype, o.device) if isinstance(o, torch.Tensor) else o for o in out]
    out.clear()
    carry = tuple(torch.empty_strided(c[0], c[1], dtype=c[2], device=c[3]) if isinstance(c, tuple) else c for c in like[:k])
    ys: list[object] = []
    for y in like[k:]:
        if not isinstance(y, tuple):
            raise OutputMismatchError(f"scan: combine_fn returned y leaf {describe(y)}; every y leaf must be a tensor to be stacked. Return torch.tensor(value).")
        sizes = list(y[0])
        sizes.insert(dim, n)
        ys.append(torch.empty(sizes, dtype=y[2], device=y[3]))
    return (*carry, *ys)


scan_op.register("fake")(scan_fake)


# -- trace -----------------------------------------------------------------------------
def scan_trace(fn: Callable[..., tuple[object, ...]], init: tuple[object, ...], xs: tuple[torch.Tensor, ...],
               additional: tuple[object, ...], dim: int, reverse: bool, length: int | None,
               checkpoint: int | str | None = None) -> tuple[object, ...]:  # fmt: skip
    """One ``scan`` node; combine_fn a subgraph (``combine_graph_0``) of one step."""
    mode = fake_mode_of([*init, *xs, *additional])
    with outside_trace(mode):
        slices = [x.clone() for x in first_slices(xs, dim)]
    body = trace_subgraph(fn, (*init, *slices, *additional))
    if needs_grad(body.lifted):  # closed-over tensors need grad: the differentiable path
        return scan_autograd_traced(fn, init, xs, additional, dim, reverse, length, checkpoint)
    check_carry(fn, init, body.outputs)
    with outside_trace(mode):
        if mode is None:  # real values: run it
            outs = scan_eager(fn, init, xs, additional, dim, reverse, length)
        else:
            outs = scan_outputs(list(body.outputs), len(init), xs[0].shape[dim] if xs else length, dim)
    graph = add_subgraph("combine_graph", body)
    add_call(scan_op, (graph, init, xs, (*additional, *body.lifted), dim, reverse, length, checkpoint), outs)
    return outs


scan_op.register("trace")(scan_trace)


# -- autograd --------------------------------------------------------------------------
def scan_autograd(fn: Step, init: tuple[object, ...], xs: tuple[torch.Tensor, ...], additional: tuple[object, ...],
                  dim: int, reverse: bool, length: int | None, checkpoint: int | str | None = None) -> tuple[object, ...]:  # fmt: skip
    """The eager loop under grad mode: autograd records each step (the unrolled loop's gradient).

    ``checkpoint``: None saves every step's carry; ``k`` keeps one carry per
    segment of k steps and recomputes the steps inside it in backward (the
    ``ScanFunction`` of fake tensors and tracing, run on real tensors: one
    segment's carries alive at a time); ``"sqrt"`` takes k about sqrt(n).
    Where that needs what it has not (xs, floating-point tensor carries),
    the segments run under ``torch.utils.checkpoint`` (non-reentrant).
    """
    slices = [x.unbind(dim) for x in xs]
    n = len(slices[0]) if slices else int(length or 0)
    every = segment_length(checkpoint, n, "scan")
    if every is None or every == 1:  # every carry kept: autograd's own record of each step
        return scan_eager(fn, init, xs, additional, dim, reverse, length)
    if xs and all(isinstance(t, torch.Tensor) and t.is_floating_point() for t in (*init, *additional)):
        return scan_autograd_traced(fn, init, xs, additional, dim, reverse, length, checkpoint)
    steps = list(range(n - 1, -1, -1) if reverse else range(n))
    k = len(init)
    carry, ys = run_steps(fn, init, slices, additional, steps[:1], check=True)  # the checks, once
    for start in range(1, n, every):
        segment = steps[start : start + every]

        def run(*c: object, segment: list[int] = segment) -> tuple[object, ...]:
            last, seg_ys = run_steps(fn, c, slices, additional, segment, check=False)
            return (*last, *(leaf for y in seg_ys for leaf in y))

        out = torch_checkpoint(run, *carry, use_reentrant=False)
        carry = out[:k]
        width = len(ys[0])
        ys.extend(out[k + j * width : k + (j + 1) * width] for j in range(len(segment)))
    return finish((*init, *xs), carry, ys, reverse, dim)


def segment_length(checkpoint: int | str | None, n: int, op: str) -> int | None:
    """Steps per checkpointed segment: None for "save every carry"."""
    if checkpoint is None or checkpoint == "all":
        return None
    if checkpoint == "sqrt":
        return max(1, math.isqrt(max(n, 1)))
    if isinstance(checkpoint, int) and not isinstance(checkpoint, bool) and checkpoint >= 1:
        return checkpoint
    raise HopArgumentError(
        f"{op}: checkpoint={checkpoint!r} is not a policy; use None (save every carry), an int k >= 1 "
        "(save every k-th carry and recompute the others in backward) or 'sqrt'."
    )


scan_op.register("autograd")(scan_autograd)


class ScanFunction(torch.autograd.Function):
    """scan under fake tensors or tracing, differentiable: backward is a reverse scan of the step's vjp.

    ``apply(fn, shape, *init, *xs, *additional)`` with ``shape = (k, m, dim,
    reverse, length, every)``. With ``every`` None the forward scans ``fn``
    with each step's input carry as an extra ``y`` (so backward has every
    carry, stacked); backward scans the other way, the carry being the
    carries' gradient and the running sum of the ``additional`` inputs'
    gradients, each ``y`` an ``x``'s gradient.

    With ``every = e`` (the checkpoint policy) the steps are cut into
    ``n // e`` segments of ``e`` steps, then a rest of ``n % e``: the forward
    is a scan over the segments (each an inner scan) that keeps only each
    segment's first carry, and the rest's. Backward runs the rest's vjp, then
    a reverse scan over the segments whose step recomputes its segment's
    carries from the one kept and runs their vjp: one segment's carries are
    alive at a time.
    """

    @staticmethod
    def forward(ctx: Any, fn: Step, shape: tuple[int, int, int, bool, int | None, int | None],
                *inputs: object) -> tuple[object, ...]:  # fmt: skip
        k, m, dim, reverse, length, every = shape
        init, xs, additional = inputs[:k], cast(tuple[torch.Tensor, ...], inputs[k : k + m]), inputs[k + m :]
        with torch.no_grad():
            if every is None:
                both = scan_op(_with_carries(fn, k), init, xs, additional, dim, reverse, length, None)
                outs, kept = both[: len(both) - k], both[len(both) - k :]
            else:
                outs, kept = _segmented_forward(fn, init, xs, additional, dim, reverse, every)
        n_ys = len(outs) - k
        ctx.state = (fn, shape, n_ys)
        ctx.ys = [(y.shape, y.dtype, y.device) for y in outs[k : k + n_ys]]
        ctx.save_for_backward(*xs, *kept, *additional)
        return tuple(outs[: k + n_ys])

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor | None) -> tuple[object, ...]:
        fn, (k, m, dim, reverse, length, every), n_ys = ctx.state
        saved = ctx.saved_tensors
        kept = 2 * k if every is not None else k
        xs, carries, additional = saved[:m], saved[m : m + kept], saved[m + kept :]
        like = carries[k:] if every is not None else carries  # the rest's first carry, or every carry stacked
        g_carry = [_zeros_carry(c, dim, every is None) if g is None else g for g, c in zip(grads[:k], like)]
        g_ys = [torch.zeros(meta[0], dtype=meta[1], device=meta[2]) if g is None else g for g, meta in zip(grads[k:], ctx.ys)]
        start = (*g_carry, *[zero_sum(a) for a in additional])
        a = len(additional)
        with torch.no_grad():
            if every is None:
                step = _step_vjp(fn, k, m, n_ys, a)
                outs = scan_op(step, start, (*xs, *carries, *g_ys), tuple(additional), dim, not reverse, length, None)
            else:
                outs = _segmented_backward(fn, start, xs, carries, g_ys, additional, dim, reverse, every)
        return (None, None, *outs[:k], *outs[k + a :], *outs[k : k + a])


def _zeros_carry(c: torch.Tensor, dim: int, stacked: bool) -> torch.Tensor:
    return c.new_zeros((*c.shape[:dim], *c.shape[dim + 1 :])) if stacked else torch.zeros_like(c)


def _split(x: torch.Tensor, dim: int, every: int, reverse: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` along ``dim`` as whole segments (``[n // every, every]`` at dim, dim + 1) and the rest, views both.

    The segments are the steps that run first: the first ``n // every * every``
    positions, or the last ones when the scan runs in reverse.
    """
    n = x.shape[dim]
    whole = n // every * every
    segments, rest = (x.narrow(dim, n - whole, whole), x.narrow(dim, 0, n - whole)) if reverse else (x.narrow(dim, 0, whole), x.narrow(dim, whole, n - whole))
    return segments.unflatten(dim, (n // every, every)), rest


def _join(segments: torch.Tensor, rest: torch.Tensor, dim: int, reverse: bool) -> torch.Tensor:
    flat = segments.flatten(dim, dim + 1)
    return torch.cat([rest, flat] if reverse else [flat, rest], dim)


def _segmented_forward(fn: Step, init: tuple[object, ...], xs: tuple[torch.Tensor, ...], additional: tuple[object, ...],
                       dim: int, reverse: bool, every: int) -> tuple[tuple[object, ...], tuple[object, ...]]:  # fmt: skip
    """The forward in segments: (the op's outputs, the carries kept: each segment's first, stacked, and the rest's first)."""
    k, m = len(init), len(xs)
    split = [_split(x, dim, every, reverse) for x in xs]

    def segment(*args: object) -> tuple[object, ...]:
        outs = scan_op(fn, args[:k], args[k : k + m], args[k + m :], dim, reverse, None, None)
        return (*outs, *[cast(torch.Tensor, c).clone() for c in args[:k]])

    whole = scan_op(segment, init, tuple(s for s, _ in split), additional, dim, reverse, None, None)
    n_ys = len(whole) - 2 * k
    rest = scan_op(fn, whole[:k], tuple(r for _, r in split), additional, dim, reverse, None, None)
    ys = [_join(cast(torch.Tensor, y), cast(torch.Tensor, r), dim, reverse) for y, r in zip(whole[k : k + n_ys], rest[k:])]
    return (*rest[:k], *ys), (*whole[k + n_ys :], *whole[:k])


def _segmented_backward(fn: Step, start: tuple[torch.Tensor, ...], xs: Sequence[torch.Tensor], kept: Sequence[torch.Tensor],
                        g_ys: Sequence[torch.Tensor], additional: Sequence[torch.Tensor], dim: int, reverse: bool,
                        every: int) -> tuple[object, ...]:  # fmt: skip
    """The rest's vjp (it ran last), then the segments' in reverse, each recomputing its carries."""
    k, m, n_ys, a = len(kept) // 2, len(xs), len(g_ys), len(additional)
    starts, rest_start = kept[:k], kept[k:]
    x_split = [_split(x, dim, every, reverse) for x in xs]
    g_split = [_split(g, dim, every, reverse) for g in g_ys]
    x_rest, g_rest = tuple(r for _, r in x_split), tuple(r for _, r in g_split)
    carries = scan_op(_with_carries(fn, k), tuple(rest_start), x_rest, tuple(additional), dim, reverse, None, None)[-k:] if k else ()
    step = _step_vjp(fn, k, m, n_ys, a)
    outs = scan_op(step, start, (*x_rest, *carries, *g_rest), tuple(additional), dim, not reverse, None, None)
    g_rest_xs = outs[k + a :]

    def segment(*args: object) -> tuple[object, ...]:
        grads, x_seg = args[: k + a], args[k + a : k + a + m]
        first, g_seg, extra = args[k + a + m : 2 * k + a + m], args[2 * k + a + m : 2 * k + a + m + n_ys], args[2 * k + a + m + n_ys :]
        recomputed = scan_op(_with_carries(fn, k), first, x_seg, extra, dim, reverse, None, None)[-k:]
        return tuple(scan_op(step, grads, (*x_seg, *recomputed, *g_seg), extra, dim, not reverse, None, None))

    seg_xs = (*[s for s, _ in x_split], *starts, *[s for s, _ in g_split])
    outs = scan_op(segment, outs[: k + a], seg_xs, tuple(additional), dim, not reverse, None, None)
    g_xs = [_join(cast(torch.Tensor, s), cast(torch.Tensor, r), dim, reverse) for s, r in zip(outs[k + a :], g_rest_xs)]
    return (*outs[: k + a], *g_xs)


def _with_carries(fn: Step, k: int) -> Step:
    def step(*args: object) -> tuple[object, ...]:
        return (*fn(*args), *[c.clone() for c in args[:k]])  # type: ignore[attr-defined]  # carries are tensors

    return step


def _step_vjp(fn: Step, k: int, m: int, n_ys: int, a: int) -> Step:
    """One backward step: ``(*g_carry, *g_acc, *x, *carry, *g_y, *additional) -> (*g_carry', *g_acc', *g_x)``."""

    def step(*args: object) -> tuple[object, ...]:
        tensors = cast(tuple[torch.Tensor, ...], args)  # every argument of a backward step is a tensor
        g_carry, g_acc, x = tensors[:k], tensors[k : k + a], tensors[k + a : k + a + m]
        carry, rest = tensors[k + a + m : k + a + m + k], tensors[k + a + m + k :]
        g_y, additional = rest[:n_ys], rest[n_ys:]
        with torch.enable_grad():
            inputs = [t.detach().requires_grad_() for t in (*carry, *x, *additional)]
            outs = cast(list[torch.Tensor], list(fn(*inputs)))
            found = torch.autograd.grad(outs, inputs, [*g_carry, *g_y], allow_unused=True)
        found = tuple(torch.zeros_like(i) if g is None else g for g, i in zip(found, inputs))
        g_a = [acc + g for acc, g in zip(g_acc, found[k + m :])]
        return (*found[:k], *g_a, *found[k : k + m])

    return step


def scan_autograd_traced(fn: Step, init: tuple[object, ...], xs: tuple[torch.Tensor, ...], additional: tuple[object, ...],
                         dim: int, reverse: bool, length: int | None, checkpoint: int | str | None = None) -> tuple[object, ...]:  # fmt: skip
    """Under fake tensors or tracing with grad needed: ``ScanFunction`` over a step that takes every input."""
    if not xs or not all(isinstance(t, torch.Tensor) and t.is_floating_point() for t in (*init, *additional)):
        raise reverse_mode_error("scan", "trace" if is_tracing() else "fake")
    if not is_tracing():  # fake tensors alone: closed-over tensors requiring grad passed in
        captured = closed_over_grads((fn,), (*init, *first_slices(xs, dim), *additional))
        fn, additional = lift_closed_over(fn, captured), (*additional, *captured)
    else:
        mode = fake_mode_of([*init, *xs, *additional])
        with outside_trace(mode):
            slices = [x.clone() for x in first_slices(xs, dim)]
        body = trace_subgraph(fn, (*init, *slices, *additional))
        check_carry(fn, init, body.outputs)
        fn, additional = body.module, (*additional, *body.lifted)
        if not all(isinstance(t, torch.Tensor) and t.is_floating_point() for t in additional):
            raise reverse_mode_error("scan", "trace")
    n = xs[0].shape[dim]
    every = segment_length(checkpoint, (n.node.hint or 0) if isinstance(n, torch.SymInt) else n, "scan")  # the example size's
    shape = (len(init), len(xs), dim, reverse, length, None if every == 1 else every)
    return tuple(ScanFunction.apply(fn, shape, *init, *xs, *additional))  # type: ignore[no-untyped-call]  # Function.apply is untyped


scan_op.register("autograd_traced")(scan_autograd_traced)
