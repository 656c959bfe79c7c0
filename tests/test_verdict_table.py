"""The results page's verdict count: chapters' verdicts.json read back from a temporary store."""

import math

import pytest

from alexnet_course.course import protocol, verdict_table


def _record(verdict: str, interval=(0.5, 1.5), why_wide: str | None = None, **extra) -> dict:
    low, high = interval
    record = {"question": "Q1", "comparison": "a vs b", "metric": protocol.METRIC,
              "difference": None if low is None else (low + high) / 2, "interval": [low, high],
              "n": 5, "verdict": verdict, "settled": verdict != "undecided with 5 pairs", **extra}
    if why_wide:
        record["why_wide"] = why_wide
    return record


HIGHER, EQUIVALENT, UNDECIDED = "a higher", "equivalent within ±0.01", "undecided with 5 pairs"
CHAPTERS = ["01_meets", "02_below", "03_not_yet"]


@pytest.fixture
def store(tmp_path):
    """01 meets the target (4 of 5 decided, a wide interval explained), 02 is below it (1 of 2,
    a wide interval unexplained), 03 has runs but no verdicts.json."""
    protocol.write_verdicts(tmp_path / "01_meets", [
        _record(HIGHER), _record(HIGHER, (-1.5, -0.5)), _record(HIGHER),
        _record(EQUIVALENT, (-0.4, 0.6)),
        _record(UNDECIDED, (-1.0, 3.0), why_wide="ten seeds still spread this pair")])
    protocol.write_verdicts(tmp_path / "02_below", [
        _record(HIGHER, (0.1, 0.9)),
        _record(UNDECIDED, (-1.5, 2.5))])  # half-width 2 points, no why_wide
    (tmp_path / "03_not_yet").mkdir()
    (tmp_path / "03_not_yet" / "lenet.json").write_text("{}")
    return tmp_path


def test_table_counts_and_status(store):
    table = verdict_table.verdict_table(store, CHAPTERS).set_index("chapter")
    assert list(table.index) == CHAPTERS
    assert list(table.columns) == verdict_table.TABLE_COLUMNS[1:]
    meets, below, not_yet = (table.loc[c] for c in CHAPTERS)
    assert (meets["comparisons"], meets["with a direction"], meets["equivalent"],
            meets["undecided"], meets["wide unexplained"]) == (5, 3, 1, 1, 0)
    assert meets["decided (%)"] == pytest.approx(80.0)
    assert meets["status"] == verdict_table.MEETS == "meets the target (≥ 80 % decided)"
    assert (below["comparisons"], below["with a direction"], below["undecided"],
            below["wide unexplained"]) == (2, 1, 1, 1)
    assert below["decided (%)"] == pytest.approx(50.0) and below["status"] == "below target"
    assert not_yet["status"] == "not yet under the protocol (no verdicts.json)"
    assert table.loc["03_not_yet", ["comparisons", "undecided"]].isna().all()
    assert math.isnan(not_yet["decided (%)"])


def test_a_chapter_with_verdicts_is_listed_even_when_not_named(store):
    protocol.write_verdicts(store / "09_extra", [_record(EQUIVALENT, (-0.2, 0.2))])
    table = verdict_table.verdict_table(store, CHAPTERS)
    assert table["chapter"].tolist() == CHAPTERS + ["09_extra"]
    assert table.set_index("chapter").loc["09_extra", "status"] == verdict_table.MEETS


def test_default_chapters_are_the_declared_ones(tmp_path):
    from alexnet_course.chapters import CHAPTERS as DECLARED

    table = verdict_table.verdict_table(tmp_path)
    assert table["chapter"].tolist() == sorted(DECLARED)
    assert (table["status"] == verdict_table.NOT_YET).all()


def test_totals_and_sentence(store):
    totals = verdict_table.verdict_totals(verdict_table.verdict_table(store, CHAPTERS))
    assert totals == {"chapters": 3, "under the protocol": 2, "comparisons": 7,
                      "with a direction": 4, "equivalent": 1, "undecided": 2,
                      "wide unexplained": 1, "decided": 5,
                      "decided (%)": pytest.approx(100 * 5 / 7), "meeting the target": 1,
                      "pilot not converged": 0, "pilot not recorded": 2}
    said = verdict_table.verdicts_said(totals)
    assert said.startswith("2 of the 3 chapters that train have written their verdicts")
    assert "5 of their 7 comparisons are decided (71.4 %: 4 with a direction, 1 equivalent" in said
    assert "1 chapter meets the target (≥ 80 % decided)" in said
    assert "1 accuracy difference is reported with a half-width above 1 point without saying why" in said
    assert "The other 1 chapter is not yet under the protocol" in said
    assert "`" not in said and "*" not in said  # plain text: the intro pastes it as text


