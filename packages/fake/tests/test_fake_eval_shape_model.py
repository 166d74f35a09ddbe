"""eval_shape on ordinary models with real weights, closed over.

As JAX's eval_shape does with closed-over arrays: the real tensors the
function meets are converted as they are met, never copied or written; the
user's weights, buffers and grads are exactly as they were afterwards.
Output shapes are compared with eager runs of the same model.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torchshade.shapes import ShapeEnv

from torchshade.fake import FakeTensorMode, NonFakeInputError, ShapeDtypeStruct, eval_shape

Snapshot = dict[str, tuple[object, ...]]


def _snapshot(model: torch.nn.Module) -> Snapshot:
    """Everything about each weight, buffer and grad that must not change."""
    out: Snapshot = {}
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        grad = t.grad
        out[name] = (
            t.data_ptr(), t.clone(), t._version, t.requires_grad, tuple(t.shape), t.stride(),
            None if grad is None else (grad.data_ptr(), grad.clone(), grad._version),
        )
    return out


def _assert_untouched(before: Snapshot, after: Snapshot) -> None:
    assert before.keys() == after.keys()
    for name, old in before.items():
        new = after[name]
        assert old[0] == new[0] and old[2:6] == new[2:6], name
        assert torch.equal(old[1], new[1]), name  # type: ignore[arg-type]  # position 1 holds a tensor
        old_grad, new_grad = old[6], new[6]
        assert (old_grad is None) == (new_grad is None), name
        if isinstance(old_grad, tuple) and isinstance(new_grad, tuple):
            assert old_grad[0] == new_grad[0] and old_grad[2] == new_grad[2], name
            assert torch.equal(old_grad[1], new_grad[1]), name


def _mlp() -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(128, 64), torch.nn.BatchNorm1d(64), torch.nn.ReLU(),
        torch.nn.Dropout(0.1), torch.nn.Linear(64, 8),
    )
    model(torch.randn(5, 128)).sum().backward()  # real grads, and one BatchNorm step
    return model


def _encoder() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.TransformerEncoderLayer(128, 4, dim_feedforward=64, batch_first=True, dropout=0.0)


def _cnn() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 10),
    )


MODELS: dict[str, tuple[Callable[[], torch.nn.Module], str, Callable[[int], torch.Tensor]]] = {
    "mlp": (_mlp, "f32[batch, 128]", lambda b: torch.randn(b, 128)),
    "encoder": (_encoder, "f32[batch, 7, 128]", lambda b: torch.randn(b, 7, 128)),
    "cnn": (_cnn, "f32[batch, 3, 16, 16]", lambda b: torch.randn(b, 3, 16, 16)),
}


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", list(MODELS))
def test_model_with_real_weights(name: str, training: bool) -> None:
    make, spec, example = MODELS[name]
    model = make().train(training)
    before = _snapshot(model)
    out = eval_shape(lambda x: model(x), spec)
    _assert_untouched(before, _snapshot(model))
    assert isinstance(out, ShapeDtypeStruct) and out.dims[0] == "batch"
    for batch in (2, 5):
        eager = model(example(batch))
        dims = tuple(batch if d == "batch" else d for d in out.dims)
        assert dims == tuple(eager.shape) and out.dtype == eager.dtype


def test_backward_inside_leaves_real_grads_alone() -> None:
    model = _mlp()
    before = _snapshot(model)

    def loss_and_backward(x: torch.Tensor) -> torch.Tensor:
        loss: torch.Tensor = model(x).sum()
        loss.backward()  # into the fakes of the weights; the real ones keep their grads
        return loss

    out = eval_shape(loss_and_backward, "f32[batch, 128]")
    assert out.dims == () and out.dtype == torch.float32
    _assert_untouched(before, _snapshot(model))


def test_in_place_on_a_closed_over_tensor_writes_its_fake_only() -> None:
    counter = torch.zeros(3)
    out = eval_shape(lambda x: counter.add_(1).expand(x.shape[0], 3), "f32[batch, 4]")
    assert out.dims == ("batch", 3)
    assert counter._version == 0 and torch.equal(counter, torch.zeros(3))


def test_users_mode_converts_real_tensors_for_the_call_only() -> None:
    mode = FakeTensorMode(shape_env=ShapeEnv())
    x = mode.from_tensor(torch.randn(4, 128), source="x")
    layer = torch.nn.Linear(128, 16)
    out = eval_shape(lambda a: layer(a), x)
    assert out.dims == (str(x.shape[0]), 16)
    assert not mode.allow_non_fake_inputs
    with mode, pytest.raises(NonFakeInputError, match="is a real tensor"):
        layer(x)
