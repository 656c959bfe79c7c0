"""Fixtures of the book-tooling tests (helpers in book_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from book_helpers import CPU, REF, URL, code, install_cell, markdown, notebook, write, write_nb


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A tiny book: intro page, two chapters (one executed), an appendix page."""
    write(tmp_path / "_config.yml", f"title: t\nrepository:\n  url: {URL}/\n  pin: {REF}\n")
    write(tmp_path / "pyproject.toml", '[project]\nname = "t"\ndependencies = []\n\n'
          '[project.optional-dependencies]\ncourse = []\n')
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


@pytest.fixture
def fake_device(monkeypatch: pytest.MonkeyPatch) -> None:
    import alexnet_course.devices

    monkeypatch.setattr(alexnet_course.devices, "describe_device", lambda: dict(CPU))
