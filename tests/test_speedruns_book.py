"""The book's view of the speed-run JSON (alexnet_course.course.speedruns, benchmarks.report):
which files count, the median course over seeds, the ablation's ratios and the sentences."""

import json

import pandas as pd
import pytest

from alexnet_course.course import speedruns
from alexnet_course.speedrun import SpeedrunSettings
from benchmarks import report


def seed(n, evals, reached_at=None, final=None):
    return {"seed": n, "reached": reached_at is not None, "seconds_to_target": reached_at,
            "final_acc": final if final is not None else evals[-1][2],
            "evals": [{"step": s, "epoch": s / 10, "seconds": t, "acc": a} for s, t, a in evals]}


def recipe(target=0.9, split="test", seeds=None, within=2, n=3):
    seeds = seeds or [seed(0, [(15, 10.0, 0.89), (20, 14.0, 0.905)], 14.0),
                      seed(1, [(15, 11.0, 0.90), (20, 15.0, 0.91)], 11.0),
                      seed(2, [(15, 12.0, 0.88), (20, 16.0, 0.895)])]
    return {"benchmark": "speedrun", "split": split, "hardware": {"device": "cpu", "cpu": "Test CPU", "cpu_count": 2,
                                         "torch_threads": 2, "torch": "2.x",
                                         "date": "2026-12-06 00:00 UTC", "commit": "abc1234"},
            "settings": SpeedrunSettings(target=target).to_dict(), "seeds": seeds,
            "summary": {"target": target, "n": n, "reached": 2, "median_s": 14.0, "min_s": 11.0,
                        "max_s": 14.0, "within_budget": within, "budget_s": 30.0, "meets": False,
                        "final_acc_median": 0.905, "final_acc_min": 0.895, "final_acc_max": 0.91}}


def ablation():
    def row(name, in_recipe, median):
        return {"name": name, "change": name, "in_recipe": in_recipe, "seeds": [],
                "summary": {"n": 3, "reached": 0 if median is None else 3, "median_s": median}}
    return {"benchmark": "speedrun", "split": "test", "recipe": {"target": 0.9}, "time_limit_s": 300.0,
            "hardware": recipe()["hardware"],
            "rows": [row("homework", True, 200.0), row("device_data", True, 100.0),
                     row("residual", False, 150.0), row("sgd", True, 25.0)]}


def test_only_test_split_files_count_and_none_outside_a_checkout(tmp_path):
    (tmp_path / "speedrun_cpu_90.json").write_text(json.dumps(recipe()))
    (tmp_path / "speedrun_val_cpu_90.json").write_text(json.dumps(recipe(split="val")))
    (tmp_path / "speedrun_ablation_cpu_90.json").write_text(json.dumps(ablation()))
    (tmp_path / "speedrun_profile_cpu_90.json").write_text(json.dumps({"benchmark": "speedrun_profile"}))
    runs = speedruns.load_speedruns(tmp_path)
    assert sorted(runs) == ["speedrun_ablation_cpu_90", "speedrun_cpu_90"]
    assert list(speedruns.recipes(runs)) == ["speedrun_cpu_90"]
    assert list(speedruns.ablations(runs)) == ["speedrun_ablation_cpu_90"]
    assert speedruns.load_speedruns(tmp_path / "missing") == {}
    assert speedruns.speedrun_folder(tmp_path) is None  # no _toc.yml above it


def test_trajectory_is_the_median_over_the_seeds_that_got_there():
    seeds = [seed(0, [(10, 5.0, 0.8), (20, 9.0, 0.9)], 9.0),
             seed(1, [(10, 7.0, 0.7)])]  # stopped after its first evaluation
    t = speedruns.trajectory(seeds)
    assert t["step"].tolist() == [10, 20] and t["n"].tolist() == [2, 1]
    assert t.loc[0, "seconds"] == 6.0 and t.loc[0, "acc"] == pytest.approx(0.75)
    assert t.loc[1, "seconds"] == 9.0


def test_ablation_ratio_is_against_the_previous_carried_row():
    table = speedruns.to_frame(ablation()).set_index("step")
    assert pd.isna(table.loc["homework", "× previous"])
    assert table.loc["device_data", "× previous"] == 0.5
    assert table.loc["residual", "× previous"] == 1.5  # a side row: against device_data
    assert table.loc["sgd", "× previous"] == 0.25  # still against device_data, not residual


def test_frontier_sentence_comes_from_the_json():
    runs = {"speedrun_cpu_90": recipe(), "speedrun_ablation_cpu_90": ablation()}
    variants = pd.DataFrame({"test acc": [0.85, 0.87], "training s": [70.0, 50.0]}, index=["a", "b"])
    text = speedruns.frontier_answer(runs, variants)
    assert "to 0.90 in a median of 14.0 s (range 11.0 s to 14.0 s; 2 of 3 seeds reached it; " \
           "2 of 3 within 30 s)" in text
    assert "a median of 200.0 s (3 of 3 seeds reached it)" in text and "Test CPU" in text
    assert "reached 0.870 after 50 s of training alone" in text
    assert "no frontier" in speedruns.frontier_answer({})
    fig = speedruns.plot_frontier(runs, variants, threshold=0.85)
    assert len(fig.axes[0].lines) >= 2


def test_report_names_missing_and_unmet_targets(tmp_path):
    assert "not measured" in report.speedrun_target_rows(tmp_path)[0][2]
    (tmp_path / "speedrun_cpu_90.json").write_text(json.dumps(recipe(within=2, n=3)))
    row = report.speedrun_target_rows(tmp_path)[0]
    assert row[2].startswith("2 of 3 within; median 14.0 s (11.0–14.0)") and row[3] == "**not met**"
    section = report.speedrun_section(tmp_path)
    assert "**Recipe for 0.90**" in section and "|         14 |" in section
    assert "residual blocks after stages (2, 3), batch norm; SGD with Nesterov momentum 0.9" in section
    killed = {**ablation(), "complete": False, "planned_rows": ["homework", "device_data", "residual",
                                                                "sgd", "tta"]}
    (tmp_path / "speedrun_ablation_cpu_90.json").write_text(json.dumps(killed))
    section = report.speedrun_section(tmp_path)
    assert "**incomplete: the run was stopped**" in section and "Rows not run: tta." in section
