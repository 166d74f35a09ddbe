"""Fake tensors against eager, op by op, over torch's OpInfo database.

Every sample of every OpInfo that runs on CPU in float32 (the first K samples
of each) runs in one process three ways: eagerly, under torch's
FakeTensorMode and under ours (torchshade.fake). Each fake output is compared
with the eager one, by the same rules for both sides:

    shape      sizes equal; in the symbolic pass, with each symbol's hint
               substituted (a dimension with no hint, an unbacked symbol from
               a data-dependent op, is accepted: there is nothing to compare)
    dtype      dtypes equal
    device     devices equal
    stride     strides of the dimensions of size > 1 and the storage offset
               equal, for tensors with elements (hints substituted likewise);
               no op is exempt, and "ignoring strides" is reported apart
    alias      each output shares storage with the same inputs and the same
               other outputs as eagerly, and is an input object iff eagerly
    value      a non-tensor output equals eager's (an unbacked symbol is
               accepted for a number)
    structure  the outputs form the same pytree
    raised:T   converting the inputs, running the op or reading the
               outputs' metadata raised T
    timeout    one side took more than --timeout seconds on the sample
    crashed:S  the process died of signal S while one side ran the sample
    leaked-state  the side left a mode on the stack or Python dispatch
               turned off (repaired, so that the next side is not hurt)

A sample on which eager itself raises is skipped. Inputs are converted to
fakes before eager runs, so an op that mutates its inputs is seen the same
way by all three. Each sample gets a fresh mode per side. In the symbolic
pass each side gets a fresh ShapeEnv of its own kind too (ours for ours,
torch's for torch's) and converts every input with `mode.from_tensor(t)`,
which makes its dimensions symbols; torch's mode then runs under
`enable_python_dispatcher()`, as torch's own tracers run it (without it,
torch fails on ~130 more samples); ours has to turn it on by itself.

With --variants each sample also runs in other memory layouts, with the same
values, as ops of their own named `OP@VARIANT` (their own table rows):

    channels_last  every 4-d tensor input channels-last, every 5-d one
                   channels-last-3d (samples with no 4-d/5-d input: none)
    transposed     every input of 2 or more dimensions column-major in its last
                   two (`t.mT.contiguous().mT`)
    sliced         every input of 1 or more dimensions a view taking every
                   second element of a tensor twice as long in the last one

The samples run in a worker process; when it crashes or hangs, the parent
records the sample it was on for the side that was running and starts a new
worker from there, so one segfault costs one sample, not the run.

Which implementation is "ours" is one name: `--ours MODULE` (its
FakeTensorMode) and `--ours-shapes MODULE` (its ShapeEnv). Passing torch's own
modules there (with --ours-under-python-dispatcher, to run it as torch's side
is run) runs torch against itself, a check of the harness: both columns must
then agree sample for sample.

    python3 tools/fake_conformance.py [--ops REGEX] [--limit N] [--samples K]
        [--symbolic] [--variants] [--markdown] [--verbose] [--timeout S]
        [--ours torchshade.fake] [--ours-shapes torchshade.shapes]
        [--ours-under-python-dispatcher]
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import math
import re
import selectors
import signal
import subprocess
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

import torch
from torch._dispatch.python import enable_python_dispatcher
from torch.utils._pytree import tree_flatten, tree_map
from torch.utils._python_dispatch import _get_current_dispatch_mode_stack, _pop_mode

ROOT = Path(__file__).resolve().parents[1]
TORCH_FAKE = "torch._subclasses.fake_tensor"
TORCH_SHAPES = "torch.fx.experimental.symbolic_shapes"
OURS_FAKE = "torchshade.fake"
OURS_SHAPES = "torchshade.shapes"
OK = "ok"
PASSES = ("static", "symbolic")


class FakeMode(Protocol):
    """What the harness uses of a FakeTensorMode, torch's or ours."""

    def from_tensor(self, tensor: torch.Tensor, /, *, static_shapes: bool | None = None) -> torch.Tensor: ...

    def __enter__(self) -> object: ...

    def __exit__(self, *exc: object) -> bool | None: ...


