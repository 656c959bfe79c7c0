"""Per-kind parameter and FLOP tables (alexnet_course.sizes)."""

from __future__ import annotations

import pytest
import torch

from alexnet_course import analysis, sizes
from alexnet_course.models import get_model


def test_alexnet_first_fc_layer_holds_most_parameters() -> None:
    with torch.device("meta"):
        net = get_model("alexnet_d2l", input_size=224)
        costs = sizes.layer_costs(net, 224)
    assert costs["params"].sum() == analysis.count_params(net) == 46_764_746
    fc6 = costs.set_index("layer").loc["classifier.fc6"]
    assert fc6["kind"] == "fully connected" and fc6["param share"] > 0.5
    assert costs["flops"].sum() == analysis.count_flops(net, 224)


def test_nin_gap_head_has_no_fully_connected_layer() -> None:
    with torch.device("meta"):
        by_kind = sizes.cost_by_kind(get_model("nin"), 224)
        fc_head = sizes.cost_by_kind(get_model("nin", head="fc"), 224)
    assert list(by_kind.index) == list(sizes.KINDS)
    assert by_kind.loc["fully connected", "params"] == 0
    assert by_kind.loc["conv 1×1", "params"] > 0
    assert fc_head.loc["fully connected", "params"] > 0
    assert by_kind["param share"].sum() == pytest.approx(1.0)


def test_size_summary_and_factorisation() -> None:
    with torch.device("meta"):
        table = sizes.size_summary({"AlexNet": (get_model("alexnet_d2l"), 224),
                                    "GoogLeNet": (get_model("googlenet"), 96)})
    assert table.loc["AlexNet", "FC share"] > 0.9 > 0.01 > table.loc["GoogLeNet", "FC share"]
    f = sizes.factorisation_costs(channels=8, size=6, n=5)
    assert list(f["params"]) == [25 * 64, 18 * 64, 10 * 64]
    assert f["relative cost"].tolist() == pytest.approx([1.0, 18 / 25, 10 / 25])
    with pytest.raises(ValueError):
        sizes.factorisation_costs(n=4)


def test_reduction_savings_of_googlenet() -> None:
    with torch.device("meta"):
        table = sizes.reduction_savings(get_model("googlenet"))
    assert len(table) == 9
    row = table.set_index("module").loc["features.inception3a"]
    # 3×3 path: 192->96 (1×1) ->128 (3×3); 5×5 path: 192->16 (1×1) ->32 (5×5), with biases
    built = (192 * 96 + 96) + (96 * 9 * 128 + 128) + (192 * 16 + 16) + (16 * 25 * 32 + 32)
    assert row["with 1×1 reduction"] == built
    assert row["without"] == (192 * 9 * 128 + 128) + (192 * 25 * 32 + 32)
    assert (table["saving"] > 0).all()


def test_memory_estimate_counts_weights_states_and_kept_outputs() -> None:
    from alexnet_course.sizes import memory_estimate

    # conv 1→2 (3×3, 20 weights) keeps 2·4·4 values, pool keeps 2·2·2 and as many int64 indices
    # (16 float32 values' worth), flatten + linear 8→3 (27 weights) keeps 3: with the 16-value
    # input, 16 + 32 + 8 + 16 + 3 = 75 values an image
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(8, 3))
    m = memory_estimate(net, input_size=4, batch=10, bytes_per_value=2**20)  # 1 value = 1 "MiB"
    assert m["weights MiB"] == 47
    assert m["of which activations MiB"] == 75 * 10
    assert m["training MiB"] == 47 * 3 + 750  # weights, gradients, one momentum buffer
    assert m["inference MiB"] == 47 + (16 + 32) * 10  # the largest input + output pair: the conv's
    with pytest.raises(ValueError, match="positive"):
        memory_estimate(net, input_size=4, batch=0)
