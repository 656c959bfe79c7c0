"""GoogLeNet / Inception v1 (Szegedy et al., 2015, "Going Deeper with Convolutions", CVPR)
as d2l adapts it to 96×96 Fashion-MNIST: the paper's Table 1 channel counts, without the
local response normalisation, the two auxiliary classifiers and the dropout before the
last layer; 5,977,530 parameters with one channel and 10 classes.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ._registry import register_model
from ._utils import check_input_size, check_model_args, init_weights


class Inception(nn.Module):
    """Four parallel paths concatenated along channels; argument names follow Table 1."""

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int,
                 ch5x5red: int, ch5x5: int, pool_proj: int) -> None:
        super().__init__()
        self.branch1 = nn.Sequential(nn.Conv2d(in_channels, ch1x1, kernel_size=1), nn.ReLU(inplace=True))
        self.branch2 = nn.Sequential(  # 1×1 reduction keeps the 3×3 conv cheap
            nn.Conv2d(in_channels, ch3x3red, kernel_size=1), nn.ReLU(inplace=True),
            nn.Conv2d(ch3x3red, ch3x3, kernel_size=3, padding=1), nn.ReLU(inplace=True))
        self.branch3 = nn.Sequential(
            nn.Conv2d(in_channels, ch5x5red, kernel_size=1), nn.ReLU(inplace=True),
            nn.Conv2d(ch5x5red, ch5x5, kernel_size=5, padding=2), nn.ReLU(inplace=True))
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1),
            nn.Conv2d(in_channels, pool_proj, kernel_size=1), nn.ReLU(inplace=True))
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Every path keeps the spatial size, so the outputs stack along channels.
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


@register_model("googlenet", params=5_977_530, min_input_size=1, input_size=96)
class GoogLeNet(nn.Module):
    """d2l's GoogLeNet: stem, Inception 3a-3b, 4a-4e, 5a-5b, global average pooling, one FC.

    All downsampling is padded (ceil(n/2)), so any input of at least 1×1 gets through;
    96×96 inputs end at 3×3 before the global pooling."""

    min_input_size = 1

    def __init__(self, in_channels: int = 1, num_classes: int = 10, input_size: int = 96,
                 init: str = "xavier") -> None:
        super().__init__()
        check_model_args(self, in_channels, num_classes, input_size)
        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3)),  # 96 -> 48
            ("relu1", nn.ReLU(inplace=True)),
            ("pool1", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),  # -> 64×24×24
            ("conv2", nn.Conv2d(64, 64, kernel_size=1)),
            ("relu2", nn.ReLU(inplace=True)),
            ("conv3", nn.Conv2d(64, 192, kernel_size=3, padding=1)),
            ("relu3", nn.ReLU(inplace=True)),
            ("pool2", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),  # -> 192×12×12
            ("inception3a", Inception(192, 64, 96, 128, 16, 32, 32)),  # -> 256×12×12
            ("inception3b", Inception(256, 128, 128, 192, 32, 96, 64)),  # -> 480×12×12
            ("pool3", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),  # -> 480×6×6
            ("inception4a", Inception(480, 192, 96, 208, 16, 48, 64)),  # -> 512
            ("inception4b", Inception(512, 160, 112, 224, 24, 64, 64)),
            ("inception4c", Inception(512, 128, 128, 256, 24, 64, 64)),
            ("inception4d", Inception(512, 112, 144, 288, 32, 64, 64)),  # -> 528
            ("inception4e", Inception(528, 256, 160, 320, 32, 128, 128)),  # -> 832×6×6
            ("pool4", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),  # -> 832×3×3
            ("inception5a", Inception(832, 256, 160, 320, 32, 128, 128)),
            ("inception5b", Inception(832, 384, 192, 384, 48, 128, 128)),  # -> 1024×3×3
        ]))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Linear(1024, num_classes)
        self.input_size = input_size
        init_weights(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(self, x)
        x = self.features(x)
        x = self.avgpool(x)  # -> 1024×1×1
        x = torch.flatten(x, 1)
        return self.classifier(x)
