"""The conclusive protocol (alexnet_course.course.protocol) and what builds on it: the
recipe, the rate grid, the epoch pilot, paired verdicts and verdicts.json; paired
augmentation draws in the loader; per-variant tuning, the second stage and a chapter's
verdict records in alexnet_course.chapters; twin runs in the store; and a fill of chapter 01
writing its verdicts. Runs are tiny fake results (no training) except in the twin test."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from alexnet_course.augment import Compose, RandomCrop, RandomHorizontalFlip
from alexnet_course.chapters import (Experiment, chapter_pilots, chapter_verdicts, second_stage, train,
                                     write_chapter_verdicts)
from alexnet_course.course import protocol, store
from alexnet_course.course.ablations import Spec
from alexnet_course.course.experiments import RunResult
from alexnet_course.course.profiles import PROFILES
from alexnet_course.data import DataArgumentError, DeviceLoader
from alexnet_course.train import History

from run_fakes import AGAINST, REF, SAME, UNSURE, UP, fake_run, seeded, three_way


# --- protocol: recipe, rate grid, pilot ---------------------------------------------------

def test_recipe_decays_to_zero_holds_out_validation_and_pairs_augmentation() -> None:
    kw = protocol.recipe(10, optimizer="adam", lr=1e-3, train_size=1024)
    assert kw == {"epochs": 10, "scheduler": "cosine", "optimizer": "adam", "lr": 1e-3,
                  "train_size": 1024,
                  "data_kwargs": {"val_size": protocol.VAL_SIZE, "paired_augment": True}}
    assert protocol.VAL_SIZE == 5000
    mine = {"val_size": 64, "dataset_root": "x"}
    smoke = protocol.recipe(2, data_kwargs=mine)
    assert smoke["data_kwargs"] == {"val_size": 64, "paired_augment": True, "dataset_root": "x"}
    assert mine == {"val_size": 64, "dataset_root": "x"}  # the caller's dict is not changed


def test_rate_specs_name_each_spec_at_each_rate() -> None:
    a = Spec("a", "base", "lenet", {"activation": "relu"}, train={"batch_size": 64})
    grid = protocol.rate_specs([a, Spec("b", "other", "alexnet_28")], [5e-4, 1e-3, 4e-3])
    assert [s.name for s in grid] == ["a_lr0.0005", "a_lr0.001", "a_lr0.004",
                                      "b_lr0.0005", "b_lr0.001", "b_lr0.004"]
    assert [s.train.get("lr") for s in grid] == [5e-4, 1e-3, 4e-3] * 2
    assert grid[0].train == {"batch_size": 64, "lr": 5e-4}
    assert grid[0].model_kwargs == {"activation": "relu"} and grid[0].change == "base, lr 0.0005"
    assert a.name == "a" and a.train == {"batch_size": 64}  # the declared spec is unchanged


def test_best_rate_is_chosen_by_last_epoch_validation_ignoring_failed_runs() -> None:
    lrs = [5e-4, 1e-3, 2e-3, 4e-3]
    runs = [
        fake_run("a_lr0.0005", 0.9, val=[0.95, 0.80]),   # best epoch, but not the last
        fake_run("a_lr0.001", 0.9, val=[0.70, 0.85]),    # the best last epoch
        fake_run("a_lr0.002", 0.9, val=[0.99], failed="stopped: loss diverged"),
        fake_run("a_lr0.004", 0.9, val=[0.97], at_chance=True),  # ended at chance
    ]
    assert protocol.best_rates({"v1": "a", "v2": "a"}, lrs, runs) == {
        "v1": {"lr": 1e-3}, "v2": {"lr": 1e-3}}
    assert runs[3].failed and runs[3].failed.startswith("ended at chance")
    table = protocol.rate_table({"v1": "a"}, lrs, runs)
    assert list(table.columns) == ["lr 0.0005", "lr 0.001", "lr 0.002", "lr 0.004"]
    assert table.loc["a", "lr 0.001"] == 0.85 and math.isnan(table.loc["a", "lr 0.002"])
    dead = [fake_run("b_lr0.001", 0.9, failed="stopped"), fake_run("b_lr0.002", 0.1, at_chance=True)]
    with pytest.raises(ValueError, match=r"every grid run of 'b' failed.*'w'"):
        protocol.best_rates({"w": "b"}, [1e-3, 2e-3], dead)
    dead.append(fake_run("b_lr0.004", 0.9, failed="stopped"))
    assert protocol.best_rates({"w": "b"}, [1e-3, 2e-3, 4e-3], dead, all_dead="middle") == {"w": {"lr": 2e-3}}


def test_pilot_trains_half_and_one_and_a_half_times_the_epochs() -> None:
    assert protocol.pilot_epochs(10) == [5, 10, 15]
    assert protocol.pilot_epochs(2) == [1, 2, 3] and protocol.pilot_epochs(1)[0] == 1
    specs = protocol.pilot_specs([Spec("a", "A", "lenet", train={"lr": 2e-3})], 10)
    assert [s.name for s in specs] == ["a_e5", "a_e15"]  # the E-epoch run is seed 0's own
    assert [s.train for s in specs] == [{"lr": 2e-3, "epochs": 5}, {"lr": 2e-3, "epochs": 15}]


def test_pilot_table_says_converged_only_within_the_tolerance() -> None:
    tol = protocol.PILOT_TOLERANCE
    runs = [fake_run("a_e5", 0, val=0.80), fake_run("a", 0, val=0.850),
            fake_run("a_e15", 0, val=0.850 + tol / 2),
            fake_run("b_e5", 0, val=0.70), fake_run("b", 0, val=0.800),
            fake_run("b_e15", 0, val=0.800 + 2 * tol)]
    table = protocol.pilot_table({"a": 10, "b": 10}, runs)
    assert table["converged"].to_dict() == {"a": True, "b": False}
    assert table.loc["b", "1.5 E − E (points)"] == pytest.approx(100 * 2 * tol)
    assert table.loc["a", "val acc at E / 2"] == 0.80


def test_a_spec_with_its_own_epochs_is_piloted_around_them() -> None:
    specs = [Spec("long", "x", "lenet", train={"epochs": 20}), Spec("short", "y", "lenet")]
    assert [s.name for s in protocol.pilot_specs(specs, 10)] == ["long_e10", "long_e30",
                                                                  "short_e5", "short_e15"]


# --- protocol: paired verdicts ---------------------------------------------------------------

def test_compare_gives_direction_equivalence_or_undecided_on_paired_seeds() -> None:
    c = protocol.compare(three_way(), AGAINST)
    assert c["up"].verdict == "up higher" and c["up"].n == 5
    assert c["same"].verdict == f"equivalent within ±{protocol.MARGIN:g}" == "equivalent within ±0.01"
    assert c["unsure"].verdict.startswith("undecided") and "n = 5" in c["unsure"].verdict
    assert [c[v].settled for v in AGAINST] == [True, True, False]
    assert c["up"].diff == pytest.approx(0.02)
    # paired with the wrong seeds, the seed-to-seed spread (±4 points) hides the +2 points:
    # the verdict comes from pairing seed k with seed k
    shuffled = seeded("up", UP[::-1]) + seeded("ref", REF)
    assert not protocol.compare(shuffled, {"up": "ref"})["up"].decided


def test_compare_drops_the_pair_of_a_failed_or_at_chance_run() -> None:
    runs = seeded("ref", REF) + seeded("up", UP)
    runs[1] = fake_run("ref-s1", REF[1], variant="ref", seed=1, at_chance=True)
    runs[7].failed, runs[7].row.failed = "stopped", True  # up, seed 2
    c = protocol.compare(runs, {"up": "ref"})["up"]
    assert c.n == 3 and c.verdict == "up higher"
    assert runs[1].failed.startswith("ended at chance")


def test_answer_says_each_comparison_once_a_small_direction_with_its_direction() -> None:
    small = [a + d for a, d in zip(REF, [0.004, 0.005, 0.003, 0.004, 0.004])]  # +0.4, tight
    runs = three_way() + seeded("small", small)
    c = protocol.compare(runs, {**AGAINST, "small": "ref"})
    assert c["small"].decided and c["small"].equivalent  # both tests pass for it
    text = protocol.answer(c, {"up": "UP", "same": "SAME", "unsure": "UNSURE", "small": "SMALL"})
    assert [text.count(k) for k in ("UP", "SAME", "UNSURE", "SMALL")] == [1, 1, 1, 1]
    raised, rest = text.split("Equivalent within")
    assert "SMALL (+0.4 points" in raised and "a direction within ±1 point" in raised
    assert "SAME" in rest and "UNSURE" in rest.split("Undecided")[1]


def test_summary_says_which_row_is_the_reference_and_leaves_no_cell_empty() -> None:
    runs = three_way()
    table = protocol.summary(runs, protocol.compare(runs, AGAINST))
    assert not table.isna().any().any()
    assert table.loc["ref", "verdict"] == "the reference" and table.loc["ref", "Δ (points)"] == "—"
    assert table.loc["up", "Δ (points)"] == "+2.00" and table.loc["up", "pairs"] == 5


def test_to_extend_takes_both_sides_of_unsettled_comparisons_only() -> None:
    c = protocol.compare(three_way(), AGAINST)
    assert protocol.to_extend(c) == {"unsure", "ref"}
    assert protocol.to_extend({v: c[v] for v in ("up", "same")}) == set()


def test_verdict_records_are_in_points_with_why_wide_where_given() -> None:
    c = protocol.compare(three_way(), AGAINST)
    records = protocol.verdict_records("Q1a", c, why_wide={"unsure": "noisy at 5 seeds"})
    assert [r["comparison"] for r in records] == ["up vs ref", "same vs ref", "unsure vs ref"]
    up = records[0]
    assert set(protocol.VERDICT_FIELDS) <= set(up)
    assert up["question"] == "Q1a" and up["metric"] == "last test acc" and up["n"] == 5
    assert up["difference"] == pytest.approx(2.0, abs=1e-3)
    assert up["interval"] == [pytest.approx(100 * c["up"].low, abs=1e-3),
                              pytest.approx(100 * c["up"].high, abs=1e-3)]
    assert 0 < up["interval"][0] < 2 < up["interval"][1] < 4
    assert up["verdict"] == "up higher" and up["settled"] is True
    assert "why_wide" not in up and records[2]["why_wide"] == "noisy at 5 seeds"
    assert records[2]["settled"] is False


def test_an_undecidable_comparison_is_recorded_without_nan() -> None:
    runs = seeded("ref", REF[:1]) + seeded("up", UP[:1])  # one pair: no interval
    (record,) = protocol.verdict_records("Q", protocol.compare(runs, {"up": "ref"}))
    assert record["interval"] == [None, None] and record["n"] == 1
    assert record["verdict"].startswith("not decidable")
    json.dumps(record, allow_nan=False)  # valid JSON, no NaN
    assert protocol.tally([record])["undecided"] == 1
    dead = seeded("ref", REF[:2]) + seeded("up", UP[:2], at_chance=True)  # every pair drops out
    said = protocol.answer(protocol.compare(dead, {"up": "ref"}), {"up": "the change"})
    assert said == "Not decidable: the change (no finished pair, n = 0)."
    both = protocol.compare(three_way() + seeded("gone", REF[:2], at_chance=True), {**AGAINST, "gone": "ref"})
    text = protocol.answer(both, {"unsure": "UNSURE", "gone": "GONE"})
    assert "UNSURE" in text.split("Undecided: ")[1].split("Not decidable")[0]
    assert "GONE" in text.split("Not decidable: ")[1] and "GONE" not in text.split("Not decidable")[0]


def test_write_verdicts_refuses_incomplete_records_and_writes_atomically(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert protocol.read_verdicts(tmp_path) == []
    records = protocol.verdict_records("Q1a", protocol.compare(three_way(), AGAINST))
    path = protocol.write_verdicts(tmp_path, records)
    assert path == tmp_path / protocol.VERDICTS
    assert json.loads(path.read_text())["margin_points"] == 1.0
    assert protocol.read_verdicts(tmp_path) == json.loads(json.dumps(records))
    lacking = {k: v for k, v in records[0].items() if k != "interval"}
    with pytest.raises(ValueError, match="lacks interval"):
        protocol.write_verdicts(tmp_path, [records[1], lacking])
    assert protocol.read_verdicts(tmp_path) == json.loads(json.dumps(records))  # untouched

    def killed(*args):
        raise OSError("killed mid-write")

    monkeypatch.setattr(store.os, "replace", killed)
    with pytest.raises(OSError):
        protocol.write_verdicts(tmp_path, records[:1])
    assert len(protocol.read_verdicts(tmp_path)) == 3  # the previous file, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == [protocol.VERDICTS]  # no temp left


def test_tally_counts_verdicts_and_wide_intervals_without_a_reason() -> None:
    def rec(verdict, interval, **kw):
        return {"verdict": verdict, "interval": interval, **kw}

    records = [rec("up higher", [0.5, 3.5]),                          # half-width 1.5
               rec("ref higher", [-3.5, -0.5], why_wide="few seeds"),  # explained
               rec("equivalent within ±0.01", [-0.4, 0.6]),
               rec("undecided with n = 5 paired runs", [-1.0, 1.0]),   # half-width exactly 1
               rec("not decidable: fewer than 2 pairs of a and b", [None, None])]
    assert protocol.tally(records) == {"comparisons": 5, "higher": 2, "equivalent": 1,
                                       "undecided": 2, "wide unexplained": 1}
    assert protocol.tally([]) == {"comparisons": 0, "higher": 0, "equivalent": 0,
                                  "undecided": 0, "wide unexplained": 0}


# --- data: paired augmentation draws --------------------------------------------------------

def _augment() -> Compose:
    return Compose(RandomCrop(28, padding=2), RandomHorizontalFlip())


def _loader(images, labels, *, seed=3, shuffle=True, **kw) -> DeviceLoader:
    return DeviceLoader(images, labels, 32, shuffle=shuffle, transform=_augment(),
                        device="cpu", seed=seed, **kw)


@pytest.fixture
def tensors() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return (torch.randint(0, 256, (96, 1, 28, 28), dtype=torch.uint8, generator=g),
            torch.randint(0, 10, (96,), generator=g))


def _epoch(loader: DeviceLoader) -> list[torch.Tensor]:
    return [x for x, _ in loader]


def test_paired_augmentation_ignores_torchs_global_stream(tensors) -> None:
    one, two = _loader(*tensors, paired_augment=True), _loader(*tensors, paired_augment=True)
    torch.manual_seed(0)
    first = _epoch(one)
    torch.manual_seed(0)
    torch.rand(1000)  # another network's initialisation or dropout drew these
    second = _epoch(two)
    assert all(torch.equal(a, b) for a, b in zip(first, second)) and len(first) == 3
    state = torch.get_rng_state()
    later = _epoch(one)  # epoch 1: new draws, still from (seed, epoch) alone
    assert torch.equal(torch.get_rng_state(), state)  # the global stream is not drawn from
    assert all(torch.equal(a, b) for a, b in zip(later, _epoch(two)))
    assert not torch.equal(later[0], first[0])
    # unshuffled: same images in the same order, so only the draws can differ by seed
    s3, s4 = (_epoch(_loader(*tensors, seed=s, shuffle=False, paired_augment=True))
              for s in (3, 4))
    assert not torch.equal(s3[0], s4[0])


def test_unpaired_augmentation_follows_torchs_global_stream(tensors) -> None:
    one, two = _loader(*tensors), _loader(*tensors)
    torch.manual_seed(0)
    first = _epoch(one)
    torch.manual_seed(0)
    torch.rand(1000)
    second = _epoch(two)
    assert not torch.equal(first[0], second[0])


def test_paired_augmentation_refuses_a_transform_without_a_generator(tensors) -> None:
    def brighten(x):
        return x * 1.1

    with pytest.raises(DataArgumentError, match="paired_augment=True needs a transform that takes generator="):
        DeviceLoader(*tensors, 32, transform=brighten, device="cpu", paired_augment=True)
    DeviceLoader(*tensors, 32, transform=brighten, device="cpu")  # unpaired: fine
    DeviceLoader(*tensors, 32, device="cpu", paired_augment=True)  # nothing to draw: fine


# --- chapters: tuning per variant, second stage, verdict records ----------------------------

def test_given_applies_tuned_keywords_per_variant_and_refuses_unknown_names() -> None:
    specs = [Spec("a", "A", "lenet", train={"batch_size": 64}), Spec("b", "B", "lenet")]
    seen = []

    def tune(runs):
        seen.append(runs)
        return {"a": {"lr": 2e-3}}

    exp = Experiment(specs, 1, {"epochs": 1, "lr": 1e-3}, after="rates", tune=tune)
    assert exp.waits
    ready = exp.given(["grid runs"])
    assert seen == [["grid runs"]] and not ready.waits and ready.after is None
    assert ready.specs[0].train == {"batch_size": 64, "lr": 2e-3}
    assert ready.specs[1].train == {} and ready.common == {"epochs": 1, "lr": 1e-3}
    assert specs[0].train == {"batch_size": 64}  # the declaration is unchanged
    typo = Experiment(specs, 1, {}, after="rates", tune=lambda runs: {"a": {}, "c": {"lr": 1}})
    with pytest.raises(ValueError, match="tune\\(\\) named variants this experiment lacks: c"):
        typo.given([])


def test_second_stage_extends_both_sides_of_undecided_comparisons() -> None:
    specs = [Spec(v, v, "lenet") for v in ("ref", "up", "same", "unsure")]
    exp = Experiment(specs, 5, {}, AGAINST, question="Q", more_seeds=10)
    assert second_stage(exp, three_way()) == {"unsure", "ref"}
    assert second_stage(Experiment(specs, 5, {}, AGAINST, question="Q"), three_way()) == set()
    # a variant without runs (not asked for) leaves its comparison out
    partial = [r for r in three_way() if r.row.extra["variant"] != "unsure"]
    assert second_stage(exp, partial) == set()


def test_train_gives_the_undecided_variants_more_seeds(monkeypatch: pytest.MonkeyPatch) -> None:
    import alexnet_course.course.ablations as ablations

    calls = []

    def run_specs(ch, specs, *, seeds, **common):
        calls.append(([s.name for s in specs], seeds))
        made = {"ref": REF, "up": UP, "same": SAME, "unsure": UNSURE}
        return [r for s in specs for r in seeded(s.name, (made[s.name] * 2)[:seeds])]

    monkeypatch.setattr(ablations, "run_specs", run_specs)
    specs = [Spec(v, v, "lenet") for v in ("ref", "up", "same", "unsure")]
    exp = Experiment(specs, 5, {}, AGAINST, question="Q", more_seeds=10)
    runs = train(SimpleNamespace(profile=PROFILES["smoke"]), exp)
    assert calls == [(["ref", "up", "same", "unsure"], 5), (["ref", "unsure"], 10)]
    counts = {v: sum(r.row.extra["variant"] == v for r in runs) for v in ("ref", "up", "same", "unsure")}
    assert counts == {"ref": 10, "up": 5, "same": 5, "unsure": 10}
    calls.clear()
    train(SimpleNamespace(profile=PROFILES["dryrun"]), exp)  # a dry run has no second stage
    assert len(calls) == 1


def test_chapter_verdicts_cover_experiments_with_a_question_and_comparisons() -> None:
    specs = [Spec(v, v, "lenet") for v in ("ref", "up", "same", "unsure")]
    exps = {"grid": Experiment(specs, 5, {}, {"up": "ref"}),  # no question: no record
            "q1": Experiment(specs, 5, {}, AGAINST, question="Q1"),
            "shown": Experiment(specs, 5, {}, question="Q2"),  # nothing compared
            "q3": Experiment(specs, 5, {}, {"same": "ref"}, question="Q3")}
    runs = {name: three_way() for name in exps}
    records = chapter_verdicts(exps, runs)
    assert [(r["question"], r["comparison"]) for r in records] == [
        ("Q1", "up vs ref"), ("Q1", "same vs ref"), ("Q1", "unsure vs ref"), ("Q3", "same vs ref")]
    assert records[0]["verdict"] == "up higher"
    assert chapter_verdicts(exps, {}) == []  # no runs yet: no records


def test_chapter_pilots_record_each_piloted_variant_with_its_verdict() -> None:
    tol = protocol.PILOT_TOLERANCE
    pilot = [fake_run("a_e5", 0, val=0.80), fake_run("a_e15", 0, val=0.850 + 2 * tol)]
    exps = {"grid": Experiment([Spec("a", "a", "lenet")], 1, {}),
            "pilot": Experiment([], 1, {}, notes={"epochs": {"a": 10}})}
    records = chapter_pilots(exps, {"grid": [fake_run("a", 0, val=0.850)], "pilot": pilot})
    assert records == [{"variant": "a", "epochs": 10, "val_acc": [0.8, 0.85, round(0.85 + 2 * tol, 5)],
                        "moved_points": pytest.approx(100 * 2 * tol), "converged": False}]
    json.dumps(records)  # what verdicts.json stores
    assert chapter_pilots(exps, {"grid": []}) == []  # the pilot not run yet: nothing to record
    assert chapter_pilots({"grid": exps["grid"]}, {"grid": pilot}) == []  # a chapter without one


def test_a_chapters_verdicts_are_written_with_its_pilot(tmp_path: Path) -> None:
    # the pages and the fill share one writer: a page once rewrote verdicts.json without the pilot
    specs = [Spec("a", "a", "lenet"), Spec("b", "b", "lenet")]
    exps = {"grid": Experiment(specs, 5, {}, {"b": "a"}, question="Q"),
            "pilot": Experiment([], 1, {}, notes={"epochs": {"a": 10}})}
    runs = {"grid": seeded("a", REF) + seeded("b", UP),
            "pilot": [fake_run("a_e5", 0, val=0.80), fake_run("a_e15", 0, val=0.81)]}
    records = write_chapter_verdicts(tmp_path, exps, runs)
    assert [r["verdict"] for r in records] == ["b higher"]
    assert [p["variant"] for p in protocol.read_pilots(tmp_path)] == ["a"]
    assert write_chapter_verdicts(tmp_path / "none", {"pilot": exps["pilot"]}, runs) == []
    assert not (tmp_path / "none").exists()  # no comparison: nothing written


# --- run.py: a fill writes the chapter's verdicts -------------------------------------------

def fake_fit(net, train_iter, test_iter, *, epochs, lr, device=None, val_iter=None,
             checkpoint=None, progress=None, log=None, **recipe) -> History:
    """``fit`` without training: the recipe is still checked, accuracies are drawn from
    torch's stream (which train_run seeds by the run's seed)."""
    from alexnet_course.settings import TrainSettings

    TrainSettings(epochs=epochs, lr=lr, **recipe)
    probe = recipe.get("guard") is False  # a timing probe: evaluated on the test set alone
    assert (val_iter is None) == probe  # the protocol's runs hold out a validation split
    acc = 0.6 + 0.3 * float(torch.rand(()))
    return History(records=[
        {"epoch": e + 1, "train_loss": 0.5, "train_acc": acc, "test_acc": acc,
         "val_acc": acc + 0.01 * e, "lr": lr, "examples": train_iter.num_examples,
         "train_seconds": 0.01, "seconds": 0.01, "examples_per_sec": 1e4}
        for e in range(epochs)])


def tiny_dataset(name: str, batch_size: int, resize: int | None = None, *,
                 val_size: int | None = None, paired_augment: bool = False, **kw):
    """``load_dataset`` on 8,000 + 8,000 random images: the loaders without the files."""
    from alexnet_course.data import _split_loaders

    assert name == "fashion_mnist"
    g = torch.Generator().manual_seed(0)

    def images(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        return (torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=g),
                torch.arange(n) % 10)

    return _split_loaders(images(8000), images(8000), batch_size, resize=resize,
                          val_size=val_size, paired_augment=paired_augment, **kw)


def test_a_fill_of_chapter_01_writes_its_verdicts_and_leaves_nothing_to_train(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """The whole declaration of chapter 01 planned, filled and judged (``fit`` and the data
    faked: the training itself is the canary's and the GPU edition's test)."""
    import re

    from alexnet_course import run
    from alexnet_course.chapters import lenet_to_alexnet
    from alexnet_course.course import experiments

    trained = []

    def counting_fit(*args, **kwargs):
        trained.append(1)
        return fake_fit(*args, **kwargs)

    monkeypatch.setattr(experiments, "fit", counting_fit)
    monkeypatch.setattr(experiments, "load_dataset", tiny_dataset)
    args = ["01", "--profile", "smoke", "--root", str(tmp_path), "--device", "cpu"]
    assert run.main(args) == 0
    out = capsys.readouterr().out
    total = int(re.search(r"0 of (\d+) runs stored; training \1", out).group(1))
    folder = tmp_path / "results" / "smoke" / lenet_to_alexnet.NAME
    stored = [json.loads(p.read_text()) for p in folder.glob("*.json") if p.name != protocol.VERDICTS]
    assert len(stored) == total and f"all {total} runs stored" in out
    twins = {r["run"]: r["same_as"] for r in stored if "same_as" in r}
    assert len(trained) + len(twins) == total  # each spec trained once
    for name in ("lenet", "lenet_relu", "deeper", "baseline"):  # seed 0 is its grid run at the chosen rate
        assert twins[name].startswith(f"{name}_lr")

    declared = lenet_to_alexnet.experiments(PROFILES["smoke"])
    asked = [(e.question, f"{v} vs {ref}") for e in declared.values() if e.question
             for v, ref in e.against.items()]
    records = protocol.read_verdicts(folder)
    assert [(r["question"], r["comparison"]) for r in records] == asked and asked
    for r in records:
        assert set(protocol.VERDICT_FIELDS) <= set(r) and r["metric"] == protocol.METRIC
        assert r["n"] == 1 and r["verdict"].startswith("not decidable")  # one seed in smoke
    assert f"{protocol.VERDICTS}: {len(asked)} comparisons" in out
    pilots = protocol.read_pilots(folder)
    assert [p["variant"] for p in pilots] == list(declared["pilot"].notes["epochs"]) and pilots

    assert run.main(args + ["--status"]) == 0
    status = capsys.readouterr().out
    assert f"{total} of {total} runs stored; nothing left to train" in status
    assert len(trained) + len(twins) == total  # --status trained nothing


def test_the_second_stage_is_planned_then_trained_for_undecided_comparisons_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``run --status`` says the second stage waits for the first; once the first is stored,
    it lists (and the fill trains) ``more_seeds`` seeds of both sides of the undecided
    comparison, and none of the decided one."""
    from dataclasses import replace as copy

    from alexnet_course import run
    from alexnet_course.chapters import train_all
    from alexnet_course.course import experiments
    from alexnet_course.course.chapter import Chapter

    def fit_by_rate(net, train_iter, test_iter, *, lr, **kw) -> History:
        history = fake_fit(net, train_iter, test_iter, lr=lr, **kw)  # draws 0.6 to 0.9
        if lr != 2e-3:  # the same accuracy for every seed: "up" is decidedly higher
            for r in history.records:
                r.update(test_acc=0.8 + lr, val_acc=0.8 + lr)
        return history

    monkeypatch.setattr(experiments, "fit", fit_by_rate)
    monkeypatch.setattr(experiments, "load_dataset", tiny_dataset)
    specs = [Spec(v, v, "alexnet_28", {"width": 1 / 16}, train={"lr": lr})
             for v, lr in (("ref", 1e-3), ("up", 5e-2), ("noisy", 2e-3))]
    common = dict(epochs=1, optimizer="adam", train_size=256, test_size=128,
                  data_kwargs={"val_size": 64}, progress=False, log=None)
    exps = {"e": Experiment(specs, 2, common, {"up": "ref", "noisy": "ref"}, question="Q",
                            more_seeds=3)}
    ch = Chapter(name="c", profile=PROFILES["smoke"], device=torch.device("cpu"), seed=0,
                 results=tmp_path)
    plan = copy(ch, plan_only=True)
    before = run.list_runs(plan, exps, None)
    assert [r for r, _ in before] == ["ref", "ref-s1", "up", "up-s1", "noisy", "noisy-s1",
                                      "Q: second stage"]
    assert "waits for the first stage" in before[-1][1]

    done = train_all(ch, exps)["e"]
    assert sorted(r.run for r in done) == sorted(
        ["ref", "ref-s1", "ref-s2", "up", "up-s1", "noisy", "noisy-s1", "noisy-s2"])
    after = run.list_runs(plan, exps, None)
    assert sorted(r for r, _ in after) == sorted(r.run for r in done)
    assert not any(why for _, why in after)
    up, noisy = protocol.verdict_records("Q", protocol.compare(done, exps["e"].against))
    assert up["verdict"] == "up higher" and up["n"] == 2
    assert noisy["n"] == 3 and not noisy["settled"]


