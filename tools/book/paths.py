"""Where things are (the repository root, ``_config.yml``, ``_toc.yml``) and the readers of
the book's files; a missing or malformed file is a :class:`BookError` that names it."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import yaml

# the one definition of the repository root for all tooling (the book and the benchmarks)
REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_SUFFIXES = (".ipynb", ".md", ".rst")


class BookError(Exception):
    """A problem the command line reports in one line (status 2)."""


def relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when it lies inside it (for messages), else in full."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def executable(name: str) -> str:
    """The command ``name`` of this environment's bin/, else the first one on PATH."""
    candidate = Path(sys.executable).with_name(name)
    found = str(candidate) if candidate.is_file() else shutil.which(name)
    if not found:
        raise BookError(f"{name} is not installed (pip install -r requirements.txt)")
    return found


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except OSError as error:
        raise BookError(f"{path}: cannot be read ({error.strerror or error})") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        raise BookError(f"{path}: not valid JSON ({error})") from None


def read_notebook(path: Path) -> dict[str, Any]:
    """The notebook at ``path``; one whose cells the tooling cannot read (nbformat 4: each a
    mapping, ``source`` a string or list of strings, ``outputs`` a list of mappings) is a
    :class:`BookError` naming each such cell, not a crash of whichever command reads it."""
    nb = read_json(path)
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise BookError(f"{path}: not a Jupyter notebook (no list of cells)")
    problems = [f"cell {index}: {problem}" for index, cell in enumerate(nb["cells"])
                if (problem := _cell_problem(cell))]
    if problems:
        raise BookError(f"{path}: {'; '.join(problems)} (nbformat 4; re-save the notebook in "
                        "Jupyter or fix the JSON by hand)")
    return nb


def _cell_problem(cell: Any) -> str | None:
    if not isinstance(cell, dict):
        return f"{cell!r} is not a cell (a mapping with cell_type and source)"
    source = cell.get("source", "")
    if not (isinstance(source, str) or isinstance(source, list)
            and all(isinstance(line, str) for line in source)):
        return f"'source' is {_short(source)}; expected a string or a list of strings"
    outputs = cell.get("outputs", [])  # markdown cells have none
    if not (isinstance(outputs, list) and all(isinstance(out, dict) for out in outputs)):
        return f"'outputs' is {_short(outputs)}; expected a list of outputs (mappings)"
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def read_yaml(path: Path) -> Any:
    if not path.is_file():
        raise BookError(f"{path} is missing")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise BookError(f"{path}: not valid YAML ({' '.join(str(error).split())})") from None


def cell_source(cell: dict[str, Any]) -> str:
    source = cell.get("source") or ""
    return "".join(source) if isinstance(source, list) else str(source)


def dump_notebook(nb: dict[str, Any]) -> str:
    """The course's notebook format (one-space indent, sorted keys, UTF-8, final newline)."""
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def load_config(root: Path = REPO_ROOT) -> dict[str, Any]:
    config = read_yaml(root / "_config.yml") or {}
    if not isinstance(config, dict):
        raise BookError(f"{root / '_config.yml'}: expected a mapping of settings")
    return config


def repository_url(root: Path = REPO_ROOT) -> str:
    """``repository.url`` of ``_config.yml``, the URL's only definition."""
    url = (load_config(root).get("repository") or {}).get("url")
    if not url:
        raise BookError(f"{root / '_config.yml'} has no repository.url")
    return str(url).rstrip("/")


def results_dir(root: Path, profile: str) -> Path:
    """The run store of ``profile`` (``$COURSE_RESULTS_DIR``); smoke runs never write to it."""
    root = root.resolve()
    return root / "_build" / "smoke-results" if profile == "smoke" else root / "results" / profile


