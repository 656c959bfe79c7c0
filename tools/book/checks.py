"""``check``: what must hold before the book is built. Every document of ``_toc.yml``
exists; every executed notebook is fully executed, without errors, with its widget state;
every notebook (source, executed, Colab rendition) has the install cell for
``repository.url`` at ``repository.pin`` before any import of the package, and the pin is a
commit of the checkout that holds HEAD's package (colab.py), and the README's Colab badges
open each rendition at it (badges.py); every
executed chapter has an up-to-date rendition (rendition.py); every ``literalinclude`` names
a file and ``:pyobject:`` that exist (a moved module breaks no page silently); no notebook
names a machine path (portable.py); every results JSON can be read (the results page would
drop it). A stale chapter is a warning.

And the install cell brings everything the chapters import: each third-party module of the
chapters' code cells and of ``alexnet_course`` must come from a distribution that
``pyproject.toml`` declares (dependencies or the ``[course]`` extra), itself in
``requirements.txt`` or required by one that is. An import guarded by ``except
ImportError`` is optional (e.g. myst-nb's glue, absent on Colab).
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

from IPython.core.inputtransformer2 import TransformerManager
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from sphinx.pycode import ModuleAnalyzer

from .badges import check_badges
from .colab import (DISTRIBUTION, EXTRA, check_install_cell, install_cell_source,  # noqa: F401
                    pin_problem, pinned_ref)
from .manifest import load_manifest, notebook_hash, run_reason, store_hash
from .paths import (BookError, TocEntry, cell_source, parse_toc, read_json, read_notebook,
                    relative, repository_url, results_dir)
from .portable import machine_paths
from .rendition import check_renditions

PACKAGE = "alexnet_course"
OPTIONAL_IMPORT = ("ImportError", "ModuleNotFoundError")
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
INCLUDE = re.compile(r"```\{literalinclude\}\s*(\S+)\s*\n((?::\w+:.*\n)*)")


def missing_documents(entries: Sequence[TocEntry]) -> list[str]:
    """One message per toc entry with no file in book/ to render."""
    problems = []
    for entry in [entry for entry in entries if entry.path is None]:
        hint = (f"run `python -m tools.book run --only {entry.name}`" if entry.source else
                f"neither {entry.docname}.ipynb/.md nor notebooks/{entry.name}.ipynb exists; "
                "write it or remove it from _toc.yml")
        problems.append(f"{entry.docname}: listed in _toc.yml but missing ({hint})")
    return problems


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
            elif option and target.suffix == ".py" and option.group(1) not in ModuleAnalyzer \
                    .for_file(str(target), "").find_tags():  # how Sphinx finds a :pyobject:
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


def _name(requirement: str) -> str:  # its canonical distribution name: "PyYAML>=6" -> "pyyaml"
    try:
        return canonicalize_name(Requirement(requirement).name)
    except InvalidRequirement:
        return ""


def imported_modules(source: str) -> set[str]:
    """Top-level modules that ``source`` imports unconditionally (absolute imports only)."""
    tree = ast.parse(source)
    optional = {id(node) for handler_try in ast.walk(tree) if isinstance(handler_try, ast.Try)
                and any(isinstance(h.type, ast.Name) and h.type.id in OPTIONAL_IMPORT
                        for h in handler_try.handlers)
                for node in ast.walk(handler_try)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in optional:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def chapter_imports(root: Path) -> dict[str, str]:
    """Third-party module -> one file that imports it, over the chapters and the package."""
    transform = TransformerManager().transform_cell  # %pip and friends become Python
    sources: list[tuple[str, str]] = []
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        try:
            cells = read_notebook(path)["cells"]
        except BookError:  # reported by check with the notebook's other problems
            continue
        sources += [(relative(path, root), transform(cell_source(c))) for c in cells
                    if isinstance(c, dict) and c.get("cell_type") == "code"]
    sources += [(relative(path, root), path.read_text(encoding="utf-8"))
                for path in sorted((root / PACKAGE).rglob("*.py"))]
    modules: dict[str, str] = {}
    for where, source in sources:
        for module in imported_modules(source) - set(sys.stdlib_module_names) - {PACKAGE}:
            modules.setdefault(module, where)
    return modules


def requirement_names(root: Path) -> set[str]:
    """The distributions ``requirements.txt`` names, and those they require (installed)."""
    path = root / "requirements.txt"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    names = {_name(line) for line in text.splitlines()
             if line.strip() and not line.lstrip().startswith(("#", "-"))} - {""}
    for name in list(names):
        try:
            names.update(_name(r) for r in metadata.requires(name) or [] if "extra ==" not in r)
        except metadata.PackageNotFoundError:
            pass
    return names


def check_dependencies(root: Path) -> list[str]:
    """One message per imported module the install cell would not bring, or the
    checkout's requirements.txt would not."""
    path = root / "pyproject.toml"
    try:
        project = tomllib.loads(path.read_text(encoding="utf-8")).get("project") or {}
    except (OSError, tomllib.TOMLDecodeError) as error:
        return [f"{path}: cannot be read ({error})"]
    extras = project.get("optional-dependencies") or {}
    if EXTRA not in extras:
        return [f"{path} has no [project.optional-dependencies] {EXTRA} = [...], which the "
                "install cell installs"]
    declared = {_name(r) for r in [*(project.get("dependencies") or []), *extras[EXTRA]]}
    providers = metadata.packages_distributions()
    problems = []
    for module, where in sorted(chapter_imports(root).items()):
        dist = canonicalize_name((providers.get(module) or [module])[0])
        if dist not in declared:
            problems.append(f"{where} imports {module} (distribution {dist}), which neither "
                            f"the dependencies nor the [{EXTRA}] extra of pyproject.toml "
                            f"declare: Colab's `pip install {DISTRIBUTION}[{EXTRA}]` would "
                            "not install it")
    for dist in sorted(declared - requirement_names(root)):
        problems.append(f"pyproject.toml declares {dist}, which requirements.txt neither "
                        "names nor brings: a checkout's set-up would lack it")
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
    problems += [f"{found}: a committed notebook names no machine; `python -m tools.book "
                 "run` stores repository-relative papermill paths, anything else is printed "
                 "by a cell (fix what prints it)" for found in machine_paths(nb)]
    return [f"{label}: {problem}" for problem in problems]


def command_check(root: Path) -> int:
    """``check``: print every problem and warning; 1 if there is a problem."""
    entries = parse_toc(root)
    url, ref = repository_url(root), pinned_ref(root)
    manifest = load_manifest(root)
    problems = missing_documents(entries)
    pin = pin_problem(root, ref) if ref is not None else None
    problems += ([pin] if pin else []) + (check_badges(root, url, ref) if ref else [])
    warnings: list[str] = []
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
    for problem in problems:
        print(f"error: {problem}")
    if problems:
        print(f"book check: {len(problems)} problem(s) in {len(entries)} documents")
        return 1
    print(f"book check: {sum(entry.path is not None for entry in entries)} documents ok "
          f"({len(executed) + len(sources)} notebooks and their Colab renditions; install "
          f"cells install {url}@{ref})")
    return 0
