import inspect

import torchshade.hops


def test_public_names() -> None:
    assert torchshade.hops.__all__ == [
        "AliasingError",
        "HopArgumentError",
        "HopError",
        "InputMutationError",
        "OutputMismatchError",
        "cond",
        "scan",
        "while_loop",
    ]
    public = {name for name in vars(torchshade.hops) if not name.startswith("_")}
    assert public == set(torchshade.hops.__all__)


def test_signatures_follow_torch() -> None:
    cond_params = inspect.signature(torchshade.hops.cond).parameters
    assert list(cond_params) == ["pred", "true_fn", "false_fn", "operands"]
    assert cond_params["operands"].default == ()
    assert list(inspect.signature(torchshade.hops.while_loop).parameters) == [
        "cond_fn", "body_fn", "carried_inputs", "additional_inputs", "checkpoint",
    ]  # fmt: skip
    params = inspect.signature(torchshade.hops.scan).parameters
    assert list(params) == ["combine_fn", "init", "xs", "dim", "reverse", "length", "checkpoint"]
    assert all(params[n].kind is inspect.Parameter.KEYWORD_ONLY for n in ("dim", "reverse", "length", "checkpoint"))


def test_errors_share_a_base() -> None:
    for name in ("AliasingError", "HopArgumentError", "InputMutationError", "OutputMismatchError"):
        cls = getattr(torchshade.hops, name)
        assert issubclass(cls, torchshade.hops.HopError) and cls.__doc__ and "Fix" in cls.__doc__
