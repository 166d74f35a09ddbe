"""Running one op on fake tensors: choose a kernel, run it on meta, wrap outputs.

The kernel is chosen once per op (and per static/symbolic setting)::

    custom op with register_fake  ->  its fake impl, with a ctx for new_dynamic_size
    prims op                      ->  its prim_meta_impl under the mode (it must see
                                      fake devices: 0-dim CPU tensors are scalars)
    Python meta (torch._meta_registrations)  ->  run on meta, below
    decomposition (torch._decomp)   ->  run the Python decomposition under the mode
    CompositeImplicitAutograd       ->  func.decompose() under the mode
    any Meta kernel (C++ or Python) ->  run with Meta in the TLS dispatch set
    none                            ->  the real CPU kernel on zeros (_fallback.py),
                                        else MissingFakeImplError with code to paste

"Run on meta" means: the fake tensors themselves are meta tensors, so the
op is called on them with torch dispatch disabled and ``Meta`` added to the
thread-local dispatch keys, and the mode answers ``meta`` to ``.device``
meanwhile. New meta outputs are wrapped as fake tensors on the op's device.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import torch

from . import _torch_private as private
from . import _memory_format
from ._custom import missing_fake_impl_error, run_custom_fake_impl
from ._device import common_device, normalize
from ._fallback import can_fall_back, run_fallback
from ._device_hint import DEVICE_HINT
from ._tensor import FakeTensor

if TYPE_CHECKING:
    from ._mode import FakeTensorMode


aten = torch.ops.aten
_META = torch.device("meta")
_CPU = torch.device("cpu")

# Ops whose C++ meta kernel handles symbolic sizes itself (torch's list).
_CPP_META_SUPPORTS_SYMINT: frozenset[object] = frozenset(
    {
        aten.empty.memory_format,
        aten.empty_strided.default,
        aten.as_strided_scatter.default,
        aten.as_strided.default,
        aten.as_strided_.default,
        aten.zeros.default,
        aten.detach.default,
        aten.view_as_real.default,
        aten.view_as_complex.default,
        aten.set_.source_Storage_storage_offset,
    }
)


class Plan(enum.Enum):
    """How an op is run on fake tensors (see the module docstring)."""

    CUSTOM = "custom"
    PRIM = "prim"
    DECOMPOSITION = "decomposition"
    DECOMPOSE = "decompose"
    META = "meta"
    MISSING = "missing"


# Plans of torch's own ops, by (id(op), symbolic): they never change. Custom
# ops are looked up each time (a fake impl may be registered later).
_PLANS: dict[tuple[int, bool], Plan] = {}


def plan_for(func: torch._ops.OpOverload, symbolic: bool) -> Plan:
    """The plan for ``func``, remembered for aten and prims ops."""
    plan = _PLANS.get((id(func), symbolic))
    if plan is None:
        plan = choose_plan(func, symbolic)
        if func.namespace in ("aten", "prims"):
            _PLANS[(id(func), symbolic)] = plan
    return plan


def choose_plan(func: torch._ops.OpOverload, symbolic: bool) -> Plan:
    """Pick the kernel for ``func``; the answer depends only on the op."""
    if func.namespace not in ("aten", "prims"):
        entry = private.custom_op_registry.find(func.name())
        if entry.fake_impl.kernel is not None:
            return Plan.CUSTOM
    if func.namespace == "prims" and hasattr(func, "prim_meta_impl"):
        return Plan.PRIM
    supports_symint = func in _CPP_META_SUPPORTS_SYMINT or torch.Tag.view_copy in func.tags
    if func not in private.meta_table and not supports_symint:
        if func in private.decomposition_table and (symbolic or _is_torch_decomp(func)):
            return Plan.DECOMPOSITION
        name = func.name()
        if private.dispatch_has_kernel_for_dispatch_key(name, "CompositeImplicitAutograd"):
            return Plan.DECOMPOSE
    if private.dispatch_has_computed_kernel_for_dispatch_key(func.name(), "Meta"):
        return Plan.META
    return Plan.MISSING


def _is_torch_decomp(func: torch._ops.OpOverload) -> bool:
    fn = private.decomposition_table[func]
    return fn.__module__.startswith("torch._decomp") and fn.__name__ in dir(
        private.decompositions_module
    )


def run_plan(
    mode: FakeTensorMode,
    plan: Plan,
    func: torch._ops.OpOverload,
    args: Sequence[object],
    kwargs: Mapping[str, object],
    tensors: Sequence[torch.Tensor],
) -> object:
    """Run ``func`` by ``plan``; outputs are fake tensors of ``mode``."""
    if func in _memory_format.CONVOLUTIONS or func in _memory_format.KEEP_INPUT_FORMAT:
        # The meta kernel cannot know eager's output memory format; we can.
        # It follows the layouts, not the sizes: decided at the hints, no guard.
        def in_mode(fn: Callable[[], object]) -> object:
            env = mode.shape_env
            with contextlib.nullcontext() if env is None else env.suppress_guards():
                return under_mode(mode, fn, (), {})

        if func in _memory_format.CONVOLUTIONS:
            fmt = _memory_format.output_memory_format(func, args, kwargs, in_mode)
        else:
            fmt = _memory_format.input_format(args, in_mode)
        out = _run_plan(mode, plan, func, args, kwargs, tensors)
        return out if fmt is None else _memory_format.restride_outputs(func, out, fmt, in_mode)
    if func is aten.view_copy.default:
        # Eager copies where a view is impossible (a transposed input); the meta kernel raises.
        return under_mode(mode, _view_copy, args, kwargs)
    return _run_plan(mode, plan, func, args, kwargs, tensors)


def _view_copy(self: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    return torch.reshape(self, size).clone(memory_format=torch.contiguous_format)


def _run_plan(
    mode: FakeTensorMode,
    plan: Plan,
    func: torch._ops.OpOverload,
    args: Sequence[object],
    kwargs: Mapping[str, object],
    tensors: Sequence[torch.Tensor],
) -> object:
    if plan is Plan.META:
        try:
            return run_meta(mode, func, args, kwargs, tensors)
        except NotImplementedError as error:
            # A Meta "kernel" that only says it is missing.
            if can_fall_back(mode, func, tensors):
                return run_fallback(mode, func, args, kwargs)
            raise missing_fake_impl_error(func, args, kwargs) from error
    if plan is Plan.CUSTOM:
        return run_custom_fake_impl(mode, func, args, kwargs)
    if plan is Plan.MISSING:
        if can_fall_back(mode, func, tensors):
            return run_fallback(mode, func, args, kwargs)
        raise missing_fake_impl_error(func, args, kwargs)
    if plan is Plan.PRIM:
        return under_mode(mode, func.prim_meta_impl, args, kwargs)  # type: ignore[attr-defined]  # prims carry their meta
    if plan is Plan.DECOMPOSITION:
        return under_mode(mode, private.decomposition_table[func], args, kwargs)
    return under_mode(mode, func.decompose, args, kwargs)


def under_mode(
    mode: FakeTensorMode,
    fn: Callable[..., object],
    args: Sequence[object],
    kwargs: Mapping[str, object],
) -> object:
    """Call ``fn`` with ``mode`` pushed back on the dispatch mode stack."""
    private.push_on_torch_dispatch_stack(mode)
    try:
        return fn(*args, **kwargs)
    finally:
        private.pop_torch_dispatch_stack(mode._mode_key)


def run_meta(
    mode: FakeTensorMode,
    func: torch._ops.OpOverload,
    args: Sequence[object],
    kwargs: Mapping[str, object],
    tensors: Sequence[torch.Tensor],
) -> object:
    """Run ``func``'s Meta kernel directly on the fake tensors, wrap new outputs."""
    out_device: torch.device | None = None
    if "device" in kwargs:
        requested = kwargs["device"]
        if requested is not None:
            out_device = normalize(torch.device(requested))  # type: ignore[call-overload]  # device kwarg is a device, str or int
        kwargs = {**kwargs, "device": _META}
    inferred = common_device(func, tensors) if len(tensors) > 1 else None
    out = call_in_kernel(mode, func, args, kwargs)
    if out_device is None and not _all_fake_or_plain(out):
        out_device = inferred or common_device(func, tensors) or _CPU
    return wrap_outputs(mode, out, out_device)