# --- two measures of the same runs, dead runs, the paper's steps ---------------------------

def with_column(runs: list[RunResult], column: str, values: list[float]) -> list[RunResult]:
    for r, v in zip(runs, values):
        r.row.extra[column] = v
    return runs


def test_recipe_takes_the_papers_steps_instead_of_the_cosine() -> None:
    kw = protocol.recipe(10, scheduler="multistep", scheduler_kwargs={"fractions": (0.5, 0.75)})
    assert kw["scheduler"] == "multistep" and kw["scheduler_kwargs"] == {"fractions": (0.5, 0.75)}
    assert protocol.recipe(10)["scheduler"] == "cosine"


def test_compare_metrics_pairs_two_measures_of_the_same_runs() -> None:
    # ten-crop is +0.5 points on every net, while nets differ by ±4 points: only pairing
    # by run gives "equivalent"; +2 points on every net is a direction
    runs = with_column(seeded("recipe", REF), "ten-crop acc", [a + 0.005 for a in REF])
    same = protocol.compare_metrics(runs, "recipe", "ten-crop acc")
    assert same.equivalent and same.n == 5 and same.diff == pytest.approx(0.005)
    assert same.names == ("ten-crop acc", protocol.METRIC)
    up = protocol.compare_metrics(with_column(seeded("recipe", REF), "ten-crop acc", UP), "recipe",
                                  "ten-crop acc")
    assert up.verdict == "ten-crop acc higher" and up.settled
    runs[2].failed, runs[2].row.failed = "stopped", True
    assert protocol.compare_metrics(runs, "recipe", "ten-crop acc").n == 4  # its pair drops out
    with pytest.raises(ValueError, match="no runs of 'other'"):
        protocol.compare_metrics(runs, "other", "ten-crop acc")


