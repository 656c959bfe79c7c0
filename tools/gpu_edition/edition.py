"""The chapters of the GPU edition, one at a time, each inside what is left of the budget.

A chapter starts only when the budget allows it (:meth:`Budget.decide`, with its estimate
from the dry run when one was carried) and runs under ``tools.book run --only`` with the
time that is left as its timeout, so a chapter that overruns is stopped and its finished
cells stay in ``_build/failed/``: a partial edition is packed with every chapter labelled.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .budget import Budget

# one chapter: (root, name, profile, timeout_s) -> exit status of `tools.book run`
Runner = Callable[[Path, str, str, float], int]


def book_runner(root: Path, name: str, profile: str, timeout_s: float) -> int:
    """Execute one chapter with the book driver (publishes it and its record on success).
    A chapter that declares its experiments first fills its run store
    (``python -m alexnet_course.run``), run by run, so a fill cut short by the budget keeps
    every run it finished (under ``results/<profile>/``, which is packed) and the page,
    which reads the store, is executed only when the fill completed."""
    from alexnet_course.chapters import CHAPTERS
    from tools.book.driver import command_run

    t0 = time.monotonic()
    if name in CHAPTERS:
        fill = [sys.executable, "-m", "alexnet_course.run", name, "--profile", profile,
                "--root", str(root)]
        try:
            rc = subprocess.run(fill, cwd=root, timeout=timeout_s).returncode
        except subprocess.TimeoutExpired:
            return 124
        if rc != 0:
            return rc
    return command_run(root, profile, [name], force=True,
                       timeout=max(1.0, timeout_s - (time.monotonic() - t0)))


def chapter_names(root: Path) -> list[str]:
    """The toc's notebooks with a source, in the book's order (the results page last)."""
    from tools.book.paths import parse_toc

    return [e.name for e in parse_toc(root) if e.source is not None]


def load_estimates(path: Path | None) -> dict[str, float]:
    """Seconds per chapter from ``python -m tools.gpu_edition estimates`` (empty: unknown)."""
    if path is None or not path.is_file():
        return {}
    return {k: float(v) for k, v in json.loads(path.read_text())["seconds"].items()}


def run_edition(root: Path, chapters: list[str], budget: Budget, *, profile: str = "full",
                estimates: dict[str, float] | None = None, runner: Runner = book_runner,
                log: Callable[[str], None] = print) -> list[dict]:
    """Run ``chapters`` in order while the budget lasts; one status record per chapter
    (``done``, ``failed``, ``stopped at the budget`` or ``not started: …``)."""
    estimates = estimates or {}
    statuses = []
    for name in chapters:
        why_not = budget.decide(estimates.get(name))
        if why_not is not None:
            statuses.append({"chapter": name, "status": why_not, "seconds": 0.0,
                             "estimate_s": estimates.get(name)})
            log(f"gpu-edition: {name}: {why_not}")
            continue
        timeout = budget.remaining()
        t0 = time.monotonic()
        rc = runner(root, name, profile, timeout)
        seconds = time.monotonic() - t0
        if rc == 0:
            status = "done"
        elif budget.remaining() <= 1.0:
            status = "stopped at the budget (partial: _build/failed/)"
        else:
            status = f"failed (exit status {rc}; partial: _build/failed/)"
        statuses.append({"chapter": name, "status": status, "seconds": round(seconds, 1),
                         "timeout_s": round(timeout, 1), "estimate_s": estimates.get(name)})
        log(f"gpu-edition: {name}: {status} in {seconds:.0f} s")
    return statuses
