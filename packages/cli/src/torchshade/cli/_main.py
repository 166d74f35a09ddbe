"""The ``torchshade`` command: ``models``, ``memory``, ``trace`` (argparse).

Errors print ``torchshade: <message>`` on stderr and exit non-zero (2 for a
bad TARGET, SPEC or ``--at``, 1 when the user's own code raised). Progress
goes to stderr, and only when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from ._errors import CliError, DimensionError, FactoryError, SpecError
from ._memory import measure_memory, new_mode
from ._models import describe_models
from ._plot import plot_memory, sweep_points
from ._render import memory_text, models_text, trace_text
from ._spec import TensorSpec, named_dims, parse_input, parse_point
from ._target import build, resolve_target
from ._trace import trace_model

EPILOG = "SPEC is DTYPE[DIM, ...], e.g. i64[batch, seq]: named dims are symbols, numbers are static."


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="torchshade", description="Shapes, graphs and memory of PyTorch models, "
                                     "without a byte of real weights.", epilog=EPILOG)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    models = sub.add_parser("models", help="the built-in models and their sizes")
    models.add_argument("--format", choices=("text", "json"), default="text")
    for name, text in (("memory", "parameter, saved-for-backward and peak activation bytes"),
                       ("trace", "the model as an FX graph of aten ops, with symbolic shapes and guards")):  # fmt: skip
        cmd = sub.add_parser(name, help=text, epilog=EPILOG)
        cmd.add_argument("target", metavar="TARGET", help="a built-in model (torchshade models) or path/to/file.py:factory")
        cmd.add_argument("--input", action="append", default=[], metavar="NAME=SPEC", help="an input (repeatable)")
        cmd.add_argument("--at", action="append", default=[], metavar="DIM=N,...", help="sizes of the named dims (repeatable)")
        cmd.add_argument("--format", choices=("text", "json"), default="text")
        cmd.add_argument("--out", type=Path, help="write the report to this file instead of stdout")
    sub.choices["memory"].add_argument("--train", action="store_true", help="add gradients and Adam state")
    sub.choices["memory"].add_argument("--plot", type=Path, metavar="FILE", help="draw memory along the program and "
                                       "against the last named dim (.png, .svg)")  # fmt: skip
    sub.choices["trace"].add_argument("--mode", choices=("symbolic", "fake"), default="symbolic")
    return parser


@contextlib.contextmanager
def _progress(what: str) -> Iterator[Callable[[int], None] | None]:
    """A spinner with the count of ops on stderr, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console

    console = Console(stderr=True)
    with console.status(what) as status:
        yield lambda ops: status.update(f"{what}: {ops} ops")


def _specs(options: Sequence[str], defaults: Sequence[TensorSpec], target: str) -> tuple[TensorSpec, ...]:
    specs = tuple(parse_input(o) for o in options)
    if not specs and not defaults:
        raise SpecError(f"TARGET {target!r} gives no input specs; pass each input as --input NAME=SPEC, "
                        "e.g. --input x=f32[batch, 128].")  # fmt: skip
    return specs or tuple(defaults)


def _run(args: argparse.Namespace) -> str:
    if args.command == "models":
        rows = describe_models()
        return json.dumps(rows, indent=2) if args.format == "json" else models_text(rows)
    model = resolve_target(args.target)
    early = [parse_input(o) for o in args.input] or list(model.inputs)
    if early:  # a bad SPEC or --at is reported before the model is built
        for at in args.at:
            parse_point(at, named_dims(early))
    if args.command == "memory":
        mode = new_mode()
    else:
        from torchshade.fake import FakeTensorMode

        mode = new_mode() if args.mode == "symbolic" else FakeTensorMode()
    with mode:
        fn, defaults = build(model)
    specs = _specs(args.input, defaults, args.target)
    dims = named_dims(specs)
    points = [parse_point(a, dims) for a in args.at]
    started = time.perf_counter()
    if args.command == "memory":
        if dims and not points:
            raise DimensionError(f"torchshade memory: give the sizes to evaluate at, e.g. --at {','.join(f'{d}=1' for d in dims)}.")
        sweep = sweep_points(points[0], dims[-1]) if args.plot is not None and dims else []
        with _progress(f"memory of {args.target}") as progress:
            try:
                report = measure_memory(args.target, fn, specs, mode, points + sweep, args.train, progress)
            except FactoryError as error:
                raise FactoryError(f"{error}\n{model.memory_note}".rstrip()) from error
        if sweep:
            plot_memory(report, report.points[len(points) :], dims[-1], args.plot)
            report = dataclasses.replace(report, points=report.points[: len(points)])
        if args.format == "json":
            return json.dumps(report.to_json(), indent=2)
        return memory_text(report) + f"\n{report.ops} ops in {time.perf_counter() - started:.1f} s"
    if args.mode == "fake" and dims and not points:
        raise DimensionError(f"torchshade trace --mode fake: static sizes needed, e.g. --at {','.join(f'{d}=2' for d in dims)}.")
    trace = trace_model(args.target, fn, specs, mode, args.mode, points[0] if args.mode == "fake" else None)
    return json.dumps(trace.to_json(), indent=2) if args.format == "json" else trace_text(trace)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``torchshade`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        text = _run(args)
    except CliError as error:
        print(f"torchshade: {error}", file=sys.stderr)
        return error.exit_code
    out: Path | None = getattr(args, "out", None)
    if out is not None:
        out.write_text(text + "\n")
    else:
        print(text)
    return 0


def console_main() -> None:
    """The console script's entry point."""
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:  # the reader (`| head`) left: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 0
    sys.exit(status)
