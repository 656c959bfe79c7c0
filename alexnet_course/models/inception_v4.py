"""A compact Inception-v4 (Szegedy, Ioffe, Vanhoucke & Alemi, 2017, "Inception-v4,
Inception-ResNet and the Impact of Residual Connections on Learning", AAAI) for 96×96 inputs.

Kept from the paper: the stem of Figure 3 (parallel strided conv and pool paths,
concatenated, and a factorised 7×1/1×7 path), the uniform Inception-A, -B and -C modules
(Figures 4-6) and Reduction-A (Figure 7, with k, l, m, n = 192, 224, 256, 384) and
Reduction-B (Figure 8) between grids. Scaled down: ``width`` multiplies the module channel
counts (0.5 by default), two A, two B and one C module instead of 4, 7 and 3, factorised
kernels of length ``n=3`` (the paper's 7 suits its 17×17 grid; ours is 5×5). Simplified:
Reduction-A's middle conv has m (not l) channels, Reduction-B's 7×1/1×7 pair is one 3×3
conv, and Inception-C's 1×3 -> 3×1 pair is one 3×3 conv. ``stem_width`` scales the stem's
channels (1.0, the default, is Figure 3's), so that narrow variants train on a CPU.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ._registry import register_model
from ._utils import check_input_size, check_model_args, init_weights
from .inception_blocks import (BasicConv2d, InceptionBN, InceptionExpanded, InceptionFactorized,
                               InceptionReduce, conv_1xn)


class InceptionV4Stem(nn.Module):
    """Figure 3, with "V" (valid, unpadded) convs as in the paper: 96 -> 384×9×9."""

    def __init__(self, in_channels: int, n: int = 7, width: float = 1.0) -> None:
        super().__init__()
        c32, c64, c96, c192 = (max(1, round(c * width)) for c in (32, 64, 96, 192))
        self.conv = nn.Sequential(BasicConv2d(in_channels, c32, 3, stride=2),  # 96 -> 47
                                  BasicConv2d(c32, c32, 3),  # -> 45
                                  BasicConv2d(c32, c64, 3, padding=1))
        self.mixed3a_pool = nn.MaxPool2d(3, 2)  # -> 64×22×22
        self.mixed3a_conv = BasicConv2d(c64, c96, 3, stride=2)  # -> 96×22×22
        self.mixed4a_1 = nn.Sequential(BasicConv2d(c64 + c96, c64, 1), BasicConv2d(c64, c96, 3))  # -> 96×20×20
        self.mixed4a_2 = nn.Sequential(BasicConv2d(c64 + c96, c64, 1), *conv_1xn(c64, c64, c64, n, first="nx1"),
                                       BasicConv2d(c64, c96, 3))
        self.mixed5a_conv = BasicConv2d(2 * c96, c192, 3, stride=2)  # -> 192×9×9
        self.mixed5a_pool = nn.MaxPool2d(3, 2)
        self.out_channels = c192 + 2 * c96  # 384 at width 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        x = torch.cat([self.mixed3a_pool(x), self.mixed3a_conv(x)], 1)  # 160 channels
        x = torch.cat([self.mixed4a_1(x), self.mixed4a_2(x)], 1)  # 192 channels
        return torch.cat([self.mixed5a_conv(x), self.mixed5a_pool(x)], 1)  # 384 channels


@register_model("inception_v4_small", params=3_785_962, min_input_size=27, input_size=96)
class InceptionV4Small(nn.Module):
    """Compact Inception-v4; ``width`` scales the Inception and reduction modules."""

    min_input_size = 27  # the stem's unpadded convs and pools; verified in the tests

    def __init__(self, in_channels: int = 1, num_classes: int = 10, input_size: int = 96, *,
                 width: float = 0.5, stem_width: float = 1.0, n: int = 3, dropout: float = 0.2,
                 init: str = "kaiming") -> None:
        super().__init__()
        check_model_args(self, in_channels, num_classes, input_size)
        if not (width > 0 and stem_width > 0):
            raise ValueError(f"width and stem_width must be positive (defaults 0.5 and 1.0), "
                             f"got width={width!r}, stem_width={stem_width!r}")

        def w(c: int) -> int:
            return max(1, round(c * width))

        stem = InceptionV4Stem(in_channels, n, stem_width)
        layers: list[tuple[str, nn.Module]] = [("stem", stem)]
        c = stem.out_channels
        for name, make in [
            ("inception_a1", lambda c: InceptionBN(c, w(96), w(64), w(96), w(64), w(96), w(96))),
            ("inception_a2", lambda c: InceptionBN(c, w(96), w(64), w(96), w(64), w(96), w(96))),
            ("reduction_a", lambda c: InceptionReduce(c, 0, w(384), w(192), w(256))),  # 9 -> 5
            ("inception_b1", lambda c: InceptionFactorized(c, w(384), w(192), w(256), w(192), w(256), w(128), n)),
            ("inception_b2", lambda c: InceptionFactorized(c, w(384), w(192), w(256), w(192), w(256), w(128), n)),
            ("reduction_b", lambda c: InceptionReduce(c, w(192), w(192), w(256), w(320))),  # 5 -> 3
            ("inception_c1", lambda c: InceptionExpanded(c, w(256), w(384), w(256), w(384), w(256), w(256))),
        ]:
            block = make(c)
            layers.append((name, block))
            c = block.out_channels  # 768 after inception_c1 at width 0.5
        self.features = nn.Sequential(OrderedDict(layers))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(c, num_classes))  # paper: keep 0.8
        self.input_size = input_size
        init_weights(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(self, x)
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)
