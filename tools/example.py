"""The end-to-end example of the README's Quick start (until `torchshade` the command exists).

A transformer encoder layer is built inside a FakeTensorMode (its weights are
fake: no memory is allocated for them), then run on an input whose batch and
sequence dimensions are symbols of a ShapeEnv. It prints the output's shape in
those symbols, the guards the run relied on, and the same answer from
`eval_shape` with a spec string.

    python tools/example.py
"""

from __future__ import annotations

import torch
from torchshade.fake import FakeTensorMode, eval_shape
from torchshade.shapes import DimDynamic, ShapeEnv

D_MODEL, HEADS = 64, 4


def main() -> None:
    env = ShapeEnv()
    mode = FakeTensorMode(shape_env=env)
    with mode:
        layer = torch.nn.TransformerEncoderLayer(D_MODEL, HEADS, dim_feedforward=128, batch_first=True)
    layer.eval()

    example = torch.randn(8, 16, D_MODEL)
    policy = [DimDynamic.DYNAMIC, DimDynamic.DYNAMIC, DimDynamic.STATIC]
    x = mode.from_tensor(example, source="x", dynamic_dims=policy)
    with mode:
        y = layer(x)
    print(f"input : {tuple(x.shape)}   (x.size()[0] and x.size()[1] are symbols)")
    print(f"output: {tuple(y.shape)}")
    print(f"weights: {sum(p.numel() for p in layer.parameters())} fake parameters, 0 bytes allocated")
    print("guards:")
    print("  " + (env.format_guards().replace("\n", "\n  ") or "(none)"))

    def mlp(tokens: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
        return torch.relu(tokens @ w1) @ w2

    print("eval_shape(mlp, 'f32[batch, seq, 64]', 'f32[64, 256]', 'f32[256, 64]') ->")
    print(f"  {eval_shape(mlp, 'f32[batch, seq, 64]', 'f32[64, 256]', 'f32[256, 64]')}")


if __name__ == "__main__":
    main()
