"""Layers the course needs that PyTorch does not provide in the papers' conventions."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LocalResponseNorm(nn.Module):
    r"""Local response normalisation across channels, in the AlexNet paper's convention.

    Krizhevsky, Sutskever & Hinton (2012), Section 3.3:

    .. math::
        b^i_{x,y} = a^i_{x,y} \Big/ \Big(k + \alpha \sum_{j=\max(0,\,i-n/2)}^{\min(N-1,\,i+n/2)}
        (a^j_{x,y})^2\Big)^{\beta}

    with ``k=2, n=5, α=1e-4, β=0.75`` in the paper. The sum runs over the ``size`` channels
    centred on ``i`` and is truncated at the first and last channel (no wrap-around); for an
    even ``size`` the window is ``i - size//2 .. i + (size-1)//2``, as in PyTorch.

    ``torch.nn.LocalResponseNorm`` divides ``alpha`` by ``size`` (it averages the squares
    instead of summing them), so the paper's setting there is
    ``nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)``; this class takes the paper's
    ``alpha=1e-4`` directly.

    The window sum is a stride-1 average pooling of ``x²`` over the channel axis (times
    ``size``), so there is no Python loop over samples or channels. Works for any input of
    shape ``(N, C, *)``, on any device and floating dtype.
    """

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0) -> None:
        super().__init__()
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2:
            raise ValueError(f"expected an input of shape (N, C, ...), got {tuple(x.shape)}")
        n, c = x.shape[:2]
        sq = x.reshape(n, 1, c, -1).square()  # channels become the pooled "height" axis
        # Zero padding truncates the window at the first and last channel.
        sq = F.pad(sq, (0, 0, self.size // 2, (self.size - 1) // 2))
        window_sum = F.avg_pool2d(sq, kernel_size=(self.size, 1), stride=1) * self.size
        div = (window_sum * self.alpha + self.k).pow(self.beta)
        return x / div.reshape(x.shape)

    def extra_repr(self) -> str:
        return f"size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
