"""The dispatch cache: op + argument metadata + context -> output metadata.

The cache is an optimization only: a hit must give exactly what running the
kernel would give. So a key holds everything that decides an output:

* the op, and the *registration stamp*: a counter that moves whenever
  torch's kernel tables change (``torch.library`` registrations, the
  decomposition and Python meta tables). A kernel or decomposition
  registered after an op's first call is then used: older entries become
  unreachable and the per-op plan table of ``_kernel.py`` is emptied;
* the context: default dtype and device, inference mode, whether the
  Python dispatcher is on, how many other dispatch modes are on the stack
  (one there would see the ops a kernel runs, which a hit skips; in
  practice none is, as each mode leaves the stack while it handles an op),
  whether a tracer records SymNode operations
  (``torchshade.shapes.sym_op_tracing``; the tracer writes a SymInt that a
  hit hands out as an expression of its symbols); with a ShapeEnv, whether
  its guards are suppressed and its settings, and, in an env with unbacked
  symbols (or 0 and 1 left symbolic), the knowledge's version: there a
  kernel answers some questions without recording a guard (``guard_or_false``
  on ``u0``), and a fact learned later (``torch._check(u0 == 1)``) changes
  that answer, which no replayed guard would catch;
* for each tensor argument what a kernel can see of it: dtype, fake device,
  sizes, strides, offset, the size of its storage in bytes, the conj and neg
  bits and ``requires_grad`` (symbolic values by their sympy expression,
  which hashes structurally);
* plain values with their type, so ``1``, ``1.0`` and ``True`` differ.

An entry describes each output as "argument i itself" (in-place ops), "a
view of argument i's storage" (rebuilt with ``set_`` on that storage, so
aliasing is exact; the storage size in the key means a rebuilt view always
fits, and never grows an input's storage) or "a fresh tensor" (rebuilt with
``empty_strided``; a symbolic one as a flat tensor, see below), with its
conj and neg bits. Hits return fresh tensor objects, never a cached one.

An entry also keeps the guards and runtime asserts its miss recorded, and a
hit decides them again: a guard already known costs one lookup, and one the
ShapeEnv no longer holds is recorded again, at the user's current line.

Never cached: ops outside aten/prims (custom ops may have side effects),
data-dependent ops, ops that change metadata in place or write ``out=``,
and any call that made an unbacked symbol or ran a fallback kernel.

Where entries live: a static mode's entries depend on the key alone, so
static modes share one process-wide table until ``cache_clear()`` gives a
mode an empty table of its own (other modes keep theirs). A mode with a
ShapeEnv has its own table, since its entries name that env's symbols.

Symbolic entries are also shared between ShapeEnvs, in a second
process-wide table keyed on the key *and the knowledge's state*
(``Knowledge.state_key``: the same history of learned facts from symbols
with the same hints, hence the same answer to every question a kernel can
ask). Such an entry holds its outputs as expressions and hints, and what
the miss changed: the knowledge's events (``Knowledge.replay`` takes
another env to the same state, which is checked) and the guard log's new
records (recorded again at the user's current line). A program traced
twice in one process, each time with a new ShapeEnv, runs its kernels
once. Envs with size-like unbacked symbols do not share (what
``guard_size_oblivious`` answers depends on them), nor envs that leave sizes
0 and 1 symbolic (see ``_state_key``).

Symbolic views are rebuilt with the C++ ``as_strided`` meta kernel rather
than ``set_``, whose symbolic storage-bounds check costs milliseconds. A
fresh symbolic output laid out as ``torch.empty(shape)`` lays it out is
rebuilt with ``empty``, which also marks it contiguous (``is_contiguous()``
then costs nothing; worked out from the strides it takes about a hundred
SymNode calls). Any other fresh symbolic output is rebuilt as a flat tensor
of its storage's element count, seen through ``as_strided`` with the
output's sizes and strides: its storage size is the miss's, expression for
expression (checked at the miss), and C++ derives far fewer values through
SymNode calls than for ``empty_strided`` (each call crosses from C++ into
Python: the hot spot of symbolic hits).
``_crosscheck.py`` recomputes every hit when crosscheck mode is on.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias, cast

import torch
from torchshade.shapes._tracing import ACTIVE as _SYM_OP_TRACERS

from . import _torch_private as private
from . import _kernel
from ._crosscheck import example_value
from ._kernel import call_view_kernel
from ._tensor import FakeTensor

if TYPE_CHECKING:
    from ._mode import FakeTensorMode

_META = torch.device("meta")
_AS_STRIDED = torch.ops.aten.as_strided.default
_SYM_TYPES = (torch.SymInt, torch.SymFloat, torch.SymBool)
_PLAIN_TYPES = (torch.dtype, torch.device, torch.layout, torch.memory_format, str, type(None))
_NEVER = frozenset(
    {torch.Tag.dynamic_output_shape, torch.Tag.data_dependent_output, torch.Tag.inplace_view}
)
_MAX_ENTRIES = 200_000
_PYTHON_DISPATCHER = private.DispatchKey.PythonDispatcher
_STRIDED = torch.strided
# Read on every dispatch: bound once (each is a C function).
_default_dtype = torch.get_default_dtype
_default_device = private.get_default_device
_inference_mode = torch.is_inference_mode_enabled
_tls_included = private.dispatch_tls_is_dispatch_key_included
_modes_on_stack = private.len_torch_dispatch_stack
# The tables whose sizes make the registration stamp (each mutated in place).
_TABLES = (private.decomposition_table, private.meta_table, torch.library._impls)


class CacheInfo(NamedTuple):
    """Counts of the dispatch cache (``mode.cache_info()``)."""

    hits: int
    misses: int
    bypasses: int
    size: int


class Uncacheable(Exception):
    """Raised while building a key or an entry: this call is not cached."""


# -- the registration stamp ---------------------------------------------------


class _Registrations:
    """The sizes of torch's kernel tables when last looked at, and a counter."""

    sizes: tuple[int, ...] = ()
    stamp = 0


def registration_stamp() -> int:
    """A number that changes whenever a kernel or decomposition is (de)registered.

    Compared on every dispatch (three ``len`` calls). When it moves, the
    plans chosen per op are forgotten, and keys made from then on differ
    from every older one.
    """
    decompositions, metas, impls = _TABLES
    sizes = (len(decompositions), len(metas), len(impls))
    if sizes != _Registrations.sizes:
        _Registrations.sizes = sizes
        _Registrations.stamp += 1
        _kernel._PLANS.clear()
    return _Registrations.stamp


# -- keys ---------------------------------------------------------------------


def _sym_key(value: object) -> Hashable:
    if isinstance(value, _SYM_TYPES):
        return (type(value), value.node.expr)
    assert isinstance(value, Hashable)  # ints of a Size
    return value


def tensor_key(t: torch.Tensor) -> Hashable:
    """What a kernel sees of ``t``."""
    if not isinstance(t, FakeTensor) or t.layout != _STRIDED:
        raise Uncacheable
    nbytes: Hashable = t.untyped_storage().nbytes()
    if type(nbytes) is not int:  # a static view may sit on a storage of symbolic size
        nbytes = _sym_key(nbytes)
    if t._has_symbolic_sizes_strides:  # _sym_key inlined: a symbolic op keys several tensors
        sizes = cast("tuple[int | torch.SymInt, ...]", t.shape)
        strides = cast("tuple[int | torch.SymInt, ...]", t.stride())
        shape = tuple([s if isinstance(s, int) else (type(s), s.node.expr) for s in sizes])
        stride = tuple([s if isinstance(s, int) else (type(s), s.node.expr) for s in strides])
        offset = _sym_key(t.storage_offset())
    else:
        shape, stride, offset = t.shape, t.stride(), t.storage_offset()
    dtype = t.dtype
    # The conj bit exists on complex tensors only; the neg bit on any (x.conj().imag).
    bits = (t.is_conj(), t.is_neg()) if dtype.is_complex else t.is_neg()
    return (dtype, t.fake_device, shape, stride, offset, nbytes, bits, t.requires_grad)


def value_key(value: object) -> Hashable:
    """A hashable key for one argument, distinguishing 1, 1.0 and True."""
    if isinstance(value, torch.Tensor):
        return tensor_key(value)
    if isinstance(value, (bool, int, float, complex)):
        return (type(value), value)
    if isinstance(value, _PLAIN_TYPES):
        return value
    if isinstance(value, (list, tuple)):
        return (type(value), tuple([value_key(v) for v in value]))
    if isinstance(value, _SYM_TYPES):
        return _sym_key(value)
    raise Uncacheable


def context_key(shape_env: Any) -> Hashable:
    """What decides an output besides the op and its arguments."""
    settings = None
    if shape_env is not None:
        settings = (
            shape_env.suppressed > 0,
            shape_env.allow_dynamic_output_shape_ops,
            shape_env.allow_scalar_outputs,
            _unsettled_version(shape_env),
        )
    return (
        _default_dtype(),
        _default_device(),
        _inference_mode(),
        _tls_included(_PYTHON_DISPATCHER),
        _modes_on_stack(),
        bool(_SYM_OP_TRACERS),
        settings,
    )


def _unsettled_version(shape_env: Any) -> int | None:
    """The knowledge's version in an env whose kernels may answer without recording, else None.

    A kernel asks ``guard_or_false`` / ``guard_or_true`` / size-oblivious questions.
    About a symbol with no hint (unbacked), an undecided one gets the fallback and
    records no guard, so a hit cannot replay it: after ``torch._check(u0 == 1)``,
    ``squeeze(0)`` of an ``[u0, 3]`` tensor drops the dimension, where the entry
    stored before the check keeps it. The same holds for size-oblivious answers
    that a hint of 0 or 1 contradicts, which only ``specialize_zero_one=False``
    leaves symbolic. Such envs key entries on what they know (the version moves
    with every fact learned), so an entry is only read under the knowledge that
    made it. Envs of backed symbols with 0 and 1 specialized share entries across
    versions: there an unrecorded answer is a size-oblivious or static one that every
    size the hints allow agrees with, and facts are checked against the hints (the
    seeded programs of ``test_fake_cache_facts.py`` find no hit there that a later
    fact changes).
    """
    if shape_env.unbacked.symbols or not shape_env.specialize_zero_one:
        version: int = shape_env.knowledge.version
        return version
    return None


def is_cacheable_op(func: torch._ops.OpOverload) -> bool:
    """Whether calls of ``func`` may ever be cached (see the module docstring)."""
    if func.namespace not in ("aten", "prims") or _NEVER.intersection(func.tags):
        return False
    schema = func._schema
    if not schema.is_mutable:
        return True
    name = schema.name.split("::")[-1]
    in_place = name.endswith("_") and not name.startswith("_")
    writes_out = any(a.is_out for a in schema.arguments)
    return in_place and not writes_out and name not in ("resize_", "resize_as_", "set_")


# -- entries ------------------------------------------------------------------


SizeValue: TypeAlias = "int | torch.SymInt | _SymValue"  # _SymValue only in shared entries


@dataclass(frozen=True)
class OutputSpec:
    """How to rebuild one output tensor."""

    arg: int | None  # the output *is* tensor argument `arg` (in-place ops)
    view_of: int | None  # the output shares tensor argument `view_of`'s storage
    dtype: torch.dtype
    device: torch.device
    shape: tuple[SizeValue, ...]
    stride: tuple[SizeValue, ...]
    offset: SizeValue
    conj: bool = False
    neg: bool = False
    symbolic: bool = False
    # Fresh, and laid out as torch.empty(shape) lays it out, expression for expression
    # (strides and storage size): rebuilt with empty, about half empty_strided's cost
    # when sizes are symbolic (C++ derives fewer values through SymNode calls), and
    # known contiguous by construction, as the kernel's output was.
    as_empty: bool = False
    # Fresh, symbolic, not as_empty: how many elements its storage holds, when a flat
    # tensor of that many has the same storage size, expression for expression. Rebuilt
    # as that flat tensor through as_strided (about 20 us where empty_strided takes 50).
    storage_elems: SizeValue | None = None


@dataclass(frozen=True)
class Decisions:
    """The guards (facts) and runtime asserts (expressions) one miss recorded.

    For sharing between ShapeEnvs (``shared`` is None when not shared): the
    state before the miss, the knowledge events and guard-log changes it
    made, and the state after.
    """

    guards: tuple[Any, ...] = ()
    asserts: tuple[Any, ...] = ()
    shared: SharedChanges | None = None


@dataclass(frozen=True)
class SharedChanges:
    before: Hashable
    events: tuple[Any, ...]
    log: Any
    after: Hashable


_NO_DECISIONS = Decisions()