@dataclass(frozen=True)
class Side:
    """One fake-tensor implementation under test.

    `make_mode(symbolic)` returns a fresh mode, with a fresh ShapeEnv of the
    same implementation when `symbolic` is true.
    """

    name: str
    make_mode: Callable[[bool], FakeMode]
    python_dispatcher: bool = False


def load_side(name: str, fake_module: str, shapes_module: str, python_dispatcher: bool = False) -> Side:
    """The side whose FakeTensorMode lives in `fake_module` and ShapeEnv in `shapes_module`.

    With `python_dispatcher`, the symbolic pass runs ops under
    `enable_python_dispatcher()`, as torch's own tracers do around torch's
    mode; ours has to turn it on by itself.
    """
    if fake_module.startswith("torchshade."):
        # Run from a checkout without installing: the packages' src folders go last,
        # so an installed torchshade still wins.
        sys.path.extend(str(src) for src in sorted(ROOT.glob("packages/*/src")) if str(src) not in sys.path)
    mode_class: Any = getattr(importlib.import_module(fake_module), "FakeTensorMode")
    env_class: Any = getattr(importlib.import_module(shapes_module), "ShapeEnv")

    def make_mode(symbolic: bool) -> FakeMode:
        shape_env = env_class() if symbolic else None
        mode: FakeMode = mode_class(allow_non_fake_inputs=True, shape_env=shape_env)
        return mode

    return Side(name, make_mode, python_dispatcher)


@contextmanager
def entered(side: Side, mode: FakeMode, symbolic: bool) -> Iterator[None]:
    """Inside `mode`, and inside the Python dispatcher when the side asks for it."""
    with ExitStack() as stack:
        if symbolic and side.python_dispatcher:
            stack.enter_context(enable_python_dispatcher())
        stack.enter_context(mode)
        yield


# ----------------------------------------------------------------------------
# Comparing one output with eager's


def hint(value: object) -> object:
    """`value` with a symbol's hint in place of a SymInt/SymFloat/SymBool; None if it has none."""
    if isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        found: object = getattr(value.node, "hint", None)
        return found
    return value


def same_sizes(eager: Sequence[object], fake: Sequence[object]) -> bool:
    """Sizes (or strides) equal, an unhinted (unbacked) fake entry matching anything."""
    if len(eager) != len(fake):
        return False
    return all(h is None or h == e for e, h in zip(eager, (hint(f) for f in fake)))


def significant_dims(eager: torch.Tensor) -> list[int]:
    """The dimensions whose stride matters: size > 1, none if the tensor is empty.

    Eager's sizes decide, for both sides: the fake's sizes already equal them,
    except where they are unbacked symbols with no hint to look at.
    """
    if eager.numel() == 0:
        return []
    return [d for d, size in enumerate(eager.shape) if size != 1]


def short(t: torch.Tensor) -> str:
    """`f32[2, 3]` with strides: the tensor's metadata in a few characters."""
    return f"{str(t.dtype).removeprefix('torch.')}{list(t.shape)} stride {tuple(t.stride())}"


def compare_tensor(eager: torch.Tensor, fake: torch.Tensor) -> tuple[str, str]:
    """(category, detail) of the first difference between two tensors, or (OK, "")."""
    if not same_sizes(list(eager.shape), list(fake.shape)):
        return "shape", f"eager {short(eager)}, fake {short(fake)}"
    if eager.dtype != fake.dtype:
        return "dtype", f"eager {eager.dtype}, fake {fake.dtype}"
    if eager.device != fake.device:
        return "device", f"eager {eager.device}, fake {fake.device}"
    if eager.layout != torch.strided or fake.layout != torch.strided:
        return OK, ""
    dims = significant_dims(eager)
    if not same_sizes([eager.stride(d) for d in dims], [fake.stride()[d] for d in dims]):
        return "stride", f"eager {short(eager)}, fake {short(fake)}"
    if not same_sizes([eager.storage_offset()], [fake.storage_offset()]):
        return "stride", f"storage offset: eager {eager.storage_offset()}, fake {fake.storage_offset()}"
    return OK, ""


