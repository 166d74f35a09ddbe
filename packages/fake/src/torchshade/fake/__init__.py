"""torchshade.fake: fake tensors, metadata-only tensors that run PyTorch code.

Switch from torch by changing the import::

    from torchshade.fake import FakeTensorMode   # was torch._subclasses.fake_tensor
"""

from ._errors import DataDependentOutputException as DataDependentOutputException
from ._errors import DispatchCacheMismatchError as DispatchCacheMismatchError
from ._errors import DynamicOutputShapeException as DynamicOutputShapeException
from ._errors import FakeDeviceMismatchError as FakeDeviceMismatchError
from ._errors import FakeModeMismatchError as FakeModeMismatchError
from ._errors import FakeTensorError as FakeTensorError
from ._errors import MissingFakeImplError as MissingFakeImplError
from ._errors import NonFakeInputError as NonFakeInputError
from ._errors import ShapeSpecError as ShapeSpecError
from ._eval_shape import ShapeDtypeStruct as ShapeDtypeStruct
from ._eval_shape import eval_shape as eval_shape
from ._mode import FakeTensorMode as FakeTensorMode
from ._prop import FakeTensorProp as FakeTensorProp
from ._tensor import FakeTensor as FakeTensor

__all__: list[str] = [
    "DataDependentOutputException",
    "DispatchCacheMismatchError",
    "DynamicOutputShapeException",
    "FakeDeviceMismatchError",
    "FakeModeMismatchError",
    "FakeTensorError",
    "FakeTensor",
    "FakeTensorMode",
    "FakeTensorProp",
    "MissingFakeImplError",
    "NonFakeInputError",
    "ShapeDtypeStruct",
    "ShapeSpecError",
    "eval_shape",
]
