"""The dispatch cache never changes an answer: hits against eager and torch's fake mode.

Each test makes the cache hit (or, where the context differs, miss) and
checks that what comes back is what eager PyTorch, or torch's own
``FakeTensorMode``, gives for the same program.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sympy
import torch
from torch._dispatch.python import enable_python_dispatcher
from torch._dynamo.source import ConstantSource
from torch.autograd.grad_mode import _unsafe_preserve_version_counter
from torch._subclasses.fake_tensor import FakeTensorMode as TorchFakeTensorMode
from torch.fx.experimental.symbolic_shapes import DimDynamic as TorchDimDynamic
from torch.fx.experimental.symbolic_shapes import ShapeEnv as TorchShapeEnv
from torch.fx.experimental.symbolic_shapes import StatelessSymbolicContext
from torchshade.shapes import ShapeEnv, sym_op_tracing

from torchshade.fake import FakeTensor, FakeTensorError, FakeTensorMode

CONJ_ERROR = "view_as_real doesn't work on unresolved conjugated tensors"


def test_a_hit_keeps_the_conj_bit_and_view_as_real_raises_as_eager(mode: FakeTensorMode) -> None:
    real = torch.randn(3, dtype=torch.complex64)
    eager = [real.conj().is_conj(), real.conj().is_conj()]
    x = mode.from_tensor(real)
    with mode:
        first, second = x.conj(), x.conj()
        assert mode.cache_info().hits >= 1
        assert [first.is_conj(), second.is_conj()] == eager == [True, True]
        with pytest.raises(RuntimeError, match=CONJ_ERROR):
            torch.view_as_real(second)
    with pytest.raises(RuntimeError, match=CONJ_ERROR):
        torch.view_as_real(real.conj())


def test_a_hit_keeps_the_neg_bit_as_eager(mode: FakeTensorMode) -> None:
    real = torch.randn(3, dtype=torch.complex64)
    x = mode.from_tensor(real)
    with mode:
        first, second = x.conj().imag, x.conj().imag
    assert mode.cache_info().hits >= 2
    assert [first.is_neg(), second.is_neg()] == [real.conj().imag.is_neg()] * 2 == [True, True]


def test_modes_share_no_entry_that_drops_a_bit() -> None:
    real = torch.randn(4, dtype=torch.complex64)
    first, second = FakeTensorMode(), FakeTensorMode()  # both on the process-wide table
    with first:
        first.from_tensor(real).conj()
        first.from_tensor(real).conj()  # after torch's lazy registrations, if any
    with second:
        out = second.from_tensor(real).conj()
    assert second.cache_info().hits >= 1
    assert out.is_conj() == real.conj().is_conj()
    assert isinstance(out, FakeTensor) and out.fake_mode is second


def test_the_key_holds_the_storage_size_so_as_strided_is_refused_as_eager(mode: FakeTensorMode) -> None:
    big_real, small_real = torch.randn(50)[:10], torch.randn(10)
    big, small = mode.from_tensor(big_real), mode.from_tensor(small_real)
    assert big.shape == small.shape and big.stride() == small.stride()
    with pytest.raises(RuntimeError, match="out of bounds for storage of size 40"):
        small_real.as_strided((50,), (1,))
    eager_shape = big_real.as_strided((50,), (1,)).shape
    with mode:
        assert big.as_strided((50,), (1,)).shape == eager_shape
        with pytest.raises(FakeTensorError, match=r"aten.as_strided.default: .*out of bounds for storage of size 40"):
            small.as_strided((50,), (1,))
    assert small.untyped_storage().nbytes() == small_real.untyped_storage().nbytes() == 40


def test_a_view_rebuilt_from_an_entry_never_grows_its_input_storage(mode: FakeTensorMode) -> None:
    reals = [torch.randn(50)[:10], torch.randn(10)]
    fakes = [mode.from_tensor(r) for r in reals]
    with mode:
        views = [f.as_strided((2, 5), (5, 1), 0) for f in fakes]
        views += [f.as_strided((2, 5), (5, 1), 0) for f in fakes]  # hits, one per storage size
    assert mode.cache_info().hits == 2
    for f, r in zip(fakes, reals):
        assert f.untyped_storage().nbytes() == r.untyped_storage().nbytes()
    for v, f in zip(views, fakes + fakes):
        assert v.untyped_storage()._cdata == f.untyped_storage()._cdata


def test_the_key_holds_the_default_dtype(mode: FakeTensorMode) -> None:
    with mode:
        first = torch.ones(3)
        torch.set_default_dtype(torch.float64)
        try:
            second = torch.ones(3)
            eager = torch.ones(3, device="cpu").dtype
        finally:
            torch.set_default_dtype(torch.float32)
    assert (first.dtype, second.dtype) == (torch.float32, eager)


# -- guards -------------------------------------------------------------------


def _named(exprs: list[Any], sources: dict[Any, str]) -> list[str]:
    """Guard expressions with each symbol renamed to its input source (x.size()[0])."""
    return [str(e.xreplace({s: sympy.Symbol(sources[s]) for s in e.free_symbols})) for e in exprs]


def _torch_slice_guards() -> list[str]:
    """torch's guards for x[0:5] on a symbolic 8x3 x (no suppressed call before)."""
    env = TorchShapeEnv()
    mode = TorchFakeTensorMode(shape_env=env)
    context: Any = StatelessSymbolicContext(dynamic_sizes=[TorchDimDynamic.DYNAMIC] * 2)
    x = mode.from_tensor(torch.randn(8, 3), source=ConstantSource("x"), symbolic_context=context)
    with mode, enable_python_dispatcher():
        x[0:5]
    sources = {s: srcs[0].name for s, srcs in env.var_to_sources.items()}
    return _named([g.expr for g in env.guards], sources)


