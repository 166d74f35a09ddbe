"""The public surface of torchshade.hops: empty until its issue lands."""

import torchshade.hops


def test_public_names() -> None:
    assert torchshade.hops.__all__ == []
    public = {name for name in vars(torchshade.hops) if not name.startswith("_")}
    assert public == set(torchshade.hops.__all__)
