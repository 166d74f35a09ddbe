"""The common core of cond, while_loop and scan.

Every op works on *flat* values: the public function flattens its pytrees
(``torch.utils._pytree``), wraps the user's functions so that they take and
return flat tuples (``FlatFn``), and calls the op's flat entry point, which
picks one rule per setting::

    a torchshade.trace make_fx trace is active (is_tracing) -> trace rule
    an operand is a FakeTensor                              -> fake rule
    otherwise (autograd records through it when needed)     -> eager rule

What every body call goes through (``FlatFn.__call__``): inputs' versions
noted, the user function run, outputs flattened, then

    an input whose version moved            InputMutationError
    an output that *is* an input            copied (clone)
    the same tensor returned twice          the second one copied
    an output that is a view of an input    AliasingError
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import torch
from torch.utils._pytree import TreeSpec, keystr, tree_flatten, tree_flatten_with_path, tree_unflatten

from torchshade.fake import FakeTensor, FakeTensorMode

from ._errors import AliasingError, HopArgumentError, InputMutationError, OutputMismatchError

Leaf = object
KeyPath = tuple[Any, ...]
LEAF_TYPES = (torch.Tensor, int, float, bool, torch.SymInt, torch.SymFloat, torch.SymBool)


def describe(value: object) -> str:
    """A short repr: ``f32[s0, 3]`` (``on cuda:0`` when not on the CPU), or the value."""
    if isinstance(value, torch.Tensor):
        dtype = _DTYPE_NAMES.get(value.dtype, str(value.dtype).removeprefix("torch."))
        where = "" if value.device.type == "cpu" else f" on {value.device}"
        return f"{dtype}[{', '.join(str(s) for s in value.shape)}]{where}"
    return f"{type(value).__name__} {value!r}"


_DTYPE_NAMES = {
    torch.float32: "f32", torch.float64: "f64", torch.float16: "f16", torch.bfloat16: "bf16",
    torch.int64: "i64", torch.int32: "i32", torch.int16: "i16", torch.int8: "i8", torch.uint8: "u8",
    torch.bool: "b8", torch.complex64: "c64", torch.complex128: "c128",
}  # fmt: skip


def flatten_leaves(op: str, what: str, tree: object) -> tuple[list[Leaf], TreeSpec]:
    """``tree``'s leaves and spec; every leaf a tensor, int, float or bool (else HopArgumentError)."""
    with_paths, spec = tree_flatten_with_path(tree)
    for path, leaf in with_paths:
        if not isinstance(leaf, LEAF_TYPES):
            raise HopArgumentError(
                f"{op}: {what}{keystr(path)} is a {type(leaf).__name__} ({leaf!r:.60}); {what} "
                "must be a pytree of tensors, ints, floats and bools. Pass other values "
                "through a closure instead."
            )
    return [leaf for _, leaf in with_paths], spec


def root(t: torch.Tensor) -> torch.Tensor:
    """The tensor whose memory ``t`` views (``t`` itself when it is no view)."""
    base = t._base
    return t if base is None else base


