"""Guards and runtime asserts: recorded, built, checked and printed here.

A *guard* is a condition on backed symbols that held for the example inputs
and that the trace depends on; new inputs must satisfy every guard to reuse
the trace.  A *runtime assert* is a condition on unbacked symbols the user
promised with ``torch._check``; it can only be checked when the program runs.

``GuardLog`` keeps two views of the same decisions:

    decisions      one entry per decision taken while evaluating, in order:
                   ``ShapeEnv.guards``, as torch's ShapeEnv.guards
    input guards   the minimal merged set over the inputs' sources (sizes,
                   strides, offsets, bounds once per symbol, decisions not
                   implied by the rest): ``ShapeEnv.input_guards()``, what
                   ``check_guards`` evaluates and ``format_guards`` prints

Each guard carries its provenance: the user's ``file:line`` (the first frame
outside our packages, torch, sympy and the standard library, decided by their
real locations on disk) and, when different, the framework frame that asked
(e.g. torch's reshape reference).
"""

from __future__ import annotations

import math
import os
import re
import sys
import sysconfig
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from types import CodeType, FrameType
from typing import NamedTuple

import sympy
import torch

from ._expr import Expr
from ._errors import GuardSourceError
from ._knowledge import Knowledge
from ._ranges import ValueRanges, bound
from ._source import python_source


def _real_dir(path: str) -> str:
    return os.path.join(os.path.dirname(os.path.realpath(path)), "")


_TORCH, _SYMPY = _real_dir(torch.__file__), _real_dir(sympy.__file__)
_STDLIB = os.path.join(os.path.realpath(sysconfig.get_paths()["stdlib"]), "")
_SITE = tuple({os.path.join(os.path.realpath(sysconfig.get_paths()[k]), "") for k in ("purelib", "platlib")})
_PLUMBING_FILES = frozenset(
    os.path.join(_TORCH, *parts)
    for parts in (("__init__.py",), ("fx", "experimental", "symbolic_shapes.py"), ("fx", "experimental", "sym_node.py"))
)
_internal_cache: dict[str, bool] = {}
_plumbing_cache: dict[str, bool] = {}


def _our_dirs() -> tuple[str, ...]:
    """The real directory of each torchshade package imported so far (``torchshade.shapes``, ...).

    Only packages' own directories count: a user's folder that happens to be
    called ``torchshade`` (a clone of this repository, a project of theirs) is
    user code.  A frame of one of our packages runs only once it is imported.
    """
    return tuple(
        _real_dir(file)
        for name, module in list(sys.modules.items())
        if name.startswith("torchshade.") and name.count(".") == 1
        and isinstance(file := getattr(module, "__file__", None), str)
    )  # fmt: skip


def is_library_file(filename: str) -> bool:
    """True for code of our packages, torch, sympy and the standard library, by real
    location on disk (never by a name inside the path); False for the user's code."""
    found = _internal_cache.get(filename)
    if found is None:
        real = os.path.realpath(filename)
        found = (
            filename.startswith("<frozen")
            or real.startswith((_TORCH, _SYMPY, *_our_dirs()))
            or (real.startswith(_STDLIB) and not real.startswith(_SITE))
        )
        _internal_cache[filename] = found
    return found


def _is_plumbing(filename: str) -> bool:
    """Frames of SymInt magic methods and helpers: never the interesting framework line."""
    found = _plumbing_cache.get(filename)
    if found is None:
        real = os.path.realpath(filename)
        found = real in _PLUMBING_FILES or real.startswith((_SYMPY, *_our_dirs()))
        _plumbing_cache[filename] = found
    return found


def _short(filename: str) -> str:
    """``torch/_refs/__init__.py`` for a file of torch (likewise sympy, the stdlib); else as is."""
    real = os.path.realpath(filename)
    for root in (_TORCH, _SYMPY, _STDLIB):
        if real.startswith(root):
            return os.path.relpath(real, os.path.dirname(root.rstrip(os.sep)) if root != _STDLIB else root)
    return filename


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a guard was asked for: the user's line and the framework line that asked."""

    file: str
    line: int
    function: str
    framework: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line} in {self.function}"
        return f"{where} (via {self.framework})" if self.framework else where

    @staticmethod
    def capture() -> Provenance:
        """The innermost user frame on the current Python stack."""
        frame: FrameType | None = sys._getframe(1)
        framework = ""
        while frame is not None:
            name = frame.f_code.co_filename
            if not is_library_file(name):
                return Provenance(name, frame.f_lineno, frame.f_code.co_name, framework)
            if not framework and not _is_plumbing(name):
                framework = f"{_short(name)}:{frame.f_lineno} in {frame.f_code.co_name}"
            frame = frame.f_back
        return Provenance("<unknown>", 0, "<unknown>", framework)


