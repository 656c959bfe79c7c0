"""Where things are: the repository root, its configuration and its table of contents.

``REPO_ROOT`` is the one definition of the repository root for all tooling (the book
driver and the benchmarks). Every reader here raises :class:`BookError` naming the file
when it is missing or malformed, so the command line can say so in one line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_SUFFIXES = (".ipynb", ".md", ".rst")


class BookError(Exception):
    """A problem the driver reports in one clear line and exits non-zero for."""


def relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when it lies inside it (for messages), else in full."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


# ----------------------------------------------------------------------- file readers


def read_json(path: Path) -> Any:
    """The parsed JSON of ``path``; a BookError naming the file if it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise BookError(f"{path}: cannot be read ({error.strerror or error})") from None
    try:
        return json.loads(data)
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        raise BookError(f"{path}: not valid JSON ({error})") from None


def read_notebook(path: Path) -> dict[str, Any]:
    """A notebook as a dict with a ``cells`` list; a BookError naming the file otherwise."""
    nb = read_json(path)
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise BookError(f"{path}: not a Jupyter notebook (no list of cells)")
    return nb


def read_yaml(path: Path) -> Any:
    """The parsed YAML of ``path``; a BookError naming the file if missing or malformed."""
    import yaml

    if not path.is_file():
        raise BookError(f"{path} is missing")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        detail = " ".join(str(error).split())
        raise BookError(f"{path}: not valid YAML ({detail})") from None


# ------------------------------------------------------------------------ _config.yml


def load_config(root: Path = REPO_ROOT) -> dict[str, Any]:
    """``_config.yml`` of the book at ``root``."""
    path = root / "_config.yml"
    config = read_yaml(path) or {}
    if not isinstance(config, dict):
        raise BookError(f"{path}: expected a mapping of settings")
    return config


def repository_url(root: Path = REPO_ROOT) -> str:
    """The repository URL; ``_config.yml``'s ``repository.url`` is its only definition."""
    url = (load_config(root).get("repository") or {}).get("url")
    if not url:
        raise BookError(f"{root / '_config.yml'} has no repository.url")
    return str(url).rstrip("/")


def results_dir(root: Path, profile: str) -> Path:
    """Where the chapters of ``profile`` write their runs (``$COURSE_RESULTS_DIR``).

    The book's run store of that profile, ``results/<profile>/``, except for smoke runs,
    which must never overwrite it.
    """
    root = root.resolve()
    return root / "_build" / "smoke-results" if profile == "smoke" else root / "results" / profile


# --------------------------------------------------------------------------- _toc.yml


@dataclass(frozen=True)
class TocEntry:
    """One document of ``_toc.yml``, e.g. ``book/04_vgg``."""

    docname: str
    root: Path

    @property
    def name(self) -> str:
        """The document's file name without suffix, e.g. ``04_vgg``."""
        path = Path(self.docname)
        return path.stem if path.suffix in NOTEBOOK_SUFFIXES else path.name

    @property
    def path(self) -> Path | None:
        """The file in book/ that the build renders, when it exists."""
        base = self.root / self.docname
        if base.suffix in NOTEBOOK_SUFFIXES and base.is_file():
            return base
        for suffix in NOTEBOOK_SUFFIXES:
            candidate = base.with_name(base.name + suffix)
            if candidate.is_file():
                return candidate
        return None

    @property
    def source(self) -> Path | None:
        """``notebooks/<name>.ipynb`` when the page is an executed notebook."""
        candidate = self.root / "notebooks" / f"{self.name}.ipynb"
        return candidate if candidate.is_file() else None

    @property
    def output(self) -> Path:
        """Where ``run`` publishes the executed notebook: ``book/<name>.ipynb``."""
        return self.root / Path(self.docname).parent / f"{self.name}.ipynb"


def _toc_files(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("file"), str):
            yield node["file"]
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key) or []:
                yield from _toc_files(child)
    elif isinstance(node, list):
        for child in node:
            yield from _toc_files(child)


def parse_toc(root: Path = REPO_ROOT) -> list[TocEntry]:
    """The documents of ``_toc.yml`` (format jb-book or jb-article) in reading order."""
    path = root / "_toc.yml"
    toc = read_yaml(path) or {}
    if not isinstance(toc, dict) or "root" not in toc:
        raise BookError(f"{path}: expected a jb-book table of contents with a 'root' key")
    rest = {key: value for key, value in toc.items() if key != "root"}
    entries: list[TocEntry] = []
    for doc in (str(toc["root"]), *_toc_files(rest)):
        if all(entry.docname != doc for entry in entries):
            entries.append(TocEntry(doc, root))
    return entries
