"""The course's model zoo: one family per file, a registry of constructors by short name.

``get_model("alexnet_paper", init="kaiming")`` builds a model from a string (papermill
parameters are strings). Every model takes ``in_channels=1`` and ``num_classes=10`` and
carries ``input_size`` (its default or built-for input side) and ``min_input_size``.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from .alex_resnet import AlexResNet, alex_resnet_se
from .alexnet import AlexNetD2L, AlexNetTV
from .alexnet_nopool import AlexNetNoPool
from .alexnet_paper import AlexNetPaper
from .alexnet_simple import AlexNetSimple, alexnet_28
from .bn_inception import BNInception
from .googlenet import GoogLeNet, Inception
from .inception_resnet import InceptionResNetSmall
from .inception_v3 import InceptionV3Small
from .inception_v4 import InceptionV4Small
from .lenet import LeNet, LeNetModern
from .nin import NiN, nin_block
from .vgg import VGG, VGG_ARCHS, vgg11, vgg13, vgg16, vgg19, vgg_block, vgg_small

MODELS: dict[str, Callable[..., nn.Module]] = {
    "lenet": LeNet,
    "lenet_modern": LeNetModern,
    "alexnet_d2l": AlexNetD2L,
    "alexnet_paper": AlexNetPaper,
    "alexnet_tv": AlexNetTV,
    "alexnet_simple": AlexNetSimple,
    "alexnet_28": alexnet_28,
    "alexnet_nopool": AlexNetNoPool,
    "vgg11": vgg11,
    "vgg13": vgg13,
    "vgg16": vgg16,
    "vgg19": vgg19,
    "vgg_small": vgg_small,
    "nin": NiN,
    "googlenet": GoogLeNet,
    "bn_inception": BNInception,
    "inception_v3_small": InceptionV3Small,
    "inception_v4_small": InceptionV4Small,
    "inception_resnet_small": InceptionResNetSmall,
    "alex_resnet": AlexResNet,
    "alex_resnet_se": alex_resnet_se,
}


def get_model(name: str, **kwargs: object) -> nn.Module:
    """Build the registered model ``name`` (case-insensitive) with ``kwargs``."""
    key = name.strip().lower()
    if key not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(MODELS)}")
    return MODELS[key](**kwargs)


__all__ = [
    "MODELS", "get_model", "AlexNetD2L", "AlexNetNoPool", "AlexNetPaper", "AlexNetSimple", "AlexNetTV",
    "AlexResNet", "BNInception", "GoogLeNet", "Inception", "InceptionResNetSmall", "InceptionV3Small",
    "InceptionV4Small", "LeNet", "LeNetModern", "NiN", "VGG", "VGG_ARCHS", "alex_resnet_se", "alexnet_28",
    "nin_block", "vgg11", "vgg13", "vgg16", "vgg19", "vgg_block", "vgg_small",
]
