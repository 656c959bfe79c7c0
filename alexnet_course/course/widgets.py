"""Interactive explorers for the book, each with a static stand-in.

Every explorer comes in three parts: a ``draw_*`` function that draws one setting and
returns a matplotlib Figure (the widget's update function), a ``*_grid`` function that
draws a small grid of settings (the figure a reader of the static HTML page sees, since
the sliders' callbacks need a live kernel), and the widget itself, built with
``ipywidgets.interactive`` (no custom JavaScript, so it works on Colab).

* :func:`feature_map_browser` — a model, one of its layers, an input image → feature maps.
* :func:`lrn_explorer` — local response normalisation's k, n, α, β (re-exported from
  :mod:`alexnet_course.lrn_explorer`).
* :func:`pca_lighting_explorer` — AlexNet's PCA colour augmentation on a real photograph.
* :func:`results_explorer` — chapter, runs, metric → training curves from ``results/``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from ..featuremaps import maps_in_mode, strongest_channels
from ..augment import PCALighting, fit_pca_lighting
from .lrn_explorer import lrn_explorer, plot_lrn, plot_lrn_grid  # noqa: F401  (re-exported)
from .plots import LABELS
from .summary import histories, load_results

__all__ = ["conv_layers", "draw_feature_maps", "feature_map_grid", "feature_map_browser",
           "lrn_explorer", "plot_lrn", "plot_lrn_grid", "sample_photo", "pca_basis",
           "draw_pca_lighting", "pca_lighting_grid", "pca_lighting_explorer", "draw_results",
           "results_grid", "results_explorer"]


def _show(fig: Figure) -> None:
    """Show ``fig`` inside the widget's output area, then release it."""
    plt.show()
    plt.close(fig)


# ----------------------------------------------------------------------- feature maps
def conv_layers(net: nn.Module) -> list[str]:
    """Names of the layers worth browsing: activations, else convolutions, in call order."""
    from ..analysis import ACTIVATIONS

    names = [n for n, m in net.named_modules() if isinstance(m, ACTIVATIONS) and ".se." not in n]
    return names or [n for n, m in net.named_modules() if isinstance(m, nn.Conv2d)]


def draw_feature_maps(net: nn.Module, image: torch.Tensor, layer: str, channels: int = 16,
                      title: str | None = None, *, mode: str = "eval") -> Figure:
    """The input image and the first ``channels`` maps of ``layer`` for it, each with its own
    colour scale and the layer's overall range in the title. ``mode`` is the network's mode
    for the forward pass (``featuremaps.maps_in_mode``: ``"eval"`` or ``"train"``; in
    ``"train"`` mode ``image`` should be a batch, whose first image is shown)."""
    x = image.unsqueeze(0) if image.dim() == 3 else image
    out = maps_in_mode(net, x, [layer], mode=mode)[layer][0].float().cpu()
    out = out if out.dim() == 3 else out.view(-1, 1, 1)
    n = min(channels, out.shape[0])
    cols = min(8, n + 1)
    rows = math.ceil((n + 1) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.4 * rows + 0.4), squeeze=False)
    axes.flat[0].imshow(x[0].permute(1, 2, 0).squeeze(-1).cpu().numpy(), cmap="gray")
    axes.flat[0].set_title("input", fontsize=7)
    for i in range(n):
        axes.flat[i + 1].imshow(out[i].numpy(), cmap="viridis")
        axes.flat[i + 1].set_title(f"ch {i}", fontsize=7)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(title or f"{layer} ({mode} mode) {tuple(out.shape)}: range [{out.min():.2g}, "
                 f"{out.max():.2g}], std {out.std():.2g}", fontsize=8)
    fig.tight_layout()
    return fig


