"""An env hands out the same SymNode again for the same operation on the same nodes.

C++ repeats the same arithmetic on the same size nodes for every tensor a
cache hit rebuilds; the memo makes a repeat one lookup. A node is a value,
so sharing changes no answer: these tests check that what must stay fresh
does (nodes a tracer records, min/max after something is learned, deep
copies), and that answers equal those of an env that keeps nothing.
"""

from __future__ import annotations

import copy

import torch

from torchshade.shapes import ShapeEnv, sym_op_tracing

SymPair = tuple[torch.SymInt, torch.SymInt]


def test_the_same_operation_on_the_same_nodes_gives_the_same_node(xy: SymPair) -> None:
    s0, s1 = xy
    assert (s0 * s1).node is (s0 * s1).node
    assert (s0 * 768).node is (s0 * 768).node  # the literal's node is kept too
    assert s0.node.wrap_int(768) is s0.node.wrap_int(768)
    assert (s0 * s1).node is not (s1 * s0).node  # operands in order
    assert (s0 + s1).node is not (s0 * s1).node
    assert str(s0 * s1) == "s0*s1" and (s0 * s1).node.hint == 12


def test_answers_equal_those_of_an_env_that_keeps_nothing(env: ShapeEnv, xy: SymPair) -> None:
    s0, s1 = xy

    def values(a: torch.SymInt, b: torch.SymInt) -> list[str]:
        out = []
        for _ in range(2):  # the second round reads kept nodes
            out += [str(e) for e in (a * b + 3, a // 2, (a - b) * a, torch.sym_max(a, b), torch.sym_min(a, 7))]
            same = a * 2 == b + 5
            assert isinstance(same, torch.SymBool)  # torch's stubs type == as bool
            out += [str(a.node.mul(b.node).hint), str(same.node.expr)]
        return out

    kept = values(s0, s1)
    other = ShapeEnv(duck_shape=False)
    t0, t1 = other.create_symbolic_sizes_strides_storage_offset(torch.empty(4, 3), "x")[0]
    assert isinstance(t0, torch.SymInt) and isinstance(t1, torch.SymInt)
    fresh = []
    for _ in range(2):
        other.nodes.clear()  # the second round starts from nothing kept
        fresh += values(t0, t1)[: len(kept) // 2]
    assert kept == fresh


def test_a_tracer_sees_every_operation_as_a_new_node(xy: SymPair) -> None:
    s0, s1 = xy
    before = (s0 * s1).node  # kept outside the tracer
    seen = []
    with sym_op_tracing(lambda op, inputs, out: seen.append((op, out))):
        first = (s0 * s1).node
        second = (s0 * s1).node
    assert [op for op, _ in seen] == ["mul", "mul"]
    assert first is not second and first is not before
    assert [out for _, out in seen] == [first, second]


def test_max_is_simplified_again_once_something_is_learned(env: ShapeEnv, xy: SymPair) -> None:
    s0, _ = xy  # hint 4, range [2, inf)
    assert str(torch.sym_max(s0, 3)) == "Max(3, s0)"
    assert s0 > 3  # a guard: 4 <= s0 is learned
    assert str(torch.sym_max(s0, 3)) == "s0"  # not the Max kept before


def test_a_deep_copy_of_the_env_starts_with_an_empty_memo(env: ShapeEnv, xy: SymPair) -> None:
    s0, s1 = xy
    _ = s0 * s1
    assert len(env.nodes) > 0
    copied = copy.deepcopy(env)
    assert len(copied.nodes) == 0  # its keys would name the original env's nodes
    assert len(env.nodes) > 0


def test_an_env_that_reuses_no_answers_makes_a_new_node_each_time() -> None:
    env = ShapeEnv(duck_shape=False, reuse_answers=False)
    s0, s1 = env.create_symbolic_sizes_strides_storage_offset(torch.empty(4, 3), "x")[0]
    assert isinstance(s0, torch.SymInt) and isinstance(s1, torch.SymInt)
    assert (s0 * s1).node is not (s0 * s1).node
    assert s0.node.wrap_int(768) is not s0.node.wrap_int(768)
    assert str(s0 * s1) == "s0*s1" and len(env.nodes) == 0
    assert len(copy.deepcopy(env).nodes) == 0
    t0 = copy.deepcopy(env).create_symbolic_sizes_strides_storage_offset(torch.empty(4, 3), "y")[0][0]
    assert isinstance(t0, torch.SymInt) and (t0 * 2).node is not (t0 * 2).node  # the copy keeps nothing either
