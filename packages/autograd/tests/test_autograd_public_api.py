"""The public surface of torchshade.autograd: empty until its issue lands."""

import torchshade.autograd


def test_public_names() -> None:
    assert torchshade.autograd.__all__ == []
    public = {name for name in vars(torchshade.autograd) if not name.startswith("_")}
    assert public == set(torchshade.autograd.__all__)
