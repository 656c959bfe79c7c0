"""Tests of the book tooling (tools/book). Most are unit tests on a tiny project in a
temporary folder; the driver's reliability tests execute tiny notebooks with papermill
(a second or two each), the link check runs LinkChecker on a three-page site. Nothing
of the real book is executed or built."""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tools.book import browser, build, checks, driver, manifest, paths, sphinx_ext
from tools.book.cli import main
from tools.book.paths import REPO_ROOT, BookError
from tools.book.rendition import command_colab

from book_helpers import CPU, REF, URL, code, install_cell, markdown, notebook, write, write_nb


# ------------------------------------------------------------------------ config, toc


def test_repository_url_comes_from_config(project: Path) -> None:
    assert paths.repository_url(project) == URL


def test_repository_url_of_this_repository_is_in_config() -> None:
    url = paths.repository_url()
    assert url.startswith("https://github.com/")
    assert f"git+{url}@v1" in checks.install_cell_source(url, "v1")


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


def results_hash(results: Path) -> str:
    return manifest.store_hash(results, manifest.RESULTS_PAGE)


def test_results_hash_ignores_the_results_pages_own_output(tmp_path: Path) -> None:
    write(tmp_path / "01_a" / "run.json", '{"a": 1}')
    before = results_hash(tmp_path)
    write(tmp_path / "results" / "_chapter.json", '{"wall_seconds": 3}')
    write(tmp_path / "01_a" / "notes.txt", "not a result")
    assert results_hash(tmp_path) == before
    write(tmp_path / "01_a" / "run.json", '{"a": 2}')
    assert results_hash(tmp_path) != before
    assert results_hash(tmp_path / "missing") == results_hash(tmp_path / "x")


@pytest.mark.parametrize("change, expected", [
    ({}, None),
    ({"output_exists": False}, "no executed copy"),
    ({"record": None}, "never run by the driver"),
    ({"profile": "full"}, "profile quick -> full"),
    ({"source_sha": "other"}, "notebook changed"),
    ({"results_sha": "r"}, None),
    ({"results_sha": "other"}, "results changed"),
])
def test_run_reason(change: dict[str, Any], expected: str | None) -> None:
    args: dict[str, Any] = {"record": {"source_sha256": "s", "profile": "quick",
                                       "results_sha256": "r"},
                            "source_sha": "s", "profile": "quick", "output_exists": True}
    args.update(change)
    assert manifest.run_reason(**args) == expected


def test_run_reason_ignores_the_package_keys_of_old_records() -> None:
    """Records written before the run store name the package hash they were executed with,
    some a promotion; neither makes them stale."""
    old = {"source_sha256": "s", "package_sha256": "a package long gone", "profile": "quick",
           "promoted": {"from_package_sha256": "older", "by": "smoke outputs identical"}}
    assert manifest.run_reason(old, "s", "quick", True) is None
    assert manifest.run_reason(old, "other", "quick", True) == "notebook changed"


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
    # no package hash: a chapter's inputs are its notebook and its stored runs
    assert {"source_sha256", "profile", "device", "date", "wall_s", "results_sha256"} == set(record)

    calls.clear()
    assert driver.command_run(project, "quick", None, False, 60) == 0
    assert calls == []
    assert "up to date, skipped" in capsys.readouterr().out

    # a package edit re-executes nothing (stored runs and the canary test cover it) ...
    write(project / "alexnet_course" / "models" / "lenet.py", "X = 3\n")
    assert driver.command_run(project, "quick", None, False, 60) == 0
    assert calls == []
    # ... an edit of a notebook re-executes that chapter alone
    source = project / "notebooks" / "02_second.ipynb"
    nb = json.loads(source.read_text())
    nb["cells"].append(code("print(2)", None))
    write_nb(source, nb)
    assert driver.command_run(project, "quick", None, False, 60) == 0
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
    assert checks.check_install_cell(good, URL, REF) == []
    wrong = notebook(install_cell("https://github.com/someone/fork"))
    assert "someone/fork" in checks.check_install_cell(wrong, URL, REF)[0]
    branch = notebook(code(f"%pip install -q git+{URL}.git@main"))  # right URL, not the pin
    assert "pin v1.0" in checks.check_install_cell(branch, URL, REF)[0]
    assert "unpinned" in checks.check_install_cell(good, URL, None)[0]


