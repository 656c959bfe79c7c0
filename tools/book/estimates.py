"""What the GPU edition will cost, from a dry run: memory and time of every ``full`` run.

``COURSE_PROFILE=dryrun`` executes each chapter with the full profile's models and run
lists but a few tiny batches per run (see ``alexnet_course/course/dryrun.py``); each run's
results JSON then holds the real run's batch size, epochs, training and evaluation images,
its forward FLOPs per image and an estimate of its GPU memory. This module reads them and
prints, per run and per chapter, the memory at the real batch size and the time on one
H100/H200 from the FLOPs at a stated utilisation; it fails when a run would not fit in
:data:`MEMORY_LIMIT_GIB`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from alexnet_course.course.profiles import PROFILES

PEAK_TFLOPS = 989.0  # H100/H200 SXM, dense bf16 tensor-core peak (NVIDIA's data sheet)
UTILISATION = 0.20  # assumed: small CNNs at batch 128 keep a GPU busy far below its peak
OVERHEAD_GIB = 1.0  # CUDA context and cuDNN workspace, on top of the estimate
MEMORY_LIMIT_GIB = 80.0  # an H100's memory: every run must fit


def estimate_rows(results: Path) -> pd.DataFrame:
    """One row per dry-run run found under ``results`` (``<chapter>/<run>.json``)."""
    rows = []
    for path in sorted(results.glob("*/*.json")):
        if path.name.startswith("_"):
            continue
        row = json.loads(path.read_text()).get("row") or {}
        if "full batch" not in row:
            continue  # not a train_run of a dry run
        flops = float(row["GFLOPs"]) * 1e9
        epochs, seeds_weight = int(row["full epochs"]), _seed_weight(row)
        # a training step is about three forward passes (forward, two for the backward)
        work = epochs * (3 * flops * row["full train examples"] + flops * row["full eval examples"])
        seconds = work / (PEAK_TFLOPS * 1e12 * UTILISATION)
        rows.append({"chapter": path.parent.name, "run": row["run"], "model": row["model"],
                     "input": row["input"], "batch": int(row["full batch"]), "epochs": epochs,
                     "train images": int(row["full train examples"]),
                     "GFLOPs/image": float(row["GFLOPs"]),
                     "memory GiB": row["full memory MiB"] / 1024 + OVERHEAD_GIB,
                     "minutes": seconds / 60, "runs like it": seeds_weight})
    return pd.DataFrame(rows)


def _seed_weight(row: dict) -> float:
    """How many real runs this dry-run run stands for: a dry run trains at most
    ``max_seeds`` seeds of a variant that the full profile trains ``full seeds`` times."""
    full = row.get("full seeds")
    if not full:
        return 1.0
    return full / min(full, PROFILES["dryrun"].max_seeds)


def command_estimates(results: Path) -> int:
    """Print the per-run and per-chapter table; 1 when a run needs more than the limit."""
    frame = estimate_rows(results)
    if frame.empty:
        print(f"estimates: no dry-run results under {results} (execute the chapters with "
              f"COURSE_PROFILE=dryrun COURSE_RESULTS_DIR={results} first)")
        return 1
    pd.set_option("display.width", 200)
    print(f"GPU estimates of the full profile ({len(frame)} runs; time from FLOPs at "
          f"{UTILISATION:.0%} of an H100/H200's {PEAK_TFLOPS:.0f} dense bf16 TFLOP/s; memory "
          f"in float32 at the real batch size + {OVERHEAD_GIB:.0f} GiB):")
    print(frame.sort_values("memory GiB", ascending=False).round(
        {"GFLOPs/image": 3, "memory GiB": 2, "minutes": 2}).to_string(index=False))
    frame["total minutes"] = frame["minutes"] * frame["runs like it"]
    per_chapter = frame.groupby("chapter").agg(runs=("run", "size"),
                                               largest_GiB=("memory GiB", "max"),
                                               minutes=("total minutes", "sum"))
    print("\nper chapter (minutes count every seed of the full profile):")
    print(per_chapter.round(2).to_string())
    print(f"\nwhole book: {per_chapter['minutes'].sum():.1f} minutes on one GPU (estimate)")
    too_big = frame[frame["memory GiB"] > MEMORY_LIMIT_GIB]
    if not too_big.empty:
        print(f"\nestimates: {len(too_big)} run(s) over {MEMORY_LIMIT_GIB:.0f} GiB: "
              + ", ".join(f"{r['chapter']}/{r['run']} ({r['memory GiB']:.0f} GiB)"
                          for _, r in too_big.iterrows()))
        return 1
    if not math.isfinite(per_chapter["minutes"].sum()):
        print("estimates: a run has no FLOP count")
        return 1
    return 0
