"""Timing probes: seconds per epoch from the warm pass, and a contended probe labelled."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from alexnet_course.course import timing
from alexnet_course.course.ablations import Spec


def probe(run: str, train_s: float, seconds: float, contended: bool | None) -> SimpleNamespace:
    records = [{"examples": 100, "train_seconds": 9.0, "seconds": 10.0},  # cold: ignored
               {"examples": 100, "train_seconds": train_s, "seconds": seconds}]
    measure = None if contended is None else {"loadavg_start": [1.5, 1, 1], "contended": contended,
                                               "other_cpu_share": 0.5 if contended else 0.0}
    return SimpleNamespace(run=run, history=SimpleNamespace(records=records, meta={"dataset": "cifar10"}),
                           row=SimpleNamespace(extra={"variant": run}), timing=measure)


def test_a_probe_is_extrapolated_from_its_warm_pass() -> None:
    row = timing.probe_row(probe("a", 1.0, 1.5, False), (1000, 200))
    assert row["training images/s"] == 100 and row["test images/s"] == 200
    assert row["s per epoch"] == pytest.approx(1000 / 100 + 200 / 200)
    assert row["timed alone"] is True and row["load (1 min)"] == 1.5
    cifar = timing.probe_row(probe("a", 1.0, 1.5, False))  # its dataset's epoch: 50,000 + 10,000
    assert cifar["s per epoch"] == pytest.approx(50_000 / 100 + 10_000 / 200)


def test_a_ratio_of_probes_that_shared_the_machine_says_so() -> None:
    frame = timing.probe_frame([probe("a", 2.0, 3.0, False), probe("b", 1.0, 1.5, False),
                                probe("c", 1.0, 1.5, True), probe("d", 1.0, 1.5, None)])
    ratio, note = timing.time_ratio(frame, "a", "b")
    assert ratio == pytest.approx(2.0) and note == ""
    assert "c shared the machine" in timing.time_ratio(frame, "a", "c")[1]
    assert "d" in timing.time_ratio(frame, "d", "b")[1]  # runs carried into the store have no measure
    assert math.isnan(frame.loc["d", "load (1 min)"])
    alone = timing.probe_frame([probe("a", 2.0, 3.0, False), probe("b", 1.0, 1.5, False)])
    assert timing.time_ratio(alone, "a", "b")[1] == ""  # an all-bool column holds numpy bools


def test_probe_specs_keep_the_network_and_drop_what_accuracy_runs_record() -> None:
    spec = Spec("max_64px", "max pooling, 64 px", "alexnet_nopool", {"width": 0.25},
                train={"resize": 64, "record": {"x": 1}, "keep_net": True})
    (p,) = timing.probe_specs([spec])
    assert p.name == "timing_max_64px" and p.model_kwargs == {"width": 0.25}
    assert p.train == {"resize": 64}
    common = timing.probe_common({"epochs": 9, "lr": 0.1}, steps=3, batch=8)
    assert common == {"epochs": 2, "lr": 0.1, "batch_size": 8, "train_size": 24,
                      "test_size": 24, "guard": False}