def feature_map_grid(models: Mapping[str, nn.Module], images: torch.Tensor,
                     layers: Sequence[str], *, mode: str, channels: int = 6) -> Figure:
    """Static stand-in for the browser: one row per (model, layer), the first image's
    ``channels`` strongest maps on one colour scale per row (with its colour bar), and the
    std of the whole layer's output for that image beside it.

    ``mode`` is required: ``"eval"`` measures the networks as they predict (batch norm with
    its running statistics, which for a freshly initialised one is the identity), ``"train"``
    as they train (batch norm with the statistics of ``images``, which should be a batch).
    """
    pairs = [(name, net, layer) for name, net in models.items() for layer in layers]
    fig, axes = plt.subplots(len(pairs), channels + 1, figsize=(1.25 * channels + 2.8, 1.3 * len(pairs)),
                             squeeze=False, gridspec_kw={"width_ratios": [1] * channels + [0.12]})
    for row, (name, net, layer) in zip(axes, pairs):
        out = maps_in_mode(net, images, [layer], mode=mode)[layer][0].float().cpu()
        out = out if out.dim() == 3 else out.view(-1, 1, 1)
        top = max(float(out.max()), 1e-12)
        image = None
        for ax, c in zip(row[:-1], strongest_channels(out, channels)):
            image = ax.imshow(out[c].numpy(), cmap="viridis", vmin=0.0 if out.min() >= 0 else None,
                              vmax=top)
        for ax in row[:-1]:
            ax.set_xticks([])
            ax.set_yticks([])
        if image is not None:
            fig.colorbar(image, cax=row[-1])
            row[-1].tick_params(labelsize=5)
        row[0].set_ylabel(f"{name}\n{layer.replace('features.', '')}\nstd {out.std():.1e}",
                          fontsize=6, rotation=0, ha="right", va="center")
    fig.suptitle(f"{mode} mode: the strongest channels of the first image, one colour scale per row",
                 fontsize=8)
    fig.tight_layout()
    return fig


def feature_map_browser(models: Mapping[str, nn.Module] | nn.Module, images: torch.Tensor,
                        channels: int = 16, *, mode: str = "eval"):
    """Dropdowns for the model and layer, a slider for the image: redraws
    :func:`draw_feature_maps` in ``mode`` (the redraw needs a live kernel)."""
    import ipywidgets as w

    models = dict(models) if isinstance(models, Mapping) else {type(models).__name__: models}
    first = next(iter(models.values()))
    layer = w.Dropdown(options=conv_layers(first), description="layer")
    model = w.Dropdown(options=list(models), description="model")

    def on_model(change: dict[str, Any]) -> None:
        layer.options = conv_layers(models[change["new"]])

    model.observe(on_model, names="value")

    def update(model: str, layer: str, image: int) -> None:
        if layer in dict(models[model].named_modules()):
            # in train mode batch norm needs a batch: the chosen image first, then the others
            x = images[image] if mode == "eval" else torch.roll(images, -image, dims=0)
            _show(draw_feature_maps(models[model], x, layer, channels, title=None, mode=mode))

    return w.interactive(update, model=model, layer=layer,
                         image=w.IntSlider(value=0, min=0, max=len(images) - 1, description="image"))


# ----------------------------------------------------------------------- PCA lighting
def sample_photo(size: int = 128) -> torch.Tensor:
    """scikit-image's astronaut photograph (Eileen Collins, NASA; public domain) as a
    3×size×size float tensor in [0, 1]."""
    from skimage import data

    img = torch.from_numpy(data.astronaut().copy()).permute(2, 0, 1).float().div(255)
    return torch.nn.functional.interpolate(img[None], size=(size, size), mode="area",
                                           antialias=False)[0]


