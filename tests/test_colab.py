"""The Colab edition: renditions of the executed pages (glue values and included code in
place), the pinned install cell, moving the repository URL without staling a chapter,
the dependency check, and the working folder of a chapter opened outside a checkout."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from book_helpers import CPU, REF, URL, code, install_cell, markdown, notebook, write, write_nb
from tools.book import badges, checks, colab, manifest, rendition, sphinx_ext
from tools.book.paths import REPO_ROOT, BookError, parse_toc

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()


def glued(name: str, **data: Any) -> dict[str, Any]:
    """An output as myst-nb's ``glue`` writes it (``application/papermill.record/`` MIME)."""
    prefix = "application/papermill.record/"
    return {"output_type": "display_data", "data": {prefix + k.replace("_", "/", 1): v
                                                    for k, v in data.items()},
            "metadata": {"scrapbook": {"name": name, "mime_prefix": prefix}}}


def quiet(_: str) -> None:
    pass


@pytest.fixture
def executed(project: Path) -> Path:
    """book/01_first.ipynb with glue outputs, glue roles, an admonition, an include and a cite."""
    write(project / "alexnet_course" / "models" / "lenet.py",
          "X = 1\n\n\ndef lenet(width: int = 6) -> int:\n    return width * 2\n")
    write(project / "references.bib",
          "@article{lecun1998, author = {LeCun, Yann and Bottou, L{\\'e}on}, year = {1998},"
          " title = {G}}\n")
    outputs = [glued("acc", text_plain="0.87123"), glued("n", text_plain="60000"),
               glued("verdict", text_markdown="ReLU **higher** by 8.7 points",
                     text_plain="'ReLU higher'"),
               glued("profile", text_markdown="standard", text_plain="'standard'"),
               glued("curve", image_png=PNG, text_plain="<Figure>"),
               {"output_type": "stream", "name": "stdout", "text": "trained\n"}]
    prose = ("(sec-first)=\n# First\n\nAccuracy {glue:text}`acc:.3f` on {glue:text}`n:,` images"
             " (profile {glue}`profile`, {glue:}`profile`), after {cite}`lecun1998`.\n\n"
             "```{admonition} Answer\n:class: tip\n{glue:md}`verdict`\n```\n\n"
             "```{literalinclude} ../alexnet_course/models/lenet.py\n:pyobject: lenet\n```\n\n"
             "```{glue:figure} curve\nThe curve, {glue:text}`acc:.1%`.\n```\n")
    nb = notebook(markdown(prose), install_cell(),
                  code("import alexnet_course\nprint('trained')", 2, outputs))
    write_nb(project / "book" / "01_first.ipynb", nb)
    write_nb(project / "book" / "02_second.ipynb", notebook(install_cell(), code("x = 2", 1)))
    return project


def rendered(project: Path, name: str = "01_first") -> dict[str, Any]:
    return json.loads((project / "colab" / f"{name}.ipynb").read_text(encoding="utf-8"))


def test_rendition_replaces_glue_and_inlines_includes(executed: Path) -> None:
    assert rendition.command_colab(executed, echo=quiet) == 0
    nb = rendered(executed)
    text = "".join(nb["cells"][1]["source"])
    assert "{glue" not in json.dumps(nb) and "{cite" not in text and "```{" not in text
    assert ("Accuracy 0.871 on 60,000 images (profile standard, standard), after "
            "(LeCun and Bottou 1998)") in text
    assert "> **Answer**\n>\n> ReLU **higher** by 8.7 points" in text  # admonition as a quote
    assert "```python\ndef lenet(width: int = 6) -> int:\n    return width * 2\n```" in text
    assert "X = 1" not in text  # only the :pyobject:
    assert f"![The curve, 87.1%.](data:image/png;base64,{PNG})" in text
    assert "(sec-first)=" not in text
    outputs = nb["cells"][3]["outputs"]
    assert outputs == [{"output_type": "stream", "name": "stdout", "text": "trained\n"}]
    assert "standard" in "".join(nb["cells"][0]["source"])  # the banner names the run
    assert nb["metadata"]["accelerator"] == "GPU"


