"""The normalisation `promote` compares two smoke runs with (tools/book/compare.py): what
differs between two identical runs is masked, every other number is kept."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tools.book.compare import (compare_notebooks, compare_results, is_volatile_key,
                                mask_volatile_columns, normalise_cell, normalise_json,
                                normalise_text)

from book_helpers import code, notebook, write


def fit_line(acc: str, seconds: str, rate: str) -> str:
    return (f"epoch 1/2, loss 2.357, train acc 0.095, test acc {acc}, {seconds} s, "
            f"{rate} examples/sec on cpu\n")


@pytest.mark.parametrize("a, b", [
    (fit_line("0.100", "0.3", "8647"), fit_line("0.100", "12.4", "170")),
    ("**run** 2026-11-24 06:15 UTC", "**run** 2025-01-02 23:59 UTC"),
    ("at 2025-01-02T10:00:00.123+00:00", "at 2026-12-31T01:02:03Z"),
    ("done 10:00:01", "done 09:59:59"),
    ("wall time 3 min 12 s", "wall time 2 min 59 s"),
    ("took 12 ms or 0.5 sec, 2 h", "took 3 ms or 10.25 sec, 1 h"),
    ("<Figure at 0x7f3a2b1c9d00>", "<Figure at 0x55d0c0ffee00>"),
    ("commit 464b410", "commit 9fe1c2d"),
    ("1.2it/s 30 images/s", "9.9it/s 3 images/s"),
    ("train: batch 1/4\rtrain: batch 3/4\r                \rnext\n",
     "train: batch 2/4\r                \rnext\n"),
    (" 45%|████▌     | 45/100 [00:01<00:02, 30.1it/s]\nok", "ok\n"),
    ('<table id="T_25412"><td id="T_25412_row0_col1">7</td>',
     '<table id="T_9ab3f"><td id="T_9ab3f_row0_col1">7</td>'),
    ("/tmp/x/alexnet_course/train.py:123: UserWarning", "/tmp/x/alexnet_course/train.py:130: "
     "UserWarning"),
    ('File "/a/before/alexnet_course/m.py", line 3', 'File "/a/after/alexnet_course/m.py", '
     "line 4"),
])
def test_normalise_text_masks_what_two_identical_runs_differ_in(a: str, b: str) -> None:
    replacements = {"/a/before": "<package>", "/a/after": "<package>"}
    assert normalise_text(a, replacements) == normalise_text(b, replacements)


@pytest.mark.parametrize("a, b", [
    (fit_line("0.100", "0.3", "8647"), fit_line("0.101", "0.3", "8647")),
    ("loss 2.357", "loss 2.358"),
    ("4 seeds, 3 epochs", "5 seeds, 3 epochs"),
    ("128×128 input, 61,706 parameters", "128×128 input, 61,707 parameters"),
    ("lr 0.01", "lr 0.1"),
    ("best: no_conv4", "best: no_fc7"),
    ("12 ms", "12 MiB"),
])
def test_normalise_text_keeps_every_other_number(a: str, b: str) -> None:
    assert normalise_text(a) != normalise_text(b)


def test_normalise_text_placeholders() -> None:
    text = normalise_text("0.3 s, 8647 examples/sec at 0x7f00aa11 on 2025-01-02 10:00 UTC, "
                          "commit 464b410\r\n\n", {"/root": "<root>"})
    assert text == "<time>, <rate> at 0x<addr> on <date>, commit <commit>"


@pytest.mark.parametrize("key", [
    "seconds", "train_seconds", "wall_seconds", "examples_per_sec", "examples/sec",
    "examples/sec (mean)", "s/epoch", "training time (s)", "date", "commit", "wall_time",
    "run_date", "fc_s_epoch", "fc_eps", "time_ratio", "duration", "start_time"])
def test_volatile_keys(key: str) -> None:
    assert is_volatile_key(key)


@pytest.mark.parametrize("key", [
    "test_acc", "best test acc", "s_top", "s_no_fc7_acc", "seed", "seeds", "settings",
    "epochs", "examples", "train examples", "parameters", "GFLOPs", "lr", "side",
    "scheduler", "warmup_steps", "best test acc (sd)", "estimated MiB", "gate_start"])
def test_keys_that_are_results(key: str) -> None:
    assert not is_volatile_key(key)


def test_normalise_json_drops_volatile_fields_at_any_depth() -> None:
    run = {"run": "lenet", "date": "2026-11-24 06:15 UTC", "commit": "464b410",
           "records": [{"epoch": 1, "test_acc": 0.1, "seconds": 0.3,
                        "examples_per_sec": 8647.1}],
           "row": {"best test acc": 0.1, "s/epoch": 0.3, "examples/sec": 8901.1},
           "note": "took 0.3 s"}
    assert normalise_json(run) == {"run": "lenet", "records": [{"epoch": 1, "test_acc": 0.1}],
                                   "row": {"best test acc": 0.1}, "note": "took <time>"}


def frame(seconds: list[float], acc: list[float]) -> pd.DataFrame:
    data = pd.DataFrame({"model": ["lenet", "alexnet"], "seconds": seconds,
                         "examples/sec": [1e4 / s for s in seconds], "test acc": acc})
    return data.set_index("model")


def test_mask_volatile_columns_of_pandas_tables() -> None:
    a, b = frame([0.3, 2.5], [0.1, 0.5]), frame([0.4, 2.1], [0.1, 0.5])
    assert mask_volatile_columns(a.to_html()) == mask_volatile_columns(b.to_html())
    assert "0.3" in a.to_html() and "<masked>" in mask_volatile_columns(a.to_html())
    changed = frame([0.3, 2.5], [0.1, 0.6])
    assert mask_volatile_columns(a.to_html()) != mask_volatile_columns(changed.to_html())
    styled = (mask_volatile_columns(a.style.format("{:.2f}").to_html()),
              mask_volatile_columns(b.style.format("{:.2f}").to_html()))
    assert normalise_text(styled[0]) == normalise_text(styled[1])
    # grouped columns: a volatile group masks all of its sub-columns
    group = {("time", "mean"): [0.3], ("time", "sd"): [0.1], ("acc", "mean"): [0.5]}
    grouped = pd.DataFrame(group).to_html()
    masked = mask_volatile_columns(grouped)
    assert "0.3" not in masked and "0.1" not in masked and "0.5" in masked


def stream(text: str, name: str = "stdout") -> dict:
    return {"output_type": "stream", "name": name, "text": text}


def glue(name: str, value: str) -> dict:
    return {"output_type": "display_data", "metadata": {"scrapbook": {"name": name}},
            "data": {"application/papermill.record/text/plain": value}}


def test_cells_compare_streams_joined_and_glue_by_name() -> None:
    a = code("x", 3, [stream("a\n"), stream("b\n"), stream("warn\n", "stderr"),
                      glue("wall_time", "'3 min'"), glue("acc", "0.5")])
    b = code("x", 9, [stream("a\nb\n"), stream("warn\n", "stderr"),
                      glue("wall_time", "'7 min'"), glue("acc", "0.5")])
    assert normalise_cell(a, {}) == normalise_cell(b, {})
    c = code("x", 3, [stream("a\nb\n"), stream("warn\n", "stderr"),
                      glue("wall_time", "'3 min'"), glue("acc", "0.6")])
    assert normalise_cell(a, {}) != normalise_cell(c, {})


def test_compare_notebooks_names_the_differing_cells() -> None:
    def nb(value: str, count: int) -> dict:
        meta = {"papermill": {"duration": count}}
        cell = code("print(v)", count, [stream(f"value {value}, 0.{count} s\n")])
        cell["metadata"] = {"execution": {"iopub.execute_input": f"2025-01-0{count}"}}
        return notebook(code("import a", count), cell, metadata=meta)
    assert compare_notebooks(nb("41", 1), nb("41", 2), {}) == []
    differences = compare_notebooks(nb("41", 1), nb("42", 2), {})
    assert len(differences) == 1 and differences[0].startswith("code cell 2 stdout")
    assert "value 41" in differences[0] and "value 42" in differences[0]
    images = [notebook(code("plot", 1, [{"output_type": "display_data",
                                          "data": {"image/png": png, "text/plain": "<F>"}}]))
              for png in ("iVBORw0KGgo=", "iVBORw0KGgp=")]
    assert compare_notebooks(images[0], images[1], {}) != []
    assert compare_notebooks(notebook(code("a", 1)), notebook(), {}) != []


def test_compare_results(tmp_path: Path) -> None:
    def run(folder: str, acc: float, seconds: float) -> None:
        write(tmp_path / folder / "01_a" / "lenet.json", json.dumps(
            {"row": {"test acc": acc, "seconds": seconds}, "date": folder}))
    run("before", 0.5, 1.0)
    run("after", 0.5, 2.0)
    assert compare_results(tmp_path / "before", tmp_path / "after", {}) == []
    run("after", 0.6, 2.0)
    assert compare_results(tmp_path / "before", tmp_path / "after", {}) == [
        "01_a/lenet.json: row.test acc: 0.5 -> 0.6"]
    write(tmp_path / "after" / "01_a" / "extra.json", "{}")
    assert "01_a/extra.json: written only after" in compare_results(
        tmp_path / "before", tmp_path / "after", {})
