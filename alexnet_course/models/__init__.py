"""The course's model zoo: one family per file, a registry of builders by short name.

``get_model("alexnet_paper", init="kaiming")`` builds a model from a string (papermill
parameters are strings); ``list_models()`` names them and ``model_info(name)`` gives the
parameter count, minimum and default input size recorded with ``@register_model``. Every
model takes ``in_channels=1`` and ``num_classes=10``, refuses other than positive integers
for them, and carries ``in_channels``, ``num_classes``, ``input_size`` (its default or
built-for input side) and ``min_input_size``.
"""

from __future__ import annotations

# Importing a family module runs its @register_model decorators, so MODELS lists the
# models in this order, the book's. A new family file is imported here too
# (tests/test_models.py checks that none is forgotten).
from . import lenet, alexnet, alexnet_paper, alexnet_simple, alexnet_nopool  # noqa: F401, I001
from . import vgg, nin, googlenet, bn_inception, inception_v3, inception_v4  # noqa: F401, I001
from . import inception_resnet, alex_resnet, alexnet_speedrun  # noqa: F401, I001
from ._registry import MODELS, ModelInfo, get_model, list_models, model_info, register_model
from ._utils import conv_out
from .alex_resnet import AlexResNet, alex_resnet_se
from .alexnet import AlexNetD2L, AlexNetTV
from .alexnet_nopool import AlexNetNoPool
from .alexnet_paper import AlexNetPaper
from .alexnet_simple import AlexNetSimple, alexnet_28
from .alexnet_speedrun import AlexNetSpeedrun, alexnet_speedrun_small
from .bn_inception import BNInception
from .googlenet import GoogLeNet, Inception
from .inception_resnet import InceptionResNetSmall
from .inception_v3 import InceptionV3Small
from .inception_v4 import InceptionV4Small
from .lenet import LeNet, LeNetModern
from .nin import NiN, nin_block
from .vgg import VGG, VGG_ARCHS, vgg11, vgg13, vgg16, vgg19, vgg_block, vgg_small

__all__ = [
    "MODELS", "ModelInfo", "conv_out", "get_model", "list_models", "model_info", "register_model",
    "AlexNetD2L", "AlexNetNoPool", "AlexNetPaper", "AlexNetSimple", "AlexNetSpeedrun", "AlexNetTV", "AlexResNet", "BNInception",
    "GoogLeNet", "Inception", "InceptionResNetSmall", "InceptionV3Small", "InceptionV4Small", "LeNet",
    "LeNetModern", "NiN", "VGG", "VGG_ARCHS", "alex_resnet_se", "alexnet_28", "alexnet_speedrun_small", "nin_block", "vgg11", "vgg13",
    "vgg16", "vgg19", "vgg_block", "vgg_small",
]
