"""The public surface of torchshade.cli, pinned."""

import inspect

import torchshade.cli


def test_public_names() -> None:
    assert sorted(torchshade.cli.__all__) == [
        "BUILTIN_MODELS", "CliError", "DimensionError", "FactoryError", "MemoryReport", "Model",
        "SpecError", "TargetError", "TensorSpec", "TraceReport", "main", "measure_memory",
        "parse_spec", "trace_model",
    ]  # fmt: skip
    public = {name for name in vars(torchshade.cli) if not name.startswith("_")}
    assert public == set(torchshade.cli.__all__)


def test_signatures() -> None:
    assert str(inspect.signature(torchshade.cli.main)) == "(argv: 'Sequence[str] | None' = None) -> 'int'"
    assert list(inspect.signature(torchshade.cli.parse_spec).parameters) == ["name", "text", "option"]
    assert list(inspect.signature(torchshade.cli.measure_memory).parameters) == [
        "target", "fn", "specs", "mode", "points", "train", "progress",
    ]  # fmt: skip
    assert list(inspect.signature(torchshade.cli.trace_model).parameters) == [
        "target", "fn", "specs", "mode", "tracing_mode", "sizes",
    ]  # fmt: skip
    assert set(torchshade.cli.BUILTIN_MODELS) == {"gpt2", "llama-7b", "llama-70b", "resnet50", "moe", "rnn"}
