"""Reading the course's JSON files: a damaged one is an error that names it and its fix.

Every JSON the course writes (a stored run, a chapter's ``verdicts.json``, a speed-run
record, an executed page) is written atomically, so one that does not parse is damage —
a disk that filled, a hand edit, a merge conflict — not a write in progress. Python's
``JSONDecodeError`` names a line and a column but not the file; :func:`read_json` adds the
path and what to do, which only the caller knows (``fix``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class DamagedFile(ValueError):
    """A course JSON that cannot be parsed; ``path`` is the file, the message says the fix."""

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path


def read_json(path: str | os.PathLike, *, fix: str) -> Any:
    """The parsed contents of ``path``; :class:`DamagedFile` naming it and ``fix`` (e.g.
    ``"delete it and rerun `python -m alexnet_course.run 01`"``) when it is not JSON.
    A missing or unreadable file stays an ``OSError``, which names the path itself."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DamagedFile(f"{path}: this JSON file is damaged ({err}); {fix}", path) from err
