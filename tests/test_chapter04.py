"""Chapter 04's declarations (alexnet_course/chapters/vgg.py): the pairs it compares have
the receptive fields and sides the page claims, the smaller side of Q2b is the first-stage
comparison's own VGG-11 (so its runs serve both questions), and every rate comes from the
grid run the page says. Declared only: nothing is trained."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from alexnet_course import analysis
from alexnet_course.chapters import vgg
from alexnet_course.course.profiles import PROFILES


def _field(spec) -> int:
    with torch.device("meta"):
        block = spec.factory()().features.block1
    rf = analysis.receptive_field(block)
    return int(rf.loc[rf["type"] == "Conv2d", "rf"].iloc[-1])


@pytest.mark.parametrize("profile", ["smoke", "standard", "full"])
def test_each_stack_is_compared_with_the_single_kernel_of_its_field(profile: str) -> None:
    stages = vgg.experiments(PROFILES[profile])["stages"]
    specs = {s.name: s for s in stages.specs}
    assert stages.against == {**vgg.STACKS, **vgg.LARGE} and stages.question == "Q2a"
    for stack, single in vgg.STACKS.items():
        assert _field(specs[stack]) == _field(specs[single]) > 3
    assert {_field(specs[v]) for v in vgg.LARGE.values()} == {3}


@pytest.mark.parametrize("profile, sides", [("standard", (84, 36)), ("full", (224, 96))])
def test_the_smaller_side_is_the_first_stage_comparisons_vgg11(profile: str, sides) -> None:
    exps = vgg.experiments(PROFILES[profile])
    res, stages = exps["resolution"], exps["stages"]
    big, small = sides
    assert big * 96 == small * 224  # the homework's 224 : 96
    assert res.specs[0] == stages.specs[0] and res.common == stages.common  # the same runs, reused
    assert res.specs[0].train["resize"] == small and res.specs[1].train["resize"] == big
    assert res.against == {f"vgg11_{big}px": "k3"} and res.question == "Q2b"


def _grid_run(name: str, val: float) -> SimpleNamespace:
    record = {"epoch": 1, "train_loss": 0.5, "train_acc": 0.8, "test_acc": val, "val_acc": val}
    history = SimpleNamespace(records=[record], last=record, meta={})
    return SimpleNamespace(run=name, failed=None, history=history, row=SimpleNamespace(extra={}))


def test_every_rate_comes_from_its_grid_run() -> None:
    exps = vgg.experiments(PROFILES["standard"])
    lrs = exps["rates"].notes["lrs"]
    best = {"k3": lrs[1], "s5": lrs[0]}  # the grid's winners; every other stage: its highest rate
    grid = [_grid_run(s.name, 0.9 if s.train["lr"] == best.get(s.name.rsplit("_lr", 1)[0], lrs[-1]) else 0.8)
            for s in exps["rates"].specs]
    chosen = {s.name: s.train["lr"] for name in ("pilot", "stages", "resolution")
              for s in exps[name].given(grid).specs}
    assert chosen["k3"] == chosen["vgg11_84px"] == lrs[1]  # the same network at another side
    assert chosen["s5"] == chosen["s5_e8"] == chosen["s5_e23"] == lrs[0]
    assert chosen["vgg11_84px_e8"] == lrs[1] and chosen["k7"] == lrs[-1]
    assert not any("record" in s.train or "keep_net" in s.train
                   for s in [*exps["rates"].specs, *exps["pilot"].specs])  # judged by validation alone


def test_standard_fits_its_budget_on_paper() -> None:
    """The docstring's estimate, recomputed from its per-epoch seconds: worst case ≤ 3 h."""
    s = vgg.experiments(PROFILES["standard"])["stages"].notes
    per_epoch = {"k3": 3.1, "k5": 3.5, "k7": 3.5, "k11": 3.5, "s2": 4.2, "s3": 5.0, "s5": 7.7,
                 "vgg11_84px": 13.0}
    grid = len(s["lrs"]) * s["epochs"] * sum(v for k, v in per_epoch.items() if k != "vgg11_84px")
    pilot = (math.ceil(s["epochs"] / 2) + math.ceil(1.5 * s["epochs"])) * (per_epoch["s5"] + per_epoch["vgg11_84px"])
    seeds = s["more_seeds"] * s["epochs"] * sum(per_epoch.values())  # the second stage, worst case
    assert (grid + pilot + seeds) / 3600 < 3.0
