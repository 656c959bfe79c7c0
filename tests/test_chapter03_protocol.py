"""Chapter 03's declarations under the protocol (no training): each variant at its own
rate from its own grid, the pooling and width questions reading the size sweep's runs of
their reference rather than training them again, the pilot, the seeds and the second stage,
and a smoke profile that fits the tests' hand-made CIFAR-10."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from alexnet_course.chapters import resolution_and_pooling as ch03
from alexnet_course.course import protocol, store
from alexnet_course.course.profiles import PROFILES
from alexnet_course.history import History


def grid_run(name: str, val: float) -> SimpleNamespace:
    """A finished grid run whose last epoch has validation accuracy ``val``."""
    record = {"epoch": 1, "train_loss": 0.4, "train_acc": 0.9, "test_acc": val, "val_acc": val}
    return SimpleNamespace(run=name, failed=None, history=History(records=[record]),
                           row=SimpleNamespace(failed=False, extra={"variant": name}))


def test_every_compared_variant_trains_at_its_own_best_rate() -> None:
    exps = ch03.experiments(PROFILES["standard"])
    lrs = exps["rates"].notes["lrs"]
    grid = exps["rates"].specs
    variants = {s.name for name in ("sizes", "pooling", "width") for s in exps[name].specs}
    assert {s.name.rsplit("_lr", 1)[0] for s in grid} == variants and len(grid) == len(variants) * len(lrs)
    # each variant's best rate is a different rate of the grid
    best = {v: lrs[i % len(lrs)] for i, v in enumerate(sorted(variants))}
    runs = [grid_run(f"{v}_lr{lr:g}", 0.9 if lr == best[v] else 0.8) for v in variants for lr in lrs]
    for name in ("sizes", "pooling", "width", "pilot"):
        for spec in exps[name].given(runs).specs:
            variant = spec.name if spec.name in variants else spec.name.rsplit("_e", 1)[0]
            assert spec.train["lr"] == best[variant], spec.name


def test_pooling_and_width_read_the_size_sweeps_reference_runs() -> None:
    exps = ch03.experiments(PROFILES["standard"])
    base = exps["sizes"].notes["base"]
    assert base == f"max_{exps['sizes'].notes['pool_size']}px"
    ref = {name: next(s for s in exps[name].specs if s.name == base) for name in ("sizes", "pooling", "width")}
    specs = [(s.model, s.model_kwargs, store.describe(s.train)) for s in ref.values()]
    assert specs[0] == specs[1] == specs[2]  # the same spec: the same stored runs
    assert set(exps["pooling"].against.values()) == {base} and exps["width"].against == {"wide384_64px": base}
    assert exps["sizes"].against == {"max_48px": "max_32px", "max_64px": "max_32px"}


def test_standard_follows_the_protocol_and_records_per_batch_accuracies() -> None:
    exps = ch03.experiments(PROFILES["standard"])
    for name in ("sizes", "pooling", "width"):
        e = exps[name]
        assert e.question and e.seeds == protocol.FIRST_SEEDS and e.more_seeds == protocol.MORE_SEEDS
        assert e.common["scheduler"] == "cosine" and e.common["data_kwargs"]["val_size"] == protocol.VAL_SIZE
        assert e.common["data_kwargs"]["paired_augment"] and e.common["step_metrics"]
    piloted = exps["pilot"].notes["epochs"]
    assert set(piloted) == {"max_32px", "max_64px", "wide384_64px"}
    assert sorted(s.train["epochs"] for s in exps["pilot"].specs) == [10, 10, 10, 30, 30, 30]
    probes = {s.name for s in exps["timing"].specs}
    assert "timing_max_64px_alexnet_width" in probes and len(probes) == 7


def test_smoke_fits_the_hand_made_cifar10_and_a_bad_pool_size_is_refused() -> None:
    notes = ch03.experiments(PROFILES["smoke"])["sizes"].notes
    assert notes["train_size"] + notes["val_size"] <= 150  # 5 × 30 images in tests/test_chapter03_cifar.py
    assert notes["test_size"] <= 80 and notes["batch_size"] <= notes["train_size"]
    with pytest.raises(ValueError, match="pool_size=50 must be one of sizes"):
        ch03.experiments(PROFILES["smoke"], pool_size=50)


def test_the_shifts_pad_by_a_twentieth_of_the_side() -> None:
    assert ch03.shift(64, 0.1).padding == 3 and ch03.shift(64, 0.1).size == 64
    assert ch03.shift(32, 0.1).padding == 2 and ch03.shift(8, 0.1).padding == 1


def test_a_variant_whose_grid_all_died_trains_at_the_middle_rate() -> None:
    exps = ch03.experiments(PROFILES["standard"])
    lrs = exps["rates"].notes["lrs"]
    variants = [s.name.rsplit("_lr", 1)[0] for s in exps["rates"].specs]
    runs = [grid_run(f"{v}_lr{lr:g}", 0.9 if lr == lrs[0] else 0.8) for v in dict.fromkeys(variants) for lr in lrs]
    for r in runs:
        if r.run.startswith("strided"):
            r.failed = "stopped by the stall guard"
    rates = {s.name: s.train["lr"] for s in exps["pooling"].given(runs).specs}
    assert rates["strided_64px"] == sorted(lrs)[len(lrs) // 2] != lrs[0]
    assert rates["max_64px"] == rates["conv1x1_64px"] == lrs[0]
