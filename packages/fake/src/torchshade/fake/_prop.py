"""FakeTensorProp: run an FX graph on fake tensors, recording every value.

After ``FakeTensorProp(gm).propagate(*inputs)`` each node of ``gm.graph``
has:

* ``node.meta["val"]``: its value on fake tensors (a ``FakeTensor``, a
  SymInt, or a tuple/list of them), sizes kept symbolic;
* parameters and buffers of the module (``get_attr``, ``call_module``)
  are converted with the mode, memoized, so the real module is untouched;
* ``node.meta["unbacked_bindings"]``: only on nodes that introduce unbacked
  symbols (``nonzero``, ``item``, ...), a dict from each new symbol to where
  it appears in the value: a tuple path such as ``("size", 0)`` (dimension 0
  of the tensor) or ``(1, "size", 0)`` (of output 1) or ``()`` (the value
  itself). A symbol that appears only shifted (a size ``u0 + 1``) ends its
  path with ``"minus", 1``: ``u0`` is the value there minus 1. The new
  symbols are the ones the ShapeEnv made while the node ran (its one
  record of them, ``env.unbacked``), whatever form they take in the value.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.fx

from ._mode import FakeTensorMode
from ._tensor import FakeTensor

Path = tuple[str | int, ...]


class FakeTensorProp(torch.fx.Interpreter):
    """Fill ``node.meta["val"]`` for every node of an FX graph.

    Example::

        >>> gm = torch.fx.symbolic_trace(lambda x: x.relu() @ x.T)
        >>> FakeTensorProp(gm).propagate(torch.empty(3, 4))
        >>> [n.meta["val"] for n in gm.graph.nodes][-1]   # the output
        FakeTensor(f32[3, 3], device='cpu')

    Args:
        module: the ``GraphModule`` to run.
        mode: the ``FakeTensorMode`` to run under; a new static mode if None.
    """

    def __init__(self, module: torch.fx.GraphModule, mode: FakeTensorMode | None = None) -> None:
        super().__init__(module)
        self._mode = mode if mode is not None else FakeTensorMode()

    def run_node(self, n: torch.fx.Node) -> Any:
        env = self._mode.shape_env
        mark = env.unbacked.mark() if env is not None else 0
        result = super().run_node(n)
        n.meta["val"] = self._snapshot(result)
        fresh = env.unbacked.fresh_since(mark) if env is not None else []
        if fresh:
            bindings = _bindings(fresh, list(_sym_leaves(result, ())))
            if bindings:
                n.meta["unbacked_bindings"] = bindings
        return result

    def fetch_attr(self, target: str) -> Any:
        """A ``get_attr`` of a real parameter or buffer gives its fake (memoized)."""
        value = super().fetch_attr(target)
        if isinstance(value, torch.Tensor):
            return self._mode.from_tensor(value, static_shapes=True)
        return value

    def call_module(self, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run a submodule with its real parameters and buffers swapped for fakes."""
        module = self.module.get_submodule(target)
        tensors = itertools.chain(module.named_parameters(), module.named_buffers())
        state: dict[str, torch.Tensor] = {
            name: self._mode.from_tensor(t, static_shapes=True) for name, t in tensors
        }
        return torch.func.functional_call(module, state, args, kwargs)

    def propagate(self, *args: object) -> Any:
        """Convert real tensor arguments with the mode, then run the graph."""
        fakes = [self._mode.from_tensor(a) if isinstance(a, torch.Tensor) else a for a in args]
        return self.propagate_dont_convert_inputs(*fakes)

    def propagate_dont_convert_inputs(self, *args: object) -> Any:
        """Run the graph on arguments that are already fake tensors of the mode."""
        with self._mode:
            return super().run(*args)

    def _snapshot(self, value: object) -> object:
        if isinstance(value, FakeTensor):
            with self._mode, torch.no_grad():
                return value.detach()
        if isinstance(value, (list, tuple)):
            return type(value)(self._snapshot(v) for v in value)
        return value


def _sym_leaves(value: object, path: Path) -> Iterator[tuple[Any, Path]]:
    """Every symbolic number in ``value`` (sizes, strides and offsets of tensors,
    items of lists and tuples, the value itself) with its path, in order."""
    if isinstance(value, torch.Tensor):
        for i, size in enumerate(value.shape):
            yield from _sym_leaves(size, (*path, "size", i))
        for i, stride in enumerate(value.stride()):
            yield from _sym_leaves(stride, (*path, "stride", i))
        yield from _sym_leaves(value.storage_offset(), (*path, "storage_offset"))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _sym_leaves(item, (*path, i))
    elif isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        yield value.node.expr, path


def _bindings(fresh: Sequence[Any], leaves: Sequence[tuple[Any, Path]]) -> dict[Any, Path]:
    """Where each fresh symbol can be read off: bare if it appears bare, else at the
    first place it appears shifted by a constant (``u0 + 1``); symbols that appear in
    neither form are not bound."""
    found: dict[Any, Path] = {}
    for symbol in fresh:
        bare = next((path for expr, path in leaves if expr == symbol), None)
        if bare is not None:
            found[symbol] = bare
            continue
        for expr, path in leaves:
            shift = expr - symbol
            if getattr(expr, "free_symbols", None) == {symbol} and shift.is_Integer:
                found[symbol] = (*path, "minus", int(shift))
                break
    return found
