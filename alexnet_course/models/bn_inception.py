"""BN-Inception (Ioffe & Szegedy, 2015, "Batch Normalization: Accelerating Deep Network
Training by Reducing Internal Covariate Shift", ICML), the network of its Figure 5.

Changes from GoogLeNet that the paper lists: batch norm after every convolution, the 5×5
convolutions replaced by two 3×3 ones, average pooling in most pool paths, and the
stride-2 Inception modules 3c and 4e (no 1×1 path, "pass through" max pooling) in place of
separate pooling layers. Channel counts are Figure 5's. Deviations: no auxiliary heads,
padded stride-2 layers (so any input >= 1×1 gets through; 96×96 ends at 3×3).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ._registry import register_model
from ._utils import check_input_size, check_model_args, init_weights
from .inception_blocks import BasicConv2d, InceptionBN, InceptionReduce


@register_model("bn_inception", params=10_264_202, min_input_size=1, input_size=96)
class BNInception(nn.Module):
    """BN-Inception for small images; 96×96 input by default."""

    min_input_size = 1

    def __init__(self, in_channels: int = 1, num_classes: int = 10, input_size: int = 96,
                 dropout: float = 0.0, init: str = "kaiming") -> None:
        super().__init__()
        check_model_args(self, in_channels, num_classes, input_size)
        self.features = nn.Sequential(OrderedDict([
            ("conv1", BasicConv2d(in_channels, 64, 7, stride=2, padding=3)),  # 96 -> 48
            ("pool1", nn.MaxPool2d(3, 2, padding=1)),  # -> 64×24×24
            ("conv2_reduce", BasicConv2d(64, 64, 1)),
            ("conv2", BasicConv2d(64, 192, 3, padding=1)),
            ("pool2", nn.MaxPool2d(3, 2, padding=1)),  # -> 192×12×12
            ("inception3a", InceptionBN(192, 64, 64, 64, 64, 96, 32)),  # -> 256
            ("inception3b", InceptionBN(256, 64, 64, 96, 64, 96, 64)),  # -> 320
            ("inception3c", InceptionReduce(320, 128, 160, 64, 96)),  # -> 576×6×6
            ("inception4a", InceptionBN(576, 224, 64, 96, 96, 128, 128)),  # -> 576
            ("inception4b", InceptionBN(576, 192, 96, 128, 96, 128, 128)),
            ("inception4c", InceptionBN(576, 160, 128, 160, 128, 160, 128)),  # -> 608
            ("inception4d", InceptionBN(608, 96, 128, 192, 160, 192, 128)),
            ("inception4e", InceptionReduce(608, 128, 192, 192, 256)),  # -> 1056×3×3
            ("inception5a", InceptionBN(1056, 352, 192, 320, 160, 224, 128)),  # -> 1024
            ("inception5b", InceptionBN(1024, 352, 192, 320, 192, 224, 128, pool="max")),
        ]))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        # The paper removes dropout ("Remove Dropout", Section 4.2.1), hence dropout=0.0.
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(1024, num_classes))
        self.input_size = input_size
        init_weights(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(self, x)
        x = self.features(x)
        x = self.avgpool(x)  # -> 1024×1×1
        x = torch.flatten(x, 1)
        return self.classifier(x)
