"""User constraints on dimensions: named dims with bounds and dims derived from them.

    batch = Dim("batch", min=2, max=1024)
    env.create_symbolic_sizes_strides_storage_offset(x, "x", dims={0: batch})
    env.create_symbolic_sizes_strides_storage_offset(y, "y", dims={0: 2 * batch})

Every use of one ``Dim`` in an env shares one symbol; ``2 * batch`` is that
symbol's expression, not a new symbol.  If tracing needs a fact that narrows a
``Dim``'s declared range (``batch == 4``), the env raises
``ConstraintViolationError`` with the declaration that would fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Dim:
    """A named dynamic dimension with inclusive bounds ``min <= size <= max``.

    ``min`` defaults to 2, as for every dynamic size with ``specialize_zero_one``:
    sizes 0 and 1 take other paths in most kernels (empty tensors, broadcasting),
    so allowing them makes tracing contradict the Dim at the first such check.
    """

    name: str
    min: int = 2
    max: int | float = math.inf

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"Dim name {self.name!r} is not a Python identifier; use e.g. Dim('batch')")
        if self.min < 0 or self.min > self.max:
            raise ValueError(
                f"Dim {self.name!r} has min={self.min}, max={self.max}: "
                "sizes need 0 <= min <= max; for example Dim('batch', min=2, max=1024)"
            )

    def __mul__(self, coeff: int) -> DerivedDim:
        return DerivedDim(self, coeff, 0)

    __rmul__ = __mul__

    def __add__(self, offset: int) -> DerivedDim:
        return DerivedDim(self, 1, offset)

    __radd__ = __add__

    def __sub__(self, offset: int) -> DerivedDim:
        return DerivedDim(self, 1, -offset)

    def __str__(self) -> str:
        bounds = [f"min={self.min}"] if self.min != 2 else []
        bounds += [f"max={self.max}"] if self.max != math.inf else []
        return f"Dim({', '.join([repr(self.name), *bounds])})"


@dataclass(frozen=True)
class DerivedDim:
    """``coeff * root + offset`` for a ``Dim`` root (write ``2 * batch``, ``batch + 1``)."""

    root: Dim
    coeff: int
    offset: int

    def __post_init__(self) -> None:
        if self.coeff <= 0:
            raise ValueError(
                f"derived dim {self.coeff}*{self.root.name}: the coefficient must be a positive int"
            )

    def __mul__(self, coeff: int) -> DerivedDim:
        return DerivedDim(self.root, self.coeff * coeff, self.offset * coeff)

    __rmul__ = __mul__

    def __add__(self, offset: int) -> DerivedDim:
        return DerivedDim(self.root, self.coeff, self.offset + offset)

    __radd__ = __add__

    def __sub__(self, offset: int) -> DerivedDim:
        return DerivedDim(self.root, self.coeff, self.offset - offset)

    def root_value(self, size: int) -> int | None:
        """The root's value for this dim's ``size``, or None if no int root fits."""
        q, r = divmod(size - self.offset, self.coeff)
        return q if r == 0 else None

    def __str__(self) -> str:
        text = f"{self.coeff}*{self.root.name}" if self.coeff != 1 else self.root.name
        if self.offset:
            text += f" {'+' if self.offset > 0 else '-'} {abs(self.offset)}"
        return text
