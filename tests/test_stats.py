"""The statistics over seeds, checked against scipy.stats."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from alexnet_course.course import stats


def test_mean_ci_matches_scipy_t_interval():
    x = [0.861, 0.866, 0.858, 0.870]
    ci = stats.mean_ci(x)
    low, high = st.t.interval(0.95, len(x) - 1, loc=np.mean(x), scale=st.sem(x))
    assert ci.n == 4 and ci.mean == pytest.approx(np.mean(x))
    assert (ci.low, ci.high) == (pytest.approx(low), pytest.approx(high))
    assert ci.format() == f"{np.mean(x):.3f} ± {(high - low) / 2:.3f} (n = 4)"


def test_single_run_has_no_spread_and_nan_runs_are_not_results():
    one = stats.mean_ci([0.8, math.nan])
    assert one.n == 1 and math.isnan(one.half_width)
    assert one.format() == "0.800 (n = 1)" and "±" not in str(one)
    assert stats.mean_ci([]).format() == "— (n = 0)"


@pytest.mark.parametrize("a, b", [([0.88, 0.89, 0.885], [0.86, 0.87, 0.862, 0.866]),
                                  ([0.70, 0.75, 0.71], [0.72, 0.74, 0.69])])
def test_compare_matches_welch(a, b):
    c = stats.compare(a, b, names=("ReLU", "tanh"))
    ref = st.ttest_ind(a, b, equal_var=False)
    low, high = ref.confidence_interval(0.95)
    assert c.diff == pytest.approx(np.mean(a) - np.mean(b))
    assert (c.low, c.high) == (pytest.approx(low), pytest.approx(high))
    assert c.p_value == pytest.approx(ref.pvalue)
    if low > 0:
        assert c.verdict == "ReLU higher" and c.decided
    else:
        assert c.verdict.startswith("no difference detectable with n = 3 and 3") and not c.decided


def test_compare_directions_and_undecidable():
    assert stats.compare([0.1, 0.11, 0.12], [0.5, 0.52, 0.51], names=("x", "y")).verdict == "y higher"
    c = stats.compare([0.9], [0.5, 0.52], names=("one run", "two"))
    assert c.verdict == "not decidable: one run has fewer than 2 runs" and not c.decided
    same = stats.compare([0.9, 0.9], [0.8, 0.8])
    assert same.verdict == "A higher"  # deterministic identical repeats: no spread at all
    assert same.sentence() == "0.900 ± 0.000 (n = 2) against 0.800 ± 0.000 (n = 2): A higher by 10.0 points (95 % interval +10.0 to +10.0)"
    assert "not decidable" in c.sentence() and c.sentence().endswith("points)")
    empty = stats.compare([], [0.5, 0.52], names=("stopped", "two"))  # every run of one side stopped
    assert empty.sentence().endswith("not decidable: stopped has fewer than 2 runs")
    with pytest.raises(ValueError, match="two labels"):
        stats.compare([1, 2], [1, 2], names=("a",))


def test_a_margin_gives_three_answers_and_undecided_is_not_no_difference():
    close = stats.compare([0.801, 0.802, 0.803, 0.802], [0.800, 0.803, 0.801, 0.802],
                          names=("x", "y"), margin=0.01)
    assert close.verdict == "equivalent within ±0.01" and close.equivalent and close.settled
    assert not close.decided and "equivalent within ±1 point (difference" in close.sentence()
    wide = stats.compare([0.70, 0.80, 0.90], [0.72, 0.81, 0.88], margin=0.01)
    assert wide.verdict == "undecided with n = 3 and 3 seeds" and not wide.settled
    far = stats.compare([0.90, 0.91, 0.92], [0.80, 0.81, 0.82], margin=0.01)
    assert far.verdict == "A higher" and far.settled and not far.equivalent
    record = far.to_record("Q1", "x against y", "test acc")
    assert record["interval"] == [far.low, far.high] and record["n"] == 3
    assert stats.compare([0.70, 0.80, 0.90], [0.72, 0.81, 0.88]).verdict.startswith(
        "no difference detectable")  # without a margin: as the pages say today


def test_sentence_interval_has_the_sign_of_the_stated_difference():
    # "y higher by 40 points" must come with the interval of y − x (positive), not x − y
    c = stats.compare([0.1, 0.11, 0.12], [0.5, 0.52, 0.51], names=("x", "y"))
    text = c.sentence()
    assert "y higher by 40.0 points" in text
    low, high = (float(v) for v in text.split("interval ")[1].rstrip(")").split(" to "))
    assert 0 < low < 40.0 < high


def test_sentence_names_the_variants_by_their_labels():
    c = stats.compare([0.1, 0.11, 0.12], [0.5, 0.52, 0.51], names=("x", "x_wide"))
    text = c.sentence(labels={"x": "narrow", "x_wide": "wide"})
    assert "wide higher by 40.0 points" in text and "x_wide" not in text
    assert c.sentence().count("x_wide higher") == 1  # without labels: the names as given
    alone = stats.compare([], [0.5, 0.52], names=("x", "x_wide"))
    assert "x_wide" not in alone.sentence(labels={"x": "narrow", "x_wide": "wide"})


def test_summarise_keeps_order_and_formats():
    frame = pd.DataFrame({"variant": ["b", "a", "b", "a", "c"],
                          "acc": [0.8, 0.7, 0.82, 0.72, 0.5]})
    out = stats.summarise(frame, "variant", "acc")
    assert list(out.index) == ["b", "a", "c"]
    assert out.loc["c", "acc (mean ± 95 %, n)"] == "0.500 (n = 1)"
    assert out.loc["b", "n"] == 2 and out.loc["b", "mean"] == pytest.approx(0.81)


def test_paired_compare_matches_scipy_ttest_rel():
    ten = [0.871, 0.866, 0.879, 0.874]
    centre = [0.866, 0.864, 0.871, 0.870]
    c = stats.paired_compare(ten, centre, names=("ten-crop", "centre"))
    d = np.subtract(ten, centre)
    lo, hi = st.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=st.sem(d))
    assert c.diff == pytest.approx(d.mean()) and (c.low, c.high) == pytest.approx((lo, hi))
    assert c.p_value == pytest.approx(st.ttest_rel(ten, centre).pvalue)
    assert c.verdict == "ten-crop higher" and c.decided
    # the same numbers unpaired: the shared seed-to-seed spread hides the difference
    assert not stats.compare(ten, centre, names=("ten-crop", "centre")).decided
    flat = stats.paired_compare([0.5, 0.6, 0.7], [0.5, 0.61, 0.69], names=("a", "b"))
    assert flat.verdict == "no difference detectable with n = 3 paired runs"
    assert "fewer than 2 pairs" in stats.paired_compare([0.5], [0.4]).verdict
    with pytest.raises(ValueError, match="equal lengths"):
        stats.paired_compare([0.5, 0.6], [0.4])