def compare_value(eager: object, fake: object) -> tuple[str, str]:
    """A non-tensor output: equal to eager's, or an unbacked symbol standing for it."""
    if isinstance(eager, torch.Tensor):
        if not isinstance(fake, torch.Tensor):
            return "structure", f"eager returned a tensor, fake {type(fake).__name__}"
        return compare_tensor(eager, fake)
    if isinstance(fake, torch.Tensor):
        return "structure", f"eager returned {type(eager).__name__}, fake a tensor"
    got = hint(fake)
    if got is None and fake is not None:
        return OK, ""
    if got == eager or (isinstance(got, float) and isinstance(eager, float) and math.isnan(got) and math.isnan(eager)):
        return OK, ""
    return "value", f"eager {eager!r}, fake {fake!r}"


def storage_id(t: torch.Tensor) -> int | None:
    """An identity of the storage behind `t` (the one torch's own alias checks use)."""
    if t.layout != torch.strided or not torch._C._has_storage(t):
        return None
    return int(t.untyped_storage()._cdata)


def alias_pattern(outputs: list[object], inputs: list[object]) -> list[tuple[frozenset[int], frozenset[int], int]]:
    """Per output tensor: inputs it shares storage with, earlier outputs it shares with, input it is."""
    inp = [(i, storage_id(t)) for i, t in enumerate(inputs) if isinstance(t, torch.Tensor)]
    ids = {id(t): i for i, t in enumerate(inputs) if isinstance(t, torch.Tensor)}
    pattern = []
    seen: list[tuple[int, int | None]] = []
    for o, out in enumerate(outputs):
        if not isinstance(out, torch.Tensor):
            continue
        sid = storage_id(out)
        shared_in = frozenset(i for i, s in inp if s is not None and s == sid)
        shared_out = frozenset(j for j, s in seen if s is not None and s == sid)
        pattern.append((shared_in, shared_out, ids.get(id(out), -1)))
        seen.append((o, sid))
    return pattern


def compare(eager_out: object, eager_in: object, fake_out: object, fake_in: object) -> tuple[str, str]:
    """(category, detail) of the first difference between a fake run and eager, or (OK, "")."""
    eager_leaves, eager_spec = tree_flatten(eager_out)
    fake_leaves, fake_spec = tree_flatten(fake_out)
    if eager_spec != fake_spec:
        return "structure", f"eager {eager_spec}, fake {fake_spec}"
    for i, (e, f) in enumerate(zip(eager_leaves, fake_leaves)):
        category, detail = compare_value(e, f)
        if category != OK:
            return category, f"output {i}: {detail}"
    eager_alias = alias_pattern(eager_leaves, tree_flatten(eager_in)[0])
    fake_alias = alias_pattern(fake_leaves, tree_flatten(fake_in)[0])
    if eager_alias != fake_alias:
        return "alias", f"eager (inputs, outputs, is) {eager_alias}, fake {fake_alias}"
    return OK, ""


# ----------------------------------------------------------------------------
# Running one sample


class SampleTimeout(Exception):
    """One side ran longer than --timeout seconds on one sample."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise SampleTimeout in the block after `seconds` (checked between Python bytecodes)."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise SampleTimeout(f"more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def failure(error: BaseException, where: str) -> tuple[str, str]:
    if isinstance(error, SampleTimeout):
        return "timeout", where
    return f"raised:{type(error).__name__}", f"{where}: {str(error).strip().splitlines()[0][:200] if str(error).strip() else ''}"


@dataclass
class Prepared:
    """One side's fake inputs for one sample, or why they could not be made."""

    mode: FakeMode | None
    args: tuple[Sequence[object], dict[str, object]] = ((), {})
    error: tuple[str, str] | None = None


def prepare(side: Side, symbolic: bool, args: tuple[Sequence[object], dict[str, object]], timeout: float) -> Prepared:
    """Make a mode and convert every tensor in `args` with it."""
    try:
        with time_limit(timeout):
            mode = side.make_mode(symbolic)
            fakes = tree_map(lambda x: mode.from_tensor(x) if isinstance(x, torch.Tensor) else x, args)
            fake_args, fake_kwargs = fakes
    except Exception as error:
        return Prepared(None, error=failure(error, "converting the inputs"))
    return Prepared(mode, (fake_args, fake_kwargs))


