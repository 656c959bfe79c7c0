"""AlexNet as described in Krizhevsky, Sutskever & Hinton (2012), "ImageNet Classification
with Deep Convolutional Neural Networks", NeurIPS, in its single-GPU layout.

Section 3.5 and Figure 2 of the paper: 96/256/384/384/256 convolution channels; ReLU after
every layer; local response normalisation (k=2, n=5, α=1e-4, β=0.75) after the ReLUs of
conv1 and conv2; overlapping 3×3 stride-2 max pooling after the two LRNs and conv5;
dropout 0.5 in the first two fully connected layers. Section 5: weights ~ N(0, 0.01²),
biases 1 in conv2, conv4, conv5 and the hidden FC layers, 0 elsewhere.

Deviations: the paper splits every layer across two GPUs (Section 3.2), so conv2, conv4 and
conv5 see only the half of the previous layer's maps on their own GPU; by default here
every layer is connected across all channels, which is what "single-GPU"
re-implementations do. ``groups=2`` restores the paper's connectivity (grouped convolution
on one device); its LRN still sees neighbours across the border of the two halves.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ..layers import LocalResponseNorm
from ._registry import register_model
from ._utils import check_input_size, check_model_args, init_weights, plan_fixed_head


# Each layer's fan-in (inputs per output unit) in the paper's full-width network on 224-pixel
# RGB images, single-GPU layout. A weight of std σ multiplies the scale of its input by about
# σ·√fan-in, so N(0, 0.01²) in a narrower network (smaller fan-ins) shrinks the signal more
# at every layer; init="paper_scaled" uses σ = 0.01·√(PAPER_FAN_IN / fan-in), which gives each
# layer the full-width network's gain (grouped layers: both fan-ins halved, the same ratio).
PAPER_FAN_IN = {"conv1": 3 * 11 * 11, "conv2": 96 * 5 * 5, "conv3": 256 * 3 * 3,
                "conv4": 384 * 3 * 3, "conv5": 384 * 3 * 3, "fc6": 256 * 6 * 6,
                "fc7": 4096, "fc8": 4096}


@register_model("alexnet_paper", params=58_299_082, min_input_size=63, input_size=224)
class AlexNetPaper(nn.Module):
    """The 2012 AlexNet, single-GPU layout; accepts both 224×224 and 227×227 input.

    The paper's text says 224×224, but 11×11 stride-4 convolution without padding needs 227
    to give the 55×55 maps of Figure 2. With ``padding=2`` (our choice; the paper gives
    none) both sizes work: 224 -> 55 and 227 -> 56 after conv1, and both reach 27×27 after
    the first pool, hence the same 6×6×256 = 9216 features.

    Switches for an ablation of the paper's choices (the defaults are the paper's):
    ``width`` scales every convolution's channels and ``fc_width`` sets the hidden FC layers
    (narrow variants train on a CPU); ``lrn`` toggles the two LRN layers; ``pool="overlap"``
    is the 3×3 stride-2 max pooling, ``"nonoverlap"`` the usual 2×2 stride 2 (for odd map
    sides, e.g. 55, 27, 13, both give the same output size); ``activation`` is ``"relu"`` or
    ``"tanh"`` (Section 3.1 compares them); ``init`` as in ``reset_parameters``.
    ``groups=2`` connects conv2, conv4 and conv5 only within each half of the channels, as
    the paper's two GPUs did (conv3 and the FC layers take both halves).
    ``stem`` is conv1's (kernel, stride, padding): the paper's 11×11 stride 4 needs ≥ 63
    pixels and ends in a 1×1 map below 112; ``stem=(5, 1, 2)`` is a deviation for native
    28×28 images (28 → 13 → 6 → 2 after the three poolings), as in ``alexnet_28``.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, input_size: int = 224,
                 dropout: float = 0.5, init: str = "paper", lrn: bool = True, *, width: float = 1.0,
                 fc_width: int = 4096, pool: str = "overlap", activation: str = "relu",
                 stem: tuple[int, int, int] = (11, 4, 2), groups: int = 1) -> None:
        super().__init__()
        check_model_args(self, in_channels, num_classes, input_size)
        if pool not in ("overlap", "nonoverlap"):
            raise ValueError(f"unknown pool {pool!r}; use 'overlap' or 'nonoverlap'")
        if activation not in ("relu", "tanh"):
            raise ValueError(f"unknown activation {activation!r}; use 'relu' or 'tanh'")
        if groups not in (1, 2):
            raise ValueError(f"groups must be 1 (single GPU) or 2 (the paper's two GPUs), got {groups!r}")
        c1, c2, c3, c4, c5 = (max(1, round(c * width)) for c in (96, 256, 384, 384, 256))
        if groups == 2 and any(c % 2 for c in (c1, c2, c3, c4, c5)):
            raise ValueError(f"groups=2 needs even channel counts, got {(c1, c2, c3, c4, c5)} at "
                             f"width={width}; choose a width that keeps them even")
        k = 3 if pool == "overlap" else 2

        def act() -> nn.Module:
            return nn.ReLU(inplace=True) if activation == "relu" else nn.Tanh()

        def norm() -> nn.Module:
            return LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0) if lrn else nn.Identity()

        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(in_channels, c1, kernel_size=stem[0], stride=stem[1],
                                padding=stem[2])),  # -> 96×55×55 at 224
            ("relu1", act()),
            ("norm1", norm()),  # after the ReLU (Section 3.3)
            ("pool1", nn.MaxPool2d(kernel_size=k, stride=2)),  # -> 96×27×27 (overlapping)
            ("conv2", nn.Conv2d(c1, c2, kernel_size=5, padding=2, groups=groups)),  # per GPU
            ("relu2", act()),
            ("norm2", norm()),
            ("pool2", nn.MaxPool2d(kernel_size=k, stride=2)),  # -> 256×13×13
            ("conv3", nn.Conv2d(c2, c3, kernel_size=3, padding=1)),  # across both GPUs
            ("relu3", act()),
            ("conv4", nn.Conv2d(c3, c4, kernel_size=3, padding=1, groups=groups)),
            ("relu4", act()),
            ("conv5", nn.Conv2d(c4, c5, kernel_size=3, padding=1, groups=groups)),
            ("relu5", act()),
            ("pool5", nn.MaxPool2d(kernel_size=k, stride=2)),  # -> 256×6×6
        ]))
        s = plan_fixed_head(self, input_size)
        self.classifier = nn.Sequential(OrderedDict([
            ("drop6", nn.Dropout(dropout)),
            ("fc6", nn.Linear(c5 * s * s, fc_width)),  # 9216 inputs at 224 or 227
            ("relu6", act()),
            ("drop7", nn.Dropout(dropout)),
            ("fc7", nn.Linear(fc_width, fc_width)),
            ("relu7", act()),
            # No ReLU on the logits: the softmax needs negative values too. A reproduction
            # in the course's source material put a ReLU here, a bug that clips every logit
            # at 0 and stalls training once the logits of the true class go negative.
            ("fc8", nn.Linear(fc_width, num_classes)),
        ]))
        self.reset_parameters(init)

    def reset_parameters(self, init: str = "paper") -> None:
        """``"paper"``: Section 5's scheme; ``"paper_scaled"``: the same with each layer's
        standard deviation rescaled for this network's fan-in (see :data:`PAPER_FAN_IN`);
        ``"default"``: PyTorch's; ``"kaiming"``: He et al."""
        if init not in ("paper", "paper_scaled"):
            init_weights(self, init)
            return
        ones = {"features.conv2", "features.conv4", "features.conv5", "classifier.fc6", "classifier.fc7"}
        for name, m in self.named_modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                std = 0.01
                if init == "paper_scaled":  # deviation: the paper's std suits its own fan-ins
                    groups = getattr(m, "groups", 1)
                    std *= (PAPER_FAN_IN[name.split(".")[-1]] / groups / m.weight[0].numel()) ** 0.5
                nn.init.normal_(m.weight, mean=0.0, std=std)
                # Bias 1 "accelerates the early stages of learning by providing the ReLUs
                # with positive inputs" (Section 5).
                nn.init.constant_(m.bias, 1.0 if name in ones else 0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(self, x)
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)
