"""Tests of the book tooling (tools/book). Most are unit tests on a tiny project in a
temporary folder; the driver's reliability tests execute tiny notebooks with papermill
(a second or two each), the link check runs LinkChecker on a three-page site. Nothing
of the real book is executed or built."""

from __future__ import annotations

import fnmatch
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil
import pytest

from tools.book import browser, build, checks, driver, links, manifest, paths, sphinx_ext
from tools.book import vendor
from tools.book.cli import main
from tools.book.paths import REPO_ROOT, BookError
from tools.book.serve import serve_site

URL = "https://github.com/example/course"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def notebook(*cells: dict[str, Any], metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    meta = {"kernelspec": {"name": "python3", "display_name": "Python 3",
                           "language": "python"}, **(metadata or {})}
    return {"cells": list(cells), "metadata": meta, "nbformat": 4, "nbformat_minor": 5}


def code(source: str, count: int | None = 1, outputs: list[dict[str, Any]] | None = None
         ) -> dict[str, Any]:
    return {"cell_type": "code", "source": source, "execution_count": count,
            "metadata": {}, "outputs": outputs or []}


def markdown(source: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "source": source, "metadata": {}}


def install_cell(url: str = URL, count: int | None = 1) -> dict[str, Any]:
    return code(checks.install_cell_source(url), count)


def write_nb(path: Path, nb: dict[str, Any]) -> Path:
    return write(path, json.dumps(nb))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A tiny book: intro page, two chapters (one executed), an appendix page."""
    write(tmp_path / "_config.yml", f"title: t\nrepository:\n  url: {URL}/\n")
    write(tmp_path / "_toc.yml", """
format: jb-book
root: book/intro
parts:
  - caption: Chapters
    chapters:
      - file: book/01_first
        sections:
          - file: book/01_first_extra
      - file: book/02_second
  - caption: Appendix
    chapters:
      - file: book/references
""")
    write(tmp_path / "book" / "intro.md", "# Intro\n")
    write(tmp_path / "book" / "01_first_extra.md", "# Extra\n")
    write(tmp_path / "book" / "references.md", "# References\n")
    write(tmp_path / "alexnet_course" / "__init__.py", "")
    write(tmp_path / "alexnet_course" / "models" / "lenet.py", "X = 1\n")
    source = notebook(markdown("# First"), install_cell(count=None),
                      code("import alexnet_course\nprint(1)", None))
    write_nb(tmp_path / "notebooks" / "01_first.ipynb", source)
    write_nb(tmp_path / "notebooks" / "02_second.ipynb",
             notebook(install_cell(count=None), code("x = 2", None)))
    executed = notebook(markdown("# First"), install_cell(),
                        code("import alexnet_course\nprint(1)", 2,
                             [{"output_type": "stream", "name": "stdout", "text": "1\n"}]))
    write_nb(tmp_path / "book" / "01_first.ipynb", executed)
    return tmp_path


CPU = {"kind": "cpu", "name": "CPU (2 cores)", "cores": 2, "torch": "x"}


@pytest.fixture
def fake_device(monkeypatch: pytest.MonkeyPatch) -> None:
    import alexnet_course.devices

    monkeypatch.setattr(alexnet_course.devices, "describe_device", lambda: dict(CPU))


# ------------------------------------------------------------------------ config, toc


def test_repository_url_comes_from_config(project: Path) -> None:
    assert paths.repository_url(project) == URL


def test_repository_url_of_this_repository_is_in_config() -> None:
    url = paths.repository_url()
    assert url.startswith("https://github.com/")
    assert f"git+{url}" in checks.install_cell_source(url)


def test_repo_root_is_the_repository() -> None:
    assert (REPO_ROOT / "_toc.yml").is_file() and (REPO_ROOT / "tools" / "book").is_dir()


def test_tooling_is_outside_the_installed_package() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    assert not any(fnmatch.fnmatch(name, pattern) for pattern in include
                   for name in ("tools", "tools.book", "benchmarks"))
    assert not (REPO_ROOT / "alexnet_course" / "book.py").exists()


def test_sphinx_extension_is_registered_in_config() -> None:
    config = paths.load_config()
    assert "tools.book.sphinx_ext" in config["sphinx"]["local_extensions"]


def test_parse_toc_order_and_nesting(project: Path) -> None:
    entries = paths.parse_toc(project)
    assert [e.docname for e in entries] == ["book/intro", "book/01_first", "book/01_first_extra",
                                           "book/02_second", "book/references"]
    first = entries[1]
    assert first.name == "01_first"
    assert first.path == project / "book" / "01_first.ipynb"
    assert first.source == project / "notebooks" / "01_first.ipynb"
    assert entries[0].path == project / "book" / "intro.md" and entries[0].source is None


def test_parse_toc_rejects_toc_without_root(tmp_path: Path) -> None:
    write(tmp_path / "_toc.yml", "format: jb-book\nchapters: []\n")
    with pytest.raises(BookError, match="root"):
        paths.parse_toc(tmp_path)


def test_missing_documents_name_the_chapter_and_the_fix(project: Path) -> None:
    problems = checks.missing_documents(paths.parse_toc(project))
    assert len(problems) == 1
    assert "book/02_second" in problems[0] and "--only 02_second" in problems[0]
    assert "python -m tools.book run" in problems[0]
    (project / "notebooks" / "02_second.ipynb").unlink()
    problems = checks.missing_documents(paths.parse_toc(project))
    assert "remove it from _toc.yml" in problems[0]


def test_build_refuses_when_a_listed_chapter_is_missing(project: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    assert build.command_build(project) == 1
    assert "book/02_second" in capsys.readouterr().err


# ------------------------------------------------------------------- hashes, manifest


def test_notebook_hash_ignores_outputs_and_counts(project: Path) -> None:
    source = project / "notebooks" / "01_first.ipynb"
    executed = project / "book" / "01_first.ipynb"
    assert manifest.notebook_hash(source) == manifest.notebook_hash(executed)
    nb = json.loads(source.read_text())
    nb["cells"][2]["source"] = "print(2)"
    write_nb(source, nb)
    assert manifest.notebook_hash(source) != manifest.notebook_hash(executed)


def test_package_hash_covers_the_package_but_not_the_tooling(project: Path) -> None:
    before = manifest.package_hash(project)
    write(project / "tools" / "book" / "browser.py", "# the browser test\n")
    write(project / "benchmarks" / "common.py", "# a benchmark\n")
    write(project / "alexnet_course" / "__pycache__" / "x.py", "# not source\n")
    assert manifest.package_hash(project) == before
    write(project / "alexnet_course" / "course" / "widgets.py", "W = 1\n")
    with_widgets = manifest.package_hash(project)
    assert with_widgets != before
    write(project / "alexnet_course" / "models" / "lenet.py", "X = 2\n")
    assert manifest.package_hash(project) != with_widgets


def test_results_hash_ignores_the_results_pages_own_output(tmp_path: Path) -> None:
    write(tmp_path / "01_a" / "run.json", '{"a": 1}')
    before = manifest.results_hash(tmp_path)
    write(tmp_path / "results" / "_chapter.json", '{"wall_seconds": 3}')
    write(tmp_path / "01_a" / "notes.txt", "not a result")
    assert manifest.results_hash(tmp_path) == before
    write(tmp_path / "01_a" / "run.json", '{"a": 2}')
    assert manifest.results_hash(tmp_path) != before
    assert manifest.results_hash(tmp_path / "missing") == manifest.results_hash(tmp_path / "x")


@pytest.mark.parametrize("change, expected", [
    ({}, None),
    ({"output_exists": False}, "no executed copy"),
    ({"record": None}, "never run by the driver"),
    ({"profile": "full"}, "profile quick -> full"),
    ({"source_sha": "other"}, "notebook changed"),
    ({"package_sha": "other"}, "package code changed"),
    ({"results_sha": "r"}, None),
    ({"results_sha": "other"}, "results changed"),
])
def test_run_reason(change: dict[str, Any], expected: str | None) -> None:
    args: dict[str, Any] = {"record": {"source_sha256": "s", "package_sha256": "p",
                                       "profile": "quick", "results_sha256": "r"},
                            "source_sha": "s", "package_sha": "p", "profile": "quick",
                            "output_exists": True}
    args.update(change)
    assert manifest.run_reason(**args) == expected


def fake_executor(calls: list[tuple[str, str]]):
    def execute(source: Path, output: Path, profile: str, timeout: float, log_path: Path,
                results: Path) -> driver.Outcome:
        calls.append((source.name, profile))
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(source.read_text())
        return driver.Outcome(True, 1.5)
    return execute


def test_run_executes_changed_chapters_and_skips_unchanged(
        project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
        fake_device: None) -> None:
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(driver, "execute_notebook", fake_executor(calls))
    assert driver.command_run(project, "quick", None, False, 60) == 0
    assert calls == [("01_first.ipynb", "quick"), ("02_second.ipynb", "quick")]
    recorded = json.loads((project / "book" / ".manifest.json").read_text())
    assert set(recorded["chapters"]) == {"01_first", "02_second"}
    record = recorded["chapters"]["01_first"]
    assert record["profile"] == "quick" and record["device"] == CPU
    assert {"source_sha256", "package_sha256", "date", "wall_s"} <= set(record)
    assert "results_sha256" not in record  # only the results page records its input

    calls.clear()
    assert driver.command_run(project, "quick", None, False, 60) == 0
    assert calls == []
    assert "up to date, skipped" in capsys.readouterr().out

    write(project / "alexnet_course" / "models" / "lenet.py", "X = 3\n")
    assert driver.command_run(project, "quick", ["02"], False, 60) == 0
    assert calls == [("02_second.ipynb", "quick")]

    calls.clear()
    assert driver.command_run(project, "smoke", ["01_first"], False, 60) == 0
    assert calls == [("01_first.ipynb", "smoke")]
    calls.clear()
    assert driver.command_run(project, "smoke", ["01"], True, 60) == 0
    assert calls == [("01_first.ipynb", "smoke")]


def test_only_rejects_unknown_chapter(project: Path) -> None:
    with pytest.raises(BookError, match="no such chapter"):
        driver.command_run(project, "quick", ["09"], False, 60)


def test_run_summary_sentences() -> None:
    assert "No chapter" in sphinx_ext.run_summary({"chapters": {}})
    cpu = {"profile": "quick", "device": {"kind": "cpu", "cores": 2}, "date": "2025-01-02T10:00"}
    text = sphinx_ext.run_summary({"chapters": {"01_a": cpu, "02_b": dict(cpu, date="2025-01-03")}})
    assert "The 2 executed chapters" in text and "**quick**" in text
    assert "2-core CPU" in text and "No chapter has been run on a GPU yet" in text
    gpu = {"profile": "full", "device": {"kind": "cuda", "name": "NVIDIA H100"}}
    text = sphinx_ext.run_summary({"chapters": {"01_a": cpu, "02_b": gpu}})
    assert "- **full** profile on NVIDIA H100: 02_b" in text and "GPU yet" not in text


def test_run_summary_reads_the_books_manifest() -> None:
    text = sphinx_ext.run_summary(manifest.load_manifest(), paths.parse_toc())
    assert "profile" in text or "No chapter" in text


# ------------------------------------------------------- the driver, really executing


def executable_project(root: Path, *cells: dict[str, Any]) -> Path:
    """A project whose only chapter is ``notebooks/01_first.ipynb`` made of ``cells``."""
    write(root / "_config.yml", f"title: t\nrepository:\n  url: {URL}\n")
    write(root / "_toc.yml", "format: jb-book\nroot: book/intro\nchapters:\n"
          "  - file: book/01_first\n")
    write(root / "book" / "intro.md", "# Intro\n")
    write(root / "alexnet_course" / "__init__.py", "")
    write_nb(root / "notebooks" / "01_first.ipynb", notebook(*cells))
    return root


def published(root: Path) -> Path:
    """A previous good page and its manifest record, as a successful run left them."""
    page = write_nb(root / "book" / "01_first.ipynb",
                    notebook(code("print('good')", 1, [{"output_type": "stream",
                                                        "name": "stdout", "text": "good\n"}])))
    record = {"source_sha256": "old", "package_sha256": "old", "profile": "smoke",
              "device": CPU, "date": "2025-01-01T00:00:00+00:00", "wall_s": 1.0}
    write(root / "book" / ".manifest.json", json.dumps({"chapters": {"01_first": record}}))
    return page


def outputs_text(path: Path) -> str:
    """Every output of a notebook as text: streams, data and error values."""
    nb = json.loads(path.read_text())
    outputs = [o for cell in nb["cells"] for o in cell.get("outputs", [])]
    return "".join("".join(o.get("text", "")) + json.dumps(o.get("data", {}))
                   + str(o.get("evalue", "")) for o in outputs)


def wait_gone(pids: list[int], seconds: float = 15) -> list[int]:
    """The pids still running (not zombies) after waiting up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        alive = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


PRINT_ENV = code("import os\nprint('dir=' + str(os.environ.get('COURSE_RESULTS_DIR')))\n"
                 "print('profile=' + str(os.environ.get('COURSE_PROFILE')))", None)


@pytest.mark.parametrize("profile, folder", [("smoke", "_build/smoke-results"),
                                             ("quick", "results")])
def test_run_publishes_a_successful_run_with_the_results_dir(
        tmp_path: Path, profile: str, folder: str, fake_device: None) -> None:
    root = executable_project(tmp_path, PRINT_ENV)
    assert main(["--root", str(root), "run", "--profile", profile]) == 0
    text = outputs_text(root / "book" / "01_first.ipynb")
    assert f"dir={(root / folder).resolve()}\n" in text and f"profile={profile}" in text
    assert manifest.load_manifest(root)["chapters"]["01_first"]["profile"] == profile
    assert not (root / "_build" / "running" / "01_first.ipynb").exists()
    assert not (root / "_build" / "failed" / "01_first.ipynb").exists()


def test_failed_run_keeps_the_previous_page_and_record(
        tmp_path: Path, capsys: pytest.CaptureFixture, fake_device: None) -> None:
    root = executable_project(tmp_path, code("print('first cell done')", None),
                              code("raise ValueError('boom')", None))
    page = published(root)
    before_page, before_manifest = page.read_bytes(), manifest.load_manifest(root)
    assert main(["--root", str(root), "run", "--profile", "smoke"]) == 1
    assert page.read_bytes() == before_page
    assert manifest.load_manifest(root) == before_manifest
    failed = root / "_build" / "failed" / "01_first.ipynb"
    assert "first cell done" in outputs_text(failed) and "boom" in outputs_text(failed)
    out = capsys.readouterr().out
    assert "_build/failed/01_first.ipynb" in out and "papermill exited" in out


def test_timed_out_run_keeps_the_previous_page_and_stops_the_kernel(
        tmp_path: Path, capsys: pytest.CaptureFixture, fake_device: None) -> None:
    pid_file = tmp_path / "kernel.pid"
    root = executable_project(
        tmp_path / "book_project",
        code(f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
             "print('started')", None),
        code("time.sleep(120)", None))
    page = published(root)
    before = page.read_bytes()
    start = time.monotonic()
    assert main(["--root", str(root), "run", "--profile", "smoke", "--timeout", "6"]) == 1
    assert time.monotonic() - start < 60
    assert "timed out after 6 s" in capsys.readouterr().out
    assert page.read_bytes() == before
    assert "started" in outputs_text(root / "_build" / "failed" / "01_first.ipynb")
    assert wait_gone([int(pid_file.read_text())], seconds=2) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_killing_the_driver_ends_papermill_and_the_kernel(tmp_path: Path, sig: int) -> None:
    pid_file = tmp_path / "pids.txt"
    root = executable_project(
        tmp_path / "book_project",
        code(f"import os, time\nopen({str(pid_file)!r}, 'w').write("
             "f'{os.getpid()} {os.getppid()}')\nprint('started')", None),
        code("time.sleep(300)", None))
    page = published(root)
    before = page.read_bytes()
    proc = subprocess.Popen([sys.executable, "-m", "tools.book", "--root", str(root), "run",
                             "--profile", "smoke"], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    pids: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while not pid_file.is_file() or len(pid_file.read_text().split()) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
            time.sleep(0.2)
        pids = [int(pid) for pid in pid_file.read_text().split()]  # kernel, papermill
        time.sleep(1)  # the first cell's output is saved
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 128 + sig, out
        assert f"stopped by {signal.Signals(sig).name}" in out
        assert wait_gone(pids, seconds=2) == [], "papermill or the kernel outlived the driver"
        assert page.read_bytes() == before
        assert (root / "_build" / "failed" / "01_first.ipynb").is_file()
    finally:
        for pid in [proc.pid, *pids]:  # only what this test started
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(timeout=10)


def test_results_page_reruns_when_results_change(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture,
                                                 fake_device: None) -> None:
    root = executable_project(tmp_path, code("print('summary')", None))
    write(root / "_toc.yml", "format: jb-book\nroot: book/intro\nchapters:\n"
          "  - file: book/results\n")
    (root / "notebooks" / "01_first.ipynb").rename(root / "notebooks" / "results.ipynb")
    write(root / "results" / "01_a" / "run.json", '{"row": {"model": "lenet"}}')
    args = ["--root", str(root), "run", "--profile", "quick"]
    assert main(args) == 0
    record = manifest.load_manifest(root)["chapters"]["results"]
    assert record["results_sha256"] == manifest.results_hash(root / "results")
    capsys.readouterr()
    write(root / "results" / "results" / "_chapter.json", '{"wall_seconds": 1}')
    assert main(args) == 0
    assert "up to date, skipped" in capsys.readouterr().out
    write(root / "results" / "01_a" / "run.json", '{"row": {"model": "alexnet"}}')
    assert main(args) == 0
    assert "running (results changed" in capsys.readouterr().out


# ---------------------------------------------------------------- malformed input files


@pytest.mark.parametrize("relpath, text, command, rc", [
    ("_toc.yml", "format: jb-book\nroot: [book/intro\n", "check", 2),
    ("_toc.yml", "format: jb-book\nroot: [book/intro\n", "run", 2),
    ("_config.yml", "title: [t\n", "check", 2),
    ("book/.manifest.json", "{\"chapters\": ", "check", 2),
    ("book/.manifest.json", "{\"chapters\": []}", "run", 2),
    ("notebooks/02_second.ipynb", "{not json", "check", 1),
    ("notebooks/02_second.ipynb", "{not json", "run", 2),
    ("book/01_first.ipynb", "[]", "check", 1),
])
def test_malformed_files_are_named(project: Path, capsys: pytest.CaptureFixture,
                                   relpath: str, text: str, command: str, rc: int) -> None:
    write(project / relpath, text)
    argv = ["--root", str(project), command] + (["--profile", "quick"] if command == "run"
                                               else [])
    assert main(argv) == rc
    captured = capsys.readouterr()
    assert relpath in captured.out + captured.err
    assert "Traceback" not in captured.out + captured.err


# ---------------------------------------------------------------------------- check


def test_check_notebook_accepts_an_executed_notebook() -> None:
    nb = notebook(markdown("# t"), code("x = 1", 1), code("  ", None))
    assert checks.check_notebook(nb) == []


def test_check_notebook_catches_missing_execution_count() -> None:
    problems = checks.check_notebook(notebook(code("x = 1", 1), code("y = 2", None)))
    assert problems == ["cell 1 was not executed"]


def test_check_notebook_catches_error_outputs() -> None:
    error = {"output_type": "error", "ename": "ValueError", "evalue": "bad", "traceback": []}
    problems = checks.check_notebook(notebook(code("raise ValueError('bad')", 1, [error])))
    assert problems == ["cell 0 raised ValueError: bad"]


def test_check_notebook_requires_widget_state() -> None:
    view = {"output_type": "display_data", "metadata": {},
            "data": {checks.WIDGET_VIEW_MIME: {"model_id": "abc", "version_major": 2},
                     "text/plain": "IntSlider(value=3)"}}
    cell = code("IntSlider(3)", 1, [view])
    assert "widget state" in checks.check_notebook(notebook(cell))[0]
    state = {"widgets": {checks.WIDGET_STATE_MIME: {"state": {"abc": {}}, "version_major": 2}}}
    assert checks.check_notebook(notebook(cell, metadata=state)) == []


def test_install_cell_url_must_match_config() -> None:
    good = notebook(install_cell(URL), code("from alexnet_course import data"))
    assert checks.check_install_cell(good, URL) == []
    wrong = notebook(install_cell("https://github.com/someone/fork"))
    assert "someone/fork" in checks.check_install_cell(wrong, URL)[0]
    dotgit = notebook(code(f"%pip install -q git+{URL}.git@main"))
    assert checks.check_install_cell(dotgit, URL) == []


def test_import_before_install_cell_is_flagged() -> None:
    nb = notebook(code("import alexnet_course"), install_cell(URL))
    problem = checks.check_install_cell(nb, URL)[0]
    assert "before any install cell" in problem and "python -m tools.book install-cell" in problem
    assert checks.check_install_cell(notebook(code("import torch")), URL) == []


def test_command_check(project: Path, capsys: pytest.CaptureFixture) -> None:
    assert checks.command_check(project) == 1  # book/02_second is missing
    assert "book/02_second" in capsys.readouterr().out
    write_nb(project / "book" / "02_second.ipynb",
             notebook(install_cell(), code("x = 2", 1)))
    assert checks.command_check(project) == 0
    write_nb(project / "notebooks" / "02_second.ipynb",
             notebook(install_cell("https://github.com/someone/fork", None)))
    assert checks.command_check(project) == 1
    assert "someone/fork" in capsys.readouterr().out


def test_check_strict_fails_on_stale_chapters(project: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    write_nb(project / "book" / "02_second.ipynb", notebook(install_cell(), code("x = 2", 1)))
    assert checks.command_check(project) == 0  # never run by the driver: a warning only
    assert "stale" in capsys.readouterr().out
    assert checks.command_check(project, strict=True) == 1


def test_check_names_corrupt_results_json(project: Path, capsys: pytest.CaptureFixture) -> None:
    write_nb(project / "book" / "02_second.ipynb", notebook(install_cell(), code("x = 2", 1)))
    write(project / "results" / "01_first" / "good.json", '{"run": "good"}')
    assert main(["--root", str(project), "check"]) == 0
    write(project / "results" / "01_first" / "half.json", '{"run": "half", "hist')
    write(project / "results" / "01_first" / "list.json", '[1, 2]')
    (project / "results" / "01_first" / "bin.json").write_bytes(b"\xff\xfe\x00")
    assert main(["--root", str(project), "check"]) == 1
    out = capsys.readouterr().out
    for name in ("half.json", "list.json", "bin.json"):
        assert f"error: results/01_first/{name}" in out
    assert "good.json" not in out


# ----------------------------------------------------------------- links, browser


def test_linkchecker_finds_broken_links_and_anchors(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write(site / "index.html", '<a href="book/a.html#sec">a</a><a href="#top" id="top">t</a>'
          '<a href="https://example.invalid/">x</a><img src="_static/logo.png">'
          '<a href="mailto:a@example.invalid">m</a><a href="../outside.html">o</a>')
    write(site / "book" / "a.html", '<h1 id="sec">A</h1><a href="../index.html#nope">b</a>'
          '<a href="missing.html">m</a><script src="../_static/x.js"></script>')
    write(site / "_static" / "logo.png", "png")
    write(tmp_path / "outside.html", "<p>not part of the site</p>")
    with serve_site(site) as base_url:
        problems = links.check_links(site, base_url)
    assert len(problems) == 4, problems
    assert any(p.startswith("book/a.html: ../index.html#nope: no element with id 'nope'")
               for p in problems)
    assert any(p.startswith("book/a.html: missing.html: 404") for p in problems)
    assert any(p.startswith("book/a.html: ../_static/x.js: 404") for p in problems)
    assert any(p.startswith("index.html: ../outside.html: 404") for p in problems)


def test_page_log_collects_errors_not_logs() -> None:
    log = browser.PageLog()
    message = lambda kind, text: SimpleNamespace(  # noqa: E731
        type=kind, text=text, location={"url": "a.js", "lineNumber": 3})
    log.on_console(message("error", "boom"))
    log.on_console(message("log", "fine"))
    log.on_console(message("error", "Failed to load resource: 404"))  # see on_response
    log.on_page_error(SimpleNamespace(name="TypeError", message="x is undefined\n at y"))
    log.on_response(SimpleNamespace(status=404, url="http://h/missing.png"))
    log.on_response(SimpleNamespace(status=200, url="http://h/ok.png"))
    assert log.errors == ["console.error: boom (a.js:3)", "uncaught exception: TypeError: "
                          "x is undefined", "HTTP 404: http://h/missing.png"]
    problems = browser.page_problems("p.html", {"widgets": 2, "widgetsShown": 0, "math": 3,
                                                "mathShown": 0, "badImages": ["i.png"]}, log)
    assert "p.html: 2 widget(s) did not render" in problems
    assert "p.html: math did not render (MathJax)" in problems
    assert "p.html: image did not load: i.png" in problems


def test_vendor_spec_pins_versions_and_integrity() -> None:
    spec = vendor.vendor_spec(REPO_ROOT)
    names = {p["name"] for p in spec["packages"]}
    assert names == {"requirejs", "@jupyter-widgets/html-manager", "mathjax"}
    for package in spec["packages"]:
        assert package["version"][0].isdigit()
        assert package["integrity"].startswith("sha512-")
        assert package["copy"] and all(rule["include"] for rule in package["copy"])


def test_cli_install_cell(project: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--root", str(project), "install-cell"]) == 0
    assert f"%pip install -q git+{URL}" in capsys.readouterr().out


def test_cli_runs_from_the_repository_root() -> None:
    out = subprocess.run([sys.executable, "-m", "tools.book", "--help"], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for command in ("run", "build", "check", "browser-test", "install-cell", "vendor"):
        assert command in out.stdout


def test_widget_fonts_are_mirrored_next_to_pages(tmp_path: Path) -> None:
    (tmp_path / "_static" / "widgets").mkdir(parents=True)
    (tmp_path / "_static" / "widgets" / "abc.woff2").write_bytes(b"font")
    (tmp_path / "_static" / "widgets" / "embed-amd.js").write_text("js")
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "results.html").write_text("<html></html>")
    (tmp_path / "index.html").write_text("<html></html>")
    assert build.mirror_widget_fonts(tmp_path) == 2
    assert (tmp_path / "book" / "@jupyter-widgets" / "abc.woff2").read_bytes() == b"font"
    assert not (tmp_path / "book" / "@jupyter-widgets" / "embed-amd.js").exists()
