"""Which profile `run` executes each chapter in: the package's profiles (standard among them)
and `--profile published`, the default of `run` and of `make book`, which keeps the
published edition. The executor is a fake: nothing is executed."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from alexnet_course.course.profiles import PROFILES as PACKAGE_PROFILES
from tools.book import checks, driver, manifest, paths
from tools.book.cli import build_parser, main
from tools.book.paths import REPO_ROOT

from book_helpers import CPU, code, write, write_nb

Calls = list[tuple[str, str, float]]


def fake_executor(calls: Calls):
    """Records (notebook, profile, timeout) and "executes" by copying the source."""
    def execute(source: Path, output: Path, profile: str, timeout: float, log_path: Path,
                results: Path) -> driver.Outcome:
        calls.append((source.stem, profile, timeout))
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(source.read_text())
        return driver.Outcome(True, 2.0)
    return execute


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch, fake_device: None) -> Calls:
    recorded: Calls = []
    monkeypatch.setattr(driver, "execute_notebook", fake_executor(recorded))
    # `auto` (the profile of a chapter never run) resolves through $COURSE_PROFILE first
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    return recorded


def publish(project: Path, name: str, profile: str) -> dict[str, Any]:
    """Record ``name`` as executed, up to date, in ``profile``."""
    entry = next(e for e in paths.parse_toc(project) if e.name == name)
    assert entry.source is not None
    if not entry.output.is_file():
        write_nb(entry.output, json.loads(entry.source.read_text()))
    data = manifest.load_manifest(project)
    data["chapters"][name] = manifest.new_record(
        manifest.notebook_hash(entry.source), profile, CPU, 1.0,
        manifest.store_hash(project / "results" / profile, name))
    manifest.save_manifest(data, project)
    return data["chapters"][name]


def recorded_profile(project: Path, name: str) -> str:
    return manifest.load_manifest(project)["chapters"][name]["profile"]


def edit_notebook(project: Path, name: str) -> None:
    source = project / "notebooks" / f"{name}.ipynb"
    nb = json.loads(source.read_text())
    nb["cells"].append(code("print('new cell')", None))
    write_nb(source, nb)


# -------------------------------------------------------------- the standard profile


def test_driver_takes_its_profiles_from_the_package() -> None:
    assert driver.PROFILES == tuple(PACKAGE_PROFILES)
    assert "standard" in driver.PROFILES


def test_every_profile_has_a_timeout_and_standard_gets_an_hour() -> None:
    assert set(driver.DEFAULT_TIMEOUT_S) == set(PACKAGE_PROFILES)
    assert driver.DEFAULT_TIMEOUT_S["standard"] == 3600  # a standard chapter takes ~45 min
    assert (driver.DEFAULT_TIMEOUT_S["quick"] < driver.DEFAULT_TIMEOUT_S["standard"]
            < driver.DEFAULT_TIMEOUT_S["full"])


def test_run_standard_executes_in_standard_with_its_timeout(project: Path,
                                                            calls: Calls) -> None:
    assert build_parser().parse_args(["run", "--profile", "standard"]).profile == "standard"
    assert main(["--root", str(project), "run", "--profile", "standard", "--only", "01"]) == 0
    assert calls == [("01_first", "standard", 3600)]
    assert recorded_profile(project, "01_first") == "standard"


# ----------------------------------------------------------- --profile published


def test_published_is_the_default_of_run_and_of_make_book() -> None:
    assert build_parser().parse_args(["run"]).profile == driver.PUBLISHED == "published"
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^PROFILE \?= published$", makefile, re.M)
    assert "tools.book run --profile $(PROFILE)" in makefile


def test_published_keeps_an_up_to_date_chapter_whatever_its_profile(
        project: Path, calls: Calls, capsys: pytest.CaptureFixture) -> None:
    publish(project, "01_first", "standard")
    assert main(["--root", str(project), "run"]) == 0
    # 01 is kept; 02 has never run: auto, here $COURSE_PROFILE=smoke
    assert calls == [("02_second", "smoke", 600)]
    assert "01_first: up to date, skipped (profile standard)" in capsys.readouterr().out
    assert recorded_profile(project, "01_first") == "standard"
    calls.clear()
    assert driver.command_run(project, "published", None, False) == 0
    assert calls == []


def test_published_reruns_a_stale_chapter_in_its_recorded_profile(project: Path,
                                                                  calls: Calls) -> None:
    publish(project, "01_first", "standard")
    publish(project, "02_second", "quick")
    edit_notebook(project, "01_first")
    assert driver.command_run(project, "published", None, False) == 0
    assert calls == [("01_first", "standard", 3600)]
    assert recorded_profile(project, "01_first") == "standard"
    calls.clear()
    edit_notebook(project, "01_first")  # both stale
    edit_notebook(project, "02_second")
    assert driver.command_run(project, "published", None, False, 60) == 0
    assert calls == [("01_first", "standard", 60), ("02_second", "quick", 60)]


def test_published_force_reruns_each_in_its_recorded_profile(project: Path,
                                                             calls: Calls) -> None:
    publish(project, "01_first", "standard")
    publish(project, "02_second", "quick")
    assert driver.command_run(project, "published", None, True) == 0
    assert calls == [("01_first", "standard", 3600), ("02_second", "quick", 1800)]


def test_an_explicit_profile_reruns_every_chapter_not_recorded_in_it(project: Path,
                                                                     calls: Calls) -> None:
    publish(project, "01_first", "standard")
    publish(project, "02_second", "quick")
    assert main(["--root", str(project), "run", "--profile", "quick"]) == 0
    assert calls == [("01_first", "quick", 1800)]  # 02 is already in quick and up to date
    assert recorded_profile(project, "01_first") == "quick"


def test_published_falls_back_to_auto_for_an_unknown_recorded_profile(project: Path,
                                                                      calls: Calls) -> None:
    publish(project, "01_first", "gone")
    publish(project, "02_second", "quick")
    assert driver.command_run(project, "published", None, False) == 0
    assert calls == [("01_first", "smoke", 600)]


def test_chapter_profile() -> None:
    standard = {"profile": "standard"}
    assert driver.chapter_profile("published", standard, "quick") == "standard"
    assert driver.chapter_profile("published", None, "quick") == "quick"
    assert driver.chapter_profile("published", {}, "full") == "full"
    assert driver.chapter_profile("quick", standard, "full") == "quick"


def test_check_sees_a_standard_chapter_as_up_to_date(project: Path) -> None:
    publish(project, "01_first", "standard")
    entry = next(e for e in paths.parse_toc(project) if e.name == "01_first")
    data = manifest.load_manifest(project)
    assert checks.stale_reason(project, entry, data) is None


def test_check_sees_a_package_edit_as_no_reason_to_rerun(project: Path) -> None:
    """Only the notebook, the profile or (results page) results/ make a chapter stale; an
    old record's package_sha256 and promoted keys are ignored, not required."""
    record = publish(project, "01_first", "quick")
    record.update({"package_sha256": "0" * 64, "promoted": {"from_package_sha256": "1" * 64}})
    data = manifest.load_manifest(project)
    data["chapters"]["01_first"] = record
    manifest.save_manifest(data, project)
    write(project / "alexnet_course" / "models" / "lenet.py", "X = 'edited'\n")
    entry = next(e for e in paths.parse_toc(project) if e.name == "01_first")
    assert checks.stale_reason(project, entry, manifest.load_manifest(project)) is None
    edit_notebook(project, "01_first")
    assert checks.stale_reason(project, entry, manifest.load_manifest(project)) == (
        "notebook changed")
