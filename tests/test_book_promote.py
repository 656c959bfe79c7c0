"""`promote --since REV` on a tiny git repository: a results-neutral package change (a
comment) keeps the published chapter, a change that moves a printed number does not. The
chapter really is executed with papermill, twice per promote (a few seconds each)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tools.book import checks, driver, manifest, paths, picks, promote
from tools.book.cli import main
from tools.book.paths import BookError

from book_helpers import CPU, URL, code, markdown, notebook, write, write_nb

PACKAGE = '''"""A tiny stand-in for the course's package."""
import os

VALUE = {value}


def run() -> None:
    {comment}print("value", VALUE)
'''
# prints and saves what must match (VALUE, the package's path, after normalisation) and
# what differs between any two runs (a time, an address, a date, the results folder); the
# bare perf_counter() matches only because promote's runs have a deterministic clock
CHAPTER = code(
    "import datetime, json, os, time\nimport alexnet_course\nalexnet_course.run()\n"
    "print('package', alexnet_course.__file__)\n"
    "print('clock', time.perf_counter())\n"
    "print(f'took {time.perf_counter() % 1:.4f} s at', datetime.datetime.now().isoformat())\n"
    "print(object())\n"
    "results = os.environ['COURSE_RESULTS_DIR']\n"
    "os.makedirs(os.path.join(results, '01_first'), exist_ok=True)\n"
    "json.dump({'value': alexnet_course.VALUE, 'seconds': time.perf_counter(),\n"
    "           'date': str(datetime.datetime.now()), 'folder': results},\n"
    "          open(os.path.join(results, '01_first', 'run.json'), 'w'))", None)


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c",
                           "user.email=t@example.com", *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def set_package(root: Path, value: int, comment: str = "") -> None:
    write(root / "alexnet_course" / "__init__.py",
          PACKAGE.format(value=value, comment=f"# {comment}\n    " if comment else ""))


def set_profiles(root: Path, quick_epochs: int) -> None:
    write(root / "alexnet_course" / "course" / "profiles.py",
          f"PROFILES = {{'smoke': 'smoke, 1 epoch', 'quick': 'quick, {quick_epochs} epochs'}}\n")


def commit(root: Path, message: str) -> str:
    git(root, "add", "-A")  # the tiny repository of this test only
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A book whose chapter 01_first was published (profile quick) with the package of
    the first commit."""
    root = tmp_path / "course"
    write(root / "_config.yml", f"title: t\nrepository:\n  url: {URL}\n")
    write(root / "_toc.yml", "format: jb-book\nroot: book/intro\nchapters:\n"
          "  - file: book/01_first\n")
    write(root / "book" / "intro.md", "# Intro\n")
    write(root / ".gitignore", "_build/\n__pycache__/\n")
    set_package(root, 41)
    write(root / "alexnet_course" / "course" / "__init__.py", "")
    set_profiles(root, quick_epochs=3)
    source = write_nb(root / "notebooks" / "01_first.ipynb", notebook(CHAPTER))
    write_nb(root / "book" / "01_first.ipynb", notebook(code(CHAPTER["source"], 1, [
        {"output_type": "stream", "name": "stdout", "text": "value 41\n"}])))
    record = manifest.new_record(manifest.notebook_hash(source), manifest.package_hash(root),
                                 "quick", CPU, 81.0)
    manifest.save_manifest({"version": 1, "chapters": {"01_first": record}}, root)
    git(root, "init", "-q")
    commit(root, "published")
    return root


def record(root: Path) -> dict:
    return manifest.load_manifest(root)["chapters"]["01_first"]


def stale(root: Path) -> str | None:
    entry = paths.parse_toc(root)[1]
    return checks.stale_reason(root, entry, manifest.load_manifest(root),
                               manifest.package_hash(root))


def test_a_results_neutral_change_is_promoted(repo: Path, capsys: pytest.CaptureFixture,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    published = git(repo, "rev-parse", "HEAD")
    before = record(repo)
    set_package(repo, 41, comment="a comment changes no number")
    commit(repo, "a comment")
    assert stale(repo) == "package code changed"

    assert main(["--root", str(repo), "promote", "--since", published]) == 0
    out = capsys.readouterr().out
    assert "01_first: promoted" in out, out
    after = record(repo)
    assert after["package_sha256"] == manifest.package_hash(repo) != before["package_sha256"]
    assert after["promoted"]["from_package_sha256"] == before["package_sha256"]
    assert after["promoted"]["executed_package_sha256"] == before["package_sha256"]
    assert after["promoted"]["since"] == published == after["promoted"]["since_commit"]
    assert after["promoted"]["by"] == "smoke outputs and results identical"
    assert {k: v for k, v in after.items() if k not in ("package_sha256", "promoted")} == {
        k: v for k, v in before.items() if k != "package_sha256"}  # profile, date, device
    assert stale(repo) is None  # `check` and `run` see it as up to date
    calls: list[str] = []
    monkeypatch.setattr(driver, "execute_notebook", lambda source, *a, **k: calls.append(
        source.name))
    assert driver.command_run(repo, "published", None, False) == 0
    assert calls == []
    # both runs really executed: with the package of the commit, then the current one
    runs = repo / "_build" / "promote" / "01_first"
    assert "value 41" in (runs / "before.ipynb").read_text()
    clocks = [line for run in ("before", "after")
              for line in (runs / f"{run}.ipynb").read_text().split("\\n")
              if "clock " in line and "print" not in line]
    assert len(clocks) == 2 and clocks[0] == clocks[1], clocks  # the deterministic clock
    assert (runs / "before-results" / "01_first" / "run.json").is_file()


def test_a_change_of_a_printed_number_is_not_promoted(repo: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    published = git(repo, "rev-parse", "HEAD")
    before = manifest.load_manifest(repo)
    set_package(repo, 42)  # uncommitted: promote compares with the working tree
    assert main(["--root", str(repo), "promote", "--since", published]) == 1
    out = capsys.readouterr().out
    assert "01_first: NOT promoted, it stays stale" in out, out
    assert "value 41" in out and "value 42" in out  # the differing cell
    assert "01_first/run.json: value: 41 -> 42" in out  # the differing results key
    assert "re-executes them" in out
    assert manifest.load_manifest(repo) == before
    assert stale(repo) == "package code changed"


def test_a_change_of_the_published_profile_is_not_promoted(
        repo: Path, capsys: pytest.CaptureFixture) -> None:
    before = manifest.load_manifest(repo)
    set_profiles(repo, quick_epochs=4)  # the smoke runs could not see it
    assert main(["--root", str(repo), "promote", "--since", "HEAD"]) == 1
    out = capsys.readouterr().out
    assert "the definition of profile quick, which it was executed in, changed" in out, out
    assert "quick, 3 epochs" in out and "quick, 4 epochs" in out
    assert manifest.load_manifest(repo) == before
    assert not (repo / "_build" / "promote" / "01_first").exists()  # nothing was executed


def test_promote_skips_a_chapter_executed_with_another_package(
        repo: Path, capsys: pytest.CaptureFixture) -> None:
    set_package(repo, 41, comment="first change")
    later = commit(repo, "a change the chapter was not executed with")
    set_package(repo, 41, comment="second change")
    before = manifest.load_manifest(repo)
    assert main(["--root", str(repo), "promote", "--since", later]) == 1
    out = capsys.readouterr().out
    assert "skipped: it was executed with package" in out and "name the revision" in out
    assert manifest.load_manifest(repo) == before
    assert not (repo / "_build" / "promote" / "01_first").exists()  # nothing was executed


def test_promote_only_considers_chapters_stale_through_the_package(
        repo: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--root", str(repo), "promote", "--since", "HEAD"]) == 0
    assert "01_first: skipped: up to date" in capsys.readouterr().out
    set_package(repo, 41, comment="package changed")
    source = repo / "notebooks" / "01_first.ipynb"
    write_nb(source, notebook(CHAPTER, code("print('new')", None)))
    assert main(["--root", str(repo), "promote", "--since", "HEAD"]) == 0
    assert "its notebook changed" in capsys.readouterr().out
    assert stale(repo) == "notebook changed"


def test_promote_names_a_bad_revision(repo: Path, capsys: pytest.CaptureFixture) -> None:
    set_package(repo, 41, comment="changed")
    assert main(["--root", str(repo), "promote", "--since", "no-such-rev"]) == 2
    assert "--since no-such-rev: not a commit" in capsys.readouterr().err


def test_export_package_matches_the_package_hash_of_the_revision(repo: Path,
                                                                 tmp_path: Path) -> None:
    first = git(repo, "rev-parse", "HEAD")
    hash_first = manifest.package_hash(repo)
    write(repo / "alexnet_course" / "models" / "extra.py", "Y = 1\n")
    commit(repo, "a module")
    assert promote.export_package(repo, first, tmp_path / "x") == first
    assert manifest.package_hash(tmp_path / "x") == hash_first
    with pytest.raises(BookError, match="has no book/alexnet_course/"):
        promote.export_package(repo / "book", "HEAD", tmp_path / "z")  # book/ has none


def test_export_package_of_a_book_in_a_subfolder_of_the_repository(tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    set_package(outer / "site", 7)
    git(outer, "init", "-q")
    commit(outer, "a book in site/")
    promote.export_package(outer / "site", "HEAD", tmp_path / "y")
    assert manifest.package_hash(tmp_path / "y") == manifest.package_hash(outer / "site")


def test_promote_is_in_the_help(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "promote --since REV" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["promote", "--help"])
    assert "smoke profile twice" in capsys.readouterr().out.replace("\n", " ")


# ------------------------------------------------- a notebook change only in full= picks

PICKS = ("import types\n"
         "P = types.SimpleNamespace(pick=lambda **values: values['smoke'])  # as Profile.pick\n"
         "epochs = P.pick(smoke=1, quick={quick}, full={full})  # {comment}\n"
         "print('epochs', epochs)")


def picks_chapter(root: Path, quick: int = 2, full: object = 5, comment: str = "",
                  title: str = "# First") -> Path:
    return write_nb(root / "notebooks" / "01_first.ipynb", notebook(
        markdown(title), code(PICKS.format(quick=quick, full=full, comment=comment), None)))


@pytest.fixture
def picks_repo(repo: Path) -> Path:
    """``repo`` whose chapter has a pick() and was executed in quick (committed)."""
    source = picks_chapter(repo)
    executed = notebook(markdown("# First"), code(PICKS.format(quick=2, full=5, comment=""), 1, [
        {"output_type": "stream", "name": "stdout", "text": "epochs 1\n"}]))
    write_nb(repo / "book" / "01_first.ipynb", executed)
    rec = manifest.new_record(manifest.notebook_hash(source), manifest.package_hash(repo),
                              "quick", CPU, 81.0)
    manifest.save_manifest({"version": 1, "chapters": {"01_first": rec}}, repo)
    commit(repo, "a chapter with picks")
    return repo


def test_full_picks_only_compares_syntax_trees_without_full_values() -> None:
    def nb(*sources: str) -> dict:
        return notebook(markdown("# T"), *(code(s, None) for s in sources))

    base = nb("%matplotlib inline\nx = P.pick(smoke=1, quick=2, full=3)")
    moved = nb("%matplotlib inline\nx = P.pick(smoke=1, quick=2,\n  full=(4, [5]))  # c")
    assert picks.full_picks_only(base, moved) is None
    assert picks.full_picks_only(base, nb("%matplotlib inline\nx = P.pick(smoke=1, quick=3, "
                                          "full=3)")) == (
        "code cell 1 changed beyond the full= values of its pick() calls")
    assert "not a literal (f(2))" in picks.full_picks_only(
        base, nb("%matplotlib inline\nx = P.pick(smoke=1, quick=2, full=f(2))"))
    assert "not a literal (1 / 0)" in picks.full_picks_only(
        base, nb("%matplotlib inline\nx = P.pick(smoke=1, quick=2, full=1 / 0)"))
    assert picks.full_picks_only(base, nb("%matplotlib inline\nx = pick(smoke=1, quick=2, "
                                          "full=4)")) is not None  # not a .pick call
    changed_markdown = nb("%matplotlib inline\nx = P.pick(smoke=1, quick=2, full=3)")
    changed_markdown["cells"][0]["source"] = "# U"
    assert picks.full_picks_only(base, changed_markdown) == "markdown cell 0 changed"
    assert picks.full_picks_only(base, nb("x = 1", "y = 2")) == "2 cells before, 3 after"


def test_a_change_of_full_picks_only_is_promoted_without_a_run(
        picks_repo: Path, capsys: pytest.CaptureFixture) -> None:
    before = record(picks_repo)
    source = picks_chapter(picks_repo, full=(10, [224, 96]), comment="GPU: by estimate")
    assert stale(picks_repo) == "notebook changed"
    assert main(["--root", str(picks_repo), "promote", "--since", "HEAD"]) == 0
    out = capsys.readouterr().out
    assert "01_first: promoted to its notebook's new hash without a run" in out, out
    after = record(picks_repo)
    assert after["source_sha256"] == manifest.notebook_hash(source) != before["source_sha256"]
    assert after["promoted"]["from_source_sha256"] == before["source_sha256"]
    assert after["promoted"]["by"] == promote.BY_PICKS
    assert after["package_sha256"] == before["package_sha256"]
    assert stale(picks_repo) is None
    executed = paths.read_notebook(picks_repo / "book" / "01_first.ipynb")
    assert "full=(10, [224, 96])" in "".join(executed["cells"][1]["source"])
    assert executed["cells"][1]["outputs"][0]["text"] == "epochs 1\n"  # outputs kept
    assert not (picks_repo / "_build" / "promote" / "01_first").exists()  # nothing executed


def test_a_change_of_full_picks_and_of_the_package_needs_the_smoke_runs(
        picks_repo: Path, capsys: pytest.CaptureFixture) -> None:
    before = record(picks_repo)
    source = picks_chapter(picks_repo, full=7)
    set_package(picks_repo, 41, comment="results-neutral")
    assert main(["--root", str(picks_repo), "promote", "--since", "HEAD"]) == 0
    out = capsys.readouterr().out
    assert "two smoke runs" in out and "promoted to package" in out, out
    after = record(picks_repo)
    assert after["source_sha256"] == manifest.notebook_hash(source)
    assert after["package_sha256"] == manifest.package_hash(picks_repo)
    assert after["promoted"]["by"] == f"{promote.BY_PICKS}; {promote.BY}"
    assert after["promoted"]["from_package_sha256"] == before["package_sha256"]
    assert stale(picks_repo) is None


@pytest.mark.parametrize("change, why", [
    ({"quick": 3}, "code cell 1 changed beyond the full= values"),
    ({"title": "# First, revised"}, "markdown cell 0 changed"),
    ({"full": "epochs"}, "code cell 1: a full= value is not a literal (epochs)")])
def test_a_change_beyond_full_picks_is_not_promoted(picks_repo: Path, change: dict, why: str,
                                                    capsys: pytest.CaptureFixture) -> None:
    before = manifest.load_manifest(picks_repo)
    executed = (picks_repo / "book" / "01_first.ipynb").read_text()
    picks_chapter(picks_repo, **change)
    assert main(["--root", str(picks_repo), "promote", "--since", "HEAD"]) == 0
    out = capsys.readouterr().out
    assert f"01_first: skipped: its notebook changed since it was executed ({why}" in out, out
    assert manifest.load_manifest(picks_repo) == before
    assert (picks_repo / "book" / "01_first.ipynb").read_text() == executed
    assert stale(picks_repo) == "notebook changed"


def test_a_chapter_executed_in_full_is_not_promoted_through_its_full_picks(
        picks_repo: Path, capsys: pytest.CaptureFixture) -> None:
    data = manifest.load_manifest(picks_repo)
    data["chapters"]["01_first"]["profile"] = "full"
    manifest.save_manifest(data, picks_repo)
    picks_chapter(picks_repo, full=6)
    assert main(["--root", str(picks_repo), "promote", "--since", "HEAD"]) == 0
    assert "it was executed in full, which takes the full= values" in capsys.readouterr().out
    assert stale(picks_repo) == "notebook changed"
