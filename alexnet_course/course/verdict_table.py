"""The results page's count of the protocol's verdicts: every chapter's ``verdicts.json``
(:mod:`.protocol`), read back from a profile's store, as a table per chapter, a list of
every comparison and sentences built from those numbers only."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .protocol import (MARGIN, PILOT_FACTOR, PILOT_TOLERANCE, VERDICTS, half_width, read_pilots,
                       read_verdicts, tally, wide_unexplained)

TARGET = 0.80  # the share of a chapter's comparisons that must be decided
MEETS = f"meets the target (≥ {100 * TARGET:.0f} % decided)"
BELOW = "below target"
NOT_YET = f"not yet under the protocol (no {VERDICTS})"
EMPTY = f"no comparisons in its {VERDICTS}"
TABLE_COLUMNS = ["chapter", "comparisons", "with a direction", "equivalent", "undecided",
                 "decided (%)", "wide unexplained", "status", "epoch pilot"]
PILOT_PASSED = "converged"
PILOT_MISSING = "not recorded"
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
    whose counts are missing, or :data:`EMPTY`) and its ``epoch pilot`` (:func:`pilot_status`)."""
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
                     MEETS if share >= 100 * TARGET else BELOW,
                     "epoch pilot": pilot_status(read_pilots(folder))})
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    for column in TABLE_COLUMNS[1:5] + ["wide unexplained"]:
        table[column] = table[column].astype("Int64")
    table["decided (%)"] = table["decided (%)"].astype(float)
    return table


def pilot_status(pilots: list[dict[str, Any]]) -> str:
    """A chapter's epoch pilot in words: :data:`PILOT_PASSED` when every piloted variant's
    validation accuracy moved by less than the tolerance from ``E`` to ``1.5 E`` epochs,
    else which did not and by how much; :data:`PILOT_MISSING` without pilot records."""
    if not pilots:
        return PILOT_MISSING
    late = [p for p in pilots if not p["converged"]]
    if not late:
        return PILOT_PASSED
    moved = ", ".join(f"{p['variant']} {p['moved_points']:+.2f}" if p.get("moved_points") is not None
                      else f"{p['variant']} (no accuracy)" for p in late)
    return (f"not converged: {len(late)} of {len(pilots)} piloted variants moved by "
            f"≥ {100 * PILOT_TOLERANCE:g} points from E to {PILOT_FACTOR:g} E ({moved})")


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
    unexplained``, ``meeting the target``, ``pilot not converged`` and ``pilot not
    recorded`` (chapters)."""
    under = table[table["status"] != NOT_YET]
    pilots = under["epoch pilot"].astype(str)
    sums = {c: int(under[c].sum()) for c in
            ("comparisons", "with a direction", "equivalent", "undecided", "wide unexplained")}
    decided = sums["with a direction"] + sums["equivalent"]
    return {"chapters": len(table), "under the protocol": len(under), **sums,
            "decided": decided,
            "decided (%)": 100 * decided / sums["comparisons"] if sums["comparisons"] else math.nan,
            "meeting the target": int((table["status"] == MEETS).sum()),
            "pilot not converged": int(pilots.str.startswith("not converged").sum()),
            "pilot not recorded": int((pilots == PILOT_MISSING).sum())}


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
    late, unknown = totals.get("pilot not converged", 0), totals.get("pilot not recorded", 0)
    if late:
        said += (f" In {_count(late, 'chapter')} the epoch pilot failed (validation accuracy still "
                 f"moved by {100 * PILOT_TOLERANCE:g} points or more from E to {PILOT_FACTOR:g} E), so "
                 f"{'its' if late == 1 else 'their'} verdicts compare runs that had not finished learning.")
    if unknown:
        said += f" {_count(unknown, 'chapter')} recorded no epoch pilot with its verdicts."
    if under < chapters:
        said += (f" The other {_count(chapters - under, 'chapter')} {'is' if chapters - under == 1 else 'are'} "
                 f"not yet under the protocol, so the book-wide target (≥ {target} of the training "
                 "comparisons decided) cannot be judged yet.")
    else:
        met = totals["decided (%)"] >= 100 * TARGET and not wide
        said += (f" The book-wide target (≥ {target} of the training comparisons decided, no "
                 f"unexplained wide interval) is {'met' if met else 'not met yet'}.")
    return said