@dataclass(frozen=True)
class Guard:
    """One guard as data: the sympy condition, its text, Python source and origin.

    ``kind`` says what the guard pins: ``"decision"`` (a branch the program
    took), ``"equality"`` (two sizes must be equal, or a size a constant: a
    replacement), ``"divisible"``, ``"bound"`` (a symbol's range).  Guards
    made when an input is converted (input guards only) are ``"static"`` (a
    size or offset that is a constant), ``"duck"`` (two sizes share one
    symbol), ``"dim"`` (a size is a ``Dim`` expression such as ``2*batch``)
    or ``"layout"`` (a stride is a product of sizes).
    """

    expr: Expr
    text: str
    python: str
    origin: Provenance
    kind: str

    def __str__(self) -> str:
        if self.text == self.python:  # an input's own guard reads the same both ways: once
            return f"{self.python}  # from {self.origin}"
        return f"{self.python}  # {self.text}, from {self.origin}"


@dataclass(frozen=True)
class RuntimeAssert:
    """A condition on unbacked symbols promised by ``torch._check``, checked at run time."""

    expr: Expr
    text: str
    origin: Provenance

    def __str__(self) -> str:
        return f"{self.text}  # from {self.origin}"


@dataclass(frozen=True)
class GuardFailure:
    """A guard that new inputs violate, with the values it saw."""

    guard: Guard
    values: dict[str, object] = field(default_factory=dict)

    def __str__(self) -> str:
        seen = ", ".join(f"{k} = {v!r}" for k, v in self.values.items())
        return (
            f"guard `{self.guard.python}` ({self.guard.text}) failed"
            f"{' with ' + seen if seen else ''}; it comes from {self.guard.origin}"
        )


@dataclass(frozen=True, slots=True)
class GuardRecord:
    """A guard as recorded during tracing; turned into ``Guard`` lazily.

    ``sources`` is set for an input's own equality (``x.stride()[0] == s1``):
    the source whose value ``expr`` gives.
    """

    expr: Expr
    origin: Provenance
    kind: str
    sources: tuple[str, ...] = ()


class LogMark(NamedTuple):
    decisions: int
    needed: int
    asserts: int
    range_origin: dict[Expr, Provenance | None]


class LogChanges(NamedTuple):
    decisions: tuple[GuardRecord, ...]
    needed: tuple[GuardRecord, ...]
    asserts: tuple[RuntimeAssert, ...]
    range_origin: tuple[tuple[Expr, Provenance | None], ...]


def decision_kind(learned_kinds: Collection[str]) -> str:
    """The kind of a decision's guard from what was learned from it (see ``Guard``)."""
    if "replacement" in learned_kinds:
        return "equality"
    if "divisible" in learned_kinds:
        return "divisible"
    if learned_kinds and all(k == "range" for k in learned_kinds):
        return "bound"
    return "decision"


