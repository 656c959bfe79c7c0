"""Fill a chapter's run store: ``python -m alexnet_course.run CHAPTER [--profile standard]``.

Trains every run of the chapter's declared experiments (:mod:`.chapters`) that the store
lacks, one at a time, and writes each finished run atomically under
``results/<profile>/<chapter>/``; a run in progress is checkpointed every epoch under
``_build/checkpoints/``, so a killed fill resumes mid-run, and a stored run is never
trained again unless its spec or ``RECIPE_VERSION`` changed. Built to run for hours in
the background (``nohup python -m alexnet_course.run 02 &``), stopped and restarted at
will. ``--status`` lists the done and missing runs with an estimate of the CPU time left.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from .chapters import chapter_module, second_stage, train, train_all, write_chapter_verdicts
from .course import protocol, store
from .course.chapter import Chapter
from .course.ablations import run_calls, seeded_runs
from .course.experiments import PlannedRun, train_run
from .course.profiles import PROFILES
from .devices import DeviceError, check_device, default_device
from .train import set_seed


def make_chapter(name: str, profile: str, root: Path, *, device: str | None = None,
                 plan_only: bool = False) -> Chapter:
    """The chapter as the store fills it: results under ``root/results/<profile>`` (for
    smoke, the canary's reference, which the test compares fresh smoke runs with),
    checkpoints under ``root/_build``."""
    prof = PROFILES[profile]
    results = root / "results" / profile
    set_seed(0)
    return Chapter(name=name, profile=prof, seed=0, workdir=root, results=results,
                   device=check_device(device) if device else default_device(),
                   checkpoints=root / "_build" / "checkpoints" / profile / name,
                   plan_only=plan_only)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m alexnet_course.run", description=__doc__.split("\n\n")[0])
    p.add_argument("chapter", help="the chapter's name or number, e.g. 01")
    p.add_argument("--profile", default="standard", choices=[n for n in PROFILES if n != "dryrun"])
    p.add_argument("--variant", action="append", help="only this variant (repeatable)")
    p.add_argument("--seeds", type=int, default=None, help="seeds per compared configuration")
    p.add_argument("--status", action="store_true", help="list done and missing runs; train nothing")
    p.add_argument("--root", default=".", help="the checkout (results/ and _build/ are under it)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    args = p.parse_args(argv)
    if args.seeds is not None and args.seeds < 1:
        p.error(f"--seeds must be at least 1, got {args.seeds}")
    if args.device is not None:
        try:
            check_device(args.device)
        except DeviceError as err:
            p.error(f"--device: {err}")
    try:  # a chapter is named, never a path: "../01" would put results outside results/
        store.plain_name(args.chapter, "chapter", "01 or 01_lenet_to_alexnet")
        module = chapter_module(args.chapter)
    except ValueError as error:
        p.error(f"{error}; CHAPTER is a chapter's name or number, e.g. 01")
    prof = PROFILES[args.profile]
    experiments = module.experiments(prof, seeds=args.seeds)
    known = {s.name for e in experiments.values() for s in e.specs}
    unknown = sorted(set(args.variant or ()) - known)
    if unknown:
        p.error(f"no variant {', '.join(unknown)} in {module.NAME}; variants: {', '.join(sorted(known))}")
    root = Path(args.root).resolve()
    ch = make_chapter(module.NAME, args.profile, root, device=args.device, plan_only=True)
    runs = _once(list_runs(ch, experiments, args.variant))
    missing = [(run, why) for run, why in runs if why is not None]
    if args.status:
        print(status_report(ch, runs))
        return 0
    print(f"{module.NAME} ({args.profile}): {len(runs) - len(missing)} of {len(runs)} runs stored; "
          f"training {len(missing)}", flush=True)
    ch = make_chapter(module.NAME, args.profile, root, device=args.device)
    done = train_all(ch, experiments, args.variant)  # stored runs are read, missing ones trained
    print(f"{module.NAME} ({args.profile}): all {len(runs)} runs stored under {ch.results_dir}")
    records = write_chapter_verdicts(ch.results_dir, experiments, done) if args.variant is None else []
    if records:
        path = ch.results_dir / protocol.VERDICTS
        counts = protocol.tally(records)
        print(f"{path}: {counts['comparisons']} comparisons, {counts['higher']} with a direction, "
              f"{counts['equivalent']} equivalent, {counts['undecided']} undecided")
    return 0


def list_runs(ch: Chapter, experiments: dict, variants: list[str] | None) -> list[tuple[str, str | None]]:
    """``(run, why it is missing or None)`` for every run, without training any (``ch``
    plans only: its ``train_run`` raises :class:`PlannedRun`). An experiment declared
    ``after`` another is planned from that one's stored runs, read without training; while
    some of them are missing, its runs wait for them."""
    rows = []
    for exp in experiments.values():
        specs = [s for s in exp.specs if not variants or s.name in variants]
        if exp.after is not None and specs:
            before = list_runs(ch, {exp.after: experiments[exp.after]}, None)
            if any(why is not None for _, why in before):
                rows += [(run, f"waits for the runs of {exp.after!r}")
                         for _, run, _, _, _ in seeded_runs(ch, specs, exp.seeds, exp.common)]
                continue
            reader = replace(ch, plan_only=False, require_stored=True)  # reads, never trains
            exp = exp.given(train(reader, experiments[exp.after]))
            specs = [s for s in exp.specs if not variants or s.name in variants]  # tuned
        first = _planned(ch, specs, exp.seeds, exp.common)
        rows += first
        if exp.more_seeds and (exp.against or exp.same_runs) and specs:
            rows += _second_stage(ch, exp, specs, first)
    return rows


def _once(runs: list[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    """Each run once: two experiments may declare the same spec (chapter 04's VGG-11 at 36
    px answers Q2a and Q2b), which the store trains and keeps once."""
    seen: set[str] = set()
    return [(run, why) for run, why in runs if not (run in seen or seen.add(run))]


def _planned(ch: Chapter, specs: list, seeds: int, common: dict) -> list[tuple[str, str | None]]:
    rows = []
    for run, model, kw in run_calls(ch, specs, seeds, common):
        try:
            train_run(ch, run, model, **kw)
        except PlannedRun as planned:
            rows.append((planned.run, planned.missing))
    return rows


def _second_stage(ch: Chapter, exp: Any, specs: list,
                  first: list[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    """The protocol's second-stage runs: known once the first stage is stored."""
    if any(why is not None for _, why in first):
        return [(f"{exp.question or 'experiment'}: second stage", "waits for the first "
                 f"stage: undecided comparisons then get {exp.more_seeds} seeds")]
    reader = replace(ch, plan_only=False, require_stored=True)
    extend = second_stage(exp, train(reader, replace(exp, more_seeds=None), [s.name for s in specs]))
    more = [s for s in specs if s.name in extend]
    done = {run for run, _ in first}
    return [row for row in _planned(ch, more, exp.more_seeds, exp.common) if row[0] not in done]


def status_report(ch: Chapter, runs: list[tuple[str, str | None]]) -> str:
    """The done and missing runs, and the CPU time the missing ones should take (the
    median wall time of the stored runs of the same variant, else of all stored runs)."""
    walls: dict[str, list[float]] = {}
    for run, why in runs:
        if why is None:
            record = store.read(ch.run_path(run)) or {}
            wall = (record.get("timing") or {}).get("wall_s")
            if wall is not None:
                walls.setdefault(run.split("-s")[0], []).append(wall)
    every = [w for ws in walls.values() for w in ws]
    lines, left, unknown = [], 0.0, 0
    for run, why in runs:
        lines.append(f"{'done   ' if why is None else 'missing'}  {run}" + (f"  ({why})" if why else ""))
        if why is not None:
            known = walls.get(run.split("-s")[0]) or every
            if known:
                left += statistics.median(known)
            else:
                unknown += 1
    done = sum(why is None for _, why in runs)
    estimate = ("nothing left to train" if done == len(runs) else
                f"about {left / 60:.0f} min of CPU time left" if left else "no time estimate yet")
    if unknown:
        estimate += f" ({unknown} runs without a stored run to estimate from)"
    lines.append(f"{ch.name} ({ch.profile.name}): {done} of {len(runs)} runs stored; {estimate}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
