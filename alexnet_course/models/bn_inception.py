"""BN-Inception (Ioffe & Szegedy, 2015, "Batch Normalization: Accelerating Deep Network
Training by Reducing Internal Covariate Shift", ICML), the network of its Figure 5.

Changes from GoogLeNet that the paper lists: batch norm after every convolution, the 5×5
convolutions replaced by two 3×3 ones, average pooling in most pool paths, and the
stride-2 Inception modules 3c and 4e (no 1×1 path, "pass through" max pooling) in place of
separate pooling layers. Channel counts are Figure 5's. Deviations: no auxiliary heads,
padded stride-2 layers (so any input >= 1×1 gets through; 96×96 ends at 3×3).
``width`` scales every channel count (1.0, the default, is Figure 5's), so that narrow
variants train on a CPU, as ``GoogLeNet(width=)`` does for v1.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ._registry import register_model
from ._utils import check_input_size, check_model_args, init_weights
from .inception_blocks import BasicConv2d, InceptionBN, InceptionReduce


# Figure 5's modules without their input width: InceptionBN(ch1x1, ch3x3red, ch3x3, dbl3x3red,
# dbl3x3, pool_proj) or, with four numbers, the stride-2 InceptionReduce(ch3x3red, ch3x3,
# dbl3x3red, dbl3x3); channel counts after each module at width 1.
BN_INCEPTION_TABLE: tuple[tuple[str | int, ...], ...] = (
    ("inception3a", 64, 64, 64, 64, 96, 32),  # -> 256
    ("inception3b", 64, 64, 96, 64, 96, 64),  # -> 320
    ("inception3c", 128, 160, 64, 96),  # -> 576, grid halved
    ("inception4a", 224, 64, 96, 96, 128, 128),  # -> 576
    ("inception4b", 192, 96, 128, 96, 128, 128),
    ("inception4c", 160, 128, 160, 128, 160, 128),  # -> 608
    ("inception4d", 96, 128, 192, 160, 192, 128),
    ("inception4e", 128, 192, 192, 256),  # -> 1056, grid halved
    ("inception5a", 352, 192, 320, 160, 224, 128),  # -> 1024
    ("inception5b", 352, 192, 320, 192, 224, 128),  # max pooling in its pool path (Figure 5)
)


@register_model("bn_inception", params=10_264_202, min_input_size=1, input_size=96)
class BNInception(nn.Module):
    """BN-Inception for small images; 96×96 input by default."""

    min_input_size = 1

    def __init__(self, in_channels: int = 1, num_classes: int = 10, input_size: int = 96,
                 dropout: float = 0.0, init: str = "kaiming", *, width: float = 1.0) -> None:
        super().__init__()
        check_model_args(self, in_channels, num_classes, input_size)
        if not width > 0:
            raise ValueError(f"width must be positive (1.0 is the paper's Figure 5), got {width!r}")

        c1, c2r, c2 = (max(1, round(c * width)) for c in (64, 64, 192))
        layers: list[tuple[str, nn.Module]] = [
            ("conv1", BasicConv2d(in_channels, c1, 7, stride=2, padding=3)),  # 96 -> 48
            ("pool1", nn.MaxPool2d(3, 2, padding=1)),  # -> 64×24×24
            ("conv2_reduce", BasicConv2d(c1, c2r, 1)),
            ("conv2", BasicConv2d(c2r, c2, 3, padding=1)),
            ("pool2", nn.MaxPool2d(3, 2, padding=1)),  # -> 192×12×12
        ]
        channels = c2
        for name, *table in BN_INCEPTION_TABLE:  # 12×12 -> 6×6 (3c) -> 3×3 (4e) at 96 px
            sizes = [max(1, round(c * width)) for c in table]
            if len(sizes) == 4:
                module: nn.Module = InceptionReduce(channels, *sizes)
            else:
                module = InceptionBN(channels, *sizes, pool="max" if name == "inception5b" else "avg")
            layers.append((name, module))
            channels = module.out_channels
        self.features = nn.Sequential(OrderedDict(layers))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        # The paper removes dropout ("Remove Dropout", Section 4.2.1), hence dropout=0.0.
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels, num_classes))
        self.input_size = input_size
        init_weights(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(self, x)
        x = self.features(x)
        x = self.avgpool(x)  # -> 1024×1×1
        x = torch.flatten(x, 1)
        return self.classifier(x)
