"""Whether the install cell brings everything the chapters import.

Every third-party module that the chapters' code cells or the package
(``alexnet_course/**/*.py``) import must come from a distribution that ``pyproject.toml``
declares, as a dependency or in the ``[course]`` extra the install cell installs; and each
declared distribution must be in ``requirements.txt`` (the checkout's set-up) or be required
by one that is (torch comes with torchvision). An import inside ``try`` with an ``except
ImportError`` is optional (e.g. myst-nb's glue, absent on Colab).
"""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .colab import DISTRIBUTION, EXTRA
from .paths import BookError, cell_source, read_notebook, relative

PACKAGE = "alexnet_course"
OPTIONAL = ("ImportError", "ModuleNotFoundError")


def _name(requirement: str) -> str:
    """The canonical distribution name of a requirement (``scikit_image>=0.2`` -> ...)."""
    try:
        return canonicalize_name(Requirement(requirement).name)
    except InvalidRequirement:
        return ""


def imported_modules(source: str) -> set[str]:
    """Top-level modules that ``source`` imports unconditionally (absolute imports only)."""
    tree = ast.parse(source)
    optional = {id(node) for handler_try in ast.walk(tree) if isinstance(handler_try, ast.Try)
                and any(isinstance(h.type, ast.Name) and h.type.id in OPTIONAL
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
    from IPython.core.inputtransformer2 import TransformerManager

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


def declared(root: Path) -> tuple[set[str], set[str]]:
    """``pyproject.toml``'s dependencies and its ``[course]`` extra (canonical names)."""
    path = root / "pyproject.toml"
    try:
        project = tomllib.loads(path.read_text(encoding="utf-8")).get("project") or {}
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise BookError(f"{path}: cannot be read ({error})") from None
    extras = project.get("optional-dependencies") or {}
    if EXTRA not in extras:
        raise BookError(f"{path} has no [project.optional-dependencies] {EXTRA} = [...], "
                        "which the install cell installs")
    return {_name(r) for r in project.get("dependencies") or []}, {_name(r) for r in extras[EXTRA]}


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
    try:
        dependencies, extra = declared(root)
    except BookError as error:
        return [str(error)]
    providers = metadata.packages_distributions()
    problems = []
    for module, where in sorted(chapter_imports(root).items()):
        dist = canonicalize_name((providers.get(module) or [module])[0])
        if dist not in dependencies | extra:
            problems.append(f"{where} imports {module} (distribution {dist}), which neither "
                            f"the dependencies nor the [{EXTRA}] extra of pyproject.toml "
                            f"declare: Colab's `pip install {DISTRIBUTION}[{EXTRA}]` would "
                            "not install it")
    for dist in sorted((dependencies | extra) - requirement_names(root)):
        problems.append(f"pyproject.toml declares {dist}, which requirements.txt neither "
                        "names nor brings: a checkout's set-up would lack it")
    return problems