def call_in_kernel(
    mode: FakeTensorMode,
    func: Callable[..., object],
    args: Sequence[object],
    kwargs: Mapping[str, object],
) -> object:
    """Call ``func`` on fake tensors as if they were the meta tensors they are."""
    previous = mode.in_kernel
    mode.in_kernel = True
    try:
        # DEVICE_HINT: torch's Python meta kernels learn our fakes' devices (_device_hint.py).
        with DEVICE_HINT, private.DisableTorchDispatch(), private.PreserveDispatchKeyGuard():
            private.set_meta_in_tls_dispatch_include(True)
            return func(*args, **kwargs)
    finally:
        mode.in_kernel = previous


def call_view_kernel(func: Callable[..., object], args: Sequence[object]) -> torch.Tensor:
    """A C++ view kernel (``as_strided``) on fake tensors as the meta tensors they are,
    below autograd and ADInplaceOrView.

    The result only lends its sizes, strides and storage to a new fake tensor;
    the op that asked for it records the view relation on that fake itself.
    Skipping the two layers saves about 40% of a symbolic view's cost there
    (ADInplaceOrView records a replayable view function over symbolic sizes).
    For C++ kernels only: torch's Python meta kernels need ``call_in_kernel``.
    """
    with private.DisableTorchDispatch(), private.PreserveDispatchKeyGuard(), private.AutoDispatchBelowADInplaceOrView():
        private.set_meta_in_tls_dispatch_include(True)
        out = func(*args)
    assert isinstance(out, torch.Tensor)  # a view kernel returns a tensor
    return out


def _all_fake_or_plain(out: object) -> bool:
    if isinstance(out, torch.Tensor):
        return isinstance(out, FakeTensor)
    if isinstance(out, (tuple, list)):
        return all(not isinstance(o, torch.Tensor) or isinstance(o, FakeTensor) for o in out)
    return True


def wrap_outputs(mode: FakeTensorMode, out: object, device: torch.device | None) -> object:
    """Turn the meta tensors in ``out`` into fake tensors on ``device``."""
    if isinstance(out, torch.Tensor):
        return wrap_tensor(mode, out, device)
    if isinstance(out, (tuple, list)):
        wrapped = [wrap_outputs(mode, o, device) for o in out]
        return wrapped if isinstance(out, list) else tuple(wrapped)
    return out


def wrap_tensor(mode: FakeTensorMode, t: torch.Tensor, device: torch.device | None) -> torch.Tensor:
    """A meta tensor becomes a fake tensor; a fake tensor stays as it is."""
    if isinstance(t, FakeTensor):
        return t
    if t.device.type != "meta":
        return mode.from_tensor(t)
    return FakeTensor(mode, t, device or _CPU)
