"""``torchshade memory``: parameters, saved-for-backward and peak activation bytes as formulas.

One step runs under a fake tensor mode with a ``ShapeEnv`` whose symbols are
the inputs' named dims: the forward, a stand-in loss (the sum of the
outputs) and the backward. ``saved_tensors_report`` (torchshade.autograd)
gives what autograd saves; ``Liveness`` gives the live bytes at every op.
Gradients of parameters are freed as soon as they are accumulated (they are
counted on their own line with ``--train``, as are Adam's two states).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.utils._pytree as pytree
from torch import nn
from torchshade.autograd import saved_tensors_report
from torchshade.fake import FakeTensorMode
from torchshade.shapes import ShapeEnv

from ._errors import FactoryError
from ._frames import user_frames
from ._liveness import Bytes, Evaluator, Liveness, to_bytes, to_expr
from ._models import parameter_count
from ._spec import TensorSpec, named_dims

HINTS = (11, 13, 17, 19, 23, 29, 31, 37, 41, 43)
"""Example values of the named dims while tracing: distinct, and never 0 or 1 (which specialize)."""


@dataclass(frozen=True)
class PointReport:
    """The byte counts at one ``--at`` point."""

    dims: dict[str, int]
    saved_bytes: int
    peak_activation_bytes: int
    peak_formula: str
    total_bytes: int


@dataclass(frozen=True)
class MemoryReport:
    """What ``torchshade memory`` prints; ``to_json()`` is the documented ``--format json``."""

    target: str
    inputs: tuple[TensorSpec, ...]
    train: bool
    parameter_count: int
    parameter_bytes: int
    gradient_bytes: int
    adam_bytes: int
    saved_formula: str
    points: tuple[PointReport, ...]
    guards: tuple[str, ...]
    data_dependent: dict[str, str]
    ops: int
    timeline: tuple[int, ...] = field(default=(), repr=False)  # live bytes after each op, first point
    backward_at: int = 0  # the op at which the backward pass began

    def to_json(self) -> dict[str, object]:
        return {
            "format": "torchshade.memory/1", "target": self.target,
            "inputs": {s.name: str(s) for s in self.inputs}, "train": self.train,
            "parameters": {"count": self.parameter_count, "bytes": self.parameter_bytes},
            "gradient_bytes": self.gradient_bytes, "adam_state_bytes": self.adam_bytes,
            "saved_for_backward_formula": self.saved_formula,
            "points": [vars(p) for p in self.points], "guards": list(self.guards),
            "data_dependent": self.data_dependent, "ops": self.ops,
        }  # fmt: skip


def _fake_inputs(mode: FakeTensorMode, specs: Sequence[TensorSpec]) -> tuple[dict[str, torch.Tensor], dict[Any, str]]:
    env = mode.shape_env
    assert env is not None  # made with one just above
    symbols: dict[str, Any] = {}
    for i, name in enumerate(named_dims(specs)):
        symbols[name] = env.create_symint(HINTS[i % len(HINTS)] + 2 * (i // len(HINTS)) * 53, name)
    with mode:
        inputs = {s.name: torch.zeros([symbols[d] if isinstance(d, str) else d for d in s.dims], dtype=s.dtype)
                  for s in specs}  # fmt: skip
    return inputs, {s.node.expr: name for name, s in symbols.items()}


def _loss(out: object) -> torch.Tensor | None:
    leaves = [t for t in pytree.tree_leaves(out) if isinstance(t, torch.Tensor) and t.requires_grad]
    return None if not leaves else sum((t.sum() for t in leaves[1:]), leaves[0].sum())


def measure_memory(target: str, fn: Callable[..., object], specs: Sequence[TensorSpec], mode: FakeTensorMode,
                   points: Sequence[Mapping[str, int]], train: bool,
                   progress: Callable[[int], None] | None = None) -> MemoryReport:  # fmt: skip
    """Run one step of ``fn`` (built in ``mode``) on fake inputs and report its memory."""
    inputs, names = _fake_inputs(mode, specs)
    by_name = {n: s for s, n in names.items()}
    values = [{by_name[n]: v for n, v in p.items()} for p in points]
    params = list(fn.parameters()) if isinstance(fn, nn.Module) else []
    buffers = list(fn.buffers()) if isinstance(fn, nn.Module) else []
    external = {int(t.untyped_storage()._cdata) for t in [*params, *buffers, *inputs.values()]}
    handles = [p.register_post_accumulate_grad_hook(_drop_grad) for p in params if p.requires_grad]
    live = Liveness(values, external, progress)

    def step(**kwargs: torch.Tensor) -> None:
        with live:
            loss = _loss(fn(**kwargs))
            live.backward_at = live.ops
            if loss is not None:
                loss.backward()

    try:
        saved = saved_tensors_report(step, **inputs)
    except Exception as error:
        raise FactoryError(_run_failed(target, error)) from error
    finally:
        for handle in handles:
            handle.remove()
    saved_bytes = to_bytes(saved.activation_bytes)
    count, param_bytes = parameter_count(fn)
    grad_bytes = sum(p.numel() * p.element_size() for p in {id(p): p for p in params if p.requires_grad}.values())
    extra = 3 * grad_bytes if train else 0  # the gradients and Adam's exp_avg, exp_avg_sq, in the parameters' dtype
    reports = tuple(
        PointReport(dict(p), Evaluator(values[i], live.bounds)(saved_bytes), live.peak[i],
                    _formula(live.at_peak[i], names), param_bytes + extra + live.peak[i])
        for i, p in enumerate(points)
    )  # fmt: skip
    env = mode.shape_env
    guards = () if env is None else tuple(_guards(env, names))
    dependent = {str(s): str(to_expr({b: 1}, names)) for s, b in live.bounds.items()}
    return MemoryReport(target, tuple(specs), train, count, param_bytes, grad_bytes if train else 0,
                        2 * grad_bytes if train else 0, _formula(saved_bytes, names), reports, guards,
                        dependent, live.ops, timeline=tuple(live.timeline), backward_at=live.backward_at)  # fmt: skip


def _drop_grad(p: torch.Tensor) -> None:
    p.grad = None


def _formula(b: Bytes, names: Mapping[Any, str]) -> str:
    return str(to_expr(b, names))


def _guards(env: ShapeEnv, names: Mapping[Any, str]) -> list[str]:
    defaults = {f"2 <= {n}" for n in names.values()}
    return [str(g) for g in env.input_guards() if g.python not in defaults]


def _run_failed(target: str, error: BaseException) -> str:
    frames = user_frames(error.__traceback__)
    lines = traceback.format_list(frames) + traceback.format_exception_only(error)
    return (f"TARGET {target!r}: running the model on fake inputs raised:\nTraceback (most recent call last):\n"
            f"{''.join(lines).rstrip()}\nFix the error above in your model, or check the --input specs.")  # fmt: skip


def new_mode() -> FakeTensorMode:
    """The fake mode models are built in: symbols for named dims, no duck shaping."""
    return FakeTensorMode(shape_env=ShapeEnv(duck_shape=False))
