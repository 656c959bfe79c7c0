"""The dry run of the GPU edition: full-profile choices, tiny runs, real-scale records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from alexnet_course.course import ablations, chapter
from alexnet_course.course.ablations import Spec
from alexnet_course.course.dryrun import FirstBatches
from alexnet_course.course.profiles import PROFILES, resolve_profile
from alexnet_course.data import load_fashion_mnist
from tools.book.estimates import MEMORY_LIMIT_GIB, command_estimates, estimate_rows


def test_dryrun_picks_the_full_values_and_keeps_other_profiles_reprs():
    dry = resolve_profile("dryrun")
    assert dry.dry_run and not dry.measures and dry.pick(smoke=1, full=224) == 224
    with pytest.raises(ValueError, match="no value given for profile 'full' \\(which dryrun follows\\)"):
        dry.pick(smoke=1, standard=2)
    # the book driver records repr(profile): the class-level switches must not show in it
    assert "dry_run" not in repr(PROFILES["standard"]) and PROFILES["standard"].measures
    assert not PROFILES["smoke"].measures


def test_dry_run_results_never_go_to_the_books_results(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_RESULTS_DIR", raising=False)
    (tmp_path / "_toc.yml").write_text("format: jb-book\n")
    monkeypatch.chdir(tmp_path)
    assert chapter.results_root(resolve_profile("dryrun")) == tmp_path / "_build" / "dryrun-results"


def test_first_batches_cuts_every_pass():
    train, _ = load_fashion_mnist(8, train_size=64, test_size=16, device="cpu")
    cut = FirstBatches(train, 2)
    assert len(cut) == 2 and cut.num_examples == 16 and cut.batch_size == 8
    assert [len(y) for _, y in cut] == [8, 8] and len(list(cut)) == 2  # again next epoch
    with pytest.raises(ValueError, match="at least 1 batch"):
        FirstBatches(train, 0)


def test_a_dry_run_trains_tiny_and_records_the_real_run(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RESULTS_DIR", str(tmp_path))
    ch = chapter.Chapter(name="09_dry", profile=resolve_profile("dryrun"),
                         device=torch.device("cpu"), seed=0)
    spec = Spec(name="lenet", change="LeNet", model="lenet")
    runs = ablations.run_specs(ch, [spec], seeds=3, epochs=10, lr=0.1, batch_size=128,
                               train_size=1000, test_size=500)
    assert len(runs) == 2  # at most two of the three seeds run
    h, row = runs[0].history, runs[0].row
    assert len(h) == 2 and h.records[0]["examples"] == 2 * 4  # two epochs of two batches of 4
    extra = row.extra
    assert extra["full batch"] == 128 and extra["full epochs"] == 10
    assert extra["full train examples"] == 1000 and extra["full eval examples"] == 500
    assert extra["full seeds"] == 3 and 0 < extra["full memory MiB"] < 100
    table = estimate_rows(tmp_path)
    assert sorted(table["run"]) == ["lenet", "lenet-s1"] and table["runs like it"].iloc[0] == 1.5
    assert (table["minutes"] > 0).all() and (table["memory GiB"] < MEMORY_LIMIT_GIB).all()
    assert command_estimates(tmp_path) == 0


def test_estimates_fail_over_the_memory_limit_and_without_results(tmp_path, capsys):
    assert command_estimates(tmp_path) == 1
    row = {"run": "huge", "model": "vgg", "input": "224×224", "GFLOPs": 7.6, "full batch": 4096,
           "full epochs": 10, "full train examples": 60000, "full eval examples": 10000,
           "full memory MiB": 200 * 1024}
    (tmp_path / "04_vgg").mkdir()
    (tmp_path / "04_vgg" / "huge.json").write_text(json.dumps({"row": row}))
    assert command_estimates(tmp_path) == 1
    assert "over 80 GiB: 04_vgg/huge (201 GiB)" in capsys.readouterr().out


def test_the_time_model_is_launch_bound_for_small_networks_and_flop_bound_for_large():
    from tools.book import estimates as est

    # LeNet-sized: every step costs the eager floor, so 4× the batch is ~4× faster
    small = [est.run_seconds(0.001, b, 1, 60000, 10000) - est.RUN_SETUP_S for b in (128, 512)]
    assert small[0] == pytest.approx(469 * est.TRAIN_STEP_S + 79 * est.EVAL_STEP_S)
    assert small[0] / small[1] > 3.5
    # AlexNet at 224 px: FLOP-bound, the batch barely matters
    big = [est.run_seconds(1.9, b, 1, 60000, 10000) for b in (128, 512)]
    assert 0.9 < big[0] / big[1] < 1.2
    assert big[0] > 60000 * 3 * 1.9e9 / (est.PEAK_TFLOPS * 1e12 * est.UTILISATION)
    # a deep network launches more kernels a step than the floor allows for
    deep = est.run_seconds(0.001, 128, 1, 60000, 10000, modules=130) - est.RUN_SETUP_S
    assert deep == pytest.approx(469 * 130 * est.TRAIN_PER_MODULE_S + 79 * 130 * est.EVAL_PER_MODULE_S)
    assert est.leaf_modules({"meta": {"model_name": "lenet", "model_kwargs": {},
                                      "image_shape": [1, 28, 28]}}) > 5
    assert est.leaf_modules({"meta": {"model_name": "MyNet", "model_kwargs": {}}}) == 0  # a factory
