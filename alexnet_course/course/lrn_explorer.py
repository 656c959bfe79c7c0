"""An explorer of local response normalisation's hyperparameters k, n, α and β.

Two views of what LRN (Krizhevsky et al., 2012, Section 3.3) does to the activations at
one pixel: across channels (a profile of ReLU outputs, before and after), and as a gain
curve, the output ``b`` for a channel whose whole window holds the same value ``a``,
``b = a / (k + α n a²)^β``. :func:`plot_lrn` draws one setting, :func:`plot_lrn_grid` a
grid of settings (the static page's figure), :func:`lrn_explorer` the live sliders.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..layers import LocalResponseNorm

PAPER = {"k": 2.0, "n": 5, "alpha": 1e-4, "beta": 0.75}


def channel_profile(channels: int = 32, scale: float = 30.0, seed: int = 0) -> torch.Tensor:
    """A ``1×channels×1×1`` activation at one pixel: sparse non-negative values (like ReLU
    outputs) with a few strong channels, deterministic in ``seed``."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(channels, generator=g).clamp_min(0) * scale
    a[channels // 4] = 3 * scale  # one dominant channel and a neighbour that it suppresses
    a[channels // 4 + 1] = scale
    return a.view(1, channels, 1, 1)


def gain_curve(k: float, n: int, alpha: float, beta: float,
               a_max: float = 100.0, points: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    """``(a, b)`` with ``b = a / (k + α n a²)^β``: the response of a channel whose ``n``-wide
    window is filled with the same activation ``a`` (computed with the layer itself)."""
    a = torch.linspace(0, a_max, points)
    x = a.view(points, 1, 1, 1).expand(points, 2 * n + 1, 1, 1).contiguous()
    b = LocalResponseNorm(size=n, alpha=alpha, beta=beta, k=k)(x)[:, n, 0, 0]
    return a, b


def plot_lrn(k: float = 2.0, n: int = 5, alpha: float = 1e-4, beta: float = 0.75, *,
             axes: Sequence[Axes] | None = None, profile: torch.Tensor | None = None,
             a_max: float = 100.0) -> Figure:
    """Draw one setting on two axes (created if ``axes`` is None): the channel profile
    before/after LRN, and the gain curve against the identity."""
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.0))
    fig = axes[0].figure
    a = profile if profile is not None else channel_profile()
    b = LocalResponseNorm(size=n, alpha=alpha, beta=beta, k=k)(a)
    idx = range(a.shape[1])
    axes[0].bar(idx, a.flatten(), color="0.8", label="input a")
    axes[0].plot(idx, b.flatten(), "o-", color="C0", markersize=3, label="output b")
    axes[0].set_xlabel("channel")
    axes[0].set_title(f"k={k:g}, n={n}, α={alpha:g}, β={beta:g}", fontsize=9)
    axes[0].legend(fontsize=7)
    xs, ys = gain_curve(k, n, alpha, beta, a_max=a_max)
    axes[1].plot(xs, xs, ":", color="0.5", label="identity")
    axes[1].plot(xs, ys, color="C1", label="b(a)")
    axes[1].set_xlabel("activation a (whole window)")
    axes[1].set_ylabel("b")
    axes[1].legend(fontsize=7)
    for ax in axes:
        ax.grid(alpha=0.3)
    return fig


def plot_lrn_grid(settings: Sequence[dict[str, Any]], a_max: float = 100.0) -> Figure:
    """One row per setting (dicts with keys among k, n, alpha, beta; missing keys take the
    paper's values): the pre-rendered figure that stands in for the sliders on a static page."""
    fig, axes = plt.subplots(len(settings), 2, figsize=(8.5, 2.6 * len(settings)), squeeze=False)
    for row, s in zip(axes, settings):
        plot_lrn(**{**PAPER, **s}, axes=row, a_max=a_max)
    fig.tight_layout()
    return fig


def lrn_explorer(a_max: float = 100.0):
    """Sliders for k, n, α (log scale) and β that redraw :func:`plot_lrn` (needs a live kernel)."""
    import ipywidgets as w

    def draw(k: float, n: int, log10_alpha: float, beta: float) -> None:
        plot_lrn(k, n, 10 ** log10_alpha, beta, a_max=a_max)
        plt.show()

    return w.interactive(
        draw,
        k=w.FloatSlider(value=PAPER["k"], min=0.1, max=5.0, step=0.1, description="k"),
        n=w.IntSlider(value=PAPER["n"], min=1, max=15, step=1, description="n"),
        log10_alpha=w.FloatSlider(value=-4.0, min=-6.0, max=-1.0, step=0.25,
                                  description="log₁₀ α"),
        beta=w.FloatSlider(value=PAPER["beta"], min=0.0, max=2.0, step=0.05, description="β"))