@dataclass(frozen=True)
class _SymValue:
    """A symbolic output value of a shared entry: its expression, hint and type."""

    expr: Any
    hint: Any
    pytype: type


@dataclass(frozen=True)
class Entry:
    """One cached call: how to rebuild its outputs, and what it decided."""

    outputs: object  # an OutputSpec, a _Value or (list / tuple type, items)
    decisions: Decisions


def output_spec(out: torch.Tensor, tensors: Sequence[torch.Tensor], storages: Sequence[int]) -> OutputSpec:
    """Describe ``out`` relative to the op's tensor arguments."""
    if not isinstance(out, FakeTensor) or out.layout != torch.strided:
        raise Uncacheable
    for index, t in enumerate(tensors):
        if out is t:
            return OutputSpec(index, None, out.dtype, out.fake_device, (), (), 0)
    storage = out.untyped_storage()._cdata
    view_of = storages.index(storage) if storage in storages else None
    offset = out.storage_offset()
    if view_of is None and (offset != 0 or not _storage_is_exact(out)):
        raise Uncacheable
    symbolic = out._has_symbolic_sizes_strides
    as_empty = symbolic and view_of is None and _laid_out_as_empty(out)
    elems = _flat_storage_elems(out) if symbolic and view_of is None and not as_empty else None
    return OutputSpec(
        None, view_of, out.dtype, out.fake_device, tuple(out.shape), tuple(out.stride()), offset,
        out.is_conj(), out.is_neg(), symbolic, as_empty, elems,
    )


def _laid_out_as_empty(t: torch.Tensor) -> bool:
    """Whether ``torch.empty(t.shape)`` gives ``t``'s strides, as the same expressions
    (compared structurally: no guard is asked), and its storage size: the same
    expression, or the same example value when both have one (kernels write a
    contiguous storage size as ``numel * itemsize`` or as a sum over strides)."""
    with private.DisableTorchDispatch():
        probe = torch.empty(t.shape, dtype=t.dtype, device=_META)
    if [_sym_key(s) for s in probe.stride()] != [_sym_key(s) for s in t.stride()]:
        return False
    mine, theirs = probe.untyped_storage().nbytes(), t.untyped_storage().nbytes()
    return _sym_key(mine) == _sym_key(theirs) or example_value(mine) == example_value(theirs)


def _flat_storage_elems(t: torch.Tensor) -> int | torch.SymInt | None:
    """How many elements ``t``'s storage holds, when a flat tensor of that many has
    ``t``'s storage size as the same expression (checked on a probe; structural, so
    no guard is asked); else None."""
    nbytes = t.untyped_storage().nbytes()
    itemsize = t.element_size()
    elems = nbytes // itemsize  # symbolic: a FloorDiv, exact when the division is
    if isinstance(elems, torch.SymInt) and not (elems >= 0).node.statically_known_true("", 0):
        return None  # empty would check elems >= 0, and may record that, on every hit
    with private.DisableTorchDispatch():
        probe = torch.empty((elems,), dtype=t.dtype, device=_META)
    return elems if _sym_key(probe.untyped_storage().nbytes()) == _sym_key(nbytes) else None


def _storage_is_exact(t: torch.Tensor) -> bool:
    """Whether ``empty_strided`` would allocate exactly ``t``'s storage."""
    if t._has_symbolic_sizes_strides:
        return True
    needed = 0 if t.numel() == 0 else 1 + sum((s - 1) * st for s, st in zip(t.shape, t.stride()))
    return needed * t.element_size() == t.untyped_storage().nbytes()


