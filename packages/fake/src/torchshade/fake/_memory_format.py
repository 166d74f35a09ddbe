"""Output memory formats that torch's meta kernels get wrong: the ones eager gives.

Convolutions
------------

torch's meta kernel for the convolution family returns contiguous outputs:
a meta tensor has no device, so it cannot know which backend (mkldnn, the
slow CPU kernels, cuDNN, ...) eager would pick, and the backend decides
whether a channels-last input or weight gives a channels-last output. We
know the fake device, so we ask torch's C++ backend selection itself
(``torch._C._select_conv_backend`` and
``torch._C._conv_determine_backend_memory_format``) with the fake tensors,
which report their fake device while the mode is on the stack, and restride
the kernel's outputs to that format.

1-d convolutions are viewed as 2-d ones (eager does the same): the format
is asked for the inputs with a unit height, and a 3-d output is made
channels-last through that unit dimension. Sizes without a hint (unbacked
symbols) give no answer, and the outputs stay contiguous, as in torch's
fake mode. With backed symbols the backend selection reads their hints
and may record guards, as in torch's fake mode.

A fake CUDA tensor on a build without CUDA cannot ask for a CUDA backend;
it gets cuDNN's rule (channels-last in, channels-last out; never for
float64), what a GPU with cuDNN gives.

Ops that keep their input's format
----------------------------------
``channel_shuffle`` and ``max_unpool2d`` give their output the input's
suggested memory format eagerly (channels-last in, channels-last out); their
meta kernel and decomposition give contiguous outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import torch

from . import _torch_private as private
from ._stand_in import has_no_backend

if TYPE_CHECKING:
    from ._mode import FakeTensorMode

aten = torch.ops.aten
_FORWARD = frozenset(
    {aten.convolution.default, aten._convolution.default, aten._convolution.deprecated}
)
_BACKWARD = aten.convolution_backward.default
CONVOLUTIONS: frozenset[object] = _FORWARD | {_BACKWARD}
KEEP_INPUT_FORMAT: frozenset[object] = frozenset(
    {aten.channel_shuffle.default, aten.native_channel_shuffle.default, aten.max_unpool2d.default}
)

# The arguments of _select_conv_backend, by their schema names.
_SELECT_ARGS = ("stride", "padding", "dilation", "transposed", "output_padding", "groups")

UnderMode = Callable[[Callable[[], object]], object]


def output_memory_format(
    func: torch._ops.OpOverload,
    args: Sequence[object],
    kwargs: Mapping[str, object],
    under_mode: UnderMode,
) -> torch.memory_format | None:
    """The format eager's backend gives ``func``'s outputs, or None to keep the kernel's."""
    bound = _bind(func, args, kwargs)
    input_, weight = bound["input"], bound["weight"]
    assert isinstance(input_, torch.Tensor) and isinstance(weight, torch.Tensor)  # schema types
    if not (_has_hints(input_) and _has_hints(weight)):
        return None
    if has_no_backend(input_.device):
        cudnn = under_mode(lambda: _cudnn_format(input_, weight))
        assert isinstance(cudnn, torch.memory_format)  # what _cudnn_format returns
        return cudnn
    select: dict[str, object] = {name: bound[name] for name in _SELECT_ARGS}
    if func is _BACKWARD:
        select["bias"] = None
        select["bias_sizes"] = bound["bias_sizes"]
    else:
        select["bias"] = bound["bias"]

    def ask() -> torch.memory_format:
        backend = private.select_conv_backend(input_, weight, **select)
        if weight.dim() == 3:  # 1-d convolution: ask as a 2-d one of unit height
            return private.conv_determine_backend_memory_format(
                input_.contiguous().unsqueeze(2), weight.unsqueeze(2), backend
            )
        return private.conv_determine_backend_memory_format(input_, weight, backend)

    found = under_mode(ask)
    assert isinstance(found, torch.memory_format)  # what ask returns
    return found


def restride_outputs(
    func: torch._ops.OpOverload,
    out: object,
    memory_format: torch.memory_format,
    under_mode: UnderMode,
) -> object:
    """``out`` with its convolution outputs (not a bias gradient) in ``memory_format``."""
    if func is _BACKWARD:
        assert isinstance(out, tuple) and len(out) == 3  # (grad_input, grad_weight, grad_bias)
        grad_input, grad_weight, grad_bias = out
        return (
            _restride(grad_input, memory_format, under_mode),
            _restride(grad_weight, memory_format, under_mode),
            grad_bias,
        )
    return _restride(out, memory_format, under_mode)


def _restride(t: object, memory_format: torch.memory_format, under_mode: UnderMode) -> object:
    if not isinstance(t, torch.Tensor):
        return t

    def restrided() -> torch.Tensor:
        if t.is_contiguous(memory_format=memory_format):
            return t
        if t.dim() == 3 and memory_format == torch.channels_last:
            return t.unsqueeze(2).contiguous(memory_format=memory_format).squeeze(2)
        if t.dim() not in (4, 5) or (t.dim() == 4) != (memory_format != torch.channels_last_3d):
            return t  # the format does not apply to this rank
        return t.contiguous(memory_format=memory_format)

    return under_mode(restrided)


def input_format(args: Sequence[object], under_mode: UnderMode) -> torch.memory_format | None:
    """The channels-last format of the first argument, if it is channels-last; else None."""
    found = under_mode(lambda: _channels_last_format(args[0]))
    assert found is None or isinstance(found, torch.memory_format)  # what _channels_last_format returns
    return found


def _channels_last_format(t: object) -> torch.memory_format | None:
    """``t``'s channels-last format when its strides suggest one, as eager's kernels ask."""
    if not isinstance(t, torch.Tensor):
        return None
    fmt = private.suggest_memory_format(t)
    return None if fmt == torch.contiguous_format else fmt


def _cudnn_format(input_: torch.Tensor, weight: torch.Tensor) -> torch.memory_format:
    """cuDNN's rule, for fake CUDA tensors on a build without CUDA (whose backend choice we cannot ask).

    Channels-last when the input or the weight is, except in float64.
    """
    if torch.float64 in (input_.dtype, weight.dtype):
        return torch.contiguous_format
    for t in (input_, weight):
        fmt = _channels_last_format(t)
        if fmt is not None:
            return fmt
    return torch.contiguous_format


def _bind(
    func: torch._ops.OpOverload, args: Sequence[object], kwargs: Mapping[str, object]
) -> dict[str, object]:
    """Arguments by schema name, defaults filled in."""
    bound: dict[str, object] = {}
    for index, argument in enumerate(func._schema.arguments):
        if index < len(args):
            bound[argument.name] = args[index]
        elif argument.name in kwargs:
            bound[argument.name] = kwargs[argument.name]
        else:
            bound[argument.name] = argument.default_value
    return bound


def _has_hints(t: torch.Tensor) -> bool:
    return all(not isinstance(s, torch.SymInt) or s.node.has_hint() for s in t.shape)
