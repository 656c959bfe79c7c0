"""``python -m tools.gpu_edition {check,estimates,carry,all}``: see tools/gpu_edition.sh."""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import sys
import time
from pathlib import Path

from .budget import Budget
from .carry import command_carry

ROOT = Path(__file__).resolve().parents[2]
ARCHIVE = "gpu_edition.tar.gz"


def command_check(allow_cpu: bool) -> int:
    """Which torch and GPU this machine has; 1 when there is no CUDA (unless allowed)."""
    import torch
    import torchvision

    # the newest APIs the package calls, checked before minutes are spent (the GPU image has
    # shown torch 2.11 / torchvision 0.26; the lock has 2.14–2.15 / 0.29)
    missing = [name for name, ok in (
        ("torch.compiler.cudagraph_mark_step_begin",
         hasattr(getattr(torch, "compiler", None), "cudagraph_mark_step_begin")),
        ("torch.amp.GradScaler", hasattr(torch.amp, "GradScaler")),
        ("torch.optim.SGD(fused=...)", "fused" in inspect.signature(torch.optim.SGD).parameters),
        ("torch.utils.flop_counter", importlib.util.find_spec("torch.utils.flop_counter") is not None),
    ) if not ok]
    if missing:
        print(f"gpu-edition: torch {torch.__version__} lacks {', '.join(missing)}: carry a "
              f"newer torch or use an image with torch >= 2.4", file=sys.stderr)
        return 1
    cuda = torch.cuda.is_available()
    where = (f"{torch.cuda.get_device_name(0)}, compute capability "
             f"{'.'.join(map(str, torch.cuda.get_device_capability(0)))}" if cuda else "no CUDA")
    print(f"gpu-edition: torch {torch.__version__}, torchvision {torchvision.__version__}, {where}")
    if not cuda and not allow_cpu:
        print("gpu-edition: this machine has no CUDA GPU; the full profile needs one "
              "(GPU_EDITION_ALLOW_CPU=1 to run anyway)", file=sys.stderr)
        return 1
    return 0


# Assumed cost of one eager training step beyond its FLOPs (kernel launches, the Python
# loop): the reading of the full profile puts small networks at 2–8 ms a step.
STEP_OVERHEAD_S = 0.004


def chapter_seconds(results: Path) -> dict[str, dict[str, float]]:
    """Per chapter, every seed of the full profile: FLOP time (``tools.book estimates``),
    training steps, and their sum with :data:`STEP_OVERHEAD_S` a step."""
    from tools.book.estimates import estimate_rows

    frame = estimate_rows(results)
    if frame.empty:
        return {}
    w = frame["runs like it"]
    frame["flop_s"] = frame["minutes"] * 60 * w
    frame["steps"] = frame["epochs"] * -(-frame["train images"] // frame["batch"]) * w
    per = frame.groupby("chapter")[["flop_s", "steps"]].sum()
    per["seconds"] = per["flop_s"] + per["steps"] * STEP_OVERHEAD_S
    return {c: {k: round(float(v), 1) for k, v in r.items()} for c, r in per.iterrows()}


def command_estimates(results: Path, out: Path) -> int:
    """Write the per-chapter seconds the budget uses to skip a chapter that cannot fit."""
    from tools.book.estimates import UTILISATION

    per = chapter_seconds(results)
    if not per:
        print(f"estimates: no dry-run results under {results} (run `make dryrun` first)")
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"utilisation": UTILISATION, "step_overhead_s": STEP_OVERHEAD_S,
                               "seconds": {c: r["seconds"] for c, r in per.items()},
                               "chapters": per}, indent=1) + "\n")
    print("| chapter | training steps | FLOP time (s) | with 4 ms a step (s) |\n|---|---:|---:|---:|")
    for c, r in per.items():
        print(f"| {c} | {r['steps']:,.0f} | {r['flop_s']:.0f} | {r['seconds']:.0f} |")
    print(f"estimates: {len(per)} chapters, {sum(r['seconds'] for r in per.values()):.0f} s "
          f"in all -> {out}")
    return 0