def run_fake(op: Callable[..., object], side: Side, prepared: Prepared, eager: tuple[object, object], symbolic: bool, timeout: float) -> tuple[str, str]:
    """Run `op` on the prepared fakes and compare with eager's (outputs, inputs)."""
    if prepared.mode is None or prepared.error is not None:
        return prepared.error or ("raised:?", "")
    args, kwargs = prepared.args
    try:
        with time_limit(timeout), entered(side, prepared.mode, symbolic):
            out = op(*args, **kwargs)
    except Exception as error:
        return failure(error, "running the op")
    try:  # reading a fake output's metadata runs the side's code too
        return compare(eager[0], eager[1], out, (args, kwargs))
    except Exception as error:
        return failure(error, "reading the outputs")


def symbolic_inputs(prepared: Prepared) -> bool:
    """Whether any converted input has a symbolic size (to catch a pass that stayed static)."""
    leaves = tree_flatten(prepared.args)[0]
    return any(isinstance(t, torch.Tensor) and any(isinstance(s, torch.SymInt) for s in t.shape) for t in leaves)


KEYS_TO_RESTORE = (torch._C.DispatchKey.Python, torch._C.DispatchKey.PythonTLSSnapshot, torch._C.DispatchKey.PreDispatch)


@dataclass(frozen=True)
class DispatchState:
    """What a fake mode must leave as it found it: the mode stack and the thread's dispatch key sets."""

    modes: int
    included: str
    excluded: str
    restorable: tuple[bool, ...]

    @staticmethod
    def now() -> DispatchState:
        excluded = tuple(torch._C._dispatch_tls_is_dispatch_key_excluded(k) for k in KEYS_TO_RESTORE)
        return DispatchState(len(_get_current_dispatch_mode_stack()), str(torch._C._dispatch_tls_local_include_set()),
                             str(torch._C._dispatch_tls_local_exclude_set()), excluded)

    def restore(self) -> None:
        """Pop modes left on the stack, and undo an exclusion of the Python keys (no_dispatch)."""
        while len(_get_current_dispatch_mode_stack()) > self.modes:
            _pop_mode()
        for key, excluded in zip(KEYS_TO_RESTORE, self.restorable):
            torch._C._dispatch_tls_set_dispatch_key_excluded(key, excluded)


def checked(before: DispatchState, outcome: tuple[str, str]) -> tuple[str, str]:
    """`outcome`, or "leaked-state" if the side left dispatch state behind (then repaired)."""
    after = DispatchState.now()
    if after == before:
        return outcome
    before.restore()
    return "leaked-state", f"before {before}, after {after} (then {outcome[0]})"


@dataclass
class SampleResult:
    """The outcome of one sample on each side: "ok" or a category, and a detail."""

    op: str
    index: int
    outcomes: dict[str, tuple[str, str]] = field(default_factory=dict)
    symbolic: dict[str, bool] = field(default_factory=dict)


def run_sample(name: str, index: int, op: Callable[..., object], args: tuple[Sequence[object], dict[str, object]],
               sides: Sequence[Side], symbolic: bool, timeout: float, skip: Mapping[str, str],
               announce: Callable[[str], None]) -> SampleResult | None:
    """Eager and every side on one sample; None if eager raises (the sample is skipped).

    `skip` maps a side (or "eager") to the category it gets without running,
    because running it killed the process before; `announce(side)` is called
    before each side runs, so that the parent knows whom to blame for a crash.
    """
    prepared = {}
    for side in sides:
        if side.name not in skip:
            announce(side.name)
            before = DispatchState.now()
            prepared[side.name] = done = prepare(side, symbolic, args, timeout)
            if DispatchState.now() != before:
                done.mode, done.error = None, checked(before, done.error or (OK, "converting the inputs"))
    if "eager" in skip:
        return None
    announce("eager")
    try:
        with time_limit(timeout):
            eager_out = op(*args[0], **args[1])
    except Exception:
        return None
    result = SampleResult(name, index)
    for side in sides:
        if side.name in skip:
            result.outcomes[side.name], result.symbolic[side.name] = (skip[side.name], "the process died"), False
            continue
        announce(side.name)
        before = DispatchState.now()
        outcome = run_fake(op, side, prepared[side.name], (eager_out, args), symbolic, timeout)
        result.outcomes[side.name] = checked(before, outcome)
        result.symbolic[side.name] = symbolic_inputs(prepared[side.name])
    return result


