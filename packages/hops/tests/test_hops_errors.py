"""Every user-facing error of torchshade.hops, by its words: eager and under fake tensors alike."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from torchshade.fake import FakeTensorMode
from torchshade.hops import AliasingError, InputMutationError, OutputMismatchError, cond, scan, while_loop
from torchshade.shapes import ShapeEnv


def _fake(*tensors: torch.Tensor) -> list[Any]:
    mode = FakeTensorMode(shape_env=ShapeEnv())
    return [mode.from_tensor(t) for t in tensors]


def test_mutation_names_the_input() -> None:
    x = torch.zeros(3)
    with pytest.raises(InputMutationError, match=r"cond: true_fn changed its input operands\[1\]\['w'\] in place"):
        cond(torch.tensor(True), lambda a, d: a + d["w"].add_(1), lambda a, d: a, (x, {"w": x.clone()}))
    with pytest.raises(InputMutationError, match=r"while_loop: body_fn changed its input carried_inputs\[0\]"):
        while_loop(lambda x: x.sum() < 3, lambda x: (x.add_(1),), (torch.zeros(2),))
    with pytest.raises(InputMutationError, match=r"scan: combine_fn changed its input init .*`x.add_\(1\)`"):
        scan(lambda c, x: (c.mul_(2), x.clone()), torch.ones(2), torch.ones(3, 2))


def test_mutation_is_caught_under_fake_tensors() -> None:
    (x,) = _fake(torch.zeros(3))
    with pytest.raises(InputMutationError, match=r"cond: false_fn changed its input operands\[0\]"):
        cond(x.sum() > 0, lambda x: x + 1, lambda x: x.sub_(1), (x,))


def test_views_of_inputs_are_refused() -> None:
    x = torch.randn(4, 3)
    with pytest.raises(AliasingError, match=r"cond: true_fn returned f32\[3\], which is a view of its input operands\[0\]"):
        cond(torch.tensor(True), lambda x: x[0], lambda x: x[1], (x,))
    with pytest.raises(AliasingError, match=r"scan: combine_fn returned output \[0\], f32\[2\], which is a view of its input init"):
        scan(lambda c, x: (c[:2], x.clone()), torch.ones(3), torch.ones(5, 3))
    with pytest.raises(AliasingError, match=r"body_fn returned output \[1\], f32\[2, 3\].*`x\[0\].clone\(\)`"):
        while_loop(lambda i, x: i < 3, lambda i, x: (i + 1, x[:2]), (torch.tensor(0), x))


def test_inputs_returned_unchanged_or_twice_are_copied() -> None:
    x = torch.randn(3)
    a, b = cond(torch.tensor(True), lambda x: (x, x), lambda x: (x + 1, x), (x,))
    assert a is not x and b is not x and a is not b
    torch.testing.assert_close((a, b), (x, x))
    a.add_(1)  # the copies are independent of the input and of each other
    torch.testing.assert_close((b, x), (x.clone(), b))
    carry, ys = scan(lambda c, x: (c, x), torch.zeros(2), torch.ones(3, 2))
    torch.testing.assert_close((carry, ys), (torch.zeros(2), torch.ones(3, 2)))


def test_branch_mismatch_names_path_and_field() -> None:
    x, p = _fake(torch.randn(4, 3), torch.tensor(True))
    with pytest.raises(OutputMismatchError, match=r"output \[1\]\['h'\] is f32\[s0, s1\] in true_fn but f64\[s0, s1\] in false_fn \(its dtype differs\)"):
        cond(p, lambda x: (x + 1, {"h": x * 2}), lambda x: (x + 1, {"h": x.double()}), (x,))
    with pytest.raises(OutputMismatchError, match=r"true_fn returns \(\*, \{'h': \*\}\) but false_fn returns \[\*, \{'h': \*\}\] \(the pytree structure differs\)"):
        cond(p, lambda x: (x + 1, {"h": x * 2}), lambda x: [x + 1, {"h": x * 2}], (x,))
    with pytest.raises(OutputMismatchError, match=r"output \[0\] is f32\[s0, s1\] in true_fn but int 1 in false_fn \(its kind differs\)"):
        cond(p, lambda x: (x + 1,), lambda x: (1,), (x,))


def test_differing_sizes_need_a_shape_env() -> None:
    mode = FakeTensorMode()
    x, p = mode.from_tensor(torch.randn(4, 3)), mode.from_tensor(torch.tensor(True))
    with pytest.raises(OutputMismatchError, match=r"the output is f32\[1, 3\] in true_fn but f32\[4, 3\] in false_fn \(its shape differs\)\. .*ShapeEnv"):
        cond(p, lambda x: x[:1] * 1, lambda x: x * 2, (x,))


def test_carry_mismatch() -> None:
    with pytest.raises(OutputMismatchError, match=r"scan: the carry changed: output \[0\] is i64\[3\] in init but f32\[3\] in combine_fn's next carry \(its dtype differs\)"):
        scan(lambda c, x: (c.float(), x.clone()), torch.ones(3, dtype=torch.int64), torch.ones(2, 3))
    with pytest.raises(OutputMismatchError, match=r"scan: combine_fn must return a pair \(next_carry, y\); it returned \*"):
        scan(lambda c, x: c + x, torch.ones(3), torch.ones(2, 3))
    with pytest.raises(OutputMismatchError, match=r"while_loop: body_fn returns \(\*,\) but carried_inputs is \(\*, \*\)"):
        while_loop(lambda i, x: i < 3, lambda i, x: (i + 1,), (torch.tensor(0), torch.ones(2)))
    with pytest.raises(OutputMismatchError, match=r"output \[1\] is f32\[2\] in carried_inputs but f32\[4\] in body_fn's output \(its shape differs\)"):
        while_loop(lambda i, x: i < 3, lambda i, x: (i + 1, x.repeat(2)), (torch.tensor(0), torch.ones(2)))


def test_mutation_in_a_later_step_is_caught() -> None:
    def combine(c: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if c.sum() > 2:  # only from the third step on
            x.mul_(2)
        return c + 1, x.clone()

    with pytest.raises(InputMutationError, match=r"scan: combine_fn changed its input xs in place"):
        scan(combine, torch.zeros(1), torch.ones(5, 1))


def test_carry_mutation_in_a_later_step_is_caught() -> None:
    def combine(c: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if c.sum() > 2:
            c.add_(1)
        return c + x, x.clone()

    with pytest.raises(InputMutationError, match=r"scan: combine_fn changed its input init in place \(its version went from"):
        scan(combine, torch.zeros(1), torch.ones(5, 1))
