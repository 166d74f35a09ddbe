"""The SymNode operation registry a tracer enters (``sym_op_tracing``)."""

from __future__ import annotations

import torch

from torchshade.shapes import ShapeEnv, SymNode, sym_op_tracing


def _size(env: ShapeEnv, hint: int, name: str) -> torch.SymInt:
    s = env.create_symint(hint, name)
    assert isinstance(s, torch.SymInt)
    return s


def test_every_operation_reaches_the_innermost_callback() -> None:
    env = ShapeEnv()
    a, b = _size(env, 4, "a"), _size(env, 6, "b")
    outer: list[str] = []
    inner: list[tuple[str, tuple[SymNode, ...], SymNode]] = []
    with sym_op_tracing(lambda op, inputs, out: outer.append(op)):
        c = a * 2
        with sym_op_tracing(lambda op, inputs, out: inner.append((op, inputs, out))):
            d = torch.sym_max(c, b) + a
        e = c - 1
    assert outer == ["mul", "sub"]
    assert [op for op, _, _ in inner] == ["sym_max", "add"]
    assert inner[0][1][0] is c.node and inner[0][1][1] is b.node
    assert inner[1][2] is d.node
    assert int(str(e.node.hint)) == 7


def test_nothing_is_reported_outside_the_block() -> None:
    env = ShapeEnv()
    a = _size(env, 4, "a")
    seen: list[str] = []
    with sym_op_tracing(lambda op, inputs, out: seen.append(op)):
        pass
    _ = a + 1
    assert seen == []


def test_sym_sum_is_reported() -> None:
    env = ShapeEnv()
    a, b = _size(env, 4, "a"), _size(env, 5, "b")
    seen: list[str] = []
    with sym_op_tracing(lambda op, inputs, out: seen.append(op)):
        total = torch.sym_sum([a, b])
    assert "sym_sum" in seen or seen == ["add"]
    assert total.node.hint == 9
