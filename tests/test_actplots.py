"""Chapter 7's activation-statistics tables and figures, on a few hand-made training steps."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
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
