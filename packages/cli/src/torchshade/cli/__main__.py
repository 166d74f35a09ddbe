"""``python -m torchshade.cli``: the ``torchshade`` command."""

from ._main import console_main

console_main()