# ----------------------------------------------------------------------------
# Memory-layout variants of a sample: the same values, other strides


def _channels_last(t: torch.Tensor) -> torch.Tensor | None:
    if t.dim() == 4:
        return t.contiguous(memory_format=torch.channels_last)
    if t.dim() == 5:
        return t.contiguous(memory_format=torch.channels_last_3d)
    return None


def _transposed(t: torch.Tensor) -> torch.Tensor | None:
    return t.mT.contiguous().mT if t.dim() >= 2 else None


def _sliced(t: torch.Tensor) -> torch.Tensor | None:
    if t.dim() == 0:
        return None
    wide = t.new_zeros(*t.shape[:-1], 2 * t.shape[-1])
    wide[..., ::2] = t
    return wide[..., ::2]


VARIANTS: dict[str, Callable[[torch.Tensor], torch.Tensor | None]] = {
    "channels_last": _channels_last,
    "transposed": _transposed,
    "sliced": _sliced,
}
VARIANT_MARK = "@"


def variant_keys(keys: Sequence[str], variants: Sequence[str]) -> list[str]:
    """Each op key, followed by its `OP@VARIANT` keys."""
    return [k for key in keys for k in (key, *(f"{key}{VARIANT_MARK}{v}" for v in variants))]


def split_key(key: str) -> tuple[str, str | None]:
    """`OP@VARIANT` -> (OP, VARIANT); a plain op key -> (OP, None)."""
    base, mark, variant = key.partition(VARIANT_MARK)
    return base, (variant if mark else None)


def sample_args(sample: Any, variant: str | None) -> tuple[tuple[Sequence[object], dict[str, object]], bool]:
    """((args, kwargs) of `sample` in `variant`'s layout, whether the variant changed any input)."""
    args: tuple[Sequence[object], dict[str, object]] = ((sample.input, *sample.args), dict(sample.kwargs))
    if variant is None:
        return args, True
    transform, changed = VARIANTS[variant], False

    def convert(t: torch.Tensor) -> torch.Tensor:
        nonlocal changed
        if t.layout != torch.strided or t.numel() == 0:  # an empty tensor's strides mean nothing
            return t
        with torch.no_grad():
            new = transform(t.detach())
        if new is None:
            return t
        changed = True
        return new.requires_grad_(t.requires_grad)

    return tree_map(lambda x: convert(x) if isinstance(x, torch.Tensor) else x, args), changed


# ----------------------------------------------------------------------------
# Running the database: a worker process runs the samples, the parent survives its crashes


@dataclass
class Run:
    """Every sample result of one pass, plus what was skipped and how long it took."""

    symbolic: bool
    sides: list[str]
    results: list[SampleResult] = field(default_factory=list)
    ops: set[str] = field(default_factory=set)
    eager_skipped: int = 0
    lost_ops: list[str] = field(default_factory=list)
    seconds: float = 0.0  # spent in the worker on this pass
    recorded: set[str] = field(default_factory=set)


@contextmanager
def quiet_torch_logs() -> Iterator[None]:
    """Silence the tracebacks torch's fake mode logs for each failing meta kernel."""
    logger = logging.getLogger("torch._subclasses.fake_tensor")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def op_key(op: Any) -> str:
    return f"{op.name}.{op.variant_test_name}" if op.variant_test_name else str(op.name)


