"""``book/.manifest.json``: what ``run`` recorded of each executed chapter, and when a record
is stale: when the chapter's notebook (the install cell aside: ``pin`` and ``set-url``
change no result), its profile or the stored runs it reads change. An edit of the package is
no reason: a chapter's numbers come from stored runs, validated by their spec hash and
``RECIPE_VERSION``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from pathlib import Path
from typing import Any

from .colab import install_cell_index
from .paths import REPO_ROOT, BookError, cell_source, read_json, read_notebook

MANIFEST = Path("book") / ".manifest.json"
RESULTS_PAGE = "results"  # the page that summarises every chapter's stored runs


def notebook_hash(path: Path) -> str:
    """Hash of the cells' types and sources (not their outputs), the install cell aside."""
    nb = read_notebook(path)
    skip = install_cell_index(nb)
    pairs = [[cell.get("cell_type"), cell_source(cell)]
             for index, cell in enumerate(nb["cells"]) if index != skip]
    return hashlib.sha256(json.dumps(pairs, ensure_ascii=False).encode()).hexdigest()


def _files_hash(folder: Path, files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0"
                      + path.read_bytes() + b"\0")
    return digest.hexdigest()


def store_hash(results: Path, page: str) -> str:
    """Hash of the stored runs ``page`` reads from a profile's store ``results``: a chapter
    its own ``<chapter>/*.json`` (without the ``_chapter.json`` that executing it writes),
    the results page every chapter's (without its own folder)."""
    if page == RESULTS_PAGE:
        return _files_hash(results, [path for path in results.rglob("*.json")
                                     if path.relative_to(results).parts[0] != page])
    folder = results / page
    return _files_hash(folder, [path for path in folder.glob("*.json")
                                if not path.name.startswith("_")])


def load_manifest(root: Path = REPO_ROOT) -> dict[str, Any]:
    path = root / MANIFEST
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
    path = root / MANIFEST  # in book/, where the page just published lies
    manifest["chapters"] = dict(sorted(manifest["chapters"].items()))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def new_record(source_sha: str, profile: str, device: dict[str, Any], wall_s: float,
               results_sha: str) -> dict[str, Any]:
    return {"source_sha256": source_sha, "profile": profile, "device": device,
            "wall_s": round(wall_s, 1), "results_sha256": results_sha,
            "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds")}


def run_reason(record: dict[str, Any] | None, source_sha: str, profile: str,
               output_exists: bool, results_sha: str | None = None) -> str | None:
    """Why a chapter must be executed again, or None while its last run is valid."""
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
