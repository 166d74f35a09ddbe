"""make_fx: run a program on example inputs and return the FX graph of what it did.

    make_fx(f, tracing_mode=...)(*args)
      1. flatten args (pytree); check each leaf's type
      2. the values the program sees:    real      the inputs as they are
                                         fake      FakeTensorMode.from_tensor
                                         symbolic  ... with a ShapeEnv: every
                                                   size a symbol, ints SymInts
         (inputs that are already fake keep their mode)
      3. one placeholder per leaf, named after f's parameters
      4. run f under FakeTensorMode, ProxyTorchDispatchMode and shapes'
         sym_op_tracing, all feeding one ProxyTracer
      5. output node; unused size arithmetic removed; runtime asserts and the
         guard check added (check_guards); stack traces written
"""

from __future__ import annotations

import contextlib
import inspect
import keyword
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.fx as fx
from torch.fx.graph import _PyTreeCodeGen, _PyTreeInfo
from torch.utils._pytree import keystr, tree_flatten_with_path, tree_unflatten

from torchshade.fake import FakeTensor, FakeTensorMode
from torchshade.shapes import ShapeEnv, sym_op_tracing

from ._checks import GuardCheck, StaticCheck, insert_guard_check, insert_runtime_asserts, remove_unused_sym_nodes
from ._errors import TraceInputError, TraceOutputError, TracingModeError
from ._frames import StackFormatter
from ._mode import ProxyTorchDispatchMode
from ._tracer import ProxyTracer

_MODES = ("real", "fake", "symbolic")
_LEAF_TYPES = (torch.Tensor, int, float, bool, type(None), torch.SymInt, torch.SymFloat, torch.SymBool)


def make_fx(
    f: Callable[..., Any],
    decomposition_table: Mapping[Any, Callable[..., Any]] | None = None,
    tracing_mode: str = "real",
    _allow_non_fake_inputs: bool = False,
    *,
    record_module_stack: bool = False,
    check_guards: bool = True,
) -> Callable[..., fx.GraphModule]:
    """A function of example inputs that traces ``f`` on them into a ``GraphModule``.

    Example::

        >>> gm = make_fx(lambda x: x.view(x.shape[0] * 2, -1), tracing_mode="symbolic")(torch.ones(4, 6))
        >>> gm.shape_env.guards           # the conditions the graph relies on
        >>> gm(torch.ones(8, 6))          # checks them, then computes

    ``tracing_mode``: ``"real"`` runs on the inputs, ``"fake"`` on fake copies
    (no data), ``"symbolic"`` on fake copies whose every size is a symbol.
    ``check_guards=False`` leaves the guard check and runtime asserts out of
    the graph (for graphs handed to a compiler that checks guards itself).
    """
    if tracing_mode not in _MODES:
        raise TracingModeError(
            f"make_fx: tracing_mode={tracing_mode!r} is not one of 'real', 'fake', "
            "'symbolic'. Use 'real' to run on the inputs, 'fake' for fake tensors with "
            "static sizes, or 'symbolic' for fake tensors with symbolic sizes."
        )
    table = dict(decomposition_table or {})

    def trace(*args: object) -> fx.GraphModule:
        return _Trace(f, table, tracing_mode, _allow_non_fake_inputs,
                      record_module_stack, check_guards).run(args)  # fmt: skip

    return trace