def _items(root: Path, since: float, chapters: list[dict], profile: str) -> list:
    """What to pack, by priority: logs and records, results and benchmark JSON written by
    this run, the executed chapters, then the partial ones."""
    from tools.book.paths import results_dir

    from .pack import Item

    def fresh(paths):
        return [p for p in paths if p.is_file() and p.stat().st_mtime >= since]

    items = [Item(p, str(p.relative_to(root)), 0)
             for p in fresh([*(root / "_build" / "logs").glob("*.log"),
                             root / "_build" / "gpu-edition" / "bench.log",
                             root / "book" / ".manifest.json"])]
    items += [Item(p, str(p.relative_to(root)), 1)
              for p in fresh([*results_dir(root, profile).rglob("*.json"),
                              *(root / "benchmarks" / "results").glob("*.json")])]
    for record in chapters:
        name = record["chapter"]
        items += [Item(p, str(p.relative_to(root)), 2) for p in fresh([root / "book" / f"{name}.ipynb"])]
        items += [Item(p, str(p.relative_to(root)), 3)
                  for p in fresh([root / "_build" / "failed" / f"{name}.ipynb"])]
    return items


def command_all(args: argparse.Namespace) -> int:
    """The edition, then the benchmarks, then one archive under ``args.out``."""
    from .bench import run_benchmarks
    from .edition import chapter_names, load_estimates, run_edition
    from .pack import pack

    since = time.time() - 1
    # a budget spent before it starts (a slow install) still packs: nothing else starts
    budget = Budget(max(args.budget, 1.0), reserve_s=args.bench_s + args.pack_s)
    names = chapter_names(ROOT)
    if args.only:
        names = [n for n in names if any(n.startswith(o) for o in args.only)]
    chapters = [] if args.skip_edition else run_edition(
        ROOT, names, budget, profile=args.profile, estimates=load_estimates(args.estimates))
    budget.reserve_s = args.pack_s  # the benchmarks may use what the chapters left
    bench_log = ROOT / "_build" / "gpu-edition" / "bench.log"
    bench_log.parent.mkdir(parents=True, exist_ok=True)
    benchmarks = [] if args.skip_bench else run_benchmarks(ROOT, budget, bench_log)
    summary = {"profile": args.profile, "budget_s": args.budget,
               "elapsed_s": round(budget.elapsed(), 1),
               "complete": bool(chapters) and all(c["status"] == "done" for c in chapters),
               "chapters": chapters, "benchmarks": benchmarks}
    record = pack(_items(ROOT, since, chapters, args.profile), args.out / ARCHIVE, summary)
    (args.out / "gpu_edition_status.json").write_text(json.dumps(record, indent=1) + "\n")
    done = sum(c["status"] == "done" for c in chapters)
    print(f"gpu-edition: {done}/{len(chapters)} chapters done, "
          f"{len(record['packed'])} files in {args.out / ARCHIVE} "
          f"({record['archive_bytes'] / 2**20:.1f} MiB), "
          f"{len(record['left_out_over_size_limit'])} left out; {budget.elapsed():.0f} s")
    return 0 if summary["complete"] or args.skip_edition else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.gpu_edition", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="torch, torchvision and the GPU here")
    c.add_argument("--allow-cpu", action="store_true")
    e = sub.add_parser("estimates", help="per-chapter seconds from a dry run, for the budget")
    e.add_argument("results", nargs="?", type=Path, default=ROOT / "_build" / "dryrun-results")
    e.add_argument("--out", type=Path, default=ROOT / ".whl" / "estimates.json")
    k = sub.add_parser("carry", help="what a device run would send, against 64 MiB")
    k.add_argument("paths", nargs="*", default=[".whl", "data"])
    a = sub.add_parser("all", help="edition + benchmarks + archive, inside --budget seconds")
    a.add_argument("--budget", type=float, default=540.0, help="seconds for everything (540)")
    a.add_argument("--bench-s", type=float, default=150.0,
                   help="seconds kept from the chapters for the benchmarks (150)")
    a.add_argument("--pack-s", type=float, default=15.0, help="seconds kept for packing (15)")
    a.add_argument("--profile", default="full")
    a.add_argument("--only", nargs="+", metavar="CHAPTER", help="chapter name prefixes")
    a.add_argument("--estimates", type=Path, default=ROOT / ".whl" / "estimates.json")
    a.add_argument("--skip-edition", action="store_true")
    a.add_argument("--skip-bench", action="store_true")
    a.add_argument("--out", type=Path, default=ROOT / "_build" / "gpu-edition")
    args = p.parse_args(argv)
    if args.command == "check":
        return command_check(args.allow_cpu)
    if args.command == "estimates":
        return command_estimates(args.results, args.out)
    if args.command == "carry":
        return command_carry(ROOT, args.paths)
    return command_all(args)


if __name__ == "__main__":
    sys.exit(main())
