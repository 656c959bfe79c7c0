"""The Colab install cell: a failed install stops at the cell itself; its pin, against a
real (tiny, temporary) git repository, must be a commit of the history holding HEAD's
package, and `pin` defaults to the last commit that changed the package, not HEAD."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
from IPython.core.inputtransformer2 import TransformerManager

from book_helpers import URL, write
from tools.book import badges, checks, colab, manifest, sphinx_ext
from tools.book.paths import REPO_ROOT


def run_install_cell(monkeypatch: pytest.MonkeyPatch, installs: bool) -> list[str]:
    """Execute the install cell as IPython would, the package not importable; the fake
    ``%pip`` installs it or (like a failed install) does nothing. Its pip lines."""
    lines: list[str] = []

    class Shell:
        def run_line_magic(self, name: str, line: str) -> None:
            lines.append(f"%{name} {line}")
            if installs:
                monkeypatch.setitem(sys.modules, "alexnet_course",
                                    types.ModuleType("alexnet_course"))

    monkeypatch.setitem(sys.modules, "alexnet_course", None)  # `import` raises ImportError
    source = TransformerManager().transform_cell(colab.install_cell_source(URL, "abc1234"))
    exec(compile(source, "<install cell>", "exec"), {"get_ipython": Shell})
    return lines


def test_a_failed_install_stops_at_the_install_cell(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ImportError, match="install above failed") as failed:
        run_install_cell(monkeypatch, installs=False)
    assert URL in str(failed.value) and "abc1234" in str(failed.value)


def test_a_good_install_runs_pip_once_with_torch_unpinned(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_install_cell(monkeypatch, installs=True) == [
        f'%pip install -q "alexnet-course[course] @ git+{URL}@abc1234"']


def test_pin_rewrites_a_chapter_install_cell_into_the_current_form(project: Path) -> None:
    """A committed chapter (its install cell as written before this form) is rewritten by
    `pin`, and stays up to date for the manifest."""
    chapter = project / "notebooks" / "01_first.ipynb"
    shutil.copy(REPO_ROOT / "notebooks" / "01_lenet_to_alexnet.ipynb", chapter)
    before = manifest.notebook_hash(chapter)
    assert colab.command_pin(project, "abc1234") == 0
    nb = json.loads(chapter.read_text())
    cell = "".join(nb["cells"][colab.install_cell_index(nb)]["source"])
    assert cell == colab.install_cell_source(colab.repository_url(project), "abc1234")
    assert manifest.notebook_hash(chapter) == before
    assert colab.check_install_cell(nb, colab.repository_url(project), "abc1234") == []


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@localhost",
                           "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false",
                           *args], cwd=root, check=True, capture_output=True,
                          text=True).stdout.strip()


def commit_all(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


@pytest.fixture
def repo(project: Path) -> Path:
    """The test project (a fake alexnet_course/, pyproject.toml, _config.yml, notebooks)
    as a git repository with one commit."""
    git(project, "init", "-q")
    commit_all(project, "the package")
    return project


@pytest.fixture
def pin_errors(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    """``check``'s pin errors; the (slow, unrelated) dependency check left out."""
    monkeypatch.setattr(checks, "check_dependencies", lambda root: [])

    def errors(root: Path) -> list[str]:
        capsys.readouterr()
        checks.command_check(root)
        return [line for line in capsys.readouterr().out.splitlines()
                if line.startswith("error: repository.pin")]
    return errors


def test_pin_defaults_to_the_last_commit_that_changed_the_package(repo: Path,
                                                                 pin_errors) -> None:
    package = git(repo, "rev-parse", "HEAD")
    write(repo / "notebooks" / "README.md", "a chapter edit, not the package\n")
    assert commit_all(repo, "prose") != package
    assert colab.command_pin(repo, None) == 0
    assert colab.pinned_ref(repo) == package
    nb = json.loads((repo / "notebooks" / "01_first.ipynb").read_text())
    index = colab.install_cell_index(nb)
    assert "".join(nb["cells"][index]["source"]) == colab.install_cell_source(
        colab.repository_url(repo), package)
    commit_all(repo, "pin")
    assert colab.pin_problem(repo, package) is None
    assert pin_errors(repo) == []


