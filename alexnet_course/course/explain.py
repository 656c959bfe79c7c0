"""Why a verdict reads as it does, from the runs behind it.

The protocol (:mod:`.protocol`) asks two things of a comparison that its interval alone
cannot give:

* a half-width above ±1 point must come with a reason (:func:`why_wide`): runs that died
  and dropped their pairs, seeds that disagree more than the reference's, or a comparison
  already decided at the first stage, which the two-stage rule gives no more seeds; an
  undecided one also says about how many pairs ±1 point would take;
* a rate of runs that never started learning counts, besides dead runs, those still near
  ln C at the end of their budget (:func:`mark_not_started`);
* a comparison whose runs all died has no accuracy to compare (a dead run is never reported
  as a result), so what it answers is how often the change killed training: its rate of
  dead runs against the reference's, by Fisher's exact test (:func:`dead_rate_record`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from typing import Any

from .ablations import mark_ended_at_chance
from .protocol import FIRST_SEEDS, MARGIN, METRIC, dead_counts, verdict_records
from .stats import Comparison

ALPHA = 0.05  # Fisher's exact test: a rate "higher" below this p-value
DEAD_METRIC = "share of runs that died (Fisher's exact test)"


def _finished(runs: Iterable[Any], variant: str) -> list[float]:
    return [r.row.last_test_acc for r in runs
            if r.row.extra.get("variant", r.run) == variant and not r.failed]


def _sd_points(values: list[float]) -> float:
    return 100 * statistics.stdev(values) if len(values) > 1 else math.nan


def why_wide(runs: Iterable[Any], comparisons: Mapping[str, Comparison],
             labels: Mapping[str, str] | None = None) -> dict[str, str]:
    """For each comparison whose interval is wider than ±:data:`MARGIN`, the reasons in
    words, built from its runs (``compare``'s runs, with dead runs already labelled);
    ``labels`` names the variants in them (default: their names)."""
    runs = list(runs)
    name = (labels or {}).get
    out = {}
    for key, c in comparisons.items():
        if not math.isfinite(c.low) or (c.high - c.low) / 2 <= MARGIN:
            continue
        variant, reference = c.names
        dead = dead_counts(runs, variant, reference)
        reasons = [f"{s['dead']} of {s['runs']} runs of {name(s['name'], s['name'])} died, and their "
                   f"pairs dropped out"
                   for s in (dead["variant"], dead["reference"]) if s["dead"]]
        mine, theirs = _sd_points(_finished(runs, variant)), _sd_points(_finished(runs, reference))
        if mine > 1.5 * theirs:
            reasons.append(f"the finished runs of {name(variant, variant)} spread more (sd {mine:.1f} "
                           f"points against {theirs:.1f} for {name(reference, reference)})")
        elif theirs > 1.5 * mine:
            reasons.append(f"the finished runs of {name(reference, reference)} spread more (sd "
                           f"{theirs:.1f} points against {mine:.1f} for {name(variant, variant)})")
        half = 50 * (c.high - c.low)
        if c.settled and c.n <= FIRST_SEEDS:
            reasons.append(f"it was decided with the first stage's {c.n} pairs, and the two-stage "
                           f"rule gives more seeds only to undecided comparisons")
        elif not c.settled:
            # the half-width shrinks about as 1/sqrt(n): the pairs ±1 point would take
            needed = math.ceil(c.n * (half / (100 * MARGIN)) ** 2)
            reasons.append(f"still undecided at {c.n} pairs; ±1 point would take about {needed}")
        if not reasons:
            reasons.append(f"the paired differences disagree from seed to seed at {c.n} pairs")
        out[key] = f"±{half:.1f} points: " + "; ".join(reasons)
    return out


def dead_rate_record(question: str, runs: Iterable[Any], variant: str,
                     reference: str) -> dict[str, Any]:
    """A ``verdicts.json`` record of ``variant``'s rate of dead runs against ``reference``'s:
    the difference in points of the share, Fisher's ``p``, and "<name> higher" (more deaths)
    below :data:`ALPHA`, "undecided" above it, "not decidable" with fewer than
    :data:`.protocol.FISHER_MIN` runs a side."""
    d = dead_counts(runs, variant, reference)
    a, b = d["variant"], d["reference"]
    rate_a, rate_b = (s["dead"] / s["runs"] if s["runs"] else math.nan for s in (a, b))
    if d["p"] is None:
        verdict = "not decidable"
    elif d["p"] < ALPHA and rate_a != rate_b:
        verdict = f"{variant if rate_a > rate_b else reference} higher"
    else:
        verdict = "undecided"
    difference = 100 * (rate_a - rate_b)
    return {"question": question, "comparison": f"{variant} vs {reference}", "metric": DEAD_METRIC,
            "difference": round(difference, 3) if math.isfinite(difference) else None,
            "interval": [None, None], "n": min(a["runs"], b["runs"]), "verdict": verdict,
            "settled": verdict.endswith(" higher"), "p": d["p"],
            "dead": {a["name"]: [a["dead"], a["runs"]], b["name"]: [b["dead"], b["runs"]]}}


def against_records(question: str, runs: Iterable[Any],
                    comparisons: Mapping[str, Comparison]) -> list[dict[str, Any]]:
    """The ``verdicts.json`` records of a chapter's accuracy comparisons, each wide interval
    with its :func:`why_wide`; a comparison left without two finished pairs because its runs
    died is recorded by its rate of dead runs instead (:func:`dead_rate_record`)."""
    runs = list(runs)
    wide = why_wide(runs, comparisons)
    records = []
    for key, c in comparisons.items():
        variant, reference = c.names
        dead = dead_counts(runs, variant, reference)
        if c.n < 2 and dead["variant"]["dead"] + dead["reference"]["dead"]:
            records.append(dead_rate_record(question, runs, variant, reference))
        else:
            records += verdict_records(question, {key: c}, wide, metric=METRIC)
    return records


def mark_not_started(runs: Iterable[Any], num_classes: int = 10, *, started_acc: float = 0.3,
                     window: int = 20) -> int:
    """Label as failed every finished run that never started learning in its budget: its last
    epoch's mean training loss is still at least ``NOT_LEARNED_LOSS``·ln C (0.9·ln 10 ≈ 2.07)
    even if its accuracy crept above chance (a NiN under d2l's settings ended at loss 2.299
    and 18 % accuracy, which the chance test alone counts as learning), *and*, where the run
    recorded each batch, its training accuracy over the last ``window`` batches is below
    ``started_acc`` (a run that took off late in its last epoch has started, whatever that
    epoch's mean loss). Dead runs (:func:`.ablations.mark_ended_at_chance`) are labelled
    first. Returns how many runs this criterion added."""
    from ..guards import NOT_LEARNED_LOSS

    runs = list(runs)
    mark_ended_at_chance(runs, num_classes)
    floor = NOT_LEARNED_LOSS * math.log(num_classes)
    marked = 0
    for r in runs:
        if r.failed is not None or not r.history.records:
            continue
        last = r.history.last
        steps = last.get("step_train_acc") or []
        recent = sum(steps[-window:]) / len(steps[-window:]) if steps else None
        if last["train_loss"] < floor or (recent is not None and recent >= started_acc):
            continue
        r.failed = (f"never started learning: epoch {last['epoch']} ended at training loss "
                    f"{last['train_loss']:.3f} ≥ {NOT_LEARNED_LOSS:g}·ln {num_classes} = {floor:.2f}"
                    + (f", {recent:.0%} training accuracy over its last {len(steps[-window:])} batches"
                       if recent is not None else ""))
        r.row.failed = True
        marked += 1
    return marked
