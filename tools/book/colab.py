"""The Colab side of the book: the install cell, the reference it pins, the repository URL.

On Colab each chapter's first code cell installs the package with its ``[course]`` extra from
``repository.url`` at ``repository.pin`` of ``_config.yml``, written literally (nothing can
be read before the install): ``pin`` and ``set-url`` rewrite every copy, ``check`` compares.
The pin must be a commit of the repository's history that holds the package HEAD holds
(:func:`pin_problem`); ``pin`` with no reference pins the last commit that changed it.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from .badges import README, write_badges
from .paths import (REPO_ROOT, BookError, cell_source, dump_notebook, load_config, relative,
                    repository_url)

DISTRIBUTION = "alexnet-course"
EXTRA = "course"
NOTEBOOK_FOLDERS = ("notebooks", "book", "colab")  # whose notebooks carry an install cell
URL_FILES = ("_config.yml", "README.md", "pyproject.toml")  # the other files naming the URL
GITHUB_URL = re.compile(r"https://[\w.-]+/[\w.-]+/[\w.-]+")
GIT_URL = re.compile(r"git\+(\S+?)(?:\.git)?(?:@[\w./-]+)?(?=[\s\"'#]|$)")
IMPORTS_PACKAGE = re.compile(r"^\s*(?:import|from)\s+alexnet_course\b", re.M)
# what `pip install git+URL@REF` installs from the repository: a pin must hold these as HEAD does
PACKAGE_PATHS = ("alexnet_course", "pyproject.toml")
PIN_FIX = "run `python -m tools.book pin` (it pins the last commit that changed the package)"


def install_cell_source(url: str, ref: str) -> str:
    """The first code cell of every chapter; torch and torchvision are left unpinned so that
    Colab keeps its own CUDA build. ``%pip`` never raises, so the cell imports the package
    again: a failed install stops here, under pip's error, not one cell later."""
    return ("try:\n"
            "    import alexnet_course\n"
            "except ImportError:  # on Colab: the course's package and what the chapters import,\n"
            "    # at the published edition (`python -m tools.book pin` writes the reference)\n"
            f'    %pip install -q "{DISTRIBUTION}[{EXTRA}] @ git+{url}@{ref}"\n'
            "    try:\n"
            "        import alexnet_course\n"
            "    except ImportError:  # %pip never raises: stop here, under pip's error\n"
            "        raise ImportError(\"the install above failed (pip's error is above): \"\n"
            f'                          "check that {url} is reachable and has {ref}") from None')


def install_cell_index(nb: dict[str, Any]) -> int | None:
    """Index of the first code cell that pip-installs from git (any URL or reference)."""
    return next((i for i, cell in enumerate(nb.get("cells", []))
                 if cell.get("cell_type") == "code" and "pip install" in cell_source(cell)
                 and "git+" in cell_source(cell)), None)


def check_install_cell(nb: dict[str, Any], url: str, ref: str | None) -> list[str]:
    """The install cell must be the canonical one, before any import of the package."""
    index = install_cell_index(nb)
    for i, cell in enumerate(nb.get("cells", [])[:index]):
        if cell.get("cell_type") == "code" and IMPORTS_PACKAGE.search(cell_source(cell)):
            return [f"cell {i} imports alexnet_course before any install cell; start the "
                    "notebook with the cell printed by `python -m tools.book install-cell`"]
    if index is None:
        return []
    source = cell_source(nb["cells"][index])
    problems = [f"cell {index}: installs from {found}, but _config.yml's repository.url is "
                f"{url} (`python -m tools.book set-url` rewrites every copy)"
                for found in GIT_URL.findall(source) if found.rstrip("/") != url]
    if ref is None:
        problems.append(f"cell {index}: installs an unpinned package; run "
                        "`python -m tools.book pin REF`")
    elif source != install_cell_source(url, ref):
        problems.append(f"cell {index}: the install cell is not the one for {url}@{ref} "
                        f"with the [{EXTRA}] extra; `python -m tools.book pin {ref}` rewrites it")
    return problems


def pinned_ref(root: Path = REPO_ROOT) -> str | None:
    """``repository.pin`` of ``_config.yml``: the tag or commit the install cells install."""
    ref = (load_config(root).get("repository") or {}).get("pin")
    return str(ref) if ref else None


def command_install_cell(root: Path) -> int:
    ref = pinned_ref(root)
    if not ref:
        raise BookError(f"{root / '_config.yml'} has no repository.pin; run "
                        "`python -m tools.book pin REF` (a tag or commit)")
    print(install_cell_source(repository_url(root), ref))
    return 0


def _run_git(root: Path, *args: str) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None


def _git(root: Path, *args: str) -> str | None:
    """git's output, or None when it fails or prints nothing."""
    out = _run_git(root, *args)
    return out.stdout.strip() if out and out.returncode == 0 and out.stdout.strip() else None


def package_commit(root: Path) -> str | None:
    """The last commit that changed what the install cell installs (None outside git)."""
    return _git(root, "log", "-1", "--format=%H", "--", *PACKAGE_PATHS)


