"""Fast tests of alexnet_course.course.ablations (no training, no data)."""

import math

import pytest
import torch
from torch import nn

from alexnet_course.course import ablations
from alexnet_course.course.experiments import RunResult
from alexnet_course.course.rows import RunRow
from alexnet_course.train import History


def test_build_swaps_activation_and_pool_without_changing_parameters():
    base = ablations.build("lenet")
    relu_max = ablations.build("lenet", activation="relu", pool="max")
    kinds = {type(m) for m in relu_max.modules()}
    assert nn.ReLU in kinds and nn.MaxPool2d in kinds
    assert nn.Sigmoid not in kinds and nn.AvgPool2d not in kinds
    assert sum(p.numel() for p in base.parameters()) == sum(p.numel() for p in relu_max.parameters())
    assert relu_max(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError):
        ablations.build("lenet", activation="swish")


def test_spec_swaps_only_what_the_constructor_lacks():
    lenet = ablations.Spec("a", "relu", "lenet", {"activation": "relu", "pool": "max"})
    assert lenet.swaps() == {"activation": "relu", "pool": "max"} and callable(lenet.factory())
    paper = ablations.Spec("b", "2×2 pools", "alexnet_paper",
                           {"pool": "nonoverlap", "activation": "tanh", "input_size": 64})
    assert paper.swaps() == {} and paper.factory() == "alexnet_paper"


def test_a_spec_with_a_builder_names_its_model_in_the_spec():
    # chapter 04's VGG-11 variants: a network from a conv_arch, which the registry has no name for
    from alexnet_course.models.vgg import VGG, VGG_ARCHS

    kw = {"conv_arch": ((2, 64),) + VGG_ARCHS["vgg11"][1:], "input_size": 36, "ratio": 16, "fc_width": 32}
    spec = ablations.Spec("s2", "two 3×3 convs", "VGG", kw, builder=VGG, seeds=2)
    assert spec.swaps() == {} and isinstance(spec.factory()(), VGG)
    calls = list(ablations.run_calls(None, [spec], 1, {"epochs": 1}))
    assert [run for run, _, _ in calls] == ["s2", "s2-s1"]
    run, model, call = calls[0]
    assert callable(model) and call["model_kwargs"] is None
    assert call["spec_model"] == {"name": "VGG", "kwargs": kw} and call["extra"]["model"] == "VGG"


def _result(variant, accs, secs=1.0, failed=False):
    recs = [{"epoch": i + 1, "test_acc": a, "seconds": secs, "train_seconds": secs,
             "examples": 100, "train_loss": 1.0, "train_acc": a} for i, a in enumerate(accs)]
    h = History(records=recs)
    row = {"run": variant, "variant": variant, "change": variant, "model": "m", "input": "28×28",
           "parameters": 10, "GFLOPs": 0.1, "epochs": len(recs), "best test acc": max(accs),
           "last test acc": accs[-1], "s/epoch": secs, "examples/sec": 100 / secs,
           "failed": failed}
    return RunResult(variant, h, RunRow.from_dict(row))


def test_compare_and_fastest_meeting():
    runs = [_result("base", [0.80, 0.86], 2.0), _result("base", [0.84, 0.88], 2.0),
            _result("fast", [0.83, 0.86], 1.0), _result("tiny", [0.60, 0.70], 0.5)]
    frame = ablations.compare(runs, baseline="base", threshold=0.85)
    assert list(frame.index) == ["base", "fast", "tiny"]
    assert frame.loc["base", "runs"] == 2 and frame.loc["base", "n"] == 2
    assert frame.loc["base", "test acc"] == pytest.approx(0.87)
    assert frame.loc["base", "test acc (mean ± 95 %, n)"].endswith("(n = 2)")
    assert frame.loc["fast", "test acc (mean ± 95 %, n)"] == "0.860 (n = 1)"
    assert frame.loc["fast", "vs baseline"].startswith("not decidable")
    assert frame.loc["fast", "time saved"] == pytest.approx(0.5)
    assert frame.loc["base", "s to threshold"] == pytest.approx(4.0)
    assert math.isnan(frame.loc["tiny", "s to threshold"])
    assert ablations.fastest_meeting(frame, 0.85) == "fast"
    assert ablations.fastest_meeting(frame, 0.99) is None
    with pytest.raises(ValueError):
        ablations.compare(runs, baseline="nope")


