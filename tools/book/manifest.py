"""What ``run`` recorded about each executed chapter, and when a record is stale.

``book/.manifest.json`` holds one record per chapter::

    {"source_sha256": ..., "profile": "quick",
     "device": {"kind": "cpu", "name": ..., "torch": ..., "cores": 2},
     "date": "2025-01-02T10:00:00+00:00", "wall_s": 81.2}

and ``results_sha256``: the stored runs it read (its chapter's folder of the run store;
for the results page, every chapter's). Records written before the run store may also
carry ``package_sha256`` and ``promoted``; they are ignored.
A chapter is executed again when its notebook (its cells' sources, the install cell
aside: ``pin`` and ``set-url`` rewrite it and change no result), its profile or the runs
it reads changed (a refill of the store). An edit of the package is not a
reason: the numbers a chapter shows come from stored runs of ``alexnet_course``'s run store,
validated by their spec hash and ``RECIPE_VERSION``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from pathlib import Path
from typing import Any

from .colab import install_cell_index
from .paths import REPO_ROOT, BookError, read_json, read_notebook

MANIFEST_NAME = ".manifest.json"
# The toc entry that summarises every chapter's results; it reruns when they change.
RESULTS_PAGE = "results"


# ----------------------------------------------------------------------------- hashes


def _cells_hash(cells: list[dict[str, Any]]) -> str:
    pairs = [[cell.get("cell_type"), _source(cell)] for cell in cells]
    return hashlib.sha256(json.dumps(pairs, ensure_ascii=False).encode()).hexdigest()


def notebook_hash(path: Path) -> str:
    """Hash of what a notebook computes: its cells' types and sources (not outputs), without
    the install cell, whose URL and pinned reference (``set-url``, ``pin``) change no result."""
    nb = read_notebook(path)
    skip = install_cell_index(nb)
    return _cells_hash([cell for i, cell in enumerate(nb["cells"]) if i != skip])


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source") or ""
    return "".join(source) if isinstance(source, list) else str(source)


def _tree_hash(root: Path, files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        rel = path.relative_to(root).as_posix()
        digest.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def results_hash(results: Path, exclude: str | None = RESULTS_PAGE) -> str:
    """Hash of ``results/**/*.json``, without the results page's own ``results/<exclude>/``."""
    files = [path for path in results.rglob("*.json")
             if path.relative_to(results).parts[0] != exclude] if results.is_dir() else []
    return _tree_hash(results, files)


def store_hash(results: Path, page: str) -> str:
    """Hash of the stored runs a page reads from the profile's store ``results``: a
    chapter its own ``<chapter>/`` folder (without the ``_chapter.json`` that executing it
    writes), the results page every chapter's."""
    if page == RESULTS_PAGE:
        return results_hash(results)
    folder = results / page
    runs = [p for p in folder.glob("*.json") if not p.name.startswith("_")] if folder.is_dir() else []
    return _tree_hash(folder, runs)


# --------------------------------------------------------------------------- manifest


def manifest_path(root: Path = REPO_ROOT) -> Path:
    return root / "book" / MANIFEST_NAME


def load_manifest(root: Path = REPO_ROOT) -> dict[str, Any]:
    """The manifest (an empty one when there is none); a BookError naming it if malformed."""
    path = manifest_path(root)
    if not path.is_file():
        return {"version": 1, "chapters": {}}
    data = read_json(path)
    chapters = data.setdefault("chapters", {}) if isinstance(data, dict) else None
    if not isinstance(chapters, dict) or not all(isinstance(r, dict) for r in chapters.values()):
        raise BookError(f"{path}: expected {{\"chapters\": {{name: record}}}}; delete it to "
                        "start afresh (every chapter then runs again)")
    return data


def save_manifest(manifest: dict[str, Any], root: Path = REPO_ROOT) -> None:
    """Write the manifest atomically (a temporary file replaces it)."""
    path = manifest_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest["chapters"] = dict(sorted(manifest["chapters"].items()))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def new_record(source_sha: str, profile: str, device: dict[str, Any], wall_s: float,
               results_sha: str | None = None) -> dict[str, Any]:
    """The manifest record of a run that just succeeded."""
    record: dict[str, Any] = {
        "source_sha256": source_sha, "profile": profile, "device": device, "wall_s": round(wall_s, 1),
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds")}
    if results_sha is not None:
        record["results_sha256"] = results_sha
    return record


def run_reason(record: dict[str, Any] | None, source_sha: str, profile: str,
               output_exists: bool, results_sha: str | None = None) -> str | None:
    """Why a chapter must be executed again, or None when its last run is still valid.

    ``results_sha`` is given for the results page only: the hash of the results it reads.
    """
    if not output_exists:
        return "no executed copy"
    if not record:
        return "never run by the driver"
    if record.get("profile") != profile:
        return f"profile {record.get('profile')} -> {profile}"
    if record.get("source_sha256") != source_sha:
        return "notebook changed"
    if results_sha is not None and record.get("results_sha256") != results_sha:
        return "results changed"
    return None