class GuardLog:
    """Every guard and runtime assert of one ShapeEnv: recorded, built, checked.

    ``decisions`` has one record per decision, in order; ``needed`` the parts
    of the decisions that the input guards keep (a decision that only narrowed
    a range is printed once per symbol as a bound instead) and the equalities
    each converted input brings; ``range_origin`` where each range was narrowed.
    """

    def __init__(self) -> None:
        self.decisions: list[GuardRecord] = []
        self.needed: list[GuardRecord] = []
        self.asserts: list[RuntimeAssert] = []
        self.range_origin: dict[Expr, Provenance | None] = {}
        self.version = 0
        self._decision_guards: list[Guard] = []
        self._built: tuple[tuple[int, int], list[Guard]] | None = None
        self._all_code: tuple[list[Guard], CodeType, CodeType] | None = None
        self._compiled: dict[str, CodeType] = {}
        self._reads: dict[str, list[tuple[str, CodeType]]] = {}

    # -- record ----------------------------------------------------------------
    def record_decision(self, fact: Expr, origin: Provenance, kind: str) -> None:
        self.decisions.append(GuardRecord(fact, origin, kind))
        self.version += 1

    def record_needed(self, fact: Expr, origin: Provenance, kind: str) -> None:
        self.needed.append(GuardRecord(fact, origin, kind))
        self.version += 1

    def record_input(self, source: str, expr: Expr, origin: Provenance, kind: str) -> None:
        """An input's own equality: ``source`` (``x.stride()[0]``) must equal ``expr``."""
        self.needed.append(GuardRecord(expr, origin, kind, (source,)))
        self.version += 1

    # -- changes, for sharing work between ShapeEnvs -------------------------------
    def mark(self) -> LogMark:
        """Where the log stands now (for ``since``)."""
        return LogMark(len(self.decisions), len(self.needed), len(self.asserts), dict(self.range_origin))

    def since(self, mark: LogMark) -> LogChanges:
        """What was logged after ``mark``: the new records, and the symbols whose
        range origin was set, in order."""
        before = mark.range_origin
        origins = tuple((s, o) for s, o in self.range_origin.items() if s not in before or before[s] is not o)
        return LogChanges(tuple(self.decisions[mark.decisions:]), tuple(self.needed[mark.needed:]),
                          tuple(self.asserts[mark.asserts:]), origins)  # fmt: skip

    def replay(self, changes: LogChanges) -> None:
        """Log ``changes`` (another env's, made from the same state) again, as made
        here and now: at the caller's user line, with the framework line they had."""
        if not (changes.decisions or changes.needed or changes.asserts or changes.range_origin):
            return
        here = Provenance.capture()

        def at(origin: Provenance) -> Provenance:
            return Provenance(here.file, here.line, here.function, origin.framework)

        self.decisions += [replace(r, origin=at(r.origin)) for r in changes.decisions]
        self.needed += [replace(r, origin=at(r.origin)) for r in changes.needed]
        self.asserts += [replace(a, origin=at(a.origin)) for a in changes.asserts]
        for symbol, origin in changes.range_origin:
            self.range_origin[symbol] = None if origin is None else at(origin)
        self.version += 1

    # -- build -----------------------------------------------------------------
    def decision_guards(self, names: Mapping[Expr, str]) -> list[Guard]:
        """One ``Guard`` per decision, in order (built once each, as they come)."""
        built = self._decision_guards
        for r in self.decisions[len(built) :]:
            built.append(Guard(r.expr, str(r.expr), python_source(r.expr, names), r.origin, r.kind))
        return list(built)

    def input_guards(self, knowledge: Knowledge, hints: Collection[Expr],
                     names_of: Callable[[], Mapping[Expr, str]]) -> list[Guard]:  # fmt: skip
        """The minimal merged set: input equalities, needed decisions, one bound per symbol
        (built again only when a guard or the knowledge changed)."""
        key = (self.version, knowledge.version)
        if self._built is not None and self._built[0] == key:
            return self._built[1]
        names = names_of()
        guards = [g for r in self.needed if (g := _input_guard(r, knowledge, names)) is not None]
        guards += _bound_guards(knowledge, hints, self.range_origin, names)
        self._built = (key, guards)
        return guards

    # -- check -----------------------------------------------------------------
    def check(self, guards: list[Guard], inputs: Mapping[str, object],
              names: Callable[[], Mapping[Expr, str]]) -> list[GuardFailure]:  # fmt: skip
        """The guards that ``inputs`` (values by source root name) violate; [] when all hold.

        ``names`` gives each symbol's source, to show the values a failed guard saw.
        """
        if self._all_code is None or self._all_code[0] is not guards:
            both = " and ".join(f"({g.python})" for g in guards) or "True"
            each = "(" + "".join(f"({g.python}), " for g in guards) + ")"
            self._all_code = (guards, compile(both, "<guards>", "eval"), compile(each, "<guards>", "eval"))
        namespace: dict[str, object] = {"math": math, **inputs}
        try:  # every guard in one compiled ``and``; then, if one fails, all in one tuple
            if eval(self._all_code[1], dict(namespace)):  # noqa: S307 - our own source
                return []
            held = eval(self._all_code[2], dict(namespace))  # noqa: S307 - our own source
            failed = [g for g, ok in zip(guards, held, strict=True) if not ok]
        except (ArithmeticError, NameError, AttributeError, IndexError, TypeError):
            # one guard by one: a // 0 fails only its guard; a missing input is named
            failed = [g for g in guards if not self._holds(g, namespace)]
        return [GuardFailure(g, self._values_read(g, names, namespace)) for g in failed]

    def _values_read(self, g: Guard, names: Callable[[], Mapping[Expr, str]],
                     namespace: dict[str, object]) -> dict[str, object]:  # fmt: skip
        """The value of each source ``g`` reads (an input's own guard reads its source too)."""
        reads = self._reads.get(g.python)
        if reads is None:
            symbol_names = names()
            sources = sorted({symbol_names.get(s, s.name) for s in g.expr.free_symbols})
            reads = self._reads[g.python] = [(s, compile(s, "<source>", "eval")) for s in sources if s in g.python]
        values: dict[str, object] = {}
        for source, code in reads:
            try:
                values[source] = eval(code, namespace)  # noqa: S307 - a source string we created
            except Exception:  # noqa: BLE001 - a value we cannot show is left out of the message
                continue
        return values

    def _holds(self, g: Guard, namespace: dict[str, object]) -> bool:
        code = self._compiled.get(g.python)
        if code is None:
            code = self._compiled[g.python] = compile(g.python, "<guard>", "eval")
        try:
            return bool(eval(code, namespace))  # noqa: S307 - our own generated source over sources
        except ArithmeticError:  # a guard that cannot even be computed (a // 0) does not hold
            return False
        except (NameError, AttributeError, IndexError, TypeError) as e:
            given = sorted(k for k in namespace if k != "math" and not k.startswith("__"))
            raise GuardSourceError(
                f"cannot evaluate guard `{g.python}` (from {g.origin}) on the inputs given: "
                f"{type(e).__name__}: {e}. Pass every input by the name it was created with, "
                f"e.g. check_guards({{'x': x}}); got names {given}."
            ) from e


