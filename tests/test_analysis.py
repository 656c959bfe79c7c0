"""Measurement tools: parameters, FLOPs, shapes, minimum input size, feature maps,
receptive fields, activation statistics."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from torch import nn

from alexnet_course import analysis
from alexnet_course.models import get_model


def tiny() -> nn.Sequential:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(1), nn.Linear(2 * 3 * 3, 5, bias=False))
    net.input_size = 5
    return net


def test_parameter_counts_and_table() -> None:
    net = tiny()
    assert analysis.count_params(net) == (2 * 9 + 2) + 18 * 5
    table = analysis.param_table(net)
    assert table["layer"].tolist() == ["0", "3"]
    assert table["params"].tolist() == [20, 90]
    assert table["share"].sum() == pytest.approx(1.0)
    net[0].weight.requires_grad_(False)
    assert analysis.count_params(net, trainable_only=True) == 2 + 90


def test_flops_on_a_known_case() -> None:
    net = tiny()
    # conv: 2 out-channels × 3×3 outputs × 9 multiply-adds; linear: 18 × 5; 2 FLOPs per multiply-add
    assert analysis.count_flops(net) == 2 * (2 * 9 * 9 + 18 * 5)
    table = analysis.flop_table(net)
    assert dict(zip(table["layer"], table["flops"])) == {"0": 324, "3": 180}


def test_flop_table_of_a_model_sums_to_the_total() -> None:
    net = get_model("lenet")
    total = analysis.count_flops(net)
    table = analysis.flop_table(net, depth=1)
    assert set(table["layer"]) == {"features", "classifier"}
    assert table["flops"].sum() == total
    leaves = analysis.flop_table(net)
    convs = leaves[leaves["type"].isin(["Conv2d", "Linear"])]
    assert convs["flops"].sum() == total
    # LeNet's conv2: 16 × 10×10 outputs × 6·5·5 multiply-adds
    assert leaves.set_index("layer").loc["features.conv2", "flops"] == 2 * 16 * 100 * 150


def test_shape_table_does_the_alexnet_arithmetic() -> None:
    table = analysis.shape_table(get_model("lenet"))
    shapes = dict(zip(table["layer"], table["output_shape"]))
    assert shapes["features.conv1"] == (6, 28, 28)
    assert shapes["features.pool1"] == (6, 14, 14)
    assert shapes["features.conv2"] == (16, 10, 10)
    assert shapes["features.pool2"] == (16, 5, 5)
    assert shapes["classifier.fc3"] == (10,)
    assert table.set_index("layer").loc["classifier.fc1", "params"] == 400 * 120 + 120
    with torch.device("meta"):
        net = get_model("alexnet_paper")
        s224 = analysis.shape_table(net, input_size=224).set_index("layer")["output_shape"]
        s227 = analysis.shape_table(net, input_size=227).set_index("layer")["output_shape"]
        blocks = analysis.shape_table(get_model("googlenet"), depth=2)
    assert s224["features.conv1"] == (96, 55, 55) and s227["features.conv1"] == (96, 56, 56)
    assert s224["features.pool1"] == s227["features.pool1"] == (96, 27, 27)
    assert s224["features.pool5"] == (256, 6, 6)
    assert blocks.set_index("layer").loc["features.inception3a", "output_shape"] == (256, 12, 12)


def test_min_input_size_by_search() -> None:
    net = nn.Sequential(nn.Conv2d(1, 1, 5), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3))
    # conv5: n-4 >= 2 for the pool, pool: (n-4)//2 >= 3 for the last conv -> n >= 10
    assert analysis.min_input_size(net, max_size=64) == 10
    assert analysis.min_input_size(nn.Sequential(nn.Conv2d(1, 1, 1))) == 1
    with pytest.raises(ValueError, match="does not accept 8×8"):
        analysis.min_input_size(net, max_size=8)
    assert net.training  # the search restores the training flag


def test_feature_maps_by_layer_name() -> None:
    net = get_model("lenet").eval()
    x = torch.randn(3, 1, 28, 28)
    maps = analysis.feature_maps(net, x, ["features.conv1", "features.pool2"])
    assert list(maps) == ["features.conv1", "features.pool2"]
    torch.testing.assert_close(maps["features.conv1"], net.features.conv1(x))
    torch.testing.assert_close(maps["features.pool2"], net.features(x))
    with pytest.raises(ValueError, match="no layer named 'features.conv9'.*features.conv2"):
        analysis.feature_maps(net, x, ["features.conv9"])


def test_feature_maps_survive_in_place_relu() -> None:
    net = get_model("alexnet_28", fc_width=16).eval()
    x = torch.randn(2, 1, 28, 28)
    maps = analysis.feature_maps(net, x, ["features.conv1"])
    assert (maps["features.conv1"] < 0).any()  # recorded before relu1 (in place) ran


def test_receptive_field_of_alexnet_and_vgg() -> None:
    with torch.device("meta"):
        alex, vgg = get_model("alexnet_d2l"), get_model("vgg11")
    rf = analysis.receptive_field(alex, input_size=224).set_index("layer")
    assert rf.loc["conv1", "rf"] == 11 and rf.loc["conv1", "jump"] == 4
    assert rf.loc["conv2", "rf"] == 51 and rf.loc["pool2", "rf"] == 67
    assert rf.loc["pool5", "rf"] == 195 and rf.loc["pool5", "jump"] == 32 and rf.loc["pool5", "size"] == 5
    table = analysis.receptive_field(vgg).set_index("layer")
    # Two stacked 3×3 convs see 5×5, three see 7×7 (the paper's Section 2.3 argument), at jump 1.
    small = analysis.receptive_field(nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=1) for _ in range(3)]))
    assert small["rf"].tolist() == [3, 5, 7]
    assert table.loc["block1.pool", "rf"] == 4 and table.loc["block2.conv1", "rf"] == 8
    assert table.loc["block5.pool", "jump"] == 32
    with pytest.raises(ValueError, match="plain conv/pool stacks"):
        analysis.receptive_field(get_model("googlenet"))


def test_activation_stats_records_every_nth_training_step() -> None:
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3), nn.Tanh())
    torch.manual_seed(0)
    xs = [torch.randn(16, 4) for _ in range(5)]
    with analysis.ActivationStats(net, every=2, bins=10, hist_range=(-1.0, 1.0), sync_every=2) as stats:
        for x in xs:
            net(x)
        net.eval()
        net(xs[0])  # evaluation passes are not recorded
        net.train()
    assert stats.layers == ["1", "3"]  # the activation modules by default
    df = stats.to_frame()
    assert df["step"].tolist() == [0, 0, 2, 2, 4, 4]
    with torch.no_grad():
        relu_out = torch.relu(net[0](xs[2]))
    row = df[(df["step"] == 2) & (df["layer"] == "1")].iloc[0]
    assert row["mean"] == pytest.approx(relu_out.mean().item(), rel=1e-5)
    assert row["std"] == pytest.approx(relu_out.std().item(), rel=1e-5)
    assert row["max"] == pytest.approx(relu_out.max().item(), rel=1e-5)
    assert row["min"] == 0.0
    assert row["frac_zero"] == pytest.approx((relu_out == 0).float().mean().item())
    hist = stats.histograms["3"]
    assert hist.shape == (3, 10)
    assert hist[0].sum().item() == 16 * 3  # tanh outputs all lie in [-1, 1]
    net(xs[0])  # hooks are gone after the with-block
    assert len(stats.to_frame()) == 6
    back = analysis.ActivationStats.from_dict(json.loads(json.dumps(stats.to_dict())))
    pd.testing.assert_frame_equal(back.to_frame(), stats.to_frame(), rtol=1e-5)  # 6 digits kept
    assert torch.equal(back.histograms["3"], hist) and back.layers == stats.layers


def test_activation_stats_on_a_model_with_named_layers() -> None:
    net = get_model("alex_resnet", norm="none", residual=False, init="normal001", channels=(8, 8, 8, 8))
    stats = analysis.ActivationStats(net, layers=["features.relu1", "features.stage4.relu2"])
    net(torch.randn(4, 1, 32, 32))
    stats.remove()
    df = stats.to_frame().set_index("layer")
    # N(0, 0.01²) weights shrink the signal layer after layer: the collapse the chapter shows
    assert df.loc["features.stage4.relu2", "std"] < 1e-3 * df.loc["features.relu1", "std"]
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        analysis.ActivationStats(net, layers=["nope"])
