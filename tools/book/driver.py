"""``run``: execute the chapter notebooks with papermill, one at a time, into
``_build/running/``. Only a run that succeeds replaces its page in book/ and its manifest
record; a failed, timed-out or interrupted run leaves both as they were and keeps the cells
that finished in ``_build/failed/``. With ``--profile published`` (the default) an
up-to-date chapter is kept whatever its profile, a stale one re-executed in the profile of
its record, one never run in ``auto``; an explicit profile re-executes every chapter not
recorded in it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple, Sequence

from alexnet_course import devices
from alexnet_course.course.profiles import PROFILES as _PACKAGE_PROFILES, resolve_profile

from .manifest import (load_manifest, new_record, notebook_hash, run_reason, save_manifest,
                       store_hash)
from .paths import BookError, TocEntry, parse_toc, relative, results_dir
from .portable import store_repository_paths
from .rendition import write_rendition

PROFILES: tuple[str, ...] = tuple(_PACKAGE_PROFILES)  # the package's list is the only one
PUBLISHED = "published"
# Seconds one notebook may run unless --timeout says otherwise: the published profiles read
# their runs from the store (seconds); smoke and quick train theirs.
DEFAULT_TIMEOUT_S = {"smoke": 600, "quick": 1800, "standard": 3600, "full": 4 * 3600,
                     "dryrun": 1800}
# Seconds one cell may run (papermill's --execution-timeout): a cell that hangs (a widget's
# messages lost by nbclient, jupyter/nbclient#312) fails in minutes, named in the log, rather
# than using up the notebook's whole timeout. Standard and full read their runs from the
# store, so no cell of theirs trains; smoke, quick and dryrun cells train.
CELL_TIMEOUT_S = {"smoke": 600, "quick": 1800, "standard": 600, "full": 600, "dryrun": 900}
# Seconds papermill gets to shut its kernel down after SIGINT before it is killed.
STOP_GRACE_S = 15.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


class Interrupted(Exception):
    """SIGTERM, SIGHUP or SIGINT (Ctrl-C) reached the driver; ``args[0]``: the signal."""


class Outcome(NamedTuple):
    """How one papermill run ended."""

    ok: bool
    wall_s: float
    message: str = ""


def _interrupt(signum: int, frame: Any) -> None:
    for sig in STOP_SIGNALS:  # a second signal must not interrupt the clean-up of the first
        signal.signal(sig, signal.SIG_IGN)
    raise Interrupted(signum)


def chapter_profile(requested: str, record: dict[str, Any] | None, fallback: str) -> str:
    """The profile a chapter is checked and, when stale, executed in: ``requested``, or with
    :data:`PUBLISHED` its record's (so a chapter published in ``standard`` is never replaced by
    a ``quick`` run), else ``fallback`` (``auto``, resolved)."""
    if requested != PUBLISHED:
        return requested
    recorded = (record or {}).get("profile")
    return recorded if recorded in PROFILES else fallback


def select_chapters(entries: Sequence[TocEntry], only: Sequence[str] | None) -> list[TocEntry]:
    """The toc entries with a source notebook, or those ``only`` names (name or prefix)."""
    executable = [entry for entry in entries if entry.source is not None]
    if not only:
        return executable
    chosen: list[TocEntry] = []
    for wanted in only:
        wanted = Path(wanted).stem
        matches = ([e for e in executable if e.name == wanted]
                   or [e for e in executable if e.name.startswith(wanted)])
        if len(matches) != 1:
            names = ", ".join(e.name for e in executable) or "none"
            raise BookError(f"--only {wanted}: {'ambiguous' if matches else 'no such'} chapter "
                            f"(chapters with a source notebook: {names})")
        chosen += matches
    return list(dict.fromkeys(chosen))  # each once, in the order asked


def papermill_command(source: Path, output: Path, cell_timeout: float | None = None) -> list[str]:
    """papermill's command line, through papermill_run.py (see it: two fixes); with
    ``cell_timeout``, a cell running longer fails the notebook (papermill names the cell)."""
    limit = ["--execution-timeout", str(int(cell_timeout))] if cell_timeout else []
    return [sys.executable, str(Path(__file__).with_name("papermill_run.py")), str(source), str(output),
            "--cwd", str(source.parent), "--kernel", "python3", *limit,
            "--request-save-on-cell-execute", "--log-output", "--no-progress-bar"]


def execute_notebook(source: Path, output: Path, profile: str, timeout: float,
                     log_path: Path, results: Path) -> Outcome:
    """Run one notebook with papermill into ``output``, which it saves after every cell.

    papermill runs in a session of its own, so a Ctrl-C reaches the driver only. To stop it
    (timeout, signal) the driver sends it SIGINT: papermill then interrupts and shuts down its
    kernel (nbclient), which ends its own subprocesses (ipykernel). A papermill that hangs is
    killed. The death of the driver, even by kill -9, ends papermill, its kernel and the
    kernel's children too (papermill_run.guard_driver).
    """
    from .papermill_run import DRIVER_PID  # imported here: it imports jupyter_client

    # standard and full read their runs from the store, train none; $COURSE_STORE overrides
    store = os.environ.get("COURSE_STORE") or ("require" if profile in ("standard", "full")
                                               else "train")
    env = dict(os.environ, COURSE_PROFILE=profile, COURSE_RESULTS_DIR=str(results),
               COURSE_STORE=store, PYTHONUNBUFFERED="1")
    env[DRIVER_PID] = str(os.getpid())  # papermill_run.py ends all it started when we die
    # the python3 kernelspec runs `python`: make it this environment's interpreter
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    cmd = papermill_command(source, output, CELL_TIMEOUT_S.get(profile))
    log_path.parent.mkdir(parents=True, exist_ok=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with open(log_path, "w", encoding="utf-8") as log:
        log.write(f"$ COURSE_PROFILE={profile} COURSE_RESULTS_DIR={results} {' '.join(cmd)}\n")
        log.flush()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return Outcome(False, time.monotonic() - start, f"timed out after {timeout:.0f} s")
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    wall = time.monotonic() - start
    return Outcome(rc == 0, wall, "" if rc == 0 else f"papermill exited with status {rc}")


def run_chapter(root: Path, entry: TocEntry, profile: str, timeout: float) -> Outcome:
    """Execute ``entry``; publish it to book/ only if the run succeeds, else keep its cells in
    ``_build/failed/`` (which holds the last run's output only)."""
    assert entry.source is not None
    running, failed = (root / "_build" / folder / f"{entry.name}.ipynb"
                       for folder in ("running", "failed"))
    running.unlink(missing_ok=True)
    failed.unlink(missing_ok=True)
    ok = False
    try:
        outcome = execute_notebook(entry.source, running, profile, timeout,
                                   root / "_build" / "logs" / f"{entry.name}.log",
                                   results_dir(root, profile))
        ok = outcome.ok
        return outcome
    finally:  # an interrupt too keeps the cells that finished
        target = entry.output if ok else failed
        if running.is_file():
            if ok:  # papermill recorded this machine's paths; the page names none
                store_repository_paths(running, relative(entry.source, root),
                                       relative(entry.output, root))
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(running, target)


def _report_failure(root: Path, entry: TocEntry, prefix: str, outcome: Outcome) -> None:
    log_path = root / "_build" / "logs" / f"{entry.name}.log"
    failed = root / "_build" / "failed" / f"{entry.name}.ipynb"
    kept = (f"the previous page {relative(entry.output, root)} and its manifest record are "
            "kept" if entry.output.is_file() else "no page was published")
    partial = (f"  the cells that finished are in {relative(failed, root)}\n"
               if failed.is_file() else "")
    tail = log_path.read_text(errors="replace").splitlines()[-15:] if log_path.is_file() else []
    print(f"{prefix}: FAILED after {outcome.wall_s:.1f} s: {outcome.message}\n  {kept}\n"
          f"{partial}  log: {relative(log_path, root)}\n"
          + "\n".join("    " + line for line in tail), flush=True)


def command_run(root: Path, profile: str, only: Sequence[str] | None, force: bool,
                timeout: float | None = None) -> int:
    """``run``: execute the stale chapters (every one with ``force``); 1 if one failed."""
    selected = select_chapters(parse_toc(root), only)
    try:
        fallback = resolve_profile("auto").name
        profile = profile if profile == PUBLISHED else resolve_profile(profile).name
    except ValueError as error:
        raise BookError(str(error)) from None
    recorded = (f" (each chapter's recorded one; {fallback} if never run)"
                if profile == PUBLISHED else "")
    print(f"book run: profile {profile}{recorded}, {len(selected)} notebook(s) with a source in "
          "notebooks/", flush=True)
    start = time.monotonic()
    previous = {sig: signal.signal(sig, _interrupt) for sig in STOP_SIGNALS}
    try:
        failures = _run_chapters(root, selected, profile, fallback, timeout, force)
    except Interrupted as error:
        signum = error.args[0]
        print(f"book run: stopped by {signal.Signals(signum).name}; papermill and its kernel "
              "were stopped, the published pages are unchanged (the cells that finished are "
              "in _build/failed/)", file=sys.stderr, flush=True)
        return 128 + signum
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(f"book run: {time.monotonic() - start:.1f} s in all", flush=True)
    if failures:
        print(f"book run: failed: {', '.join(failures)}", file=sys.stderr)
    return 1 if failures else 0


def _run_chapters(root: Path, selected: Sequence[TocEntry], requested: str, fallback: str,
                  timeout: float | None, force: bool) -> list[str]:
    """Run each stale chapter of ``selected``, record the successes; the failures."""
    manifest = load_manifest(root)
    device: dict[str, Any] | None = None
    failures: list[str] = []
    for index, entry in enumerate(selected, 1):
        assert entry.source is not None
        prefix = f"[{index}/{len(selected)}] {entry.name}"
        source_sha = notebook_hash(entry.source)
        record = manifest["chapters"].get(entry.name)
        profile = chapter_profile(requested, record, fallback)
        results_sha = store_hash(results_dir(root, profile), entry.name)
        reason = "--force" if force else run_reason(
            record, source_sha, profile, entry.output.is_file(), results_sha)
        if reason is None:
            print(f"{prefix}: up to date, skipped (profile {profile})", flush=True)
            continue
        if device is None:  # once, and only when a chapter runs
            device = devices.describe_device()
        print(f"{prefix}: running ({reason}; profile {profile}, {device['name']}) ...",
              flush=True)
        outcome = run_chapter(root, entry, profile, timeout if timeout is not None
                              else DEFAULT_TIMEOUT_S.get(profile, 3600))
        if not outcome.ok:
            failures.append(entry.name)
            _report_failure(root, entry, prefix, outcome)
            continue
        manifest["chapters"][entry.name] = new_record(
            source_sha, profile, device, outcome.wall_s, results_sha)
        save_manifest(manifest, root)
        print(f"{prefix}: done in {outcome.wall_s:.1f} s", flush=True)
        try:  # until `colab` writes it, `check` fails on the missing rendition
            write_rendition(root, entry)
        except BookError as error:
            print(f"{prefix}: warning: no Colab rendition ({error})", flush=True)
    return failures
