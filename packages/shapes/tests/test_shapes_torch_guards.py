"""ShapeEnv.guards means what it means in torch: one entry per decision, in order.

The same decisions are taken on torch's ShapeEnv (through its own fake mode,
as dynamo does) and on ours; the lists of guards must be the same, symbol for
symbol.  The guards on inputs come from a separate call on both sides
(torch's ``produce_guards``, our ``input_guards``), and accept the same inputs.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import sympy
import torch
from torch._dynamo.source import LocalSource
from torch._subclasses.fake_tensor import FakeTensor as TorchFakeTensor
from torch._subclasses.fake_tensor import FakeTensorMode as TorchFakeTensorMode
from torch.fx.experimental import symbolic_shapes as torch_shapes

from torchshade.shapes import ShapeEnv

Step = Callable[[Any, Any], object]
STEPS: dict[str, list[Step]] = {
    "bounds, ne, linear, mod, int": [
        lambda a, b: bool(a > 3),
        lambda a, b: bool(a > 2),  # implied by a > 3: no guard
        lambda a, b: bool(a == 0),  # a size against zero: no guard
        lambda a, b: bool(a != b),
        lambda a, b: bool(2 * a < b + 7),
        lambda a, b: bool(a % 2 == 0),
        lambda a, b: int(b),  # Eq(s1, 6)
    ],
    "false answers are negated": [
        lambda a, b: bool(a >= b),
        lambda a, b: bool(a * b > 100),
        lambda a, b: bool(a + 1 == b),
    ],
    "int of an expression": [lambda a, b: int(a * b), lambda a, b: bool(a > 2)],
    "sizes against zero": [
        lambda a, b: bool(a == 0),
        lambda a, b: bool(a != 0),
        lambda a, b: bool(b > 0),
        lambda a, b: bool(a >= 0),
        lambda a, b: bool(a * b == 0),
    ],
    "the same decision twice": [lambda a, b: bool(a < b), lambda a, b: bool(a < b), lambda a, b: bool(b > a)],
}


def _torch_side(shape: tuple[int, ...]) -> tuple[torch_shapes.ShapeEnv, TorchFakeTensor, list[Any]]:
    env = torch_shapes.ShapeEnv()
    fake = TorchFakeTensorMode(shape_env=env).from_tensor(torch.empty(*shape), source=LocalSource("x"))
    return env, fake, list(fake.shape)


def _our_side(shape: tuple[int, ...], **options: bool) -> tuple[ShapeEnv, list[Any]]:
    env = ShapeEnv(**options)
    sizes, _, _ = env.create_symbolic_sizes_strides_storage_offset(torch.empty(*shape), "x")
    return env, list(sizes)


def _renaming(sizes: list[Any]) -> dict[Any, Any]:
    """Each size's symbol to ``x<i>``, taken before any decision (torch's node.expr follows
    replacements), so that guards of torch's env and ours can be compared."""
    rename: dict[Any, Any] = {}
    for i, size in enumerate(sizes):
        if isinstance(size, torch.SymInt):
            rename.setdefault(size.node.expr, sympy.Symbol(f"x{i}", integer=True, positive=True))
    return rename


def _named(exprs: list[Any], rename: dict[Any, Any]) -> list[str]:
    return [str(e.xreplace(rename)) for e in exprs]


@pytest.mark.parametrize("name", list(STEPS))
def test_guards_are_torchs_one_per_decision_in_order(name: str) -> None:
    t_env, _, t_sizes = _torch_side((4, 6))
    o_env, o_sizes = _our_side((4, 6))
    assert t_env.guards == [] and o_env.guards == []  # converting an input records none
    t_names, o_names = _renaming(t_sizes), _renaming(o_sizes)
    for step in STEPS[name]:
        assert step(*o_sizes) == step(*t_sizes)
    theirs = _named([g.expr for g in t_env.guards], t_names)
    assert _named([g.expr for g in o_env.guards], o_names) == theirs
    assert theirs or name == "sizes against zero"


