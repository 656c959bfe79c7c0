"""The book's "All results" page: every run of every chapter, read back from ``results/``.

Each training run of a chapter writes ``results/<chapter>/<run>.json`` (see
:func:`alexnet_course.experiments.train_run`); each chapter also writes ``_chapter.json``
with its wall time (:meth:`alexnet_course.chapter.Chapter.finish`). :func:`load_results`
reads them all, :func:`runs_frame` and :func:`chapters_frame` turn them into the page's
tables, and :data:`REFERENCES` holds the published numbers they stand beside, each with
its source.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from ..jsonfiles import DamagedFile, read_json
from ..train import History
from .configs import PROBE_PREFIX, ended_at_chance, is_probe, never_learned, variant_of
from .rows import RunRow

CHAPTER_FILE = "_chapter.json"

RUN_COLUMNS = ["chapter", "run", "variant", "seed", "model", "input", "parameters", "GFLOPs",
               "profile", "device", "epochs", "train examples", "seconds", "examples/sec",
               "best test acc", "last test acc", "failed", "ended at chance", "did not learn", "stopped"]
CHAPTER_COLUMNS = ["chapter", "profile", "device", "wall seconds", "wall time", "runs", "date"]


class ResultsError(ValueError):
    """A results JSON that cannot be read."""


_RERUN = "re-run the chapter that wrote it, or delete the file"


def load_results(root: str | Path, exclude: tuple[str, ...] = ("results",)) -> list[dict[str, Any]]:
    """Every ``*.json`` under ``root`` (recursively), parsed, with ``_path`` added.

    A file that cannot be read or is not a JSON object is an error naming it (chapters
    write atomically, so a half-written file is damage, not a run in progress); a page
    built without it would drop a run silently. ``chapter`` defaults to the name of the file's folder; chapters named in ``exclude``
    (the summary page's own ``_chapter.json``) are left out.
    """
    root = Path(root)
    records = []
    for path in sorted(root.glob("**/*.json")) if root.is_dir() else []:
        try:
            data = read_json(path, fix=_RERUN)
        except DamagedFile as error:
            raise ResultsError(str(error)) from error
        except OSError as error:
            raise ResultsError(f"{path}: cannot read this results file ({error}); {_RERUN}") from error
        if not isinstance(data, dict):
            raise ResultsError(f"{path}: expected a JSON object, found {type(data).__name__}; "
                               f"{_RERUN}")
        data.setdefault("chapter", path.parent.name)
        if data["chapter"] in exclude:
            continue
        data["_path"] = str(path)
        records.append(data)
    return records


def _is_chapter(record: dict[str, Any]) -> bool:
    return Path(record.get("_path", "")).name == CHAPTER_FILE or record.get("run") == "_chapter"


def format_seconds(seconds: float) -> str:
    """``192.4`` → ``"3 min 12 s"`` (as the chapters' headers say it)."""
    if seconds is None or not math.isfinite(seconds):
        return ""
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def runs_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per training run (records with a ``row``), sorted by chapter and run, with the
    columns of :data:`RUN_COLUMNS`. Files whose name starts with ``_`` (``_chapter.json``,
    a developer's ``_probe.json``) are not runs of the book and are left out, and so are timing
    probes (runs named ``timing_*``: their accuracy after a few batches means nothing). ``failed``:
    a guard stopped the run; ``ended at chance``: its last epoch sat at loss ln 10 with
    chance accuracy, unstopped; ``did not learn``: neither, but it never left chance
    (``guards.did_not_learn``); ``stopped``: any of them, so it has no accuracy to report."""
    rows = []
    for rec in records:
        row = rec.get("row")
        if (_is_chapter(rec) or not isinstance(row, dict) or is_probe(rec)
                or Path(rec.get("_path", "x")).name.startswith("_")):
            continue
        r = RunRow.from_dict(row)
        failed, dead = bool(rec.get("failed")), ended_at_chance(rec)
        stuck = not (failed or dead) and never_learned(rec)
        rows.append({
            "chapter": rec.get("chapter", ""), "run": rec.get("run", r.run),
            "variant": variant_of(rec), "seed": row.get("seed", rec.get("seed")),
            "model": r.model or rec.get("meta", {}).get("model_name", ""),
            "input": r.input, "parameters": r.parameters, "GFLOPs": r.gflops,
            "profile": rec.get("profile", ""),
            "device": rec.get("device_name", rec.get("device", "")),
            "epochs": r.epochs, "train examples": r.train_examples, "seconds": r.seconds,
            "examples/sec": r.examples_per_sec, "best test acc": r.best_test_acc,
            "last test acc": r.last_test_acc,
            "failed": failed, "ended at chance": dead, "did not learn": stuck,
            "stopped": failed or dead or stuck,
        })
    frame = pd.DataFrame(rows, columns=RUN_COLUMNS)
    for col in ("parameters", "GFLOPs", "epochs", "train examples", "seconds", "examples/sec",
                "best test acc", "last test acc"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame.sort_values(["chapter", "run"]).reset_index(drop=True)


def chapters_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per chapter from its ``_chapter.json``: profile, device, wall time, number of runs."""
    runs = runs_frame(records)
    counts = runs.groupby("chapter").size() if not runs.empty else pd.Series(dtype=int)
    rows = []
    for rec in records:
        if not _is_chapter(rec):
            continue
        seconds = rec.get("wall_seconds", math.nan)
        chapter = rec.get("chapter", "")
        rows.append({"chapter": chapter, "profile": rec.get("profile", ""),
                     "device": rec.get("device_name", rec.get("device", "")),
                     "wall seconds": seconds, "wall time": format_seconds(seconds),
                     "runs": int(counts.get(chapter, 0)), "date": rec.get("date", "")})
    return pd.DataFrame(rows, columns=CHAPTER_COLUMNS).sort_values("chapter").reset_index(drop=True)


def histories(records: list[dict[str, Any]]) -> dict[tuple[str, str], History]:
    """``{(chapter, run): History}`` for every run with per-epoch records."""
    out = {}
    for rec in records:
        if _is_chapter(rec) or not rec.get("records"):
            continue
        out[(rec.get("chapter", ""), rec.get("run", ""))] = History.from_dict(rec)
    return out


def _ref(source: str, model: str, setting: str, dataset: str, metric: str, value: float,
         seconds: float | str = "not reported", note: str = "") -> dict[str, Any]:
    return {"source": source, "model": model, "setting": setting, "dataset": dataset,
            "metric": metric, "value": value, "seconds": seconds, "note": note}


D2L = "d2l 0.17 (V100, SGD, 10 epochs)"
ANSWER = "homework answer"
#: Published numbers our runs stand beside; each names its source. Only the d2l and homework
#: rows are on Fashion-MNIST; the papers' rows are on ImageNet or CIFAR-10.
REFERENCES = pd.DataFrame([
    _ref(D2L, "LeNet", "28 px", "Fashion-MNIST", "test acc", 0.789),
    _ref(D2L, "AlexNet", "224 px, 4171 examples/s", "Fashion-MNIST", "test acc", 0.882),
    _ref(D2L, "VGG (small, 1/4 width)", "224 px", "Fashion-MNIST", "test acc", 0.922),
    _ref(D2L, "NiN", "224 px", "Fashion-MNIST", "test acc", 0.785,
         note="median over builds 0.84; some builds collapse to 0.100"),
    _ref(D2L, "GoogLeNet", "96 px", "Fashion-MNIST", "test acc", 0.883),
    _ref(ANSWER + ", Q1", "AlexNet", "fc 1000→10, 3 epochs", "Fashion-MNIST", "test acc", 0.863, 265.6),
    _ref(ANSWER + ", Q1", "AlexNet", "without the 4096→4096 layer", "Fashion-MNIST", "test acc", 0.887, 213.5),
    _ref(ANSWER + ", Q1", "AlexNet", "without the equal-channel convs", "Fashion-MNIST", "test acc", 0.886, 190.9),
    _ref(ANSWER + ", Q1", "AlexNet", "lr 0.001→0.004", "Fashion-MNIST", "test acc", 0.890, 80.0),
    _ref(ANSWER + ", Q1", "AlexNet", "lr 0.004→0.002", "Fashion-MNIST", "test acc", 0.908, 80.3),
    _ref(ANSWER + ", Q2", "VGG", "224 px", "Fashion-MNIST", "test acc", 0.911, 96.7),
    _ref(ANSWER + ", Q2", "VGG", "96 px", "Fashion-MNIST", "test acc", 0.912, 25.5),
    _ref("Krizhevsky et al. 2012", "AlexNet", "one net, ILSVRC-2010 test", "ImageNet",
         "top-1 error", 0.375),
    _ref("Krizhevsky et al. 2012", "AlexNet", "one net, ILSVRC-2010 test", "ImageNet",
         "top-5 error", 0.170),
    _ref("Simonyan & Zisserman 2015", "VGG", "ensemble, ILSVRC-2014 test", "ImageNet",
         "top-5 error", 0.073),
    _ref("Lin et al. 2014", "NiN", "with dropout, no augmentation", "CIFAR-10", "test error", 0.1041),
    _ref("Szegedy et al. 2015", "GoogLeNet", "ensemble, ILSVRC-2014 test", "ImageNet",
         "top-5 error", 0.0667),
])


def best_per_model(frame: pd.DataFrame, acc: str = "best test acc") -> pd.DataFrame:
    """For each (profile, model), the run with the highest ``acc`` (failed runs included;
    timing probes, runs named ``timing_*``, never: their accuracy is no result)."""
    frame = frame[~frame["run"].astype(str).str.startswith(PROBE_PREFIX)] if "run" in frame else frame
    if frame.empty:
        return frame
    idx = frame.groupby(["profile", "model"])[acc].idxmax().dropna()
    return frame.loc[idx.astype(int)].sort_values(acc, ascending=False).reset_index(drop=True)


_ANSWER_BOX = re.compile(r"```\{admonition\} Answer — (?P<question>[^\n]+)\n(?::[^\n]*\n)*"
                         r"\{glue:md\}`(?P<key>[A-Za-z0-9_]+)`")
_GLUED_MD = "application/papermill.record/text/markdown"


def answers(pages: Iterable[str | Path]) -> pd.DataFrame:
    """Every homework question a chapter answers, with the answer it glued: read from the
    executed chapter pages (``book/NN_*.ipynb``), whose Answer boxes are
    ``{admonition} Answer — <question>`` around ``{glue:md}`<key>` ``, and whose glue outputs
    hold the text the run generated (and ``profile``, the profile the page ran in). A box whose key was never glued (a chapter that failed
    before that cell) shows as not answered, never as a blank."""
    rows = []
    for page in sorted(Path(p) for p in pages):
        nb = read_json(page, fix="delete it and execute the chapter again (`make book` builds "
                                 "every page)")
        glued: dict[str, str] = {}
        for cell in nb.get("cells", []):
            for out in cell.get("outputs", []):
                name = out.get("metadata", {}).get("scrapbook", {}).get("name")
                if name and _GLUED_MD in out.get("data", {}):
                    text = out["data"][_GLUED_MD]
                    glued[name] = "".join(text) if isinstance(text, list) else text
        for cell in nb.get("cells", []):
            if cell.get("cell_type") != "markdown":
                continue
            source = "".join(cell.get("source", []))
            for m in _ANSWER_BOX.finditer(source):
                rows.append({"chapter": page.stem, "profile": glued.get("profile", ""),
                             "question": m["question"].strip(),
                             "answer": glued.get(m["key"], "not answered: the chapter's run did "
                                                           "not reach this answer")})
    return pd.DataFrame(rows, columns=["chapter", "profile", "question", "answer"])