def test_dead_runs_are_compared_by_fisher_only_with_eight_a_side() -> None:
    def runs(n_ref: int, n_var: int, dead_var: int) -> list[RunResult]:
        out = seeded("ref", [0.9] * n_ref) + seeded("var", [0.9] * n_var)
        for r in out[n_ref:n_ref + dead_var]:
            r.failed, r.row.failed = "stopped: stalled", True
        return out

    few = protocol.dead_counts(runs(5, 5, 4), "var", "ref")
    assert few["variant"] == {"name": "var", "runs": 5, "dead": 4} and few["reference"]["dead"] == 0
    assert few["p"] is None  # 4 of 5 against 0 of 5: counted, not claimed
    enough = protocol.dead_counts(runs(8, 8, 6), "var", "ref")
    assert protocol.FISHER_MIN == 8 and enough["p"] == pytest.approx(0.00699, abs=1e-4)
    assert protocol.dead_counts(runs(8, 8, 0), "var", "ref")["p"] == 1.0
    at_chance = seeded("ref", [0.9] * 2) + seeded("var", [0.9], at_chance=True)
    assert protocol.dead_counts(at_chance, "var", "ref")["variant"]["dead"] == 1  # labelled first


def test_same_run_comparisons_are_recorded_and_extended_like_the_others() -> None:
    specs = [Spec(v, v, "lenet") for v in ("ref", "up")]
    runs = seeded("ref", REF) + seeded("up", UP)
    with_column(runs[:5], "ten-crop acc", UNSURE)  # undecided against ref's own accuracy
    exp = Experiment(specs, 5, {}, {"up": "ref"}, question="Q", more_seeds=10,
                     same_runs={"ten-crop": ("ref", "ten-crop acc", protocol.METRIC)})
    records = chapter_verdicts({"e": exp}, {"e": runs})
    assert [r["comparison"] for r in records] == ["up vs ref", "ten-crop acc vs last test acc"]
    assert records[1]["metric"] == "ten-crop acc vs last test acc, same runs of ref"
    assert records[1]["verdict"] == "undecided" and records[1]["n"] == 5
    assert second_stage(exp, runs) == {"ref"}  # "up vs ref" is decided; ten-crop is not
    with_column(runs[:5], "ten-crop acc", SAME)
    assert second_stage(exp, runs) == set()


