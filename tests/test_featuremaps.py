"""Fast tests for alexnet_course.featuremaps (and VGG's first_kernel option it is used with)."""

import math

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from alexnet_course import analysis
from alexnet_course.course.plots import plot_feature_maps
from alexnet_course.featuremaps import (map_table, neighbour_correlation,
                                        strongest_channels)
from alexnet_course.models import get_model


def test_strongest_channels_orders_by_mean() -> None:
    fmap = torch.zeros(4, 3, 3)
    fmap[2] += 5
    fmap[0] += 1
    assert strongest_channels(fmap, 2) == [2, 0]
    assert len(strongest_channels(fmap, 10)) == 4
    with pytest.raises(ValueError):
        strongest_channels(torch.zeros(1, 4, 3, 3), 2)


def test_neighbour_correlation_smooth_vs_noise() -> None:
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(8, 2, 16, 16, generator=g)
    ramp = torch.arange(16.0).repeat(8, 2, 16, 1) + 0.01 * noise
    assert abs(neighbour_correlation(noise)) < 0.1
    assert neighbour_correlation(ramp) > 0.9
    assert math.isnan(neighbour_correlation(torch.zeros(2, 3, 4, 4)))  # constant: no correlation
    assert math.isnan(neighbour_correlation(torch.randn(2, 3, 1, 1)))


def test_map_table_and_plot_from_feature_maps() -> None:
    net = get_model("vgg11", ratio=16, input_size=32, fc_width=32).eval()
    x = torch.rand(2, 1, 32, 32)
    maps = analysis.feature_maps(net, x, ["features.block1.relu1", "features.block2"])
    table = map_table(maps, labels={"features.block2": "block 2"})
    assert list(table.index) == ["features.block1.relu1", "block 2"]
    assert table.loc["block 2", "side"] == 8 and table.loc["block 2", "channels"] == 8
    fig = plot_feature_maps(maps, x, channels=3, title="t")
    assert len(fig.axes) == 2 * 4
    with pytest.raises(ValueError):
        plot_feature_maps({})


def test_vgg_first_kernel_keeps_sizes_and_default() -> None:
    base = get_model("vgg11", ratio=8, input_size=64, fc_width=64)
    big = get_model("vgg11", ratio=8, input_size=64, fc_width=64, first_kernel=11)
    assert base.features.block1.conv1.kernel_size == (3, 3)
    assert big.features.block1.conv1.kernel_size == (11, 11)
    assert big.features.block2.conv1.kernel_size == (3, 3)
    assert big(torch.zeros(1, 1, 64, 64)).shape == (1, 10)
    extra = analysis.count_params(big) - analysis.count_params(base)
    assert extra == (121 - 9) * 8  # one input channel, 64/8 output channels
    with pytest.raises(ValueError):
        get_model("vgg11", ratio=8, input_size=64, first_kernel=4)


def test_stacked_vs_single_counts() -> None:
    from alexnet_course.featuremaps import stacked_vs_single

    t = stacked_vs_single(channels=4, max_convs=3)
    assert list(t["receptive field"]) == ["3×3", "5×5", "7×7"]
    assert t.loc[3, "stack params"] == 3 * (9 * 16 + 4)
    assert t.loc[3, "single conv"] == "one 7×7 conv"
    assert t.loc[3, "single conv params"] == 49 * 16 + 4
    assert not t.isna().any().any()  # every row fills every column
    assert t.loc[1, "params ratio (stack / single)"] == 1.0


def test_size_table_vgg_only_fc1_changes() -> None:
    from alexnet_course.featuremaps import size_table

    t = size_table("vgg11", [224, 96, 56], ratio=8, fc_width=64)
    assert list(t["final map"]) == ["7×7", "3×3", "1×1"]
    assert list(t["fc1 in_features"]) == [64 * 49, 64 * 9, 64]
    non_fc1 = t["parameters"] - t["fc1 params"]
    assert non_fc1.nunique() == 1
    assert t["GFLOPs"].is_monotonic_decreasing and t["activation MiB / image"].is_monotonic_decreasing
    # first conv's output alone: 8 channels × 224² float32 values
    assert t.loc["224×224", "activation MiB / image"] > 8 * 224 * 224 * 4 / 2**20


def _fresh_bn_net():
    torch.manual_seed(0)
    return get_model("alex_resnet_se", input_size=28, channels=(4, 4, 8, 8), norm="bn",
                     residual=False, init="normal001")


def test_maps_in_mode_train_normalises_eval_is_identity_and_nothing_moves() -> None:
    from alexnet_course.featuremaps import maps_in_mode

    net = _fresh_bn_net()
    images = torch.rand(6, 1, 28, 28)
    running = net.features.norm1.running_mean.clone()
    layer = "features.norm1"
    evaluated = maps_in_mode(net, images, [layer], mode="eval")[layer]
    trained = maps_in_mode(net, images, [layer], mode="train")[layer]
    conv = analysis.feature_maps(net.eval(), images, ["features.conv1"])["features.conv1"]
    # a fresh batch norm in eval mode is the identity (running mean 0, variance 1) ...
    assert torch.allclose(evaluated, conv, atol=1e-6)
    # ... in train mode it normalises each channel over the batch: mean 0, std 1
    assert trained.mean(dim=(0, 2, 3)).abs().max() < 1e-4
    assert (trained.std(dim=(0, 2, 3)) - 1).abs().max() < 0.05  # eps and the unbiased std aside
    assert conv.std() < 0.1  # N(0, 0.01²) weights: far from unit scale, so the modes differ
    assert torch.equal(net.features.norm1.running_mean, running)  # the copy ran, not the net
    net.train()
    maps_in_mode(net, images, [layer], mode="eval")
    assert net.training  # the flag is restored
    with pytest.raises(ValueError, match="use 'eval'"):
        maps_in_mode(net, images, [layer], mode="training")
    with pytest.raises(ValueError, match="pass a batch of several images"):
        maps_in_mode(net, images[0], ["features.stage4.relu2"], mode="train")  # a 1×1 map of one image