def test_import_before_install_cell_is_flagged() -> None:
    nb = notebook(code("import alexnet_course"), install_cell(URL))
    problem = checks.check_install_cell(nb, URL, REF)[0]
    assert "before any install cell" in problem and "python -m tools.book install-cell" in problem
    assert checks.check_install_cell(notebook(code("import torch")), URL, REF) == []


def test_check_includes_names_a_moved_file_or_object(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("class A:\n    def f(self):\n        pass\n")
    folder = tmp_path / "notebooks"

    def include(target: str, obj: str) -> dict[str, Any]:
        text = f"Text\n\n```{{literalinclude}} {target}\n:pyobject: {obj}\n```\n"
        return notebook(markdown(text))

    assert checks.check_includes(include("../pkg/mod.py", "A.f"), folder) == []
    assert "does not exist" in checks.check_includes(include("../pkg/gone.py", "A"), folder)[0]
    problem = checks.check_includes(include("../pkg/mod.py", "A.g"), folder)[0]
    assert "A.g" in problem and "does not define it" in problem


def test_source_notebooks_include_what_exists() -> None:
    for path in sorted((REPO_ROOT / "notebooks").glob("*.ipynb")):
        assert checks.check_includes(json.loads(path.read_text()), path.parent) == [], path.name


def test_command_check(project: Path, capsys: pytest.CaptureFixture) -> None:
    assert checks.command_check(project) == 1  # book/02_second is missing
    assert "book/02_second" in capsys.readouterr().out
    write_nb(project / "book" / "02_second.ipynb",
             notebook(install_cell(), code("x = 2", 1)))
    command_colab(project, echo=lambda _: None)
    assert checks.command_check(project) == 0
    write_nb(project / "notebooks" / "02_second.ipynb",
             notebook(install_cell("https://github.com/someone/fork", None)))
    assert checks.command_check(project) == 1
    assert "someone/fork" in capsys.readouterr().out


def test_check_warns_of_stale_chapters(project: Path, capsys: pytest.CaptureFixture) -> None:
    write_nb(project / "book" / "02_second.ipynb", notebook(install_cell(), code("x = 2", 1)))
    command_colab(project, echo=lambda _: None)
    assert checks.command_check(project) == 0  # never run by the driver: a warning only
    assert "warning: book/02_second: executed copy is stale" in capsys.readouterr().out


def test_check_names_corrupt_results_json(project: Path, capsys: pytest.CaptureFixture) -> None:
    write_nb(project / "book" / "02_second.ipynb", notebook(install_cell(), code("x = 2", 1)))
    write(project / "results" / "01_first" / "good.json", '{"run": "good"}')
    command_colab(project, echo=lambda _: None)
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
    with browser.serve_site(site) as base_url:
        problems = browser.check_links(site, base_url)
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
    spec = build.vendor_spec(REPO_ROOT)
    names = {p["name"] for p in spec["packages"]}
    assert names == {"requirejs", "@jupyter-widgets/html-manager", "mathjax"}
    for package in spec["packages"]:
        assert package["version"][0].isdigit()
        assert package["integrity"].startswith("sha512-")
        assert package["copy"] and all(rule["include"] for rule in package["copy"])


def test_cli_install_cell(project: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--root", str(project), "install-cell"]) == 0
    assert f'%pip install -q "alexnet-course[course] @ git+{URL}@{REF}"' in capsys.readouterr().out


def test_cli_runs_from_the_repository_root() -> None:
    out = subprocess.run([sys.executable, "-m", "tools.book", "--help"], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for command in ("run", "build", "check", "browser-test", "install-cell", "colab",
                    "pin", "set-url", "estimates"):
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
