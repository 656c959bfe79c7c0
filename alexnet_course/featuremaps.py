"""Measuring feature maps (the VGG chapter's "coarse information" question).

:func:`alexnet_course.analysis.feature_maps` returns ``{layer: N×C×H×W tensor}``;
:func:`map_table` measures each map (``alexnet_course.course.plots.plot_feature_maps``
draws them): its size, the share of
active units and how smooth it is (the correlation of horizontally neighbouring
activations: near 1 for coarse, blob-like maps, near 0 for fine, edge-like ones).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping

import pandas as pd
import torch
from torch import nn


def strongest_channels(fmap: torch.Tensor, k: int) -> list[int]:
    """Indices of the ``k`` channels of one image's ``C×H×W`` map with the largest mean activation."""
    if fmap.dim() != 3:
        raise ValueError(f"expected one image's C×H×W map, got shape {tuple(fmap.shape)}")
    k = min(k, fmap.shape[0])
    return fmap.float().mean(dim=(1, 2)).topk(k).indices.tolist()


def neighbour_correlation(fmap: torch.Tensor) -> float:
    """Mean over channels of the correlation between horizontally adjacent activations.

    ``fmap`` is ``N×C×H×W`` (or ``C×H×W``). Channels that are constant over the batch's
    positions (e.g. dead ReLUs) are skipped; ``nan`` if every channel is, or if the map
    is one pixel wide.
    """
    x = fmap.float()
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.shape[-1] < 2:
        return float("nan")
    left = x[..., :-1].transpose(0, 1).flatten(1)  # C × (pairs over images and positions)
    right = x[..., 1:].transpose(0, 1).flatten(1)
    left = left - left.mean(1, keepdim=True)
    right = right - right.mean(1, keepdim=True)
    denom = (left.pow(2).sum(1) * right.pow(2).sum(1)).sqrt()
    ok = denom > 1e-12
    if not bool(ok.any()):
        return float("nan")
    return float(((left * right).sum(1)[ok] / denom[ok]).mean())


