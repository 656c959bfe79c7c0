"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012) with its max-pooling layers optionally
replaced by learned, strided convolutions, in the spirit of Springenberg et al. (2015),
"Striving for Simplicity: The All Convolutional Net", ICLR workshop.

For the resolution and pooling experiments, which need one architecture from 32×32 to
224×224 inputs:

* every downsampling layer (max pool 3×3/2, conv 1×1/2 or conv 3×3/2) has padding 1 where
  it has a 3×3 window, so all three ``pool`` choices give the same map sizes, ceil(n/2),
  and nothing vanishes at small inputs (AlexNet's pools are unpadded; a deviation);
* an ``AdaptiveAvgPool2d((6, 6))`` before the classifier (torchvision's choice) keeps the
  classifier, 9216 -> 4096 -> 4096 -> classes, the same at every resolution, so the
  experiments compare feature extractors rather than classifier sizes.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ._registry import register_model
from ._utils import check_input_size, check_model_args, init_weights, min_size

POOLS = ("max", "conv1x1", "strided")


def downsample(pool: str, channels: int) -> nn.Module:
    """Halve the map (rounding up) with max pooling or a learned strided convolution."""
    if pool == "max":
        return nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
    if pool == "conv1x1":  # keeps one pixel in four, with a learned channel mixing
        return nn.Sequential(nn.Conv2d(channels, channels, kernel_size=1, stride=2), nn.ReLU(inplace=True))
    if pool == "strided":  # same window and stride as AlexNet's overlapping pool, but learned
        return nn.Sequential(nn.Conv2d(channels, channels, kernel_size=3, stride=2, padding=1),
                             nn.ReLU(inplace=True))
    raise ValueError(f"unknown pool {pool!r}; use one of {', '.join(POOLS)}")


@register_model("alexnet_nopool", params=58_299_082, min_input_size=9, input_size=224)
class AlexNetNoPool(nn.Module):
    """AlexNet with ``pool="max"|"conv1x1"|"strided"`` and scalable conv widths.

    ``channels`` sets the five conv widths (AlexNet's 96/256/384/384/256 by default; e.g.
    ``(384,) * 5`` for a uniformly 384-wide net) and ``width`` multiplies them.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, input_size: int = 224, *,
                 pool: str = "max", width: float = 1.0,
                 channels: tuple[int, int, int, int, int] = (96, 256, 384, 384, 256),
                 fc_width: int = 4096, dropout: float = 0.5, init: str = "kaiming") -> None:
        super().__init__()
        check_model_args(self, in_channels, num_classes, input_size)
        c1, c2, c3, c4, c5 = (max(1, round(c * width)) for c in channels)
        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(in_channels, c1, kernel_size=11, stride=4, padding=1)),  # 224 -> 54, 32 -> 6
            ("relu1", nn.ReLU(inplace=True)),
            ("pool1", downsample(pool, c1)),  # 54 -> 27
            ("conv2", nn.Conv2d(c1, c2, kernel_size=5, padding=2)),
            ("relu2", nn.ReLU(inplace=True)),
            ("pool2", downsample(pool, c2)),  # 27 -> 14
            ("conv3", nn.Conv2d(c2, c3, kernel_size=3, padding=1)),
            ("relu3", nn.ReLU(inplace=True)),
            ("conv4", nn.Conv2d(c3, c4, kernel_size=3, padding=1)),
            ("relu4", nn.ReLU(inplace=True)),
            ("conv5", nn.Conv2d(c4, c5, kernel_size=3, padding=1)),
            ("relu5", nn.ReLU(inplace=True)),
            ("pool5", downsample(pool, c5)),  # 14 -> 7; 32×32 input ends at 1×1
        ]))
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(OrderedDict([
            ("drop6", nn.Dropout(dropout)),
            ("fc6", nn.Linear(c5 * 6 * 6, fc_width)),
            ("relu6", nn.ReLU(inplace=True)),
            ("drop7", nn.Dropout(dropout)),
            ("fc7", nn.Linear(fc_width, fc_width)),
            ("relu7", nn.ReLU(inplace=True)),
            ("fc8", nn.Linear(fc_width, num_classes)),
        ]))
        self.pool = pool
        self.input_size = input_size
        self.min_input_size = min_size(self.features)  # 9: conv1's 11×11 window with padding 1
        init_weights(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(self, x)
        x = self.features(x)
        x = self.avgpool(x)  # -> c5×6×6 at any input size
        x = torch.flatten(x, 1)
        return self.classifier(x)
