"""The public surface of torchshade.trace: empty until its issue lands."""

import torchshade.trace


def test_public_names() -> None:
    assert torchshade.trace.__all__ == []
    public = {name for name in vars(torchshade.trace) if not name.startswith("_")}
    assert public == set(torchshade.trace.__all__)