def select_ops(pattern: str | None, limit: int | None, names: Sequence[str] | None = None) -> list[Any]:
    """OpInfos that run on CPU in float32, filtered by a regex or an exact list of keys."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.testing._internal.common_methods_invocations import op_db

    chosen = [op for op in op_db if torch.float32 in op.supported_dtypes("cpu")]
    if names is not None:
        wanted = set(names)
        chosen = [op for op in chosen if op_key(op) in wanted]
    if pattern is not None:
        chosen = [op for op in chosen if re.search(pattern, op_key(op))]
    return chosen[:limit] if limit is not None else chosen


def samples_of(op: Any, count: int) -> list[Any]:
    """The first `count` float32 CPU samples of `op` (none if making them raises or op is None)."""
    found: list[Any] = []
    if op is None:
        return found
    try:
        for sample in op.sample_inputs("cpu", torch.float32, requires_grad=False):
            found.append(sample)
            if len(found) == count:
                break
    except Exception:
        pass
    return found


TAG = "@@fake_conformance "


def emit(kind: str, payload: object) -> None:
    print(TAG + json.dumps([kind, payload]), flush=True)


def worker(config: dict[str, Any]) -> None:
    """Run ops `config["ops"][config["start"]:]`, each in every pass, printing one line per event.

    A name that is no OpInfo (running on CPU in float32) is reported done with no samples.
    """
    sides = [load_side(*spec) for spec in config["sides"]]
    keys: list[str] = config["ops"]
    by_key: dict[str, Any] = {op_key(op): op for op in select_ops(None, None, names=[split_key(k)[0] for k in keys])}
    skip: dict[tuple[str, str, int], dict[str, str]] = {}
    for pass_, key, index, side, category in config["skip"]:
        skip.setdefault((pass_, key, index), {})[side] = category
    with warnings.catch_warnings(), quiet_torch_logs():
        warnings.simplefilter("ignore")
        for key in keys[config["start"]:]:
            for pass_ in config["passes"]:
                began = time.perf_counter()
                results, skipped = run_op(pass_, key, by_key.get(split_key(key)[0]), sides, config, skip)
                emit("done", [pass_, key, results, skipped, time.perf_counter() - began])


def run_op(pass_: str, key: str, op: Any, sides: Sequence[Side], config: dict[str, Any],
           skip: Mapping[tuple[str, str, int], Mapping[str, str]]) -> tuple[list[Any], int]:
    """(results as JSON data, samples skipped) of one op (or `OP@VARIANT`) in one pass, in a worker.

    A sample that the variant leaves unchanged is not run (nor counted).
    """
    results, skipped = [], 0
    variant = split_key(key)[1]
    torch.manual_seed(0)
    for index, sample in enumerate(samples_of(op, config["samples"])):
        def announce(side: str, index: int = index) -> None:
            emit("running", [pass_, key, index, side])

        args, changed = sample_args(sample, variant)
        if not changed:
            continue
        outcome = run_sample(key, index, op, args, sides, pass_ == "symbolic", config["timeout"],
                             skip.get((pass_, key, index), {}), announce)
        if outcome is None:
            skipped += 1
        else:
            results.append([outcome.index, outcome.outcomes, outcome.symbolic])
    return results, skipped


@dataclass(frozen=True)
class SideSpec:
    """Where a side's FakeTensorMode and ShapeEnv live: what a worker needs to load it."""

    name: str
    fake_module: str
    shapes_module: str
    python_dispatcher: bool = False


def record(run: Run, key: str, results: list[Any], skipped: int, seconds: float) -> None:
    """Add one op's results in one pass, as a worker sent them, to `run`."""
    run.eager_skipped += skipped
    run.seconds += seconds
    for index, outcomes, symbolic in results:
        run.results.append(SampleResult(key, index, {s: (o[0], o[1]) for s, o in outcomes.items()}, symbolic))
        run.ops.add(key)


def death(returncode: int) -> str:
    """The category of a sample whose run killed the worker."""
    if returncode < 0:
        return f"crashed:{signal.Signals(-returncode).name}"
    return f"crashed:exit {returncode}"


def run_worker(runs: dict[str, Run], config: dict[str, Any], progress: bool) -> tuple[int, list[Any] | None, str | None]:
    """One worker from `config["start"]`: (ops done in every pass, last sample started, why it died or None)."""
    command = [sys.executable, __file__, "--worker", json.dumps(config)]
    silence = 3 * config["timeout"] + 60
    done, running, why = 0, None, None
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as process:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while True:
                if not selector.select(timeout=silence):
                    process.kill()
                    why = "timeout"
                    break
                line = process.stdout.readline()
                if not line:
                    break
                if not line.startswith(TAG):
                    continue
                kind, payload = json.loads(line[len(TAG):])
                running = payload if kind == "running" else None
                if kind == "done":
                    pass_, key, *rest = payload
                    if key not in runs[pass_].recorded:  # a restarted worker repeats an op's earlier passes
                        runs[pass_].recorded.add(key)
                        record(runs[pass_], key, *rest)
                    done += pass_ == config["passes"][-1]
                    if progress:
                        print(f"\r[{config['start'] + done}/{len(config['ops'])}] {key:<40}", end="", file=sys.stderr, flush=True)
        returncode = process.wait()
    if why is None and returncode != 0:
        why = death(returncode)
    return done, running, why


