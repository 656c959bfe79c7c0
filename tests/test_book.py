"""Fast unit tests of the book driver (alexnet_course.book); no notebook is executed and
nothing is built."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from alexnet_course import book

URL = "https://github.com/example/course"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def notebook(*cells: dict[str, Any], metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"cells": list(cells), "metadata": metadata or {}, "nbformat": 4,
            "nbformat_minor": 5}


def code(source: str, count: int | None = 1, outputs: list[dict[str, Any]] | None = None
         ) -> dict[str, Any]:
    return {"cell_type": "code", "source": source, "execution_count": count,
            "metadata": {}, "outputs": outputs or []}


def markdown(source: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "source": source, "metadata": {}}


def install_cell(url: str = URL, count: int | None = 1) -> dict[str, Any]:
    return code(book.install_cell_source(url), count)


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


# ------------------------------------------------------------------------ config, toc


def test_repository_url_comes_from_config(project: Path) -> None:
    assert book.repository_url(project) == URL


def test_repository_url_of_this_repository_is_in_config() -> None:
    url = book.repository_url()
    assert url.startswith("https://github.com/")
    assert f"git+{url}" in book.install_cell_source(url)


def test_parse_toc_order_and_nesting(project: Path) -> None:
    entries = book.parse_toc(project)
    assert [e.docname for e in entries] == ["book/intro", "book/01_first", "book/01_first_extra",
                                           "book/02_second", "book/references"]
    first = entries[1]
    assert first.name == "01_first"
    assert first.path == project / "book" / "01_first.ipynb"
    assert first.source == project / "notebooks" / "01_first.ipynb"
    assert entries[0].path == project / "book" / "intro.md" and entries[0].source is None


def test_parse_toc_rejects_toc_without_root(tmp_path: Path) -> None:
    write(tmp_path / "_toc.yml", "format: jb-book\nchapters: []\n")
    with pytest.raises(book.BookError, match="root"):
        book.parse_toc(tmp_path)


def test_missing_documents_name_the_chapter_and_the_fix(project: Path) -> None:
    problems = book.missing_documents(book.parse_toc(project))
    assert len(problems) == 1
    assert "book/02_second" in problems[0] and "--only 02_second" in problems[0]
    (project / "notebooks" / "02_second.ipynb").unlink()
    problems = book.missing_documents(book.parse_toc(project))
    assert "remove it from _toc.yml" in problems[0]


def test_build_refuses_when_a_listed_chapter_is_missing(project: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    assert book.command_build(project) == 1
    assert "book/02_second" in capsys.readouterr().err


# ------------------------------------------------------------------- hashes, manifest


def test_notebook_hash_ignores_outputs_and_counts(project: Path) -> None:
    source = project / "notebooks" / "01_first.ipynb"
    executed = project / "book" / "01_first.ipynb"
    assert book.notebook_hash(source) == book.notebook_hash(executed)
    nb = json.loads(source.read_text())
    nb["cells"][2]["source"] = "print(2)"
    write_nb(source, nb)
    assert book.notebook_hash(source) != book.notebook_hash(executed)


def test_package_hash_tracks_package_code_but_not_the_driver(project: Path) -> None:
    before = book.package_hash(project)
    write(project / "alexnet_course" / "book.py", "# the driver\n")
    assert book.package_hash(project) == before
    write(project / "alexnet_course" / "models" / "lenet.py", "X = 2\n")
    assert book.package_hash(project) != before


@pytest.mark.parametrize("change, expected", [
    ({}, None),
    ({"output_exists": False}, "no executed copy"),
    ({"record": None}, "never run by the driver"),
    ({"profile": "full"}, "profile quick -> full"),
    ({"source_sha": "other"}, "notebook changed"),
    ({"package_sha": "other"}, "package code changed"),
])
def test_run_reason(change: dict[str, Any], expected: str | None) -> None:
    args: dict[str, Any] = {"record": {"source_sha256": "s", "package_sha256": "p",
                                       "profile": "quick"},
                            "source_sha": "s", "package_sha": "p", "profile": "quick",
                            "output_exists": True}
    args.update(change)
    assert book.run_reason(**args) == expected


def test_run_executes_changed_chapters_and_skips_unchanged(
        project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    calls: list[tuple[str, str]] = []

    def fake_execute(source: Path, output: Path, profile: str, timeout: float,
                     log_path: Path) -> tuple[bool, float, str]:
        calls.append((source.name, profile))
        output.write_text(source.read_text())
        return True, 1.5, ""

    monkeypatch.setattr(book, "execute_notebook", fake_execute)
    monkeypatch.setattr(book, "describe_device",
                        lambda: {"kind": "cpu", "name": "CPU (2 cores)", "cores": 2})
    assert book.command_run(project, "quick", None, False, 60) == 0
    assert calls == [("01_first.ipynb", "quick"), ("02_second.ipynb", "quick")]
    manifest = json.loads((project / "book" / ".manifest.json").read_text())
    assert set(manifest["chapters"]) == {"01_first", "02_second"}
    assert manifest["chapters"]["01_first"]["profile"] == "quick"

    calls.clear()
    assert book.command_run(project, "quick", None, False, 60) == 0
    assert calls == []
    assert "up to date, skipped" in capsys.readouterr().out

    write(project / "alexnet_course" / "models" / "lenet.py", "X = 3\n")
    assert book.command_run(project, "quick", ["02"], False, 60) == 0
    assert calls == [("02_second.ipynb", "quick")]

    calls.clear()
    assert book.command_run(project, "smoke", ["01_first"], False, 60) == 0
    assert calls == [("01_first.ipynb", "smoke")]
    calls.clear()
    assert book.command_run(project, "smoke", ["01"], True, 60) == 0
    assert calls == [("01_first.ipynb", "smoke")]


def test_failed_run_is_reported_and_forgotten(project: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(book, "execute_notebook",
                        lambda *a, **k: (False, 3.0, "papermill exited with status 1"))
    monkeypatch.setattr(book, "describe_device", lambda: {"kind": "cpu", "name": "CPU"})
    assert book.command_run(project, "quick", ["01"], True, 60) == 1
    assert "01_first" not in book.load_manifest(project)["chapters"]


def test_only_rejects_unknown_chapter(project: Path) -> None:
    with pytest.raises(book.BookError, match="no such chapter"):
        book.command_run(project, "quick", ["09"], False, 60)


def test_run_summary_sentences() -> None:
    assert "No chapter" in book.run_summary({"chapters": {}})
    cpu = {"profile": "quick", "device": {"kind": "cpu", "cores": 2}, "date": "2025-01-02T10:00"}
    text = book.run_summary({"chapters": {"01_a": cpu, "02_b": dict(cpu, date="2025-01-03")}})
    assert "The 2 executed chapters" in text and "**quick**" in text
    assert "2-core CPU" in text and "No chapter has been run on a GPU yet" in text
    gpu = {"profile": "full", "device": {"kind": "cuda", "name": "NVIDIA H100"}}
    text = book.run_summary({"chapters": {"01_a": cpu, "02_b": gpu}})
    assert "- **full** profile on NVIDIA H100: 02_b" in text and "GPU yet" not in text


# ---------------------------------------------------------------------------- check


def test_check_notebook_accepts_an_executed_notebook() -> None:
    assert book.check_notebook(notebook(markdown("# t"), code("x = 1", 1), code("  ", None))) == []


def test_check_notebook_catches_missing_execution_count() -> None:
    problems = book.check_notebook(notebook(code("x = 1", 1), code("y = 2", None)))
    assert problems == ["cell 1 was not executed"]


def test_check_notebook_catches_error_outputs() -> None:
    error = {"output_type": "error", "ename": "ValueError", "evalue": "bad", "traceback": []}
    problems = book.check_notebook(notebook(code("raise ValueError('bad')", 1, [error])))
    assert problems == ["cell 0 raised ValueError: bad"]


def test_check_notebook_requires_widget_state() -> None:
    view = {"output_type": "display_data", "metadata": {},
            "data": {book.WIDGET_VIEW_MIME: {"model_id": "abc", "version_major": 2},
                     "text/plain": "IntSlider(value=3)"}}
    cell = code("IntSlider(3)", 1, [view])
    assert "widget state" in book.check_notebook(notebook(cell))[0]
    state = {"widgets": {book.WIDGET_STATE_MIME: {"state": {"abc": {}}, "version_major": 2}}}
    assert book.check_notebook(notebook(cell, metadata=state)) == []


def test_install_cell_url_must_match_config() -> None:
    good = notebook(install_cell(URL), code("from alexnet_course import data"))
    assert book.check_install_cell(good, URL) == []
    wrong = notebook(install_cell("https://github.com/someone/fork"))
    assert "someone/fork" in book.check_install_cell(wrong, URL)[0]
    dotgit = notebook(code(f"%pip install -q git+{URL}.git@main"))
    assert book.check_install_cell(dotgit, URL) == []


def test_import_before_install_cell_is_flagged() -> None:
    nb = notebook(code("import alexnet_course"), install_cell(URL))
    assert "before any install cell" in book.check_install_cell(nb, URL)[0]
    assert book.check_install_cell(notebook(code("import torch")), URL) == []


def test_command_check(project: Path, capsys: pytest.CaptureFixture) -> None:
    assert book.command_check(project) == 1  # book/02_second is missing
    assert "book/02_second" in capsys.readouterr().out
    write_nb(project / "book" / "02_second.ipynb",
             notebook(install_cell(), code("x = 2", 1)))
    assert book.command_check(project) == 0
    write_nb(project / "notebooks" / "02_second.ipynb",
             notebook(install_cell("https://github.com/someone/fork", None)))
    assert book.command_check(project) == 1
    assert "someone/fork" in capsys.readouterr().out


def test_check_strict_fails_on_stale_chapters(project: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    write_nb(project / "book" / "02_second.ipynb", notebook(install_cell(), code("x = 2", 1)))
    assert book.command_check(project) == 0  # never run by the driver: a warning only
    assert "stale" in capsys.readouterr().out
    assert book.command_check(project, strict=True) == 1


# ---------------------------------------------------------------------- browser test


def test_broken_links(tmp_path: Path) -> None:
    write(tmp_path / "index.html", '<a href="book/a.html#sec">a</a><a href="#top" id="top">t</a>'
          '<a href="https://example.org/">x</a><img src="_static/logo.png">')
    write(tmp_path / "book" / "a.html", '<h1 id="sec">A</h1><a href="../index.html#nope">b</a>'
          '<a href="missing.html">m</a><script src="../_static/x.js"></script>')
    write(tmp_path / "_static" / "logo.png", "png")
    problems = book.broken_links(tmp_path, book.html_pages(tmp_path))
    assert len(problems) == 3
    assert any("#nope" in p and "no element with id" in p for p in problems)
    assert any("missing.html" in p and "no such file" in p for p in problems)
    assert any("x.js" in p for p in problems)


def test_console_errors_are_collected_per_session() -> None:
    events = [
        {"method": "Runtime.exceptionThrown", "sessionId": "s",
         "params": {"exceptionDetails": {"text": "Uncaught", "url": "a.js", "lineNumber": 3,
                                         "exception": {"description": "TypeError: x\n at y"}}}},
        {"method": "Runtime.consoleAPICalled", "sessionId": "s",
         "params": {"type": "error", "args": [{"type": "string", "value": "boom"}]}},
        {"method": "Runtime.consoleAPICalled", "sessionId": "s",
         "params": {"type": "log", "args": [{"type": "string", "value": "fine"}]}},
        {"method": "Log.entryAdded", "sessionId": "other",
         "params": {"entry": {"level": "error", "text": "elsewhere"}}},
    ]
    errors = book._console_errors(events, "s")
    assert errors == ["uncaught exception: TypeError: x (a.js:3)", "console.error: boom"]


def test_vendor_spec_pins_versions_and_integrity() -> None:
    spec = book._vendor_spec(book.REPO_ROOT)
    names = {p["name"] for p in spec["packages"]}
    assert names == {"requirejs", "@jupyter-widgets/html-manager", "mathjax"}
    for package in spec["packages"]:
        assert package["version"][0].isdigit()
        assert package["integrity"].startswith("sha512-")
        assert package["copy"] and all(rule["include"] for rule in package["copy"])


def test_cli_install_cell(project: Path, capsys: pytest.CaptureFixture) -> None:
    assert book.main(["--root", str(project), "install-cell"]) == 0
    assert f"%pip install -q git+{URL}" in capsys.readouterr().out


def test_widget_fonts_are_mirrored_next_to_pages(tmp_path):
    from alexnet_course.book import mirror_widget_fonts

    (tmp_path / "_static" / "widgets").mkdir(parents=True)
    (tmp_path / "_static" / "widgets" / "abc.woff2").write_bytes(b"font")
    (tmp_path / "_static" / "widgets" / "embed-amd.js").write_text("js")
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "results.html").write_text("<html></html>")
    (tmp_path / "index.html").write_text("<html></html>")
    assert mirror_widget_fonts(tmp_path) == 2
    assert (tmp_path / "book" / "@jupyter-widgets" / "abc.woff2").read_bytes() == b"font"
    assert not (tmp_path / "book" / "@jupyter-widgets" / "embed-amd.js").exists()