def pca_basis(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues and eigenvectors of the RGB covariance of one image's pixels."""
    return fit_pca_lighting(image.unsqueeze(0))


def _pca_shift(alphas: Sequence[float], eigvals: torch.Tensor, eigvecs: torch.Tensor,
               magnitude: str) -> torch.Tensor:
    """One RGB offset for chosen α, computed by the same PCALighting the training uses."""
    a = torch.tensor([float(v) for v in alphas], dtype=torch.float32)
    return PCALighting(eigvals, eigvecs, magnitude=magnitude).offset(a)


def draw_pca_lighting(image: torch.Tensor, alphas: Sequence[float], *, magnitude: str = "eigval",
                      basis: tuple[torch.Tensor, torch.Tensor] | None = None,
                      axes: Sequence[plt.Axes] | None = None) -> Figure:
    """The photograph, the photograph plus ``Σ α_i λ_i p_i`` (``magnitude="eigval"``, the
    paper's formula; ``"sqrt"`` uses √λ_i) and the offset magnified, side by side."""
    eigvals, eigvecs = basis if basis is not None else pca_basis(image)
    shift = _pca_shift(alphas, eigvals, eigvecs, magnitude)
    out = (image + shift[:, None, None]).clamp(0, 1)
    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(8.0, 2.9))
    fig = axes[0].figure
    swatch = (0.5 + 5 * shift).clamp(0, 1)[None, None, :].expand(8, 8, 3)
    for ax, img, title in zip(axes, (image.permute(1, 2, 0), out.permute(1, 2, 0), swatch),
                              ("original", "α = (" + ", ".join(f"{v:+.2f}" for v in alphas) + ")",
                               "offset ×5 on grey")):
        ax.imshow(img.numpy())
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    axes[-1].text(0.5, -0.12, "RGB " + " ".join(f"{v:+.3f}" for v in shift.tolist()),
                  transform=axes[-1].transAxes, ha="center", va="top", fontsize=7)
    return fig


