"""LeNet-5 (LeCun, Bottou, Bengio & Haffner, 1998, "Gradient-based learning applied to
document recognition", Proc. IEEE 86(11)) as d2l trains it on Fashion-MNIST, and a
modernised variant.

d2l's version keeps the sigmoid and average pooling but, unlike the paper, connects C3 to
all six S2 maps (the paper used a sparse connection table), pools without trainable
coefficients and ends in a linear layer instead of RBF units.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ._registry import register_model
from ._utils import check_input_size, check_model_args, init_weights, plan_fixed_head


@register_model("lenet", params=61_706, min_input_size=12, input_size=28)
class LeNet(nn.Module):
    """d2l's LeNet-5: 6@5×5 (pad 2), 16@5×5, 120, 84, classes; 61,706 parameters at 28×28."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, input_size: int = 28,
                 init: str = "xavier") -> None:
        super().__init__()
        check_model_args(self, in_channels, num_classes, input_size)
        self.features = nn.Sequential(OrderedDict([
            # padding 2 gives the 28×28 digits the 32×32 field the paper's C1 expected
            ("conv1", nn.Conv2d(in_channels, 6, kernel_size=5, padding=2)),  # -> 6×28×28
            ("act1", nn.Sigmoid()),
            ("pool1", nn.AvgPool2d(kernel_size=2, stride=2)),  # -> 6×14×14
            ("conv2", nn.Conv2d(6, 16, kernel_size=5)),  # -> 16×10×10
            ("act2", nn.Sigmoid()),
            ("pool2", nn.AvgPool2d(kernel_size=2, stride=2)),  # -> 16×5×5
        ]))
        s = plan_fixed_head(self, input_size)
        self.classifier = nn.Sequential(OrderedDict([
            ("fc1", nn.Linear(16 * s * s, 120)),
            ("act3", nn.Sigmoid()),
            ("fc2", nn.Linear(120, 84)),
            ("act4", nn.Sigmoid()),
            ("fc3", nn.Linear(84, num_classes)),
        ]))
        init_weights(self, init)  # d2l applies Xavier init; sigmoid nets train slowly without it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(self, x)
        x = self.features(x)
        x = torch.flatten(x, 1)  # -> 400 at 28×28
        return self.classifier(x)


@register_model("lenet_modern", params=61_706, min_input_size=12, input_size=28)
class LeNetModern(nn.Module):
    """LeNet-5's layout with ReLU, max pooling and optional batch norm and dropout."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, input_size: int = 28,
                 dropout: float = 0.0, batch_norm: bool = False, init: str = "kaiming") -> None:
        super().__init__()
        check_model_args(self, in_channels, num_classes, input_size)

        def norm(c: int, dims: int) -> nn.Module:
            if not batch_norm:
                return nn.Identity()
            return nn.BatchNorm2d(c) if dims == 2 else nn.BatchNorm1d(c)

        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(in_channels, 6, kernel_size=5, padding=2)),  # -> 6×28×28
            ("bn1", norm(6, 2)),
            ("act1", nn.ReLU(inplace=True)),
            ("pool1", nn.MaxPool2d(kernel_size=2, stride=2)),  # -> 6×14×14
            ("conv2", nn.Conv2d(6, 16, kernel_size=5)),  # -> 16×10×10
            ("bn2", norm(16, 2)),
            ("act2", nn.ReLU(inplace=True)),
            ("pool2", nn.MaxPool2d(kernel_size=2, stride=2)),  # -> 16×5×5
        ]))
        s = plan_fixed_head(self, input_size)
        self.classifier = nn.Sequential(OrderedDict([
            ("fc1", nn.Linear(16 * s * s, 120)),
            ("bn3", norm(120, 1)),
            ("act3", nn.ReLU(inplace=True)),
            ("drop1", nn.Dropout(dropout)),
            ("fc2", nn.Linear(120, 84)),
            ("bn4", norm(84, 1)),
            ("act4", nn.ReLU(inplace=True)),
            ("drop2", nn.Dropout(dropout)),
            ("fc3", nn.Linear(84, num_classes)),
        ]))
        init_weights(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(self, x)
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)
