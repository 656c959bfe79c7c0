"""The speed-run's recorded JSON (``benchmarks/speedrun.py``) as tables and a figure.

The benchmark writes ``benchmarks/results/speedrun_<device>_<target>.json`` (one recipe, a
fresh process per seed) and ``speedrun_ablation_<device>_<target>.json`` (one trick at a
time). Chapter 01 draws them beside its own simplified AlexNets and the Performance page
tabulates them; both read them here. Outside a checkout there are none, and
:func:`load_speedruns` returns an empty mapping, which the chapter reports as such.

Times are from the start of each seed's Python process to the first evaluation at or above
the target (data loading, ``import torch`` and every evaluation included); a seed that never
got there has no time and ranks after every seed that did.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from ..jsonfiles import DamagedFile
from ..jsonfiles import read_json as read_course_json
from .chapter import book_root

SUMMARY_COLUMNS = ("n", "reached", "median_s", "min_s", "max_s", "within_budget",
                   "final_acc_median", "final_acc_min", "final_acc_max")


def speedrun_folder(root: Path | None = None) -> Path | None:
    """``benchmarks/results`` of the checkout at or above ``root`` (default: the working
    directory); None outside a checkout (e.g. on Colab)."""
    book = book_root(root)
    return book / "benchmarks" / "results" if book is not None else None


def load_speedruns(folder: Path | None = None) -> dict[str, dict[str, Any]]:
    """Every ``speedrun_*.json`` in ``folder`` (default :func:`speedrun_folder`) by file stem;
    tuning runs on the validation split (``speedrun_val_…``) are left out: the book reports
    test accuracy only. A damaged file raises :class:`DamagedRecord` naming it."""
    folder = folder if folder is not None else speedrun_folder()
    if folder is None or not folder.is_dir():
        return {}
    out = {}
    for path in sorted(folder.glob("speedrun_*.json")):
        how = ("make speedrun-ablation" if path.name.startswith("speedrun_ablation_") else
               "make speedrun")  # both run `python -m benchmarks.speedrun ... --replace-record`
        payload = read_json(path, regenerate=how)
        if is_speedrun(payload) and payload.get("split", "test") == "test":
            out[path.stem] = payload
    return out


class DamagedRecord(DamagedFile):
    """A benchmark record that exists but cannot be read: not the same as "not measured"."""


def read_json(path: Path, *, regenerate: str) -> dict[str, Any] | None:
    """The JSON object in ``path``, or ``None`` when there is no file. A file that is not a
    JSON object (a write cut short, a bad merge) raises :class:`DamagedRecord` naming it and
    ``regenerate``, the command that writes it again: reporting it as "not measured" would
    hide a measurement that was made."""
    if not path.is_file():
        return None
    fix = f"regenerate it with `{regenerate}` (or restore the committed one: git checkout -- {path})"
    try:
        payload = read_course_json(path, fix=fix)
    except DamagedFile as err:
        raise DamagedRecord(str(err), path) from None
    if not isinstance(payload, dict):
        raise DamagedRecord(f"{path}: this JSON file is damaged (a JSON {type(payload).__name__}, "
                            f"not an object); {fix}", path)
    return payload


def is_speedrun(payload: dict[str, Any]) -> bool:
    """A recipe's or an ablation's record (not, e.g., ``speedrun_profile``'s step profile)."""
    return payload.get("benchmark") == "speedrun" and ("summary" in payload or "rows" in payload)


def recipes(runs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in runs.items() if "rows" not in v}


def ablations(runs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in runs.items() if "rows" in v}


def to_frame(payload: dict[str, Any]) -> pd.DataFrame:
    """A recipe's or an ablation's JSON as a table, one row per recipe/row, from the
    summaries (a median not reached is NaN, never a time). An ablation's table adds
    ``× previous``: the row's median seconds-to-target divided by that of the carried row
    before it (below 1: the trick made the run faster)."""
    if "rows" not in payload:
        sm = payload.get("summary", {})
        return pd.DataFrame([{"target": sm.get("target"), "split": payload.get("split"),
                              **{c: sm.get(c) for c in SUMMARY_COLUMNS}, "meets": sm.get("meets")}])
    rows, before = [], None
    for r in payload["rows"]:
        sm = r.get("summary", {})
        median = sm.get("median_s")
        ratio = (median / before if median is not None and before is not None else None)
        rows.append({"step": r["name"], "change": r["change"], "in_recipe": r["in_recipe"],
                     **{c: sm.get(c) for c in SUMMARY_COLUMNS}, "× previous": ratio})
        if r["in_recipe"]:
            before = median
    return pd.DataFrame(rows).astype({"median_s": float, "× previous": float})


def trajectory(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Median seconds and median accuracy at each evaluated step, over the seeds that got
    there (a seed that stopped at the target or a time limit drops out after it)."""
    by_step: dict[int, list[dict[str, Any]]] = {}
    for rec in records:
        for e in rec.get("evals", []):
            by_step.setdefault(e["step"], []).append(e)
    rows = [{"step": step, "epoch": evals[0]["epoch"], "n": len(evals),
             "seconds": statistics.median(e["seconds"] for e in evals),
             "acc": statistics.median(e["acc"] for e in evals)}
            for step, evals in sorted(by_step.items())]
    return pd.DataFrame(rows, columns=["step", "epoch", "n", "seconds", "acc"])


def hardware_text(payload: dict[str, Any]) -> str:
    hw = payload.get("hardware", {})
    return (f"{hw.get('cpu') if hw.get('device') == 'cpu' else hw.get('gpu', hw.get('device'))}, "
            f"{hw.get('torch_threads')} torch threads, torch {hw.get('torch')}, {hw.get('date')}")


def _seconds(x: float | None) -> str:
    return "—" if x is None else f"{x:.1f} s"


def recipe_phrase(payload: dict[str, Any]) -> str:
    """"to 0.90 in a median of … (range …, k of n seeds …), ending at …" from a recipe's summary."""
    sm = payload["summary"]
    within = (f"; {sm['within_budget']} of {sm['n']} within {sm['budget_s']:.0f} s"
              if sm.get("budget_s") else "")
    end = (f", ending at {sm['final_acc_median']:.4f} test accuracy (median; "
           f"{sm['final_acc_min']:.4f} to {sm['final_acc_max']:.4f})"
           if sm.get("final_acc_median") is not None else "")
    return (f"to {sm['target']:.2f} in a median of {_seconds(sm['median_s'])} (range "
            f"{_seconds(sm['min_s'])} to {_seconds(sm['max_s'])}; {sm['reached']} of {sm['n']} "
            f"seeds reached it{within}){end}")


def frontier_answer(runs: dict[str, dict[str, Any]], variants: pd.DataFrame | None = None, *,
                    acc: str = "test acc", time: str = "training s") -> str:
    """The frontier in words, every number from ``runs`` (and ``variants``, chapter 01's
    simplified AlexNets); a sentence saying there is none when no recipe was recorded."""
    rec = recipes(runs)
    if not rec:
        return ("The speed-run's JSON is not in this folder (a checkout's `make speedrun` "
                "records it), so this run shows no frontier.")
    text = (f"**The speed-run frontier** (recorded by `make speedrun` on "
            f"{hardware_text(next(iter(rec.values())))}, each seed timed from the start of its "
            f"process): " + "; ".join(recipe_phrase(rec[k]) for k in sorted(rec)) + ".")
    for payload in ablations(runs).values():
        first = to_frame(payload).iloc[0]
        if pd.isna(first["median_s"]):
            took = (f"half or more of its {int(first['n'])} seeds did not reach it within "
                    f"{payload.get('time_limit_s'):.0f} s")
        else:
            took = (f"a median of {first['median_s']:.1f} s ({int(first['reached'])} of "
                    f"{int(first['n'])} seeds reached it)")
        text += (f" The homework's network trained the homework's way, on the same clock, to "
                 f"{payload['recipe']['target']:.2f}: {took}.")
    if variants is not None and len(variants):
        best = variants.loc[variants[acc].idxmax()]
        text += (f" For comparison, the most accurate simplified AlexNet above reached "
                 f"{best[acc]:.3f} after {best[time]:.0f} s of training alone.")
    return text


def plot_frontier(runs: dict[str, dict[str, Any]], variants: pd.DataFrame | None = None, *,
                  acc: str = "test acc", time: str = "training s", err: str | None = None,
                  threshold: float | None = None) -> Figure:
    """Accuracy against seconds: each recipe's median trajectory (seconds from process start),
    the ablation's first row (the homework's network trained the homework's way, same clock)
    and, as points, ``variants`` (chapter 01's table; its ``time`` column is training time
    only, start-up and evaluation left out, which favours them)."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for name, payload in recipes(runs).items():
        t = trajectory(payload["seeds"])
        ax.plot(t["seconds"], t["acc"], "o-", label=f"speed-run for {payload['summary']['target']:.2f} "
                                                    f"(median of {payload['summary']['n']} seeds)")
    for name, payload in ablations(runs).items():
        first = payload["rows"][0]
        t = trajectory(first["seeds"])
        ax.plot(t["seconds"], t["acc"], "s--", label=f"homework AlexNet, homework's training "
                                                     f"(median of {len(first['seeds'])} seeds)")
    if variants is not None and len(variants):
        ax.errorbar(variants[time], variants[acc],
                    yerr=variants[err].fillna(0.0) if err else None, fmt="D", color="grey",
                    capsize=3, label="chapter 01's simplified AlexNets (training time only)")
    if threshold is not None:
        ax.axhline(threshold, color="grey", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("seconds (wall clock)")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


__all__ = ["DamagedRecord", "read_json", "SUMMARY_COLUMNS", "ablations", "frontier_answer", "hardware_text", "is_speedrun",
           "load_speedruns", "plot_frontier", "recipe_phrase", "recipes", "speedrun_folder", "to_frame", "trajectory"]
