"""torchshade.hops: cond, while_loop and scan, eager, fake, traced and differentiable.

Switch from torch by changing the import::

    from torchshade.hops import cond, while_loop, scan   # was torch.cond / torch._higher_order_ops

See README.md for what each setting does and the graph contract.
"""

from ._cond import cond as cond
from ._errors import AliasingError as AliasingError
from ._errors import HopArgumentError as HopArgumentError
from ._errors import HopError as HopError
from ._errors import InputMutationError as InputMutationError
from ._errors import OutputMismatchError as OutputMismatchError
from ._scan import scan as scan
from ._while_loop import while_loop as while_loop

__all__: list[str] = [
    "AliasingError",
    "HopArgumentError",
    "HopError",
    "InputMutationError",
    "OutputMismatchError",
    "cond",
    "scan",
    "while_loop",
]
