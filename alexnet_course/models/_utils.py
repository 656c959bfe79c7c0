"""Helpers shared by the model files: argument and input checks, size arithmetic,
initialisation.

Every model in the zoo carries the attributes that the notebooks and tests rely on:
``in_channels`` and ``num_classes`` (recorded by ``check_model_args``), ``input_size``
(the size it was built for, or its default), ``min_input_size`` (the smallest square
input its feature extractor accepts) and, for models whose first fully connected layer
has a fixed ``in_features``, ``feature_size`` (the side of the final feature map at
``input_size``).
"""

from __future__ import annotations

import numbers

import torch
from torch import nn


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _check_positive_int(owner: str, arg: str, value: object, hint: str) -> int:
    # bool is an int subclass, and True would silently mean 1 channel or 1 class.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: {arg} must be a positive integer ({hint}), got {value!r} "
                        f"({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{owner}: {arg} must be a positive integer ({hint}), got {value}")
    return int(value)


def check_model_args(net: nn.Module, in_channels: object, num_classes: object,
                     input_size: object = None) -> None:
    """Refuse an ``in_channels``, ``num_classes`` or ``input_size`` that is not a positive
    integer, naming the model, and record the first two on ``net`` for ``check_input_size``.

    Every constructor in the zoo calls it first, before any layer is built.
    """
    owner = type(net).__name__
    net.in_channels = _check_positive_int(owner, "in_channels", in_channels,
                                          "1 for Fashion-MNIST, 3 for CIFAR-10")
    net.num_classes = _check_positive_int(owner, "num_classes", num_classes, "10 for both datasets")
    if input_size is not None:
        _check_positive_int(owner, "input_size", input_size, "the side of the square input images")


def conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0,
             dilation: int = 1, ceil_mode: bool = False) -> int:
    """Output length of a convolution or pooling along one axis (PyTorch's formula); 0 if none."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if span < 0:
        return 0
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    # PyTorch drops a last ceil-mode window that would start inside the right padding.
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def stack_out(module: nn.Module, size: int) -> int:
    """Side of the output of a plain conv/pool stack for a ``size``×``size`` input (0 if it vanishes).

    Walks ``module.modules()`` in registration order, which is execution order for the
    ``nn.Sequential`` stacks used here; only valid for plain stacks (no parallel branches).
    Only the height axis is followed, so kernels must be square.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            dilation = _pair(m.dilation)[0] if isinstance(m, (nn.Conv2d, nn.MaxPool2d)) else 1
            ceil_mode = getattr(m, "ceil_mode", False)
            size = conv_out(size, _pair(m.kernel_size)[0], _pair(m.stride)[0],
                            _pair(m.padding)[0], dilation, ceil_mode)
        elif isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)) and size >= 1:
            size = _pair(m.output_size)[0]
        if size < 1:
            return 0
    return size


def min_size(module: nn.Module, limit: int = 4096) -> int:
    """Smallest square input for which a plain stack still produces at least 1×1."""
    for n in range(1, limit + 1):
        if stack_out(module, n) >= 1:
            return n
    raise ValueError(f"no input up to {limit}×{limit} gets through this stack")


def plan_fixed_head(net: nn.Module, input_size: int) -> int:
    """Record ``input_size``, ``min_input_size`` and ``feature_size`` on a model whose first
    linear layer has fixed ``in_features``; returns ``feature_size`` (the final map's side)."""
    name = type(net).__name__
    net.input_size = input_size
    net.min_input_size = min_size(net.features)
    net.feature_size = stack_out(net.features, input_size)
    if net.feature_size < 1:
        raise ValueError(f"{name} needs inputs of at least {net.min_input_size}×{net.min_input_size} "
                         f"pixels, cannot be built for input_size={input_size}")
    return net.feature_size


def check_input_size(net: nn.Module, x: torch.Tensor) -> None:
    """Raise a ValueError that names the fix when ``x`` is not an N×C×H×W batch, has another
    number of channels than the model was built with, is too small or, for models with a
    fixed-size classifier, gives a different final feature map than the one built for."""
    name = type(net).__name__
    if x.dim() != 4:
        fix = "add the batch dimension with x.unsqueeze(0)" if x.dim() == 3 else "reshape it to N×C×H×W"
        raise ValueError(f"{name} takes a batch of images N×C×H×W, got a tensor of shape "
                         f"{tuple(x.shape)}: {fix}")
    expected, got = getattr(net, "in_channels", None), int(x.shape[1])
    if expected is not None and got != expected:
        how = {1: "to grayscale, e.g. x.mean(1, keepdim=True)",
               3: "to RGB, e.g. x.expand(-1, 3, -1, -1) for grayscale images"}.get(expected, "")
        raise ValueError(f"{name} was built with in_channels={expected}, got a batch with {got} "
                         f"channels (shape {tuple(x.shape)}): build it with in_channels={got} or "
                         f"convert the images{' ' + how if how else ''}")
    h, w = int(x.shape[-2]), int(x.shape[-1])
    m = net.min_input_size
    if h < m or w < m:
        raise ValueError(f"{name} needs inputs of at least {m}×{m} pixels, got {h}×{w}: "
                         f"pass resize={max(net.input_size, m)} (or larger) to the data loader")
    fixed = getattr(net, "feature_size", None)
    if fixed is not None:
        fh, fw = stack_out(net.features, h), stack_out(net.features, w)
        if (fh, fw) != (fixed, fixed):
            raise ValueError(
                f"{name} was built for input_size={net.input_size} (a {fixed}×{fixed} final feature map), "
                f"got {h}×{w} (a {fh}×{fw} map): build it with input_size={h} or pass "
                f"resize={net.input_size} to the data loader")


def init_weights(net: nn.Module, scheme: str) -> None:
    """Initialise every Conv2d and Linear of ``net``.

    ``"default"`` keeps PyTorch's (Kaiming-uniform with a=sqrt(5)); ``"xavier"`` is d2l's
    ``init_cnn`` (Xavier-uniform weights, biases untouched); ``"kaiming"`` is He et al. (2015)
    for ReLU nets, zero biases; ``"normal001"`` is AlexNet's N(0, 0.01²), zero biases.
    """
    if scheme == "default":
        return
    if scheme not in ("xavier", "kaiming", "normal001"):
        raise ValueError(f"unknown init {scheme!r}; use 'default', 'xavier', 'kaiming' or 'normal001'")
    for m in net.modules():
        if not isinstance(m, (nn.Conv2d, nn.Linear)):
            continue
        if scheme == "xavier":
            nn.init.xavier_uniform_(m.weight)
            continue
        if scheme == "kaiming":
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
        else:
            nn.init.normal_(m.weight, mean=0.0, std=0.01)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
