"""The conclusive protocol every chapter's comparisons follow, as code.

* **Converged training**: each run's rate decays to zero along a cosine over the run
  (:func:`recipe`), and its number of epochs ``E`` is checked by a *pilot*: the setting's
  slowest-converging variant trained for ``1.5 E`` epochs (and ``E / 2``, for the curve)
  must end within :data:`PILOT_TOLERANCE` of the ``E``-epoch run's validation accuracy.
* **Choices on the validation split**: :data:`VAL_SIZE` training images are held out;
  learning rates come from a small grid (:func:`rate_specs`, :func:`best_rates`) judged on
  them, never on the test set.
* **Paired seeds**: seed ``k`` gives every variant the same data order, validation split
  and augmentation draws; a difference's 95 % interval comes from the per-seed differences.
  :data:`FIRST_SEEDS` seeds per variant; a comparison still undecided after them is given
  :data:`MORE_SEEDS` (a two-stage rule, fixed before any run).
* **Three verdicts**: "A higher", "B higher", "equivalent within ±1 point" (:data:`MARGIN`)
  or "undecided", with the interval (:func:`.stats.paired_compare`).

A chapter's verdicts are written beside its runs, in ``verdicts.json``
(:func:`write_verdicts`), which the results page counts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from .ablations import Spec, mark_ended_at_chance, verdicts
from .stats import Comparison
from . import store

MARGIN = 0.01          # ±1 point of accuracy: "equivalent" when the whole interval is inside
FIRST_SEEDS = 5        # paired seeds per compared variant ...
MORE_SEEDS = 10        # ... and for a comparison still undecided after them
VAL_SIZE = 5_000       # training images held out to choose epochs and rates
PILOT_FACTOR = 1.5     # the pilot trains this many times the chosen epochs ...
PILOT_TOLERANCE = 0.003  # ... and must move validation accuracy by less than this
METRIC = "last test acc"  # the accuracy compared: at the end of the decayed schedule
VERDICTS = "verdicts.json"
VERDICT_FIELDS = ("question", "comparison", "metric", "difference", "interval", "n", "verdict")


def recipe(epochs: int, **keywords: Any) -> dict[str, Any]:
    """``train_run`` keywords for a converged run of ``epochs`` epochs: a cosine decay to
    zero over the whole run (per batch), the validation split held out, augmentation paired
    by seed; ``keywords`` add to them (``lr``, ``optimizer`` ...)."""
    data = {"val_size": VAL_SIZE, "paired_augment": True, **keywords.pop("data_kwargs", {})}
    return dict(epochs=epochs, scheduler="cosine", data_kwargs=data, **keywords)


def val_acc(run: Any) -> float:
    """A run's validation accuracy at its last epoch; NaN for a run stopped by a guard or
    ended at chance (it has none to choose by)."""
    if run.failed or not run.history.records:
        return math.nan
    return float(run.history.last.get("val_acc", math.nan))


def rate_specs(specs: Sequence[Spec], lrs: Sequence[float]) -> list[Spec]:
    """The learning-rate grid: each spec at each rate of ``lrs``, named
    ``<spec>_lr<rate>`` (one seed each)."""
    return [replace(s, name=f"{s.name}_lr{lr:g}", change=f"{s.change}, lr {lr:g}",
                    train={**s.train, "lr": lr}) for s in specs for lr in lrs]


def best_rates(grid: Mapping[str, str], lrs: Sequence[float],
               runs: Iterable[Any]) -> dict[str, dict[str, float]]:
    """``{variant: {"lr": best}}`` for each ``variant → grid spec`` of ``grid``: the rate of
    ``lrs`` whose grid run of that spec ended with the best validation accuracy."""
    runs = list(runs)
    mark_ended_at_chance(runs)
    by_name = {r.run: r for r in runs}
    out = {}
    for variant, source in grid.items():
        scores = pd.Series({lr: val_acc(by_name[f"{source}_lr{lr:g}"]) for lr in lrs})
        if scores.isna().all():
            raise ValueError(f"every grid run of {source!r} failed: no rate to choose for {variant!r}")
        out[variant] = {"lr": float(scores.idxmax())}
    return out


def rate_table(grid: Mapping[str, str], lrs: Sequence[float], runs: Iterable[Any]) -> pd.DataFrame:
    """Validation accuracy of every grid run: one row per grid spec, one column per rate."""
    by_name = {r.run: r for r in runs}
    sources = list(dict.fromkeys(grid.values()))
    return pd.DataFrame({f"lr {lr:g}": {s: val_acc(by_name[f"{s}_lr{lr:g}"]) for s in sources}
                         for lr in lrs})


def pilot_specs(specs: Sequence[Spec], epochs: int) -> list[Spec]:
    """The epoch pilot of each spec: the same run for ``E / 2`` and ``1.5 E`` epochs, named
    ``<spec>_e<epochs>`` (the ``E``-epoch run is the experiment's seed 0)."""
    return [replace(s, name=f"{s.name}_e{e}", change=f"{s.change}, {e} epochs",
                    train={**s.train, "epochs": e})
            for s in specs for e in pilot_epochs(epochs) if e != epochs]


def pilot_epochs(epochs: int) -> list[int]:
    """``[E / 2, E, 1.5 E]``, rounded up."""
    return [max(1, math.ceil(epochs / 2)), epochs, math.ceil(PILOT_FACTOR * epochs)]


def pilot_table(names: Sequence[str], epochs: int, runs: Iterable[Any]) -> pd.DataFrame:
    """For each piloted variant of ``names``: its validation accuracy at ``E / 2``, ``E`` and
    ``1.5 E`` epochs and whether the last step moved it by less than the tolerance
    (``converged``). ``runs`` holds the experiment's seed-0 runs and the pilot's."""
    by_name = {r.run: r for r in runs}
    rows = {}
    for name in names:
        accs = {e: val_acc(by_name[name if e == epochs else f"{name}_e{e}"])
                for e in pilot_epochs(epochs)}
        step = accs[pilot_epochs(epochs)[-1]] - accs[epochs]
        rows[name] = {**{f"val acc at {e} epochs": a for e, a in accs.items()},
                      "1.5 E − E (points)": 100 * step,
                      "converged": bool(abs(step) < PILOT_TOLERANCE)}
    return pd.DataFrame.from_dict(rows, orient="index")


def compare(runs: Iterable[Any], against: Mapping[str, str]) -> dict[str, Comparison]:
    """Each ``variant → reference`` of ``against`` as a paired comparison of :data:`METRIC`
    with the ±:data:`MARGIN` equivalence verdict; runs that ended at chance are labelled
    failed first (their pairs drop out)."""
    runs = list(runs)
    mark_ended_at_chance(runs)
    return verdicts(runs, against, metric=METRIC, margin=MARGIN, paired=True)


def to_extend(comparisons: Mapping[str, Comparison]) -> set[str]:
    """The variants of every comparison still undecided after the first stage: both sides
    go to :data:`MORE_SEEDS` seeds."""
    return {name for c in comparisons.values() if not c.settled for name in c.names}


def verdict_records(question: str, comparisons: Mapping[str, Comparison],
                    why_wide: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The comparisons as ``verdicts.json`` records: ``question``, ``comparison`` ("A vs B"),
    ``metric``, ``difference`` and ``interval`` (points of accuracy), ``n`` (paired seeds),
    ``verdict``, and ``why_wide`` where given for a half-width above 1 point."""
    out = []
    for variant, c in comparisons.items():
        record = c.to_record(question, f"{c.names[0]} vs {c.names[1]}", METRIC)
        record["difference"] = _points(c.diff)
        record["interval"] = [_points(c.low), _points(c.high)]
        record["settled"] = c.settled
        if why_wide and variant in why_wide:
            record["why_wide"] = why_wide[variant]
        out.append(record)
    return out


def _points(x: float) -> float | None:
    return None if not math.isfinite(x) else round(100 * x, 3)


def write_verdicts(folder: Path, records: Sequence[Mapping[str, Any]]) -> Path:
    """``verdicts.json`` in a chapter's store folder (atomically); each record must carry
    :data:`VERDICT_FIELDS`."""
    for r in records:
        lacking = [f for f in VERDICT_FIELDS if f not in r]
        if lacking:
            raise ValueError(f"verdict record {r!r} lacks {', '.join(lacking)}")
    path = Path(folder) / VERDICTS
    store.write(path, {"margin_points": 100 * MARGIN, "verdicts": list(records)})
    return path


def read_verdicts(folder: Path) -> list[dict[str, Any]]:
    """The records of a chapter's ``verdicts.json`` (empty when it has none)."""
    path = Path(folder) / VERDICTS
    if not path.is_file():
        return []
    return json.loads(path.read_text())["verdicts"]


def half_width(record: Mapping[str, Any]) -> float | None:
    """Half the width of a record's interval, in points (None when it has none)."""
    low, high = record["interval"]
    return None if low is None or high is None else (high - low) / 2


def wide_unexplained(record: Mapping[str, Any]) -> bool:
    """True for a record whose half-width exceeds ±:data:`MARGIN` with no ``why_wide``."""
    width = half_width(record)
    return width is not None and width > 100 * MARGIN and not record.get("why_wide")


def tally(records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """How many comparisons were decided (a direction), found equivalent, left undecided,
    and how many report a half-width above 1 point without saying why."""
    out = {"comparisons": 0, "higher": 0, "equivalent": 0, "undecided": 0, "wide unexplained": 0}
    for r in records:
        out["comparisons"] += 1
        verdict = str(r["verdict"])
        key = ("higher" if verdict.endswith(" higher") else
               "equivalent" if verdict.startswith("equivalent") else "undecided")
        out[key] += 1
        out["wide unexplained"] += wide_unexplained(r)
    return out


# --- The results page's count: every chapter's verdicts.json, read back from a store -------

TARGET = 0.80  # the share of a chapter's comparisons that must be decided
MEETS = f"meets the target (≥ {100 * TARGET:.0f} % decided)"
BELOW = "below target"
NOT_YET = f"not yet under the protocol (no {VERDICTS})"
EMPTY = f"no comparisons in its {VERDICTS}"
TABLE_COLUMNS = ["chapter", "comparisons", "with a direction", "equivalent", "undecided",
                 "decided (%)", "wide unexplained", "status"]
LIST_COLUMNS = ["chapter", "question", "comparison", "difference", "interval", "half-width",
                "n", "verdict", "why wide", "wide unexplained"]


def training_chapters(root: Path, chapters: Iterable[str] | None = None) -> list[str]:
    """The chapters whose verdicts the store ``root`` (``results/<profile>/``) should hold,
    sorted: ``chapters`` if given, else every chapter with declared experiments
    (``alexnet_course.chapters.CHAPTERS``); with either, any other folder of ``root`` that
    holds a ``verdicts.json``."""
    if chapters is None:
        from ..chapters import CHAPTERS  # imported here: that package imports the course package

        chapters = CHAPTERS
    found = {p.parent.name for p in Path(root).glob(f"*/{VERDICTS}")}
    return sorted(set(chapters) | found)


def verdict_table(root: Path, chapters: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per chapter of :func:`training_chapters`: its comparisons, how many have a
    direction, are equivalent or undecided, the share decided (a direction or an equivalence,
    in %), how many report a half-width above 1 point without saying why, and its ``status``
    (:data:`MEETS`, :data:`BELOW`, :data:`NOT_YET` for a chapter without ``verdicts.json``,
    whose counts are missing, or :data:`EMPTY`)."""
    rows = []
    for name in training_chapters(root, chapters):
        folder = Path(root) / name
        if not (folder / VERDICTS).is_file():
            rows.append({"chapter": name, "status": NOT_YET})
            continue
        t = tally(read_verdicts(folder))
        decided = t["higher"] + t["equivalent"]
        share = 100 * decided / t["comparisons"] if t["comparisons"] else math.nan
        rows.append({"chapter": name, "comparisons": t["comparisons"],
                     "with a direction": t["higher"], "equivalent": t["equivalent"],
                     "undecided": t["undecided"], "decided (%)": share,
                     "wide unexplained": t["wide unexplained"],
                     "status": EMPTY if not t["comparisons"] else
                     MEETS if share >= 100 * TARGET else BELOW})
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    for column in TABLE_COLUMNS[1:5] + ["wide unexplained"]:
        table[column] = table[column].astype("Int64")
    table["decided (%)"] = table["decided (%)"].astype(float)
    return table


def _interval(record: Mapping[str, Any]) -> str:
    low, high = record["interval"]
    return "none (fewer than 2 pairs)" if low is None or high is None else f"{low:+.2f} to {high:+.2f}"


def verdict_list(root: Path, chapters: Iterable[str] | None = None) -> pd.DataFrame:
    """Every record of every chapter's ``verdicts.json``, in order: ``difference`` and
    ``half-width`` in points, ``interval`` as text ("-0.40 to +1.20"), ``why wide`` where
    the chapter says why its interval is wide, ``wide unexplained`` where it should and
    does not (:func:`wide_unexplained`)."""
    rows = [{"chapter": name, "question": r["question"], "comparison": r["comparison"],
             "difference": r["difference"], "interval": _interval(r),
             "half-width": half_width(r), "n": r["n"], "verdict": r["verdict"],
             "why wide": r.get("why_wide", ""), "wide unexplained": wide_unexplained(r)}
            for name in training_chapters(root, chapters)
            for r in read_verdicts(Path(root) / name)]
    frame = pd.DataFrame(rows, columns=LIST_COLUMNS)
    for column in ("difference", "half-width"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame


def verdict_totals(table: pd.DataFrame) -> dict[str, Any]:
    """The sums of :func:`verdict_table`'s rows: ``chapters`` and ``under the protocol``
    (those with a ``verdicts.json``), ``comparisons``, ``with a direction``, ``equivalent``,
    ``decided`` (both), ``undecided``, ``decided (%)`` (NaN with no comparison), ``wide
    unexplained`` and ``meeting the target`` (chapters)."""
    under = table[table["status"] != NOT_YET]
    sums = {c: int(under[c].sum()) for c in
            ("comparisons", "with a direction", "equivalent", "undecided", "wide unexplained")}
    decided = sums["with a direction"] + sums["equivalent"]
    return {"chapters": len(table), "under the protocol": len(under), **sums,
            "decided": decided,
            "decided (%)": 100 * decided / sums["comparisons"] if sums["comparisons"] else math.nan,
            "meeting the target": int((table["status"] == MEETS).sum())}


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _percent(x: float) -> str:
    """Rounded down to 0.1, so that a share just below the target never reads as on it."""
    return f"{math.floor(10 * x + 1e-9) / 10:g} %"


def verdicts_said(totals: Mapping[str, Any]) -> str:
    """What :func:`verdict_totals` says, in plain sentences (no Markdown, so the intro can
    paste them as text): how many comparisons are decided, in how many chapters, whether the
    target is met and how many wide intervals go unexplained."""
    chapters, under = totals["chapters"], totals["under the protocol"]
    target = f"{100 * TARGET:.0f} %"
    if not chapters:
        return "This store holds no chapter that trains comparisons."
    if not under:
        return (f"No chapter has written its verdicts under the conclusive protocol yet: none of "
                f"the {_count(chapters, 'chapter')} that train has a {VERDICTS} in this store, "
                "so no comparison is counted yet.")
    n = totals["comparisons"]
    said = (f"{under} of the {_count(chapters, 'chapter')} that train "
            f"{'has' if under == 1 else 'have'} written {'its' if under == 1 else 'their'} "
            f"verdicts under the conclusive protocol")
    if not n:
        return said + ", with no comparison in them yet."
    said += (f": {totals['decided']} of {'its' if under == 1 else 'their'} "
             f"{_count(n, 'comparison')} {'is' if totals['decided'] == 1 else 'are'} decided "
             f"({_percent(totals['decided (%)'])}: {totals['with a direction']} with a direction, "
             f"{totals['equivalent']} equivalent within ±{100 * MARGIN:g} point) and "
             f"{totals['undecided']} undecided; {_count(totals['meeting the target'], 'chapter')} "
             f"{'meets' if totals['meeting the target'] == 1 else 'meet'} the target "
             f"(≥ {target} decided).")
    wide = totals["wide unexplained"]
    said += (f" No accuracy difference is reported with a half-width above {100 * MARGIN:g} "
             "point without a reason." if not wide else
             f" {_count(wide, 'accuracy difference')} {'is' if wide == 1 else 'are'} reported "
             f"with a half-width above {100 * MARGIN:g} point without saying why.")
    if under < chapters:
        said += (f" The other {_count(chapters - under, 'chapter')} {'is' if chapters - under == 1 else 'are'} "
                 f"not yet under the protocol, so the book-wide target (≥ {target} of the training "
                 "comparisons decided) cannot be judged yet.")
    else:
        met = totals["decided (%)"] >= 100 * TARGET and not wide
        said += (f" The book-wide target (≥ {target} of the training comparisons decided, no "
                 f"unexplained wide interval) is {'met' if met else 'not met yet'}.")
    return said