def test_bool_and_int_append_one_guard_each(env: ShapeEnv, xy: tuple[torch.SymInt, torch.SymInt]) -> None:
    s0, s1 = xy
    line = _line_after("bool(s0 > 3)")
    assert bool(s0 > 3) and [str(g.expr) for g in env.guards] == ["s0 > 3"]
    assert env.guards[0].origin.line == line and env.guards[0].python == "x.size()[0] > 3"
    assert int(s1) == 3
    assert [str(g.expr) for g in env.guards] == ["s0 > 3", "Eq(s1, 3)"]
    assert [g.kind for g in env.guards] == ["bound", "equality"]


def test_duck_shaped_equal_sizes_compare_equal_without_a_guard() -> None:
    t_env, _, (ta, tb) = _torch_side((5, 5))
    o_env, (oa, ob) = _our_side((5, 5), duck_shape=True)
    assert bool(oa == ob) and bool(ta == tb)
    assert o_env.guards == [] and t_env.guards == []
    assert str(oa.node.expr) == str(ob.node.expr)


def test_input_guards_accept_what_torchs_produce_guards_accept() -> None:
    t_env, t_fake, t_sizes = _torch_side((4, 6))
    o_env, o_sizes = _our_side((4, 6))
    for step in STEPS["bounds, ne, linear, mod, int"][:-1]:
        step(*o_sizes), step(*t_sizes)
    assert t_env.produce_guards([t_fake], [LocalSource("x")])  # torch's: a separate call, as ours
    for shape in [(4, 6), (8, 6), (6, 7), (2, 6), (4, 4), (5, 6), (10, 15), (12, 20), (4, 3)]:
        real = torch.empty(*shape)
        ok_theirs = t_env.evaluate_guards_for_args([t_fake], [real])
        assert (not o_env.check_guards({"x": real})) == ok_theirs, shape


def test_input_guards_are_the_minimal_set_on_sizes_strides_and_offset(env: ShapeEnv) -> None:
    (s0, _), _, _ = env.create_symbolic_sizes_strides_storage_offset(torch.empty(4, 3), "x")
    env.create_symbolic_sizes_strides_storage_offset(torch.empty(5), "y")
    assert bool(s0 > 2) and bool(s0 > 3)  # the second narrows the range again: one bound printed
    python = [g.python for g in env.input_guards()]
    assert "x.stride()[0] == x.size()[1]" in python and "x.storage_offset() == 0" in python
    assert python.count("4 <= x.size()[0]") == 1 and "3 <= x.size()[0]" not in python
    assert [str(g.expr) for g in env.guards] == ["s0 > 2", "s0 > 3"]
    only_y = [g.python for g in env.input_guards(["y"])]
    assert only_y and all(p.startswith(("y.", "2 <= y.")) for p in only_y)
    assert not any("x." in p for p in only_y)
    assert set(env.input_guards(["x", "y"])) == set(env.input_guards())


def test_deepcopy_keeps_the_guards(env: ShapeEnv, xy: tuple[torch.SymInt, torch.SymInt]) -> None:
    s0, s1 = xy
    assert bool(s0 != s1) and bool(s0 * 2 > s1)
    t_env, _, (ta, tb) = _torch_side((4, 3))
    assert bool(ta != tb) and bool(ta * 2 > tb)
    assert len(copy.deepcopy(t_env).guards) == len(t_env.guards)
    clone = copy.deepcopy(env)
    assert [str(g.expr) for g in clone.guards] == [str(g.expr) for g in env.guards] == ["Ne(s0, s1)", "2*s0 > s1"]
    assert [g.python for g in clone.input_guards()] == [g.python for g in env.input_guards()]
    assert clone.check_guards({"x": torch.empty(3, 3)}) and not clone.check_guards({"x": torch.empty(5, 2)})


def test_suppressed_decisions_record_nothing(env: ShapeEnv, xy: tuple[torch.SymInt, torch.SymInt]) -> None:
    s0, s1 = xy
    with env.suppress_guards():
        assert bool(s0 > s1)
    assert env.guards == []


def _line_after(text: str) -> int:
    import inspect

    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    lines, start = inspect.getsourcelines(frame.f_back.f_code)
    return start + next(i for i, line in enumerate(lines) if text in line and "_line_after" not in line)
