"""Convergence speed apart from final accuracy: epochs until a run's training accuracy
first reached a target, and the ratio of two variants' epochs on paired seeds.

A run that learns faster is not necessarily one that ends higher (the CIFAR-10 notes
behind chapter 03 saw 64-pixel inputs converge faster than 128-pixel ones, which ended
higher), so a page that compares final accuracies (:mod:`.protocol`) can report speed as
a second measure of the same runs. Epochs are counted to the batch, from the per-batch
training accuracies ``fit(step_metrics=True)`` records (:meth:`History.epochs_to_train_acc`,
the measure of AlexNet's Figure 1). An epoch count is positive and its spread grows with
it, so two variants are compared by the ratio of their epochs on each seed, summarised by
the geometric mean and a 95 % interval taken on the logarithms.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .stats import mean_ci

WINDOW = 20  # batches the training accuracy is averaged over before it counts as reached


def epochs_to(run: Any, target: float, window: int = WINDOW) -> float:
    """Fractional epochs until ``run``'s training accuracy, averaged over ``window``
    batches, first reached ``target``; NaN for a failed run or one that never reached it."""
    if run.failed or not run.history.records:
        return math.nan
    return run.history.epochs_to_train_acc(target, window=window)


def epochs_by_seed(runs: Iterable[Any], variant: str, target: float) -> dict[int, float]:
    """``{seed: epochs to target}`` for every run of ``variant`` (NaN where not reached)."""
    return {int(r.row.extra["seed"]): epochs_to(r, target) for r in runs
            if r.row.extra.get("variant") == variant}


@dataclass(frozen=True)
class SpeedRatio:
    """``variant``'s epochs to a target over ``reference``'s: the geometric mean over the
    ``n`` seeds on which both reached it, with its 95 % interval (NaN below 2 pairs);
    ``reached`` counts, per side, the seeds that reached it of those run."""

    variant: str
    reference: str
    ratio: float
    low: float
    high: float
    n: int
    reached: dict[str, tuple[int, int]]

    @property
    def verdict(self) -> str:
        """"<variant> faster" or "<reference> faster" when the interval excludes 1, else
        "undecided" ("not decidable" below 2 pairs)."""
        if self.n < 2 or not math.isfinite(self.low):
            return "not decidable"
        if self.high < 1:
            return f"{self.variant} faster"
        if self.low > 1:
            return f"{self.reference} faster"
        return "undecided"

    def sentence(self, labels: dict[str, str] | None = None) -> str:
        """The ratio in words, e.g. ``"64 px needed 0.62× the epochs of 32 px (95 %
        interval 0.55× to 0.70×, 5 paired seeds): 64 px faster"``."""
        name = (labels or {}).get
        a, b = name(self.variant, self.variant), name(self.reference, self.reference)
        if self.n < 2:
            counts = ", ".join(f"{name(k, k)} {hit} of {of}" for k, (hit, of) in self.reached.items())
            return f"{a} against {b}: fewer than 2 seeds reached it on both sides ({counts})"
        said = (f"{a} faster" if self.high < 1 else f"{b} faster" if self.low > 1 else "undecided")
        return (f"{a} needed {self.ratio:.2f}× the epochs of {b} (95 % interval {self.low:.2f}× "
                f"to {self.high:.2f}×, {self.n} paired seeds): {said}")


def speed_ratio(runs: Iterable[Any], variant: str, reference: str, target: float) -> SpeedRatio:
    """``variant`` against ``reference`` on epochs to ``target``, paired by seed."""
    runs = list(runs)
    mine, theirs = (epochs_by_seed(runs, v, target) for v in (variant, reference))
    logs = [math.log(mine[s] / theirs[s]) for s in sorted(set(mine) & set(theirs))
            if math.isfinite(mine[s]) and math.isfinite(theirs[s])]
    ci = mean_ci(logs)
    reached = {v: (sum(math.isfinite(x) for x in e.values()), len(e))
               for v, e in ((variant, mine), (reference, theirs))}
    return SpeedRatio(variant, reference, math.exp(ci.mean) if ci.n else math.nan,
                      math.exp(ci.low) if ci.n > 1 else math.nan,
                      math.exp(ci.high) if ci.n > 1 else math.nan, ci.n, reached)


def median_range(values: Iterable[float]) -> str:
    """``"2.41 (2.10–2.93), 5 of 5 seeds"``: the median and range of the finite epoch
    counts and how many seeds reached the target."""
    values = list(values)
    done = sorted(v for v in values if math.isfinite(v))
    if not done:
        return f"not reached by any of {len(values)} seeds"
    mid = len(done) // 2
    median = done[mid] if len(done) % 2 else (done[mid - 1] + done[mid]) / 2
    return f"{median:.2f} ({done[0]:.2f}–{done[-1]:.2f}), {len(done)} of {len(values)} seeds"
