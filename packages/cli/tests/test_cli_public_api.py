"""The public surface of torchshade.cli: empty until its issue lands."""

import torchshade.cli


def test_public_names() -> None:
    assert torchshade.cli.__all__ == []
    public = {name for name in vars(torchshade.cli) if not name.startswith("_")}
    assert public == set(torchshade.cli.__all__)