def map_table(maps: Mapping[str, torch.Tensor], labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per map: channels, side, share of positive activations, neighbour correlation.

    ``labels`` renames layers for display (e.g. ``{"features.relu1": "AlexNet conv1 11×11/4"}``).
    """
    rows = []
    for name, fmap in maps.items():
        rows.append({"map": (labels or {}).get(name, name), "channels": int(fmap.shape[1]),
                     "side": int(fmap.shape[-1]), "active share": float((fmap > 0).float().mean()),
                     "neighbour correlation": neighbour_correlation(fmap)})
    return pd.DataFrame(rows).set_index("map")


#: The two modes a network can be measured in: ``"eval"`` (batch norm applies its running
#: statistics; for a freshly initialised batch norm, mean 0 and variance 1, the identity) and
#: ``"train"`` (batch norm normalises with the batch's own statistics, as during training).
MODES = ("eval", "train")


def maps_in_mode(net: nn.Module, images: torch.Tensor, layers: Iterable[str], *,
                 mode: str) -> dict[str, torch.Tensor]:
    """``analysis.feature_maps`` of ``images`` (N×C×H×W, or one C×H×W image) with ``net``
    in ``mode``, without side effects: the network's training flag is restored, and in
    ``"train"`` mode a copy of it runs, so batch norm's running statistics do not move.

    In ``"train"`` mode batch norm normalises over the batch, so pass several images
    (a 1×1 map of a single image has no spread to normalise by).
    """
    from .analysis import feature_maps

    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; use 'eval' (running statistics) or 'train' "
                         f"(batch statistics)")
    x = images.unsqueeze(0) if images.dim() == 3 else images
    x = x.to(next(net.parameters()).device)
    if mode == "train":
        probe = copy.deepcopy(net).train()
        try:
            return feature_maps(probe, x, layers)
        except ValueError as err:
            if "Expected more than 1 value per channel" not in str(err):
                raise
            raise ValueError(f"mode='train' normalises over the batch, and batch norm got a single "
                             f"value per channel ({err}); pass a batch of several images") from err
    was_training = net.training
    net.eval()
    try:
        return feature_maps(net, x, layers)
    finally:
        net.train(was_training)


def stacked_vs_single(channels: int = 64, max_convs: int = 3) -> pd.DataFrame:
    """Stacks of 1…``max_convs`` 3×3 convolutions against one k×k convolution with the same
    receptive field (k = 2n + 1), for ``channels`` in and out channels.

    Receptive fields come from :func:`alexnet_course.analysis.receptive_field` on the
    actual stacks; parameters count weights and biases; "nonlinearities" is the number of
    ReLUs a stack applies (one per convolution).
    """
    from .analysis import count_params, receptive_field

    rows = []
    for n in range(1, max_convs + 1):
        stack = nn.Sequential(*[nn.Conv2d(channels, channels, 3, padding=1) for _ in range(n)])
        rf = int(receptive_field(stack)["rf"].iloc[-1])
        single = nn.Conv2d(channels, channels, rf, padding=rf // 2)
        rows.append({"3×3 convs stacked": n, "receptive field": f"{rf}×{rf}",
                     "stack params": count_params(stack), "stack nonlinearities": n,
                     "single conv": f"one {rf}×{rf} conv", "single conv params": count_params(single),
                     "params ratio (stack / single)": count_params(stack) / count_params(single)})
    return pd.DataFrame(rows).set_index("3×3 convs stacked")


def size_table(model: str, sizes: list[int], in_channels: int = 1, **model_kwargs: object) -> pd.DataFrame:
    """What one registry model costs at each input side, without allocating its weights.

    Builds ``model`` for every side on PyTorch's ``meta`` device and returns one row per
    side: the final feature map (``feature_size`` where the model has one), the first
    linear layer's ``in_features`` and parameters, all parameters, forward GFLOPs per image
    and the activation memory per image in MiB (float32): the outputs of every convolution,
    pooling and linear layer, which the backward pass keeps (in-place ReLUs add nothing).
    """
    from .analysis import count_flops, count_params, shape_table
    from .models import get_model

    kept = ("Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Linear")
    rows = []
    for s in sizes:
        with torch.device("meta"):
            net = get_model(model, in_channels=in_channels, input_size=s, **model_kwargs)
        fc1 = next(m for m in net.modules() if isinstance(m, nn.Linear))
        shapes = shape_table(net, input_size=s, in_channels=in_channels)
        values = sum(int(torch.Size(shape).numel()) for shape, kind in zip(shapes["output_shape"], shapes["type"])
                     if kind in kept)
        side = getattr(net, "feature_size", None)
        rows.append({"input": f"{s}×{s}", "final map": f"{side}×{side}" if side else "",
                     "fc1 in_features": fc1.in_features, "fc1 params": count_params(fc1),
                     "parameters": count_params(net), "GFLOPs": count_flops(net, s, in_channels) / 1e9,
                     "activation MiB / image": values * 4 / 2**20})
    return pd.DataFrame(rows).set_index("input")


class LayerMapStats:
    """A run-store recorder (``train_run(record={"maps": LayerMapStats(...)})``): after
    training, ``layer``'s output on the first ``count`` test images (at ``side`` px, the
    loaders' ``seed``) summarised as its channels, dead channels (never positive), the share
    of positive activations and :func:`neighbour_correlation`."""

    def __init__(self, layer: str, dataset: str, side: int | None, count: int = 16,
                 seed: int = 0) -> None:
        self.layer, self.dataset, self.side, self.count, self.seed = layer, dataset, side, count, seed

    def __repr__(self) -> str:  # what a spec table shows of the recorder
        return f"LayerMapStats({self.layer!r}, {self.count} test images at {self.side} px)"

    def collect(self, net: nn.Module) -> dict[str, float | int]:
        from .analysis import feature_maps
        from .data import load_dataset

        device = next(net.parameters()).device
        _, test_iter = load_dataset(self.dataset, self.count, self.side, train_size=self.count,
                                    test_size=self.count, device=device, seed=self.seed)
        sample, _ = next(iter(test_iter))
        fmap = feature_maps(net.eval(), sample, [self.layer])[self.layer]
        return {"channels": int(fmap.shape[1]),
                "dead channels": int((fmap.amax(dim=(0, 2, 3)) <= 0).sum()),
                "active share": float((fmap > 0).float().mean()),
                "neighbour correlation": neighbour_correlation(fmap)}
