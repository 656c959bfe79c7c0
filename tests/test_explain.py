"""Reasons for wide intervals and the dead-run verdict (alexnet_course.course.explain), and
their place in a chapter's verdict records."""

from __future__ import annotations

from alexnet_course.chapters import Experiment, chapter_verdicts
from alexnet_course.course import explain, protocol
from alexnet_course.course.ablations import Spec

from run_fakes import AGAINST, REF, UP, seeded, three_way


def test_only_wide_intervals_get_a_reason_and_undecided_ones_say_what_would_narrow_them() -> None:
    runs = three_way()
    c = protocol.compare(runs, AGAINST)
    why = explain.why_wide(runs, c)
    assert set(why) == {"unsure"}  # up and same are within ±1 point
    assert why["unsure"].startswith("±") and "still undecided at 5 pairs" in why["unsure"]
    needed = int(why["unsure"].split("would take about ")[1])
    assert needed > 5


def test_a_decided_wide_interval_names_its_dead_runs_spread_and_first_stage() -> None:
    noisy = [a + d for a, d in zip(REF, [0.06, 0.02, 0.05, 0.02, 0.03])]  # decided, wide
    runs = (seeded("ref", REF + [0.84]) + seeded("noisy", noisy)
            + seeded("noisy", [0.0] * 6, at_chance=True)[5:])  # seed 5 of noisy died
    c = protocol.compare(runs, {"noisy": "ref"})
    assert c["noisy"].decided and c["noisy"].n == 5
    why = explain.why_wide(runs, c)["noisy"]
    assert "1 of 6 runs of noisy died" in why and "first stage's 5 pairs" in why
    assert "runs of − noise died" in explain.why_wide(runs, c, {"noisy": "− noise"})["noisy"]


def test_dead_rates_are_decided_by_fisher_only_with_eight_runs_a_side() -> None:
    alive = seeded("ref", [0.8] * 10)
    dead = seeded("init", [0.0] * 10, at_chance=True)
    record = explain.dead_rate_record("Q", alive + dead, "init", "ref")
    assert record["verdict"] == "init higher" and record["settled"]
    assert record["difference"] == 100.0 and record["p"] < 1e-4
    assert record["dead"] == {"init": [10, 10], "ref": [0, 10]}
    few = explain.dead_rate_record("Q", alive[:5] + dead[:5], "init", "ref")
    assert few["verdict"] == "not decidable" and few["p"] is None
    some = (seeded("ref", [0.8] * 8) + seeded("half", [0.8] * 8)[:6]
            + seeded("half", [0.0] * 8, at_chance=True)[6:])  # 2 of 8 died against 0 of 8: p = 0.47
    assert explain.dead_rate_record("Q", some, "half", "ref")["verdict"] == "undecided"


def test_chapter_verdicts_record_an_all_dead_comparison_by_its_rate_of_deaths() -> None:
    specs = [Spec(v, v, "lenet") for v in ("ref", "up", "init")]
    exps = {"q": Experiment(specs, 5, {}, {"up": "ref", "init": "ref"}, question="Q")}
    runs = {"q": seeded("ref", REF * 2) + seeded("up", UP) + seeded("init", [0.0] * 10, at_chance=True)}
    up, init = chapter_verdicts(exps, runs)
    assert up["metric"] == protocol.METRIC and up["verdict"] == "up higher"
    assert init["metric"] == explain.DEAD_METRIC and init["verdict"] == "init higher"
    assert protocol.tally([up, init])["higher"] == 2