@dataclass(frozen=True)
class TocEntry:
    """One document of ``_toc.yml``, e.g. ``book/04_vgg``."""

    docname: str
    root: Path

    @property
    def name(self) -> str:  # e.g. 04_vgg
        path = Path(self.docname)
        return path.stem if path.suffix in NOTEBOOK_SUFFIXES else path.name

    @property
    def path(self) -> Path | None:
        """The file the build renders, when it exists."""
        base = self.root / self.docname
        candidates = [base] if base.suffix in NOTEBOOK_SUFFIXES else [
            base.with_name(base.name + suffix) for suffix in NOTEBOOK_SUFFIXES]
        return next((path for path in candidates if path.is_file()), None)

    @property
    def source(self) -> Path | None:
        """``notebooks/<name>.ipynb`` when the page is an executed notebook."""
        candidate = self.root / "notebooks" / f"{self.name}.ipynb"
        return candidate if candidate.is_file() else None

    @property
    def output(self) -> Path:
        """Where ``run`` publishes the executed notebook: ``book/<name>.ipynb``."""
        return self.root / Path(self.docname).parent / f"{self.name}.ipynb"


# keys of a toc entry: a document (only ``file`` is one the tooling executes or renders),
# and the subtrees an entry may hold
DOCUMENT_KEYS = ("file", "glob", "url")
SUBTREE_KEYS = ("parts", "chapters", "sections")
ENTRY_FORM = "each entry is `- file: book/NAME` (or url:/glob:), parts hold `chapters:` lists"


def _toc_docname(value: Any, where: str, root: Path) -> str:
    """``value``, a ``file`` of the toc, when it names a document inside the repository: the
    driver publishes the executed notebook beside it, so ``../../x`` would write outside."""
    if not isinstance(value, str) or not value.strip():
        raise BookError(f"{root / '_toc.yml'}: {where} has file {value!r}; {ENTRY_FORM}")
    path = Path(value)
    inside = (root / path).resolve().is_relative_to(root.resolve())
    if path.is_absolute() or ".." in path.parts or not inside:
        raise BookError(f"{root / '_toc.yml'}: {where}: file {value!r} is not inside the "
                        "repository; a toc file is a path relative to the repository root "
                        "without '..', e.g. book/04_vgg")
    return value


def _toc_files(node: Any, where: str, root: Path) -> Iterator[str]:
    """The ``file`` of each entry of the list ``node`` and of its subtrees, in reading order.
    An entry that names neither a document nor a subtree is an error that names it: dropped,
    its chapter would vanish from the book and `colab` would delete its rendition."""
    if not isinstance(node, list):
        raise BookError(f"{root / '_toc.yml'}: {where} is {node!r}, not a list of entries; "
                        f"{ENTRY_FORM}")
    for index, entry in enumerate(node):
        here = f"{where}[{index}]"
        if not isinstance(entry, dict) or not set(entry) & {*DOCUMENT_KEYS, *SUBTREE_KEYS}:
            raise BookError(f"{root / '_toc.yml'}: {here} is {entry!r}, which names no "
                            f"document; {ENTRY_FORM}")
        if "file" in entry:
            yield _toc_docname(entry["file"], here, root)
        for key in SUBTREE_KEYS:
            if key in entry:
                yield from _toc_files(entry[key], f"{here}.{key}", root)


def parse_toc(root: Path = REPO_ROOT) -> list[TocEntry]:
    """The documents of ``_toc.yml`` (jb-book or jb-article) in reading order; an entry that
    is malformed or lies outside the repository is a :class:`BookError` naming it."""
    toc = read_yaml(root / "_toc.yml") or {}
    if not isinstance(toc, dict) or "root" not in toc:
        raise BookError(f"{root / '_toc.yml'}: expected a jb-book table of contents with a "
                        "'root' key")
    docs = [_toc_docname(toc["root"], "root", root)]
    for key in SUBTREE_KEYS:
        if key in toc:
            docs += _toc_files(toc[key], key, root)
    return [TocEntry(doc, root) for doc in dict.fromkeys(docs)]
