"""Which storages are alive at each op of a training step: the peak, as a formula.

``Liveness`` is a dispatch mode above the fake tensor mode: every op's output
whose storage is new is an allocation, and a storage is freed when the last
tensor on it dies (a weakref finalizer per tensor). Sizes are symbolic, so
bytes are ``Bytes``: a sum of terms (products of symbols) with integer
coefficients. The live total is evaluated at each ``--at`` point as it
changes, and the formula alive at each point's peak is kept.

A size only the data decides (``nonzero``) is an unbacked symbol; it is
bounded, worst case, by the largest input of the op that made it (the number
of elements of its tensor arguments).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sympy
import torch
import torch.utils._pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode
from torchshade.shapes import free_unbacked_symbols

Bytes = dict[Any, int]
"""A byte count as ``{term: coefficient}``: terms are sympy products of symbols (``1`` for constants)."""


def to_bytes(n: int | torch.SymInt) -> Bytes:
    """A storage's byte count as terms."""
    if isinstance(n, int):
        return {sympy.Integer(1): n}
    expr = sympy.expand(n.node.expr)
    return {term: int(coeff) for term, coeff in expr.as_coefficients_dict().items()}


def to_expr(b: Bytes, names: Mapping[Any, str]) -> Any:
    """The sympy expression of ``b`` with symbols renamed to the dims' names."""
    renamed = {s: sympy.Symbol(n, positive=True, integer=True) for s, n in names.items()}
    return sympy.Add(*(c * t for t, c in b.items() if c)).xreplace(renamed)


class Evaluator:
    """Evaluates terms at one point: backed symbols by value, unbacked ones by their bound."""

    def __init__(self, values: Mapping[Any, int], bounds: Mapping[Any, Any]) -> None:
        self.values, self.bounds = values, bounds
        self.cache: dict[Any, int] = {}

    def term(self, term: Any) -> int:
        if term not in self.cache:
            expr = term
            for _ in range(8):  # bounds may mention other unbacked symbols
                expr = expr.xreplace(self.bounds)
            self.cache[term] = int(expr.xreplace(self.values))
        return self.cache[term]

    def __call__(self, b: Bytes) -> int:
        return sum(c * self.term(t) for t, c in b.items())


class Liveness(TorchDispatchMode):
    """Allocations and frees of one run; ``peak[i]`` and ``at_peak[i]`` for point ``i``."""

    def __init__(self, points: Sequence[Mapping[Any, int]], external: set[int],
                 progress: Callable[[int], None] | None = None) -> None:  # fmt: skip
        super().__init__()  # type: ignore[no-untyped-call]  # TorchDispatchMode.__init__ is unannotated
        self.bounds: dict[Any, Any] = {}
        self.evaluators = [Evaluator(p, self.bounds) for p in points]
        self.external = external  # storages that exist before the step: parameters, inputs
        self.storages: dict[int, list[Any]] = {}  # key -> [bytes, tensors alive, values per point]
        self.tensors: set[int] = set()
        self.live: Bytes = {}
        self.now = [0 for _ in points]
        self.peak = [0 for _ in points]
        self.at_peak: list[Bytes] = [{} for _ in points]
        self.ops = 0
        self.progress = progress
        self.timeline: list[int] = []  # live bytes at the first point after each op
        self.backward_at = 0  # the op count when the backward pass began

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        self.ops += 1
        if self.progress is not None and self.ops % 256 == 0:
            self.progress(self.ops)
        leaves = [t for t in pytree.tree_leaves(out) if isinstance(t, torch.Tensor)]
        for t in leaves:
            self._bound_unbacked(t, args, kwargs)
            self._track(t)
        if self.now:
            self.timeline.append(self.now[0])
        return out

    def _bound_unbacked(self, t: torch.Tensor, args: Any, kwargs: Any) -> None:
        fresh = [s for s in free_unbacked_symbols(t.shape) if s not in self.bounds]
        if not fresh:
            return
        sizes = [a.numel() for a in pytree.tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor)]
        exprs = [sympy.Integer(n) if isinstance(n, int) else n.node.expr for n in sizes]
        bound = sympy.Max(*exprs) if len(exprs) > 1 else exprs[0]
        for s in fresh:
            self.bounds[s] = bound

    def _track(self, t: torch.Tensor) -> None:
        if id(t) in self.tensors:  # an in-place op returned its input
            return
        storage = t.untyped_storage()
        key = int(storage._cdata)
        if key in self.external:
            return
        record = self.storages.get(key)
        if record is None:
            nbytes = to_bytes(storage.nbytes())
            record = [nbytes, 0, [ev(nbytes) for ev in self.evaluators]]
            self.storages[key] = record
            self._change(nbytes, record[2], 1)
        record[1] += 1
        self.tensors.add(id(t))
        weakref.finalize(t, self._release, key, id(t))

    def _release(self, key: int, tensor_id: int) -> None:
        self.tensors.discard(tensor_id)
        record = self.storages.get(key)
        if record is None:
            return
        record[1] -= 1
        if record[1] == 0:
            del self.storages[key]
            self._change(record[0], record[2], -1)

    def _change(self, nbytes: Bytes, values: list[int], sign: int) -> None:
        for term, coeff in nbytes.items():
            self.live[term] = self.live.get(term, 0) + sign * coeff
        for i, value in enumerate(values):
            self.now[i] += sign * value
            if self.now[i] > self.peak[i]:
                self.peak[i] = self.now[i]
                self.at_peak[i] = {t: c for t, c in self.live.items() if c}
