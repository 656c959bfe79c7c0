"""Activation statistics during training: watched runs, their tables and their figures.

Chapter 7 ("When training goes wrong") trains the AlexNet/ResNet hybrid of the model zoo
in settings that collapse and in settings that repair the collapse, while
:class:`alexnet_course.analysis.ActivationStats` records every watched layer's output.
This module wires the two together (:func:`train_watched`), reduces the records to one
table row per run (:func:`runs_table`) and draws them: per-layer curves of a statistic
over training (:func:`plot_stat_curves`, :func:`plot_runs_grid`) and a histogram-over-time
heatmap of one layer (:func:`plot_hist_heatmap`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from torch import nn

from ..analysis import ActivationStats
from .chapter import Chapter
from .experiments import IN_CHANNELS, RunResult, train_run
from ..models import get_model

#: Columns of a run's ``extra`` (what the run changed) that the table of runs repeats.
CONFIG_COLUMNS = ("init", "norm", "residual", "SE")

#: A run whose last test accuracy stays below this (10 classes) is counted as collapsed.
COLLAPSE_ACC = 0.2


@dataclass
class WatchedRun:
    """One training run and the activation statistics recorded while it trained."""

    result: RunResult
    stats: ActivationStats
    label: str

    @property
    def frame(self) -> pd.DataFrame:
        """``ActivationStats.to_frame()``: step, layer, mean, std, min, max, frac_zero."""
        return self.stats.to_frame()

    @property
    def failed(self) -> str | None:
        return self.result.failed


def train_watched(ch: Chapter, run: str, *, model: str = "alex_resnet_se",
                  model_kwargs: dict[str, Any] | None = None, every: int = 1,
                  bins: int | None = 40, hist_range: tuple[float, float] = (0.0, 4.0),
                  layers: Iterable[str] | None = None, dataset: str = "fashion_mnist",
                  label: str | None = None, **train_kwargs: Any) -> WatchedRun:
    """:func:`experiments.train_run` with an :class:`ActivationStats` on the model.

    The model ``model`` is built from the registry with ``model_kwargs`` (and the
    dataset's ``in_channels``); the statistics of ``layers`` (default: every activation
    module, SE gates included) are recorded every ``every`` training steps. Everything
    else (``epochs``, ``lr``, ``warmup_steps``, ``stall_min_steps``, ``extra`` ...) goes to
    ``train_run``. The hooks are removed when training ends; the records stay.
    """
    kwargs = {"in_channels": IN_CHANNELS.get(dataset, 3), **(model_kwargs or {})}
    holder: dict[str, ActivationStats] = {}

    def factory() -> nn.Module:
        net = get_model(model, **kwargs)
        holder["stats"] = ActivationStats(net, layers, every=every, bins=bins,
                                          hist_range=hist_range)
        return net

    result = train_run(ch, run, factory, dataset=dataset, **train_kwargs)
    stats = holder["stats"]
    stats.remove()
    return WatchedRun(result, stats, label or run)


def main_path(layers: Iterable[str]) -> list[str]:
    """The layers on the network's main path: leaves out the squeeze-and-excitation modules."""
    return [name for name in layers if ".se." not in name]


def gate_layers(layers: Iterable[str]) -> list[str]:
    """The squeeze-and-excitation gates (the sigmoids that scale each block's channels)."""
    return [name for name in layers if name.endswith("se.scale_activation")]


def std_change(stats: ActivationStats, layers: Sequence[str] | None = None) -> pd.DataFrame:
    """Per layer: std at the first and at the last record, their ratio, last fraction of zeros."""
    frame = stats.to_frame()
    layers = list(layers) if layers is not None else main_path(stats.layers)
    rows = []
    for name in layers:
        sub = frame[frame["layer"] == name].sort_values("step")
        if sub.empty:
            continue
        first, last = sub.iloc[0], sub.iloc[-1]
        ratio = last["std"] / first["std"] if first["std"] > 0 else math.nan
        rows.append({"layer": name, "std first": first["std"], "std last": last["std"],
                     "std last / first": ratio, "zeros last": last["frac_zero"]})
    return pd.DataFrame(rows, columns=["layer", "std first", "std last", "std last / first",
                                       "zeros last"]).set_index("layer")


def depth_shrink(stats: ActivationStats, record: int = 0) -> float:
    """Std of the deepest main-path layer over the std of the first, at one record
    (``0``: the first recorded step, i.e. the freshly initialised network; ``-1``: the last)."""
    frame = stats.to_frame()
    path = main_path(stats.layers)
    steps = sorted(frame["step"].unique())
    if not steps or len(path) < 2:
        return math.nan
    at = frame[frame["step"] == steps[record]].set_index("layer")["std"]
    first, deepest = at.get(path[0], math.nan), at.get(path[-1], math.nan)
    return deepest / first if first > 0 else math.nan


def guard_reason(message: str | None) -> str:
    """The first clause of a ``TrainingFailed`` message: ``"epoch 1: the loss stayed at
    ln(10) = 2.303 with chance accuracy (0.094) for the whole epoch"``; ``""`` for ``None``."""
    if not message:
        return ""
    head, sep, rest = message.partition(": ")
    if not sep:
        return message
    cuts = [i for i in (rest.find(": "), rest.find(". ")) if i >= 0]
    return f"{head}: {rest[:min(cuts)] if cuts else rest}"


