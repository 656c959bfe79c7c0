"""``check``: what must hold before the book is built.

* every document of ``_toc.yml`` exists in book/;
* every executed notebook is fully executed, free of errors and keeps its widget state;
* every notebook (source, executed, Colab rendition) installs the package before importing
  it, with the install cell for ``repository.url`` at ``repository.pin`` (tools/book/colab.py);
* the install cell brings every package the chapters import (tools/book/deps.py);
* every executed chapter has an up-to-date Colab rendition in colab/ (tools/book/rendition.py);
* every ``literalinclude`` of a notebook (source and executed) names a file that exists and, with
  ``:pyobject:``, a function or class that is in it (a moved module breaks no page silently);
* every results JSON under ``results/`` can be read (the results page would drop it);
* with ``--strict``, no executed chapter is stale.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any, Sequence

from .colab import (GIT_URL, IMPORTS_PACKAGE, check_install_cell,  # noqa: F401 (re-exported)
                    install_cell_source, pinned_ref, ref_exists)
from .deps import check_dependencies
from .rendition import check_renditions
from .manifest import load_manifest, notebook_hash, run_reason, store_hash
from .paths import (BookError, TocEntry, parse_toc, read_json, read_notebook, relative,
                    repository_url, results_dir)

WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
INCLUDE = re.compile(r"```\{literalinclude\}\s*(\S+)\s*\n((?::\w+:.*\n)*)")


def _cell_source(cell: dict[str, Any]) -> str:
    source = cell.get("source") or ""
    return "".join(source) if isinstance(source, list) else source


# ------------------------------------------------------------------ single documents


def missing_documents(entries: Sequence[TocEntry]) -> list[str]:
    """One message per toc entry with no file in book/ to render."""
    problems = []
    for entry in entries:
        if entry.path is None:
            hint = (f"run `python -m tools.book run --only {entry.name}`" if entry.source else
                    f"neither {entry.docname}.ipynb/.md nor notebooks/{entry.name}.ipynb "
                    "exists; write it or remove it from _toc.yml")
            problems.append(f"{entry.docname}: listed in _toc.yml but missing ({hint})")
    return problems


def check_notebook(nb: dict[str, Any]) -> list[str]:
    """Problems of an executed notebook: unexecuted cells, errors, lost widget state."""
    problems = []
    views: set[str] = set()
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        if _cell_source(cell).strip() and cell.get("execution_count") is None:
            problems.append(f"cell {index} was not executed")
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                problems.append(f"cell {index} raised {output.get('ename')}: "
                                f"{str(output.get('evalue'))[:200]}")
            view = (output.get("data") or {}).get(WIDGET_VIEW_MIME)
            if isinstance(view, dict) and view.get("model_id"):
                views.add(view["model_id"])
    if views:
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
        for match in INCLUDE.finditer(_cell_source(cell) + "\n"):
            target = (folder / match.group(1)).resolve()
            if not target.is_file():
                problems.append(f"cell {index} includes {match.group(1)}, which does not exist")
                continue
            option = re.search(r":pyobject:\s*(\S+)", match.group(2))
            if option and target.suffix == ".py" and not _defines(target, option.group(1)):
                problems.append(f"cell {index} includes {option.group(1)} from "
                                f"{match.group(1)}, which does not define it")
    return problems


def check_results(results: Path, root: Path) -> list[str]:
    """One message per results JSON that cannot be read or is not a JSON object."""
    problems = []
    for path in sorted(results.rglob("*.json")) if results.is_dir() else []:
        try:
            data = read_json(path)
        except BookError as error:
            problems.append(str(error).replace(str(path), relative(path, root), 1))
            continue
        if not isinstance(data, dict):
            problems.append(f"{relative(path, root)}: expected a JSON object, found "
                            f"{type(data).__name__}")
    return problems


# ------------------------------------------------------------------------ the command


def stale_reason(root: Path, entry: TocEntry, manifest: dict[str, Any]) -> str | None:
    """Why the executed copy of ``entry`` is out of date, or None (checked for its profile)."""
    assert entry.source is not None
    record = manifest["chapters"].get(entry.name)
    profile = (record or {}).get("profile", "?")
    results_sha = store_hash(results_dir(root, profile), entry.name)  # the runs it reads
    return run_reason(record, notebook_hash(entry.source), profile, True, results_sha)


def _notebook_problems(path: Path, label: str, executed: bool, url: str,
                       root: Path, ref: str | None) -> list[str]:
    try:
        nb = read_notebook(path)
    except BookError as error:
        return [str(error).replace(str(path), relative(path, root), 1)]
    problems = (check_notebook(nb) if executed else []) + check_includes(nb, path.parent)
    problems += check_install_cell(nb, url, ref)
    return [f"{label}: {problem}" for problem in problems]


def command_check(root: Path, strict: bool = False) -> int:
    """``check``: print every problem; 1 if there is any (stale chapters only with strict)."""
    entries = parse_toc(root)
    url = repository_url(root)
    ref = pinned_ref(root)
    manifest = load_manifest(root)
    problems = missing_documents(entries)
    warnings: list[str] = [] if ref is None or ref_exists(root, ref) else [
        f"repository.pin {ref} is not a tag or commit of this checkout: tag the commit that "
        f"carries the pin (`git tag {ref}`) and push the tag, or Colab's install fails"]
    checked = 0
    for entry in entries:
        if entry.path is None or entry.path.suffix != ".ipynb":
            continue
        checked += 1
        problems += _notebook_problems(entry.path, entry.docname, True, url, root, ref)
        try:
            reason = stale_reason(root, entry, manifest) if entry.source else None
        except BookError:  # a malformed source notebook: reported with the sources below
            reason = None
        if reason:
            warnings.append(f"{entry.docname}: executed copy is stale ({reason}); "
                            f"run `python -m tools.book run --only {entry.name}`")
    for source in sorted((root / "notebooks").glob("*.ipynb")):
        checked += 1
        problems += _notebook_problems(source, relative(source, root), False, url, root, ref)
    for rendition in sorted((root / "colab").glob("*.ipynb")):
        problems += [f"{relative(rendition, root)}: {problem}" for problem in
                     check_install_cell(read_notebook(rendition), url, ref)]
    problems += check_renditions(root)
    problems += check_dependencies(root)
    problems += check_results(root / "results", root)
    for warning in warnings:
        print(f"warning: {warning}")
    if strict:
        problems += warnings
    for problem in problems:
        print(f"error: {problem}")
    if problems:
        print(f"book check: {len(problems)} problem(s) in {len(entries)} documents")
        return 1
    count = sum(1 for entry in entries if entry.path is not None)
    print(f"book check: {count} documents ok ({checked} notebooks and their Colab renditions; "
          f"install cells install {url}@{ref})")
    return 0
