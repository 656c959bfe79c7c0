"""The Colab side of the book: the install cell, the reference it pins, the repository URL.

Every chapter starts with the same install cell. On Colab (where ``alexnet_course`` is
not importable) it installs the course's package with its ``[course]`` extra — what the
chapters import beyond the library — from ``repository.url`` at ``repository.pin``
of ``_config.yml``, a tag or commit written at publication by ``pin``. A notebook cannot
read a file before the package is installed, so the URL and the reference are written
literally into each install cell; ``pin`` and ``set-url`` rewrite every copy (sources,
executed pages, renditions) and ``check`` verifies that they agree with ``_config.yml``.
The manifest's notebook hash leaves the install cell out, so neither makes a chapter stale.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from .paths import REPO_ROOT, BookError, load_config, relative, repository_url

DISTRIBUTION = "alexnet-course"
EXTRA = "course"
PIN_KEY = "pin"
# The folders whose notebooks carry an install cell: sources, executed pages, renditions.
NOTEBOOK_FOLDERS = ("notebooks", "book", "colab")
# Text files that name the repository URL besides the notebooks.
URL_FILES = ("_config.yml", "README.md", "pyproject.toml")
REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")
GITHUB_URL = re.compile(r"https://[\w.-]+/[\w.-]+/[\w.-]+")
GIT_URL = re.compile(r"git\+(\S+?)(?:\.git)?(?:@[\w./-]+)?(?=[\s\"'#]|$)")
IMPORTS_PACKAGE = re.compile(r"^\s*(?:import|from)\s+alexnet_course\b", re.M)


# ------------------------------------------------------------------------ the cell


def install_cell_source(url: str, ref: str) -> str:
    """The guarded cell that makes a chapter run on Colab (the first code cell).

    Outside a checkout it installs ``alexnet-course[course]`` at ``ref``; torch and
    torchvision are left unpinned so that Colab keeps its own CUDA build.
    """
    return ("try:\n"
            "    import alexnet_course\n"
            "except ImportError:  # on Colab: the course's package and what the chapters import,\n"
            "    # at the published edition (`python -m tools.book pin` writes the reference)\n"
            f'    %pip install -q "{DISTRIBUTION}[{EXTRA}] @ git+{url}@{ref}"')


def cell_source(cell: dict[str, Any]) -> str:
    source = cell.get("source") or ""
    return "".join(source) if isinstance(source, list) else str(source)


def is_install_cell(cell: dict[str, Any]) -> bool:
    """A code cell that pip-installs the package from git (whatever URL or reference)."""
    source = cell_source(cell)
    return cell.get("cell_type") == "code" and "pip install" in source and "git+" in source


def install_cell_index(nb: dict[str, Any]) -> int | None:
    """Index of the notebook's first install cell, or None."""
    return next((i for i, cell in enumerate(nb.get("cells", [])) if is_install_cell(cell)), None)


# ----------------------------------------------------------------------- the pin


def pinned_ref(root: Path = REPO_ROOT) -> str | None:
    """``repository.pin`` of ``_config.yml``: the tag or commit the install cells install."""
    ref = (load_config(root).get("repository") or {}).get(PIN_KEY)
    return str(ref) if ref else None


def require_pin(root: Path = REPO_ROOT) -> str:
    ref = pinned_ref(root)
    if not ref:
        raise BookError(f"{root / '_config.yml'} has no repository.{PIN_KEY}; run "
                        "`python -m tools.book pin REF` (a tag or commit)")
    return ref


def validate_ref(ref: str, root: Path) -> str:
    """``ref`` when it can be a pin: a tag or commit, not the branch the book follows."""
    if not REF.fullmatch(ref) or ".." in ref or ref.endswith((".lock", "/", ".")):
        raise BookError(f"{ref!r} is not a git tag or commit name")
    branch = str((load_config(root).get("repository") or {}).get("branch") or "main")
    if ref in (branch, "HEAD", "master", "main"):
        raise BookError(f"{ref!r} is a branch, which moves: pin a tag (e.g. v1.0) or a "
                        "commit so that Colab installs the package the pages were executed with")
    return ref


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def default_ref(root: Path) -> str:
    """The tag on HEAD if there is one, else HEAD's full commit hash."""
    ref = _git(root, "describe", "--tags", "--exact-match", "HEAD") or _git(root, "rev-parse",
                                                                             "HEAD")
    if not ref:
        raise BookError(f"{root} is not a git checkout with a commit; give the reference: "
                        "`python -m tools.book pin REF`")
    return ref


def ref_exists(root: Path, ref: str) -> bool:
    """Whether ``ref`` names a commit of the checkout at ``root`` (True outside a checkout:
    nothing to compare with)."""
    if _git(root, "rev-parse", "--git-dir") is None:
        return True
    return _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}") is not None


