"""saved_tensors_hooks against torch.autograd.graph.saved_tensors_hooks."""

import contextlib
from typing import Any

import pytest
import torch

from torchshade.autograd import SavedTensorHooksError, SavedTensorModifiedError, saved_tensors_hooks


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.LayerNorm(8), torch.nn.Linear(8, 2))


def _saved(hooks: Any, fn: Any) -> list[tuple[object, ...]]:
    seen: list[tuple[object, ...]] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        leaf = t if t._base is None else t._base
        where = t.data_ptr() if leaf.is_leaf and leaf.requires_grad else None  # others are new each run
        seen.append((tuple(t.shape), t.stride(), t.dtype, where))
        return t

    with hooks(pack, lambda t: t):
        fn()
    return seen


def test_same_tensors_packed_as_torch_for_builtin_formulas() -> None:
    a = torch.randn(3, 4, requires_grad=True)
    b = torch.randn(3, 4, requires_grad=True)
    model = _model()
    x = torch.randn(5, 6)
    for fn in (lambda: a * b, lambda: model(x).sum()):
        theirs = _saved(torch.autograd.graph.saved_tensors_hooks, fn)
        ours = _saved(saved_tensors_hooks, fn)
        assert ours == theirs
        assert len(ours) >= 2


def test_gradients_equal_the_hook_free_run() -> None:
    model = _model()
    x = torch.randn(5, 6)
    expected = torch.autograd.grad(model(x).square().sum(), list(model.parameters()))
    with saved_tensors_hooks(lambda t: t.detach().clone(), lambda t: t):
        loss = model(x).square().sum()
    torch.testing.assert_close(torch.autograd.grad(loss, list(model.parameters())), expected)


def test_version_check_holds_where_torch_gives_silently_different_gradients() -> None:
    a = torch.randn(4, requires_grad=True)
    b = torch.randn(4, requires_grad=True)

    def run(hooks: Any) -> Any:
        with hooks(lambda t: t.clone(), lambda t: t):
            h = a * 1
            y = (h * b).sum()
        h.add_(1)
        return torch.autograd.grad(y, b)[0]

    without_change = a.detach()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        h = a * 1
        y = (h * b).sum()
        h.add_(1)
        torch.autograd.grad(y, b)
    theirs = run(torch.autograd.graph.saved_tensors_hooks)  # no error
    torch.testing.assert_close(theirs, without_change)  # the old values, silently
    with pytest.raises(SavedTensorModifiedError, match=r"the saved tensor f32\[4\] is at version 1; expected version 0"):
        run(saved_tensors_hooks)


def test_nested_pairs_compose_inner_pack_first_outer_unpack_first() -> None:
    calls: list[str] = []

    def pair(name: str) -> saved_tensors_hooks:
        def pack(x: Any) -> Any:
            calls.append(f"pack {name}")
            return (name, x)

        def unpack(x: Any) -> Any:
            calls.append(f"unpack {name}")
            assert x[0] == name
            return x[1]

        return saved_tensors_hooks(pack, unpack)

    a = torch.randn(3, requires_grad=True)
    with pair("outer"), pair("inner"):
        y = a.exp()
    y.sum().backward()
    assert calls == ["pack inner", "pack outer", "unpack outer", "unpack inner"]
    torch.testing.assert_close(a.grad, a.detach().exp())


def test_torch_applies_only_the_innermost_pair() -> None:
    calls: list[str] = []
    def recording(name: str) -> Any:
        def pack(x: torch.Tensor) -> torch.Tensor:
            calls.append(name)
            return x

        return torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x)

    outer, inner = recording("outer"), recording("inner")
    with outer, inner:
        torch.randn(2, requires_grad=True).exp()
    assert calls == ["inner"]


def test_pack_hook_changing_its_input() -> None:
    def doubling(t: torch.Tensor) -> torch.Tensor:
        t.mul_(2)
        return t

    a = torch.randn(3, requires_grad=True)
    h = a * 1
    with torch.autograd.graph.saved_tensors_hooks(doubling, lambda t: t):
        with pytest.raises(RuntimeError, match="pack hook is modifying its input in place"):
            h.exp()
    with saved_tensors_hooks(doubling, lambda t: t):  # torch's check runs after our pack, and stays
        with pytest.raises(RuntimeError, match="pack hook is modifying its input in place"):
            h.exp()