def rebuild(mode: FakeTensorMode, spec: OutputSpec, tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """A new output tensor described by ``spec``."""
    if spec.arg is not None:
        return tensors[spec.arg]
    # A spec in a mode's table holds no _SymValue (shared entries are localized first).
    shape = cast("tuple[int | torch.SymInt, ...]", spec.shape)
    stride = cast("tuple[int | torch.SymInt, ...]", spec.stride)
    offset = cast("int | torch.SymInt", spec.offset)
    if spec.view_of is not None and spec.symbolic and spec.dtype == tensors[spec.view_of].dtype:
        elem = call_view_kernel(_AS_STRIDED, (tensors[spec.view_of], shape, stride, offset))
    elif spec.as_empty:
        with private.DisableTorchDispatch():
            elem = torch.empty(shape, dtype=spec.dtype, device=_META)
    elif spec.storage_elems is not None:
        elems = cast("int | torch.SymInt", spec.storage_elems)
        # Below ADInplaceOrView: the flat tensor is only storage, not a base to record.
        with private.DisableTorchDispatch(), private.AutoDispatchBelowADInplaceOrView():
            flat = torch.empty((elems,), dtype=spec.dtype, device=_META)
            elem = flat.as_strided(shape, stride, offset)
    elif spec.view_of is None:
        with private.DisableTorchDispatch():
            elem = torch.empty_strided(shape, stride, dtype=spec.dtype, device=_META)
    else:  # a static view, or a view in another dtype (view_as_real: as_strided keeps
        # its input's): empty and set_ have C++ kernels only, so the Python dispatcher
        # (on in symbolic modes) would add its per-op lookups and change nothing
        with private.DisableTorchDispatch(), private.DisablePythonDispatcher():
            elem = torch.empty(0, dtype=spec.dtype, device=_META)
            source = tensors[spec.view_of].untyped_storage()
            elem.set_(source, offset, shape, stride)
    if spec.conj or spec.neg or spec.symbolic:  # fresh and set_ tensors have neither bit
        private.set_conj(elem, spec.conj)
        private.set_neg(elem, spec.neg)
    return FakeTensor(mode, elem, spec.device)


# -- guards a hit depends on --------------------------------------------------


def _logs(shape_env: Any) -> tuple[list[Any], list[Any]]:
    """``shape_env``'s list of decisions (one guard record each, in order) and of runtime asserts."""
    log = getattr(shape_env, "log", None)
    if log is None:  # torchshade.shapes before its GuardLog
        return shape_env.records, shape_env.asserts
    return log.decisions, log.asserts


class Mark(NamedTuple):
    """Where a ShapeEnv stood before a miss (see ``decision_mark``)."""

    decisions: int
    asserts: int
    state: Hashable  # None: this env does not share entries
    journal: int
    log: Any


def _state_key(shape_env: Any) -> Hashable:
    """The knowledge's state key, or None when ``shape_env`` must not share entries.

    Not shared: envs with size-like unbacked symbols, envs made with
    ``reuse_answers=False``, and envs that leave sizes 0 and 1 symbolic
    (``specialize_zero_one=False``). In those, a kernel run on a shared hit's
    rebuilt inputs can learn facts its miss in the other env did not need
    (``empty_like`` learned ``s1 >= 2`` in a seeded crosscheck program;
    ``test_fake_cache_facts.py``): the replay would leave the env knowing less
    than running the kernel does.
    """
    if shape_env.size_like or not shape_env.specialize_zero_one or not getattr(shape_env.knowledge, "shares", True):
        return None
    state: Hashable = shape_env.knowledge.state_key(shape_env.hints)
    return state


def decision_mark(shape_env: Any) -> Mark:
    """Where ``shape_env``'s decisions, runtime asserts and history end now."""
    decisions, asserts = _logs(shape_env)
    state = _state_key(shape_env)
    if state is None:
        return Mark(len(decisions), len(asserts), None, 0, None)
    return Mark(len(decisions), len(asserts), state, len(shape_env.knowledge.journal), shape_env.log.mark())


def decisions_since(shape_env: Any, mark: Mark | None) -> Decisions:
    """The guards and runtime asserts recorded after ``mark``, and for sharing what changed."""
    if shape_env is None or mark is None:
        return _NO_DECISIONS
    decisions, asserts = _logs(shape_env)
    guards = tuple(record.expr for record in decisions[mark.decisions:])
    conditions = tuple(item.expr for item in asserts[mark.asserts:])
    shared = None
    if mark.state is not None:
        after = _state_key(shape_env)
        if after is not None:
            events = tuple(shape_env.knowledge.journal[mark.journal:])
            shared = SharedChanges(mark.state, events, shape_env.log.since(mark.log), after)
    if not (guards or conditions or shared):
        return _NO_DECISIONS
    return Decisions(guards, conditions, shared)


def replay(shape_env: Any, decisions: Decisions) -> None:
    """Decide again what a miss decided: known facts cost a lookup, others are recorded."""
    for fact in decisions.guards:
        shape_env.evaluate_expr(fact)
    for expr in decisions.asserts:
        shape_env.expect_true(expr, None)



# -- the cache ----------------------------------------------------------------

# Entries of static modes: output metadata that depends on the key only.
_SHARED_ENTRIES: dict[Hashable, Entry] = {}
# Entries of symbolic modes, keyed on (key, knowledge state): see the module docstring.
_SHARED_SYMBOLIC: dict[Hashable, Entry] = {}


class DispatchCache:
    """A mode's cache from keys to entries, with its own counts.

    A ``shared`` cache (static modes) starts on the process-wide table of
    entries; :meth:`clear` gives it an empty table of its own.
    """

    def __init__(self, enabled: bool = True, shared: bool = False) -> None:
        self.enabled = enabled
        self.entries: dict[Hashable, Entry] = _SHARED_ENTRIES if shared else {}
        self.shared_symbolic = _SHARED_SYMBOLIC  # entries shared between ShapeEnvs
        self.hits = 0
        self.misses = 0
        self.bypasses = 0
        self.shared_hits = 0  # hits on an entry another ShapeEnv's miss made
        self.last_hit_shared = False
        # Keyed by id(op): OpOverload.__hash__ is Python code, and ops live forever.
        self._cacheable: dict[int, bool] = {}

    def info(self) -> CacheInfo:
        return CacheInfo(self.hits, self.misses, self.bypasses, len(self.entries))

    def clear(self) -> None:
        """Forget this cache's entries and counts, and stop reading entries shared
        between ShapeEnvs; other modes' tables are untouched."""
        self.entries = {}
        self.shared_symbolic = {}
        self.hits = self.misses = self.bypasses = self.shared_hits = 0

    def key(
        self,
        mode: FakeTensorMode,
        func: torch._ops.OpOverload,
        args: Sequence[object],
        kwargs: Mapping[str, object],
        stamp: int,
    ) -> Hashable | None:
        """The key of this call, or None (counted as a bypass) if it is not cached."""
        cacheable = self._cacheable.get(id(func))
        if cacheable is None:
            cacheable = self._cacheable[id(func)] = is_cacheable_op(func)
        if not cacheable:
            self.bypasses += 1
            return None
        try:
            arg_keys = tuple([value_key(a) for a in args])  # a list is faster than a generator
            kw_keys = tuple([(k, value_key(v)) for k, v in kwargs.items()]) if kwargs else ()
        except Uncacheable:
            self.bypasses += 1
            return None
        return (id(func), stamp, context_key(mode.shape_env), arg_keys, kw_keys)

    def store(
        self, key: Hashable, out: object, tensors: Sequence[torch.Tensor], decisions: Decisions
    ) -> None:
        """Remember ``out`` for ``key``; silently skip outputs we cannot describe."""
        storages = [t.untyped_storage()._cdata for t in tensors]
        try:
            outputs = _describe(out, tensors, storages)
        except Uncacheable:
            self.bypasses += 1
            return
        if len(self.entries) >= _MAX_ENTRIES:
            self.entries.clear()
        self.entries[key] = Entry(outputs, decisions)
        shared = decisions.shared
        if shared is not None and self.entries is not _SHARED_ENTRIES:
            try:
                outputs = _globalize(outputs)
            except Uncacheable:
                return
            if len(self.shared_symbolic) >= _MAX_ENTRIES:
                self.shared_symbolic.clear()
            self.shared_symbolic[(key, shared.before)] = Entry(outputs, decisions)

    def lookup(
        self, mode: FakeTensorMode, key: Hashable, tensors: Sequence[torch.Tensor]
    ) -> tuple[bool, object]:
        """(True, rebuilt output) on a hit, (False, None) on a miss."""
        entry = self.entries.get(key)
        self.last_hit_shared = False
        if entry is None:
            env = mode.shape_env
            state = _state_key(env) if env is not None and self.entries is not _SHARED_ENTRIES else None
            shared = self.shared_symbolic.get((key, state)) if state is not None else None
            if shared is None:
                self.misses += 1
                return False, None
            entry = self._adopt(env, key, shared)
            self.shared_hits += 1
            self.last_hit_shared = True
        elif entry.decisions is not _NO_DECISIONS:
            replay(mode.shape_env, entry.decisions)
        self.hits += 1
        return True, _from_entry(mode, entry.outputs, tensors)

    def _adopt(self, env: Any, key: Hashable, shared: Entry) -> Entry:
        """Make ``env`` what the miss behind ``shared`` made its env, and keep the
        entry, in this env's symbols, in this cache's own table."""
        changes = shared.decisions.shared
        assert changes is not None  # only such entries are in _SHARED_SYMBOLIC
        env.knowledge.replay(changes.events)
        env.log.replay(changes.log)
        if _state_key(env) != changes.after:
            raise AssertionError(
                "torchshade.fake's dispatch cache: replaying a shared entry's changes did not "
                "reach the state its miss reached; this is a bug, please report it"
            )
        decisions = Decisions(shared.decisions.guards, shared.decisions.asserts)
        entry = Entry(_localize(shared.outputs, env), decisions if decisions.guards or decisions.asserts
                      else _NO_DECISIONS)
        self.entries[key] = entry
        return entry


def _describe(out: object, tensors: Sequence[torch.Tensor], storages: Sequence[int]) -> object:
    if isinstance(out, torch.Tensor):
        return output_spec(out, tensors, storages)
    if isinstance(out, (list, tuple)):
        items = tuple(_describe(o, tensors, storages) for o in out)
        fresh = [
            e.shape for e in items if isinstance(e, OutputSpec) and e.arg is None and e.view_of is None
        ]
        fresh_storages = {
            o.untyped_storage()._cdata for o in out if isinstance(o, torch.Tensor)
        } - set(storages)
        if len(fresh_storages) != len(fresh):
            raise Uncacheable  # fresh outputs aliasing each other
        return (type(out), items)
    if out is None or isinstance(out, (bool, int, float, *_SYM_TYPES)):
        return _Value(out)
    raise Uncacheable


@dataclass(frozen=True)
class _Value:
    value: object


def _global_value(value: Any) -> Any:
    if isinstance(value, torch.SymInt):
        node = value.node
        return _SymValue(node.expr, node.hint, node.pytype)
    if isinstance(value, _SYM_TYPES):
        raise Uncacheable  # symbolic floats and bools are not shared
    return value


def _globalize(entry: object) -> object:
    """An entry's outputs with symbolic values as expressions and hints (no env)."""
    if isinstance(entry, OutputSpec):
        return replace(entry, shape=tuple(map(_global_value, entry.shape)),
                       stride=tuple(map(_global_value, entry.stride)), offset=_global_value(entry.offset),
                       storage_elems=_global_value(entry.storage_elems))
    if isinstance(entry, _Value):
        return _Value(_global_value(entry.value))
    assert isinstance(entry, tuple)  # (list / tuple type, items) from _describe
    kind, items = entry
    return (kind, tuple(_globalize(item) for item in items))


def _local_value(value: Any, env: Any) -> Any:
    if isinstance(value, _SymValue):
        return env.symint_from_expr(value.expr, value.hint)
    return value


def _localize(entry: object, env: Any) -> object:
    """A shared entry's outputs in ``env``'s symbols."""
    if isinstance(entry, OutputSpec):
        return replace(entry, shape=tuple(_local_value(v, env) for v in entry.shape),
                       stride=tuple(_local_value(v, env) for v in entry.stride),
                       offset=_local_value(entry.offset, env),
                       storage_elems=_local_value(entry.storage_elems, env))
    if isinstance(entry, _Value):
        return _Value(_local_value(entry.value, env))
    assert isinstance(entry, tuple)  # (list / tuple type, items) from _describe
    kind, items = entry
    return (kind, tuple(_localize(item, env) for item in items))



def _from_entry(mode: FakeTensorMode, entry: object, tensors: Sequence[torch.Tensor]) -> object:
    if isinstance(entry, OutputSpec):
        return rebuild(mode, entry, tensors)
    if isinstance(entry, _Value):
        return entry.value
    assert isinstance(entry, tuple)  # (list / tuple type, items) from _describe
    kind, items = entry
    outs = [_from_entry(mode, item, tensors) for item in items]
    if kind is list:
        return outs
    if kind is tuple:
        return tuple(outs)
    if hasattr(kind, "_fields"):  # a namedtuple, as some decompositions return
        return kind(*outs)
    return kind(outs)  # a torch.return_types structseq