def pca_lighting_grid(image: torch.Tensor | None = None, alphas: Sequence[Sequence[float]] = (
        (0.0, 0.0, 0.0), (0.1, 0.0, 0.0), (1.0, 0.0, 0.0), (-1.0, 0.0, 0.0), (0.0, 3.0, 0.0),
        (0.0, 0.0, 3.0)), magnitude: str = "eigval") -> Figure:
    """Static stand-in for the explorer: the photograph under several α vectors."""
    image = image if image is not None else sample_photo()
    basis = pca_basis(image)
    cols = 3
    rows = math.ceil(len(alphas) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.7 * rows), squeeze=False)
    eigvals = basis[0]
    for ax, a in zip(axes.flat, alphas):
        shift = _pca_shift(a, *basis, magnitude)
        ax.imshow((image + shift[:, None, None]).clamp(0, 1).permute(1, 2, 0).numpy())
        ax.set_title("α = (" + ", ".join(f"{v:g}" for v in a) + ")", fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(f"PCA lighting ({magnitude}); λ = " + ", ".join(f"{v:.3g}" for v in eigvals.tolist()),
                 fontsize=8)
    fig.tight_layout()
    return fig


def pca_lighting_explorer(image: torch.Tensor | None = None, max_alpha: float = 3.0):
    """Sliders for α₁, α₂, α₃ and the magnitude convention; redraws :func:`draw_pca_lighting`."""
    import ipywidgets as w

    image = image if image is not None else sample_photo()
    basis = pca_basis(image)

    def update(alpha1: float, alpha2: float, alpha3: float, magnitude: str) -> None:
        _show(draw_pca_lighting(image, (alpha1, alpha2, alpha3), magnitude=magnitude, basis=basis))

    sliders = {f"alpha{i}": w.FloatSlider(value=0.0, min=-max_alpha, max=max_alpha, step=0.05,
                                          description=f"α{i}") for i in (1, 2, 3)}
    return w.interactive(update, **sliders,
                         magnitude=w.Dropdown(options=["eigval", "sqrt"], description="scale"))


# ----------------------------------------------------------------------- results
# the most runs a panel labels: chapter 01's 155 runs made a legend taller than the figure,
# and tight_layout warned (on the results page) that it could not fit it
MAX_LEGEND = 12


def draw_results(runs: Mapping[str, Any], metric: str = "test_acc", x: str = "epoch",
                 ax: plt.Axes | None = None, title: str | None = None) -> Figure:
    """Curves of ``metric`` for ``{label: History}`` against epoch (or ``x="time"``)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.4))
    fig = ax.figure
    for label, h in runs.items():
        if not h.records or metric not in h.records[0]:
            continue
        ys = [r[metric] for r in h.records]
        xs = np.cumsum([r["seconds"] for r in h.records]) if x == "time" else \
            [r["epoch"] for r in h.records]
        ax.plot(xs, ys, marker="o", markersize=3, label=label)
    ax.set_xlabel("wall-clock seconds" if x == "time" else "epoch")
    ax.set_ylabel(LABELS.get(metric, metric))
    ax.grid(alpha=0.3)
    drawn = len(ax.get_legend_handles_labels()[0])
    if drawn > MAX_LEGEND:  # a legend of every run outgrows the panel (and tight_layout)
        ax.text(0.98, 0.02, f"{drawn} runs", ha="right", va="bottom", fontsize=6,
                transform=ax.transAxes)
    elif drawn:
        ax.legend(fontsize=6)
    else:
        ax.text(0.5, 0.5, "no runs", ha="center", va="center", transform=ax.transAxes)
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def _by_chapter(root: str | Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for (chapter, run), h in histories(load_results(root)).items():
        out.setdefault(chapter, {})[run] = h
    return out


def results_grid(root: str | Path, metric: str = "test_acc", cols: int = 3) -> Figure:
    """Static stand-in for the results explorer: one panel of ``metric`` per chapter."""
    chapters = _by_chapter(root)
    n = max(1, len(chapters))
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, min(cols, n), figsize=(4.3 * min(cols, n), 3.0 * rows),
                             squeeze=False)
    for ax, (chapter, runs) in zip(axes.flat, sorted(chapters.items())):
        draw_results(runs, metric, ax=ax, title=chapter)
    if not chapters:
        axes.flat[0].text(0.5, 0.5, f"no results under {root}", ha="center", va="center")
        axes.flat[0].axis("off")
    for ax in list(axes.flat)[len(chapters):]:
        ax.axis("off") if chapters else None
    fig.tight_layout()
    return fig


def results_explorer(root: str | Path):
    """Dropdowns for the chapter and metric, a multi-select of its runs and a "draw" button
    that draws their curves from ``results/**/*.json`` (read once, when it is built)."""
    import ipywidgets as w

    chapters = _by_chapter(root)
    names = sorted(chapters) or ["(no results)"]
    chapter = w.Dropdown(options=names, description="chapter")
    runs = w.SelectMultiple(options=sorted(chapters.get(names[0], {})),
                            value=tuple(sorted(chapters.get(names[0], {}))), description="runs",
                            rows=6)

    def on_chapter(change: dict[str, Any]) -> None:
        options = sorted(chapters.get(change["new"], {}))
        runs.options = options
        runs.value = tuple(options)

    chapter.observe(on_chapter, names="value")

    def update(chapter: str, runs: tuple[str, ...], metric: str, x: str) -> None:
        chosen = {r: chapters.get(chapter, {})[r] for r in runs if r in chapters.get(chapter, {})}
        _show(draw_results(chosen, metric, x=x, title=chapter))

    # manual: nothing is drawn until "draw" is pressed. Drawing on construction sends the
    # figure through the Output widget while the cell executes, and nbclient (papermill)
    # then sometimes never sees the cell end (nteract/papermill#723, jupyter/nbclient#312);
    # the static `results_grid` shows the same curves on the published page.
    return w.interactive(update, {"manual": True, "manual_name": "draw"}, chapter=chapter, runs=runs,
                         metric=w.Dropdown(options=["test_acc", "train_acc", "train_loss", "lr"],
                                           description="metric"),
                         x=w.Dropdown(options=["epoch", "time"], description="x axis"))
