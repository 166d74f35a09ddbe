"""torchshade.autograd: saved variables with version checks, hooks that keep them.

``SavedVariable`` does in Python what torch's C++ SavedVariable does;
``Function`` is ``torch.autograd.Function`` with those checks on
``ctx.saved_tensors``; ``saved_tensors_hooks`` keeps the version check that
torch drops under hooks and composes nested pairs; ``save_on_cpu`` and
``save_on_disk`` are ready hooks; ``record_inplace_culprits`` names the
in-place write behind a version error; ``tensor_version`` and
``set_version_counter`` are traceable version ops; ``saved_tensors_report``
says what backward will keep, under fake tensors.  See README.md.
"""

from ._culprits import record_inplace_culprits as record_inplace_culprits
from ._errors import InferenceTensorSavedError as InferenceTensorSavedError
from ._errors import SavedTensorDetachedError as SavedTensorDetachedError
from ._errors import SavedTensorError as SavedTensorError
from ._errors import SavedTensorFreedError as SavedTensorFreedError
from ._errors import SavedTensorHooksError as SavedTensorHooksError
from ._errors import SavedTensorModifiedError as SavedTensorModifiedError
from ._function import Function as Function
from ._offload import save_on_cpu as save_on_cpu
from ._offload import save_on_disk as save_on_disk
from ._report import SavedTensorEntry as SavedTensorEntry
from ._report import SavedTensorsReport as SavedTensorsReport
from ._report import saved_tensors_report as saved_tensors_report
from ._hooks import saved_tensors_hooks as saved_tensors_hooks
from ._saved_variable import SavedVariable as SavedVariable
from ._version_ops import set_version_counter as set_version_counter
from ._version_ops import tensor_version as tensor_version

__all__ = [
    "Function",
    "InferenceTensorSavedError",
    "SavedTensorDetachedError",
    "SavedTensorError",
    "SavedTensorFreedError",
    "SavedTensorHooksError",
    "SavedTensorModifiedError",
    "SavedTensorEntry",
    "SavedTensorsReport",
    "SavedVariable",
    "record_inplace_culprits",
    "save_on_cpu",
    "save_on_disk",
    "saved_tensors_hooks",
    "saved_tensors_report",
    "set_version_counter",
    "tensor_version",
]
