"""Building blocks shared by GoogLeNet's successors:

* Ioffe & Szegedy (2015), "Batch Normalization: Accelerating Deep Network Training by
  Reducing Internal Covariate Shift", ICML (BN-Inception, Figure 5);
* Szegedy, Vanhoucke, Ioffe, Shlens & Wojna (2016), "Rethinking the Inception
  Architecture for Computer Vision", CVPR (Inception-v3, Figures 5-7 and 10);
* Szegedy, Ioffe, Vanhoucke & Alemi (2017), "Inception-v4, Inception-ResNet and the
  Impact of Residual Connections on Learning", AAAI (Figures 4-7, 9-10, 15-19).

Argument names extend GoogLeNet's ``Inception(in_channels, ch1x1, ch3x3red, ch3x3,
ch5x5red, ch5x5, pool_proj)``: ``dbl3x3red``/``dbl3x3`` is the column "double #3×3" of
BN-Inception's table, the 5×5 path factorised into two 3×3 convolutions.
"""

from __future__ import annotations

import torch
from torch import nn


class BasicConv2d(nn.Module):
    """Conv (no bias: BN has one) -> BatchNorm -> ReLU, the unit of every post-v1 Inception."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int = 1, padding: int | tuple[int, int] = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=1e-3)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


def conv_1xn(in_channels: int, mid: int, out_channels: int, n: int, first: str = "1xn") -> list[nn.Module]:
    """An n×n convolution factorised into 1×n then n×1 (or n×1 then 1×n), v3 Figure 6."""
    shapes = [(1, n), (n, 1)] if first == "1xn" else [(n, 1), (1, n)]
    pads = [(k[0] // 2, k[1] // 2) for k in shapes]
    return [BasicConv2d(in_channels, mid, shapes[0], padding=pads[0]),
            BasicConv2d(mid, out_channels, shapes[1], padding=pads[1])]


class InceptionBN(nn.Module):
    """BN-Inception module (v3's Figure 5): 1×1 | 1×1 -> 3×3 | 1×1 -> 3×3 -> 3×3 | pool -> 1×1."""

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, dbl3x3red: int,
                 dbl3x3: int, pool_proj: int, pool: str = "avg") -> None:
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, 1)
        self.branch2 = nn.Sequential(BasicConv2d(in_channels, ch3x3red, 1),
                                     BasicConv2d(ch3x3red, ch3x3, 3, padding=1))
        self.branch3 = nn.Sequential(BasicConv2d(in_channels, dbl3x3red, 1),
                                     BasicConv2d(dbl3x3red, dbl3x3, 3, padding=1),
                                     BasicConv2d(dbl3x3, dbl3x3, 3, padding=1))
        pooling = nn.AvgPool2d(3, 1, 1) if pool == "avg" else nn.MaxPool2d(3, 1, 1)
        self.branch4 = nn.Sequential(pooling, BasicConv2d(in_channels, pool_proj, 1))
        self.out_channels = ch1x1 + ch3x3 + dbl3x3 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionReduce(nn.Module):
    """Grid-size reduction (BN-Inception's 3c/4e, v3's Figure 10, v4's Reduction-A):
    [1×1 ->] 3×3/2 | 1×1 -> 3×3 -> 3×3/2 | max pool 3×3/2, concatenated, so the grid halves
    while the channels grow. ``ch3x3red=0`` drops the first path's 1×1 (v4 Reduction-A).
    ``padding=1`` halves rounding up; the papers' "valid" reductions use ``padding=0``."""

    def __init__(self, in_channels: int, ch3x3red: int, ch3x3: int, dbl3x3red: int, dbl3x3: int,
                 padding: int = 1) -> None:
        super().__init__()
        first = [BasicConv2d(in_channels, ch3x3red, 1)] if ch3x3red else []
        self.branch1 = nn.Sequential(*first, BasicConv2d(ch3x3red or in_channels, ch3x3, 3, 2, padding))
        self.branch2 = nn.Sequential(BasicConv2d(in_channels, dbl3x3red, 1),
                                     BasicConv2d(dbl3x3red, dbl3x3, 3, padding=1),
                                     BasicConv2d(dbl3x3, dbl3x3, 3, 2, padding))
        self.branch3 = nn.MaxPool2d(3, 2, padding)  # "pass through": the input's channels, pooled
        self.out_channels = ch3x3 + dbl3x3 + in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x)], 1)


class InceptionFactorized(nn.Module):
    """v3's Figure 6 / v4's Inception-B: the 3×3 paths of ``InceptionBN`` become 1×n/n×1 pairs."""

    def __init__(self, in_channels: int, ch1x1: int, ch7x7red: int, ch7x7: int, dbl7x7red: int,
                 dbl7x7: int, pool_proj: int, n: int = 7) -> None:
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, 1)
        self.branch2 = nn.Sequential(BasicConv2d(in_channels, ch7x7red, 1), *conv_1xn(ch7x7red, ch7x7red, ch7x7, n))
        self.branch3 = nn.Sequential(BasicConv2d(in_channels, dbl7x7red, 1),
                                     *conv_1xn(dbl7x7red, dbl7x7red, dbl7x7red, n, first="nx1"),
                                     *conv_1xn(dbl7x7red, dbl7x7red, dbl7x7, n, first="nx1"))
        self.branch4 = nn.Sequential(nn.AvgPool2d(3, 1, 1), BasicConv2d(in_channels, pool_proj, 1))
        self.out_channels = ch1x1 + ch7x7 + dbl7x7 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionExpanded(nn.Module):
    """v3's Figure 7 / v4's Inception-C, for the coarsest grid: the last conv of each 3×3
    path splits into parallel 1×3 and 3×1 convs whose outputs are concatenated."""

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, dbl3x3red: int,
                 dbl3x3: int, pool_proj: int) -> None:
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, 1)
        self.branch2 = BasicConv2d(in_channels, ch3x3red, 1)
        self.branch2_split = nn.ModuleList([BasicConv2d(ch3x3red, ch3x3, (1, 3), padding=(0, 1)),
                                            BasicConv2d(ch3x3red, ch3x3, (3, 1), padding=(1, 0))])
        self.branch3 = nn.Sequential(BasicConv2d(in_channels, dbl3x3red, 1),
                                     BasicConv2d(dbl3x3red, dbl3x3, 3, padding=1))
        self.branch3_split = nn.ModuleList([BasicConv2d(dbl3x3, dbl3x3, (1, 3), padding=(0, 1)),
                                            BasicConv2d(dbl3x3, dbl3x3, (3, 1), padding=(1, 0))])
        self.branch4 = nn.Sequential(nn.AvgPool2d(3, 1, 1), BasicConv2d(in_channels, pool_proj, 1))
        self.out_channels = ch1x1 + 2 * ch3x3 + 2 * dbl3x3 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b2, b3 = self.branch2(x), self.branch3(x)
        return torch.cat([self.branch1(x), *(m(b2) for m in self.branch2_split),
                          *(m(b3) for m in self.branch3_split), self.branch4(x)], 1)
