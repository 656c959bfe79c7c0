"""The "All results" page's loader and tables, on temporary JSON files."""

import json

import pandas as pd
import pytest

from alexnet_course.course import summary


def _run(chapter: str, run: str, acc: float, failed: str | None = None) -> dict:
    records = [{"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "test_acc": acc - 0.1,
                "lr": 0.1, "examples": 100, "train_seconds": 1.0, "seconds": 1.5,
                "examples_per_sec": 100.0},
               {"epoch": 2, "train_loss": 0.5, "train_acc": 0.7, "test_acc": acc,
                "lr": 0.1, "examples": 100, "train_seconds": 1.0, "seconds": 1.5,
                "examples_per_sec": 100.0}]
    return {"run": run, "chapter": chapter, "profile": "quick", "device_name": "CPU (2 threads)",
            "torch": "2.x", "commit": "abc", "date": "2025-01-01 00:00 UTC", "records": records,
            "meta": {"model_name": "lenet"}, "summary": {}, "failed": failed,
            "row": {"run": run, "model": "lenet", "input": "28×28", "parameters": 1000,
                    "GFLOPs": 0.001, "epochs": 2, "train examples": 100, "seconds": 3.0,
                    "examples/sec": 100.0, "best test acc": acc, "last test acc": acc,
                    "failed": failed is not None}}


def _write(root, chapter, name, data):
    path = root / chapter / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))


def test_tables_from_results(tmp_path):
    _write(tmp_path, "01_a", "lenet", _run("01_a", "lenet", 0.8))
    _write(tmp_path, "01_a", "lenet2", _run("01_a", "lenet2", 0.7, failed="epoch 1: NaN"))
    _write(tmp_path, "02_b", "x", _run("02_b", "x", 0.9))
    _write(tmp_path, "01_a", "_chapter", {"run": "_chapter", "chapter": "01_a", "profile": "quick",
                                          "device_name": "CPU", "wall_seconds": 125.0})
    _write(tmp_path, "02_b", "_probe", _run("02_b", "_probe", 0.99))
    _write(tmp_path, "02_b", "timing_x", _run("02_b", "timing_x", 0.95))  # a timing probe
    _write(tmp_path, "results", "_chapter", {"run": "_chapter", "chapter": "results", "wall_seconds": 1.0})
    records = summary.load_results(tmp_path)
    runs = summary.runs_frame(records)
    assert list(runs.columns) == summary.RUN_COLUMNS
    assert list(runs["run"]) == ["lenet", "lenet2", "x"]
    assert runs["failed"].tolist() == [False, True, False]
    chapters = summary.chapters_frame(records)
    assert chapters.loc[0, "wall time"] == "2 min 5 s"
    assert chapters.loc[0, "runs"] == 2
    hist = summary.histories(records)
    assert hist[("02_b", "x")].best_test_acc == 0.9
    best = summary.best_per_model(runs)
    assert best.iloc[0]["run"] == "x"


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", b"\xff\xfe\x00"])
def test_a_corrupt_results_file_is_an_error_naming_it(tmp_path, content):
    _write(tmp_path, "01_a", "lenet", _run("01_a", "lenet", 0.8))
    path = tmp_path / "02_b" / "broken.json"
    path.parent.mkdir()
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(summary.ResultsError, match="broken.json"):
        summary.load_results(tmp_path)


def test_a_run_that_did_not_learn_reads_as_such(tmp_path):
    learned = _run("01_a", "ok", 0.8)
    stuck = _run("01_a", "stuck", 0.11)
    for r in stuck["records"]:
        r.update(train_loss=2.55, train_acc=0.1, test_acc=0.1, examples=12_800)
    stuck["meta"]["batch_size"] = learned["meta"]["batch_size"] = 128
    _write(tmp_path, "01_a", "ok", learned)
    _write(tmp_path, "01_a", "stuck", stuck)
    runs = summary.runs_frame(summary.load_results(tmp_path)).set_index("run")
    assert runs["did not learn"].tolist() == [False, True]
    assert runs["stopped"].tolist() == [False, True] and not runs["failed"].any()


def test_empty_and_missing_root(tmp_path):
    for root in (tmp_path, tmp_path / "missing"):
        records = summary.load_results(root)
        assert records == []
        assert summary.runs_frame(records).empty
        assert summary.chapters_frame(records).empty
        assert summary.best_per_model(summary.runs_frame(records)).empty


def test_references_name_their_source():
    refs = summary.REFERENCES
    assert isinstance(refs, pd.DataFrame)
    assert refs["source"].str.len().gt(0).all()
    d2l = refs[refs["source"].str.startswith("d2l")].set_index("model")["value"]
    assert d2l["AlexNet"] == 0.882 and d2l["LeNet"] == 0.789
    assert summary.format_seconds(59.6) == "1 min 0 s"


def test_answers_are_read_from_the_executed_pages_glue(tmp_path):
    def glued(name, text):
        return {"output_type": "display_data", "metadata": {"scrapbook": {"name": name, "mime_prefix": ""}},
                "data": {"application/papermill.record/text/markdown": text,
                         "application/papermill.record/text/plain": "<Markdown object>"}}
    box = "```{admonition} Answer — is it faster? (Q1)\n:class: tip\n{glue:md}`q1_answer`\n```\n"
    missing = "```{admonition} Answer — and Q2?\n:class: tip\n{glue:md}`q2_answer`\n```"
    nb = {"cells": [{"cell_type": "markdown", "source": [box, "text\n", missing]},
                    {"cell_type": "code", "source": [], "outputs": [glued("q1_answer", "Yes, by 3 points."),
                                                                     glued("profile", "standard")]}]}
    page = tmp_path / "01_a.ipynb"
    page.write_text(json.dumps(nb))
    a = summary.answers([page])
    assert a["question"].tolist() == ["is it faster? (Q1)", "and Q2?"]
    assert a.loc[0, "answer"] == "Yes, by 3 points." and a.loc[0, "profile"] == "standard"
    assert a.loc[1, "answer"].startswith("not answered")


def test_the_best_configuration_is_never_a_timing_probe(tmp_path):
    """A timing probe (a few batches, run timed alone) scores by chance; it must not be picked
    as a model's best configuration, neither through the page's tables nor if one reaches
    the pickers directly (chapter 04's probes once did: 'VGG-11's best configuration')."""
    from alexnet_course.course import configs

    _write(tmp_path, "04_v", "k3", _run("04_v", "k3", 0.80))
    _write(tmp_path, "04_v", "timing_k3", _run("04_v", "timing_k3", 0.99))
    runs = summary.runs_frame(summary.load_results(tmp_path))
    assert list(runs["run"]) == ["k3"]
    leaked = pd.concat([runs, runs.assign(run="timing_k3", variant="timing_k3", **{
        "best test acc": 0.99, "last test acc": 0.99})], ignore_index=True)
    assert summary.best_per_model(leaked)["run"].tolist() == ["k3"]
    best = configs.best_per_model(configs.configurations(leaked))
    assert best["variant"].tolist() == ["k3"] and best["test acc"].iloc[0] == 0.80
