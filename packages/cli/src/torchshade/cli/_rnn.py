"""A recurrent network built on ``torchshade.hops.scan``: one step function, scanned over ``seq``.

``x`` is ``f32[batch, seq, dim]``; the input projection runs on every step at
once, the recurrence ``h = tanh(W_in x_t + W_rec h)`` is the scan's body (one
node in a trace, whatever ``seq`` is), and a projection reads every state out.
"""

from __future__ import annotations

import torch
from torch import nn
from torchshade.hops import scan


class ScanRNN(nn.Module):
    """An Elman RNN whose time loop is ``scan``: ``f32[batch, seq, dim]`` to the same shape."""

    def __init__(self, dim: int = 1024, hidden: int = 2048) -> None:
        super().__init__()
        self.inp = nn.Linear(dim, hidden)
        self.rec = nn.Linear(hidden, hidden, bias=False)
        self.out = nn.Linear(hidden, dim)

    def step(self, h: torch.Tensor, xt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        nxt = torch.tanh(xt + self.rec(h))
        return nxt, nxt.clone()  # the carry and this step's output (a scan output may not alias the carry)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = x.new_zeros(x.shape[0], self.rec.in_features)
        _, states = scan(self.step, h0, self.inp(x), dim=1)
        out: torch.Tensor = self.out(states)
        return out
