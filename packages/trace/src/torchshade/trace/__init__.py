"""torchshade.trace: not yet implemented; its public names arrive with its issue."""

__all__: list[str] = []