def test_a_fill_of_chapter_02_records_ten_crop_against_the_centre_crop(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chapter 02's declaration filled (``fit`` and the data faked): seed 0 of the recipe and of
    each activation is its grid run at the chosen rate, and verdicts.json holds every ablation
    row against the recipe, then ten-crop against the centre crop of the recipe's own runs."""
    from alexnet_course import run
    from alexnet_course.chapters import alexnet_paper
    from alexnet_course.course import experiments

    def fit(*args, step_metrics: bool = False, **kwargs) -> History:
        return fake_fit(*args, **kwargs)  # the race's per-batch accuracies are not faked

    monkeypatch.setattr(experiments, "fit", fit)
    monkeypatch.setattr(experiments, "load_dataset", tiny_dataset)
    assert run.main(["02", "--profile", "smoke", "--root", str(tmp_path), "--device", "cpu"]) == 0
    folder = tmp_path / "results" / "smoke" / alexnet_paper.NAME
    stored = {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")
              if p.name != protocol.VERDICTS}
    for name in ("ablation_recipe", "activation_relu", "activation_tanh"):
        assert stored[name]["same_as"].startswith(f"{name}_lr")
    assert {"ablation_recipe_e1", "ablation_recipe_e3"} <= set(stored)  # the pilot around E = 2
    assert "ten-crop acc" in stored["ablation_recipe"]["row"]  # the row's extra columns, stored flat
    ablation = alexnet_paper.experiments(PROFILES["smoke"])["ablation"]
    records = protocol.read_verdicts(folder)
    assert [r["comparison"] for r in records] == (
        [f"{v} vs ablation_recipe" for v in ablation.against] + ["ten-crop acc vs last test acc"])
    assert len(ablation.against) == 9 and "ablation_paper_init_scaled" in ablation.against
    assert records[-1]["metric"] == "ten-crop acc vs last test acc, same runs of ablation_recipe"
    assert all(r["question"] == ablation.question and r["n"] == 1 for r in records)