def test_compare_leaves_stopped_runs_out_of_the_accuracy():
    runs = [_result("base", [0.80, 0.86]), _result("base", [0.82, 0.87]), _result("base", [0.81, 0.86]),
            _result("hot", [0.10, 0.10], failed=True), _result("hot", [0.50, 0.60]),
            _result("hot", [0.52, 0.62]), _result("hot", [0.51, 0.61])]
    frame = ablations.compare(runs, baseline="base", threshold=0.85)
    assert frame.loc["hot", "runs"] == 4 and frame.loc["hot", "stopped"] == 1
    assert frame.loc["hot", "n"] == 3 and frame.loc["hot", "test acc"] == pytest.approx(0.61)
    assert frame.loc["hot", "vs baseline"] == "base higher"
    assert frame.loc["base", "reached"] == 3 and frame.loc["hot", "reached"] == 0


def test_verdicts_per_pair():
    runs = [_result("a", [0.5, 0.80]), _result("a", [0.5, 0.81]), _result("a", [0.5, 0.82]),
            _result("b", [0.5, 0.70]), _result("b", [0.5, 0.71]), _result("b", [0.5, 0.69]),
            _result("c", [0.5, 0.81]), _result("c", [0.5, 0.79]), _result("c", [0.5, 0.83])]
    v = ablations.verdicts(runs, {"b": "a", "c": "a"})
    assert v["b"].verdict == "a higher" and v["b"].diff == pytest.approx(-0.11)
    assert v["c"].verdict.startswith("no difference detectable")
    frame = ablations.verdict_frame(v)
    assert frame.loc["b", "compared with"] == "a" and frame.loc["b", "Δ (points)"] == pytest.approx(-11)
    with pytest.raises(ValueError, match="no runs of zzz"):
        ablations.verdicts(runs, {"zzz": "a"})
    dead = runs + [_result("d", [0.1, 0.1], failed=True), _result("d", [0.1, 0.1], failed=True)]
    assert ablations.verdicts(dead, {"d": "a"})["d"].verdict.startswith("not decidable: d has fewer")


def test_paired_verdicts_take_the_seed_to_seed_spread_out():
    def seeded(variant, seed, acc):
        r = _result(variant, [0.5, acc])
        r.row.extra["seed"] = seed
        return r
    # each seed moves both variants alike (the same data order); b is 0.5 points lower
    base = {0: 0.80, 1: 0.86, 2: 0.83, 3: 0.89, 4: 0.84}
    runs = [seeded("a", k, acc) for k, acc in base.items()]
    runs += [seeded("b", k, acc - 0.005 + 0.0002 * k) for k, acc in base.items()]
    welch = ablations.verdicts(runs, {"b": "a"}, margin=0.01)["b"]
    paired = ablations.verdicts(runs, {"b": "a"}, margin=0.01, paired=True)["b"]
    assert welch.verdict.startswith("undecided") and paired.verdict == "a higher"
    assert paired.n == 5 and paired.high - paired.low < 0.1 * (welch.high - welch.low)
    runs.append(seeded("b", 9, 0.99))  # a seed the reference lacks has no pair
    assert ablations.verdicts(runs, {"b": "a"}, paired=True)["b"].n == 5


def test_memory_estimate_scales_with_batch():
    net = ablations.build("lenet_modern")
    small = ablations.memory_estimate(net, (1, 28, 28), 32)
    big = ablations.memory_estimate(net, (1, 28, 28), 64)
    assert big["activations"] == pytest.approx(2 * small["activations"])
    assert small["weights"] == pytest.approx(61706 * 4 / 2**20)
    assert small["optimizer"] == pytest.approx(2 * small["weights"])


