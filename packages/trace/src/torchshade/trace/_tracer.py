"""ProxyTracer: the graph being built and which node stands for which value.

The tracer is paired with ``ProxyTorchDispatchMode`` (``_mode.py``): the mode
sees every aten op the program runs and hands it to ``call``; the tracer
turns the arguments into their nodes, runs the op on the real or fake values
(with SymInt recording off, so a kernel's own size arithmetic stays out of
the graph), adds one ``call_function`` node and remembers that the outputs
are that node's.

What the tracer remembers, for this trace only (never on the values
themselves, so a SymInt or tensor shared by two traces carries nothing from
one into the other):

    tensors    id(tensor) -> (weak reference to the tensor, node or pending getitem)
    symnodes   id(SymNode) -> (SymNode, node)        from SymInt arithmetic
    exprs      sympy expression -> node or pending   symbols of input sizes
               (pending ``sym_size`` / ``sym_stride``), results of ops

A *pending* node is made only when first used, where it is used: an input
size nobody reads never becomes a ``sym_size`` node, an unused element of a
tuple output never becomes a ``getitem``.

Neither ``tensors`` nor a node's ``meta["val"]`` holds an op's output itself
(the entry is a weak reference, the value a detached alias), as torch's
tracer holds neither: a factory (``torch.ones``, ``torch.arange``) whose
output something else still holds gets detached by torch's C++ on its way
back to Python, and that ``aten.detach`` would be traced into the graph.
"""

from __future__ import annotations

import math
import operator
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any, cast

import torch
import torch.fx as fx
from torch.utils._pytree import tree_map

from torchshade.fake import FakeTensor
from torchshade.shapes import SymNode

from ._errors import CapturedTensorError, ForeignSymbolError
from ._frames import Frame, module_stack, user_frames
from ._sym_expr import SymExprBuilder

aten = torch.ops.aten
SymValue = torch.SymInt | torch.SymFloat | torch.SymBool
Arguments = tuple[fx.node.Argument, ...]
KwArguments = dict[str, fx.node.Argument]

# SymNode method name (as reported by shapes' sym_op_tracing) -> FX target.
SYM_TARGETS: dict[str, Callable[..., object]] = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "mod": operator.mod,
    "floordiv": operator.floordiv, "int_floordiv": operator.floordiv,
    "truediv": operator.truediv, "int_truediv": operator.truediv, "float_truediv": operator.truediv,
    "pow": operator.pow, "pow_by_natural": operator.pow, "float_pow": operator.pow,
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le,
    "gt": operator.gt, "ge": operator.ge,
    "sym_min": torch.sym_min, "sym_max": torch.sym_max,
    "sym_and": operator.and_, "and_": operator.and_, "sym_or": operator.or_, "or_": operator.or_,
    "bitwise_and": operator.and_, "bitwise_or": operator.or_, "bitwise_xor": operator.xor,
    "sym_not": torch.sym_not, "neg": operator.neg, "pos": operator.pos, "abs": operator.abs,
    "ceil": math.ceil, "floor": math.floor, "trunc": math.trunc, "round": round,
    "sym_int": torch.sym_int, "sym_float": torch.sym_float, "ite": torch.sym_ite,
    "sym_sum": torch.sym_sum, "sym_sqrt": math.sqrt,
}  # fmt: skip
# Nodes without effects: removed at the end when nothing uses them.
PURE_SYM_TARGETS: frozenset[object] = frozenset(
    {*SYM_TARGETS.values(), aten.sym_size.int, aten.sym_stride.int, aten.sym_numel.default,
     aten.sym_storage_offset.default, operator.getitem}  # fmt: skip
)
_LIFT = frozenset({aten.lift_fresh.default, aten.lift_fresh_copy.default})


@dataclass
class Pending:
    """A node not made yet: ``target(*args)``, tensors among ``args`` standing for their nodes."""

    target: Callable[..., object]
    args: tuple[object, ...]
    val: object


def wrap_symnode(node: Any) -> SymValue:
    """The torch.SymInt / SymFloat / SymBool over one of shapes' SymNodes."""
    if node.pytype is bool:
        return torch.SymBool(node)
    return torch.SymFloat(node) if node.pytype is float else torch.SymInt(node)


