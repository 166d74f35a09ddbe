"""Crosscheck mode: every dispatch-cache hit is recomputed and compared.

Turned on per mode with ``FakeTensorMode(cache_crosscheck=True)`` (the
``mode.cache_crosscheck`` attribute may also be set later), or for every mode
made while the environment variable ``TORCHSHADE_FAKE_CROSSCHECK=1`` is set.
On a hit, the op's kernel runs as on a miss, and the two outputs must agree
on everything a program can observe of them::

    structure   the same tuple / list nesting and lengths
    tensors     sizes, strides, storage offset (symbolic ones by expression:
                equal when equal after expanding, or when the ShapeEnv
                proves them equal from what it knows, without a guard),
                dtype, fake device, conj and neg bits, requires_grad,
                storage size in bytes (symbolic ones by example value: a
                rebuilt storage size is written differently from the
                kernel's), and aliasing: which input the output
                *is*, which input's storage it shares, or which earlier
                output's fresh storage it shares
    others      type and value (SymInts by expression)

A difference raises :class:`DispatchCacheMismatchError` naming the op, the
output and the field. CI runs the conformance subset and the model tests
with crosscheck on; it costs one extra kernel run per hit.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import sympy
import torch
from torch.utils import _pytree as pytree

from ._errors import DispatchCacheMismatchError
from ._tensor import FakeTensor

ENV_VAR = "TORCHSHADE_FAKE_CROSSCHECK"
_SYM_TYPES = (torch.SymInt, torch.SymFloat, torch.SymBool)


def enabled_by_environment() -> bool:
    """Whether ``TORCHSHADE_FAKE_CROSSCHECK`` asks for crosscheck mode (any value but 0)."""
    return os.environ.get(ENV_VAR, "0").strip() not in ("", "0")


def _number(value: object) -> object:
    """Symbolic values by their expression, plain ones as they are."""
    if isinstance(value, _SYM_TYPES):
        return value.node.expr
    return value


def example_value(value: object) -> object:
    """A symbolic size by its example value (its hint), when it has one.

    Used for storage sizes: a fresh output rebuilt with ``empty_strided``
    sums its strides (``2*s0 + 4*(s0//2)``) where the kernel multiplied its
    sizes (``8*(s0//2)``); the two are equal under the guards, not as
    expressions.
    """
    if isinstance(value, _SYM_TYPES):
        hint = getattr(value.node, "hint", None)
        return value.node.expr if hint is None else hint
    return value


def _storage_of(
    t: torch.Tensor, inputs: Sequence[torch.Tensor], fresh: dict[int, int]
) -> str:
    """Where ``t``'s data lives, in words that do not depend on object identity."""
    for index, x in enumerate(inputs):
        if t is x:
            return f"is input {index}"
    storage = t.untyped_storage()._cdata
    for index, x in enumerate(inputs):
        if x.untyped_storage()._cdata == storage:
            return f"shares the storage of input {index}"
    return f"fresh storage #{fresh.setdefault(storage, len(fresh))}"


def describe(out: object, inputs: Sequence[torch.Tensor]) -> list[dict[str, object]]:
    """Every leaf of ``out`` as field -> value, comparable between two runs."""
    leaves, spec = pytree.tree_flatten(out)
    fresh: dict[int, int] = {}
    described: list[dict[str, object]] = [{"structure": str(spec)}]
    for leaf in leaves:
        if isinstance(leaf, torch.Tensor):
            device = leaf.fake_device if isinstance(leaf, FakeTensor) else leaf.device
            described.append({
                "shape": tuple(_number(s) for s in leaf.shape),
                "stride": tuple(_number(s) for s in leaf.stride()),
                "storage_offset": _number(leaf.storage_offset()),
                "dtype": leaf.dtype,
                "device": device,
                "is_conj": leaf.is_conj(),
                "is_neg": leaf.is_neg(),
                "requires_grad": leaf.requires_grad,
                "storage": _storage_of(leaf, inputs, fresh),
                "storage bytes": example_value(leaf.untyped_storage().nbytes()),
            })
        else:
            described.append({"type": type(leaf).__name__, "value": _number(leaf)})
    return described


def _same(a: object, b: object, shape_env: Any) -> bool:
    """Equal: symbolic expressions after expanding (4*s0*s1 == 4*s1*s0), else when
    the ShapeEnv proves them equal from what it knows, without a guard
    (``Max(1, s0 + 2) == s0 + 2`` since ``s0 >= 0``; ``s1 == 16`` once s1 is replaced)."""
    if a == b:
        return True
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y, shape_env) for x, y in zip(a, b))
    numbers = (sympy.Expr, int)
    if not (isinstance(a, numbers) and isinstance(b, numbers)) or isinstance(a, bool) or isinstance(b, bool):
        return False
    if sympy.expand(sympy.sympify(a) - sympy.sympify(b)) == 0:
        return True
    return shape_env is not None and shape_env._maybe_evaluate_static(sympy.Eq(a, b)) == sympy.true


def _shape_env_of(*outs: object) -> Any:
    """The ShapeEnv of the first symbolic size met in ``outs``, or None."""
    for leaf in pytree.tree_leaves(outs):
        values: list[object] = [leaf] if isinstance(leaf, _SYM_TYPES) else []
        if isinstance(leaf, torch.Tensor) and leaf._has_symbolic_sizes_strides:
            values = [*leaf.shape, *leaf.stride()]
        for value in values:
            if isinstance(value, _SYM_TYPES):
                return value.node.shape_env
    return None


def check_hit(
    func: object, cached: object, computed: object, inputs: Sequence[torch.Tensor],
    source: str = "a dispatch-cache hit",
) -> None:
    """Raise :class:`DispatchCacheMismatchError` if ``cached`` (from ``source``: the
    cache, or a fast path) differs from ``computed``."""
    hit, kernel = describe(cached, inputs), describe(computed, inputs)
    shape_env = _shape_env_of(cached, computed)
    for index, (a, b) in enumerate(zip(hit, kernel)):
        for field in [*a, *(k for k in b if k not in a)]:  # in a fixed order
            if not _same(a.get(field), b.get(field), shape_env):
                where = "the output structure" if index == 0 else f"output {index - 1}"
                cache = source == "a dispatch-cache hit"
                raise DispatchCacheMismatchError(
                    f"{func}: {source} differs from running the kernel, in "
                    f"{where}: {field} is {a.get(field)} from the "
                    f"{'cache' if cache else 'fast path'} but {b.get(field)} from the kernel. "
                    f"The {'cache' if cache else 'fast path'} must never change an answer, so "
                    "this is a bug in torchshade.fake: please report it with this message."
                    + (" Until it is fixed, FakeTensorMode(cache=False) turns the cache off." if cache else "")
                )


def knowledge_state(shape_env: Any) -> object:
    """The state of ``shape_env``'s knowledge (``Knowledge.state``: its history so far)."""
    return shape_env.knowledge.state


def check_replay(func: torch._ops.OpOverload, shape_env: Any, before: object) -> None:
    """After a hit on an entry shared from another ShapeEnv, the kernel's own run must
    have learned nothing: everything it decides was learned by the replay."""
    after = knowledge_state(shape_env)
    if after != before:
        events = shape_env.knowledge.journal[-3:]
        raise DispatchCacheMismatchError(
            f"{func}: a dispatch-cache hit on an entry shared from another ShapeEnv "
            f"replayed that env's changes, but running the kernel learned more: "
            f"{events}. The replay must bring everything the kernel learns."
        )
