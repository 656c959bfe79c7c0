"""``check``: what must hold before the book is built.

* every document of ``_toc.yml`` exists in book/;
* every executed notebook is fully executed, free of errors and keeps its widget state;
* every notebook (source, executed, Colab rendition) installs the package before importing
  it, with the install cell for ``repository.url`` at ``repository.pin`` (colab.py);
* the install cell brings every package the chapters import (deps.py);
* every executed chapter has an up-to-date Colab rendition in colab/ (rendition.py);
* every ``literalinclude`` names a file that exists and, with ``:pyobject:``, a function or
  class that is in it (a moved module breaks no page silently);
* every results JSON under ``results/`` can be read (the results page would drop it);
* with ``--strict``, no executed chapter is stale.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any, Sequence

from .colab import check_install_cell, install_cell_source, pinned_ref, ref_exists  # noqa: F401
from .deps import check_dependencies
from .manifest import load_manifest, notebook_hash, run_reason, store_hash
from .paths import (BookError, TocEntry, cell_source, parse_toc, read_json, read_notebook,
                    relative, repository_url, results_dir)
from .rendition import check_renditions

WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
INCLUDE = re.compile(r"```\{literalinclude\}\s*(\S+)\s*\n((?::\w+:.*\n)*)")


def missing_documents(entries: Sequence[TocEntry]) -> list[str]:
    """One message per toc entry with no file in book/ to render."""
    return [f"{entry.docname}: listed in _toc.yml but missing (" + (
        f"run `python -m tools.book run --only {entry.name}`" if entry.source else
        f"neither {entry.docname}.ipynb/.md nor notebooks/{entry.name}.ipynb exists; write "
        "it or remove it from _toc.yml") + ")" for entry in entries if entry.path is None]


def check_notebook(nb: dict[str, Any]) -> list[str]:
    """Problems of an executed notebook: unexecuted cells, errors, lost widget state."""
    problems = []
    views: set[str] = set()
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        if cell_source(cell).strip() and cell.get("execution_count") is None:
            problems.append(f"cell {index} was not executed")
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                problems.append(f"cell {index} raised {output.get('ename')}: "
                                f"{str(output.get('evalue'))[:200]}")
            view = (output.get("data") or {}).get(WIDGET_VIEW_MIME)
            if isinstance(view, dict) and view.get("model_id"):
                views.add(view["model_id"])
    state = ((nb.get("metadata") or {}).get("widgets") or {}).get(WIDGET_STATE_MIME) or {}
    missing = views - set(state.get("state") or {})
    if missing:
        problems.append(f"{len(missing)} widget output(s) without saved widget state "
                        "(metadata.widgets); re-execute with papermill/nbclient "
                        "(store_widget_state)")
    return problems


def _defines(path: Path, dotted: str) -> bool:
    """Whether the module at ``path`` defines ``dotted`` (``"Class"``, ``"Class.method"``)."""
    body: list[ast.stmt] = ast.parse(path.read_text(encoding="utf-8")).body
    for name in dotted.split("."):
        found = [n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                   ast.ClassDef)) and n.name == name]
        if not found:
            return False
        body = getattr(found[0], "body", [])
    return True


def check_includes(nb: dict[str, Any], folder: Path) -> list[str]:
    """Problems of the notebook's ``literalinclude`` directives, paths relative to ``folder``."""
    problems = []
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "markdown":
            continue
        for match in INCLUDE.finditer(cell_source(cell) + "\n"):
            target = (folder / match.group(1)).resolve()
            option = re.search(r":pyobject:\s*(\S+)", match.group(2))
            if not target.is_file():
                problems.append(f"cell {index} includes {match.group(1)}, which does not exist")
            elif option and target.suffix == ".py" and not _defines(target, option.group(1)):
                problems.append(f"cell {index} includes {option.group(1)} from "
                                f"{match.group(1)}, which does not define it")
    return problems


def check_results(results: Path, root: Path) -> list[str]:
    """One message per results JSON that cannot be read or is not a JSON object."""
    problems = []
    for path in sorted(results.rglob("*.json")):
        try:
            data = read_json(path)
        except BookError as error:
            problems.append(str(error).replace(str(path), relative(path, root), 1))
            continue
        if not isinstance(data, dict):
            problems.append(f"{relative(path, root)}: expected a JSON object, found "
                            f"{type(data).__name__}")
    return problems


def stale_reason(root: Path, entry: TocEntry, manifest: dict[str, Any]) -> str | None:
    """Why the executed copy of ``entry`` is out of date for its recorded profile, or None."""
    assert entry.source is not None
    record = manifest["chapters"].get(entry.name)
    profile = (record or {}).get("profile", "?")
    return run_reason(record, notebook_hash(entry.source), profile, True,
                      store_hash(results_dir(root, profile), entry.name))


def _notebook_problems(path: Path, label: str, executed: bool, url: str, root: Path,
                       ref: str | None) -> list[str]:
    try:
        nb = read_notebook(path)
    except BookError as error:
        return [str(error).replace(str(path), relative(path, root), 1)]
    problems = (check_notebook(nb) if executed else []) + check_install_cell(nb, url, ref)
    problems += check_includes(nb, path.parent)
    return [f"{label}: {problem}" for problem in problems]


def command_check(root: Path, strict: bool = False) -> int:
    """``check``: print every problem; 1 if there is any (stale chapters only with strict)."""
    entries = parse_toc(root)
    url, ref = repository_url(root), pinned_ref(root)
    manifest = load_manifest(root)
    problems = missing_documents(entries)
    warnings: list[str] = [] if ref is None or ref_exists(root, ref) else [
        f"repository.pin {ref} is not a tag or commit of this checkout: tag the commit that "
        f"carries the pin (`git tag {ref}`) and push the tag, or Colab's install fails"]
    executed = [e for e in entries if e.path is not None and e.path.suffix == ".ipynb"]
    for entry in executed:
        problems += _notebook_problems(entry.path, entry.docname, True, url, root, ref)
        try:
            reason = stale_reason(root, entry, manifest) if entry.source else None
        except BookError:  # a malformed source notebook: reported with the sources below
            reason = None
        if reason:
            warnings.append(f"{entry.docname}: executed copy is stale ({reason}); "
                            f"run `python -m tools.book run --only {entry.name}`")
    sources = sorted((root / "notebooks").glob("*.ipynb"))
    for path in sources + sorted((root / "colab").glob("*.ipynb")):
        problems += _notebook_problems(path, relative(path, root), False, url, root, ref)
    problems += check_renditions(root) + check_dependencies(root)
    problems += check_results(root / "results", root)
    for warning in warnings:
        print(f"warning: {warning}")
    problems += warnings if strict else []
    for problem in problems:
        print(f"error: {problem}")
    if problems:
        print(f"book check: {len(problems)} problem(s) in {len(entries)} documents")
        return 1
    count = sum(1 for entry in entries if entry.path is not None)
    print(f"book check: {count} documents ok ({len(executed) + len(sources)} notebooks and "
          f"their Colab renditions; install cells install {url}@{ref})")
    return 0
