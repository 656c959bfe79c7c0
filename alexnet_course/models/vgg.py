"""VGG (Simonyan & Zisserman, 2015, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", ICLR), built from d2l's ``vgg_block`` and ``conv_arch`` description.

``VGG_ARCHS`` holds configurations A, B, D and E of the paper's Table 1 (VGG-11/13/16/19)
as ``(num_convs, out_channels)`` pairs, one per block; configuration C (with 1×1 convs)
is left out. ``ratio`` divides every channel count, as d2l does to make VGG-11 trainable
on Fashion-MNIST; the first FC layer's ``in_features`` follows from ``input_size``
(five 2×2 pools: 224 -> 7, 96 -> 3, 84 -> 2, 56 -> 1).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from ._registry import register_model
from ._utils import check_input_size, check_model_args, init_weights, plan_fixed_head

VGG_ARCHS: dict[str, tuple[tuple[int, int], ...]] = {
    "vgg11": ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512)),  # A
    "vgg13": ((2, 64), (2, 128), (2, 256), (2, 512), (2, 512)),  # B
    "vgg16": ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)),  # D
    "vgg19": ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512)),  # E
}


def vgg_block(num_convs: int, in_channels: int, out_channels: int, batch_norm: bool = False,
              first_kernel: int = 3) -> nn.Sequential:
    """``num_convs`` 3×3 convs (padding 1, size kept), each + ReLU, then a 2×2 max pool (size halved).

    ``first_kernel`` (odd) gives the block's first convolution a larger square window, with
    padding ``first_kernel // 2`` so the map size is kept (for the "large first kernel" ablation).
    """
    if first_kernel < 1 or first_kernel % 2 == 0:
        raise ValueError(f"first_kernel must be a positive odd number, got {first_kernel}")
    layers: list[tuple[str, nn.Module]] = []
    for i in range(1, num_convs + 1):
        k = first_kernel if i == 1 else 3
        layers.append((f"conv{i}", nn.Conv2d(in_channels, out_channels, kernel_size=k, padding=k // 2)))
        if batch_norm:  # not in the paper (it predates batch norm); torchvision's vgg*_bn
            layers.append((f"bn{i}", nn.BatchNorm2d(out_channels)))
        layers.append((f"relu{i}", nn.ReLU(inplace=True)))
        in_channels = out_channels
    layers.append(("pool", nn.MaxPool2d(kernel_size=2, stride=2)))
    return nn.Sequential(OrderedDict(layers))


class VGG(nn.Module):
    """VGG from a ``conv_arch``; defaults give d2l's VGG (224×224, one channel, 10 classes).

    ``first_kernel`` (default 3, the paper's) sets the window of the very first convolution,
    e.g. 7 or 11 for a LeNet/AlexNet-like large first kernel; map sizes do not change.
    """

    def __init__(self, conv_arch: Sequence[tuple[int, int]], *, in_channels: int = 1,
                 num_classes: int = 10, input_size: int = 224, fc_width: int = 4096,
                 ratio: int = 1, dropout: float = 0.5, batch_norm: bool = False,
                 init: str = "xavier", first_kernel: int = 3) -> None:
        super().__init__()
        check_model_args(self, in_channels, num_classes, input_size)
        blocks: list[tuple[str, nn.Module]] = []
        for i, (num_convs, out_channels) in enumerate(conv_arch, start=1):
            out_channels = out_channels // ratio
            k = first_kernel if i == 1 else 3  # only the network's first convolution changes
            blocks.append((f"block{i}", vgg_block(num_convs, in_channels, out_channels, batch_norm, k)))
            in_channels = out_channels  # each block halves the map: 224 -> 112 -> ... -> 7
        self.features = nn.Sequential(OrderedDict(blocks))
        s = plan_fixed_head(self, input_size)
        self.classifier = nn.Sequential(OrderedDict([
            ("fc1", nn.Linear(in_channels * s * s, fc_width)),  # 512·7·7 = 25088 at 224
            ("relu1", nn.ReLU(inplace=True)),
            ("drop1", nn.Dropout(dropout)),
            ("fc2", nn.Linear(fc_width, fc_width)),
            ("relu2", nn.ReLU(inplace=True)),
            ("drop2", nn.Dropout(dropout)),
            ("fc3", nn.Linear(fc_width, num_classes)),
        ]))
        init_weights(self, init)  # d2l: Xavier; the paper: N(0, 0.01²) for net A

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(self, x)
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def _vgg(arch: str, kwargs: dict) -> VGG:
    return VGG(VGG_ARCHS[arch], **kwargs)


@register_model("vgg11", params=128_806_154, min_input_size=32, input_size=224)
def vgg11(**kwargs: object) -> VGG:
    """VGG-11, configuration A of Table 1 (d2l's VGG)."""
    return _vgg("vgg11", kwargs)


@register_model("vgg13", params=128_990_666, min_input_size=32, input_size=224)
def vgg13(**kwargs: object) -> VGG:
    """VGG-13, configuration B of Table 1."""
    return _vgg("vgg13", kwargs)


@register_model("vgg16", params=134_300_362, min_input_size=32, input_size=224)
def vgg16(**kwargs: object) -> VGG:
    """VGG-16, configuration D of Table 1."""
    return _vgg("vgg16", kwargs)


@register_model("vgg19", params=139_610_058, min_input_size=32, input_size=224)
def vgg19(**kwargs: object) -> VGG:
    """VGG-19, configuration E of Table 1."""
    return _vgg("vgg19", kwargs)


@register_model("vgg_small", params=43_093_322, min_input_size=32, input_size=224)
def vgg_small(**kwargs: object) -> VGG:
    """The VGG-11 d2l trains on Fashion-MNIST: channels divided by 4, 224×224 input,
    4096-wide FC layers (43,093,322 parameters)."""
    return _vgg("vgg11", {"ratio": 4, **kwargs})
