"""``promote``: keep the published chapters through a results-neutral package change.

Any edit of ``alexnet_course/`` changes the package hash, which makes every chapter stale,
and re-executing the edition costs hours. ``promote --since REV`` tells a results-neutral
change (a comment, a refactoring, a new function nothing calls) from one that may move
numbers: a chapter whose record is stale *only* because of the package (same notebook,
page present, same results for the results page) and was executed with the package of
``REV`` is executed twice in the smoke profile on the CPU — with ``REV``'s package and with
the current one, the same notebook, each with its own empty results folder — and the two
executed notebooks and results folders are compared (:mod:`~tools.book.compare`). When
they are identical the record's ``package_sha256`` moves to the current hash and the record
gains ``promoted`` (from which hash, since which revision, when, why); ``run`` and ``check``
then treat it as up to date. Otherwise the record is left as it was: the chapter stays
stale and ``run`` re-executes it. A change of the definition of the profile the chapter was
published in (``course/profiles.py``) is never promoted: the smoke runs would not see it.

A chapter whose notebook changed too is a candidate when the change is only in ``full=``
values of ``P.pick(...)`` calls (:mod:`~tools.book.picks`: the code cells' syntax trees
without them are equal, markdown is unchanged) and it was not executed in a profile that
takes those values (full, dryrun): its executed copy computed nothing they decide. With the
package unchanged it is promoted without a run; otherwise the two smoke runs decide as
above. Its executed copy's cells take the new sources (outputs kept), and the record moves
to the new notebook hash as well (``promoted.from_source_sha256``).

What this cannot see: code that only the larger profiles execute (e.g. a branch taken only
on the whole training set) runs in neither smoke run, so a change there is promoted
unnoticed; use ``promote`` for changes whose reach you know (comments, refactorings of code
every profile runs, new functions), ``run`` otherwise.

Each package is staged under ``_build/promote/packages/`` (``REV``'s from ``git archive``,
the current one copied, so it cannot change under the run) and put first on PYTHONPATH;
the runs, their logs and results stay in ``_build/promote/<chapter>/`` for inspection. In
the kernels of these runs ``time.perf_counter`` is a clock that advances one millisecond a
call (:data:`CLOCK_STARTUP`), so that times measured with it agree between the two runs.
"""

from __future__ import annotations

import datetime as _dt
import io
import os
import shutil
import signal
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any, Sequence

from .compare import compare_notebooks, compare_results
from .driver import (DEFAULT_TIMEOUT_S, Interrupted, Outcome, execute_notebook,
                     select_chapters, stop_on_signals)
from .manifest import (PACKAGE, RESULTS_PAGE, load_manifest, notebook_hash, package_hash,
                       results_hash, save_manifest)
from .paths import BookError, TocEntry, parse_toc, read_notebook, relative, results_dir
from .picks import FULL_PICKERS, adopt_sources, full_picks_only

PROMOTE_DIR = Path("_build") / "promote"
SMOKE = "smoke"
# how many differences of a chapter are printed
SHOWN = 6
BY = "smoke outputs and results identical"
BY_PICKS = "only full= values of pick() changed"  # what a notebook change may be, to promote
# The smoke runs' clock: time.perf_counter (all the package times with) advances 1 ms a
# call, so what is measured with it — seconds per epoch, examples/sec, a plot's time axis,
# the chapter's wall time, glued speed ratios — depends on the code path only, not on the
# machine's load, and two runs of the same code agree on it. Installed in the kernel only
# (an IPython startup file, through $IPYTHONDIR), never in papermill, whose timeouts stay real.
CLOCK_STARTUP = '''"""`python -m tools.book promote`, for its smoke runs: a deterministic clock."""
import itertools
import time

# next() of an itertools.count is atomic under the GIL: no lock, which a finalizer or signal
# handler calling the clock while the lock is held would deadlock on
_ticks = itertools.count(1)


def _perf_counter_ns() -> int:
    return next(_ticks) * 1_000_000


def _perf_counter() -> float:
    return _perf_counter_ns() / 1e9


time.perf_counter = _perf_counter
time.perf_counter_ns = _perf_counter_ns
'''


# ------------------------------------------------------------------------ candidates


