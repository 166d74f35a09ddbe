"""torchshade.shapes: symbolic shapes on sympy.

``ShapeEnv`` owns symbols (backed ones with an example value, unbacked ones
with a range only), decides on symbolic values and records the guards those
decisions rely on; ``SymNode`` is the node behind ``torch.SymInt`` /
``SymFloat`` / ``SymBool`` that torch's own kernels call.  See README.md.
"""

from ._dims import DerivedDim as DerivedDim
from ._dims import Dim as Dim
from ._symbol_table import DimDynamic as DimDynamic
from ._env import ShapeEnv as ShapeEnv
from ._errors import ConstraintViolationError as ConstraintViolationError
from ._errors import DimHintMismatchError as DimHintMismatchError
from ._errors import GuardOnDataDependentSymNode as GuardOnDataDependentSymNode
from ._errors import GuardSourceError as GuardSourceError
from ._guards import Guard as Guard
from ._guards import GuardFailure as GuardFailure
from ._guards import Provenance as Provenance
from ._guards import RuntimeAssert as RuntimeAssert
from ._guards import is_library_file as is_library_file
from ._node import SymNode as SymNode
from ._ranges import ValueRanges as ValueRanges
from ._symbols import free_symbols as free_symbols
from ._symbols import free_unbacked_symbols as free_unbacked_symbols
from ._symbols import has_free_symbols as has_free_symbols
from ._tracing import sym_op_tracing as sym_op_tracing
from ._views import view_contiguous as view_contiguous

__all__ = [
    "ConstraintViolationError",
    "DerivedDim",
    "Dim",
    "DimDynamic",
    "DimHintMismatchError",
    "Guard",
    "GuardFailure",
    "GuardOnDataDependentSymNode",
    "GuardSourceError",
    "Provenance",
    "RuntimeAssert",
    "ShapeEnv",
    "SymNode",
    "ValueRanges",
    "free_symbols",
    "free_unbacked_symbols",
    "has_free_symbols",
    "is_library_file",
    "sym_op_tracing",
    "view_contiguous",
]