def test_a_tag_on_the_package_commit_is_the_default_pin(repo: Path) -> None:
    git(repo, "tag", "v1.0")
    write(repo / "notebooks" / "README.md", "prose\n")
    commit_all(repo, "prose")
    assert colab.default_pin(repo) == "v1.0"
    assert colab.pin_problem(repo, "v1.0") is None


def test_check_fails_on_a_pin_that_is_no_commit(repo: Path, pin_errors) -> None:
    # the test project pins v1.0, which this repository has no tag of
    assert colab.pinned_ref(repo) == "v1.0"
    [error] = pin_errors(repo)
    assert "v1.0 is not a tag or commit" in error and "python -m tools.book pin" in error


def test_check_fails_on_a_pin_with_another_package(repo: Path, pin_errors) -> None:
    old = git(repo, "rev-parse", "HEAD")
    write(repo / "alexnet_course" / "__init__.py", "VERSION = 2\n")
    commit_all(repo, "the package changes")
    problem = colab.pin_problem(repo, old)
    assert problem and "another" in problem and "python -m tools.book pin" in problem
    colab.command_pin(repo, old)
    [error] = pin_errors(repo)
    assert old in error and "another" in error
    write(repo / "pyproject.toml", (repo / "pyproject.toml").read_text() + "# edited\n")
    new = commit_all(repo, "pyproject changes")
    assert colab.pin_problem(repo, git(repo, "rev-parse", "HEAD~1")) is not None
    assert colab.default_pin(repo) == new and colab.pin_problem(repo, new) is None


def test_a_shallow_clone_names_the_fetch(repo: Path, tmp_path_factory: pytest.TempPathFactory
                                         ) -> None:
    first = git(repo, "rev-parse", "HEAD")
    write(repo / "notebooks" / "README.md", "prose\n")
    commit_all(repo, "prose")
    clone = tmp_path_factory.mktemp("clone") / "shallow"
    git(repo, "clone", "-q", "--depth", "1", repo.as_uri(), str(clone))
    assert git(clone, "rev-parse", "--is-shallow-repository") == "true"
    problem = colab.pin_problem(clone, first)
    assert problem and "git fetch --unshallow" in problem


def test_outside_a_checkout_there_is_nothing_to_check(project: Path) -> None:
    assert colab.pin_problem(project, "v1.0") is None


# ------------------------------------------------------------ the README's Colab badges


def test_pin_writes_the_readme_badges_and_check_compares_them(project: Path) -> None:
    write(project / "colab" / "01_first.ipynb", "{}")
    url = colab.repository_url(project)
    write(project / "README.md", "# Course\n")
    assert "no Colab badges" in badges.check_badges(project, url, "v1.0")[0]
    write(project / "README.md", f"# Course\n\n{badges.START}\nstale\n{badges.END}\nMore.\n")
    assert "pin` rewrites them" in badges.check_badges(project, url, "v1.0")[0]
    colab.command_pin(project, "abc1234")
    assert badges.check_badges(project, url, "abc1234") == []
    readme = (project / "README.md").read_text()
    assert readme.startswith("# Course\n\n") and readme.endswith(f"{badges.END}\nMore.\n")
    [line] = [line for line in readme.splitlines() if line.startswith("- ")]
    assert line.endswith(") First")  # the chapter's title
    assert badges.check_badges(project, url, "v1.0") != []  # another pin: they drift


def test_a_badge_opens_what_the_books_colab_button_opens(project: Path) -> None:
    write(project / "colab" / "01_first.ipynb", "{}")
    write(project / "_config.yml", (project / "_config.yml").read_text()
          + "launch_buttons:\n  colab_url: https://colab.research.google.com\n")
    theme = "https://colab.research.google.com/github/example/course/blob/main/book/01_first.ipynb"
    context = {"header_buttons": [{"url": theme}]}
    app = type("App", (), {"srcdir": str(project)})()
    sphinx_ext.colab_button(app, "book/01_first", "page.html", context, None)
    block = badges.badges_block(project, colab.repository_url(project), colab.pinned_ref(project))
    assert f"]({context['header_buttons'][0]['url']}) First" in block