def run(keys: Sequence[str], sides: Sequence[SideSpec], *, passes: Sequence[str] = PASSES, samples: int = 4,
        timeout: float = 20.0, progress: bool = False) -> list[Run]:
    """Every pass over the ops named `keys`, in worker processes; one Run per pass.

    When a worker dies (a crash, or no word for a long time), the sample and
    side it was running get the category "crashed:SIGNAL" or "timeout", and a
    new worker carries on from that op, skipping just that side on that sample.
    """
    runs = {p: Run(p == "symbolic", [s.name for s in sides]) for p in passes}
    config: dict[str, Any] = {"ops": list(keys), "start": 0, "skip": [], "passes": list(passes), "samples": samples,
                              "timeout": timeout, "sides": [[s.name, s.fake_module, s.shapes_module, s.python_dispatcher] for s in sides]}
    while config["start"] < len(keys):
        done, running, why = run_worker(runs, config, progress)
        config["start"] += done
        if why is None:
            break
        if running is None:  # died outside any sample: lose the op
            for r in runs.values():
                r.lost_ops.append(f"{keys[config['start']]} ({why})")
            config["start"] += 1
        else:
            config["skip"].append([*running, why])
    if progress:
        print(file=sys.stderr)
    return list(runs.values())


# ----------------------------------------------------------------------------
# Summaries


def matches(run: Run, side: str, ignore_strides: bool = False) -> int:
    accepted = {OK, "stride"} if ignore_strides else {OK}
    return sum(r.outcomes[side][0] in accepted for r in run.results)


def per_op(run: Run, side: str) -> dict[str, tuple[int, int]]:
    """op -> (samples matching, samples run) for one side."""
    counts: dict[str, tuple[int, int]] = {}
    for r in run.results:
        ok, total = counts.get(r.op, (0, 0))
        counts[r.op] = (ok + (r.outcomes[side][0] == OK), total + 1)
    return counts


def categories(run: Run, side: str) -> Counter[str]:
    return Counter(r.outcomes[side][0] for r in run.results if r.outcomes[side][0] != OK)


def regressions(run: Run, ours: str, theirs: str) -> dict[str, str]:
    """Ops where `ours` matches on fewer samples than `theirs`, with ours' first failure."""
    mine, other = per_op(run, ours), per_op(run, theirs)
    found = {}
    for op in sorted(mine):
        if mine[op][0] < other[op][0]:
            first = next(r for r in run.results if r.op == op and r.outcomes[ours][0] != OK and r.outcomes[theirs][0] == OK)
            category, detail = first.outcomes[ours]
            found[op] = f"sample {first.index}: {category}: {detail}"
    return found


def table_rows(run: Run) -> list[tuple[str, list[str]]]:
    """(label, one cell per side) rows of the summary table."""
    rows = [
        ("samples matching eager", [str(matches(run, s)) for s in run.sides]),
        ("  ignoring strides", [str(matches(run, s, ignore_strides=True)) for s in run.sides]),
        ("ops matching on every sample", [str(sum(ok == n for ok, n in per_op(run, s).values())) for s in run.sides]),
    ]
    rows.extend(variant_rows(run))
    if run.symbolic:
        rows.append(("samples with symbolic inputs", [str(sum(r.symbolic[s] for r in run.results)) for s in run.sides]))
    every = sorted(set().union(*(categories(run, s) for s in run.sides)), key=lambda c: (c.startswith("raised"), c))
    rows.extend((f"  fail: {c}", [str(categories(run, s)[c]) for s in run.sides]) for c in every)
    return rows


