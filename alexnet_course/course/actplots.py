"""Activation statistics during training: watched runs, their tables and their figures.

Chapter 7 ("When training goes wrong") trains the AlexNet/ResNet hybrid of the model zoo
in settings that collapse and in settings that repair the collapse, while
:class:`alexnet_course.analysis.ActivationStats` records every watched layer's output.
A run records them through :class:`WatchActivations` (a run-store recorder: a chapter's
``Spec`` carries it in ``train={"record": ...}``) and :func:`watched` pairs each run with
its statistics; the rest reduces the records to one table row per run
(:func:`runs_table`), says whether a run rose and fell back (:func:`rise_and_fall`),
tabulates the squeeze-and-excitation blocks (:func:`se_table`) and draws them: per-layer
curves of a statistic over training (:func:`plot_stat_curves`, :func:`plot_runs_grid`) and
a histogram-over-time heatmap of one layer (:func:`plot_hist_heatmap`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import nn

from ..analysis import ActivationStats
from .experiments import RunResult

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


class WatchActivations:
    """A run-store recorder (``Spec(..., train={"record": {"activations": WatchActivations()}})``,
    which reaches ``train_run(record=...)``): an :class:`ActivationStats` on the network while
    it trains, stored as JSON with the run. Its plain attributes are part of the run's spec."""

    def __init__(self, layers: Iterable[str] | None = None, every: int = 1, bins: int | None = 40,
                 hist_range: tuple[float, float] = (0.0, 4.0)) -> None:
        self.layers = None if layers is None else list(layers)
        self.every, self.bins, self.hist_range = every, bins, tuple(hist_range)

    def attach(self, net: nn.Module) -> None:
        self._stats = ActivationStats(net, self.layers, every=self.every, bins=self.bins,
                                      hist_range=self.hist_range)

    def collect(self, net: nn.Module) -> dict[str, Any]:
        self._stats.remove()  # the hooks go, the records stay
        return self._stats.to_dict()


def watched(results: Iterable[RunResult]) -> list[WatchedRun]:
    """The runs of an experiment whose specs record ``{"activations": WatchActivations(...)}``
    (as ``chapters.train`` returns them, trained or read from the store), each with its
    statistics and its spec's ``change`` as label: what this module's tables and figures take."""
    return [WatchedRun(r, ActivationStats.from_dict(r.recorded["activations"]),
                       r.row.extra.get("change", r.run)) for r in results]


def windowed_train_acc(history: Any, window: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """(fractional epoch, training accuracy averaged over the last ``window`` batches) at
    every batch from the ``window``-th on: the asker's view of a run, finer than epochs.
    Needs ``fit(step_metrics=True)``."""
    acc: list[float] = []
    at: list[float] = []
    for r in history.records:
        steps = r.get("step_train_acc")
        if steps is None:
            raise ValueError("this history has no per-batch accuracies: train with step_metrics=True")
        acc += steps
        at += [r["epoch"] - 1 + (i + 1) / len(steps) for i in range(len(steps))]
    window = max(1, min(window, len(acc)))
    if not acc:
        return np.empty(0), np.empty(0)
    smooth = np.convolve(np.asarray(acc), np.ones(window) / window, mode="valid")
    return np.asarray(at[window - 1:]), smooth


def rise_and_fall(history: Any, window: int = 50, chance: float = 0.1,
                  min_gain: float = 0.1) -> dict[str, Any]:
    """Did the run learn and then fall back? From its windowed training accuracy
    (:func:`windowed_train_acc`): the peak, when it was reached (in epochs), the final
    value; ``rose`` when the peak is at least ``min_gain`` above ``chance``, and
    ``fell back`` when it rose and then lost at least half of its gain over chance
    by the end — the questioner's "rises, then decays toward chance"."""
    at, acc = windowed_train_acc(history, window)
    if len(acc) == 0:
        return {"peak": math.nan, "peak at (epochs)": math.nan, "final": math.nan,
                "rose": False, "fell back": False}
    i = int(acc.argmax())
    peak, final = float(acc[i]), float(acc[-1])
    rose = peak - chance >= min_gain
    return {"peak": peak, "peak at (epochs)": float(at[i]), "final": final, "rose": rose,
            "fell back": bool(rose and peak - final >= 0.5 * (peak - chance))}


def hist_share(stats: ActivationStats, layer: str, low: float, high: float,
               record: int = -1) -> float:
    """Share of ``layer``'s outputs at one record (``-1``: the last) in the histogram bins
    that lie inside [``low``, ``high``]; e.g. SE gates below 0.1 or (with the bin that holds
    an exact 1.0) above 0.9. NaN without histograms."""
    hist = stats.histograms.get(layer)
    if hist is None or hist.numel() == 0:
        return math.nan
    counts = hist[record].double()
    lo, hi = stats.hist_range
    edges = np.linspace(lo, hi, counts.numel() + 1)
    inside = (edges[:-1] >= low - 1e-9) & (edges[1:] <= high + 1e-9)
    total = float(counts.sum())
    return float(counts[torch.from_numpy(inside)].sum()) / total if total else math.nan


def se_table(watched: Iterable[WatchedRun], record: int = -1) -> pd.DataFrame:
    """Per run and block, at one record: the largest output of the SE block's hidden ReLU
    (the "excitation" the question saw at 10–50), whether that ReLU is dead (zero for
    every image and unit, so the gate no longer depends on the input), the mean gate and
    the shares of gates below 0.1 and above 0.9 (a gate there is a switch, not a weight)."""
    rows = []
    for w in watched:
        frame = w.stats.to_frame()
        if frame.empty:
            continue
        step = sorted(frame["step"].unique())[record]
        at = frame[frame["step"] == step].set_index("layer")
        for gate in gate_layers(w.stats.layers):
            block = gate.split(".se.")[0]
            hidden = f"{block}.se.activation"
            rows.append({"run": w.label, "seed": w.result.row.extra.get("seed", 0),
                         "block": _short(block),
                         "SE hidden max": at.loc[hidden, "max"] if hidden in at.index else math.nan,
                         "SE hidden dead": bool(hidden in at.index and at.loc[hidden, "frac_zero"] >= 1.0),
                         "mean gate": at.loc[gate, "mean"] if gate in at.index else math.nan,
                         "gates < 0.1": hist_share(w.stats, gate, 0.0, 0.1, record),
                         "gates > 0.9": hist_share(w.stats, gate, 0.9, 1.1, record)})
    return pd.DataFrame(rows)


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


def plot_train_acc(groups: Mapping[str, Sequence[WatchedRun]], window_images: int = 6400,
                   chance: float = 0.1) -> Figure:
    """Training accuracy over the last ``window_images`` images (a window of batches, so
    runs of different batch sizes are smoothed alike), one colour per group, one line per
    seed, against epochs; the dotted line is chance. Where a run rises and falls, it shows."""
    fig, ax = plt.subplots(figsize=(7.0, 3.8))
    colours = plt.get_cmap("tab10")
    for i, (name, runs) in enumerate(groups.items()):
        for j, w in enumerate(runs):
            batch = w.result.history.meta.get("batch_size") or 64
            at, acc = windowed_train_acc(w.result.history, max(5, window_images // batch))
            ax.plot(at, acc, color=colours(i % 10), lw=1.0, alpha=0.8,
                    ls="--" if w.failed else "-", label=name if j == 0 else None)
    ax.axhline(chance, color="grey", ls=":", lw=1)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"train acc (last {window_images:,} images)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig
