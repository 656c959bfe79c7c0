"""Statistics over seeds: a mean with its 95 % interval, a difference with a verdict.

Every number the book compares is a mean over independent seeds, shown as
``mean ± half-width (n)`` where the half-width is that of Student's t interval; a single
run shows ``(n = 1)`` and no spread. Two configurations are compared by the difference of
their means with Welch's interval (unequal variances), and the verdict says which is
higher only when that interval excludes zero — otherwise "no difference detectable with
n seeds", which is an answer too: the effect is smaller than this scale resolves.

With a ``margin`` (the conclusive protocol: ±1 point of accuracy) there are three answers and
a cost: "<A> higher" or "<B> higher" (the interval excludes zero), "equivalent within ±m"
(the whole interval lies inside ±margin), otherwise "undecided", which says to size the
experiment up rather than that the effect is absent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as _st

CONFIDENCE = 0.95


def _values(values: Iterable[float]) -> np.ndarray:
    """Finite values as floats (a guard-stopped run's NaN accuracy is not a result)."""
    arr = np.asarray([float(v) for v in values], dtype=float)
    return arr[np.isfinite(arr)]


@dataclass(frozen=True)
class Interval:
    """A mean over ``n`` runs with the half-width of its t interval (NaN for n < 2)."""

    mean: float
    half_width: float
    n: int
    confidence: float = CONFIDENCE

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    def format(self, digits: int = 3, scale: float = 1.0) -> str:
        """``"0.861 ± 0.004 (n = 3)"``; ``"0.861 (n = 1)"``; ``"— (n = 0)"``."""
        if self.n == 0:
            return "— (n = 0)"
        mean = f"{self.mean * scale:.{digits}f}"
        if self.n < 2:
            return f"{mean} (n = 1)"
        return f"{mean} ± {self.half_width * scale:.{digits}f} (n = {self.n})"

    def __str__(self) -> str:
        return self.format()


def mean_ci(values: Iterable[float], confidence: float = CONFIDENCE) -> Interval:
    """Mean and Student-t half-width of the finite ``values``."""
    x = _values(values)
    n = len(x)
    if n == 0:
        return Interval(math.nan, math.nan, 0, confidence)
    if n == 1:
        return Interval(float(x[0]), math.nan, 1, confidence)
    sem = float(x.std(ddof=1)) / math.sqrt(n)
    half = float(_st.t.ppf(0.5 + confidence / 2, n - 1)) * sem
    return Interval(float(x.mean()), half, n, confidence)


@dataclass(frozen=True)
class Comparison:
    """``a − b`` with Welch's interval and the verdict in words."""

    names: tuple[str, str]
    a: Interval
    b: Interval
    diff: float
    low: float
    high: float
    p_value: float
    verdict: str
    margin: float | None = None  # the equivalence margin, in the metric's unit
    n: int = 0  # runs (Welch: the smaller side) or pairs behind the interval

    @property
    def decided(self) -> bool:
        """True when the interval of the difference excludes zero."""
        return self.verdict in (f"{self.names[0]} higher", f"{self.names[1]} higher")

    @property
    def equivalent(self) -> bool:
        """True when the whole interval lies inside ±``margin``."""
        return (self.margin is not None and math.isfinite(self.low)
                and -self.margin <= self.low and self.high <= self.margin)

    @property
    def settled(self) -> bool:
        """A direction or an equivalence: the comparison needs no more runs."""
        return self.decided or self.equivalent

    def to_record(self, question: str, comparison: str, metric: str) -> dict:
        """The comparison as a row of a chapter's verdict file (interval in the metric's unit)."""
        return {"question": question, "comparison": comparison, "metric": metric,
                "difference": self.diff, "interval": [self.low, self.high], "n": self.n,
                "verdict": self.verdict}

    def named_verdict(self, labels: Mapping[str, str] | None = None) -> str:
        """The verdict with each compared name replaced by its label (``{"relu": "ReLU"}``)."""
        text = self.verdict
        for name in sorted(self.names, key=len, reverse=True):  # a name inside another: longest first
            text = text.replace(name, (labels or {}).get(name, name))
        return text

    def sentence(self, scale: float = 100.0, unit: str = "points",
                 labels: Mapping[str, str] | None = None) -> str:
        """The comparison in words for the prose, e.g. ``"0.884 ± 0.003 (n = 3) against
        0.861 ± 0.005 (n = 3): relu higher by 2.3 points (95 % interval +1.6 to +3.0)"``;
        ``labels`` names the compared variants in the verdict (:meth:`named_verdict`)."""
        pct = f"{self.a.confidence:.0%}".replace("%", " %")
        head = f"{self.a} against {self.b}: "
        verdict = self.named_verdict(labels)
        if self.decided:
            body = f"{verdict} by {abs(self.diff) * scale:.1f} {unit}"
        else:  # an equivalence margin in the sentence's unit, not the metric's
            m = self.margin * scale if self.margin is not None else math.nan
            said = (f"equivalent within ±{m:g} {unit[:-1] if m == 1 and unit.endswith('s') else unit}"
                    if self.equivalent else verdict)
            body = f"{said} (difference {self.diff * scale:+.1f} {unit}"
        low, high = self.low, self.high
        if self.decided and self.diff < 0:  # "B higher by x": the interval of b − a, same sign as x
            low, high = -high, -low
        interval = (f"{pct} interval {low * scale:+.1f} to {high * scale:+.1f}"
                    if math.isfinite(low) else "")
        if self.decided:
            return head + body + (f" ({interval})" if interval else "")
        if not math.isfinite(self.diff):  # a side without runs: there is no difference to give
            return head + verdict
        return head + body + (f"; {interval})" if interval else ")")


def compare(a: Iterable[float], b: Iterable[float], names: Sequence[str] = ("A", "B"),
            confidence: float = CONFIDENCE, margin: float | None = None) -> Comparison:
    """Welch's comparison of the means of ``a`` and ``b`` (e.g. accuracies over seeds).

    The verdict is ``"<A> higher"`` or ``"<B> higher"`` when the ``confidence`` interval of
    ``mean(a) − mean(b)`` excludes zero, ``"no difference detectable with n = …
    seeds"`` when it does not, and ``"not decidable: … has fewer than 2 runs"`` when a
    side cannot have a spread. With a ``margin``: ``"equivalent within ±…"`` or
    ``"undecided with …"`` in place of "no difference detectable" (see the module).
    """
    if len(names) != 2:
        raise ValueError(f"names must be two labels, got {names!r}")
    name_a, name_b = str(names[0]), str(names[1])
    xa, xb = _values(a), _values(b)
    ia, ib = mean_ci(xa, confidence), mean_ci(xb, confidence)
    diff = ia.mean - ib.mean
    short = [n for n, x in ((name_a, xa), (name_b, xb)) if len(x) < 2]
    if short:
        return Comparison((name_a, name_b), ia, ib, diff, math.nan, math.nan, math.nan,
                          f"not decidable: {' and '.join(short)} "
                          f"{'has' if len(short) == 1 else 'have'} fewer than 2 runs")
    va, vb = xa.var(ddof=1) / len(xa), xb.var(ddof=1) / len(xb)
    se = math.sqrt(va + vb)
    if se == 0:  # identical runs on each side (deterministic CPU training can do this)
        low = high = diff
        p = 0.0 if diff != 0 else 1.0
    else:
        dof = (va + vb) ** 2 / (va ** 2 / (len(xa) - 1) + vb ** 2 / (len(xb) - 1))
        half = float(_st.t.ppf(0.5 + confidence / 2, dof)) * se
        low, high = diff - half, diff + half
        p = float(2 * _st.t.sf(abs(diff) / se, dof))
    verdict = _verdict(low, high, name_a, name_b, f"n = {len(xa)} and {len(xb)} seeds", margin)
    return Comparison((name_a, name_b), ia, ib, diff, low, high, p, verdict, margin,
                      min(len(xa), len(xb)))


def _verdict(low: float, high: float, name_a: str, name_b: str, counts: str,
             margin: float | None = None) -> str:
    """Which side is higher when the interval of ``a − b`` excludes zero; else, with a
    margin, equivalence when the interval lies inside it; else none."""
    if low > 0:
        return f"{name_a} higher"
    if high < 0:
        return f"{name_b} higher"
    if margin is None:
        return f"no difference detectable with {counts}"
    if -margin <= low and high <= margin:
        return f"equivalent within ±{margin:g}"
    return f"undecided with {counts}"


def paired_compare(a: Sequence[float], b: Sequence[float], names: Sequence[str] = ("A", "B"),
                   confidence: float = CONFIDENCE, margin: float | None = None) -> Comparison:
    """Like :func:`compare`, for two measurements of the same runs (e.g. ten-crop and
    centre-crop accuracy of the same networks): the interval is the t interval of the
    per-run differences ``a[i] − b[i]``, which removes the seed-to-seed spread they share.
    Pairs with a non-finite value on either side are dropped."""
    if len(names) != 2:
        raise ValueError(f"names must be two labels, got {names!r}")
    if len(a) != len(b):
        raise ValueError(f"paired values need equal lengths, got {len(a)} and {len(b)}")
    name_a, name_b = str(names[0]), str(names[1])
    pairs = [(float(x), float(y)) for x, y in zip(a, b) if math.isfinite(x) and math.isfinite(y)]
    xa, xb = [x for x, _ in pairs], [y for _, y in pairs]
    d = mean_ci([x - y for x, y in pairs], confidence)
    ia, ib = mean_ci(xa, confidence), mean_ci(xb, confidence)
    if d.n < 2:
        return Comparison((name_a, name_b), ia, ib, d.mean, math.nan, math.nan, math.nan,
                          f"not decidable: fewer than 2 pairs of {name_a} and {name_b}",
                          margin, d.n)
    diffs = np.asarray([x - y for x, y in pairs])
    if diffs.std(ddof=1) == 0:
        low = high = d.mean
        p = 0.0 if d.mean != 0 else 1.0
    else:
        low, high = d.low, d.high
        p = float(_st.ttest_rel(xa, xb).pvalue)
    verdict = _verdict(low, high, name_a, name_b, f"n = {d.n} paired runs", margin)
    return Comparison((name_a, name_b), ia, ib, d.mean, low, high, p, verdict, margin, d.n)


def summarise(frame: pd.DataFrame, by: str, metric: str, *, digits: int = 3,
              confidence: float = CONFIDENCE) -> pd.DataFrame:
    """One row per ``by`` group: ``mean``, ``± (95 %)``, ``n`` and the display string
    ``"<metric> (mean ± 95 %, n)"``; groups keep their first-seen order."""
    rows = {}
    for key, group in frame.groupby(by, sort=False):
        ci = mean_ci(group[metric], confidence)
        rows[key] = {"mean": ci.mean, "± (95 %)": ci.half_width, "n": ci.n,
                     f"{metric} (mean ± 95 %, n)": ci.format(digits)}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = by
    return out
