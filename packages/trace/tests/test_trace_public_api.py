"""The public surface of torchshade.trace, pinned: names, signatures, errors' bases."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import torchshade.trace
from torchshade.trace import make_fx

PACKAGE = Path(__file__).resolve().parents[1]


def test_public_names() -> None:
    assert torchshade.trace.__all__ == [
        "CapturedTensorError",
        "ForeignSymbolError",
        "GuardViolationError",
        "Subgraph",
        "TraceError",
        "TraceInputError",
        "TraceOutputError",
        "TracingModeError",
        "add_call",
        "add_subgraph",
        "is_tracing",
        "make_fx",
        "trace_subgraph",
    ]
    public = {name for name in vars(torchshade.trace) if not name.startswith("_")}
    assert public == set(torchshade.trace.__all__)
    for name in torchshade.trace.__all__:
        assert getattr(torchshade.trace, name).__module__.startswith("torchshade.trace._"), name


def test_make_fx_signature_follows_torchs() -> None:
    assert str(inspect.signature(make_fx)) == (
        "(f: 'Callable[..., Any]', decomposition_table: 'Mapping[Any, Callable[..., Any]] | None' = None, "
        "tracing_mode: 'str' = 'real', _allow_non_fake_inputs: 'bool' = False, *, "
        "record_module_stack: 'bool' = False, check_guards: 'bool' = True) -> 'Callable[..., fx.GraphModule]'"
    )


def test_higher_order_op_hooks_signatures() -> None:
    trace = torchshade.trace
    assert str(inspect.signature(trace.is_tracing)) == "() -> 'bool'"
    assert str(inspect.signature(trace.trace_subgraph)) == "(fn: 'Callable[..., Sequence[object]]', args: 'Sequence[object]') -> 'Subgraph'"
    assert str(inspect.signature(trace.add_subgraph)) == "(prefix: 'str', subgraph: 'Subgraph') -> 'fx.Node'"
    assert str(inspect.signature(trace.add_call)) == (
        "(target: 'Callable[..., object]', args: 'tuple[object, ...]', outputs: 'Sequence[object]') -> 'fx.Node'"
    )
    assert [f.name for f in dataclasses.fields(trace.Subgraph)] == ["module", "outputs", "lifted"]


def test_error_classes() -> None:
    trace = torchshade.trace
    for name in ("CapturedTensorError", "ForeignSymbolError", "GuardViolationError"):
        assert issubclass(getattr(trace, name), trace.TraceError)
    assert issubclass(trace.TracingModeError, ValueError)
    assert issubclass(trace.TraceInputError, TypeError)
    assert issubclass(trace.TraceOutputError, TypeError)


def test_no_namespace_init_file() -> None:
    assert not (PACKAGE / "src" / "torchshade" / "__init__.py").exists()
    assert (PACKAGE / "src" / "torchshade" / "trace" / "py.typed").exists()