def why_not_candidate(root: Path, entry: TocEntry, record: dict[str, Any] | None,
                      current: str) -> str | None:
    """Why ``entry`` cannot be promoted (None: it is stale only through the package and
    through ``full=`` values of its picks)."""
    assert entry.source is not None
    if not entry.output.is_file():
        return "no executed copy in book/; `run` executes it"
    if not record:
        return "never run by the driver; `run` executes it"
    source_moved = record.get("source_sha256") != notebook_hash(entry.source)
    if source_moved:
        reason = why_source_not_neutral(entry, record)
        if reason:
            return f"its notebook changed since it was executed ({reason}); `run` re-executes it"
    if entry.name == RESULTS_PAGE and record.get("results_sha256") != results_hash(
            results_dir(root, str(record.get("profile")))):
        return "the results it summarises changed; `run` re-executes it"
    if record.get("package_sha256") == current and not source_moved:
        return "up to date"
    return None


def why_source_not_neutral(entry: TocEntry, record: dict[str, Any]) -> str | None:
    """Why the change of ``entry``'s notebook since its execution may change its executed
    copy (None: only ``full=`` values of ``.pick`` calls changed, and the chapter was not
    executed in a profile that takes them; :mod:`~tools.book.picks`)."""
    assert entry.source is not None
    profile = str(record.get("profile"))
    if profile in FULL_PICKERS:
        return f"it was executed in {profile}, which takes the full= values"
    executed = read_notebook(entry.output)
    if notebook_hash(entry.output) != record.get("source_sha256"):
        return "its executed copy's cells are not those of its record"
    return full_picks_only(executed, read_notebook(entry.source))


# ------------------------------------------------------------------------- packages


def _git(root: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True,
                              timeout=120, check=False)
    except (OSError, subprocess.SubprocessError) as error:
        raise BookError(f"git {' '.join(args)}: {error}") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise BookError(f"git {' '.join(args)}: {message[-1] if message else 'failed'}")
    return done.stdout


def resolve_commit(root: Path, rev: str) -> str:
    """The full commit that git revision ``rev`` names."""
    try:
        return _git(root, "rev-parse", "--verify", "--quiet",
                    f"{rev}^{{commit}}").decode().strip()
    except BookError:
        raise BookError(f"--since {rev}: not a commit of the git repository at {root}") from None


def export_package(root: Path, rev: str, dest: Path) -> str:
    """Write the package of git revision ``rev`` to ``dest/alexnet_course``; return the
    full commit. ``root`` may be a folder inside the repository."""
    commit = resolve_commit(root, rev)
    prefix = _git(root, "rev-parse", "--show-prefix").decode().strip()
    tree = f"{commit}:{prefix}{PACKAGE}"
    try:
        _git(root, "cat-file", "-e", tree)
    except BookError:
        raise BookError(f"revision {rev} has no {prefix}{PACKAGE}/") from None
    # run from the top: from a subfolder, git archive only takes what lies inside it
    top = Path(_git(root, "rev-parse", "--show-toplevel").decode().strip())
    archive = _git(top, "archive", "--format=tar", f"--prefix={PACKAGE}/", tree)
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return commit


def copy_package(root: Path, dest: Path) -> None:
    """Copy the working tree's package to ``dest/alexnet_course`` (a snapshot to run)."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(root / PACKAGE, dest / PACKAGE,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def package_env(package_root: Path) -> dict[str, str]:
    """The environment that makes a kernel import the package staged in ``package_root``,
    on the CPU (where the smoke runs are deterministic)."""
    path = [str(package_root), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"PYTHONPATH": os.pathsep.join(path), "CUDA_VISIBLE_DEVICES": ""}


def install_clock(ipython_dir: Path) -> dict[str, str]:
    """An IPython folder whose startup file installs :data:`CLOCK_STARTUP`; the
    environment that makes a kernel use it."""
    startup = ipython_dir / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-promote-clock.py").write_text(CLOCK_STARTUP, encoding="utf-8")
    return {"IPYTHONDIR": str(ipython_dir)}


def check_import(package_root: Path, cwd: Path) -> None:
    """Make sure ``import alexnet_course`` resolves to ``package_root`` with
    :func:`package_env` (and not to an installed copy, which would make both runs equal)."""
    code = "import alexnet_course, sys; sys.stdout.write(list(alexnet_course.__path__)[0])"
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env=dict(os.environ,
                                                           **package_env(package_root)))
    found = Path(done.stdout.strip() or ".").resolve()
    if done.returncode != 0 or found != (package_root / PACKAGE).resolve():
        raise BookError(f"with PYTHONPATH={package_root}, `import {PACKAGE}` resolves to "
                        f"{done.stdout.strip() or done.stderr.strip()[-300:]}, not to the "
                        "staged package; promote cannot compare the two packages")


def profile_definition(package_root: Path, profile: str) -> str:
    """``repr`` of ``PROFILES[profile]`` in the package staged in ``package_root`` (empty
    when it has none): the smoke runs cannot see a change of the published profile's size."""
    code = ("import sys\ntry:\n    from alexnet_course.course.profiles import PROFILES\n"
            "except ImportError:\n    PROFILES = {}\n"
            "sys.stdout.write(repr(PROFILES.get(sys.argv[1], '')))")
    # cwd: `python -c` puts it first on sys.path, where it could shadow the staged package
    done = subprocess.run([sys.executable, "-c", code, profile], capture_output=True,
                          cwd=package_root, text=True, timeout=120, env=dict(os.environ,
                                                           **package_env(package_root)))
    if done.returncode != 0:
        raise BookError(f"reading profile {profile} of {package_root}: "
                        f"{done.stderr.strip()[-300:]}")
    return done.stdout