def summary_row(w: WatchedRun, collapse_acc: float = COLLAPSE_ACC) -> dict[str, Any]:
    """One row for the chapter's table of runs."""
    row = w.result.row
    change = std_change(w.stats)
    shrank = change["std last / first"].idxmin() if change["std last / first"].notna().any() else ""
    path = main_path(w.stats.layers)
    gates = gate_layers(w.stats.layers)
    frame = w.stats.to_frame()
    last_step = frame["step"].max() if not frame.empty else None
    last = frame[frame["step"] == last_step].set_index("layer") if last_step is not None else None
    acc = row.last_test_acc
    collapsed = bool(w.failed) or not (acc >= collapse_acc)
    config = {k: row.extra[k] for k in CONFIG_COLUMNS if k in row.extra}
    return {
        "run": w.label, **config, "lr": w.result.history.meta.get("lr", math.nan),
        "warm-up steps": w.result.history.meta.get("warmup_steps", 0),
        "epochs": row.epochs,
        "last test acc": acc, "best test acc": row.best_test_acc,
        "collapsed": collapsed,
        "guard": guard_reason(w.failed),
        "deep/first std at init": depth_shrink(w.stats, 0),
        "deep/first std at end": depth_shrink(w.stats, -1),
        "layer whose std shrank most": shrank,
        "its std last/first": change.loc[shrank, "std last / first"] if shrank else math.nan,
        "zeros before GAP (end)": (last.loc[path[-1], "frac_zero"]
                                   if last is not None and path and path[-1] in last.index
                                   else math.nan),
        "mean SE gate (end)": (float(last.loc[[g for g in gates if g in last.index], "mean"].mean())
                               if last is not None and gates else math.nan),
    }


def runs_table(watched: Iterable[WatchedRun], collapse_acc: float = COLLAPSE_ACC) -> pd.DataFrame:
    """The table of runs: accuracy, collapse, guard message, where the activations shrank."""
    rows = [summary_row(w, collapse_acc) for w in watched]
    return pd.DataFrame(rows).set_index("run")


def gate_table(watched: Iterable[WatchedRun]) -> pd.DataFrame:
    """Mean SE gate value per block (rows) and run (columns), at the first and last record."""
    out: dict[tuple[str, str], pd.Series] = {}
    for w in watched:
        frame = w.stats.to_frame()
        gates = gate_layers(w.stats.layers)
        if frame.empty or not gates:
            continue
        sub = frame[frame["layer"].isin(gates)]
        for when, step in (("start", sub["step"].min()), ("end", sub["step"].max())):
            values = sub[sub["step"] == step].set_index("layer")["mean"]
            out[(w.label, when)] = values.rename(index=lambda n: n.split(".se.")[0])
    return pd.DataFrame(out)


def _short(name: str) -> str:
    return name.replace("features.", "")


def plot_stat_curves(stats: ActivationStats, stat: str = "std",
                     layers: Sequence[str] | None = None, logy: bool = True,
                     ax: plt.Axes | None = None, title: str | None = None) -> Figure:
    """One line per layer: ``stat`` of its output against the training step."""
    frame = stats.to_frame()
    layers = list(layers) if layers is not None else main_path(stats.layers)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
    else:
        fig = ax.figure
    cmap = plt.get_cmap("viridis")
    for i, name in enumerate(layers):
        sub = frame[frame["layer"] == name]
        values = sub[stat].clip(lower=1e-12) if logy else sub[stat]
        ax.plot(sub["step"], values, color=cmap(i / max(1, len(layers) - 1)), label=_short(name))
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel(f"activation {stat}")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def plot_runs_grid(watched: Sequence[WatchedRun], stat: str = "std", logy: bool = True,
                   cols: int = 3) -> Figure:
    """:func:`plot_stat_curves` for several runs, one panel each, with a shared legend."""
    watched = list(watched)
    rows = max(1, math.ceil(len(watched) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.0 * cols, 2.9 * rows), squeeze=False)
    for ax, w in zip(axes.flat, watched):
        title = w.label + (" (stopped by guard)" if w.failed else "")
        plot_stat_curves(w.stats, stat=stat, logy=logy, ax=ax, title=title)
    for ax in list(axes.flat)[len(watched):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(5, len(labels)), fontsize=7)
    fig.tight_layout(rect=(0, 0.08 + 0.02 * (len(labels) > 5), 1, 1))
    return fig


def plot_hist_heatmap(stats: ActivationStats, layer: str, ax: plt.Axes | None = None,
                      title: str | None = None) -> Figure:
    """Histogram of ``layer``'s outputs over time: x the record, y the value, colour
    log(1 + count) — the picture in which dead or shrinking activations pile up at 0."""
    hist = stats.histograms.get(layer)
    if hist is None:
        raise ValueError(f"layer {layer!r} was not watched; watched: {', '.join(stats.layers)}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.2))
    else:
        fig = ax.figure
    if hist.numel() == 0:
        ax.text(0.5, 0.5, "no histograms recorded", ha="center", va="center")
        return fig
    steps = sorted(stats.to_frame().query("layer == @layer")["step"].unique())
    lo, hi = stats.hist_range
    data = np.log1p(hist.numpy().T)
    extent = (steps[0] if steps else 0, steps[-1] if steps else hist.shape[0], lo, hi)
    ax.imshow(data, origin="lower", aspect="auto", extent=extent, cmap="magma")
    ax.set_xlabel("training step")
    ax.set_ylabel("activation value")
    ax.set_title(title or _short(layer), fontsize=9)
    return fig


def plot_heatmaps(watched: Mapping[str, WatchedRun] | Sequence[WatchedRun], layer: str,
                  cols: int = 3) -> Figure:
    """:func:`plot_hist_heatmap` of the same layer for several runs."""
    items = list(watched.values()) if isinstance(watched, Mapping) else list(watched)
    rows = max(1, math.ceil(len(items) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.0 * cols, 2.7 * rows), squeeze=False)
    for ax, w in zip(axes.flat, items):
        plot_hist_heatmap(w.stats, layer, ax=ax, title=w.label)
    for ax in list(axes.flat)[len(items):]:
        ax.axis("off")
    fig.tight_layout()
    return fig
