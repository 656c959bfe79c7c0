"""``run``: execute the chapter notebooks with papermill, one at a time.

Each ``notebooks/NN_name.ipynb`` listed in ``_toc.yml`` is executed (cwd ``notebooks/``,
``COURSE_PROFILE`` and ``COURSE_RESULTS_DIR`` in its environment) into a temporary file
``_build/running/NN_name.ipynb``. Only a run that succeeds replaces the published page
``book/NN_name.ipynb`` and its manifest record; a failed, timed-out or interrupted run
leaves both as they were and keeps the cells that finished in ``_build/failed/``.

Which chapters run, and in which profile: with ``--profile published`` (the default) a
chapter that is up to date is kept whatever profile it was executed in, a stale one is
re-executed in the profile its manifest record names, one without a record in ``auto``;
with an explicit profile every chapter whose record is not in it is re-executed in it.

papermill runs in its own process group and the kernel in a session of its own (that is
how jupyter_client starts kernels), so stopping a run stops the whole process tree:
papermill, the kernel and anything the kernel started (e.g. DataLoader workers). The
driver does so on a timeout, on Ctrl-C and on SIGTERM/SIGHUP.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from alexnet_course.course.profiles import PROFILES as _PACKAGE_PROFILES

from .manifest import load_manifest, new_record, notebook_hash, run_reason, save_manifest, store_hash
from .paths import BookError, TocEntry, parse_toc, relative, results_dir

# The package's profiles are the only list of them (a profile added there is known here).
PROFILES: tuple[str, ...] = tuple(_PACKAGE_PROFILES)
# `run --profile published` (the default): keep each chapter in the profile it was published
# in; see chapter_profile.
PUBLISHED = "published"
# Seconds one notebook may run before `run` stops it, unless --timeout says otherwise
# (a standard chapter takes up to ~45 minutes on two cores).
DEFAULT_TIMEOUT_S = {"smoke": 600, "quick": 1800, "standard": 3600, "full": 4 * 3600,
                     "dryrun": 1800}
# ... and for a profile the package gained without a timeout here
FALLBACK_TIMEOUT_S = 3600
# Seconds the process tree of a stopped run gets between SIGTERM and SIGKILL.
STOP_GRACE_S = 5.0


class Interrupted(Exception):
    """The driver received SIGTERM, SIGHUP or SIGINT (Ctrl-C)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass(frozen=True)
class Outcome:
    """How one papermill run ended."""

    ok: bool
    wall_s: float
    message: str = ""


# --------------------------------------------------------------------------- choices


def resolve_profile_name(profile: str) -> str:
    """``auto`` → the package's choice (``$COURSE_PROFILE``, else full on CUDA, quick on CPU)."""
    from alexnet_course.course.profiles import resolve_profile

    try:
        return resolve_profile(profile).name
    except ValueError as error:
        raise BookError(str(error)) from None


def chapter_profile(requested: str, record: dict[str, Any] | None, fallback: str) -> str:
    """The profile a chapter is checked in and, when stale, executed in.

    ``requested`` is a resolved profile name or :data:`PUBLISHED`; with the latter, the
    profile of the chapter's manifest record (so a chapter published in ``standard`` is
    never replaced by a ``quick`` run), or ``fallback`` (``auto``, resolved) for a chapter
    without a record or whose recorded profile the package no longer has.
    """
    if requested != PUBLISHED:
        return requested
    recorded = (record or {}).get("profile")
    return recorded if recorded in PROFILES else fallback


def select_chapters(entries: Sequence[TocEntry], only: Sequence[str] | None) -> list[TocEntry]:
    """The executable toc entries (those with a source notebook), or the ones ``only`` names."""
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
        if matches[0] not in chosen:
            chosen.append(matches[0])
    return chosen


