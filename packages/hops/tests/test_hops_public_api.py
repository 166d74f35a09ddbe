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


def test_only_the_public_names_of_other_torchshade_packages_are_imported() -> None:
    import ast
    from pathlib import Path

    source = Path(torchshade.hops.__file__).parent
    for path in sorted(source.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("torchshade."):
                assert "._" not in node.module, f"{path.name} imports {node.module}"
