"""Network in Network (Lin, Chen & Yan, 2014, "Network In Network", ICLR), as d2l adapts
it to Fashion-MNIST: AlexNet's kernel sizes and strides (conv1 unpadded, unlike d2l's
AlexNet), each convolution followed by 1×1 convolutions (the "mlpconv" layer), and a
global-average-pooling head with one channel per class instead of fully connected layers.

``head="fc"`` replaces that head with AlexNet-style flattening and a linear classifier on
a 384-channel last block, for the comparison the paper makes in its Section 4.6.

``width`` scales every block's channels (not the GAP head's class maps) and ``stem`` is the
first convolution's (kernel, stride, padding): d2l's 11×11 stride 4 unpadded needs ≥ 67
pixels; ``stem=(3, 1, 1)`` is a deviation for native 28×28 images (28 → 13 → 6 → 2 after
the three poolings, where 224 ends at 5×5), so that a narrow NiN trains on a CPU.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ._registry import register_model
from ._utils import check_input_size, check_model_args, init_weights, min_size, plan_fixed_head


def nin_block(in_channels: int, out_channels: int, kernel_size: int, strides: int, padding: int,
              num_1x1: int = 2, mlp_kernel: int = 1) -> nn.Sequential:
    """A k×k conv then ``num_1x1`` 1×1 convs (a per-pixel MLP across channels), all + ReLU.
    ``mlp_kernel=3`` makes those 3×3 convolutions (padded: the map keeps its size), d2l's
    exercise of what the 1×1 convolutions buy; the layer names stay ``conv1x1_i``."""
    if mlp_kernel < 1 or mlp_kernel % 2 == 0:
        raise ValueError(f"mlp_kernel must be an odd size ≥ 1 (1 is NiN's), got {mlp_kernel!r}")
    layers: list[tuple[str, nn.Module]] = [
        ("conv", nn.Conv2d(in_channels, out_channels, kernel_size, strides, padding)),
        ("relu", nn.ReLU(inplace=True)),
    ]
    for i in range(1, num_1x1 + 1):
        layers += [(f"conv1x1_{i}", nn.Conv2d(out_channels, out_channels, kernel_size=mlp_kernel,
                                              padding=mlp_kernel // 2)),
                   (f"relu1x1_{i}", nn.ReLU(inplace=True))]
    return nn.Sequential(OrderedDict(layers))


@register_model("nin", params=1_992_166, min_input_size=67, input_size=224)
class NiN(nn.Module):
    """d2l's NiN (1,992,166 parameters at one channel, 10 classes, any input >= 67)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, input_size: int = 224, *,
                 num_1x1: int = 2, mlp_kernel: int = 1, head: str = "gap", dropout: float = 0.5,
                 init: str = "xavier", width: float = 1.0, stem: tuple[int, int, int] = (11, 4, 0)) -> None:
        super().__init__()
        check_model_args(self, in_channels, num_classes, input_size)
        if head not in ("gap", "fc"):
            raise ValueError(f"unknown head {head!r}; use 'gap' or 'fc'")
        if not width > 0:
            raise ValueError(f"width must be positive (1.0 is d2l's NiN), got {width!r}")
        if len(stem) != 3:
            raise ValueError(f"stem is conv1's (kernel, stride, padding), got {stem!r}")
        c1, c2, c3 = (max(1, round(c * width)) for c in (96, 256, 384))
        mlp = dict(num_1x1=num_1x1, mlp_kernel=mlp_kernel)
        last = num_classes if head == "gap" else c3
        self.features = nn.Sequential(OrderedDict([
            ("block1", nin_block(in_channels, c1, kernel_size=stem[0], strides=stem[1], padding=stem[2],
                                 **mlp)),  # -> 96×54×54 at 224 (28×28 at 28 with stem (3, 1, 1))
            ("pool1", nn.MaxPool2d(kernel_size=3, stride=2)),  # -> 96×26×26 (13×13)
            ("block2", nin_block(c1, c2, kernel_size=5, strides=1, padding=2, **mlp)),
            ("pool2", nn.MaxPool2d(kernel_size=3, stride=2)),  # -> 256×12×12 (6×6)
            ("block3", nin_block(c2, c3, kernel_size=3, strides=1, padding=1, **mlp)),
            ("pool3", nn.MaxPool2d(kernel_size=3, stride=2)),  # -> 384×5×5 (2×2)
            ("drop", nn.Dropout(dropout)),
            # With the GAP head, the last block's channels are the class scores.
            ("block4", nin_block(c3, last, kernel_size=3, strides=1, padding=1, **mlp)),
        ]))
        self.head = head
        if head == "gap":
            self.input_size, self.min_input_size = input_size, min_size(self.features)
            self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)))  # no parameters
        else:
            s = plan_fixed_head(self, input_size)
            self.classifier = nn.Sequential(nn.Linear(last * s * s, num_classes))
        init_weights(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(self, x)
        x = self.features(x)
        if self.head == "gap":
            x = self.classifier(x)  # -> classes×1×1
            return torch.flatten(x, 1)
        return self.classifier(torch.flatten(x, 1))