# ---------------------------------------------------------------- processes, signals


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGTERM, SIGHUP and SIGINT into :class:`Interrupted` (once) while inside."""
    signals = [signal.SIGTERM, signal.SIGHUP, signal.SIGINT]
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be installed by the main thread
        return
    raised = False

    def handler(signum: int, frame: Any) -> None:
        nonlocal raised
        if not raised:  # a second signal must not interrupt the clean-up of the first
            raised = True
            raise Interrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def stop_process_tree(proc: subprocess.Popen, grace: float = STOP_GRACE_S) -> None:
    """End ``proc`` (a process-group leader), its group and every descendant.

    The kernel is not in papermill's group, so descendants are found through their parents:
    SIGTERM to all, then SIGKILL to whatever is left after ``grace`` seconds.
    """
    import psutil

    try:
        tree = [psutil.Process(proc.pid)]
        tree += tree[0].children(recursive=True)
    except psutil.NoSuchProcess:
        tree = []
    _signal_group(proc.pid, signal.SIGTERM)
    for process in tree:
        _signal_process(process, signal.SIGTERM)
    _, alive = psutil.wait_procs(tree, timeout=grace)
    _signal_group(proc.pid, signal.SIGKILL)
    for process in alive:
        _signal_process(process, signal.SIGKILL)
    psutil.wait_procs(alive, timeout=grace)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _signal_process(process: Any, sig: int) -> None:
    import psutil

    try:
        process.send_signal(sig)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        pass


# ------------------------------------------------------------------------- papermill


def execute_notebook(source: Path, output: Path, profile: str, timeout: float,
                     log_path: Path, results: Path) -> Outcome:
    """Run one notebook with papermill into ``output``; its whole tree is stopped on return.

    papermill saves ``output`` after every cell, so a crash, a timeout or an interrupt
    leaves the cells that finished there. :class:`Interrupted` and KeyboardInterrupt
    propagate after the processes have been stopped.
    """
    # the published editions read their runs from the store and train none (a missing run
    # fails the chapter, naming the command that trains it); smoke and quick train.
    # $COURSE_STORE overrides (train: fill a chapter's store by executing it)
    store = os.environ.get("COURSE_STORE") or ("require" if profile in ("standard", "full")
                                               else "train")
    env = dict(os.environ, COURSE_PROFILE=profile, COURSE_RESULTS_DIR=str(results),
               COURSE_STORE=store, PYTHONUNBUFFERED="1")
    # the python3 kernelspec runs `python`: make it this environment's interpreter
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    cmd = [sys.executable, "-m", "papermill", str(source), str(output),
           "--cwd", str(source.parent), "--kernel", "python3",
           "--request-save-on-cell-execute", "--log-output", "--no-progress-bar"]
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
            stop_process_tree(proc)
    wall = time.monotonic() - start
    return Outcome(rc == 0, wall, "" if rc == 0 else f"papermill exited with status {rc}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# ------------------------------------------------------------------------ one chapter


def run_chapter(root: Path, entry: TocEntry, profile: str, timeout: float) -> Outcome:
    """Execute ``entry`` into a temporary file; publish it to book/ only if the run succeeds.

    Otherwise the published page stays as it was and the partial output goes to
    ``_build/failed/<name>.ipynb``.
    """
    assert entry.source is not None
    running = root / "_build" / "running" / f"{entry.name}.ipynb"
    failed = root / "_build" / "failed" / f"{entry.name}.ipynb"
    log_path = root / "_build" / "logs" / f"{entry.name}.log"
    running.unlink(missing_ok=True)
    failed.unlink(missing_ok=True)  # _build/failed/ holds the last run's output only
    outcome: Outcome | None = None
    try:
        outcome = execute_notebook(entry.source, running, profile, timeout, log_path,
                                   results_dir(root, profile))
    finally:
        if outcome is not None and outcome.ok:
            entry.output.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(running), str(entry.output))
        elif running.is_file():
            failed.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(running), str(failed))
            if outcome is None:  # interrupted: command_run reports it
                print(f"  the cells that finished are in {relative(failed, root)}",
                      file=sys.stderr, flush=True)
    assert outcome is not None  # only an exception leaves it None, and that propagates
    return outcome


def _report_failure(root: Path, entry: TocEntry, prefix: str, outcome: Outcome) -> None:
    log_path = root / "_build" / "logs" / f"{entry.name}.log"
    failed = root / "_build" / "failed" / f"{entry.name}.ipynb"
    kept = (f"  the previous page {relative(entry.output, root)} and its manifest record "
            "are kept" if entry.output.is_file() else "  no page was published")
    partial = (f"  the cells that finished are in {relative(failed, root)}\n"
               if failed.is_file() else "")
    print(f"{prefix}: FAILED after {outcome.wall_s:.1f} s: {outcome.message}\n{kept}\n"
          f"{partial}  log: {relative(log_path, root)}\n"
          + "\n".join("    " + line for line in _tail(log_path).splitlines()), flush=True)


# ------------------------------------------------------------------------ the command


def command_run(root: Path, profile: str, only: Sequence[str] | None, force: bool,
                timeout: float | None = None) -> int:
    """``run``: execute the stale (or all, with ``force``) chapters of the toc."""
    entries = parse_toc(root)
    selected = select_chapters(entries, only)
    fallback = resolve_profile_name("auto")
    profile = profile if profile == PUBLISHED else resolve_profile_name(profile)
    described = (f"profile {profile}" if profile != PUBLISHED else
                 f"profile published (each chapter's recorded profile; {fallback} for a "
                 "chapter never run)")
    limit = (f"at most {timeout:.0f} s each" if timeout is not None else
             "at most " + ", ".join(f"{v} s ({k})" for k, v in DEFAULT_TIMEOUT_S.items()))
    print(f"book run: {described}, {len(selected)} notebook(s) with a source in "
          f"notebooks/, {limit}", flush=True)
    start = time.monotonic()
    with stop_on_signals():
        try:
            failures = _run_chapters(root, selected, profile, fallback, timeout, force)
        except (Interrupted, KeyboardInterrupt) as error:
            signum = error.signum if isinstance(error, Interrupted) else signal.SIGINT
            print(f"book run: stopped by {signal.Signals(signum).name}; papermill and its "
                  "kernel were stopped, the published pages are unchanged",
                  file=sys.stderr, flush=True)
            return 128 + signum
    print(f"book run: {time.monotonic() - start:.1f} s in all", flush=True)
    unrunnable = [e for e in entries if e.path is None and e.source is None]
    for entry in unrunnable:
        print(f"book run: {entry.docname} is listed in _toc.yml but has neither a source "
              f"notebooks/{entry.name}.ipynb nor a page in book/", file=sys.stderr)
    if failures:
        print(f"book run: failed: {', '.join(failures)}", file=sys.stderr)
    return 1 if failures or unrunnable else 0


def _write_rendition(root: Path, entry: TocEntry, prefix: str) -> None:
    """The Colab edition of a page just published (a problem is reported, not fatal:
    `check` fails on the missing rendition until `python -m tools.book colab` writes it)."""
    from .rendition import write_rendition

    try:
        write_rendition(root, entry)
    except BookError as error:
        print(f"{prefix}: warning: no Colab rendition ({error})", flush=True)


def _run_chapters(root: Path, selected: Sequence[TocEntry], requested: str, fallback: str,
                  timeout: float | None, force: bool) -> list[str]:
    """Run each stale chapter of ``selected``; record the successes; return the failures.

    ``requested`` is a profile or :data:`PUBLISHED` (see :func:`chapter_profile`).
    """
    manifest = load_manifest(root)
    device: dict[str, Any] | None = None
    failures: list[str] = []
    for index, entry in enumerate(selected, 1):
        assert entry.source is not None
        prefix = f"[{index}/{len(selected)}] {entry.name}"
        source_sha = notebook_hash(entry.source)
        record = manifest["chapters"].get(entry.name)
        profile = chapter_profile(requested, record, fallback)
        results_sha = store_hash(results_dir(root, profile), entry.name)  # the runs it reads
        reason = "--force" if force else run_reason(
            record, source_sha, profile, entry.output.is_file(), results_sha)
        if reason is None:
            print(f"{prefix}: up to date, skipped (profile {profile})", flush=True)
            continue
        if device is None:
            from alexnet_course.devices import describe_device

            device = describe_device()
        print(f"{prefix}: running ({reason}; profile {profile}, {device['name']}) ...",
              flush=True)
        limit = timeout if timeout is not None else DEFAULT_TIMEOUT_S.get(
            profile, FALLBACK_TIMEOUT_S)
        outcome = run_chapter(root, entry, profile, limit)
        if not outcome.ok:
            failures.append(entry.name)
            _report_failure(root, entry, prefix, outcome)
            continue
        manifest["chapters"][entry.name] = new_record(
            source_sha, profile, device, outcome.wall_s, results_sha)
        save_manifest(manifest, root)
        print(f"{prefix}: done in {outcome.wall_s:.1f} s", flush=True)
        _write_rendition(root, entry, prefix)
    return failures
