"""The conclusive protocol every chapter's comparisons follow, as code.

* **Converged training**: each run's rate decays to zero along a cosine over the run
  (:func:`recipe`; or falls by the paper's ÷10 steps, at least two of them inside the run),
  and its number of epochs ``E`` is checked by a *pilot*: the setting's
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
  or "undecided", with the interval (:func:`.stats.paired_compare`); two measures of the
  same runs (ten-crop against centre-crop accuracy) are paired by run (:func:`compare_metrics`).
* **Dead runs** are counted per variant, and their rates compared by Fisher's exact test only
  with at least :data:`FISHER_MIN` runs a side (:func:`dead_counts`).

A chapter's verdicts are written beside its runs, in ``verdicts.json``
(:func:`write_verdicts`), which the results page counts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from .ablations import Spec, mark_ended_at_chance, verdicts
from .stats import Comparison, mean_ci, paired_compare
from . import store
from ..jsonfiles import read_json

MARGIN = 0.01          # ±1 point of accuracy: "equivalent" when the whole interval is inside
FIRST_SEEDS = 5        # paired seeds per compared variant ...
MORE_SEEDS = 10        # ... and for a comparison still undecided after them
VAL_SIZE = 5_000       # training images held out to choose epochs and rates
PILOT_FACTOR = 1.5     # the pilot trains this many times the chosen epochs ...
PILOT_TOLERANCE = 0.003  # ... and must move validation accuracy by less than this
METRIC = "last test acc"  # the accuracy compared: at the end of the decayed schedule
FISHER_MIN = 8         # runs a side before rates of dead runs are compared (Fisher's exact test)
VERDICTS = "verdicts.json"
# verdicts.json is computed from the stored runs: rewriting it retrains nothing
_VERDICTS_FIX = "delete it and rerun `{command}`, which writes it again from the stored runs"
VERDICT_FIELDS = ("question", "comparison", "metric", "difference", "interval", "n", "verdict")


def recipe(epochs: int, *, scheduler: str = "cosine", **keywords: Any) -> dict[str, Any]:
    """``train_run`` keywords for a converged run of ``epochs`` epochs: a cosine decay to
    zero over the whole run (per batch; ``scheduler="multistep"`` with its
    ``scheduler_kwargs`` for the paper's ÷10 steps instead), the validation split held out,
    augmentation paired by seed; ``keywords`` add to them (``lr``, ``optimizer`` ...)."""
    data = {"val_size": VAL_SIZE, "paired_augment": True, **keywords.pop("data_kwargs", {})}
    return dict(epochs=epochs, scheduler=scheduler, data_kwargs=data, **keywords)


def val_acc(run: Any) -> float:
    """A run's validation accuracy at its last epoch; NaN for a run stopped by a guard,
    ended at chance or that did not learn (it has none to choose by)."""
    if run.failed or not run.history.records:
        return math.nan
    return float(run.history.last.get("val_acc", math.nan))


def rate_specs(specs: Sequence[Spec], lrs: Sequence[float]) -> list[Spec]:
    """The learning-rate grid: each spec at each rate of ``lrs``, named
    ``<spec>_lr<rate>`` (one seed each)."""
    return [replace(s, name=f"{s.name}_lr{lr:g}", change=f"{s.change}, lr {lr:g}",
                    train={**s.train, "lr": lr}) for s in specs for lr in lrs]


def best_rates(grid: Mapping[str, str], lrs: Sequence[float], runs: Iterable[Any], *,
               all_dead: str = "raise") -> dict[str, dict[str, float]]:
    """``{variant: {"lr": best}}`` for each ``variant → grid spec`` of ``grid``: the rate of
    ``lrs`` whose grid run of that spec ended with the best validation accuracy. Where every
    grid run of a spec died there is no best rate: ``all_dead="raise"`` says so, ``"middle"``
    takes the grid's middle rate (tiny smoke runs, which may all end at chance)."""
    if all_dead not in ("raise", "middle"):
        raise ValueError(f"all_dead must be 'raise' or 'middle', got {all_dead!r}")
    runs = list(runs)
    mark_ended_at_chance(runs)
    by_name = {r.run: r for r in runs}
    out = {}
    for variant, source in grid.items():
        scores = pd.Series({lr: val_acc(by_name[f"{source}_lr{lr:g}"]) for lr in lrs})
        if scores.isna().all() and all_dead == "raise":
            raise ValueError(f"every grid run of {source!r} failed: no rate to choose for {variant!r}")
        best = sorted(lrs)[len(lrs) // 2] if scores.isna().all() else scores.idxmax()
        out[variant] = {"lr": float(best)}
    return out


def tune_rates(lrs: Sequence[float], grid: Mapping[str, str], names: Sequence[str],
               runs: Iterable[Any]) -> dict[str, dict[str, float]]:
    """An experiment's ``tune``: the rate of each of ``names`` chosen from ``lrs`` on the
    validation split, by the grid runs of the variant that ``grid`` (variant → grid spec)
    names for it; a pilot's ``<variant>_e<epochs>`` takes its variant's. A grid spec whose
    runs all died gives the grid's middle rate (the page's rate table shows it dead)."""
    best = best_rates({g: g for g in set(grid.values())}, lrs, runs, all_dead="middle")
    out = {}
    for name in names:
        variant = name if name in grid else name.rsplit("_e", 1)[0]
        if variant not in grid:
            raise ValueError(f"{name!r} has no grid run to take its rate from; grid: {sorted(grid)}")
        out[name] = dict(best[grid[variant]])
    return out


def rate_table(grid: Mapping[str, str], lrs: Sequence[float], runs: Iterable[Any]) -> pd.DataFrame:
    """Validation accuracy of every grid run: one row per grid spec, one column per rate."""
    by_name = {r.run: r for r in runs}
    sources = list(dict.fromkeys(grid.values()))
    return pd.DataFrame({f"lr {lr:g}": {s: val_acc(by_name[f"{s}_lr{lr:g}"]) for s in sources}
                         for lr in lrs})


def pilot_specs(specs: Sequence[Spec], epochs: int) -> list[Spec]:
    """The epoch pilot of each spec: the same run for ``E / 2`` and ``1.5 E`` epochs, named
    ``<spec>_e<epochs>`` (the ``E``-epoch run is the experiment's seed 0); ``E`` is the
    spec's own ``epochs`` where it sets one, else ``epochs``."""
    return [replace(s, name=f"{s.name}_e{e}", change=f"{s.change}, {e} epochs",
                    train={**s.train, "epochs": e})
            for s in specs for e in pilot_epochs(s.train.get("epochs", epochs))
            if e != s.train.get("epochs", epochs)]


def pilot_epochs(epochs: int) -> list[int]:
    """``[E / 2, E, 1.5 E]``, rounded up."""
    return [max(1, math.ceil(epochs / 2)), epochs, math.ceil(PILOT_FACTOR * epochs)]


def _pilot_runs(name: str, epochs: int, by_name: Mapping[str, Any]) -> dict[int, Any]:
    return {e: by_name[name if e == epochs else f"{name}_e{e}"] for e in pilot_epochs(epochs)}


def pilot_table(epochs: Mapping[str, int], runs: Iterable[Any]) -> pd.DataFrame:
    """For each piloted variant (``epochs``: variant → its ``E``): its validation accuracy
    at ``E / 2``, ``E`` and ``1.5 E`` epochs and whether the last step moved it by less
    than the tolerance (``converged``). ``runs`` holds the experiments' seed-0 runs and the
    pilot's."""
    by_name = {r.run: r for r in runs}
    rows = {}
    for name, e in epochs.items():
        accs = [val_acc(r) for r in _pilot_runs(name, e, by_name).values()]
        step = accs[-1] - accs[1]
        rows[name] = {"E": e, "val acc at E / 2": accs[0], "val acc at E": accs[1],
                      "val acc at 1.5 E": accs[2], "1.5 E − E (points)": 100 * step,
                      "converged": bool(abs(step) < PILOT_TOLERANCE)}
    return pd.DataFrame.from_dict(rows, orient="index")


def compare(runs: Iterable[Any], against: Mapping[str, str]) -> dict[str, Comparison]:
    """Each ``variant → reference`` of ``against`` as a paired comparison of :data:`METRIC`
    with the ±:data:`MARGIN` equivalence verdict; runs that ended at chance or did not learn
    are labelled failed first (their pairs drop out)."""
    runs = list(runs)
    mark_ended_at_chance(runs)
    return verdicts(runs, against, metric=METRIC, margin=MARGIN, paired=True)


def to_extend(comparisons: Mapping[str, Comparison]) -> set[str]:
    """The variants of every comparison still undecided after the first stage: both sides
    go to :data:`MORE_SEEDS` seeds."""
    return {name for c in comparisons.values() if not c.settled for name in c.names}


def metric_value(run: Any, metric: str) -> float:
    """A finished run's ``metric``: :data:`METRIC` or a column its row added (a final
    evaluation such as ``"ten-crop acc"``); NaN for a failed run."""
    if run.failed:
        return math.nan
    return float(run.row.last_test_acc if metric == METRIC else run.row.extra[metric])


def compare_metrics(runs: Iterable[Any], variant: str, metric: str,
                    reference: str = METRIC) -> Comparison:
    """``metric`` against ``reference`` measured on the same runs of ``variant`` (ten-crop
    against centre-crop accuracy of the same networks), paired by run, with the ±:data:`MARGIN`
    verdict; runs that ended at chance drop out."""
    runs = [r for r in runs if r.row.extra.get("variant", r.run) == variant]
    if not runs:
        raise ValueError(f"no runs of {variant!r} to compare {metric!r} with {reference!r} on")
    mark_ended_at_chance(runs)
    return paired_compare([metric_value(r, metric) for r in runs],
                          [metric_value(r, reference) for r in runs],
                          names=(metric, reference), margin=MARGIN)


def dead_counts(runs: Iterable[Any], variant: str, reference: str) -> dict[str, Any]:
    """How many runs of ``variant`` and of ``reference`` died (stopped by a guard or ended at
    chance), and Fisher's exact test of the two rates (``p``) only when both have at least
    :data:`FISHER_MIN` runs; with fewer, ``p`` is None: counted, not claimed."""
    from scipy.stats import fisher_exact

    runs = list(runs)
    mark_ended_at_chance(runs)
    out: dict[str, Any] = {}
    for side, name in (("variant", variant), ("reference", reference)):
        mine = [r for r in runs if r.row.extra.get("variant", r.run) == name]
        out[side] = {"name": name, "runs": len(mine), "dead": sum(bool(r.failed) for r in mine)}
    a, b = out["variant"], out["reference"]
    enough = min(a["runs"], b["runs"]) >= FISHER_MIN
    out["p"] = (float(fisher_exact([[a["dead"], a["runs"] - a["dead"]],
                                    [b["dead"], b["runs"] - b["dead"]]])[1]) if enough else None)
    return out


def verdict_word(c: Comparison) -> str:
    """The protocol's verdict: "<A> higher", "<B> higher", "equivalent within ±1 point" or
    "undecided" (with too few pairs: "not decidable")."""
    if c.decided:
        return c.verdict
    if c.equivalent:
        return f"equivalent within ±{100 * MARGIN:g} point"
    return "undecided" if c.n >= 2 else "not decidable"


def summary(runs: Iterable[Any], comparisons: Mapping[str, Comparison]) -> pd.DataFrame:
    """One row per variant (in run order): its final test accuracy as mean ± 95 % (n), and
    for a compared variant its reference, the paired difference in points ("+2.09") with
    its interval, the number of pairs and the verdict; a variant compared with nothing
    says so in those columns rather than leaving them empty."""
    runs = list(runs)
    values: dict[str, list[float]] = {}
    for r in runs:
        finished = values.setdefault(r.row.extra.get("variant", r.run), [])
        if not r.failed:
            finished.append(r.row.last_test_acc)
    reference = {c.names[1] for c in comparisons.values()}
    rows = {}
    for variant, accs in values.items():
        ci = mean_ci(accs)
        row: dict[str, Any] = {"test acc": ci.mean, "test acc (mean ± 95 %, n)": ci.format(),
                               "runs": sum(r.row.extra.get("variant", r.run) == variant for r in runs),
                               "stopped": sum(bool(r.failed) for r in runs
                                              if r.row.extra.get("variant", r.run) == variant)}
        c = comparisons.get(variant)
        if c is None:  # a reference (or a variant no comparison names)
            row.update({"compared with": "—", "Δ (points)": "—", "95 % interval": "—",
                        "pairs": "—", "verdict": "the reference" if variant in reference
                        else "not compared"})
        else:
            row.update({"compared with": c.names[1],
                        "Δ (points)": f"{100 * c.diff:+.2f}" if math.isfinite(c.diff) else "—",
                        "95 % interval": (f"{100 * c.low:+.1f} to {100 * c.high:+.1f}"
                                          if math.isfinite(c.low) else "—"),
                        "pairs": c.n, "verdict": verdict_word(c)})
        rows[variant] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def lower_bounds(runs: Iterable[Any]) -> dict[str, float]:
    """Each variant's lower end of the 95 % interval of its final test accuracy (finished
    runs only): "holds 85 %" is judged by it, not by the mean."""
    values: dict[str, list[float]] = {}
    for r in runs:
        finished = values.setdefault(r.row.extra.get("variant", r.run), [])
        if not r.failed:
            finished.append(r.row.last_test_acc)
    return {v: mean_ci(accs).low for v, accs in values.items()}


def answer(comparisons: Mapping[str, Comparison], labels: Mapping[str, str]) -> str:
    """The comparisons in one paragraph, grouped by verdict, each with its difference and
    interval in points: the page's answer, generated from the runs. ``labels`` names each
    compared variant's change in words. Each comparison is said once: one with a direction
    whose whole interval is also inside the margin is said with its direction."""
    def said(key: str) -> str:
        c = comparisons[key]
        if not math.isfinite(c.diff):  # every pair dropped out (dead runs): no difference to give
            return f"{labels.get(key, key)} (no finished pair, n = {c.n})"
        interval = (f"{100 * c.low:+.1f} to {100 * c.high:+.1f}" if math.isfinite(c.low) else "no interval")
        small = f", a direction within ±{100 * MARGIN:g} point" if c.decided and c.equivalent else ""
        return f"{labels.get(key, key)} ({100 * c.diff:+.1f} points, {interval}, n = {c.n}{small})"
    groups = {"Raised the accuracy": [k for k, c in comparisons.items()
                                      if c.decided and c.verdict == f"{c.names[0]} higher"],
              "Lowered it": [k for k, c in comparisons.items()
                             if c.decided and c.verdict != f"{c.names[0]} higher"],
              f"Equivalent within ±{100 * MARGIN:g} point": [k for k, c in comparisons.items()
                                                             if c.equivalent and not c.decided],
              "Undecided": [k for k, c in comparisons.items() if not c.settled and c.n >= 2],
              # fewer than two pairs (every run of a side died, say): no interval to be undecided in
              "Not decidable": [k for k, c in comparisons.items() if not c.settled and c.n < 2]}
    return " ".join(f"{head}: {'; '.join(said(k) for k in keys)}." for head, keys in groups.items()
                    if keys)


def verdict_records(question: str, comparisons: Mapping[str, Comparison],
                    why_wide: Mapping[str, str] | None = None,
                    metric: str = METRIC) -> list[dict[str, Any]]:
    """The comparisons as ``verdicts.json`` records: ``question``, ``comparison`` ("A vs B"),
    ``metric``, ``difference`` and ``interval`` (points of accuracy), ``n`` (paired seeds),
    ``verdict``, and ``why_wide`` where given for a half-width above 1 point."""
    out = []
    for variant, c in comparisons.items():
        record = c.to_record(question, f"{c.names[0]} vs {c.names[1]}", metric)
        record["difference"] = _points(c.diff)
        record["interval"] = [_points(c.low), _points(c.high)]
        record["verdict"] = verdict_word(c)
        record["settled"] = c.settled
        if why_wide and variant in why_wide:
            record["why_wide"] = why_wide[variant]
        out.append(record)
    return out


def _points(x: float) -> float | None:
    return None if not math.isfinite(x) else round(100 * x, 3)


def write_verdicts(folder: Path, records: Sequence[Mapping[str, Any]],
                   pilots: Sequence[Mapping[str, Any]] = ()) -> Path:
    """``verdicts.json`` in a chapter's store folder (atomically); each record must carry
    :data:`VERDICT_FIELDS`. ``pilots``: the epoch pilot's records (``chapter_pilots``), so
    that whoever counts the verdicts also sees whether the runs behind them converged."""
    for r in records:
        lacking = [f for f in VERDICT_FIELDS if f not in r]
        if lacking:
            raise ValueError(f"verdict record {r!r} lacks {', '.join(lacking)}")
    for p in pilots:
        if "variant" not in p or not isinstance(p.get("converged"), bool):
            raise ValueError(f"pilot record {p!r} needs a 'variant' and 'converged' (True or False)")
    path = Path(folder) / VERDICTS
    store.write(path, {"margin_points": 100 * MARGIN, "verdicts": list(records), "pilots": list(pilots)})
    return path


def read_verdicts(folder: Path) -> list[dict[str, Any]]:
    """The records of a chapter's ``verdicts.json`` (empty when it has none)."""
    path = Path(folder) / VERDICTS
    if not path.is_file():
        return []
    return read_json(path, fix=_VERDICTS_FIX.format(command=store.refill_command(folder)))["verdicts"]


def read_pilots(folder: Path) -> list[dict[str, Any]]:
    """The epoch pilot's records in a chapter's ``verdicts.json`` (empty when it has none,
    or was written before pilots were recorded)."""
    path = Path(folder) / VERDICTS
    if not path.is_file():
        return []
    return read_json(path, fix=_VERDICTS_FIX.format(command=store.refill_command(folder))
                     ).get("pilots", [])


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


def plot_pilot(epochs: Mapping[str, int], runs: Iterable[Any]) -> Any:
    """The pilot curves: for each piloted variant (``epochs``: variant → its ``E``),
    validation accuracy after every epoch of its ``E / 2``, ``E`` and ``1.5 E`` runs (each
    decays its rate to zero at its own end)."""
    import matplotlib.pyplot as plt

    by_name = {r.run: r for r in runs}
    fig, axes = plt.subplots(1, len(epochs), figsize=(3.2 * len(epochs), 2.8), squeeze=False)
    for ax, (name, e) in zip(axes[0], epochs.items()):
        pilot = _pilot_runs(name, e, by_name)
        for k, run in pilot.items():
            h = run.history
            ax.plot([r["epoch"] for r in h.records], [r.get("val_acc") for r in h.records],
                    marker=".", label=f"{k} epochs")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch")
        finite = [x for x in map(val_acc, pilot.values()) if math.isfinite(x)]
        if finite:
            ax.set_ylim(min(finite) - 0.03, max(finite) + 0.01)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("validation accuracy")
    fig.tight_layout()
    return fig