def test_sentence_without_any_verdicts(tmp_path):
    totals = verdict_table.verdict_totals(verdict_table.verdict_table(tmp_path, CHAPTERS))
    assert totals["under the protocol"] == 0 and totals["comparisons"] == 0
    assert math.isnan(totals["decided (%)"])
    said = verdict_table.verdicts_said(totals)
    assert said.startswith("No chapter has written its verdicts under the conclusive protocol")
    assert "none of the 3 chapters" in said
    assert verdict_table.verdict_list(tmp_path, CHAPTERS).empty


def test_sentence_when_every_chapter_is_under_the_protocol(store):
    said = verdict_table.verdicts_said(verdict_table.verdict_totals(verdict_table.verdict_table(store, CHAPTERS)))
    assert "is not met" not in said and "is met" not in said  # 03 has no verdicts yet
    protocol.write_verdicts(store / "03_not_yet", [_record(HIGHER)] * 10)  # 15 of 17 decided
    said = verdict_table.verdicts_said(verdict_table.verdict_totals(verdict_table.verdict_table(store, CHAPTERS)))
    assert "3 of the 3 chapters" in said and "15 of their 17 comparisons" in said
    assert said.endswith("The book-wide target (≥ 80 % of the training comparisons decided, no "
                         "unexplained wide interval) is not met yet.")  # 02's wide interval
    protocol.write_verdicts(store / "02_below", [_record(HIGHER)])
    said = verdict_table.verdicts_said(verdict_table.verdict_totals(verdict_table.verdict_table(store, CHAPTERS)))
    assert said.endswith("interval) is met.")
    # a share just below the target is never rounded up onto it
    assert verdict_table._percent(79.96) == "79.9 %" and verdict_table._percent(100.0) == "100 %"


def test_list_of_every_comparison(store):
    protocol.write_verdicts(store / "03_not_yet", [_record(UNDECIDED, (None, None))])
    listed = verdict_table.verdict_list(store, CHAPTERS)
    assert list(listed.columns) == verdict_table.LIST_COLUMNS
    assert listed["chapter"].value_counts().to_dict() == {"01_meets": 5, "02_below": 2,
                                                          "03_not_yet": 1}
    wide = listed[listed["wide unexplained"]]
    assert len(wide) == 1 and wide.iloc[0]["chapter"] == "02_below"
    assert wide.iloc[0]["half-width"] == pytest.approx(2.0)
    assert wide.iloc[0]["interval"] == "-1.50 to +2.50"
    explained = listed[listed["why wide"] != ""]
    assert explained["why wide"].tolist() == ["ten seeds still spread this pair"]
    assert not explained["wide unexplained"].any()
    undecidable = listed[listed["chapter"] == "03_not_yet"].iloc[0]
    assert math.isnan(undecidable["half-width"]) and math.isnan(undecidable["difference"])
    assert undecidable["interval"].startswith("none")


def _pilot(variant: str, moved: float) -> dict:
    return {"variant": variant, "epochs": 10, "val_acc": [0.80, 0.85, 0.85 + moved / 100],
            "moved_points": moved, "converged": abs(moved) < 100 * protocol.PILOT_TOLERANCE}


def test_the_epoch_pilot_is_read_back_and_a_failed_one_is_said(tmp_path):
    protocol.write_verdicts(tmp_path / "01_converged", [_record(HIGHER)], [_pilot("lenet", 0.1)])
    protocol.write_verdicts(tmp_path / "02_late", [_record(HIGHER)],
                            [_pilot("lenet", 0.1), _pilot("baseline", 0.72)])
    protocol.write_verdicts(tmp_path / "03_unpiloted", [_record(HIGHER)])
    table = verdict_table.verdict_table(tmp_path, []).set_index("chapter")
    assert table.loc["01_converged", "epoch pilot"] == verdict_table.PILOT_PASSED
    late = table.loc["02_late", "epoch pilot"]
    assert late.startswith("not converged: 1 of 2") and "baseline +0.72" in late and "lenet" not in late
    assert table.loc["03_unpiloted", "epoch pilot"] == verdict_table.PILOT_MISSING
    totals = verdict_table.verdict_totals(table.reset_index())
    assert (totals["pilot not converged"], totals["pilot not recorded"]) == (1, 1)
    said = verdict_table.verdicts_said(totals)
    assert "In 1 chapter the epoch pilot failed" in said and "1 chapter recorded no epoch pilot" in said


def test_a_pilot_record_without_its_verdict_is_refused(tmp_path):
    with pytest.raises(ValueError, match="converged"):
        protocol.write_verdicts(tmp_path, [_record(HIGHER)], [{"variant": "lenet", "converged": "yes"}])
