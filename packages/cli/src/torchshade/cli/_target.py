"""TARGET: a built-in model name or ``path/to/file.py:factory``, loaded and built.

A factory is a function of no arguments returning an ``nn.Module`` (or any
callable taking the inputs by name), or a pair ``(callable, {name: spec})``
that also gives the inputs' default specs. The command calls it inside a
fake tensor mode, so the parameters it makes hold no memory.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from ._errors import FactoryError, TargetError
from ._frames import user_frames
from ._models import BUILTIN_MODELS, Model
from ._spec import TensorSpec, parse_spec


def resolve_target(target: str) -> Model:
    """The model TARGET names; raises ``TargetError`` naming the fix."""
    if target in BUILTIN_MODELS:
        return BUILTIN_MODELS[target]
    path_text, colon, factory_name = target.rpartition(":")
    if not colon or not path_text.endswith(".py"):
        names = ", ".join(BUILTIN_MODELS)
        raise TargetError(
            f"TARGET {target!r} is not a built-in model ({names}) nor path/to/file.py:factory. "
            "Run `torchshade models` for the built-in models, or name a Python file and a function in it, "
            "e.g. my_model.py:build."
        )
    path = Path(path_text)
    if not path.is_file():
        raise TargetError(f"TARGET {target!r}: no file {path_text!r}. Give the path of an existing Python file.")
    factory = _load(path, factory_name, target)
    return Model(target, f"{factory_name} from {path_text}", factory, ())


def _load(path: Path, factory_name: str, target: str) -> Callable[[], Callable[..., object]]:
    spec = importlib.util.spec_from_file_location(f"torchshade_target_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise TargetError(f"TARGET {target!r}: {path} cannot be loaded as a Python module; name a .py file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        raise FactoryError(_user_traceback(f"TARGET {target!r}: importing {path} raised", error)) from error
    factory = getattr(module, factory_name, None)
    if not callable(factory):
        found = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise TargetError(
            f"TARGET {target!r}: {path} has no function {factory_name!r}; its functions are "
            f"{', '.join(found) or '(none)'}. Name one that returns the model."
        )
    built: Callable[[], Callable[..., object]] = factory
    return built


def build(model: Model) -> tuple[Callable[..., object], tuple[TensorSpec, ...]]:
    """Call the model's factory: the callable and its default input specs (the factory's, if it gives them)."""
    try:
        made = model.build()
    except Exception as error:
        raise FactoryError(_user_traceback(f"TARGET {model.name!r}: the factory raised", error)) from error
    if isinstance(made, tuple) and len(made) == 2 and isinstance(made[1], dict):
        fn, specs = made
        return fn, tuple(parse_spec(str(k), str(v), option="factory input") for k, v in specs.items())
    if not callable(made):
        raise TargetError(
            f"TARGET {model.name!r}: the factory returned {type(made).__name__}, not a module or callable. "
            "Return an nn.Module, or a pair (callable, {input name: spec})."
        )
    return made, model.inputs


def _user_traceback(headline: str, error: BaseException) -> str:
    """The headline and the traceback of ``error`` without this package's own frames."""
    frames = user_frames(error.__traceback__)
    lines = traceback.format_list(frames) + traceback.format_exception_only(error)
    return f"{headline}:\nTraceback (most recent call last):\n{''.join(lines).rstrip()}\nFix the error above in your code."