# -------------------------------------------------------------------------- one chapter


def smoke_run(root: Path, entry: TocEntry, record: dict[str, Any], package_root: Path,
              folder: Path, label: str, timeout: float) -> tuple[Outcome, Path, Path]:
    """Execute ``entry``'s notebook in smoke with the package in ``package_root``, into
    ``folder/<label>.ipynb`` and the results folder ``folder/<label>-results``."""
    assert entry.source is not None
    output, results = folder / f"{label}.ipynb", folder / f"{label}-results"
    shutil.rmtree(results, ignore_errors=True)
    if entry.name == RESULTS_PAGE:  # it summarises results: give both runs the same ones
        published = results_dir(root, str(record.get("profile")))
        if published.is_dir():
            shutil.copytree(published, results)
    results.mkdir(parents=True, exist_ok=True)
    env = package_env(package_root) | install_clock(root / PROMOTE_DIR / "ipython")
    outcome = execute_notebook(entry.source, output, SMOKE, timeout, folder / f"{label}.log",
                               results, extra_env=env)
    return outcome, output, results


def promote_chapter(root: Path, entry: TocEntry, record: dict[str, Any],
                    packages: dict[str, Path], timeout: float) -> list[str]:
    """Run the chapter with both packages; the differences (empty: identical)."""
    profile = str(record.get("profile"))
    definitions = [profile_definition(package_root, profile) for package_root in packages.values()]
    if definitions[0] != definitions[1]:
        return [f"the definition of profile {profile}, which it was executed in, changed: "
                f"{definitions[0]} -> {definitions[1]}"[:400]]
    folder = root / PROMOTE_DIR / entry.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    runs = {}
    for label, package_root in packages.items():
        outcome, output, results = smoke_run(root, entry, record, package_root, folder,
                                             label, timeout)
        if not outcome.ok:
            return [f"the smoke run with the {label} package failed after "
                    f"{outcome.wall_s:.1f} s ({outcome.message}); log: "
                    f"{relative(folder / f'{label}.log', root)}"]
        runs[label] = (output, results)
    (nb_a, res_a), (nb_b, res_b) = runs.values()
    replacements = {}
    for label, package_root in packages.items():
        for path in {str(package_root), str(package_root.resolve())}:
            replacements[path] = "<package>"
        for path in {str(runs[label][1]), str(runs[label][1].resolve())}:
            replacements[path] = "<results>"
    return (compare_notebooks(read_notebook(nb_a), read_notebook(nb_b), replacements)
            + compare_results(res_a, res_b, replacements))


def promoted_record(record: dict[str, Any], current: str, since: str, commit: str,
                    source_sha: str | None = None) -> dict[str, Any]:
    """``record`` moved to the package hash ``current`` (and to the notebook hash
    ``source_sha`` when given), saying so under ``promoted``."""
    old = record["package_sha256"]
    before = record.get("promoted") or {}
    executed = before.get("executed_package_sha256", old)
    moved = source_sha is not None and source_sha != record["source_sha256"]
    by = [BY_PICKS] * moved + [BY] * (old != current)
    promoted = {"from_package_sha256": old, "executed_package_sha256": executed,
                "since": since, "since_commit": commit, "by": "; ".join(by),
                "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds")}
    if moved:
        promoted |= {"from_source_sha256": record["source_sha256"], "executed_source_sha256":
                     before.get("executed_source_sha256", record["source_sha256"])}
    return dict(record, package_sha256=current, promoted=promoted,
                source_sha256=source_sha if moved else record["source_sha256"])