def test_a_call_under_suppress_guards_does_not_hide_a_later_guard() -> None:
    env = ShapeEnv()
    mode = FakeTensorMode(shape_env=env)
    x = mode.from_tensor(torch.randn(8, 3), source="x")
    with mode:
        with env.suppress_guards():
            x[0:5]
        assert env.guards == []
        y = x[0:5]
    sources = {s: srcs[0] for s, srcs in env.var_to_sources.items()}
    ours = _named([g.expr for g in env.guards], sources)
    assert ours == _torch_slice_guards() == ["x.size()[0] >= 5"]
    assert y.shape[0] == 5


def test_a_hit_decides_again_what_its_miss_decided(monkeypatch: pytest.MonkeyPatch) -> None:
    env = ShapeEnv()
    mode = FakeTensorMode(shape_env=env)
    x = mode.from_tensor(torch.randn(8, 3), source="x")
    with mode:
        x[0:5]
        decided = [g.expr for g in env.guards]
        replayed: list[Any] = []
        original = env.evaluate_expr

        def spy(expr: Any, *args: Any, **kwargs: Any) -> Any:
            replayed.append(expr)
            return original(expr, *args, **kwargs)

        monkeypatch.setattr(env, "evaluate_expr", spy)
        hits = mode.cache_info().hits
        x[0:5]
    assert mode.cache_info().hits > hits
    assert decided and all(fact in replayed for fact in decided)
    assert [g.expr for g in env.guards] == decided  # already known: nothing new recorded


# -- per-tensor memos -----------------------------------------------------------


def test_nonzero_memo_sees_a_write_that_keeps_the_version(sym_mode: FakeTensorMode) -> None:
    real = torch.zeros(4)
    x = sym_mode.from_tensor(real.clone(), static_shapes=True)
    with sym_mode:
        before, again = x.nonzero().shape[0], x.nonzero().shape[0]
        with _unsafe_preserve_version_counter(x):
            x.fill_(1)
        after = x.nonzero().shape[0]
    eager_before = real.nonzero().shape[0]
    with _unsafe_preserve_version_counter(real):
        real.fill_(1)
    assert real._version == 0 and x._version == 0
    assert eager_before != real.nonzero().shape[0]  # the count changed, so must the symbol
    assert str(before) == str(again)  # unchanged data: one symbol, as torch's memo gives
    assert str(after) != str(before)


def test_item_memo_sees_a_write_through_a_view(sym_mode: FakeTensorMode) -> None:
    real = torch.zeros(1)
    t = sym_mode.from_tensor(real.clone(), static_shapes=True)
    with sym_mode:
        first, again = t.item(), t.item()
        with _unsafe_preserve_version_counter(t):
            t[:].fill_(1)  # written through a view; the shared version is put back
        after = t.item()
    eager_first = real.item()
    with _unsafe_preserve_version_counter(real):
        real[:].fill_(1)
    assert t._version == real._version == 0
    assert eager_first != real.item()
    assert str(first) == str(again)
    assert str(after) != str(first)


def test_a_tracer_sees_the_symnode_operations_of_a_call_cached_before_it_started(
    sym_mode: FakeTensorMode,
) -> None:
    x = sym_mode.from_tensor(torch.randn(8, 3), source="x")
    with sym_mode:
        x[1:]  # cached outside any trace: its SymNode operations went unrecorded
    seen: list[str] = []
    with sym_op_tracing(lambda op, inputs, out: seen.append(op)), sym_mode:
        inside = x[1:]
    with sym_mode:
        x[1:]  # and outside again: the first entry still answers
    assert seen  # the kernel ran again under the tracer, which saw s0 - 1 being made
    assert sym_mode.cache_info().hits >= 1
    assert isinstance(inside, FakeTensor) and inside.fake_mode is sym_mode


