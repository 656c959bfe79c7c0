"""Shared pieces of the book-tooling tests: a tiny project in a temporary folder and
notebook builders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tools.book import checks

URL = "https://github.com/example/course"
REF = "v1.0"  # the pin of the test project


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def notebook(*cells: dict[str, Any], metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    meta = {"kernelspec": {"name": "python3", "display_name": "Python 3",
                           "language": "python"}, **(metadata or {})}
    return {"cells": list(cells), "metadata": meta, "nbformat": 4, "nbformat_minor": 5}


def code(source: str, count: int | None = 1, outputs: list[dict[str, Any]] | None = None
         ) -> dict[str, Any]:
    return {"cell_type": "code", "source": source, "execution_count": count,
            "metadata": {}, "outputs": outputs or []}


def markdown(source: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "source": source, "metadata": {}}


def install_cell(url: str = URL, count: int | None = 1, ref: str = REF) -> dict[str, Any]:
    return code(checks.install_cell_source(url, ref), count)


def write_nb(path: Path, nb: dict[str, Any]) -> Path:
    return write(path, json.dumps(nb))


CPU = {"kind": "cpu", "name": "CPU (2 cores)", "cores": 2, "torch": "x"}