def set_repository_key(text: str, key: str, value: str) -> str:
    """``_config.yml``'s text with ``repository.<key>: value`` set, comments kept."""
    block = re.search(r"^repository:[ \t]*\n((?:[ \t]+.*\n|[ \t]*#.*\n|[ \t]*\n)*)", text, re.M)
    if block is None:
        raise BookError("_config.yml has no `repository:` block")
    body = block.group(1)
    line = re.search(rf"^([ \t]+){key}:.*$", body, re.M)
    if line:
        body = body[:line.start()] + f"{line.group(1)}{key}: {value}" + body[line.end():]
    else:
        indent = re.match(r"[ \t]+", body).group(0) if re.match(r"[ \t]+", body) else "  "
        body = body.rstrip("\n") + f"\n{indent}{key}: {value}\n" + body[len(body.rstrip("\n"))
                                                                         + 1:]
    return text[:block.start(1)] + body + text[block.end(1):]


# -------------------------------------------------------------------- notebooks


def notebook_paths(root: Path) -> list[Path]:
    return [path for folder in NOTEBOOK_FOLDERS for path in sorted((root / folder).glob("*.ipynb"))]


def dump_notebook(nb: dict[str, Any]) -> str:
    """The course's notebook format (one-space indent, sorted keys, UTF-8, final newline)."""
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def rewrite_install_cells(root: Path, url: str, ref: str) -> list[Path]:
    """Give every notebook's install cell the canonical source; the files changed."""
    wanted = install_cell_source(url, ref)
    changed = []
    for path in notebook_paths(root):
        text = path.read_text(encoding="utf-8")
        nb = json.loads(text)
        index = install_cell_index(nb)
        if index is None or cell_source(nb["cells"][index]) == wanted:
            continue
        nb["cells"][index]["source"] = lines(wanted)
        path.write_text(dump_notebook(nb), encoding="utf-8")
        changed.append(path)
    return changed


# ------------------------------------------------------------------- commands


def command_pin(root: Path, ref: str | None) -> int:
    """``pin [REF]``: write the reference into _config.yml and every install cell."""
    ref = validate_ref(ref or default_ref(root), root)
    config = root / "_config.yml"
    config.write_text(set_repository_key(config.read_text(encoding="utf-8"), PIN_KEY, ref),
                      encoding="utf-8")
    changed = rewrite_install_cells(root, repository_url(root), ref)
    print(f"pin: install cells install {repository_url(root)}@{ref} "
          f"({len(changed)} notebook(s) rewritten)")
    if not ref_exists(root, ref):
        print(f"pin: note: {ref} is not a tag or commit of this checkout yet; commit, then "
              f"`git tag {ref}` and push the tag, or Colab's install fails")
    return 0


def normalise_url(url: str) -> str:
    url = url.strip().rstrip("/")
    url = url[:-4] if url.endswith(".git") else url
    if not GITHUB_URL.fullmatch(url):
        raise BookError(f"{url!r} is not a repository URL like https://github.com/OWNER/NAME "
                        "(Colab's launch buttons open notebooks from GitHub)")
    return url


def replace_url(text: str, old: str, new: str) -> str:
    """``text`` with the repository URL ``old`` replaced (not a longer name it begins)."""
    return re.sub(re.escape(old) + r"(?![\w-])", new, text)


def command_set_url(root: Path, url: str) -> int:
    """``set-url URL``: rewrite the repository URL in every file that names it."""
    new, old = normalise_url(url), repository_url(root)
    paths = [root / name for name in URL_FILES if (root / name).is_file()]
    changed = []
    for path in paths + notebook_paths(root):
        text = path.read_text(encoding="utf-8")
        rewritten = replace_url(text, old, new)
        if path.name == "_config.yml":  # also when it was written with a trailing slash
            rewritten = set_repository_key(rewritten, "url", new)
        if rewritten != text:
            path.write_text(rewritten, encoding="utf-8")
            changed.append(relative(path, root))
    ref = pinned_ref(root)
    if ref:  # install cells written before the URL became their only variable part
        changed += [relative(p, root) for p in rewrite_install_cells(root, new, ref)]
    print(f"set-url: {old} -> {new} in {len(set(changed))} file(s)")
    for name in sorted(set(changed)):
        print(f"  {name}")
    return 0


def check_install_cell(nb: dict[str, Any], url: str, ref: str | None) -> list[str]:
    """The notebook's install cell must be the canonical one, before any import of the package."""
    problems = []
    index = install_cell_index(nb)
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        if i == index:
            break
        if IMPORTS_PACKAGE.search(cell_source(cell)):
            return [f"cell {i} imports alexnet_course before any install cell; start the "
                    "notebook with the cell printed by `python -m tools.book install-cell`"]
    if index is None:
        return problems
    source = cell_source(nb["cells"][index])
    for found in GIT_URL.findall(source):
        if found.rstrip("/") != url:
            problems.append(f"cell {index}: installs from {found}, but _config.yml's "
                            f"repository.url is {url} (`python -m tools.book set-url` "
                            "rewrites every copy)")
    if ref is None:
        problems.append(f"cell {index}: installs an unpinned package; run "
                        "`python -m tools.book pin REF`")
    elif source != install_cell_source(url, ref):
        problems.append(f"cell {index}: the install cell is not the one for {url}@{ref} "
                        f"with the [{EXTRA}] extra; `python -m tools.book pin {ref}` rewrites it")
    return problems
