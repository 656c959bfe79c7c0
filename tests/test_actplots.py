"""Chapter 7's activation-statistics tables and figures, on a few hand-made training steps."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from alexnet_course.course import actplots  # noqa: E402
from alexnet_course.analysis import ActivationStats  # noqa: E402
from alexnet_course.course.experiments import RunResult  # noqa: E402
from alexnet_course.course.rows import RunRow  # noqa: E402
from alexnet_course.models import get_model  # noqa: E402
from alexnet_course.train import History  # noqa: E402


def _watched(init: str, failed: str | None = None) -> actplots.WatchedRun:
    torch.manual_seed(0)
    net = get_model("alex_resnet_se", input_size=28, channels=(8, 8, 16, 16), norm="none",
                    residual=False, init=init)
    stats = ActivationStats(net, every=1, bins=10)
    for _ in range(3):
        net(torch.rand(4, 1, 28, 28))
    stats.remove()
    history = History(records=[{"epoch": 1, "test_acc": 0.1, "train_loss": 2.3}],
                      meta={"lr": 0.05, "warmup_steps": 0})
    row = RunRow(run="r", last_test_acc=0.1, best_test_acc=0.1, epochs=1, extra={"init": init})
    return actplots.WatchedRun(RunResult("r", history, row, failed), stats, init)


def test_tables():
    normal = _watched("normal001", failed="epoch 1: the loss stayed at ln(10) = 2.303 with "
                                          "chance accuracy (0.094) for the whole epoch: more")
    kaiming = _watched("kaiming")
    assert actplots.depth_shrink(normal.stats) < 1e-4 < actplots.depth_shrink(kaiming.stats)
    table = actplots.runs_table([normal, kaiming])
    assert table.loc["normal001", "collapsed"]
    assert table.loc["normal001", "guard"] == ("epoch 1: the loss stayed at ln(10) = 2.303 with "
                                              "chance accuracy (0.094) for the whole epoch")
    assert table.loc["kaiming", "init"] == "kaiming"
    assert actplots.guard_reason("epoch 3: the loss became NaN or infinite. Likely") == \
        "epoch 3: the loss became NaN or infinite"
    gates = actplots.gate_table([normal, kaiming])
    assert gates.shape == (4, 4) and gates[("normal001", "start")].between(0.45, 0.55).all()
    change = actplots.std_change(kaiming.stats)
    assert list(change.index) == actplots.main_path(kaiming.stats.layers)


def test_figures():
    runs = [_watched("normal001"), _watched("kaiming")]
    layer = actplots.main_path(runs[0].stats.layers)[-1]
    for fig in (actplots.plot_stat_curves(runs[0].stats), actplots.plot_runs_grid(runs, cols=2),
                actplots.plot_runs_grid(runs, stat="frac_zero", logy=False),
                actplots.plot_hist_heatmap(runs[1].stats, layer),
                actplots.plot_heatmaps(runs, layer, cols=3)):
        assert isinstance(fig, Figure)
    plt.close("all")


def _history(step_accs):
    return History(records=[{"epoch": i + 1, "test_acc": 0.5, "step_train_acc": accs}
                            for i, accs in enumerate(step_accs)])


def test_rise_and_fall_from_the_batches():
    up_down = _history([[0.1] * 10 + [0.9] * 10, [0.2] * 20])
    verdict = actplots.rise_and_fall(up_down, window=5)
    assert verdict["rose"] and verdict["fell back"]
    assert abs(verdict["peak"] - 0.9) < 1e-12 and abs(verdict["final"] - 0.2) < 1e-12
    assert verdict["peak at (epochs)"] == 0.75  # batch 15 of 20 ends the first window wholly at 0.9
    steady = actplots.rise_and_fall(_history([[0.1] * 10 + [0.9] * 10, [0.8] * 20]), window=5)
    assert steady["rose"] and not steady["fell back"]  # lost 0.1 of a 0.8 gain: not a fall
    flat = actplots.rise_and_fall(_history([[0.1] * 20, [0.12] * 20]), window=5)
    assert not flat["rose"] and not flat["fell back"]  # never learned: nothing to fall from
    at, acc = actplots.windowed_train_acc(up_down, window=5)
    assert len(at) == len(acc) == 36
    with pytest.raises(ValueError, match="step_metrics=True"):
        actplots.rise_and_fall(History(records=[{"epoch": 1, "test_acc": 0.5}]))


def test_se_table_and_gate_shares():
    torch.manual_seed(0)
    net = get_model("alex_resnet_se", input_size=28, channels=(8, 8, 16, 16), norm="none",
                    residual=False, init="kaiming")
    with torch.no_grad():  # saturate stage 1's gates: a large positive bias before the sigmoid
        net.features.stage1.se.fc2.bias.fill_(20.0)
        net.features.stage1.se.fc1.bias.fill_(1.0)  # its hidden ReLU (one unit at 8 channels) alive
        net.features.stage2.se.fc1.bias.fill_(-1e6)  # kill stage 2's hidden ReLU
    stats = ActivationStats(net, every=1, bins=40, hist_range=(0.0, 4.0))
    net(torch.rand(4, 1, 28, 28))
    stats.remove()
    gate1 = "features.stage1.se.scale_activation"
    assert actplots.hist_share(stats, gate1, 0.9, 1.1) == 1.0
    assert actplots.hist_share(stats, gate1, 0.0, 0.1) == 0.0
    row = RunRow(run="r", last_test_acc=0.5, best_test_acc=0.5, epochs=1, extra={"seed": 2})
    w = actplots.WatchedRun(RunResult("r", History(), row), stats, "kaiming")
    table = actplots.se_table([w]).set_index("block")
    assert list(table.index) == ["stage1", "stage2", "stage3", "stage4"]
    assert table.loc["stage1", "gates > 0.9"] == 1.0 and table.loc["stage1", "mean gate"] > 0.99
    assert table.loc["stage2", "SE hidden dead"] and not table.loc["stage1", "SE hidden dead"]
    assert table.loc["stage2", "SE hidden max"] == 0.0 and (table["seed"] == 2).all()
