"""Epochs to a training accuracy and the paired ratio of two variants' epochs
(``alexnet_course.course.convergence``), on hand-made histories."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from alexnet_course.course import convergence
from alexnet_course.history import History


def fake_run(variant: str, seed: int, steps: list[list[float]], failed: str | None = None):
    """A run whose epochs hold the given per-batch training accuracies."""
    records = [{"epoch": e + 1, "train_acc": sum(s) / len(s), "step_train_acc": s}
               for e, s in enumerate(steps)]
    return SimpleNamespace(history=History(records=records), failed=failed,
                           row=SimpleNamespace(extra={"variant": variant, "seed": seed}))


def rising(reach_at: int, batches: int = 10, epochs: int = 10) -> list[list[float]]:
    """Per-batch accuracies 0.5 until batch ``reach_at`` (counted over the whole run), 1.0 after."""
    flat = [1.0 if i >= reach_at else 0.5 for i in range(batches * epochs)]
    return [flat[e * batches:(e + 1) * batches] for e in range(epochs)]


def test_epochs_to_counts_to_the_batch_and_is_nan_when_not_reached_or_failed() -> None:
    run = fake_run("a", 0, rising(12))
    # window 1: the 13th batch (index 12) is the first at 1.0: epoch 1 + 3/10
    assert convergence.epochs_to(run, 0.9, window=1) == pytest.approx(1.3)
    # window 4: the mean of the last four batches first reaches 0.9 at batch index 15 (0.875 at 14)
    assert convergence.epochs_to(run, 0.9, window=4) == pytest.approx(1.6)
    assert math.isnan(convergence.epochs_to(fake_run("a", 0, rising(200)), 0.9, window=1))
    assert math.isnan(convergence.epochs_to(fake_run("a", 0, rising(2), failed="stalled"), 0.9))


def test_speed_ratio_pairs_by_seed_and_says_which_is_faster() -> None:
    # b takes about 1.6 times a's epochs on every seed (a little noise: the interval is not a point)
    runs = [fake_run("a", s, rising(20 + s)) for s in range(4)]
    runs += [fake_run("b", s, rising(40 + 2 * s + (s % 2))) for s in range(4)]
    r = convergence.speed_ratio(runs, "b", "a", 0.9)
    ratios = [convergence.epochs_to(runs[4 + s], 0.9) / convergence.epochs_to(runs[s], 0.9) for s in range(4)]
    assert r.ratio == pytest.approx(math.prod(ratios) ** 0.25)
    assert r.n == 4 and 1 < r.low < min(ratios) and max(ratios) < r.high
    assert r.verdict == "a faster" and r.reached == {"b": (4, 4), "a": (4, 4)}
    assert f"B needed {r.ratio:.2f}× the epochs of A" in r.sentence({"a": "A", "b": "B"})
    assert r.sentence().endswith("a faster")
    back = convergence.speed_ratio(runs, "a", "b", 0.9)
    assert back.verdict == "a faster" and back.high < 1


def test_speed_ratio_drops_seeds_that_never_reached_the_target() -> None:
    runs = [fake_run("a", 0, rising(10)), fake_run("a", 1, rising(200)),
            fake_run("b", 0, rising(12)), fake_run("b", 1, rising(14))]
    r = convergence.speed_ratio(runs, "b", "a", 0.9)
    assert r.n == 1 and r.reached["a"] == (1, 2) and r.verdict == "not decidable"
    assert "fewer than 2 seeds reached it" in r.sentence()


def test_an_undecided_ratio_is_called_undecided() -> None:
    runs = [fake_run("a", s, rising(20)) for s in range(3)]
    runs += [fake_run("b", s, rising(b)) for s, b in enumerate((15, 25, 21))]
    assert convergence.speed_ratio(runs, "b", "a", 0.9).verdict == "undecided"


def test_median_range_counts_the_seeds_that_reached_it() -> None:
    assert convergence.median_range([2.0, 1.0, math.nan, 4.0]) == "2.00 (1.00–4.00), 3 of 4 seeds"
    assert convergence.median_range([1.0, 3.0]) == "2.00 (1.00–3.00), 2 of 2 seeds"
    assert convergence.median_range([math.nan]) == "not reached by any of 1 seeds"
