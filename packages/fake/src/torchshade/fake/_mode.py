"""FakeTensorMode: the dispatch mode under which every op runs on fake tensors.

One call of an op goes through these steps (``_dispatch``)::

    check the tensor arguments   our fakes pass; real ones are converted
                                 (lift_fresh, allow_non_fake_inputs) or refused;
                                 fakes of another mode are refused
    constants                    all inputs constant -> run for real
    data-dependent ops           unbacked symbols, or a clear error (_dynamic.py)
    dispatch cache               hit -> rebuild outputs, replay guards (_cache.py);
                                 crosscheck mode reruns the kernel (_crosscheck.py)
    contiguous views             symbolic view/reshape: one guard (_view.py)
    kernel                       meta / decomposition / fake impl (_kernel.py)

With a ShapeEnv the Python dispatcher is on while the mode is active, so
torch's Python meta kernels and decompositions take part and symbolic sizes
are never specialized by a C++ kernel that cannot handle them (see
``_python_dispatcher`` for why static modes leave it off).
"""

from __future__ import annotations

import contextlib
import itertools
import weakref
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from . import _torch_private as private
from . import _constant, _crosscheck, _dynamic, _pointwise
from ._cache import CacheInfo, DispatchCache, decision_mark, decisions_since, registration_stamp
from ._converter import FakeTensorConverter
from ._errors import (
    DynamicOutputShapeException,
    FakeModeMismatchError,
    FakeTensorError,
    NonFakeInputError,
)
from ._kernel import plan_for, run_plan
from ._spec import tensor_str
from ._stand_in import cpp_device
from ._tensor import FakeTensor
from ._view import OPS as _CONTIGUOUS_VIEW_OPS
from ._view import run_contiguous_view

aten = torch.ops.aten
_LIFT_FNS = frozenset({aten.lift_fresh.default, aten.lift_fresh_copy.default})
_REAL_TYPES = (torch.Tensor, torch.nn.Parameter)
_PRIM_DEVICE = torch.ops.prim.device.default
# Metadata queries that reach the mode as ops (from Python decompositions):
# answered from the tensor itself, never dispatched.
_METADATA: dict[int, Any] = {
    id(aten.size.default): lambda t: tuple(t.shape),
    id(aten.size.int): lambda t, d: t.shape[d],
    id(aten.sym_size.default): lambda t: tuple(t.shape),
    id(aten.sym_size.int): lambda t, d: t.shape[d],
    id(aten.stride.default): lambda t: tuple(t.stride()),
    id(aten.stride.int): lambda t, d: t.stride()[d],
    id(aten.sym_stride.default): lambda t: tuple(t.stride()),
    id(aten.sym_stride.int): lambda t, d: t.stride()[d],
    id(aten.storage_offset.default): lambda t: t.storage_offset(),
    id(aten.sym_storage_offset.default): lambda t: t.storage_offset(),
    id(aten.dim.default): lambda t: t.dim(),
    id(aten.numel.default): lambda t: t.numel(),
    id(aten.sym_numel.default): lambda t: t.numel(),
}
# The infra-mode slot torch reserves for fake tensor modes. Holding it puts the
# mode below every user mode (a tracer's proxy mode sees ops first) and tells
# torch's C++ not to initialize CUDA for factory calls with device="cuda".
_FAKE_KEY = private.TorchDispatchModeKey.FAKE
_ids = itertools.count()


