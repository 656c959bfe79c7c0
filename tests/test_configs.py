"""The results page's configurations: seeds pooled, settings kept apart, dead runs left out."""

import math

import pandas as pd
import pytest

from alexnet_course.course import configs, summary


def _run(chapter, run, acc, *, profile="standard", variant=None, examples=60000, side=28,
         epochs=2, failed=None, dead=False):
    last = ({"train_loss": math.log(10), "train_acc": 0.1, "test_acc": 0.1} if dead else
            {"train_loss": 0.4, "train_acc": 0.85, "test_acc": acc})
    records = [{"epoch": e + 1, "lr": 0.1, "examples": examples, "train_seconds": 1.0, "seconds": 2.0,
                "examples_per_sec": 100.0, **last} for e in range(epochs)]
    row = {"run": run, "model": "nin", "input": f"{side}×{side}", "parameters": 1000, "GFLOPs": 0.01,
           "epochs": epochs, "train examples": examples, "seconds": 2.0 * epochs, "examples/sec": 100.0,
           "best test acc": last["test_acc"], "last test acc": last["test_acc"], "failed": failed is not None}
    if variant:
        row["variant"] = variant
    return {"run": run, "chapter": chapter, "profile": profile, "device_name": "CPU", "records": records,
            "failed": failed, "row": row, "_path": f"/r/{chapter}/{run}.json"}


def _frame(records):
    return summary.runs_frame(records)


def test_variant_is_the_row_s_or_the_run_name_without_its_seed_suffix():
    assert configs.variant_of(_run("c", "nin_fc-s2", 0.8)) == "nin_fc"
    assert configs.variant_of(_run("c", "k3-s1", 0.8, variant="k3")) == "k3"
    assert configs.variant_of(_run("c", "vgg11_84px", 0.8)) == "vgg11_84px"


def test_seeds_pool_into_one_configuration_and_dead_runs_stay_out():
    runs = _frame([_run("05", "gap", 0.80), _run("05", "gap-s1", 0.82), _run("05", "gap-s2", 0.84),
                   _run("05", "gap-s3", 0.1, dead=True), _run("05", "gap-s4", 0.5, failed="stalled")])
    assert runs["stopped"].tolist() == [False, False, False, True, True]
    assert runs["ended at chance"].tolist() == [False, False, False, True, False]
    c = configs.configurations(runs)
    assert len(c) == 1 and c.loc[0, "runs"] == 5 and c.loc[0, "stopped"] == 2 and c.loc[0, "n"] == 3
    assert c.loc[0, "test acc"] == pytest.approx(0.82)
    assert c.loc[0, "test acc (mean ± 95 %, n)"].endswith("(n = 3)")


def test_settings_keep_data_size_input_and_epochs_apart():
    runs = _frame([_run("03", "a", 0.8), _run("03", "a-s1", 0.8), _run("03", "b", 0.7, side=64),
                   _run("05", "c", 0.9, epochs=3), _run("05", "d", 0.6, examples=4000, profile="quick")])
    c = configs.configurations(runs)
    s = configs.settings(c)
    assert len(c) == 4 and len(s) == 4  # four settings, one configuration each
    best = configs.best_per_model(c)
    assert len(best) == 4  # one model, but never compared across settings


def test_editions_side_by_side_only_when_a_configuration_ran_in_two_profiles():
    one = configs.configurations(_frame([_run("05", "a", 0.8), _run("05", "a-s1", 0.82)]))
    assert configs.editions(one).empty
    both = configs.configurations(_frame([_run("05", "a", 0.8), _run("05", "a-s1", 0.82),
                                          _run("05", "a", 0.9, profile="full", side=224, epochs=5)]))
    wide = configs.editions(both)
    assert set(wide.columns.get_level_values(0)) == {"full", "standard"}
    assert wide.loc[("05", "a"), ("full", "setting")] == "224×224, 60,000 images, 5 epochs"


def test_empty_results_give_empty_tables():
    empty = configs.configurations(summary.runs_frame([]))
    assert empty.empty and configs.settings(empty).empty and configs.best_per_model(empty).empty
    assert isinstance(configs.editions(empty), pd.DataFrame)
