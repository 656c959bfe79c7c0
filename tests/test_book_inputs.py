"""Inputs of the book tooling that could mislead it: a ``_toc.yml`` entry outside the
repository or malformed, a notebook cell whose ``outputs`` or ``source`` has the wrong type.
Each is named with its fix; none crashes ``check`` or lets ``colab`` delete a rendition."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.book import checks, paths
from tools.book.cli import main
from tools.book.paths import BookError
from tools.book.rendition import command_colab

from book_helpers import code, install_cell, markdown, notebook, write, write_nb

TOC = "format: jb-book\nroot: book/intro\nchapters:\n"


def quiet(_: str) -> None:
    pass


# -------------------------------------------------------- toc entries outside the repository


@pytest.mark.parametrize("entry", ["../../x", "book/../../x", "/tmp/x", "book/../book/.."])
def test_a_toc_entry_outside_the_repository_is_refused(project: Path, entry: str) -> None:
    write(project / "_toc.yml", TOC + f"  - file: {entry}\n")
    with pytest.raises(BookError) as error:
        paths.parse_toc(project)
    message = str(error.value)
    assert repr(entry) in message and "inside the repository" in message
    assert "e.g. book/04_vgg" in message


def test_run_publishes_nothing_outside_the_repository(tmp_path: Path, project: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    # notebooks/x.ipynb exists, so before the check `run` executed it and published it as
    # ../../x.ipynb, two folders above the repository
    write_nb(project / "notebooks" / "x.ipynb", notebook(code("print(1)", None)))
    write(project / "_toc.yml", TOC + "  - file: ../../x\n")
    assert main(["--root", str(project), "run", "--profile", "smoke"]) == 2
    err = capsys.readouterr().err
    assert "'../../x'" in err and "inside the repository" in err
    assert not (project.parent.parent / "x.ipynb").exists()


# ---------------------------------------------------------------- malformed toc entries


@pytest.mark.parametrize("entry, named", [
    ("  - fil: book/01_first\n", "{'fil': 'book/01_first'}"),  # a typo in the key
    ("  - book/01_first\n", "'book/01_first'"),                  # a bare string
    ("  - file: 5\n", "5"),                                      # not a path
    ("  - file:\n", "None"),                                     # empty
    ("  - file: book/01_first\n    sections: book/01_first_extra\n", "'book/01_first_extra'"),
])
def test_a_malformed_toc_entry_is_an_error_naming_it(project: Path, entry: str,
                                                     named: str) -> None:
    write(project / "_toc.yml", TOC + "  - file: book/02_second\n" + entry)
    with pytest.raises(BookError) as error:
        paths.parse_toc(project)
    assert named in str(error.value) and "_toc.yml" in str(error.value)
    assert "- file: book/NAME" in str(error.value)  # the valid form


def test_check_with_a_malformed_toc_names_it_and_never_advises_colab(
        project: Path, capsys: pytest.CaptureFixture) -> None:
    command_colab(project, echo=quiet)  # colab/01_first.ipynb
    write(project / "_toc.yml", TOC + "  - fil: book/01_first\n  - file: book/02_second\n")
    assert main(["--root", str(project), "check"]) == 2
    captured = capsys.readouterr()
    assert "{'fil': 'book/01_first'}" in captured.err
    assert "tools.book colab" not in captured.out + captured.err  # it would delete renditions


def test_colab_deletes_no_rendition_while_the_toc_is_malformed(project: Path) -> None:
    command_colab(project, echo=quiet)
    rendition = project / "colab" / "01_first.ipynb"
    assert rendition.is_file()
    write(project / "_toc.yml", TOC + "  - fil: book/01_first\n  - file: book/02_second\n")
    assert main(["--root", str(project), "colab"]) == 2
    assert rendition.is_file()


def test_other_toc_entries_are_still_read(project: Path) -> None:
    write(project / "_toc.yml", TOC + "  - file: book/01_first\n    title: First\n"
          "  - url: https://example.org\n    title: Elsewhere\n  - glob: book/0*\n"
          "  - file: book/02_second.ipynb\n")
    assert [e.docname for e in paths.parse_toc(project)] == [
        "book/intro", "book/01_first", "book/02_second.ipynb"]


# ------------------------------------------------------------------ malformed notebook cells


@pytest.mark.parametrize("field, value, said", [
    ("outputs", None, "'outputs' is None"),
    ("outputs", "text", "'outputs' is 'text'"),
    ("source", 5, "'source' is 5"),
    ("source", ["x = 1\n", 2], "'source' is ['x = 1\\n', 2]"),
])
def test_check_names_a_cell_with_a_malformed_field(project: Path, capsys: pytest.CaptureFixture,
                                                   field: str, value: object, said: str) -> None:
    bad = code("x = 1", 2)
    bad[field] = value
    write_nb(project / "book" / "01_first.ipynb",
             notebook(markdown("# First"), install_cell(), bad))
    assert main(["--root", str(project), "check"]) == 1
    captured = capsys.readouterr()
    assert f"error: book/01_first.ipynb: cell 2: {said}" in captured.out
    assert "Traceback" not in captured.out + captured.err


def test_check_names_a_malformed_cell_of_a_source_notebook(project: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    nb = notebook(install_cell(count=None), "not a cell", code("x", None))
    nb["cells"][2]["source"] = 7
    (project / "notebooks" / "02_second.ipynb").write_text(json.dumps(nb))
    assert main(["--root", str(project), "check"]) == 1
    out = capsys.readouterr().out
    assert "notebooks/02_second.ipynb: cell 1: " in out and "cell 2: 'source' is 7" in out


def test_check_notebook_accepts_a_cell_without_outputs() -> None:
    assert checks.check_notebook(notebook(markdown("# t"), {"cell_type": "code", "source": "",
                                                            "execution_count": None})) == []
