"""Figures the chapters share: training curves and accuracy against time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from .train import History

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


def plot_acc_vs_time(frame: pd.DataFrame, acc: str = "best test acc", time: str = "seconds",
                     label: str | None = None, title: str | None = None) -> Figure:
    """Scatter of accuracy against training time, one labelled point per row."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
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
