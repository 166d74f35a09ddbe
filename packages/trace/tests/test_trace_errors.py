"""The errors of make_fx name the input, what is wrong and the fix."""

from __future__ import annotations

import inspect

import pytest
import torch
import torch.fx.experimental.symbolic_shapes as torch_errors
from torch.fx.experimental.proxy_tensor import make_fx as torch_make_fx

from torchshade.fake import DataDependentOutputException, FakeTensorMode
from torchshade.shapes import GuardOnDataDependentSymNode, ShapeEnv
from torchshade.trace import (
    CapturedTensorError,
    ForeignSymbolError,
    TraceInputError,
    TraceOutputError,
    TracingModeError,
    make_fx,
)

TABLE = torch.arange(4.0)


def test_bad_tracing_mode_is_named() -> None:
    with pytest.raises(TracingModeError, match=r"tracing_mode='symbolc' is not one of 'real', 'fake', 'symbolic'"):
        make_fx(torch.sin, tracing_mode="symbolc")


def test_input_of_unsupported_type_is_named_by_its_path() -> None:
    def f(x: torch.Tensor, opts: dict[str, object]) -> torch.Tensor:
        return x

    with pytest.raises(TraceInputError, match=r"input args\[1\]\['mode'\] is a str \('fast'\).*closure"):
        make_fx(f, tracing_mode="fake")(torch.ones(2), {"mode": "fast"})


@pytest.mark.parametrize("mode", ["fake", "symbolic"])
def test_captured_real_tensor_is_named_with_the_fix(mode: str) -> None:
    def f(x: torch.Tensor) -> torch.Tensor:
        return x + TABLE

    with pytest.raises(CapturedTensorError, match=r"real tensor `TABLE` \(float32\[4\]\) at .*in f .*_allow_non_fake_inputs=True"):
        make_fx(f, tracing_mode=mode)(torch.ones(4))
    gm = make_fx(f, tracing_mode=mode, _allow_non_fake_inputs=True)(torch.ones(4))
    assert [n.target for n in gm.graph.nodes if n.op == "get_attr"] == ["_tensor_constant0"]
    torch.testing.assert_close(gm(torch.ones(4)), f(torch.ones(4)))


def test_captured_parameter_of_a_module_is_named() -> None:
    model = torch.nn.Linear(3, 2)
    with pytest.raises(CapturedTensorError, match=r"real tensor `weight` \(float32\[2, 3\]\)"):
        make_fx(model, tracing_mode="fake")(torch.ones(1, 3))


def _data_dependent(x: torch.Tensor) -> torch.Tensor:
    if x.sum() > 0:
        return x
    return -x


def test_branch_on_tensor_values_gives_shapes_data_dependent_error_with_the_line() -> None:
    lines, first = inspect.getsourcelines(_data_dependent)
    line = first + next(i for i, text in enumerate(lines) if "x.sum() > 0" in text)
    with pytest.raises(GuardOnDataDependentSymNode, match=rf"test_trace_errors.py:{line} in _data_dependent"):
        make_fx(_data_dependent, tracing_mode="symbolic")(torch.ones(3))
    # fake mode has a ShapeEnv for data-dependent values, as torch's: the same error
    with pytest.raises(GuardOnDataDependentSymNode, match=rf"test_trace_errors.py:{line} in _data_dependent"):
        make_fx(_data_dependent, tracing_mode="fake")(torch.ones(3))
    with pytest.raises(torch_errors.GuardOnDataDependentSymNode):
        torch_make_fx(_data_dependent, tracing_mode="fake")(torch.ones(3))
    with pytest.raises(DataDependentOutputException):  # fake inputs of a mode without a ShapeEnv
        make_fx(_data_dependent)(FakeTensorMode().from_tensor(torch.ones(3)))
    torch.testing.assert_close(make_fx(_data_dependent)(torch.ones(3))(torch.ones(3)), torch.ones(3))


def test_symint_of_another_shape_env_is_refused() -> None:
    other = FakeTensorMode(shape_env=ShapeEnv()).from_tensor(torch.ones(5, 2), source="other")
    n = other.shape[0]

    def f(x: torch.Tensor) -> object:
        return x.sum() * 1, n

    with pytest.raises(ForeignSymbolError, match=r"symbolic value s\d+ does not come from this trace"):
        make_fx(f, tracing_mode="symbolic")(torch.ones(3))


def test_output_of_unsupported_type_is_named_by_its_path() -> None:
    def f(x: torch.Tensor) -> object:
        return {"y": x.sin(), "module": torch.nn.ReLU()}

    with pytest.raises(TraceOutputError, match=r"output\['module'\] of the traced function is a ReLU"):
        make_fx(f)(torch.ones(2))


def test_a_failed_trace_leaves_no_mode_or_callback_behind() -> None:
    from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

    from torchshade.shapes import _tracing

    with pytest.raises(GuardOnDataDependentSymNode):
        make_fx(_data_dependent, tracing_mode="symbolic")(torch.ones(3))
    assert _get_current_dispatch_mode_stack() == []
    assert _tracing.ACTIVE == []
    assert torch._C._get_dispatch_mode(torch._C._TorchDispatchModeKey.FAKE) is None
