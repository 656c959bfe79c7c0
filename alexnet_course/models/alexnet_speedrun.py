"""A speed-run network from the AlexNet lineage for 28×28 Fashion-MNIST, after the
"ResNet-9" of David Page's DAWNBench CIFAR-10 runs ("How to train your ResNet", 2018) and
Keller Jordan's airbench (2024): AlexNet's recipe of convolution stacks with ReLU and max
pooling, made quick to train by batch normalisation (Ioffe & Szegedy, 2015) after each
convolution and, optionally, a residual block (He et al., 2016) after a stage's pooling.

Each stage is ``conv 3×3 → max pool 2 → BN → ReLU`` (pooling before the normalisation, as
in airbench: BN and ReLU then run on a quarter of the pixels), so the map goes
28 → 14 → 7 → 3 over three stages; a residual block adds ``x + relu(bn(conv(relu(bn(conv(x))))))``
at the pooled size. The head is AlexNet's without its hidden FC layers: global max pooling
and one linear layer (the FC layers were two thirds of AlexNet's weights and, at 28 px,
add little; see chapter 01's Q1b).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from ._registry import register_model
from ._utils import check_input_size, check_model_args, init_weights


def conv_bn(in_channels: int, out_channels: int, *, norm: bool, pool: bool) -> nn.Sequential:
    """``conv 3×3 (padding 1) → [max pool 2] → [BN] → ReLU``; the conv has no bias under BN
    (BN's shift replaces it)."""
    layers: list[tuple[str, nn.Module]] = [
        ("conv", nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=not norm))]
    if pool:
        layers.append(("pool", nn.MaxPool2d(2)))  # floor: 28 -> 14 -> 7 -> 3
    if norm:
        layers.append(("bn", nn.BatchNorm2d(out_channels)))
    layers.append(("relu", nn.ReLU(inplace=True)))
    return nn.Sequential(OrderedDict(layers))


class Residual(nn.Module):
    """Two ``conv 3×3 → BN → ReLU`` at constant width and size, added to their input."""

    def __init__(self, channels: int, *, norm: bool) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(channels, channels, norm=norm, pool=False),
                                  conv_bn(channels, channels, norm=norm, pool=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@register_model("alexnet_speedrun", params=463_584, min_input_size=8, input_size=28)
class AlexNetSpeedrun(nn.Module):
    """Three pooled conv stages (``widths``), an optional residual block after the stages
    named in ``residual`` (1-based), global max pooling and a linear classifier.

    ``widths=(32, 64, 128), residual=(2, 3)`` (the default) costs about 13.7 M multiply-adds per
    28×28 image; ``widths=(16, 32, 64), residual=()`` about 1.9 M. ``norm=False`` drops every
    batch norm (the convolutions get their biases back). ``logit_scale`` multiplies the
    logits, as Page's ResNet-9 does (0.125) to keep a BN network's initial logits small.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, input_size: int = 28, *,
                 widths: Sequence[int] = (32, 64, 128), residual: Sequence[int] = (2, 3),
                 norm: bool = True, logit_scale: float = 1.0, init: str = "kaiming") -> None:
        super().__init__()
        check_model_args(self, in_channels, num_classes, input_size)
        widths, residual = tuple(int(w) for w in widths), tuple(int(r) for r in residual)
        if not widths or min(widths) < 1:
            raise ValueError(f"AlexNetSpeedrun: widths must be positive channel counts, one per "
                             f"stage, got {widths}")
        if any(not 1 <= r <= len(widths) for r in residual):
            raise ValueError(f"AlexNetSpeedrun: residual names stages 1..{len(widths)}, got {residual}")
        layers: list[tuple[str, nn.Module]] = []
        prev = in_channels
        for i, w in enumerate(widths, start=1):
            layers.append((f"stage{i}", conv_bn(prev, w, norm=norm, pool=True)))  # side // 2
            if i in residual:
                layers.append((f"res{i}", Residual(w, norm=norm)))  # same side, same width
            prev = w
        self.features = nn.Sequential(OrderedDict(layers))  # 28 -> 3 with three stages
        self.pool = nn.AdaptiveMaxPool2d((1, 1))  # -> widths[-1]×1×1
        self.classifier = nn.Linear(prev, num_classes, bias=False)
        self.logit_scale = float(logit_scale)
        self.input_size, self.min_input_size = input_size, 2 ** len(widths)
        init_weights(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(self, x)
        x = self.pool(self.features(x))
        return self.classifier(torch.flatten(x, 1)) * self.logit_scale


@register_model("alexnet_speedrun_small", params=24_048, min_input_size=8, input_size=28)
def alexnet_speedrun_small(in_channels: int = 1, num_classes: int = 10, input_size: int = 28,
                           **kwargs: object) -> AlexNetSpeedrun:
    """The 0.90-in-30-seconds network: ``widths=(16, 32, 64)``, no residual block."""
    kwargs = {"widths": (16, 32, 64), "residual": (), **kwargs}
    return AlexNetSpeedrun(in_channels, num_classes, input_size, **kwargs)  # type: ignore[arg-type]
