"""Figures the chapters share: training curves, accuracy against time, where the
parameters and FLOPs sit, and feature maps side by side."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import matplotlib.pyplot as plt
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import nn

from ..featuremaps import strongest_channels
from ..sizes import cost_by_kind
from ..train import History
from .stats import mean_ci

LABELS = {"train_loss": "training loss", "train_acc": "training accuracy",
          "test_acc": "test accuracy", "lr": "learning rate", "seconds": "seconds per epoch"}


def _histories(runs) -> dict[str, History]:
    if isinstance(runs, Mapping):
        return dict(runs)
    return {r.run: r.history for r in runs}  # RunResult objects


def plot_curves(runs, metrics: Iterable[str] = ("train_loss", "test_acc"),
                x: str = "epoch", title: str | None = None) -> Figure:
    """One panel per metric, one line per run (``{label: History}`` or RunResults).

    ``x="time"`` plots against cumulative wall-clock seconds instead of epochs.
    """
    metrics = list(metrics)
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.2), squeeze=False)
    for label, h in _histories(runs).items():
        if not h.records:
            continue
        frame = pd.DataFrame(h.records)
        xs = frame["seconds"].cumsum() if x == "time" else frame["epoch"]
        for ax, metric in zip(axes[0], metrics):
            ax.plot(xs, frame[metric], marker="o", markersize=3, label=label)
    for ax, metric in zip(axes[0], metrics):
        ax.set_xlabel("wall-clock seconds" if x == "time" else "epoch")
        ax.set_ylabel(LABELS.get(metric, metric))
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_curve_bands(groups: Mapping[str, Iterable], metrics: Iterable[str] = ("test_acc",),
                     title: str | None = None) -> Figure:
    """Seeds aggregated: per group (``{label: [RunResult, ...]}``) the mean curve of each
    metric over epochs with its 95 % t band (a line alone where only one run has the epoch).
    Guard-stopped runs are drawn as thin dashed lines, outside the mean."""
    metrics = list(metrics)
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 3.3), squeeze=False)
    for label, runs in groups.items():
        runs = list(runs)
        done = [pd.DataFrame(r.history.records).set_index("epoch") for r in runs
                if r.history.records and not r.failed]
        for ax, metric in zip(axes[0], metrics):
            if done:
                table = pd.concat([d[metric] for d in done], axis=1)
                cis = [mean_ci(row) for _, row in table.iterrows()]
                mean = pd.Series([c.mean for c in cis], index=table.index)
                half = pd.Series([c.half_width for c in cis], index=table.index).fillna(0.0)
                line, = ax.plot(mean.index, mean, marker="o", markersize=3,
                                label=f"{label} (n = {len(done)})")
                ax.fill_between(mean.index, mean - half, mean + half, alpha=0.2,
                                color=line.get_color())
            for r in runs:
                if r.failed and r.history.records:
                    f = pd.DataFrame(r.history.records)
                    ax.plot(f["epoch"], f[metric], ls="--", lw=0.8, color="grey",
                            label=f"{label}: stopped by a guard")
    for ax, metric in zip(axes[0], metrics):
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"{LABELS.get(metric, metric)} (mean, 95 % band)")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_acc_vs_time(frame: pd.DataFrame, acc: str = "best test acc", time: str = "seconds",
                     label: str | None = None, title: str | None = None,
                     err: str | None = None) -> Figure:
    """Scatter of accuracy against training time, one labelled point per row; ``err`` names
    a column of half-widths drawn as vertical error bars (e.g. ``"± (95 %)"``)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    if err is not None:
        ax.errorbar(frame[time], frame[acc], yerr=frame[err].fillna(0.0), fmt="o", capsize=3)
    else:
        ax.scatter(frame[time], frame[acc])
    labels = frame[label] if label else frame.index
    for name, t, a in zip(labels, frame[time], frame[acc]):
        ax.annotate(str(name), (t, a), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(f"{time} (wall clock)")
    ax.set_ylabel(acc)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_cost_by_kind(models: Mapping[str, tuple[nn.Module, int]], in_channels: int = 1) -> Figure:
    """Two stacked horizontal bar charts, parameters and FLOPs per model, split by kind of
    layer, each bar labelled with its total. Horizontal, so that long model names never
    overlap, and with room to the right of the longest bar, so that no bar is clipped."""
    tables = {label: cost_by_kind(net, size, in_channels) for label, (net, size) in models.items()}
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.55 * len(models) + 1.6), sharey=True)
    for ax, column, unit, scale in ((axes[0], "params", "parameters (millions)", 1e6),
                                    (axes[1], "flops", "forward GFLOPs per image", 1e9)):
        frame = pd.DataFrame({label: t[column] / scale for label, t in tables.items()}).T
        frame = frame.loc[::-1, frame.sum() > 0]  # first model on top
        frame.plot.barh(stacked=True, ax=ax, width=0.7, legend=False)
        totals = frame.sum(axis=1)
        for y, total in enumerate(totals):
            ax.annotate(f"{total:.2f}" if total < 10 else f"{total:.0f}", (total, y),
                        xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
        ax.set_xlim(0, 1.15 * float(totals.max()))
        ax.set_xlabel(unit)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_ylabel("")
    axes[1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def plot_feature_maps(maps: Mapping[str, torch.Tensor], image: torch.Tensor | None = None, *,
                      index: int = 0, channels: int = 6, labels: Mapping[str, str] | None = None,
                      title: str | None = None) -> Figure:
    """One row per layer: the input image (if given) then the ``channels`` strongest maps.

    ``maps`` are ``N×C×H×W`` tensors (e.g. from ``analysis.feature_maps``), ``image`` the
    ``N×C×H×W`` input batch; ``index`` picks the image. Every panel is scaled to its own
    range, and titled with the channel and the map's side.
    """
    if not maps:
        raise ValueError("no feature maps to plot")
    cols = channels + (image is not None)
    fig, axes = plt.subplots(len(maps), cols, figsize=(1.45 * cols, 1.55 * len(maps)), squeeze=False)
    for row, (name, fmap) in zip(axes, maps.items()):
        one = fmap[index].detach().float().cpu()
        panels = row
        if image is not None:
            row[0].imshow(image[index, 0].detach().float().cpu().numpy(), cmap="gray")
            row[0].set_title(f"input {image.shape[-1]}×{image.shape[-1]}", fontsize=7)
            panels = row[1:]
        picked = strongest_channels(one, channels)
        for ax, c in zip(panels, picked):
            ax.imshow(one[c].numpy(), cmap="viridis", interpolation="nearest")
            ax.set_title(f"ch {c} · {one.shape[-1]}×{one.shape[-1]}", fontsize=7)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel((labels or {}).get(name, name), fontsize=7, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