def guards_function(name: str, guards: list[Guard], sources: Collection[str]) -> str:
    """Python source of a function over the inputs that ``sources`` read, returning True
    when every guard holds; one guard a line, with its provenance."""
    roots = sorted({source_root(s) for s in sources})
    lines = [f"def {name}({', '.join(roots)}):", "    import math", "", "    return all(("]
    lines += [f"        {g.python},  # {g.origin}" for g in guards]
    lines.append("    ))")
    return "\n".join(lines) + "\n"


def source_root(source: str) -> str:
    """The input a source reads: ``x`` for ``x.size()[0]`` and for ``(x.size()[0] // 2)``."""
    found = re.match(r"[A-Za-z_]\w*", source.lstrip("("))
    return found.group(0) if found else source


def _input_guard(r: GuardRecord, k: Knowledge, names: Mapping[Expr, str]) -> Guard | None:
    if r.sources:
        (source,) = r.sources
        python = f"{source} == {python_source(r.expr, names)}"
        return Guard(sympy.Eq(sympy.Symbol(source), r.expr), f"{source} == {r.expr}", python, r.origin, r.kind)
    if r.kind == "decision" and bound(k.simplify(r.expr), k.ranges, k.default_range) == ValueRanges(1, 1):
        return None  # implied by the ranges, replacements and divisibility alone
    return Guard(r.expr, str(r.expr), python_source(r.expr, names), r.origin, r.kind)


def _bound_guards(k: Knowledge, hints: Collection[Expr], range_origin: Mapping[Expr, Provenance | None],
                  names: Mapping[Expr, str]) -> list[Guard]:  # fmt: skip
    out: list[Guard] = []
    for symbol, r in k.ranges.items():
        if symbol not in hints or r == k.default_range(symbol):
            continue
        replaced = k.replacements.get(symbol)
        if replaced is not None and _within(k.bound(replaced), r):
            continue
        origin = range_origin.get(symbol) or Provenance("<unknown>", 0, "<unknown>")
        expr = _range_expr(symbol, r, k.default_range(symbol))
        text, python = str(expr), python_source(expr, names)
        if isinstance(expr, sympy.And):  # both ends: write it as Python's chained comparison
            text = f"{int(r.lower)} <= {symbol} <= {int(r.upper)}"
            python = f"{int(r.lower)} <= {names.get(symbol, str(symbol))} <= {int(r.upper)}"
        out.append(Guard(expr, text, python, origin, "bound"))
    return out


def _within(inner: ValueRanges, outer: ValueRanges) -> bool:
    return outer.lower <= inner.lower and inner.upper <= outer.upper


def _range_expr(symbol: Expr, r: ValueRanges, default: ValueRanges) -> Expr:
    parts = []
    if r.lower > default.lower:
        parts.append(sympy.Le(int(r.lower), symbol))
    if r.upper < default.upper:
        parts.append(sympy.Le(symbol, int(r.upper)))
    return sympy.And(*parts)
