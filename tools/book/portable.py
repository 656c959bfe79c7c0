"""Committed notebooks name no machine: a path such as ``/work/…`` or ``/home/…`` in a
cell, an output or the metadata means nothing to a reader and changes with every checkout.

papermill records the paths it was given (``metadata.papermill.input_path`` and
``output_path``); ``run`` replaces them with repository-relative ones before it publishes a
page (:func:`store_repository_paths`), and ``check`` fails on any machine path left.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

from .paths import cell_source

MACHINE_PATH = re.compile(r"/work/|/home/|/root/|/Users/|C:\\")
BINARY = ("image/png", "image/jpeg", "image/gif")  # base64, whose "/" may spell anything


def _strings(node: Any, where: str) -> Iterator[tuple[str, str]]:
    """Every string in ``node``, with where it lies (``metadata.papermill.input_path``)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key not in BINARY:
                yield from _strings(value, f"{where}.{key}")
    elif isinstance(node, list):
        if node and all(isinstance(item, str) for item in node):  # a multi-line text
            yield where, "".join(node)
        else:
            for index, value in enumerate(node):
                yield from _strings(value, f"{where}[{index}]")
    elif isinstance(node, str):
        yield where, node


def machine_paths(nb: dict[str, Any]) -> list[str]:
    """Where ``nb`` names a machine path: each cell's source and outputs, and the metadata."""
    found: list[tuple[str, str]] = list(_strings(nb.get("metadata") or {}, "metadata"))
    for index, cell in enumerate(nb.get("cells", [])):
        found.append((f"cell {index} source", cell_source(cell)))
        found += _strings(cell.get("outputs") or [], f"cell {index} outputs")
    return [f"{where} names a machine path ({_around(text, match.start())})"
            for where, text in found if (match := MACHINE_PATH.search(text))]


def _around(text: str, start: int) -> str:
    return text[start:start + 60].splitlines()[0]


def with_repository_paths(nb: dict[str, Any], source: str, output: str) -> bool:
    """Set papermill's input and output paths of ``nb`` to ``source`` and ``output``
    (repository-relative); whether it had them."""
    papermill = (nb.get("metadata") or {}).get("papermill")
    if not isinstance(papermill, dict):
        return False
    papermill.update({"input_path": source, "output_path": output})
    return True


def store_repository_paths(path: Path, source: str, output: str) -> None:
    """:func:`with_repository_paths` on the notebook file ``path``, written back in the
    format it had (papermill's: nbformat's JSON, with or without a final newline), so
    that nothing else of the file changes."""
    text = path.read_text(encoding="utf-8")
    nb = json.loads(text)
    if with_repository_paths(nb, source, output):
        new = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False)
        path.write_text(new + ("\n" if text.endswith("\n") else ""), encoding="utf-8")
