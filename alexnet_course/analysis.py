"""Measuring networks: parameters, FLOPs, output shapes, minimum input size, feature maps,
receptive fields and activation statistics during training.

Tables are pandas DataFrames, one row per layer, named by the module's qualified name
(``features.conv1``), the names ``feature_maps`` and ``ActivationStats`` take.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any
from contextlib import contextmanager

import pandas as pd
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Softplus)
# Modules a receptive-field walk may pass through without changing the geometry.
_POINTWISE = ACTIVATIONS + (nn.BatchNorm2d, nn.Dropout, nn.Dropout2d, nn.Identity, nn.LocalResponseNorm)


def _input(net: nn.Module, input_size: int | None, in_channels: int, batch: int = 1) -> torch.Tensor:
    size = input_size if input_size is not None else getattr(net, "input_size", 224)
    p = next(net.parameters(), None)
    device = p.device if p is not None else torch.device("cpu")
    dtype = p.dtype if p is not None and p.is_floating_point() else torch.float32
    return torch.zeros(batch, in_channels, size, size, device=device, dtype=dtype)


@contextmanager
def eval_mode(net: nn.Module) -> Iterator[None]:
    """Evaluation mode and no autograd for a measurement, restoring the training flag after."""
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        net.train(was_training)


def count_params(net: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (shared parameters counted once)."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad or not trainable_only)


def param_table(net: nn.Module) -> pd.DataFrame:
    """Parameters per module that owns some directly: layer, type, params, share of the total."""
    rows = [{"layer": name, "type": type(m).__name__,
             "params": sum(p.numel() for p in m.parameters(recurse=False))}
            for name, m in net.named_modules() if any(True for _ in m.parameters(recurse=False))]
    df = pd.DataFrame(rows, columns=["layer", "type", "params"])
    df["share"] = df["params"] / max(1, int(df["params"].sum()))
    return df


def _flop_counter(net: nn.Module, input_size: int | None, in_channels: int) -> FlopCounterMode:
    counter = FlopCounterMode(display=False)
    x = _input(net, input_size, in_channels)
    with eval_mode(net), counter:
        net(x)
    return counter


def count_flops(net: nn.Module, input_size: int | None = None, in_channels: int = 1) -> int:
    """Forward FLOPs for one image (a multiply-add counts 2), as FlopCounterMode counts them:
    convolutions and matrix products only; pooling, activations and normalisation are free.
    ``input_size`` defaults to the model's ``input_size`` attribute."""
    return int(_flop_counter(net, input_size, in_channels).get_total_flops())


def flop_table(net: nn.Module, input_size: int | None = None, in_channels: int = 1,
               depth: int | None = None) -> pd.DataFrame:
    """Forward FLOPs per module (containers include their children), for one image.
    ``depth`` keeps modules with at most that many name components (``features.conv1``: 2)."""
    counts = _flop_counter(net, input_size, in_channels).get_flop_counts()
    root = type(net).__name__
    rows = []
    for key, ops in counts.items():
        if key in ("Global", root):
            continue
        name = key[len(root) + 1:] if key.startswith(root + ".") else key
        if depth is None or name.count(".") < depth:
            rows.append({"layer": name, "flops": int(sum(ops.values()))})
    modules = dict(net.named_modules())
    df = pd.DataFrame(rows, columns=["layer", "flops"])
    df.insert(1, "type", [type(modules[n]).__name__ if n in modules else "" for n in df["layer"]])
    order = {name: i for i, name in enumerate(modules)}
    return df.sort_values("layer", key=lambda s: s.map(order)).reset_index(drop=True)


def _selected(net: nn.Module, depth: int | None) -> list[tuple[str, nn.Module]]:
    """Leaf modules, or with ``depth`` the modules at that depth (and shallower leaves)."""
    out = []
    for name, m in net.named_modules():
        if not name:
            continue
        level = name.count(".") + 1
        leaf = next(m.children(), None) is None
        if (depth is None and leaf) or (depth is not None and (level == depth or (leaf and level < depth))):
            out.append((name, m))
    return out


