"""The public surface of torchshade.autograd, pinned: names and signatures."""

import inspect

import torchshade.autograd

EXPECTED = {
    "Function",
    "InferenceTensorSavedError",
    "SavedTensorDetachedError",
    "SavedTensorEntry",
    "SavedTensorError",
    "SavedTensorFreedError",
    "SavedTensorHooksError",
    "SavedTensorModifiedError",
    "SavedTensorsReport",
    "SavedVariable",
    "record_inplace_culprits",
    "save_on_cpu",
    "save_on_disk",
    "saved_tensors_hooks",
    "saved_tensors_report",
    "set_version_counter",
    "tensor_version",
}

SIGNATURES = {
    "SavedVariable": "(tensor: 'torch.Tensor | None', is_output: 'bool' = False, is_inplace_on_view: 'bool' = False) -> 'None'",
    "saved_tensors_hooks": "(pack_hook: 'PackHook', unpack_hook: 'UnpackHook') -> 'None'",
    "save_on_cpu": "(pin_memory: 'bool' = True) -> 'None'",
    "save_on_disk": "(directory: 'str | os.PathLike[str] | None' = None) -> 'None'",
    "saved_tensors_report": "(fn: 'Callable[..., object]', *args: 'object', **kwargs: 'object') -> 'SavedTensorsReport'",
    "tensor_version": "(tensor: 'torch.Tensor') -> 'int'",
    "set_version_counter": "(tensors: 'Sequence[torch.Tensor]', versions: 'Sequence[int]') -> 'None'",
}


def test_public_names() -> None:
    assert set(torchshade.autograd.__all__) == EXPECTED
    public = {name for name in vars(torchshade.autograd) if not name.startswith("_")}
    assert public == set(torchshade.autograd.__all__)


def test_signatures() -> None:
    for name, expected in SIGNATURES.items():
        obj = getattr(torchshade.autograd, name)
        target = obj.__init__ if inspect.isclass(obj) else obj
        sig = inspect.signature(target)
        if inspect.isclass(obj):
            sig = sig.replace(parameters=list(sig.parameters.values())[1:])
        assert str(sig) == expected, name


def test_errors_are_runtime_errors_with_docstrings() -> None:
    for name in EXPECTED:
        obj = getattr(torchshade.autograd, name)
        if inspect.isclass(obj) and issubclass(obj, Exception):
            assert issubclass(obj, torchshade.autograd.SavedTensorError)
            assert issubclass(obj, RuntimeError)
            if obj is not torchshade.autograd.SavedTensorError:
                doc = obj.__doc__ or ""
                assert "Cause" in doc and "Fix:" in doc, name