class FlatFn:
    """A user function seen through flat tuples, with the checks of the module docstring.

    ``FlatFn(fn, specs, op, name)(*leaves)`` unflattens ``leaves`` into one
    argument per spec, calls ``fn``, and returns the output leaves (its spec
    in ``out_spec`` after the first call). ``paths`` names the inputs in
    messages (``operands[0]``, ``carried_inputs[1]['h']``).
    """

    def __init__(self, fn: Callable[..., Any], specs: Sequence[TreeSpec], op: str, name: str,
                 paths: Sequence[str]) -> None:  # fmt: skip
        self.fn = fn
        self.specs = list(specs)
        self.counts = [spec.num_leaves for spec in specs]
        self.op = op
        self.name = name
        self.paths = list(paths)
        self.out_spec: TreeSpec | None = None
        self.out_paths: list[str] = []
        self.check_aliases = True
        self.all_leaves = all(spec.is_leaf() for spec in self.specs)  # each argument one leaf: no unflatten
        self.width = -1  # the number of outputs when they are a flat tuple (the fast path), else -1

    def unflatten(self, leaves: Sequence[Leaf]) -> list[object]:
        args: list[object] = []
        start = 0
        for spec, count in zip(self.specs, self.counts):
            part = leaves[start : start + count]
            args.append(part[0] if spec.is_leaf() else tree_unflatten(list(part), spec))
            start += count
        return args

    def __call__(self, *leaves: Leaf) -> tuple[Leaf, ...]:
        versions = [leaf._version if isinstance(leaf, torch.Tensor) else -1 for leaf in leaves]
        out = self.fn(*(leaves if self.all_leaves else self.unflatten(leaves)))
        if type(out) is tuple and len(out) == self.width:  # a flat tuple, as on the first call
            outs = list(out)
        elif self.out_spec is None:
            with_paths, self.out_spec = tree_flatten_with_path(out)
            self.out_paths = [keystr(path) for path, _ in with_paths]
            outs = [leaf for _, leaf in with_paths]
            flat = self.out_spec.type is tuple and all(c.is_leaf() for c in self.out_spec.children())
            self.width = self.out_spec.num_children if flat else -1
        else:
            outs, _ = tree_flatten(out)
        after = [leaf._version if isinstance(leaf, torch.Tensor) else -1 for leaf in leaves]
        if after != versions:
            i = next(i for i, (a, b) in enumerate(zip(versions, after)) if a != b)
            raise InputMutationError(self._mutation_message(i, versions[i], after[i]))
        return fix_aliases(self, leaves, outs) if self.check_aliases else tuple(outs)

    def call_tensors(self, args: tuple[torch.Tensor, ...], watch: int) -> tuple[Leaf, ...]:
        """``self(*args)`` after a first call, for tensor arguments that are one leaf each: a loop's fast path.

        Only ``args[:watch]`` (a loop's carries) are checked for mutation here;
        the caller checks the others once after the loop (their versions are
        those of tensors that outlive it). No aliasing checks: the caller
        makes its outputs new at the end.
        """
        if watch == 1:  # the common single carry, without building lists
            before = args[0]._version
            out = self.fn(*args)
            if args[0]._version != before:
                self.check_versions(args[:1], [before])
        else:
            versions = [t._version for t in args[:watch]]
            out = self.fn(*args)
            self.check_versions(args[:watch], versions)
        if type(out) is not tuple or len(out) != self.width:
            out = tuple(tree_flatten(out)[0])
        return out

    def check_versions(self, args: Sequence[object], versions: Sequence[int], offset: int = 0) -> None:
        """InputMutationError if an argument's version is no longer the one in ``versions``."""
        for i, (t, v) in enumerate(zip(args, versions)):
            if isinstance(t, torch.Tensor) and t._version != v:
                raise InputMutationError(self._mutation_message(offset + i, v, t._version))

    def _mutation_message(self, i: int, before: int, after: int) -> str:
        return (
            f"{self.op}: {self.name} changed its input {self.paths[i]} in place (its version "
            f"went from {before} to {after}). Bodies of {self.op} must not mutate their inputs: "
            "compute a new tensor instead (`x = x + 1` rather than `x.add_(1)`), or clone the "
            "input first (`x = x.clone()`)."
        )


def fix_aliases(fn: FlatFn, inputs: Sequence[Leaf], outs: list[Leaf]) -> tuple[Leaf, ...]:
    """Copy outputs that are inputs or repeat an output; refuse views of inputs."""
    taken = set(map(id, inputs))
    roots: dict[int, int] | None = None
    for j, out in enumerate(outs):
        if not isinstance(out, torch.Tensor):
            continue
        if id(out) in taken:
            outs[j] = out = out.clone()
        taken.add(id(out))
        if out._base is not None:
            if roots is None:
                roots = {id(root(leaf)): i for i, leaf in enumerate(inputs) if isinstance(leaf, torch.Tensor)}
            i = roots.get(id(root(out)), -1)
            if i >= 0:
                raise AliasingError(
                    f"{fn.op}: {fn.name} returned {_output_words(fn.out_paths[j])}{describe(out)}, which is "
                    f"a view of its input {fn.paths[i]}. Outputs of {fn.op} must be new tensors: "
                    "return a copy of the view (`x[0].clone()` rather than `x[0]`)."
                )
    return tuple(outs)


def _output_words(path: str) -> str:
    return f"output {path}, " if path else ""