def shape_table(net: nn.Module, input_size: int | None = None, in_channels: int = 1,
                depth: int | None = None) -> pd.DataFrame:
    """Output shape (without the batch axis) and parameters of every leaf module, in call
    order: the size arithmetic AlexNet write-ups do by hand. ``depth=2`` shows e.g. whole
    Inception modules instead of their convolutions."""
    rows: list[dict] = []

    def hook(name: str, m: nn.Module):
        def record(_m: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
            shape = tuple(out.shape[1:]) if isinstance(out, torch.Tensor) else None
            rows.append({"layer": name, "type": type(m).__name__, "output_shape": shape,
                         "params": sum(p.numel() for p in m.parameters())})
        return record

    handles = [m.register_forward_hook(hook(name, m)) for name, m in _selected(net, depth)]
    try:
        with eval_mode(net):
            net(_input(net, input_size, in_channels))
    finally:
        for h in handles:
            h.remove()
    return pd.DataFrame(rows, columns=["layer", "type", "output_shape", "params"])


def min_input_size(net: nn.Module, in_channels: int = 1, max_size: int = 512) -> int:
    """Smallest square input side that gets through the network, by binary search over
    forward passes (no grad, eval mode, batch 1).

    The search runs ``net.features`` when the model has one: the fully connected layers of
    models with a fixed ``in_features`` accept only the size they were built for, and the
    models' own input-size check must not answer for itself. Output sizes of conv/pool
    stacks grow monotonically with the input, which makes the binary search valid.
    """
    probe = getattr(net, "features", net)
    p = next(net.parameters(), None)
    device = p.device if p is not None else torch.device("cpu")

    def fits(n: int) -> bool:
        try:
            probe(torch.zeros(1, in_channels, n, n, device=device))
            return True
        except (RuntimeError, ValueError):
            return False

    with eval_mode(net):
        if not fits(max_size):
            raise ValueError(f"{type(net).__name__} does not accept {max_size}×{max_size} inputs either")
        lo, hi = 0, max_size  # fits(lo) is False (or lo == 0), fits(hi) is True
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if fits(mid) else (mid, hi)
    return hi


def feature_maps(net: nn.Module, x: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
    """Outputs of the named modules for input ``x`` (no grad; put the net in eval mode first).
    Outputs are cloned, so later in-place ReLUs do not change them."""
    layers = list(layers)
    modules = dict(net.named_modules())
    missing = [name for name in layers if name not in modules]
    if missing:
        known = ", ".join(n for n in modules if n)
        raise ValueError(f"no layer named {', '.join(map(repr, missing))} in {type(net).__name__}; layers: {known}")
    maps: dict[str, torch.Tensor] = {}

    def hook(name: str):
        def record(_m: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
            maps[name] = out.detach().clone()
        return record

    handles = [modules[name].register_forward_hook(hook(name)) for name in layers]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    return {name: maps[name] for name in layers if name in maps}


def _first(v: int | tuple[int, ...]) -> int:
    return v if isinstance(v, int) else int(v[0])


def receptive_field(net: nn.Module, input_size: int | None = None) -> pd.DataFrame:
    """Receptive field per layer of a plain conv/pool stack (``net.features`` if present).

    Columns: ``jump`` (input pixels between neighbouring outputs), ``rf`` (side of the
    input window one output sees), ``start`` (centre of the first output's window, in input
    pixels; negative means it starts in the padding) and, with ``input_size``, ``size``.
    Stops at adaptive pooling; raises ValueError on modules with parallel paths.
    """
    stack = getattr(net, "features", net)
    jump, rf, start = 1, 1, 0.5
    size = input_size
    rows = []
    for name, m in stack.named_modules():
        if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            break
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            k, s, p = _first(m.kernel_size), _first(m.stride), _first(m.padding)
            d = _first(m.dilation) if isinstance(m, (nn.Conv2d, nn.MaxPool2d)) else 1
            k_eff = d * (k - 1) + 1
            start += ((k_eff - 1) / 2 - p) * jump
            rf += (k_eff - 1) * jump
            jump *= s
            if size is not None:
                size = math.floor((size + 2 * p - k_eff) / s) + 1
            rows.append({"layer": name, "type": type(m).__name__, "kernel": k, "stride": s,
                         "padding": p, "jump": jump, "rf": rf, "start": start, "size": size})
        elif not isinstance(m, (nn.Sequential,) + _POINTWISE) and next(m.children(), None) is not None:
            raise ValueError(f"receptive_field handles plain conv/pool stacks; {name} "
                             f"({type(m).__name__}) is not one")
    df = pd.DataFrame(rows, columns=["layer", "type", "kernel", "stride", "padding", "jump", "rf", "start", "size"])
    return df if input_size is not None else df.drop(columns="size")


class ActivationStats:
    """Records per-layer activation statistics during training, via forward hooks.

    Every ``every``-th forward pass of ``net`` in training mode (also in eval mode with
    ``train_only=False``), each watched layer's output gets its mean, std, min, max and
    fraction of exact zeros, and with ``bins`` a ``torch.histc`` histogram over
    ``hist_range``. Values stay on the model's device and are copied to the CPU every
    ``sync_every`` records, so recording does not stall the GPU at each step.
    ``layers`` defaults to every activation-function module (ReLU, Sigmoid, ...), or every
    Conv2d and Linear if there are none.

    Use as a context manager (hooks removed on exit, data kept) or call ``remove()``::

        with ActivationStats(net, every=10, bins=40) as stats:
            train(net, ...)
        stats.to_frame()         # step, layer, mean, std, min, max, frac_zero
        stats.histograms["features.relu1"]   # (records × bins) tensor
    """

    STATS = ("mean", "std", "min", "max", "frac_zero")

    def __init__(self, net: nn.Module, layers: Iterable[str] | None = None, every: int = 1, *,
                 bins: int | None = None, hist_range: tuple[float, float] = (0.0, 10.0),
                 train_only: bool = True, sync_every: int = 256) -> None:
        modules = dict(net.named_modules())
        if layers is None:
            layers = [n for n, m in modules.items() if isinstance(m, ACTIVATIONS)] or \
                     [n for n, m in modules.items() if isinstance(m, (nn.Conv2d, nn.Linear))]
        self.layers = list(layers)
        unknown = [n for n in self.layers if n not in modules]
        if unknown:
            raise ValueError(f"no layer named {', '.join(map(repr, unknown))} in {type(net).__name__}")
        self.net, self.every, self.bins, self.hist_range = net, every, bins, hist_range
        self.train_only, self.sync_every = train_only, sync_every
        self.step = -1  # index of the current forward pass of ``net``
        self._pending: list[tuple[int, int, torch.Tensor, torch.Tensor | None]] = []
        self._rows: list[tuple[int, int, list[float]]] = []
        self._hists: dict[str, list[torch.Tensor]] = {n: [] for n in self.layers}
        self._handles = [net.register_forward_pre_hook(self._count)]
        self._handles += [modules[n].register_forward_hook(self._hook(i)) for i, n in enumerate(self.layers)]

    def _active(self) -> bool:
        return (self.net.training or not self.train_only) and self.step % self.every == 0

    def _count(self, _m: nn.Module, _inp: tuple) -> None:
        if self.net.training or not self.train_only:
            self.step += 1

    def _hook(self, index: int):
        def record(_m: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
            if not isinstance(out, torch.Tensor) or not self._active():
                return
            with torch.no_grad():  # computed now, before any in-place op changes ``out``
                x = out.detach().float()
                stats = torch.stack([x.mean(), x.std(), x.min(), x.max(), (x == 0).float().mean()])
                hist = torch.histc(x, self.bins, *self.hist_range) if self.bins else None
            self._pending.append((self.step, index, stats, hist))
            if len(self._pending) >= self.sync_every:
                self._flush()
        return record

    def _flush(self) -> None:
        if not self._pending:
            return
        stats = torch.stack([s for _, _, s, _ in self._pending]).cpu().tolist()  # one sync
        for (step, index, _, hist), values in zip(self._pending, stats):
            self._rows.append((step, index, values))
            if hist is not None:
                self._hists[self.layers[index]].append(hist.cpu())
        self._pending.clear()

    def to_frame(self) -> pd.DataFrame:
        """One row per (recorded step, layer)."""
        self._flush()
        rows = [{"step": step, "layer": self.layers[i], **dict(zip(self.STATS, v))} for step, i, v in self._rows]
        return pd.DataFrame(rows, columns=["step", "layer", *self.STATS])

    @property
    def histograms(self) -> dict[str, torch.Tensor]:
        """Per layer, a (records × bins) tensor of counts over ``hist_range`` (empty without ``bins``)."""
        self._flush()
        return {n: torch.stack(h) if h else torch.empty(0, self.bins or 0) for n, h in self._hists.items()}

    def to_dict(self, digits: int = 6) -> dict[str, Any]:
        """The records as plain JSON (statistics to ``digits`` significant digits,
        histogram counts as integers), for the run store; :meth:`from_dict` reads them back."""
        self._flush()
        return {"layers": self.layers, "every": self.every, "bins": self.bins,
                "hist_range": list(self.hist_range),
                "rows": [[step, i, [float(f"{v:.{digits}g}") for v in values]]
                         for step, i, values in self._rows],
                "histograms": {n: [[round(c) for c in h.tolist()] for h in hs]
                               for n, hs in self._hists.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ActivationStats:
        """Recorded statistics read back from :meth:`to_dict` (watching no network)."""
        stats = cls.__new__(cls)
        stats.net, stats.layers, stats.every = None, list(data["layers"]), data["every"]
        stats.bins, stats.hist_range = data["bins"], tuple(data["hist_range"])
        stats.train_only, stats.sync_every, stats.step = True, 256, -1
        stats._pending, stats._handles = [], []
        stats._rows = [(step, i, values) for step, i, values in data["rows"]]
        stats._hists = {n: [torch.tensor(h, dtype=torch.float32) for h in hs]
                        for n, hs in data["histograms"].items()}
        return stats

    def remove(self) -> None:
        """Remove the hooks; the recorded data stays available."""
        for h in self._handles:
            h.remove()
        self._handles = []
        self._flush()

    def __enter__(self) -> ActivationStats:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def memory_estimate(net: nn.Module, input_shape: tuple[int, ...], batch_size: int, *,
                    optimizer: str = "adam", bytes_per_value: int = 4) -> dict[str, float]:
    """Memory of one training step in MiB, estimated without a GPU.

    ``weights``: the parameters; ``gradients``: as many again; ``optimizer``: two more
    copies for Adam's moments, one for SGD with momentum, none for plain SGD (``"sgd0"``);
    ``activations``: the outputs of every leaf module for a batch, measured with forward
    hooks — an upper bound on what autograd keeps for the backward pass (in-place ReLUs
    and parameter-free layers may share storage). Assumes float32 unless told otherwise.
    """
    states = {"adam": 2, "adamw": 2, "sgd": 1, "sgd0": 0}
    if optimizer not in states:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of: {', '.join(states)}")
    n_params = sum(p.numel() for p in net.parameters())
    counted = [0]

    def hook(_m: nn.Module, _inp: tuple, out: Any) -> None:
        if isinstance(out, torch.Tensor):
            counted[0] += out.numel()

    leaves = [m for m in net.modules() if next(m.children(), None) is None]
    handles = [m.register_forward_hook(hook) for m in leaves]
    was_training = net.training
    try:
        net.eval()
        with torch.no_grad():
            net(torch.zeros(1, *input_shape, device=next(net.parameters()).device))
    finally:
        for h in handles:
            h.remove()
        net.train(was_training)
    mib = bytes_per_value / 2**20
    out = {"weights": n_params * mib, "gradients": n_params * mib,
           "optimizer": states[optimizer] * n_params * mib,
           "activations": counted[0] * batch_size * mib}
    out["total"] = sum(out.values())
    return out


@contextmanager
def peak_memory(device: torch.device | str) -> Iterator[dict[str, float]]:
    """``with peak_memory(dev) as mem: ...`` puts the peak of ``torch.cuda.max_memory_allocated``
    during the block (MiB) in ``mem["peak MiB"]`` on CUDA; on other devices NaN (use
    :func:`memory_estimate` there)."""
    device = torch.device(device)
    result: dict[str, float] = {"peak MiB": math.nan}
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    try:
        yield result
    finally:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            result["peak MiB"] = torch.cuda.max_memory_allocated(device) / 2**20