def default_pin(root: Path) -> str | None:
    """:func:`package_commit`, by its tag when a local tag names exactly that commit: pinning
    HEAD would make every commit that only edits a chapter move the pin."""
    commit = package_commit(root)
    if commit is None:
        return None
    return _git(root, "describe", "--tags", "--exact-match", commit) or commit


def pin_problem(root: Path, ref: str) -> str | None:
    """Why Colab would not install HEAD's package at ``ref``, or None. Outside a git checkout
    there is nothing to ask; in a shallow clone a missing commit may just not be fetched."""
    if _git(root, "rev-parse", "--git-dir") is None:
        return None
    if _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}") is None:
        if _git(root, "rev-parse", "--is-shallow-repository") == "true":
            return (f"repository.pin {ref} is not in this shallow clone: fetch the history "
                    "(`git fetch --unshallow --tags`) and check again")
        return (f"repository.pin {ref} is not a tag or commit of this repository, so Colab's "
                f"install would fail; {PIN_FIX}")
    diff = _run_git(root, "diff", "--quiet", ref, "HEAD", "--", *PACKAGE_PATHS)
    if diff is None or diff.returncode != 0:
        return (f"repository.pin {ref} holds another {' or '.join(PACKAGE_PATHS)} than HEAD, "
                f"so Colab would install a package the pages were not executed with; {PIN_FIX}")
    return None


def set_repository_key(text: str, key: str, value: str) -> str:
    """``_config.yml``'s text with ``repository.<key>: value`` set, comments kept."""
    block = re.search(r"^repository:[ \t]*\n((?:[ \t]+.*\n|[ \t]*#.*\n|[ \t]*\n)*)", text, re.M)
    if block is None:
        raise BookError("_config.yml has no `repository:` block")
    line = re.compile(rf"^([ \t]+){key}:.*$", re.M).search(text, block.start(1), block.end(1))
    if line is None:  # a new first key of the block
        return f"{text[:block.start(1)]}  {key}: {value}\n{text[block.start(1):]}"
    return f"{text[:line.start()]}{line.group(1)}{key}: {value}{text[line.end():]}"


def notebook_paths(root: Path) -> list[Path]:
    return [path for folder in NOTEBOOK_FOLDERS for path in sorted((root / folder).glob("*.ipynb"))]


def command_pin(root: Path, ref: str | None) -> int:
    """``pin [REF]``: write the reference (default: :func:`default_pin`) into _config.yml,
    every install cell and the README's Colab badges."""
    ref = ref or default_pin(root)
    if not ref:
        raise BookError(f"{root} is not a git checkout with a commit of "
                        f"{' or '.join(PACKAGE_PATHS)}; give the reference: "
                        "`python -m tools.book pin REF`")
    if _git(root, "check-ref-format", "--normalize", "--allow-onelevel", ref) != ref:
        raise BookError(f"{ref!r} is not a git tag or commit name")
    branch = str((load_config(root).get("repository") or {}).get("branch") or "main")
    if ref in (branch, "HEAD", "master", "main"):
        raise BookError(f"{ref!r} is a branch, which moves: pin a tag (e.g. v1.0) or a "
                        "commit so that Colab installs the package the pages were executed with")
    config = root / "_config.yml"
    config.write_text(set_repository_key(config.read_text(encoding="utf-8"), "pin", ref),
                      encoding="utf-8")
    url = repository_url(root)
    wanted = install_cell_source(url, ref)
    changed = 0
    for path in notebook_paths(root):
        nb = json.loads(path.read_text(encoding="utf-8"))
        index = install_cell_index(nb)
        if index is not None and cell_source(nb["cells"][index]) != wanted:
            nb["cells"][index]["source"] = wanted.splitlines(keepends=True)
            path.write_text(dump_notebook(nb), encoding="utf-8")
            changed += 1
    print(f"pin: install cells install {url}@{ref} ({changed} notebook(s) rewritten"
          f"{f', and the Colab badges of {README}' if write_badges(root, url, ref) else ''})")
    problem = pin_problem(root, ref)
    if problem:  # e.g. a tag about to be made: `check` fails until it exists
        print(f"pin: note: {problem}")
    return 0


def command_set_url(root: Path, url: str) -> int:
    new, old = url.strip().rstrip("/").removesuffix(".git"), repository_url(root)
    if not GITHUB_URL.fullmatch(new):
        raise BookError(f"{new!r} is not a repository URL like https://github.com/OWNER/NAME "
                        "(Colab's launch buttons open notebooks from GitHub)")
    changed = []
    for path in [root / name for name in URL_FILES] + notebook_paths(root):
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        rewritten = re.sub(re.escape(old) + r"(?![\w-])", new, text)  # not a longer name
        if path.name == "_config.yml":  # also when it was written with a trailing slash
            rewritten = set_repository_key(rewritten, "url", new)
        if rewritten != text:
            path.write_text(rewritten, encoding="utf-8")
            changed.append(relative(path, root))
    ref = pinned_ref(root)
    if ref and write_badges(root, new, ref) and README not in changed:  # Colab's form of it
        changed.append(README)
    print(f"set-url: {old} -> {new} in {len(changed)} file(s)")
    for name in changed:
        print(f"  {name}")
    return 0
