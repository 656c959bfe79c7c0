"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012, "ImageNet Classification with Deep
Convolutional Neural Networks", NeurIPS) in two widely used re-implementations:

* ``AlexNetD2L``: d2l's adaptation to Fashion-MNIST (one channel, 224×224 input, 96/256/384/
  384/256 channels, 6400 -> 4096 -> 4096 -> 10), 46,764,746 parameters.
* ``AlexNetTV``: torchvision's layout (64/192/384/256/256 channels, from the "one weird
  trick" paper, Krizhevsky 2014) with adaptive average pooling to 6×6; with 3 channels and
  1000 classes it has torchvision's 61,100,840 parameters and loads its state dicts.

The paper's own layout, with local response normalisation and its initialisation, is in
``alexnet_paper.py``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ._registry import register_model
from ._utils import check_input_size, check_model_args, init_weights, min_size, plan_fixed_head


@register_model("alexnet_d2l", params=46_764_746, min_input_size=65, input_size=224)
class AlexNetD2L(nn.Module):
    """d2l's Fashion-MNIST AlexNet; no LRN, dropout 0.5 after the two hidden FC layers."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, input_size: int = 224,
                 dropout: float = 0.5, init: str = "xavier") -> None:
        super().__init__()
        check_model_args(self, in_channels, num_classes, input_size)
        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(in_channels, 96, kernel_size=11, stride=4, padding=1)),  # -> 96×54×54
            ("relu1", nn.ReLU(inplace=True)),
            ("pool1", nn.MaxPool2d(kernel_size=3, stride=2)),  # -> 96×26×26
            ("conv2", nn.Conv2d(96, 256, kernel_size=5, padding=2)),
            ("relu2", nn.ReLU(inplace=True)),
            ("pool2", nn.MaxPool2d(kernel_size=3, stride=2)),  # -> 256×12×12
            ("conv3", nn.Conv2d(256, 384, kernel_size=3, padding=1)),  # -> 384×12×12
            ("relu3", nn.ReLU(inplace=True)),
            ("conv4", nn.Conv2d(384, 384, kernel_size=3, padding=1)),
            ("relu4", nn.ReLU(inplace=True)),
            ("conv5", nn.Conv2d(384, 256, kernel_size=3, padding=1)),  # -> 256×12×12
            ("relu5", nn.ReLU(inplace=True)),
            ("pool5", nn.MaxPool2d(kernel_size=3, stride=2)),  # -> 256×5×5
        ]))
        s = plan_fixed_head(self, input_size)
        self.classifier = nn.Sequential(OrderedDict([
            ("fc6", nn.Linear(256 * s * s, 4096)),  # 6400 inputs at 224×224
            ("relu6", nn.ReLU(inplace=True)),
            ("drop6", nn.Dropout(dropout)),
            ("fc7", nn.Linear(4096, 4096)),
            ("relu7", nn.ReLU(inplace=True)),
            ("drop7", nn.Dropout(dropout)),
            ("fc8", nn.Linear(4096, num_classes)),
        ]))
        init_weights(self, init)  # d2l trains it with Xavier init (d2l.init_cnn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(self, x)
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


@register_model("alexnet_tv", params=57_029_322, min_input_size=63, input_size=224)
class AlexNetTV(nn.Module):
    """torchvision's AlexNet; module names and order match ``torchvision.models.AlexNet``."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, dropout: float = 0.5,
                 input_size: int = 224) -> None:
        super().__init__()
        check_model_args(self, in_channels, num_classes, input_size)
        # Integer indices (not names) so that torchvision's state dicts load unchanged.
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2),  # -> 64×55×55
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),  # -> 64×27×27
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),  # -> 192×13×13
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),  # -> 256×6×6
        )
        # Adaptive pooling makes the classifier independent of the input size (>= 63).
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )
        self.input_size = input_size
        self.min_input_size = min_size(self.features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(self, x)
        x = self.features(x)
        x = self.avgpool(x)  # -> 256×6×6 whatever the input size
        x = torch.flatten(x, 1)
        return self.classifier(x)