def test_peak_memory_is_nan_on_cpu():
    with ablations.peak_memory("cpu") as mem:
        pass
    assert math.isnan(mem["peak MiB"])


def test_a_run_that_ends_at_chance_is_labelled_not_reported():
    from alexnet_course.course.ablations import compare, mark_ended_at_chance
    from alexnet_course.course.experiments import RunResult
    from alexnet_course.course.rows import RunRow
    from alexnet_course.train import History

    def run(name, seed, accs, loss):
        h = History(records=[{"epoch": i + 1, "train_loss": loss, "train_acc": a, "test_acc": a,
                              "seconds": 1.0, "train_seconds": 1.0, "examples": 10}
                             for i, a in enumerate(accs)])
        row = RunRow(run=f"{name}-{seed}", model="m", last_test_acc=accs[-1],
                     extra={"variant": name, "change": name, "seed": seed})
        return RunResult(row.run, h, row)

    runs = [run("a", 0, [0.80, 0.85], 0.4), run("a", 1, [0.10, 0.10], 2.3026),
            run("a", 2, [0.81, 0.86], 0.4), run("b", 0, [0.6, 0.10], 2.3030)]
    assert mark_ended_at_chance(runs) == 2
    assert runs[1].failed.startswith("ended at chance: epoch 2") and runs[1].row.failed
    assert runs[0].failed is None and runs[3].row.failed
    table = compare(runs)
    assert table.loc["a", "stopped"] == 1 and table.loc["a", "n"] == 2
    assert table.loc["a", "test acc"] == pytest.approx(0.855)
    assert mark_ended_at_chance(runs) == 0  # labelled once


def test_with_verdicts_names_the_reference_instead_of_empty_cells() -> None:
    import pandas as pd

    from alexnet_course.course.ablations import with_verdicts
    from alexnet_course.course.stats import compare

    frame = pd.DataFrame({"change": ["base", "variant", "other"]},
                         index=["base", "variant", "other"])
    c = {"variant": compare([0.90, 0.91, 0.92], [0.80, 0.81, 0.82], names=("variant", "base"))}
    out = with_verdicts(frame, c)
    assert not out.isna().any().any()
    assert out.loc["base", "verdict"] == "the reference" and out.loc["other", "verdict"] == "not compared"
    assert out.loc["variant", "Δ (points)"] == "+10.0" and out.loc["variant", "verdict"] == "variant higher"


def test_a_run_that_did_not_learn_is_labelled_not_reported():
    from alexnet_course.course.ablations import compare, mark_ended_at_chance
    from alexnet_course.course.experiments import RunResult
    from alexnet_course.course.rows import RunRow
    from alexnet_course.train import History

    def run(seed, losses, accs, batch=128):
        h = History(records=[{"epoch": i + 1, "train_loss": loss, "train_acc": a, "test_acc": a,
                              "seconds": 1.0, "train_seconds": 1.0, "examples": 12_800}
                             for i, (loss, a) in enumerate(zip(losses, accs))],
                    meta={"batch_size": batch})
        row = RunRow(run=f"a-{seed}", model="m", last_test_acc=accs[-1],
                     extra={"variant": "a", "change": "a", "seed": seed})
        return RunResult(row.run, h, row)

    runs = [run(0, [0.9, 0.5], [0.80, 0.85]), run(1, [2.62, 2.55], [0.10, 0.11]),
            run(2, [0.9, 0.5], [0.81, 0.86]), run(3, [2.62, 2.55], [0.10, 0.11], batch=10_000)]
    assert mark_ended_at_chance(runs) == 1  # seed 3 took 2 steps: too short to judge
    assert runs[1].failed.startswith("did not learn: ") and runs[1].row.failed
    table = compare(runs)
    assert table.loc["a", "stopped"] == 1 and table.loc["a", "n"] == 3