def input_paths(what: str, tree: object) -> list[str]:
    """``what[path]`` for each leaf of ``tree``, for messages."""
    return [f"{what}{keystr(path)}" for path, _ in tree_flatten_with_path(tree)[0]]


def fake_mode_of(leaves: Sequence[object]) -> FakeTensorMode | None:
    """The FakeTensorMode of the first fake tensor among ``leaves``."""
    for leaf in leaves:
        if isinstance(leaf, FakeTensor):
            mode: FakeTensorMode = leaf.fake_mode
            return mode
    return None


def mismatch(op: str, what: str, path: str, a: object, b: object, names: tuple[str, str],
             field: str, fix: str) -> OutputMismatchError:  # fmt: skip
    """``op: what: output [1]['h'] is f32[s0, 3] in true_fn but f32[s0, 4] in false_fn ...``."""
    return OutputMismatchError(
        f"{op}: {what}: {_output_words(path)[:-2] or 'the output'} is {describe(a)} in {names[0]} but "
        f"{describe(b)} in {names[1]} (its {field} differs). {fix}"
    )


def check_structure(op: str, what: str, specs: tuple[TreeSpec, TreeSpec], names: tuple[str, str],
                    fix: str) -> None:  # fmt: skip
    if specs[0] != specs[1]:
        raise OutputMismatchError(
            f"{op}: {what}: {names[0]} returns {spec_text(specs[0])} but {names[1]} returns "
            f"{spec_text(specs[1])} (the pytree structure differs). {fix}"
        )


def spec_text(spec: TreeSpec) -> str:
    text = str(tree_unflatten(["*"] * spec.num_leaves, spec))
    return text.replace("'*'", "*")


def compare_leaves(op: str, what: str, paths: Sequence[str], pairs: Sequence[tuple[object, object]],
                   names: tuple[str, str], fix: str, sizes: bool) -> None:  # fmt: skip
    """Each pair must agree in kind, dtype, device (and shape when ``sizes``): else an error."""
    for path, (a, b) in zip(paths, pairs):
        field = _differing_field(a, b, sizes)
        if field is not None:
            raise mismatch(op, what, path, a, b, names, field, fix)


def _differing_field(a: object, b: object, sizes: bool) -> str | None:
    if isinstance(a, torch.Tensor) != isinstance(b, torch.Tensor):
        return "kind"
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        return None if _number_kind(a) is _number_kind(b) else "kind"
    if a.dtype != b.dtype:
        return "dtype"
    if a.device != b.device:
        return "device"
    if a.dim() != b.dim():
        return "number of dimensions"
    if sizes and not same_sizes(a, b):
        return "shape"
    return None


def _number_kind(v: object) -> type:
    if isinstance(v, (bool, torch.SymBool)):
        return bool
    return float if isinstance(v, (float, torch.SymFloat)) else int


def same_sizes(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether the sizes are the same expressions (no guard recorded)."""
    return all(same_value(x, y) for x, y in zip(a.shape, b.shape))


def same_value(x: object, y: object) -> bool:
    """Whether two sizes or numbers are equal as expressions, simplified by their ShapeEnv (no guard)."""
    sym = (torch.SymInt, torch.SymFloat, torch.SymBool)
    if not isinstance(x, sym) and not isinstance(y, sym):
        return bool(x == y)
    node = x.node if isinstance(x, sym) else cast(torch.SymInt, y).node  # one of them is symbolic
    env = node.shape_env
    ex = env.simplify(x.node.expr) if isinstance(x, sym) else x
    ey = env.simplify(y.node.expr) if isinstance(y, sym) else y
    return bool(ex == ey)


def zero_sum(t: torch.Tensor) -> torch.Tensor:
    """The start of a running sum of ``t``'s gradients in a backward loop: one zero expanded to ``t``'s shape.

    It takes one element of memory, not ``t``'s size; the first step's sum is
    the first full-size tensor (as autograd's own buffers, which start from
    the first gradient that arrives).
    """
    return t.new_zeros(()).expand(t.shape)


def is_constant(pred: object) -> bool:
    """A predicate known now: a Python bool or a SymBool with a constant value."""
    if isinstance(pred, bool):
        return True
    return isinstance(pred, torch.SymBool) and pred.node.constant is not None