class _Trace:
    """One call of the function make_fx returns."""

    def __init__(self, f: Callable[..., Any], table: Mapping[Any, Callable[..., Any]], tracing_mode: str,
                 allow_non_fake: bool, record_module_stack: bool, check_guards: bool) -> None:  # fmt: skip
        self.f = f
        self.table = table
        self.tracing_mode = tracing_mode
        self.allow_non_fake = allow_non_fake
        self.record_module_stack = record_module_stack
        self.check_guards = check_guards
        self.owns_env = False
        self.owns_values = True  # the values were made here from the inputs (no fake input given)

    def run(self, args: tuple[object, ...]) -> fx.GraphModule:
        with_paths, spec = tree_flatten_with_path(args)
        leaves = [leaf for _, leaf in with_paths]
        _check_leaves(with_paths)
        fake_mode = self._fake_mode(leaves)
        tracer = ProxyTracer(fake_mode, _snapshotter(fake_mode), self.allow_non_fake, self._module_names())
        tracer.fn = self.f
        names = _input_names(self.f, [path for path, _ in with_paths])
        values = [self._value(leaf, name, fake_mode) for leaf, name in zip(leaves, names)]
        placeholders = [tracer.placeholder(n, v, _val(v, tracer)) for n, v in zip(names, values)]
        out = self._call(tracer, fake_mode, tree_unflatten(values, spec))
        with_out_paths, out_spec = tree_flatten_with_path(out)
        _check_outputs(with_out_paths)
        out_leaves = [leaf for _, leaf in with_out_paths]
        tracer.entry = sys._getframe()  # nodes made for the outputs: no user frame of their own
        tracer.graph.output(tuple(_output_value(tracer, leaf) for leaf in out_leaves))  # type: ignore[misc]  # nodes and numbers: fx Arguments
        return self._finish(tracer, fake_mode, placeholders, names, spec, out_spec)

    def _fake_mode(self, leaves: Sequence[object]) -> FakeTensorMode | None:
        for leaf in leaves:
            if isinstance(leaf, FakeTensor):
                self.owns_values = False
                return leaf.fake_mode
        if self.tracing_mode == "real":
            return None
        self.owns_env = self.tracing_mode == "symbolic"
        if self.owns_env:
            return FakeTensorMode(shape_env=ShapeEnv(), allow_non_fake_inputs=self.allow_non_fake)
        # As torch's fake mode: static inputs, and a ShapeEnv only for data-dependent sizes
        # (nonzero's row count, .item()), which become unbacked symbols.
        return FakeTensorMode(shape_env=ShapeEnv(), static_shapes=True, allow_non_fake_inputs=self.allow_non_fake)

    def _value(self, leaf: object, name: str, fake_mode: FakeTensorMode | None) -> object:
        if fake_mode is None:
            return leaf
        if isinstance(leaf, torch.Tensor):
            return fake_mode.from_tensor(leaf, source=name)
        symbolic = self.tracing_mode == "symbolic" and fake_mode.shape_env is not None
        if symbolic and type(leaf) is int:
            return fake_mode.shape_env.create_symint(leaf, name, is_size=False)
        return leaf

    def _module_names(self) -> dict[int, str] | None:
        if not self.record_module_stack:
            return None
        root = self.f if isinstance(self.f, torch.nn.Module) else getattr(self.f, "__self__", None)
        if not isinstance(root, torch.nn.Module):
            return {}
        return {id(m): name for name, m in root.named_modules()}

    def _call(self, tracer: ProxyTracer, fake_mode: FakeTensorMode | None, args: Any) -> object:
        mode = ProxyTorchDispatchMode(tracer, self.table)
        with contextlib.ExitStack() as stack:
            if fake_mode is not None:
                stack.enter_context(fake_mode)
            stack.enter_context(mode)
            stack.enter_context(sym_op_tracing(tracer.on_sym_op))
            tracer.entry = sys._getframe()
            return self.f(*args)

    def _finish(self, tracer: ProxyTracer, fake_mode: FakeTensorMode | None, placeholders: list[fx.Node],
                names: list[str], spec: Any, out_spec: Any) -> fx.GraphModule:  # fmt: skip
        graph = tracer.graph
        tracer.entry = sys._getframe()  # nodes made from here on have no user frames
        env = None if fake_mode is None else fake_mode.shape_env
        if env is not None and self.check_guards:
            insert_runtime_asserts(tracer)
        if self.check_guards and self.owns_values:
            if self.owns_env:
                insert_guard_check(graph, GuardCheck(env, names), placeholders)
            else:
                check = StaticCheck(self.tracing_mode, names, [p.meta["val"] for p in placeholders])
                insert_guard_check(graph, check, placeholders)
        remove_unused_sym_nodes(graph)  # after the asserts, which may use a size nothing else reads
        formatter = StackFormatter()
        for node, frames in tracer.frames:
            if frames:
                node.meta["stack_trace"] = formatter(frames)
        graph._codegen = _PyTreeCodeGen(_PyTreeInfo(_arg_names(self.f, spec), spec, out_spec))
        root = torch.nn.Module()
        for name, t in tracer.constants.items():
            setattr(root, name, t)
        gm = fx.GraphModule(root, graph)
        # A symbolic trace's env, or the caller's (fake inputs); the env of our fake mode
        # holds unbacked symbols only, and torch's fake-mode graphs carry none.
        gm.shape_env = env if self.owns_env or not self.owns_values else None
        return gm


