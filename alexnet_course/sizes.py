"""Where a network's parameters and FLOPs sit, by kind of layer.

The question "why are NiN and GoogLeNet so much smaller than AlexNet and VGG?" is
answered by sorting every weight of a network into a few kinds of layer (fully
connected, k×k convolution, 1×1 convolution, factorised 1×n/n×1 convolution, batch
norm) and adding up parameters and forward FLOPs per kind. FLOPs come from
:func:`alexnet_course.analysis.flop_table` (``torch.utils.flop_counter``: a
multiply-add counts 2; pooling, activations and normalisation count 0).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import torch
from torch import nn

from .analysis import count_flops, count_params, flop_table, shape_table

KINDS = ("fully connected", "conv k×k", "conv 1×n / n×1", "conv 1×1", "batch norm", "other")


def layer_kind(module: nn.Module) -> str:
    """The kind of a parameterised leaf module, one of :data:`KINDS`."""
    if isinstance(module, nn.Linear):
        return "fully connected"
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        if kh == kw == 1:
            return "conv 1×1"
        if kh == 1 or kw == 1:
            return "conv 1×n / n×1"
        return "conv k×k"
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return "batch norm"
    return "other"


def layer_costs(net: nn.Module, input_size: int | None = None, in_channels: int = 1) -> pd.DataFrame:
    """One row per leaf module that owns parameters, in registration order.

    Columns: ``layer`` (qualified name), ``kind`` (:func:`layer_kind`), ``kernel``
    (e.g. ``"11×11"``, empty for non-convolutions), ``params``, ``flops`` (forward, one
    image of ``input_size``), and ``param share`` / ``flop share`` of the whole network.
    """
    flops = dict(zip(*flop_table(net, input_size, in_channels)[["layer", "flops"]].T.values))
    rows = []
    for name, m in net.named_modules():
        params = sum(p.numel() for p in m.parameters(recurse=False))
        if not params or next(m.children(), None) is not None:
            continue
        kernel = "×".join(map(str, m.kernel_size)) if isinstance(m, nn.Conv2d) else ""
        rows.append({"layer": name, "kind": layer_kind(m), "kernel": kernel, "params": params,
                     "flops": int(flops.get(name, 0))})
    df = pd.DataFrame(rows, columns=["layer", "kind", "kernel", "params", "flops"])
    df["param share"] = df["params"] / max(1, count_params(net))
    df["flop share"] = df["flops"] / max(1, int(df["flops"].sum()))
    return df


def cost_by_kind(net: nn.Module, input_size: int | None = None, in_channels: int = 1) -> pd.DataFrame:
    """Parameters and FLOPs summed per kind of layer (index: kind, in :data:`KINDS` order),
    with each kind's share of the total; kinds the network lacks get zeros."""
    df = layer_costs(net, input_size, in_channels)
    out = df.groupby("kind")[["params", "flops"]].sum().reindex(KINDS, fill_value=0)
    out["param share"] = out["params"] / max(1, int(out["params"].sum()))
    out["flop share"] = out["flops"] / max(1, int(out["flops"].sum()))
    return out


def size_summary(models: Mapping[str, tuple[nn.Module, int]], in_channels: int = 1) -> pd.DataFrame:
    """One row per named ``(net, input_size)``: parameters, GFLOPs, the share of the
    parameters held by fully connected layers, by 1×1 convolutions, and by the single
    largest layer (named)."""
    rows = []
    for label, (net, size) in models.items():
        costs = layer_costs(net, size, in_channels)
        kinds = costs.groupby("kind")["params"].sum()
        total = count_params(net)
        biggest = costs.loc[costs["params"].idxmax()]
        rows.append({"model": label, "input": f"{size}×{size}", "parameters": total,
                     "GFLOPs": count_flops(net, size, in_channels) / 1e9,
                     "FC params": int(kinds.get("fully connected", 0)),
                     "FC share": kinds.get("fully connected", 0) / total,
                     "1×1 conv share": kinds.get("conv 1×1", 0) / total,
                     "largest layer": biggest["layer"], "largest layer share": biggest["param share"]})
    return pd.DataFrame(rows).set_index("model")