def test_rendition_names_a_glue_key_the_page_lacks(executed: Path) -> None:
    path = executed / "book" / "01_first.ipynb"
    nb = json.loads(path.read_text())
    nb["cells"][0]["source"] = "Missing: {glue:text}`nowhere`"
    write_nb(path, nb)
    messages: list[str] = []
    assert rendition.command_colab(executed, echo=messages.append) == 1
    assert any("01_first, cell 0" in m and "'nowhere'" in m for m in messages)


def test_check_fails_on_a_missing_or_stale_rendition(executed: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    assert checks.command_check(executed) == 1
    assert "colab/01_first.ipynb is missing" in capsys.readouterr().out
    rendition.command_colab(executed, echo=quiet)
    assert checks.command_check(executed) == 0
    path = executed / "book" / "01_first.ipynb"  # re-executed: a number moved
    write(path, path.read_text().replace("0.87123", "0.91234"))
    assert checks.command_check(executed) == 1
    assert "colab/01_first.ipynb is stale" in capsys.readouterr().out
    rendition.command_colab(executed, echo=quiet)
    assert "0.912" in json.dumps(rendered(executed))
    write_nb(executed / "colab" / "99_gone.ipynb", notebook())
    assert any("99_gone" in p for p in rendition.check_renditions(executed))


def _record_all(project: Path) -> None:
    """Manifest records, up to date, for every executed chapter."""
    data = {"version": 1, "chapters": {}}
    for entry in parse_toc(project):
        if entry.source and entry.path:
            data["chapters"][entry.name] = manifest.new_record(
                manifest.notebook_hash(entry.source), "quick", dict(CPU), 1.0,
                manifest.store_hash(project / "results" / "quick", entry.name))
    manifest.save_manifest(data, project)


def _stale(project: Path) -> list[str]:
    records = manifest.load_manifest(project)["chapters"]
    return [entry.name for entry in parse_toc(project) if entry.source and entry.path and
            checks.stale_reason(project, entry, {"chapters": records})]


def test_pin_and_set_url_rewrite_everywhere_and_stale_nothing(executed: Path) -> None:
    write(executed / "README.md", f"Clone {URL}.git or open {URL}/blob/main/colab/.\n"
          f"Not {URL}-extras.\n{badges.START}\n{badges.END}\n")
    rendition.command_colab(executed, echo=quiet)
    _record_all(executed)
    assert _stale(executed) == []

    assert colab.command_pin(executed, "v2.0") == 0
    assert colab.pinned_ref(executed) == "v2.0"
    for path in colab.notebook_paths(executed):
        text = path.read_text()
        assert f"git+{URL}@v2.0" in text and f"@{REF}\"" not in text, path
    assert _stale(executed) == [] and checks.command_check(executed) == 0

    new = "https://github.com/someone/elsewhere"
    assert colab.command_set_url(executed, new + ".git") == 0
    assert "url: https://github.com/someone/elsewhere\n" in (executed / "_config.yml").read_text()
    readme = (executed / "README.md").read_text()
    assert readme.startswith(f"Clone {new}.git or open {new}/blob/main/colab/.\nNot {URL}-extras.\n")
    assert "/github/someone/elsewhere/blob/v2.0/colab/01_first.ipynb" in readme  # its badge
    for path in colab.notebook_paths(executed):
        assert URL not in path.read_text() and f"git+{new}@v2.0" in path.read_text(), path
    assert _stale(executed) == [] and checks.command_check(executed) == 0


def test_pin_refuses_a_branch(project: Path) -> None:
    for ref in ("main", "HEAD", "a..b", "-x"):
        with pytest.raises(BookError):
            colab.command_pin(project, ref)
    with pytest.raises(BookError, match="OWNER/NAME"):
        colab.command_set_url(project, "git@github.com:a/b")


def test_dependency_check_names_an_undeclared_import(project: Path) -> None:
    assert checks.check_dependencies(project) == []
    write_nb(project / "notebooks" / "03_more.ipynb", notebook(
        install_cell(None), code("import yaml\ntry:\n    import myst_nb\nexcept ImportError:\n"
                                 "    pass", None)))
    problems = checks.check_dependencies(project)
    assert len(problems) == 1 and "imports yaml" in problems[0] and "[course]" in problems[0]
    write(project / "pyproject.toml", '[project]\nname = "t"\ndependencies = []\n\n'
          '[project.optional-dependencies]\ncourse = ["PyYAML"]\n')
    assert "requirements.txt" in checks.check_dependencies(project)[0]
    write(project / "requirements.txt", "pyyaml>=6\n")
    assert checks.check_dependencies(project) == []


def test_this_repository_declares_what_its_chapters_import() -> None:
    assert checks.check_dependencies(REPO_ROOT) == []
    assert colab.pinned_ref(REPO_ROOT)


def test_every_executed_page_of_this_book_renders_without_myst() -> None:
    for entry in rendition.rendered_entries(REPO_ROOT):
        text = rendition.rendition_text(entry, REPO_ROOT)
        cells = json.loads(text)["cells"]
        prose = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        assert "{glue" not in prose and "```{" not in prose and "{cite}" not in prose, entry.name


def test_colab_button_opens_the_rendition_at_the_pin(executed: Path) -> None:
    rendition.command_colab(executed, echo=quiet)
    write(executed / "_config.yml", (executed / "_config.yml").read_text()
          + "launch_buttons:\n  colab_url: https://colab.research.google.com\n")
    theme = "https://colab.research.google.com/github/example/course/blob/main/book/01_first.ipynb"
    context = {"header_buttons": [{"type": "group", "buttons": [{"url": theme},
                                                                {"url": "https://x.org"}]}]}
    app = type("App", (), {"srcdir": str(executed)})()
    sphinx_ext.colab_button(app, "book/01_first", "page.html", context, None)
    buttons = context["header_buttons"][0]["buttons"]
    assert buttons[0]["url"] == ("https://colab.research.google.com/github/example/course/blob/"
                                 f"{REF}/colab/01_first.ipynb")
    assert buttons[1]["url"] == "https://x.org"


# --------------------------------------------------------------- the working folder


@pytest.fixture
def outside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory outside any checkout, as on Colab (/content)."""
    from alexnet_course import datafiles

    monkeypatch.setattr(datafiles, "_data_home", None)  # restored after the test
    monkeypatch.delenv("COURSE_RESULTS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_chapter_outside_a_checkout_works_in_its_own_folder(outside: Path) -> None:
    from alexnet_course import datafiles
    from alexnet_course.course import chapter

    ch = chapter.start("01_x", profile="quick", device="cpu", show=False)
    folder = outside / "alexnet-course"
    assert ch.results_dir == folder / "results" / "quick" / "01_x"
    assert datafiles.data_home() == folder / "data"
    path = ch.save_run("r", {"x": 1})
    assert path.parent == folder / "results" / "quick" / "01_x" and folder.is_dir()
    smoke = chapter.start("01_x", profile="smoke", device="cpu", show=False, workdir="mine")
    assert smoke.results_dir == outside / "mine" / "_build" / "smoke-results" / "01_x"
    assert datafiles.data_home() == outside / "mine" / "data"


def test_the_working_folder_must_be_writable_and_outside_the_package(outside: Path) -> None:
    import alexnet_course
    from alexnet_course.course import chapter

    (outside / "file").write_text("")
    with pytest.raises(ValueError, match="workdir="):
        chapter.start("01_x", profile="quick", device="cpu", show=False,
                      workdir=outside / "file" / "sub")
    with pytest.raises(ValueError, match="inside the installed package"):
        chapter.start("01_x", profile="quick", device="cpu", show=False,
                      workdir=Path(alexnet_course.__file__).parent / "runs")


def test_a_chapter_inside_a_checkout_keeps_the_data_search(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from alexnet_course import datafiles
    from alexnet_course.course import chapter

    monkeypatch.setattr(datafiles, "_data_home", None)
    monkeypatch.delenv("COURSE_RESULTS_DIR", raising=False)
    (tmp_path / "_toc.yml").write_text("format: jb-book\n")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    ch = chapter.start("01_x", profile="quick", device="cpu", show=False)
    assert ch.results_dir == tmp_path / "results" / "quick" / "01_x"
    assert datafiles.data_home() == datafiles.cache_dir()
    assert isinstance(ch.device, torch.device)