class FakeTensorMode(TorchDispatchMode):
    """Run PyTorch code on fake tensors: metadata only, no data, no allocation.

    Example::

        >>> mode = FakeTensorMode()
        >>> with mode:
        ...     layer = torch.nn.Linear(4096, 4096, device="cuda")
        ...     y = layer(torch.empty(8, 4096, device="cuda"))
        >>> y
        FakeTensor(f32[8, 4096], device='cuda:0', requires_grad=True)

    Args:
        allow_non_fake_inputs: convert real tensors met by an op (memoized)
            instead of raising :class:`NonFakeInputError`.
        shape_env: a ``torchshade.shapes.ShapeEnv``; then converted tensors get
            symbolic sizes and data-dependent ops give unbacked symbols.
        static_shapes: convert with plain int sizes even with a ``shape_env``
            (default: static exactly when there is no ``shape_env``).
        allow_fallback_kernels: for aten ops with no meta kernel, run the
            real CPU kernel on zero-filled inputs of the same metadata (static
            CPU inputs only), as torch does; otherwise such ops raise
            :class:`MissingFakeImplError`.
        cache: use the dispatch cache (see :meth:`cache_info`).
        cache_crosscheck: on every cache hit, run the kernel too and raise
            :class:`DispatchCacheMismatchError` if its output differs in any
            metadata (default: on when the environment variable
            ``TORCHSHADE_FAKE_CROSSCHECK=1`` is set). Also an attribute.
    """

    _mode_key = _FAKE_KEY

    def __init__(
        self,
        *,
        allow_fallback_kernels: bool = True,
        allow_non_fake_inputs: bool = False,
        shape_env: Any = None,
        static_shapes: bool | None = None,
        cache: bool = True,
        cache_crosscheck: bool | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # TorchDispatchMode.__init__ is untyped
        self.allow_non_fake_inputs = allow_non_fake_inputs
        self.allow_fallback_kernels = allow_fallback_kernels
        self.shape_env = shape_env
        self.static_shapes = shape_env is None if static_shapes is None else static_shapes
        self.in_kernel = False
        # Kernels run for real on zeros (_fallback.py): never cached, so that a
        # mode without fallback is never served their outputs.  (Calls that make
        # unbacked symbols are told by the ShapeEnv's record, ``env.unbacked``.)
        self.fallback_runs = 0
        self.converter = FakeTensorConverter(self)
        # Static entries depend only on the key and are shared by all static
        # modes; symbolic ones name this env's symbols and stay with the mode.
        self.cache = DispatchCache(cache, shared=cache and shape_env is None)
        if cache_crosscheck is None:
            cache_crosscheck = _crosscheck.enabled_by_environment()
        self.cache_crosscheck = cache_crosscheck
        # Writes to each storage, counted here because _version misses writes
        # under torch.autograd._unsafe_preserve_version_counter (memos use it).
        self.storage_writes: weakref.WeakKeyDictionary[torch.UntypedStorage, int] = (
            weakref.WeakKeyDictionary()
        )
        # Fakes holding a constant, by id (a WeakSet would compare tensors with ==).
        self.constants: weakref.WeakValueDictionary[int, FakeTensor] = (
            weakref.WeakValueDictionary()
        )
        self._exit_stack: list[tuple[Any, bool, bool, Any]] = []
        self._id = next(_ids)

    def __repr__(self) -> str:
        if self.shape_env is None:
            kind = "static"
        else:  # a static_shapes mode with an env: make_fx's fake mode, unbacked sizes only
            kind = "static, with a ShapeEnv" if self.static_shapes else "symbolic"
        return f"FakeTensorMode#{self._id}({kind})"

    # Modes are identities: copying a module or tensor must not copy its mode.
    def __deepcopy__(self, memo: dict[int, object]) -> FakeTensorMode:
        return self

    def __copy__(self) -> FakeTensorMode:
        return self

    def __enter__(self) -> FakeTensorMode:
        dispatcher = _python_dispatcher(self)
        dispatcher.__enter__()
        previous_lift = private.only_lift_cpu_tensors()
        # torch.tensor(..., device="cuda") is built on CPU, lifted, then moved.
        private.set_only_lift_cpu_tensors(True)
        # On a machine without CUDA, let code run under a no-op CUDA device guard.
        private.ensureCUDADeviceGuardSet()
        # Only one mode holds the FAKE slot; re-entering ourselves is a no-op.
        previous = private.unset_dispatch_mode(_FAKE_KEY)
        if previous is self:
            private.set_dispatch_mode(self)
            self._exit_stack.append((dispatcher, previous_lift, False, None))
        else:
            self._exit_stack.append((dispatcher, previous_lift, True, previous))
            super().__enter__()  # type: ignore[no-untyped-call]  # TorchDispatchMode.__enter__ is untyped
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        dispatcher, previous_lift, pushed, previous = self._exit_stack.pop()
        if pushed:
            super().__exit__(exc_type, exc, tb)  # type: ignore[no-untyped-call]  # untyped in torch
            if previous is not None:
                private.set_dispatch_mode(previous)
        private.set_only_lift_cpu_tensors(previous_lift)
        dispatcher.__exit__(None, None, None)

    # -- public helpers -------------------------------------------------------

    def from_tensor(
        self,
        t: torch.Tensor,
        *,
        static_shapes: bool | None = None,
        source: str | None = None,
        dynamic_dims: Sequence[Any] | None = None,
    ) -> FakeTensor:
        """The fake of ``t``: same metadata, aliasing, grad-ness; memoized weakly.

        With a ShapeEnv (and ``static_shapes`` false) sizes and strides are
        SymInts named after ``source``; ``dynamic_dims`` gives each dimension's
        ``DimDynamic`` policy.
        """
        if static_shapes is None:
            static_shapes = self.static_shapes
        return self.converter.from_tensor(
            t, static_shapes=static_shapes, source=source, dynamic_dims=dynamic_dims
        )

    def cache_info(self) -> CacheInfo:
        """Hits, misses, bypasses (never-cached calls) and entries of the dispatch cache."""
        return self.cache.info()

    def cache_clear(self) -> None:
        """Empty this mode's dispatch cache and reset its counts.

        Other modes keep their entries: a static mode that shared the
        process-wide table of static entries gets an empty one of its own.
        """
        self.cache.clear()

    def is_our_fake(self, t: object) -> bool:
        """Whether ``t`` is a fake tensor made by this mode."""
        return isinstance(t, FakeTensor) and t.fake_mode is self

    def new_unbacked_size(
        self, op: object, *, min: int = 0, max: int | None = None
    ) -> torch.SymInt:
        """An unbacked size symbol in ``[min, max]`` for ``op``'s data-dependent output."""
        env = self.shape_env
        if env is None:
            raise DynamicOutputShapeException(
                op,
                f"{op}: its output size depends on data, which fake tensors do not "
                "have. Give the mode a ShapeEnv (FakeTensorMode(shape_env=ShapeEnv())) "
                "to get an unbacked symbol for the size.",
            )
        size = env.create_unbacked_symint()
        env._constrain_range_for_size(size.node.expr, min=min, max=max)
        assert isinstance(size, torch.SymInt)  # the env's contract
        return size

    # -- dispatch -------------------------------------------------------------

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # TorchDispatchMode wraps subclasses' __torch_dispatch__ in a Dynamo
        # "disable" shim unless this says no; Dynamo never needs to trace into
        # fake dispatch, and the shim costs microseconds on every op.
        return False

    def __torch_dispatch__(
        self,
        func: torch._ops.OpOverload,
        types: Sequence[type],
        args: Sequence[object] = (),
        kwargs: Mapping[str, object] | None = None,
    ) -> object:
        if func is _PRIM_DEVICE:
            tensor = args[0]
            if isinstance(tensor, FakeTensor):
                return cpp_device(tensor)
        return self._dispatch(func, args, kwargs or {})

    def dispatch_outside_mode(
        self,
        func: torch._ops.OpOverload,
        types: Sequence[type],
        args: Sequence[object],
        kwargs: Mapping[str, object],
    ) -> object:
        """An op on our fakes while the mode is not active (``FakeTensor.__torch_dispatch__``)."""
        with _python_dispatcher(self):
            return self._dispatch(func, args, kwargs)

    def _dispatch(
        self, func: torch._ops.OpOverload, args: Sequence[object], kwargs: Mapping[str, object]
    ) -> object:
        query = _METADATA.get(id(func))
        if query is not None:
            return query(*args)
        tensors = _tensors_in(args, kwargs)
        for t in tensors:
            if type(t) is not FakeTensor or t.fake_mode is not self:
                converted = self._check_tensors(func, args, kwargs, tensors)
                if converted is NotImplemented:
                    return NotImplemented
                args, kwargs = converted  # type: ignore[misc]  # a pair when not NotImplemented
                tensors = _tensors_in(args, kwargs)
                break
        fakes: list[FakeTensor] = tensors  # type: ignore[assignment]  # all checked above
        if fakes and self.constants and any(t.constant is not None for t in fakes):
            if all(t.constant is not None for t in fakes):
                out = _constant.propagate(self, func, args, kwargs, fakes)
                if out is not _constant.NOT_CONSTANT:
                    return out
            _constant.invalidate_written(func, fakes)
        if fakes and self.shape_env is not None and _writes(func):
            self._count_writes(fakes)
        if id(func) in _AS_STRIDED_OPS:
            _check_storage_bounds(func, args, kwargs)
        handler = _dynamic.HANDLERS.get(id(func))
        if handler is not None:
            out = handler(self, func, args, kwargs)
            if out is not NotImplemented:
                return out
        return self._run_cached(func, args, kwargs, fakes)

    def _check_tensors(
        self,
        func: torch._ops.OpOverload,
        args: Sequence[object],
        kwargs: Mapping[str, object],
        tensors: Sequence[torch.Tensor],
    ) -> object:
        """Refuse or convert tensors that are not our fakes; NotImplemented for other subclasses."""
        for index, t in enumerate(tensors):
            if isinstance(t, FakeTensor):
                if t.fake_mode is not self:
                    raise FakeModeMismatchError(
                        f"{func}: tensor argument {index} ({t!r}) belongs to "
                        f"{t.fake_mode!r}, but the op runs under {self!r}. Fake tensors "
                        "of two modes cannot be mixed: make all of them with one mode "
                        "(mode.from_tensor(real_tensor))."
                    )
            elif type(t) not in _REAL_TYPES:
                return NotImplemented
            elif func not in _LIFT_FNS and not self.allow_non_fake_inputs:
                raise NonFakeInputError(
                    f"{func}: tensor argument {index} is a real tensor "
                    f"({tensor_str(t)}) but the op runs under {self!r}. Convert it "
                    "first with mode.from_tensor(t), or create the mode with "
                    "FakeTensorMode(allow_non_fake_inputs=True) to convert real "
                    "tensors automatically."
                )
        if func in _LIFT_FNS:
            t = tensors[0]
            constant = t if _constant.may_be_constant(t) else None
            fake = self.converter.from_tensor(t, static_shapes=True, constant=constant)
            return (fake,), {}
        swap = self._convert_real
        return tuple(swap(a) for a in args), {k: swap(v) for k, v in kwargs.items()}

    def _convert_real(self, value: object) -> object:
        if isinstance(value, torch.Tensor) and not isinstance(value, FakeTensor):
            return self.converter.from_tensor(value, static_shapes=True)
        if isinstance(value, (list, tuple)):
            return type(value)(self._convert_real(v) for v in value)
        return value

    def _count_writes(self, fakes: Sequence[FakeTensor]) -> None:
        """Count a write to the storage of every tensor argument of a mutating op."""
        writes = self.storage_writes
        for t in fakes:
            storage = t.untyped_storage()
            writes[storage] = writes.get(storage, 0) + 1

    def _run_cached(
        self,
        func: torch._ops.OpOverload,
        args: Sequence[object],
        kwargs: Mapping[str, object],
        fakes: Sequence[FakeTensor],
    ) -> object:
        cache = self.cache
        stamp = registration_stamp()  # also forgets per-op plans after a registration
        key = cache.key(self, func, args, kwargs, stamp) if cache.enabled else None
        if key is not None:
            hit, out = cache.lookup(self, key, fakes)
            if hit:
                if self.cache_crosscheck:
                    shared = cache.last_hit_shared  # the kernel must learn nothing the replay did not
                    state = _crosscheck.knowledge_state(self.shape_env) if shared else None
                    computed = self._run_kernel(func, args, kwargs, fakes)
                    _crosscheck.check_hit(func, out, computed, fakes)
                    if shared:
                        _crosscheck.check_replay(func, self.shape_env, state)
                return out
        env = self.shape_env
        mark = decision_mark(env) if key is not None and env is not None else None
        unbacked_mark = env.unbacked.mark() if mark is not None else 0
        fallbacks_before = self.fallback_runs
        out = self._run_kernel(func, args, kwargs, fakes)
        if key is not None and self.fallback_runs == fallbacks_before:
            # A call that made unbacked symbols (by any route: env.unbacked sees them all)
            # must make new ones each time, so it is never stored.
            if mark is None or not env.unbacked.fresh_since(unbacked_mark):
                cache.store(key, out, fakes, decisions_since(env, mark))
        return out

    def _run_kernel(
        self,
        func: torch._ops.OpOverload,
        args: Sequence[object],
        kwargs: Mapping[str, object],
        fakes: Sequence[FakeTensor],
    ) -> object:
        symbolic = self.shape_env is not None and _is_symbolic(args, kwargs, fakes)
        if symbolic and id(func) in _CONTIGUOUS_VIEW_OPS:
            out = run_contiguous_view(self, args, kwargs)  # one guard, not torch's walk (_view.py)
            if out is not NotImplemented:
                return out
        if symbolic and _pointwise.eligible(func):
            out = _pointwise.run_pointwise(self, func, args, kwargs, fakes)  # _pointwise.py
            if out is not NotImplemented:
                if self.cache_crosscheck:  # the fast path must agree with the ordinary one
                    computed = run_plan(self, plan_for(func, symbolic), func, args, kwargs, fakes)
                    _crosscheck.check_hit(func, out, computed, fakes, "the pointwise fast path")
                return out
        try:
            return run_plan(self, plan_for(func, symbolic), func, args, kwargs, fakes)
        except RuntimeError as error:
            if _SYMBOLIC_RESIZE in str(error) and not isinstance(error, FakeTensorError):
                raise FakeTensorError(_symbolic_resize_message(func, args)) from error
            raise


# What torch's TensorImpl says when plain sizes are written over symbolic ones.
_SYMBOLIC_RESIZE = "tried to directly modify sizes for customized tensor"


def _symbolic_resize_message(func: torch._ops.OpOverload, args: Sequence[object]) -> str:
    tensor = args[0]
    named = tensor_str(tensor) if isinstance(tensor, torch.Tensor) else "a tensor"
    wanted = args[1] if len(args) > 1 else None
    sizes = tuple(wanted.shape) if isinstance(wanted, torch.Tensor) else tuple(wanted) if isinstance(wanted, (list, tuple)) else ()
    plain = ", ".join(str(s) for s in sizes)
    return (
        f"{func}: cannot resize {named} (symbolic sizes) to the plain sizes {sizes} in place: "
        "torch keeps a symbolic tensor's sizes symbolic and refuses plain ints over them (its own "
        f"fake tensors raise '{_SYMBOLIC_RESIZE}'). Resize to sizes computed from symbolic ones "
        f"(t.resize_(t.shape[0] * 2, 6)), or make a new tensor of the plain sizes (torch.empty({plain}))."
    )


def _python_dispatcher(mode: FakeTensorMode) -> contextlib.AbstractContextManager[object]:
    """The Python dispatcher, on when the mode may see backed symbolic sizes.

    With symbolic sizes it is required: C++ composite kernels would otherwise
    specialize symbols (F.pad guards Eq(s0, 8)), where torch's Python
    decompositions keep them symbolic. With static sizes the C++ kernels are
    exact, and some Python decompositions differ from eager in aliasing
    (dropout in eval mode clones instead of returning its input), so it stays
    off: without a ShapeEnv, and in a ``static_shapes=True`` mode whose env
    has no backed symbol yet, where only data-dependent ops make (unbacked)
    symbols. That is torch's ``make_fx(..., tracing_mode="fake")``: static
    inputs, a ShapeEnv for ``nonzero`` and ``.item()``, no Python dispatcher.
    """
    env = mode.shape_env
    if env is None or (mode.static_shapes and not env.hints):
        return contextlib.nullcontext()
    return private.EnablePythonDispatcher()


_AS_STRIDED_OPS = frozenset({id(aten.as_strided.default), id(aten.as_strided_.default)})


def _check_storage_bounds(
    func: torch._ops.OpOverload, args: Sequence[object], kwargs: Mapping[str, object]
) -> None:
    """Refuse an ``as_strided`` past the end of its storage, as eager does (meta does not).

    Only sizes, strides and offsets that are plain ints are checked.
    """
    t = args[0]
    size = args[1] if len(args) > 1 else kwargs.get("size")
    stride = args[2] if len(args) > 2 else kwargs.get("stride")
    offset = args[3] if len(args) > 3 else kwargs.get("storage_offset")
    if not isinstance(t, FakeTensor) or not isinstance(size, Sequence) or not isinstance(stride, Sequence):
        return
    offset = t.storage_offset() if offset is None else offset
    if type(offset) is not int or not all(type(v) is int for v in (*size, *stride)) or 0 in size:
        return
    extent = offset + 1 + sum((n - 1) * st for n, st in zip(size, stride))
    needed, available = extent * t.element_size(), t.untyped_storage().nbytes()
    if needed > available:
        raise FakeTensorError(
            f"{func}: sizes {list(size)}, strides {list(stride)}, storage offset {offset} "
            f"and itemsize {t.element_size()} require a storage size of {needed}, which is "
            f"out of bounds for storage of size {available} (of {tensor_str(t)}). Eager "
            "PyTorch raises here too: pass sizes and strides that stay inside the "
            "tensor's storage."
        )


# Whether an op writes to a tensor argument, by id(op) (schema.is_mutable is slow).
_MUTATING: dict[int, bool] = {}


def _writes(func: torch._ops.OpOverload) -> bool:
    writes = _MUTATING.get(id(func))
    if writes is None:
        writes = _MUTATING[id(func)] = func._schema.is_mutable
    return writes


def _tensors_in(args: Sequence[object], kwargs: Mapping[str, object]) -> list[torch.Tensor]:
    """The tensor arguments, in order (aten arguments nest at most one list deep)."""
    found: list[torch.Tensor] = []
    for value in itertools.chain(args, kwargs.values()):
        if isinstance(value, torch.Tensor):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            found.extend(v for v in value if isinstance(v, torch.Tensor))
    return found


def _is_symbolic(
    args: Sequence[object], kwargs: Mapping[str, object], fakes: Sequence[FakeTensor]
) -> bool:
    if any(t._has_symbolic_sizes_strides for t in fakes):
        return True
    for value in itertools.chain(args, kwargs.values()):
        if isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
            return True
        if isinstance(value, (list, tuple)) and any(isinstance(v, torch.SymInt) for v in value):
            return True
    return False