def test_unpack_hook_must_return_a_tensor() -> None:
    a = torch.randn(3, requires_grad=True)
    with saved_tensors_hooks(lambda t: t, lambda t: 3):  # type: ignore[arg-type, return-value]  # the mistake under test
        y = a.exp()
    with pytest.raises(TypeError, match="unpack_hook expected to be a Tensor but got result of type int"):
        y.sum().backward()  # one pair: torch's own check
    with saved_tensors_hooks(lambda t: t, lambda t: t), saved_tensors_hooks(lambda t: t, lambda t: 3):  # type: ignore[arg-type, return-value]  # the mistake under test
        y = a.exp()
    with pytest.raises(SavedTensorHooksError, match="an unpack hook returned int, not a tensor"):
        y.sum().backward()


def test_subclass_like_torch_save_on_cpu() -> None:
    class counting(saved_tensors_hooks):
        def __init__(self) -> None:
            self.count = 0
            super().__init__(self._pack, lambda t: t)

        def _pack(self, t: torch.Tensor) -> torch.Tensor:
            self.count += 1
            return t

    hooks = counting()
    with hooks:
        (torch.randn(2, requires_grad=True) * torch.randn(2, requires_grad=True)).sum()
    assert hooks.count == 2


def test_disabled_hooks_refuse_and_leave_no_pair_behind() -> None:
    calls: list[str] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        calls.append("pack")
        return t

    with torch.autograd.graph.disable_saved_tensors_hooks("no hooks in this region"):
        with pytest.raises(RuntimeError, match="no hooks in this region"):
            with saved_tensors_hooks(pack, lambda t: t):
                pass
    (torch.randn(2, requires_grad=True) * torch.randn(2, requires_grad=True)).sum().backward()
    with saved_tensors_hooks(pack, lambda t: t):  # a single pair again, not composed with a stale one
        torch.randn(2, requires_grad=True).exp()
    assert calls == ["pack"]


def test_pairs_are_per_thread() -> None:
    import threading

    seen: list[str] = []

    def other_thread() -> None:
        with saved_tensors_hooks(lambda t: seen.append("other") or t, lambda t: t):  # type: ignore[func-returns-value]  # append, then the tensor
            torch.randn(2, requires_grad=True).exp()

    with saved_tensors_hooks(lambda t: seen.append("main") or t, lambda t: t):  # type: ignore[func-returns-value]  # append, then the tensor
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
    assert seen == ["other"]  # the main thread's pair did not compose into the other thread's


@pytest.mark.parametrize("pairs", [1, 2])
def test_version_check_holds_when_the_pack_hook_keeps_the_tensor_itself(pairs: int) -> None:
    # The pack hook returns its input (the record then holds the tensor, no weak
    # reference): torch's identity hooks let the change through, ours raise as
    # torch does without hooks. One pair takes the fast path, two the composed one.
    def run(hooks: Any) -> Any:
        a = torch.randn(4, requires_grad=True)
        with contextlib.ExitStack() as stack:
            for _ in range(pairs):
                stack.enter_context(hooks(lambda t: t, lambda t: t))
            h = a.exp()
            y = (h * h).sum()
        h.add_(1)
        return torch.autograd.grad(y, a)

    with pytest.raises(RuntimeError, match="modified by an inplace operation") as theirs_unhooked:
        run(lambda pack, unpack: contextlib.nullcontext())
    run(torch.autograd.graph.saved_tensors_hooks)  # no error
    with pytest.raises(SavedTensorModifiedError, match=r"the saved tensor f32\[4\] is at version 1; expected version 0") as ours:
        run(saved_tensors_hooks)
    assert "is at version 1; expected version 0" in str(theirs_unhooked.value)
    assert isinstance(ours.value, RuntimeError)
