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


# Table 1's Inception modules: (name, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj);
# "pool" marks the 3×3 stride-2 max pooling between the groups.
INCEPTION_TABLE: tuple[tuple[str, int, int, int, int, int, int] | str, ...] = (
    ("inception3a", 64, 96, 128, 16, 32, 32),  # -> 256
    ("inception3b", 128, 128, 192, 32, 96, 64),  # -> 480
    "pool3",
    ("inception4a", 192, 96, 208, 16, 48, 64),  # -> 512
    ("inception4b", 160, 112, 224, 24, 64, 64),
    ("inception4c", 128, 128, 256, 24, 64, 64),
    ("inception4d", 112, 144, 288, 32, 64, 64),  # -> 528
    ("inception4e", 256, 160, 320, 32, 128, 128),  # -> 832
    "pool4",
    ("inception5a", 256, 160, 320, 32, 128, 128),
    ("inception5b", 384, 192, 384, 48, 128, 128),  # -> 1024
)


@register_model("googlenet", params=5_977_530, min_input_size=1, input_size=96)
class GoogLeNet(nn.Module):
    """d2l's GoogLeNet: stem, Inception 3a-3b, 4a-4e, 5a-5b, global average pooling, one FC.

    All downsampling is padded (ceil(n/2)), so any input of at least 1×1 gets through;
    96×96 inputs end at 3×3 before the global pooling.

    ``width`` scales every channel count of the stem and the modules (narrow variants train
    on a CPU). ``stem`` is conv1's (kernel, stride, padding) and ``stem_pool`` keeps the max
    pooling after it: d2l's 7×7 stride 2 and pooling divide the input by 4 before the
    modules, so 96 px reach the last modules as 3×3. ``stem=(3, 1, 1), stem_pool=False`` is a
    deviation for native 28×28 images: they reach inception3a at 14×14 and the last modules
    at 4×4 (28 → 14 → 7 → 4), near the 3×3 that 96 px give, instead of 1×1.
    """

    min_input_size = 1

    def __init__(self, in_channels: int = 1, num_classes: int = 10, input_size: int = 96,
                 init: str = "xavier", *, width: float = 1.0,
                 stem: tuple[int, int, int] = (7, 2, 3), stem_pool: bool = True) -> None:
        super().__init__()
        check_model_args(self, in_channels, num_classes, input_size)
        if not width > 0:
            raise ValueError(f"width must be positive (1.0 is d2l's GoogLeNet), got {width!r}")
        if len(stem) != 3:
            raise ValueError(f"stem is conv1's (kernel, stride, padding), got {stem!r}")

        def w(c: int) -> int:
            return max(1, round(c * width))

        layers: list[tuple[str, nn.Module]] = [
            ("conv1", nn.Conv2d(in_channels, w(64), kernel_size=stem[0], stride=stem[1],
                                padding=stem[2])),  # 96 -> 48
            ("relu1", nn.ReLU(inplace=True)),
            ("pool1", nn.MaxPool2d(kernel_size=3, stride=2, padding=1) if stem_pool
             else nn.Identity()),  # -> 64×24×24
            ("conv2", nn.Conv2d(w(64), w(64), kernel_size=1)),
            ("relu2", nn.ReLU(inplace=True)),
            ("conv3", nn.Conv2d(w(64), w(192), kernel_size=3, padding=1)),
            ("relu3", nn.ReLU(inplace=True)),
            ("pool2", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),  # -> 192×12×12
        ]
        channels = w(192)
        for entry in INCEPTION_TABLE:  # 12×12 -> 6×6 (pool3) -> 3×3 (pool4) at 96 px
            if isinstance(entry, str):
                layers.append((entry, nn.MaxPool2d(kernel_size=3, stride=2, padding=1)))
                continue
            name, *table = entry
            module = Inception(channels, *(w(c) for c in table))
            layers.append((name, module))
            channels = module.out_channels
        self.features = nn.Sequential(OrderedDict(layers))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Linear(channels, num_classes)  # 1024 -> classes at width 1
        self.input_size = input_size
        init_weights(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(self, x)
        x = self.features(x)
        x = self.avgpool(x)  # -> 1024×1×1
        x = torch.flatten(x, 1)
        return self.classifier(x)