def variant_rows(run: Run) -> list[tuple[str, list[str]]]:
    """Per layout variant (when any ran): samples matching eager / samples run, per side."""
    variants = sorted({v for r in run.results if (v := split_key(r.op)[1]) is not None})
    if not variants:
        return []
    rows = []
    for variant in [None, *variants]:
        chosen = [r for r in run.results if split_key(r.op)[1] == variant]
        cells = [f"{sum(r.outcomes[s][0] == OK for r in chosen)}/{len(chosen)}" for s in run.sides]
        rows.append((f"  layout {variant or 'as sampled'}: matching/run", cells))
    return rows


def print_text(run: Run, verbose: bool) -> None:
    mode = "symbolic (ShapeEnv)" if run.symbolic else "static"
    print(f"\n== {mode}: {len(run.ops)} ops, {len(run.results)} samples "
          f"({run.eager_skipped} skipped: eager raised), {run.seconds:.1f} s")
    if run.lost_ops:
        print(f"ops lost (the worker died outside any sample): {', '.join(run.lost_ops)}")
    print(f"{'':44}" + "".join(f"{s:>10}" for s in run.sides))
    for label, cells in table_rows(run):
        print(f"{label:44}" + "".join(f"{c:>10}" for c in cells))
    if len(run.sides) == 2:
        first, second = run.sides
        for a, b in ((second, first), (first, second)):
            worse = regressions(run, a, b)
            print(f"\n{a} fails where {b} passes ({len(worse)} ops):")
            for op, why in worse.items():
                print(f"  {op}: {why}")
    if verbose:
        for r in run.results:
            for s in run.sides:
                if r.outcomes[s][0] != OK:
                    print(f"  [{s}] {r.op} #{r.index}: {r.outcomes[s][0]}: {r.outcomes[s][1]}")


def print_markdown(runs: Sequence[Run]) -> None:
    for run in runs:
        mode = "with a ShapeEnv (hints substituted)" if run.symbolic else "static"
        print(f"\n{mode}: {len(run.ops)} ops, {len(run.results)} samples, {run.seconds:.0f} s\n")
        print("| | " + " | ".join(run.sides) + " |")
        print("|---|" + "---:|" * len(run.sides))
        for label, cells in table_rows(run):
            print(f"| {label.strip()} | " + " | ".join(cells) + " |")


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--ops", help="regex over op names (name.variant)")
    parser.add_argument("--limit", type=int, help="at most N ops")
    parser.add_argument("--samples", type=int, default=4, help="samples per op (default 4)")
    parser.add_argument("--symbolic", action="store_true", help="also run the pass with a ShapeEnv")
    parser.add_argument("--variants", action="store_true",
                        help="also run each sample channels-last, transposed and sliced (OP@VARIANT)")
    parser.add_argument("--markdown", action="store_true", help="print the README table")
    parser.add_argument("--verbose", action="store_true", help="print every failing sample")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per sample per side")
    parser.add_argument("--ours", default=OURS_FAKE, help="module holding our FakeTensorMode")
    parser.add_argument("--ours-shapes", default=OURS_SHAPES, help="module holding our ShapeEnv")
    parser.add_argument("--ours-under-python-dispatcher", action="store_true",
                        help="run ours under enable_python_dispatcher() in the symbolic pass, as torch's side is")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    if args.worker:
        return worker(json.loads(args.worker))
    sides = [SideSpec("torch", TORCH_FAKE, TORCH_SHAPES, python_dispatcher=True)]
    try:
        load_side("ours", args.ours, args.ours_shapes)
        sides.append(SideSpec("ours", args.ours, args.ours_shapes, args.ours_under_python_dispatcher))
    except (ImportError, AttributeError) as error:
        print(f"ours ({args.ours}, {args.ours_shapes}) unavailable, torch only: {error}", file=sys.stderr)
    keys = [op_key(op) for op in select_ops(args.ops, args.limit)]
    if args.variants:
        keys = variant_keys(keys, list(VARIANTS))
    began = time.perf_counter()
    passes = PASSES if args.symbolic else PASSES[:1]
    runs = run(keys, sides, passes=passes, samples=args.samples, timeout=args.timeout, progress=sys.stderr.isatty())
    for r in runs:
        print_text(r, args.verbose)
    if args.markdown:
        print_markdown(runs)
    print(f"\ntotal {time.perf_counter() - began:.1f} s (wall clock, with the workers' start-up)")


if __name__ == "__main__":
    main()