def reduction_savings(net: nn.Module) -> pd.DataFrame:
    """What the 1×1 "reduction" convolutions save in every GoogLeNet ``Inception`` module.

    For each module's 3×3 and 5×5 paths (``branch2``, ``branch3``: a 1×1 conv to
    ``ch3x3red``/``ch5x5red`` channels, then the k×k conv), the parameters as built
    against those of the k×k conv applied to the module's input directly (same output
    channels, with biases). Columns: ``module``, ``in``, ``with 1×1 reduction``,
    ``without``, ``saving`` (the fraction of ``without`` that the reduction removes).
    """
    from .models.googlenet import Inception

    rows = []
    for name, m in net.named_modules():
        if not isinstance(m, Inception):
            continue
        built = without = 0
        for branch in (m.branch2, m.branch3):
            reduce, conv = [c for c in branch if isinstance(c, nn.Conv2d)]
            built += count_params(reduce) + count_params(conv)
            k = conv.kernel_size[0] * conv.kernel_size[1]
            without += reduce.in_channels * k * conv.out_channels + conv.out_channels
        rows.append({"module": name, "in": m.branch1[0].in_channels, "with 1×1 reduction": built,
                     "without": without, "saving": 1 - built / without})
    return pd.DataFrame(rows, columns=["module", "in", "with 1×1 reduction", "without", "saving"])


def factorisation_costs(channels: int = 64, size: int = 12, n: int = 5) -> pd.DataFrame:
    """Parameters and forward FLOPs of ways to see an n×n window, ``channels`` in and out,
    on a ``size``×``size`` map (no bias, so the ratios are exact): one n×n convolution,
    a stack of (n-1)/2 3×3 convolutions (n odd), and a 1×n then n×1 pair.
    Every variant covers the same n×n receptive field and keeps the map's size."""
    if n % 2 == 0 or n < 3:
        raise ValueError(f"n must be odd and at least 3, got {n}")
    c = channels
    variants = {
        f"one {n}×{n}": nn.Sequential(nn.Conv2d(c, c, n, padding=n // 2, bias=False)),
        f"{(n - 1) // 2} × 3×3": nn.Sequential(*[nn.Conv2d(c, c, 3, padding=1, bias=False)
                                                 for _ in range((n - 1) // 2)]),
        f"1×{n} then {n}×1": nn.Sequential(nn.Conv2d(c, c, (1, n), padding=(0, n // 2), bias=False),
                                           nn.Conv2d(c, c, (n, 1), padding=(n // 2, 0), bias=False)),
    }
    rows = []
    for label, net in variants.items():
        rows.append({"variant": label, "receptive field": f"{n}×{n}", "params": count_params(net),
                     "FLOPs": count_flops(net, size, c)})
    df = pd.DataFrame(rows).set_index("variant")
    df["relative cost"] = df["FLOPs"] / df["FLOPs"].iloc[0]
    return df



# Layers whose outputs the backward pass keeps (float32); in-place ReLUs add nothing, and
# dropout's mask is left out (d2l's exercise counts activations, not masks).
KEPT = ("Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Linear", "BatchNorm2d")


def memory_estimate(net: nn.Module, input_size: int, batch: int, in_channels: int = 1,
                    optimizer_states: int = 1, bytes_per_value: int = 4) -> dict[str, float]:
    """MiB a network needs to train and to predict on one batch, counted from its shapes
    (d2l's NiN exercise 4(c)(d)): an *estimate*, without the framework's workspace, the
    allocator's rounding or the data.

    Training keeps the weights, their gradients, ``optimizer_states`` buffers per weight
    (SGD with momentum: 1; Adam: 2) and every kept layer output of the batch (:data:`KEPT`),
    plus the input and max pooling's indices; not the gradients in flight during the
    backward pass. Prediction keeps the weights and, at any moment, one layer's input and
    output: the largest consecutive pair of kept outputs."""
    if input_size < 1 or batch < 1:
        raise ValueError(f"input_size and batch must be positive, got {input_size} and {batch}")
    mib = bytes_per_value / 2**20
    weights = count_params(net) * mib
    shapes = shape_table(net, input_size=input_size, in_channels=in_channels)
    # the input, then every kept output (ReLUs work in place, Flatten is a view)
    outputs = [(int(torch.Size(s).numel()), kind) for s, kind in zip(shapes["output_shape"], shapes["type"])
               if kind in KEPT and s is not None]
    sizes = [in_channels * input_size ** 2] + [n for n, _ in outputs]
    # max pooling also keeps the index of each output's maximum for its backward pass: int64,
    # two float32 values' worth each
    indices = sum(2 * n for n, kind in outputs if kind == "MaxPool2d")
    kept = sum(sizes) + indices
    pair = max(a + b for a, b in zip(sizes, sizes[1:]))
    return {"weights MiB": weights,
            "training MiB": weights * (2 + optimizer_states) + kept * batch * mib,
            "of which activations MiB": kept * batch * mib,
            "inference MiB": weights + pair * batch * mib}
