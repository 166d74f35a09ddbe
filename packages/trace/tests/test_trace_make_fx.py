"""make_fx in real, fake and symbolic modes, against eager and torch's make_fx."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Literal

import pytest
import torch
import torch.fx as fx
from torch.fx.experimental.proxy_tensor import make_fx as torch_make_fx
from torch.utils._pytree import tree_leaves

from torchshade.fake import FakeTensor, FakeTensorMode
from torchshade.shapes import ShapeEnv
from torchshade.trace import make_fx

aten = torch.ops.aten
Mode = Literal["real", "fake", "symbolic"]
MODES: list[Mode] = ["real", "fake", "symbolic"]


def _block(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    h = torch.nn.functional.gelu(x @ w)
    return torch.nn.functional.layer_norm(h, h.shape[-1:]).softmax(-1)


def _aten_nodes(gm: fx.GraphModule) -> list[fx.Node]:
    return [n for n in gm.graph.nodes if isinstance(n.target, torch._ops.OpOverload)
            and n.target not in (aten.sym_size.int, aten.sym_stride.int)]  # fmt: skip


def _aten_ops(gm: fx.GraphModule) -> list[object]:
    return [n.target for n in _aten_nodes(gm)]


@pytest.mark.parametrize("mode", MODES)
def test_graph_computes_what_the_function_computes(mode: str) -> None:
    x, w = torch.randn(4, 8), torch.randn(8, 6)
    gm = make_fx(_block, tracing_mode=mode)(x, w)
    torch.testing.assert_close(gm(x, w), _block(x, w))


@pytest.mark.parametrize("mode", MODES)
def test_same_aten_ops_as_torchs_make_fx(mode: Mode) -> None:
    x, w = torch.randn(4, 8), torch.randn(8, 6)
    ours = make_fx(_block, tracing_mode=mode)(x, w)
    theirs = torch_make_fx(_block, tracing_mode=mode)(x, w)
    assert _aten_ops(ours) == _aten_ops(theirs)


def _with_ones(x: torch.Tensor) -> torch.Tensor:
    return x * torch.ones(())


def _with_arange(x: torch.Tensor) -> torch.Tensor:
    return x + torch.arange(x.shape[0]).unsqueeze(1)


def _softmax_grad(x: torch.Tensor) -> torch.Tensor:
    (grad,) = torch.autograd.grad(x.softmax(-1).sum(), x)  # its ones_like seed is a factory too
    return grad


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("fn", "x"),
    [(_with_ones, torch.randn(3)), (_with_arange, torch.randn(5, 2)),
     (_softmax_grad, torch.randn(3, 5, requires_grad=True))],  # fmt: skip
    ids=["ones", "arange", "ones_like-in-grad"],
)
def test_factory_outputs_get_no_detach_node_as_in_torchs_make_fx(
    mode: Mode, fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor
) -> None:
    # torch's C++ detaches a factory's output when something else holds it; a tracer
    # holding it would record that aten.detach (it did, after every ones and arange).
    ours = make_fx(fn, tracing_mode=mode)(x)
    theirs = torch_make_fx(fn, tracing_mode=mode)(x)
    assert _aten_ops(ours) == _aten_ops(theirs)


@pytest.mark.parametrize(
    ("fn", "x"),
    [(lambda t: t.nonzero().shape[0] * t.sum(), torch.tensor([0.0, 1.0, 2.0, 0.0, 3.0])),
     (lambda t: t.masked_select(t > 0), torch.tensor([[1.0, -1.0], [2.0, 3.0]])),
     (lambda t: t[t.nonzero()[:, 0]] * 2, torch.tensor([0.0, 1.0, 2.0, 0.0])),
     (lambda t: t.sum().item(), torch.tensor([1.0, 2.0]))],  # fmt: skip
    ids=["nonzero", "masked_select", "index_by_nonzero", "item"],
)
def test_fake_mode_traces_data_dependent_ops_as_torchs_does(fn: Callable[[torch.Tensor], object], x: torch.Tensor) -> None:
    # torch's fake mode has a ShapeEnv for data-dependent sizes (static inputs): so has ours
    ours = make_fx(fn, tracing_mode="fake")(x)
    theirs = torch_make_fx(fn, tracing_mode="fake")(x)
    assert _aten_ops(ours) == _aten_ops(theirs)
    other = x.flip(0) * 3
    torch.testing.assert_close(ours(other), fn(other))
    assert ours.shape_env is None  # as before: torch's fake-mode graphs carry no env either


@pytest.mark.parametrize("mode", ["fake", "symbolic"])
def test_val_of_an_op_output_is_a_detached_alias_as_in_torch(mode: Mode) -> None:
    x = torch.randn(4, 8, requires_grad=True)
    ours = make_fx(lambda t: (t * 2).t(), tracing_mode=mode)(x)
    theirs = torch_make_fx(lambda t: (t * 2).t(), tracing_mode=mode)(x)
    for a, b in zip(_aten_nodes(ours), _aten_nodes(theirs), strict=True):
        mine, torchs = a.meta["val"], b.meta["val"]
        assert isinstance(mine, FakeTensor)
        assert (mine.requires_grad, mine._is_view()) == (torchs.requires_grad, torchs._is_view()) == (False, False)
        if mode == "fake":
            assert (mine.shape, mine.stride()) == (torchs.shape, torchs.stride())


@pytest.mark.parametrize("mode", MODES)
def test_every_node_has_a_val_like_torchs(mode: str) -> None:
    x, w = torch.randn(4, 8), torch.randn(8, 6)
    ours = make_fx(_block, tracing_mode=mode)(x, w)
    theirs = torch_make_fx(_block, tracing_mode="fake")(x, w)
    for node in ours.graph.nodes:
        if node.op != "output":
            assert "val" in node.meta, node
    ours_vals = tree_leaves([n.meta["val"] for n in _aten_nodes(ours)])
    theirs_vals = tree_leaves([n.meta["val"] for n in _aten_nodes(theirs)])
    for a, b in zip(ours_vals, theirs_vals, strict=True):
        assert isinstance(a, FakeTensor)
        assert (a.dtype, a.device, a.dim()) == (b.dtype, b.device, b.dim())
        if mode != "symbolic":
            assert (a.shape, a.stride()) == (b.shape, b.stride())


def test_symbolic_sizes_are_sym_size_nodes_and_arithmetic_is_operator_nodes() -> None:
    def f(x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0] * 2, -1)

    gm = make_fx(f, tracing_mode="symbolic")(torch.randn(4, 6))
    targets = [n.target for n in gm.graph.nodes]
    assert aten.sym_size.int in targets and operator.mul in targets
    (mul,) = [n for n in gm.graph.nodes if n.target is operator.mul]
    assert isinstance(mul.meta["val"], torch.SymInt)
    assert str(mul.meta["val"]) == "2*s0"
    x = torch.randn(6, 8)
    torch.testing.assert_close(gm(x), f(x))


def test_symbolic_int_inputs_are_symbols() -> None:
    def f(x: torch.Tensor, n: int) -> torch.Tensor:
        return x.repeat(n, 1) * n

    gm = make_fx(f, tracing_mode="symbolic")(torch.randn(3, 2), 4)
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    assert isinstance(placeholders[1].meta["val"], torch.SymInt)
    x = torch.randn(5, 2)
    torch.testing.assert_close(gm(x, 7), f(x, 7))


def test_pytree_inputs_and_outputs() -> None:
    def f(inputs: dict[str, torch.Tensor], scale: float) -> dict[str, torch.Tensor]:
        return {"sum": inputs["a"] + inputs["b"] * scale, "a": inputs["a"]}

    a, b = torch.randn(3), torch.randn(3)
    gm = make_fx(f, tracing_mode="symbolic")({"a": a, "b": b}, 2.0)
    out = gm({"a": a, "b": b}, 2.0)
    assert out.keys() == {"sum", "a"}
    torch.testing.assert_close(out["sum"], a + b * 2.0)


def test_captured_tensor_becomes_a_named_attribute() -> None:
    table = torch.arange(6.0)

    def f(x: torch.Tensor) -> torch.Tensor:
        return x + table

    gm = make_fx(f)(torch.ones(6))
    (attr,) = [n for n in gm.graph.nodes if n.op == "get_attr"]
    assert torch.equal(getattr(gm, str(attr.target)), table)
    torch.testing.assert_close(gm(torch.ones(6)), f(torch.ones(6)))


@pytest.mark.parametrize("mode", ["fake", "symbolic"])
def test_tensor_literal_becomes_an_attribute_in_fake_modes(mode: str) -> None:
    def f(x: torch.Tensor) -> torch.Tensor:
        return x * torch.tensor([1.0, 2.0, 3.0])

    gm = make_fx(f, tracing_mode=mode)(torch.ones(3))
    assert any(n.op == "get_attr" for n in gm.graph.nodes)
    torch.testing.assert_close(gm(torch.ones(3)), f(torch.ones(3)))


def _literal_changed_in_place(x: torch.Tensor) -> torch.Tensor:
    t = torch.tensor([1.0, 2.0])
    t.add_(1)
    return x * t


@pytest.mark.parametrize("mode", MODES)
def test_tensor_literal_changed_in_place_leaves_the_graphs_constant_alone(mode: Mode) -> None:
    # the literal is lifted with a copy (lift_fresh_copy, as torch's graph): without it, the
    # add_ changed the graph's constant, and each call of the graph (even the trace, in real
    # mode) saw it one higher
    gm = make_fx(_literal_changed_in_place, tracing_mode=mode)(torch.ones(2))
    expected = _literal_changed_in_place(torch.ones(2))
    for _ in range(2):
        torch.testing.assert_close(gm(torch.ones(2)), expected)
    theirs = torch_make_fx(_literal_changed_in_place, tracing_mode=mode)(torch.ones(2))
    assert _aten_ops(gm) == _aten_ops(theirs)


@pytest.mark.parametrize("mode", MODES)
def test_in_place_ops_on_inputs_are_kept_and_rerun(mode: str) -> None:
    def f(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x.add_(1)
        y.copy_(x * 2)
        return x.sum()

    gm = make_fx(f, tracing_mode=mode)(torch.zeros(3), torch.zeros(3))
    targets = [n.target for n in gm.graph.nodes]
    assert aten.add_.Tensor in targets and aten.copy_.default in targets
    x, y = torch.arange(3.0), torch.zeros(3)
    ex, ey = x.clone(), y.clone()
    torch.testing.assert_close(gm(x, y), f(ex, ey))
    torch.testing.assert_close((x, y), (ex, ey))


@pytest.mark.parametrize("mode", MODES)
def test_outputs_that_alias_inputs_still_alias(mode: str) -> None:
    def f(x: torch.Tensor) -> torch.Tensor:
        return x.view(-1)

    gm = make_fx(f, tracing_mode=mode)(torch.ones(2, 3))
    x = torch.ones(2, 3)
    assert gm(x).data_ptr() == x.data_ptr()


def _scale(t: torch.Tensor) -> torch.Tensor:
    return t * 3


def test_stack_trace_names_user_frames_of_any_name() -> None:
    def f(x: torch.Tensor) -> torch.Tensor:
        return _scale(x) + 1

    gm = make_fx(f, tracing_mode="fake")(torch.ones(3))
    (mul,) = [n for n in gm.graph.nodes if n.target is aten.mul.Tensor]
    assert "in _scale" in mul.meta["stack_trace"] and "return t * 3" in mul.meta["stack_trace"]
    assert "in f" in mul.meta["stack_trace"]
    # No frame of our packages' own code (this test file may well sit in a folder
    # named torchshade: a clone of the repository is one).
    import torchshade

    for folder in torchshade.__path__:
        assert f'File "{folder}' not in mul.meta["stack_trace"]
    assert mul.meta["stack_trace"].count('File "') == 2  # f and _scale: nothing of torch or ours


def test_module_stack_is_recorded_on_request() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU())
    gm = make_fx(model, record_module_stack=True)(torch.randn(2, 4))
    (relu,) = [n for n in gm.graph.nodes if n.target is aten.relu.default]
    assert list(relu.meta["nn_module_stack"]) == ["", "1"]
    assert relu.meta["nn_module_stack"]["1"][1] == "torch.nn.modules.activation.ReLU"
    plain = make_fx(model)(torch.randn(2, 4))
    assert all("nn_module_stack" not in n.meta for n in plain.graph.nodes)


def test_fake_inputs_keep_their_mode_and_traces_share_nothing() -> None:
    mode = FakeTensorMode(shape_env=ShapeEnv())
    x = mode.from_tensor(torch.randn(4, 6), source="x")

    def f(t: torch.Tensor) -> torch.Tensor:
        return t.view(t.shape[0] * 3, -1).sum(0)

    first = make_fx(f)(x)
    second = make_fx(f)(x)
    for gm in (first, second):
        for node in gm.graph.nodes:
            assert all(a.graph is gm.graph for a in node.all_input_nodes)
        real = torch.randn(4, 6)
        torch.testing.assert_close(gm(real), f(real))
    assert first.shape_env is mode.shape_env


def test_shape_env_is_on_symbolic_graphs_only() -> None:
    x = torch.randn(3)
    assert isinstance(make_fx(torch.sin, tracing_mode="symbolic")(x).shape_env, ShapeEnv)
    assert make_fx(torch.sin, tracing_mode="fake")(x).shape_env is None



@torch.library.custom_op("tstrace::record_into", mutates_args=("log",))
def _record_into(log: torch.Tensor, x: torch.Tensor) -> None:
    log.add_(x.sum())


@_record_into.register_fake
def _(log: torch.Tensor, x: torch.Tensor) -> None:
    return None


@pytest.mark.parametrize("mode", MODES)
def test_custom_op_with_side_effect_is_kept_in_order(mode: str) -> None:
    def f(log: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        torch.ops.tstrace.record_into(log, x)
        y = x * 2
        torch.ops.tstrace.record_into(log, y)
        return y

    gm = make_fx(f, tracing_mode=mode)(torch.zeros(()), torch.ones(3))
    targets = [n.target for n in gm.graph.nodes if isinstance(n.target, torch._ops.OpOverload)]
    custom = torch.ops.tstrace.record_into.default
    assert targets.count(custom) == 2
    assert targets.index(aten.mul.Tensor) < len(targets) - 1 - targets[::-1].index(custom)
    log, expected = torch.zeros(()), torch.zeros(())
    f(expected, torch.arange(3.0))
    gm(log, torch.arange(3.0))
    torch.testing.assert_close(log, expected)


def test_nested_traces_record_into_their_own_graph_only() -> None:
    inner_graphs: list[fx.GraphModule] = []

    def inner(x: torch.Tensor) -> torch.Tensor:
        return x.sin() * x.shape[0]

    def outer(x: torch.Tensor) -> torch.Tensor:
        inner_graphs.append(make_fx(inner)(x))  # x is fake here: the inner trace reuses its mode
        return x.cos()

    gm = make_fx(outer, tracing_mode="symbolic")(torch.ones(3))
    assert _aten_ops(gm) == [aten.cos.default]
    assert _aten_ops(inner_graphs[0]) == [aten.sin.default, aten.mul.Tensor]
    x = torch.randn(5)
    torch.testing.assert_close(inner_graphs[0](x), inner(x))