def _check_leaves(with_paths: Sequence[tuple[Any, object]]) -> None:
    for path, leaf in with_paths:
        if not isinstance(leaf, _LEAF_TYPES):
            raise TraceInputError(
                f"make_fx: input args{keystr(path)} is a {type(leaf).__name__} ({leaf!r:.60}), "
                "which cannot be an input: inputs are pytrees of tensors, ints, floats, bools "
                "and None. Pass it through a closure instead, or register its container type "
                "with torch.utils._pytree.register_pytree_node."
            )


def _check_outputs(with_paths: Sequence[tuple[Any, object]]) -> None:
    for path, leaf in with_paths:
        if not isinstance(leaf, (*_LEAF_TYPES, str)):
            raise TraceOutputError(
                f"make_fx: output{keystr(path)} of the traced function is a {type(leaf).__name__}, "
                "which a graph cannot return: return tensors, SymInts, numbers, bools, strings or "
                "None (in tuples, lists, dicts), and keep other objects out of the result."
            )


def _snapshotter(fake_mode: FakeTensorMode | None) -> Callable[[torch.Tensor], object]:
    """meta["val"] of a tensor: itself when fake; a fake copy of a real one."""
    static = FakeTensorMode() if fake_mode is None else None

    def snapshot(t: torch.Tensor) -> object:
        if isinstance(t, FakeTensor) or static is None:
            return t
        return static.from_tensor(t)

    return snapshot


def _val(value: object, tracer: ProxyTracer) -> object:
    return tracer.snapshot(value) if isinstance(value, torch.Tensor) else value


def _output_value(tracer: ProxyTracer, leaf: object) -> object:
    if isinstance(leaf, torch.Tensor):
        return tracer.tensor_node(leaf, "the output")
    if isinstance(leaf, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        return tracer.sym_value(leaf)
    return leaf


def _parameter_names(f: Callable[..., Any]) -> list[str]:
    try:
        params = inspect.signature(f).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _identifier(text: str) -> str:
    name = re.sub(r"\W+", "_", text).strip("_") or "arg"
    return f"{name}_" if keyword.iskeyword(name) or name[0].isdigit() else name


def _input_names(f: Callable[..., Any], paths: Sequence[Any]) -> list[str]:
    """One unique Python name per leaf: ``x``, ``params_w``, ``arg2`` ..."""
    params = _parameter_names(f)
    names: list[str] = []
    for path in paths:
        index = path[0].idx
        base = params[index] if index < len(params) else f"arg{index}"
        name = _identifier(base + keystr(path[1:]))
        while name in names or name in ("self", "math"):
            name += "_"
        names.append(name)
    return names


def _arg_names(f: Callable[..., Any], spec: Any) -> list[str]:
    params = _parameter_names(f)
    count = spec.num_children
    return [_identifier(params[i]) if i < len(params) else f"arg{i}" for i in range(count)]