class ProxyTracer:
    """Builds one FX graph; see the module docstring."""

    def __init__(self, fake_mode: Any, snapshot: Callable[[torch.Tensor], object],
                 allow_non_fake_inputs: bool, module_names: Mapping[int, str] | None) -> None:  # fmt: skip
        self.graph = fx.Graph()
        self.fake_mode = fake_mode
        self.snapshot = snapshot
        self.allow_non_fake_inputs = allow_non_fake_inputs
        self.module_names = module_names
        self.tensors: dict[int, tuple[weakref.ref[torch.Tensor], fx.Node | Pending]] = {}
        self.symnodes: dict[int, tuple[object, fx.Node | Pending]] = {}
        self.exprs: dict[Any, fx.Node | Pending] = {}
        self.constants: dict[str, torch.Tensor] = {}
        self.frames: list[tuple[fx.Node, tuple[Frame, ...]]] = []
        self.recording = True
        self.entry: FrameType | None = None
        self.fn: object = None  # the traced function, to name the tensors it captures
        self.builder = SymExprBuilder(self._emit_expr, self._known_expr, self._remember_expr)

    # -- making nodes ------------------------------------------------------------
    def create(self, target: Callable[..., object], args: tuple[object, ...],
               kwargs: Mapping[str, object], val: object) -> fx.Node:  # fmt: skip
        # torch.fx types arguments as its Argument union; ours are built from those values.
        node = self.graph.create_node("call_function", target, cast(Arguments, args), cast(KwArguments, dict(kwargs)))
        node.meta["val"] = val
        self.frames.append((node, user_frames(self.entry)))
        if self.module_names is not None:
            node.meta["nn_module_stack"] = module_stack(self.entry, self.module_names)
        return node

    def _made(self, ref: fx.Node | Pending) -> fx.Node:
        if isinstance(ref, fx.Node):
            return ref
        args = tuple(self._pending_arg(a) for a in ref.args)
        val = wrap_symnode(ref.val) if isinstance(ref.val, SymNode) else ref.val
        return self.create(ref.target, args, {}, val)

    def _pending_arg(self, arg: object) -> object:
        if isinstance(arg, torch.Tensor):
            return self.tensor_node(arg)
        if isinstance(arg, SymNode):
            return self.symnode_value(arg)
        if isinstance(arg, list):
            return [self._pending_arg(a) for a in arg]
        return arg

    def placeholder(self, name: str, value: object, val: object) -> fx.Node:
        node = self.graph.placeholder(name)
        node.meta["val"] = val
        if isinstance(value, torch.Tensor):
            self.tensors[id(value)] = (weakref.ref(value), node)
            self._register_symbols(value)
        elif isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
            self.symnodes[id(value.node)] = (value.node, node)
            self.exprs.setdefault(value.node.expr, node)
        return node

    def _register_symbols(self, t: torch.Tensor) -> None:
        """Each symbol that is a size or stride of ``t`` and has no node yet: a pending read."""
        for target, values in ((aten.sym_size.int, t.shape), (aten.sym_stride.int, t.stride())):
            for d, s in enumerate(values):
                if isinstance(s, torch.SymInt) and s.node.expr.is_Symbol and s.node.expr not in self.exprs:
                    self.exprs[s.node.expr] = Pending(target, (t, d), s)

    # -- values -> nodes -----------------------------------------------------------
    def tensor_node(self, t: torch.Tensor, func: object = None) -> fx.Node:
        entry = self.tensors.get(id(t))
        if entry is not None and entry[0]() is t:
            ref = entry[1]
            if isinstance(ref, Pending):
                ref = self._made(ref)
                self.tensors[id(t)] = (entry[0], ref)
            return ref
        return self._constant(t, func)

    def _constant(self, t: torch.Tensor, func: object) -> fx.Node:
        """A tensor the program did not get as an input nor make: a named attribute."""
        is_fake = self.fake_mode is not None and self.fake_mode.is_our_fake(t)
        real_ok = self.fake_mode is None or self.allow_non_fake_inputs or func in _LIFT
        if not is_fake and not real_ok:
            raise CapturedTensorError(_captured_message(t, func, self.entry, self.fn))
        name = f"_tensor_constant{len(self.constants)}"
        self.constants[name] = t
        node = self.graph.get_attr(name)
        if is_fake or self.fake_mode is None:
            node.meta["val"] = self.snapshot(t)
        else:
            node.meta["val"] = self.fake_mode.from_tensor(t, static_shapes=True)
        self.tensors[id(t)] = (weakref.ref(t), node)
        return node

    def sym_value(self, s: SymValue) -> object:
        return self.symnode_value(s.node)

    def symnode_value(self, node: Any) -> object:
        entry = self.symnodes.get(id(node))
        if entry is not None and entry[0] is node:
            ref = entry[1]
            if isinstance(ref, fx.Node):
                return ref
            try:
                made = self._made(ref)
            except (ForeignSymbolError, NotImplementedError):  # an operand is not ours: use the expression
                del self.symnodes[id(node)]
                return self.symnode_value(node)
            self.symnodes[id(node)] = (node, made)
            return made
        if node.constant is not None:
            return node.constant
        if self.fake_mode is None or node.shape_env is not self.fake_mode.shape_env:
            self.builder.foreign(node.expr)  # raises: symbols of one env mean nothing in another
        return self.builder.build(node.expr)

    def node_args(self, func: object, args: Sequence[object],
                  kwargs: Mapping[str, object]) -> tuple[Any, Any]:  # fmt: skip
        def one(value: object) -> object:
            if isinstance(value, torch.Tensor):
                return self.tensor_node(value, func)
            if isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
                return self.sym_value(value)
            return value

        node_args, node_kwargs = tree_map(one, (tuple(args), dict(kwargs)))
        return node_args, node_kwargs

    # -- sympy expressions (through SymExprBuilder) -------------------------------------
    def _known_expr(self, expr: Any) -> object:
        ref = self.exprs.get(expr)
        if isinstance(ref, Pending):
            ref = self.exprs[expr] = self._made(ref)
        return ref

    def _remember_expr(self, expr: Any, value: object) -> None:
        if isinstance(value, fx.Node):
            self.exprs[expr] = value

    def _emit_expr(self, target: Callable[..., object], args: tuple[object, ...], expr: Any) -> object:
        env = self.fake_mode.shape_env
        pytype = bool if expr.is_Boolean or expr.is_Relational else int if expr.is_integer else float
        val = wrap_symnode(env.node(expr, env.hint_of(expr), pytype))
        return self.create(target, args, {}, val)

    # -- recording -------------------------------------------------------------------
    def on_sym_op(self, op: str, inputs: tuple[Any, ...], out: Any) -> None:
        """shapes' sym_op_tracing callback: each SymNode operation of the program, as a pending node.

        The node is made when the result is first used (most results of size
        arithmetic in torch's decompositions never are); its operands then
        become nodes first.
        """
        if self.recording:
            target = SYM_TARGETS.get(op)
            if target is not None:
                args = ([*inputs],) if op == "sym_sum" else inputs
                self.symnodes[id(out)] = (out, Pending(target, args, out))

    def call(self, func: Any, args: Sequence[object], kwargs: Mapping[str, object]) -> object:
        """Run one aten op on its values and add its node."""
        node_args, node_kwargs = self.node_args(func, args, kwargs)
        self.recording = False
        try:
            out = func(*args, **kwargs)
        finally:
            self.recording = True
        val = tree_map(lambda v: self.snapshot_output(v) if isinstance(v, torch.Tensor) else v, out)
        node = self.create(func, node_args, node_kwargs, val)
        self._track(out, node)
        return out

    def snapshot_output(self, t: torch.Tensor) -> object:
        """``meta["val"]`` of an op's output: a detached alias when fake (never the output itself)."""
        if isinstance(t, FakeTensor):
            with torch._C._DisableTorchDispatch():  # the alias is made on the meta data, seen by no mode
                return FakeTensor(t.fake_mode, t, t.fake_device, t.constant)
        return self.snapshot(t)

    def _track(self, out: object, node: fx.Node) -> None:
        if isinstance(out, torch.Tensor):
            self.tensors[id(out)] = (weakref.ref(out), node)
            self._new_symbols(out)
        elif isinstance(out, (tuple, list)):
            for i, item in enumerate(out):
                if isinstance(item, torch.Tensor):
                    self.tensors[id(item)] = (weakref.ref(item), Pending(operator.getitem, (node, i), item))
                    self._new_symbols(item)
        elif isinstance(out, (torch.SymInt, torch.SymFloat, torch.SymBool)):
            self.symnodes[id(out.node)] = (out.node, node)
            self.exprs.setdefault(out.node.expr, node)

    def _new_symbols(self, t: torch.Tensor) -> None:
        """Sizes that are new symbols (``nonzero``'s u0): a ``sym_size`` node right away."""
        if self.fake_mode is None or self.fake_mode.shape_env is None:
            return
        for d, s in enumerate(t.shape):
            if isinstance(s, torch.SymInt) and s.node.expr.is_Symbol and s.node.expr not in self.exprs:
                self.exprs[s.node.expr] = self._made(Pending(aten.sym_size.int, (t, d), s))


