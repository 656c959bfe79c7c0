"""Chapter 05's declarations (alexnet_course/chapters/nin_googlenet.py) and the protocol
pieces it added: each comparison changes one thing against d2l's NiN, the rates come from
the grid runs the page names, the collapse study compares rates of runs that never started
on enough seeds to decide, and a run ending near ln 10 counts as not started. Declared
only: nothing is trained."""

from __future__ import annotations

import math

import pytest
import torch

from alexnet_course import analysis
from alexnet_course.chapters import chapter_verdicts, nin_googlenet as nin
from alexnet_course.course import explain, protocol
from alexnet_course.course.profiles import PROFILES
from alexnet_course.models import get_model
from run_fakes import LN10, fake_run, seeded


def _kwargs_diff(a, b) -> dict:
    keys = set(a.model_kwargs) | set(b.model_kwargs)
    return {k: (a.model_kwargs.get(k), b.model_kwargs.get(k)) for k in keys
            if a.model_kwargs.get(k) != b.model_kwargs.get(k)}


@pytest.mark.parametrize("profile", ["smoke", "standard", "full"])
def test_each_comparison_changes_one_thing_against_d2ls_nin(profile: str) -> None:
    exps = nin.experiments(PROFILES[profile])
    specs = {s.name: s for name in ("head", "mlpconv") for s in exps[name].specs}
    changed = {v: _kwargs_diff(specs[v], specs[ref])
               for name in ("head", "mlpconv") for v, ref in exps[name].against.items()}
    assert changed == {"nin_fc_head": {"head": ("fc", None)},
                       "nin_1x1_1": {"num_1x1": (1, 2)}, "nin_1x1_3": {"num_1x1": (3, 2)},
                       "nin_3x3": {"mlp_kernel": (3, None)}}
    assert exps["head"].specs[0] == exps["mlpconv"].specs[0]  # the reference's runs serve both


def test_the_3x3_variant_keeps_the_map_sizes_and_costs_more() -> None:
    with torch.device("meta"):
        one = get_model("nin", input_size=28, width=0.25, stem=(3, 1, 1))
        three = get_model("nin", input_size=28, width=0.25, stem=(3, 1, 1), mlp_kernel=3)
    shapes = [analysis.shape_table(n, 28, depth=1)["output_shape"].tolist() for n in (one, three)]
    assert shapes[0] == shapes[1]
    assert analysis.count_flops(three, 28, 1) > 2.5 * analysis.count_flops(one, 28, 1)
    with pytest.raises(ValueError, match="odd size"):
        get_model("nin", input_size=28, stem=(3, 1, 1), mlp_kernel=2)


def test_every_rate_comes_from_its_grid_run() -> None:
    exps = nin.experiments(PROFILES["standard"])
    lrs = exps["rates"].notes["lrs"]
    best = {"nin_1x1_2": lrs[2], "nin_fc_head": lrs[0]}
    grid = [fake_run(s.name, 0.8, val=0.9 if s.train["lr"] == best[s.name.rsplit("_lr", 1)[0]] else 0.8)
            for s in exps["rates"].specs]
    chosen = {s.name: s.train["lr"] for name in ("pilot", "head", "mlpconv")
              for s in exps[name].given(grid).specs}
    assert chosen["nin_fc_head"] == lrs[0]
    assert {chosen[v] for v in ("nin_1x1_2", "nin_1x1_1", "nin_1x1_3", "nin_3x3",
                                "nin_1x1_3_e6", "nin_1x1_3_e18")} == {lrs[2]}


def test_tune_rates_refuses_a_variant_without_a_grid_run() -> None:
    runs = [fake_run("a_lr0.1", 0.8)]
    with pytest.raises(ValueError, match="no grid run"):
        protocol.tune_rates([0.1], {"a": "a"}, ["b"], runs)


def test_the_collapse_study_has_enough_seeds_to_decide_a_rate() -> None:
    collapse = nin.experiments(PROFILES["standard"])["collapse"]
    assert collapse.seeds >= max(10, protocol.FISHER_MIN)
    assert collapse.rates == {"nin_d2l": "nin_ours"}
    assert collapse.common["stall_min_steps"] > 10**6  # a late start is counted, not stopped
    d2l, ours = collapse.specs
    assert (d2l.model_kwargs["init"], d2l.train["lr"], d2l.train["momentum"]) == ("xavier", 0.1, 0.0)
    assert ours.model_kwargs["init"] == "kaiming" and ours.train["momentum"] == 0.9


def _ended_at(run, loss: float, acc: float):
    run.history.records[-1].update(train_loss=loss, train_acc=acc, test_acc=acc)
    run.row.last_test_acc = acc
    return run


def test_a_run_ending_near_ln10_counts_as_not_started() -> None:
    slow = _ended_at(fake_run("slow", 0.18), 2.299, 0.18)  # d2l's seed 2: above chance, yet no start
    slow.history.records[-1]["step_train_acc"] = [0.1] * 400 + [0.17] * 69
    learning = _ended_at(fake_run("learning", 0.6), 1.4, 0.6)
    late = _ended_at(fake_run("late", 0.5), 2.1, 0.5)  # took off near the end of its last epoch
    late.history.records[-1]["step_train_acc"] = [0.1] * 400 + [0.6] * 69
    assert explain.mark_not_started([slow, learning, late]) == 1
    assert "never started" in slow.failed and learning.failed is None and late.failed is None


def test_collapse_verdict_is_a_fisher_rate_record() -> None:
    exps = {"collapse": nin.experiments(PROFILES["standard"])["collapse"]}
    d2l = seeded("nin_d2l", [0.6] * 10)
    for r in d2l[:6]:
        _ended_at(r, LN10 - 0.01, 0.15)
    runs = {"collapse": d2l + seeded("nin_ours", [0.8] * 10)}
    (record,) = chapter_verdicts(exps, runs)
    assert record["dead"] == {"nin_d2l": [6, 10], "nin_ours": [0, 10]}
    assert record["verdict"] == "nin_d2l higher" and record["p"] < 0.05
    assert not math.isnan(record["difference"]) and record["difference"] == 60.0
