"""Each explorer builds, its update function runs once, and its static grid is a Figure."""

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from alexnet_course.course import widgets  # noqa: E402
from alexnet_course.models import get_model  # noqa: E402


def _net():
    return get_model("alex_resnet_se", input_size=28, channels=(4, 4, 8, 8), norm="none",
                     residual=False, init="kaiming")


def test_feature_map_browser():
    torch.manual_seed(0)
    images = torch.rand(3, 1, 28, 28)
    models = {"a": _net(), "b": _net()}
    browser = widgets.feature_map_browser(models, images, channels=4)
    browser.update()
    assert "features.relu1" in widgets.conv_layers(models["a"])
    assert isinstance(widgets.draw_feature_maps(models["a"], images[0], "features.stage4.relu2"), Figure)
    fig = widgets.feature_map_grid(models, images, layers=["features.relu1"], mode="eval", channels=3)
    assert isinstance(fig, Figure)
    with pytest.raises(TypeError):
        widgets.feature_map_grid(models, images, layers=["features.relu1"])  # the mode must be said
    plt.close("all")


def _std_label(fig: Figure) -> float:
    return float(fig.axes[0].get_ylabel().split("std ")[-1])


def test_feature_map_grid_draws_the_mode_it_is_given():
    torch.manual_seed(0)
    net = get_model("alex_resnet_se", input_size=28, channels=(4, 4, 8, 8), norm="bn",
                    residual=False, init="normal001")  # a fresh BN net: identity in eval mode
    images = torch.rand(6, 1, 28, 28)
    layer = ["features.relu1"]
    evaluated = _std_label(widgets.feature_map_grid({"bn": net}, images, layer, mode="eval"))
    trained = _std_label(widgets.feature_map_grid({"bn": net}, images, layer, mode="train"))
    # eval: the tiny N(0, 0.01²) convolution outputs; train: batch-normalised, ReLU'd N(0, 1)
    assert evaluated < 0.05 and 0.3 < trained < 1.0, (evaluated, trained)
    draw_eval = widgets.draw_feature_maps(net, images, "features.relu1", mode="eval")
    draw_train = widgets.draw_feature_maps(net, images, "features.relu1", mode="train")
    assert "(eval mode)" in draw_eval._suptitle.get_text()
    assert draw_eval._suptitle.get_text() != draw_train._suptitle.get_text().replace("train", "eval")
    plt.close("all")


def test_pca_lighting_explorer():
    photo = widgets.sample_photo(size=32)
    assert photo.shape == (3, 32, 32) and 0 <= photo.min() and photo.max() <= 1
    explorer = widgets.pca_lighting_explorer(photo)
    explorer.update()
    assert isinstance(widgets.draw_pca_lighting(photo, (1.0, 0.0, 0.0)), Figure)
    assert isinstance(widgets.pca_lighting_grid(photo, alphas=((0, 0, 0), (1, 0, 0))), Figure)
    plt.close("all")


def test_lrn_explorer_is_reexported():
    explorer = widgets.lrn_explorer()
    explorer.update()
    assert isinstance(widgets.plot_lrn_grid([{"k": 1.0}]), Figure)
    plt.close("all")


def test_results_explorer(tmp_path):
    rec = {"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "test_acc": 0.6, "lr": 0.1,
           "examples": 10, "train_seconds": 1.0, "seconds": 1.0, "examples_per_sec": 10.0}
    path = tmp_path / "01_x" / "run.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"run": "run", "chapter": "01_x", "records": [rec], "meta": {},
                                "row": {"best test acc": 0.6}}))
    explorer = widgets.results_explorer(tmp_path)
    assert explorer.manual  # nothing drawn while the page executes (see results_explorer)
    explorer.update()
    assert isinstance(widgets.results_grid(tmp_path), Figure)
    assert isinstance(widgets.results_grid(tmp_path / "none"), Figure)
    empty = widgets.results_explorer(tmp_path / "none")
    empty.update()
    plt.close("all")


def test_results_grid_of_many_runs_fits_without_a_warning(tmp_path):
    """A chapter of many runs (chapter 01 has 155) is drawn without a legend of them all,
    which tight_layout could not fit (its warning printed this file's path into a page)."""
    import warnings

    rec = {"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "test_acc": 0.6, "lr": 0.1,
           "examples": 10, "train_seconds": 1.0, "seconds": 1.0, "examples_per_sec": 10.0}
    for chapter, runs in (("01_x", 60), ("02_y", 3)):
        for i in range(runs):
            path = tmp_path / chapter / f"run{i}.json"
            path.parent.mkdir(exist_ok=True)
            path.write_text(json.dumps({"run": f"run{i}", "chapter": chapter, "records": [rec],
                                        "meta": {}, "row": {}}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = widgets.results_grid(tmp_path)
    many, few = fig.axes[:2]
    assert many.get_legend() is None and any("60 runs" in t.get_text() for t in many.texts)
    assert len(few.get_legend().get_texts()) == 3
    plt.close("all")
