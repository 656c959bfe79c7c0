"""Where a benchmark writes its JSON, and reading a record back.

``benchmarks/results/<name>.json`` is a *published record*: chapter 01 and the book's
Performance page read it. A run writes one only on purpose:

* a run that is not the record's recipe (a ``--set``, a ``--train-size``, fewer seeds, the
  validation split, …) writes ``_build/benchmarks/<name>.json`` instead and says so;
* a record that exists is replaced only with ``--replace-record``, which prints what it
  replaced (its date, seeds and headline number), even by the record's own recipe: a run
  started to look at something must not move the book's numbers;
* ``--out PATH`` writes where it says, but a record in ``benchmarks/results/`` still needs
  ``--replace-record``.

Every destination is checked writable before the first batch, so a read-only folder costs
a message, not the run. :func:`read_record` tells a record that is missing (``None``) from
one that is damaged (:class:`DamagedRecord`, naming the file and how to regenerate it).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from alexnet_course.course.speedruns import DamagedRecord, read_json

from .common import REPO_ROOT, RESULTS_DIR, SCRATCH_DIR

REPLACE_FLAG = "--replace-record"
# how each published record is regenerated (the first matching prefix of its file name)
REGENERATE = (("speedrun_ablation_", "make speedrun-ablation"),
              ("speedrun_profile_", "python -m benchmarks.speedrun_profile --replace-record"),
              ("speedrun_", "make speedrun"),
              ("guard_lenet_", "python -m benchmarks.guard_lenet --replace-record"),
              ("", "make bench"))


def add_record_options(parser: argparse.ArgumentParser, what: str) -> None:
    """``--out`` and ``--replace-record`` (``--replace`` is its older spelling)."""
    parser.add_argument("--out", default=None,
                        help=f"JSON path (default: {what} for the record's recipe, "
                             f"else {_shown(SCRATCH_DIR)}/)")
    parser.add_argument(REPLACE_FLAG, "--replace", dest="replace_record", action="store_true",
                        help="replace the published record in benchmarks/results/ (it prints "
                             "what it replaced); without it a record is never overwritten")


def changed_options(parser: argparse.ArgumentParser, args: argparse.Namespace,
                    *names: str) -> list[str]:
    """The options among ``names`` given other values than their defaults, as typed: what
    makes a run other than its record's recipe."""
    def typed(value: Any) -> str:
        return " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)

    return [f"--{name.replace('_', '-')} {typed(getattr(args, name))}" for name in names
            if getattr(args, name) != parser.get_default(name)]


def regenerate_hint(path: Path) -> str:
    return next(cmd for prefix, cmd in REGENERATE if path.name.startswith(prefix))


def read_record(path: Path) -> dict[str, Any] | None:
    """The JSON at ``path``; ``None`` when there is none; :class:`DamagedRecord` when it
    cannot be read as a JSON object (a write cut short, a hand edit)."""
    return read_json(path, regenerate=regenerate_hint(path))


def headline(payload: dict[str, Any]) -> str:
    """A record in a few words: its date, its seeds or rows, its headline number."""
    hw = payload.get("hardware") if isinstance(payload.get("hardware"), dict) else {}
    parts = [f"written {hw.get('date') or payload.get('date') or 'on an unknown date'}"]
    if isinstance(payload.get("seeds"), list):
        parts.append(f"{len(payload['seeds'])} seeds")
    elif isinstance(payload.get("rows"), list):
        parts.append(f"{len(payload['rows'])} rows")
    median = (payload.get("summary") or {}).get("median_s") if isinstance(
        payload.get("summary"), dict) else None
    if median is not None:
        parts.append(f"median {median:.1f} s to {payload['summary'].get('target')}")
    elif payload.get("seconds") is not None:
        parts.append(f"{payload['seconds']:.0f} s")
    return ", ".join(parts)


def record_path(name: str) -> Path:
    return RESULTS_DIR / f"{name}.json"


def destination(name: str, *, differs: list[str], replace: bool, out: str | None = None) -> Path:
    """Where a run of the record ``name`` writes (see the module's docstring), checked
    writable; ``differs`` names what makes this run other than the record's recipe."""
    record = record_path(name)
    path = Path(out) if out else record
    if not out and differs and not replace:
        path = SCRATCH_DIR / record.name
        print(f"not the recipe of {_shown(record)} ({'; '.join(differs)}): writing "
              f"{_shown(path)} instead ({REPLACE_FLAG} would publish it)", flush=True)
    elif _is_published(path) and path.exists():
        path = _replacing(path, differs, replace, out)
    check_writable(path.parent)
    return path


def _replacing(record: Path, differs: list[str], replace: bool, out: str | None) -> Path:
    """``record`` exists: replaced with ``replace`` (saying what it was), else not."""
    try:
        old = headline(read_record(record) or {})
    except DamagedRecord:
        old = "damaged: not readable JSON"
    if not replace:
        if out:
            raise SystemExit(f"{_shown(record)} is a published record ({old}); add "
                             f"{REPLACE_FLAG} to replace it, or give another --out")
        scratch = SCRATCH_DIR / record.name
        print(f"{_shown(record)} is published ({old}): writing {_shown(scratch)} instead "
              f"(add {REPLACE_FLAG} to replace the record)", flush=True)
        return scratch
    note = f", by a run that differs from its recipe ({'; '.join(differs)})" if differs else ""
    print(f"{REPLACE_FLAG}: replacing {_shown(record)} ({old}){note}", flush=True)
    return record


def check_writable(folder: Path) -> None:
    """Create ``folder`` and a file in it now, before any work, or stop naming the path."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise SystemExit(f"cannot write the results to {folder}: {err.strerror or err}; make "
                         f"it writable or pass --out with a writable path") from None


def _is_published(path: Path) -> bool:
    return path.resolve().parent == RESULTS_DIR.resolve()


def _shown(path: Path) -> str:
    """``path`` relative to the checkout when it is inside it (shorter messages)."""
    path = Path(path)
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)
