"""A compact Inception-ResNet-v2 (Szegedy, Ioffe, Vanhoucke & Alemi, 2017, "Inception-v4,
Inception-ResNet and the Impact of Residual Connections on Learning", AAAI) for 96×96 inputs.

Each residual Inception module (Figures 16-19) computes a few parallel conv paths,
concatenates them, projects back to the input width with a linear 1×1 conv (no BN, no
ReLU) and adds the result, multiplied by ``scale``, to its input: the paper found that
scaling the residuals by 0.1-0.3 before the addition kept very wide residual Inception
networks from "dying" early in training (Section 3.3).

Scaled down: ``width`` multiplies the channel counts (0.5 by default), two modules per
grid instead of 10/20/10, factorised kernels of length ``n=3`` (the paper's 7 suits 17×17
grids), the v3-style stem (``stem_width`` scales its channels; 1.0, the default, is
v3's), and the plain ``InceptionReduce`` for both reductions.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ._registry import register_model
from ._utils import check_input_size, check_model_args, init_weights
from .inception_blocks import BasicConv2d, InceptionBN, InceptionReduce, conv_1xn


class InceptionResNetBlock(nn.Module):
    """x -> relu(x + scale · up(cat(branches(x)))); ``kind`` "a", "b" or "c" picks Figure 16/17/19."""

    def __init__(self, in_channels: int, kind: str, scale: float = 0.2, width: float = 0.5, n: int = 3) -> None:
        super().__init__()

        def w(c: int) -> int:
            return max(1, round(c * width))

        if kind == "a":  # 35×35 grid in the paper
            branches = [BasicConv2d(in_channels, w(32), 1),
                        nn.Sequential(BasicConv2d(in_channels, w(32), 1), BasicConv2d(w(32), w(32), 3, padding=1)),
                        nn.Sequential(BasicConv2d(in_channels, w(32), 1), BasicConv2d(w(32), w(48), 3, padding=1),
                                      BasicConv2d(w(48), w(64), 3, padding=1))]
            mid = w(32) + w(32) + w(64)
        elif kind == "b":  # 17×17 grid: a factorised 1×n, n×1 path
            branches = [BasicConv2d(in_channels, w(192), 1),
                        nn.Sequential(BasicConv2d(in_channels, w(128), 1), *conv_1xn(w(128), w(160), w(192), n))]
            mid = 2 * w(192)
        elif kind == "c":  # 8×8 grid: 1×3, 3×1
            branches = [BasicConv2d(in_channels, w(192), 1),
                        nn.Sequential(BasicConv2d(in_channels, w(192), 1), *conv_1xn(w(192), w(224), w(256), 3))]
            mid = w(192) + w(256)
        else:
            raise ValueError(f"unknown kind {kind!r}; use 'a', 'b' or 'c'")
        self.branches = nn.ModuleList(branches)
        # Linear projection back to in_channels so the sum is defined; bias, no BN (paper).
        self.up = nn.Conv2d(mid, in_channels, kernel_size=1)
        self.scale = scale
        self.relu = nn.ReLU(inplace=True)
        self.out_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.up(torch.cat([b(x) for b in self.branches], 1))
        return self.relu(x + self.scale * residual)


@register_model("inception_resnet_small", params=3_225_146, min_input_size=27, input_size=96)
class InceptionResNetSmall(nn.Module):
    """Compact Inception-ResNet-v2 with residual scaling ``scale`` (0.1-0.3 in the paper)."""

    min_input_size = 27  # the stem's unpadded convs and pools; verified in the tests

    def __init__(self, in_channels: int = 1, num_classes: int = 10, input_size: int = 96, *,
                 width: float = 0.5, scale: float = 0.2, blocks: int = 2, n: int = 3,
                 dropout: float = 0.2, init: str = "kaiming", stem_width: float = 1.0) -> None:
        super().__init__()
        check_model_args(self, in_channels, num_classes, input_size)
        if not (width > 0 and stem_width > 0):
            raise ValueError(f"width and stem_width must be positive (defaults 0.5 and 1.0), "
                             f"got width={width!r}, stem_width={stem_width!r}")

        def w(c: int) -> int:
            return max(1, round(c * width))

        s32, s64, s80, s192 = (max(1, round(c * stem_width)) for c in (32, 64, 80, 192))
        layers: list[tuple[str, nn.Module]] = [
            ("conv1a", BasicConv2d(in_channels, s32, 3, stride=2)),  # 96 -> 47
            ("conv2a", BasicConv2d(s32, s32, 3)),  # -> 45
            ("conv2b", BasicConv2d(s32, s64, 3, padding=1)),
            ("pool1", nn.MaxPool2d(3, 2)),  # -> 64×22×22
            ("conv3b", BasicConv2d(s64, s80, 1)),
            ("conv4a", BasicConv2d(s80, s192, 3)),  # -> 20
            ("pool2", nn.MaxPool2d(3, 2)),  # -> 192×9×9
        ]
        mixed5b = InceptionBN(s192, w(96), w(48), w(64), w(64), w(96), w(64))  # -> 320·width
        layers.append(("mixed5b", mixed5b))
        c = mixed5b.out_channels
        for stage, reduce in (("a", (0, w(384), w(256), w(384))), ("b", (w(256), w(384), w(256), w(288))), ("c", None)):
            for i in range(1, blocks + 1):
                layers.append((f"block_{stage}{i}", InceptionResNetBlock(c, stage, scale, width, n)))
            if reduce is not None:  # 9 -> 5 -> 3
                red = InceptionReduce(c, *reduce)
                layers.append((f"reduction_{stage}", red))
                c = red.out_channels
        self.features = nn.Sequential(OrderedDict(layers))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(c, num_classes))
        self.input_size = input_size
        init_weights(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(self, x)
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)