def _captured_message(t: torch.Tensor, func: object, entry: FrameType | None, fn: object) -> str:
    frames = user_frames(entry)
    where = f" at {frames[-1][0]}:{frames[-1][1]} in {frames[-1][2]}" if frames else ""
    name = captured_name(t, fn)
    what = f"`{name}` " if name else ""
    dims = ", ".join(str(d) for d in t.shape)
    return (
        f"make_fx: {func} got a real tensor {what}({str(t.dtype).removeprefix('torch.')}[{dims}])"
        f"{where} that is not an input of the traced function. In fake and symbolic modes "
        "every tensor must be an input or made inside the function: pass it as an input, or "
        "call make_fx(..., _allow_non_fake_inputs=True) to make it a constant attribute of "
        "the graph."
    )


def captured_name(t: torch.Tensor, fn: object) -> str | None:
    """The name ``fn`` knows ``t`` by: a parameter or buffer, a closure variable, a global."""
    module = fn if isinstance(fn, torch.nn.Module) else getattr(fn, "__self__", None)
    if isinstance(module, torch.nn.Module):
        for name, value in (*module.named_parameters(), *module.named_buffers()):
            if value is t:
                return name
    code = getattr(fn, "__code__", None)
    cells = getattr(fn, "__closure__", None) or ()
    if code is not None:
        for free, cell in zip(code.co_freevars, cells):
            if cell.cell_contents is t:
                return str(free)
    scope: dict[str, object] = getattr(fn, "__globals__", {})
    return next((name for name, value in scope.items() if value is t), None)