def record_promotion(root: Path, entry: TocEntry, record: dict[str, Any], current: str,
                     since: str, commit: str) -> str | None:
    """Write the promoted record (and, when the notebook moved, give the executed copy its
    new sources); its ``by``, or None when the record changed meanwhile (a `run`)."""
    assert entry.source is not None
    manifest = load_manifest(root)  # re-read: a `run` may have recorded other chapters
    if manifest["chapters"].get(entry.name) != record:
        return None
    source_sha = notebook_hash(entry.source)
    if source_sha != record["source_sha256"]:
        adopt_sources(entry.output, entry.source)
    promoted = promoted_record(record, current, since, commit, source_sha)
    manifest["chapters"][entry.name] = promoted
    save_manifest(manifest, root)
    return str(promoted["promoted"]["by"])


# ------------------------------------------------------------------------ the command


def command_promote(root: Path, since: str, only: Sequence[str] | None,
                    timeout: float | None = None) -> int:
    """``promote --since REV``: 0 when every candidate was promoted (or there was none)."""
    selected = select_chapters(parse_toc(root), only)
    manifest = load_manifest(root)
    current = package_hash(root)
    candidates = []
    for entry in selected:
        record = manifest["chapters"].get(entry.name)
        reason = why_not_candidate(root, entry, record, current)
        if reason is None:
            candidates.append((entry, record))
        else:
            print(f"{entry.name}: skipped: {reason}", flush=True)
    kept: list[str] = []
    # the same package, the notebook changed only in full= picks: no smoke run can differ
    for entry, record in [c for c in candidates if c[1].get("package_sha256") == current]:
        candidates.remove((entry, record))
        if record_promotion(root, entry, record, current, since, resolve_commit(root, since)):
            print(f"{entry.name}: promoted to its notebook's new hash without a run ({BY_PICKS}"
                  f", and it was executed in {record.get('profile')})", flush=True)
        else:
            kept.append(entry.name)
            print(f"{entry.name}: its record changed meanwhile; left as it is", flush=True)
    if not candidates:
        if not kept:
            print("book promote: no chapter is stale only through the package", flush=True)
        return 1 if kept else 0
    staged = root / PROMOTE_DIR / "packages"
    packages = {"before": staged / "before", "after": staged / "after"}
    commit = export_package(root, since, packages["before"])
    copy_package(root, packages["after"])
    rev_sha = package_hash(packages["before"])
    if package_hash(packages["after"]) != current:
        raise BookError(f"{PACKAGE}/ changed while it was being copied; try again")
    print(f"book promote: package of {since} (commit {commit[:12]}): {rev_sha[:12]}; current "
          f"package: {current[:12]}; {len(candidates)} candidate(s), two smoke runs each",
          flush=True)
    limit = timeout if timeout is not None else DEFAULT_TIMEOUT_S[SMOKE]
    with stop_on_signals():
        try:
            for index, (entry, record) in enumerate(candidates, 1):
                prefix = f"[{index}/{len(candidates)}] {entry.name}"
                if record.get("package_sha256") != rev_sha:
                    kept.append(entry.name)
                    print(f"{prefix}: skipped: it was executed with package "
                          f"{str(record.get('package_sha256'))[:12]}, not with the package "
                          f"of {since} ({rev_sha[:12]}); name the revision it was executed "
                          "with", flush=True)
                    continue
                for package_root in packages.values():
                    check_import(package_root, entry.source.parent)  # type: ignore[union-attr]
                print(f"{prefix}: two smoke runs ...", flush=True)
                differences = promote_chapter(root, entry, record, packages, limit)
                if differences:
                    kept.append(entry.name)
                    runs = relative(root / PROMOTE_DIR / entry.name, root)
                    print(f"{prefix}: NOT promoted, it stays stale ({len(differences)} "
                          f"difference(s); the runs are in {runs}):\n"
                          + "\n".join(f"    {d}" for d in differences[:SHOWN]), flush=True)
                    continue
                by = record_promotion(root, entry, record, current, since, commit)
                if by is None:
                    kept.append(entry.name)
                    print(f"{prefix}: its record changed during the smoke runs; left as it is",
                          flush=True)
                    continue
                print(f"{prefix}: promoted to package {current[:12]} ({by})", flush=True)
        except (Interrupted, KeyboardInterrupt) as error:
            signum = error.signum if isinstance(error, Interrupted) else signal.SIGINT
            print(f"book promote: stopped by {signal.Signals(signum).name}; the chapters "
                  "promoted so far are recorded", file=sys.stderr, flush=True)
            return 128 + signum
    if kept:
        print(f"book promote: not promoted: {', '.join(kept)}; `python -m tools.book run` "
              "re-executes them", flush=True)
        return 1
    print(f"book promote: {len(candidates)} chapter(s) promoted", flush=True)
    return 0
