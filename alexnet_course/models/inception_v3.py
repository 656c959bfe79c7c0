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
3 (the paper's n=7 suits a 17×17 grid). ``width`` scales every channel count (1.0, the
default, keeps the counts above), so that narrow variants train on a CPU.
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
                 n: int = 3, dropout: float = 0.5, init: str = "kaiming", *, width: float = 1.0) -> None:
        super().__init__()
        check_model_args(self, in_channels, num_classes, input_size)
        if not width > 0:
            raise ValueError(f"width must be positive (1.0 is this module's full width), got {width!r}")

        def w(c: int) -> int:
            return max(1, round(c * width))

        layers: list[tuple[str, nn.Module]] = [
            ("conv1a", BasicConv2d(in_channels, w(32), 3, stride=2)),  # 96 -> 47
            ("conv2a", BasicConv2d(w(32), w(32), 3)),  # -> 45
            ("conv2b", BasicConv2d(w(32), w(64), 3, padding=1)),
            ("pool1", nn.MaxPool2d(3, 2)),  # -> 64×22×22
            ("conv3b", BasicConv2d(w(64), w(80), 1)),
            ("conv4a", BasicConv2d(w(80), w(192), 3)),  # -> 192×20×20
            ("pool2", nn.MaxPool2d(3, 2)),  # -> 192×9×9
        ]
        c = w(192)
        for name, make in [  # channels after each module at width 1 in the comments
            ("mixed5b", lambda c: InceptionBN(c, w(64), w(48), w(64), w(64), w(96), w(32))),  # -> 256
            ("mixed5c", lambda c: InceptionBN(c, w(64), w(48), w(64), w(64), w(96), w(64))),  # -> 288
            ("mixed6a", lambda c: InceptionReduce(c, 0, w(384), w(64), w(96))),  # -> 768×5×5
            ("mixed6b", lambda c: InceptionFactorized(c, w(192), w(128), w(192), w(128), w(192), w(192), n=n)),
            ("mixed6c", lambda c: InceptionFactorized(c, w(192), w(160), w(192), w(160), w(192), w(192), n=n)),
            ("mixed7a", lambda c: InceptionReduce(c, w(192), w(320), w(192), w(192))),  # -> 1280×3×3
            ("mixed7b", lambda c: InceptionExpanded(c, w(320), w(384), w(384), w(448), w(384), w(192))),  # -> 2048
        ]:
            block = make(c)
            layers.append((name, block))
            c = block.out_channels
        self.features = nn.Sequential(OrderedDict(layers))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(c, num_classes))
        self.input_size = input_size
        init_weights(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(self, x)
        x = self.features(x)
        x = self.avgpool(x)  # -> 2048×1×1
        x = torch.flatten(x, 1)
        return self.classifier(x)
