"""A small AlexNet/ResNet hybrid for the activation-statistics chapter: an AlexNet-like
large-kernel stem, then eight 3×3 convolutions in four stages whose features can be made
residual (He, Zhang, Ren & Sun, 2016, "Deep Residual Learning for Image Recognition",
CVPR), batch-normalised (Ioffe & Szegedy, 2015) and recalibrated by squeeze-and-excitation
(Hu, Shen & Sun, 2018, "Squeeze-and-Excitation Networks", CVPR).

With ``norm="none", residual=False, init="normal001"`` it is a plain nine-conv net with
AlexNet's N(0, 0.01²) initialisation, whose activations shrink layer by layer until
training stalls; ``norm="bn"``, ``init="kaiming"`` or ``residual=True`` each repair that.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ._registry import register_model
from ._utils import check_input_size, check_model_args, init_weights

NORMS = ("bn", "none")


def make_norm(norm: str, channels: int) -> nn.Module:
    if norm == "bn":
        return nn.BatchNorm2d(channels)
    if norm == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {norm!r}; use one of {', '.join(NORMS)}")


class BasicBlock(nn.Module):
    """Two 3×3 convs (the first may stride 2); optional SE before the optional residual sum."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, norm: str = "bn",
                 residual: bool = True, se: bool = False) -> None:
        super().__init__()
        bias = norm == "none"  # a conv bias right before BN is redundant
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=bias)
        self.norm1 = make_norm(norm, out_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=bias)
        self.norm2 = make_norm(norm, out_channels)
        if se:
            # imported here, not at the top: torchvision's import pulls in torch._dynamo (~1.3 s
            # on two cores), which every process importing the model registry would pay
            # (the speed-run's clock starts at the interpreter's start)
            from torchvision.ops import SqueezeExcitation
            self.se: nn.Module = SqueezeExcitation(out_channels, max(1, out_channels // 16))
        else:
            self.se = nn.Identity()
        self.shortcut: nn.Module | None = None
        if residual:
            same = stride == 1 and in_channels == out_channels
            self.shortcut = nn.Identity() if same else nn.Sequential(  # ResNet's option B projection
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=bias), make_norm(norm, out_channels))
        self.relu2 = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.norm1(self.conv1(x)))
        out = self.se(self.norm2(self.conv2(out)))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu2(out)


@register_model("alex_resnet", params=3_542_730, min_input_size=1, input_size=64)
class AlexResNet(nn.Module):
    """Stem (7×7/2 conv, 3×3/2 max pool) and four stages of one ``BasicBlock`` each; GAP head.

    Stages halve the map after the first: 64 -> 32 (stem conv) -> 16 (pool) -> 16, 8, 4, 2.
    All downsampling is padded, so any input >= 1×1 gets through.
    """

    min_input_size = 1

    def __init__(self, in_channels: int = 1, num_classes: int = 10, input_size: int = 64, *,
                 channels: tuple[int, ...] = (64, 128, 256, 384), norm: str = "bn",
                 init: str = "kaiming", residual: bool = True, se: bool = False,
                 dropout: float = 0.0) -> None:
        super().__init__()
        check_model_args(self, in_channels, num_classes, input_size)
        layers: list[tuple[str, nn.Module]] = [
            ("conv1", nn.Conv2d(in_channels, channels[0], 7, stride=2, padding=3, bias=norm == "none")),
            ("norm1", make_norm(norm, channels[0])),
            ("relu1", nn.ReLU(inplace=True)),
            ("pool1", nn.MaxPool2d(3, stride=2, padding=1)),  # 64 -> 16 with conv1's stride
        ]
        prev = channels[0]
        for i, c in enumerate(channels, start=1):
            layers.append((f"stage{i}", BasicBlock(prev, c, 1 if i == 1 else 2, norm, residual, se)))
            prev = c
        self.features = nn.Sequential(OrderedDict(layers))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(prev, num_classes))
        self.input_size = input_size
        init_weights(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(self, x)
        x = self.features(x)
        x = self.avgpool(x)  # -> channels[-1]×1×1
        x = torch.flatten(x, 1)
        return self.classifier(x)


@register_model("alex_resnet_se", params=3_572_798, min_input_size=1, input_size=64)
def alex_resnet_se(**kwargs: object) -> AlexResNet:
    """``AlexResNet`` with squeeze-and-excitation in every block."""
    return AlexResNet(**{"se": True, **kwargs})  # type: ignore[arg-type]
