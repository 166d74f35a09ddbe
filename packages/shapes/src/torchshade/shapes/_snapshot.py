"""Snapshot: the state of a ShapeEnv, put back when an operation on it raises.

An error must leave the ShapeEnv as it was.  Otherwise a fact learned
halfway stays without the guard that should come with it: a
``ConstraintViolationError`` for ``Dim("batch", max=64)`` caught by the user
would leave ``s0 := 4`` learned and no guard saying so, and ``check_guards``
would then accept a size-8 input the trace is not valid for.

    with rollback_on_error(env.knowledge, env.log):   # a decision changes these two
        ...   # learn, check constraints; on an exception every object is restored

(Converting an input with ``dims=`` restores every part of the ShapeEnv:
``ShapeEnv._parts()``, its symbol table, unbacked record and decider too.)

A snapshot saves each object's attributes, copying containers (one level
deeper for containers of containers and for mutable dataclasses such as a
symbol's info, whose source list grows).  Restoring refills the containers
in place, so whoever holds one sees the old contents again, and moves every
version counter past both the saved and the current value, so that any cache
keyed on a version can not mistake the restored state for a later one.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Iterator
from typing import Any


def _copy(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` deep enough that later in-place changes do not reach it."""
    if depth > 2:  # symbols.infos -> a SymbolInfo -> its sources: the deepest mutable level
        return value
    if isinstance(value, dict):  # the containers here hold values of one type: the first tells
        if _mutable(next(iter(value.values()), None)):
            return {k: _copy(v, depth + 1) for k, v in value.items()}
        return dict(value)
    if isinstance(value, list):
        return [_copy(v, depth + 1) for v in value] if _mutable(next(iter(value), None)) else list(value)
    if isinstance(value, set):
        return set(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type) and _mutable(value):
        clone = copy.copy(value)
        for f in dataclasses.fields(value):
            setattr(clone, f.name, _copy(getattr(value, f.name), depth + 1))
        return clone
    return value


def _mutable(value: object) -> bool:
    if isinstance(value, (dict, list, set)):
        return True
    params = getattr(type(value), "__dataclass_params__", None)
    return params is not None and not params.frozen


class Snapshot:
    """The saved attributes of some objects, restorable once."""

    def __init__(self, *objects: object) -> None:
        self._saved = [(obj, {name: _copy(v) for name, v in _attributes(obj).items()}) for obj in objects]

    def restore(self) -> None:
        for obj, state in self._saved:
            current = _attributes(obj)
            for name in [n for n in current if n not in state]:
                delattr(obj, name)  # attributes made during the failed operation
            for name, saved in state.items():
                setattr(obj, name, _restored(name, current.get(name), saved))


def _attributes(obj: object) -> dict[str, Any]:
    """``obj``'s attributes, from its ``__dict__`` and any ``__slots__``."""
    found = dict(getattr(obj, "__dict__", {}))
    for cls in type(obj).__mro__:
        for name in cls.__dict__.get("__slots__", ()):
            if name not in ("__dict__", "__weakref__") and hasattr(obj, name):
                found[name] = getattr(obj, name)
    return found


def _restored(name: str, now: Any, saved: Any) -> Any:
    if type(now) is dict and type(saved) is dict:
        now.clear()
        now.update(saved)
        return now
    if type(now) is list and type(saved) is list:
        now[:] = saved
        return now
    if type(now) is set and type(saved) is set:
        now.clear()
        now |= saved
        return now
    if "version" in name and type(saved) is int and type(now) is int:
        return max(saved, now) + 1
    return saved


@contextlib.contextmanager
def rollback_on_error(*objects: object) -> Iterator[None]:
    """Run the body; if it raises, restore ``objects`` to how they were, then re-raise."""
    snapshot = Snapshot(*objects)
    try:
        yield
    except BaseException:
        snapshot.restore()
        raise