def _squeezes_around_a_check(**mode_kwargs: Any) -> list[int]:
    """How many dimensions squeeze leaves of an [u0, 3] tensor, before and after torch._check(u0 == 1)."""
    mode = FakeTensorMode(shape_env=ShapeEnv(), **mode_kwargs)
    with mode:
        index = torch.tensor([1, 0, 1, 1, 0, 1]).nonzero()  # [u0, 1]
        y = torch.zeros(index.shape[0], 3)
        outs = [y.squeeze(0), y.squeeze()]
        torch._check(y.shape[0] == 1)
        outs += [y.squeeze(0), y.squeeze(), y.squeeze(0)]
    return [out.dim() for out in outs]


def test_a_fact_learned_about_an_unbacked_size_reaches_a_squeeze_cached_before_it() -> None:
    # Before the check squeeze cannot tell whether u0 == 1 (guard_or_false: no, and no
    # guard to record); after it, it can: a hit on the entry stored before must not
    # keep the dimension. (No comparison with torch here: torch's ShapeEnv keeps
    # torch._check(u0 == 1) as a runtime assert without replacing u0, so its squeeze
    # keeps the dimension, with or without its cache; ours learns u0 == 1.)
    expected = [2, 2, 1, 1, 1]
    assert _squeezes_around_a_check(cache=False) == expected
    assert _squeezes_around_a_check() == expected
    assert _squeezes_around_a_check(cache_crosscheck=True) == expected


def test_entries_follow_the_knowledge_only_where_unrecorded_answers_can_change() -> None:
    from torchshade.fake._cache import context_key

    backed = ShapeEnv()
    x = FakeTensorMode(shape_env=backed).from_tensor(torch.empty(4, 3))
    before, version = context_key(backed), backed.knowledge.version
    assert x.shape[0] > 2  # learns a fact
    assert backed.knowledge.version != version
    assert context_key(backed) == before  # backed symbols, 0 and 1 specialized: no answer moves

    with FakeTensorMode(shape_env=ShapeEnv()) as mode:
        torch.tensor([1, 0, 1]).nonzero()
        env = mode.shape_env
        before = context_key(env)
        (u0,) = env.unbacked.symbols
        torch._check(torch.SymInt(env.node(u0, None, int)) >= 2)
        assert context_key(env) != before


_DTYPE_VIEWS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "view_as_real": lambda t: torch.view_as_real(t),
    "real": lambda t: t.real,
    "imag": lambda t: t.imag,
    "view_float16": lambda t: torch.view_as_real(t).view(torch.float16),
    "view_int32": lambda t: torch.view_as_real(t).view(torch.int32),
    "view_as_complex": lambda t: torch.view_as_complex(torch.view_as_real(t)),
    "view_complex128": lambda t: t.view(torch.complex128),
}


def _hinted(value: Any) -> int:
    return int(value.node.hint) if isinstance(value, torch.SymInt) else int(value)


def _layout(t: torch.Tensor) -> tuple[Any, ...]:
    """dtype, sizes, strides, offset and storage bytes (example values), and whether a view."""
    return (t.dtype, tuple(map(_hinted, t.shape)), tuple(map(_hinted, t.stride())), _hinted(t.storage_offset()),
            _hinted(t.untyped_storage().nbytes()), t._is_view())  # fmt: skip


@pytest.mark.parametrize("name", sorted(_DTYPE_VIEWS))
def test_a_symbolic_view_in_another_dtype_is_rebuilt_in_that_dtype(name: str) -> None:
    # A symbolic view is rebuilt with as_strided on its input, which keeps the input's
    # dtype: a hit on view_as_real gave a complex64 "real view" before.
    call = _DTYPE_VIEWS[name]
    real = torch.randn(3, 4, dtype=torch.complex64)
    expected = _layout(call(real))
    runs = {}
    for cache in (True, False):
        mode = FakeTensorMode(shape_env=ShapeEnv(), cache=cache)
        x = mode.from_tensor(real)
        with mode:
            outs = [call(x) for _ in range(3)]
        if cache:
            assert mode.cache_info().hits >= 2
        runs[cache] = [str((o.dtype, o.shape, o.stride(), o.storage_offset(), o._is_view())) for o in outs]
        assert [_layout(o) for o in outs] == [expected] * 3
    assert runs[True] == runs[False]
    theirs = TorchFakeTensorMode(shape_env=TorchShapeEnv())
    their_x = theirs.from_tensor(real)
    with theirs, enable_python_dispatcher():
        assert _layout(call(their_x)) == expected
