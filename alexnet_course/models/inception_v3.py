"""A compact Inception-v3 (Szegedy, Vanhoucke, Ioffe, Shlens & Wojna, 2016, "Rethinking the
Inception Architecture for Computer Vision", CVPR) for 96×96 inputs.

Kept from the paper (Table 1): the unpadded stem, modules with the 5×5 path factorised
into two 3×3 convs (Figure 5), the grid-size reduction that concatenates strided convs
with pooling instead of pooling first (Figure 10), modules with n×n convs factorised into
1×n and n×1 (Figure 6) and the expanded filter bank on the coarsest grid (Figure 7),
batch norm everywhere. Label smoothing is a training option (the loss), not part of the model.

Scaled down: two Figure-5 modules instead of three, two Figure-6 modules instead of four,
one Figure-7 module instead of two, no auxiliary classifier. The grid is 9×9 -> 5×5 -> 3×3
(the paper's 35 -> 17 -> 8 at 299×299), so the reductions are padded and ``n`` defaults to
3 (the paper's n=7 suits a 17×17 grid).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ._registry import register_model
from ._utils import check_input_size, check_model_args, init_weights
from .inception_blocks import BasicConv2d, InceptionBN, InceptionExpanded, InceptionFactorized, InceptionReduce


@register_model("inception_v3_small", params=10_213_450, min_input_size=27, input_size=96)
class InceptionV3Small(nn.Module):
    """Compact Inception-v3; ``n`` is the factorised kernel length of the Figure-6 modules."""

    min_input_size = 27  # the stem's unpadded convs and pools; verified in the tests

    def __init__(self, in_channels: int = 1, num_classes: int = 10, input_size: int = 96,
                 n: int = 3, dropout: float = 0.5, init: str = "kaiming") -> None:
        super().__init__()
        check_model_args(self, in_channels, num_classes, input_size)
        self.features = nn.Sequential(OrderedDict([
            ("conv1a", BasicConv2d(in_channels, 32, 3, stride=2)),  # 96 -> 47
            ("conv2a", BasicConv2d(32, 32, 3)),  # -> 45
            ("conv2b", BasicConv2d(32, 64, 3, padding=1)),
            ("pool1", nn.MaxPool2d(3, 2)),  # -> 64×22×22
            ("conv3b", BasicConv2d(64, 80, 1)),
            ("conv4a", BasicConv2d(80, 192, 3)),  # -> 192×20×20
            ("pool2", nn.MaxPool2d(3, 2)),  # -> 192×9×9
            ("mixed5b", InceptionBN(192, 64, 48, 64, 64, 96, 32)),  # -> 256
            ("mixed5c", InceptionBN(256, 64, 48, 64, 64, 96, 64)),  # -> 288
            ("mixed6a", InceptionReduce(288, 0, 384, 64, 96)),  # -> 768×5×5
            ("mixed6b", InceptionFactorized(768, 192, 128, 192, 128, 192, 192, n=n)),
            ("mixed6c", InceptionFactorized(768, 192, 160, 192, 160, 192, 192, n=n)),
            ("mixed7a", InceptionReduce(768, 192, 320, 192, 192)),  # -> 1280×3×3
            ("mixed7b", InceptionExpanded(1280, 320, 384, 384, 448, 384, 192)),  # -> 2048×3×3
        ]))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(2048, num_classes))
        self.input_size = input_size
        init_weights(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(self, x)
        x = self.features(x)
        x = self.avgpool(x)  # -> 2048×1×1
        x = torch.flatten(x, 1)
        return self.classifier(x)
