"""Committed notebooks name no machine (no /work/, /home/, … in a cell, an output or the
metadata), the driver stores papermill's paths relative to the repository, and that
metadata is no reason to re-execute or re-render a page."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from book_helpers import code, notebook, write
from tools.book import checks, colab, manifest, paths, rendition
from tools.book.paths import REPO_ROOT
from tools.book.portable import machine_paths, store_repository_paths, with_repository_paths

PAPERMILL = {"input_path": "/home/ann/course/notebooks/01_first.ipynb",
             "output_path": "/home/ann/course/_build/running/01_first.ipynb", "version": "2.7.0"}


@pytest.mark.parametrize("folder", colab.NOTEBOOK_FOLDERS)
def test_no_committed_notebook_names_a_machine(folder: str) -> None:
    found = {path.name: machine_paths(json.loads(path.read_text(encoding="utf-8")))
             for path in sorted((REPO_ROOT / folder).glob("*.ipynb"))}
    assert found and {name: where for name, where in found.items() if where} == {}


def test_machine_paths_are_found_in_sources_outputs_and_metadata() -> None:
    warning = {"output_type": "stream", "name": "stderr",
               "text": ["/root/x/alexnet_course/course/widgets.py:274: UserWarning: …\n"]}
    png = base64.b64encode(b"\x00" * 3 + b"/work/" * 3).decode()
    nb = notebook(code("open('C:\\\\data\\\\x')", 1, [warning]),
                  code("x = 1", 2, [{"output_type": "display_data", "metadata": {},
                                     "data": {"image/png": "a/work/b" + png}}]),
                  code("print('/Users/me')", None), metadata={"papermill": dict(PAPERMILL)})
    found = machine_paths(nb)
    assert [f.split(" names ")[0] for f in found] == [
        "metadata.papermill.input_path", "metadata.papermill.output_path", "cell 0 source",
        "cell 0 outputs[0].text", "cell 2 source"]
    assert with_repository_paths(nb, "notebooks/01_first.ipynb", "book/01_first.ipynb")
    assert len(machine_paths(nb)) == 3


def test_storing_repository_paths_changes_nothing_else(tmp_path: Path) -> None:
    nb = notebook(code("print('é')", 1), metadata={"papermill": dict(PAPERMILL)})
    for ending in ("", "\n"):  # papermill writes no final newline, dump_notebook one
        path = write(tmp_path / "page.ipynb",
                     json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + ending)
        store_repository_paths(path, "notebooks/01_first.ipynb", "book/01_first.ipynb")
        expected = json.loads(json.dumps(nb))
        expected["metadata"]["papermill"].update(input_path="notebooks/01_first.ipynb",
                                                 output_path="book/01_first.ipynb")
        assert path.read_text(encoding="utf-8") == json.dumps(
            expected, indent=1, sort_keys=True, ensure_ascii=False) + ending


def test_metadata_paths_stale_no_chapter_and_no_rendition(project: Path) -> None:
    page = project / "book" / "01_first.ipynb"
    nb = json.loads(page.read_text())
    nb["metadata"]["papermill"] = dict(PAPERMILL)
    page.write_text(json.dumps(nb))
    entry = next(e for e in paths.parse_toc(project) if e.name == "01_first")
    record = manifest.new_record(manifest.notebook_hash(entry.source), "quick", {}, 1.0,
                                 manifest.store_hash(project / "results" / "quick", "01_first"))
    before = rendition.rendition_text(entry, project)
    store_repository_paths(page, "notebooks/01_first.ipynb", "book/01_first.ipynb")
    assert checks.stale_reason(project, entry, {"chapters": {"01_first": record}}) is None
    assert rendition.rendition_text(entry, project) == before
    assert machine_paths(json.loads(page.read_text())) == []


def test_check_names_a_machine_path(project: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(checks, "check_dependencies", lambda root: [])  # slow, unrelated
    page = project / "book" / "01_first.ipynb"
    nb = json.loads(page.read_text())
    nb["metadata"]["papermill"] = dict(PAPERMILL)
    page.write_text(json.dumps(nb))
    checks.command_check(project)
    errors = [line for line in capsys.readouterr().out.splitlines() if "machine" in line]
    assert len(errors) == 2 and errors[0].startswith(
        "error: book/01_first: metadata.papermill.input_path names a machine path")
