"""torchshade.cli: the ``torchshade`` command, and the pieces it is made of.

``main(argv)`` runs the command (``torchshade models | memory | trace``);
``parse_spec`` reads an input SPEC (``i64[batch, seq]``); ``BUILTIN_MODELS``
are the models it knows by name; ``measure_memory`` and ``trace_model``
produce the reports. See README.md.
"""

from ._errors import CliError as CliError
from ._errors import DimensionError as DimensionError
from ._errors import FactoryError as FactoryError
from ._errors import SpecError as SpecError
from ._errors import TargetError as TargetError
from ._main import main as main
from ._memory import MemoryReport as MemoryReport
from ._memory import measure_memory as measure_memory
from ._models import BUILTIN_MODELS as BUILTIN_MODELS
from ._models import Model as Model
from ._spec import TensorSpec as TensorSpec
from ._spec import parse_spec as parse_spec
from ._trace import TraceReport as TraceReport
from ._trace import trace_model as trace_model

__all__: list[str] = [
    "BUILTIN_MODELS",
    "CliError",
    "DimensionError",
    "FactoryError",
    "MemoryReport",
    "Model",
    "SpecError",
    "TargetError",
    "TensorSpec",
    "TraceReport",
    "main",
    "measure_memory",
    "parse_spec",
    "trace_model",
]
