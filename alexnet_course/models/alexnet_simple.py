"""A configurable, simplified AlexNet (after Krizhevsky, Sutskever & Hinton, 2012, and
d2l's Fashion-MNIST adaptation) for the homework question on making AlexNet cheaper, and
an AlexNet-style network for native 28×28 input.

Knobs: drop the convolution whose input and output channels are equal (conv4, 384 -> 384),
drop the hidden 4096 -> 4096 layer, change the FC width, scale all channel counts, and build
for any input size (the first FC layer's ``in_features`` follows from it arithmetically).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ._registry import register_model
from ._utils import check_input_size, check_model_args, init_weights, plan_fixed_head


@register_model("alexnet_simple", params=46_764_746, min_input_size=65, input_size=224)
class AlexNetSimple(nn.Module):
    """d2l's AlexNet with switches; the defaults reproduce ``AlexNetD2L`` exactly."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, input_size: int = 224, *,
                 width: float = 1.0, fc_width: int = 4096, drop_equal_convs: bool = False,
                 drop_fc7: bool = False, dropout: float = 0.5, conv1_kernel: int = 11,
                 conv1_stride: int = 4, conv1_padding: int = 1, init: str = "xavier") -> None:
        super().__init__()
        check_model_args(self, in_channels, num_classes, input_size)
        c1, c2, c3, c4, c5 = (max(1, round(c * width)) for c in (96, 256, 384, 384, 256))
        layers: list[tuple[str, nn.Module]] = [
            ("conv1", nn.Conv2d(in_channels, c1, conv1_kernel, conv1_stride, conv1_padding)),  # 224 -> 54
            ("relu1", nn.ReLU(inplace=True)),
            ("pool1", nn.MaxPool2d(kernel_size=3, stride=2)),  # 54 -> 26
            ("conv2", nn.Conv2d(c1, c2, kernel_size=5, padding=2)),
            ("relu2", nn.ReLU(inplace=True)),
            ("pool2", nn.MaxPool2d(kernel_size=3, stride=2)),  # 26 -> 12
            ("conv3", nn.Conv2d(c2, c3, kernel_size=3, padding=1)),
            ("relu3", nn.ReLU(inplace=True)),
        ]
        if not drop_equal_convs:  # conv4 is the only layer with in_channels == out_channels
            layers += [("conv4", nn.Conv2d(c3, c4, kernel_size=3, padding=1)),
                       ("relu4", nn.ReLU(inplace=True))]
        layers += [
            ("conv5", nn.Conv2d(c3 if drop_equal_convs else c4, c5, kernel_size=3, padding=1)),
            ("relu5", nn.ReLU(inplace=True)),
            ("pool5", nn.MaxPool2d(kernel_size=3, stride=2)),  # 12 -> 5
        ]
        self.features = nn.Sequential(OrderedDict(layers))
        s = plan_fixed_head(self, input_size)  # 5 at 224, 1 at 96, 2 at 28 with the 28×28 stem
        head: list[tuple[str, nn.Module]] = [
            ("fc6", nn.Linear(c5 * s * s, fc_width)),
            ("relu6", nn.ReLU(inplace=True)),
            ("drop6", nn.Dropout(dropout)),
        ]
        if not drop_fc7:
            head += [("fc7", nn.Linear(fc_width, fc_width)),
                     ("relu7", nn.ReLU(inplace=True)),
                     ("drop7", nn.Dropout(dropout))]
        head += [("fc8", nn.Linear(fc_width, num_classes))]
        self.classifier = nn.Sequential(OrderedDict(head))
        init_weights(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(self, x)
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


@register_model("alexnet_28", params=24_735_434, min_input_size=15, input_size=28)
def alexnet_28(in_channels: int = 1, num_classes: int = 10, input_size: int = 28,
               **kwargs: object) -> AlexNetSimple:
    """AlexNet for native 28×28 input: conv1 becomes 5×5, stride 1, padding 2 (the 11×11
    stride-4 stem exists to shrink 224×224 images and would leave nothing of 28×28 ones).
    Maps: 28 -> conv1 28 -> pool 13 -> pool 6 -> pool 2, so 256·2·2 = 1024 features."""
    kwargs = {"conv1_kernel": 5, "conv1_stride": 1, "conv1_padding": 2, **kwargs}
    return AlexNetSimple(in_channels, num_classes, input_size, **kwargs)  # type: ignore[arg-type]
