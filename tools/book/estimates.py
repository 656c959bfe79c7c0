"""``estimates``: what the GPU edition will cost, from a dry run of every ``full`` run.

``COURSE_PROFILE=dryrun`` executes each chapter with the full profile's models and run lists
but a few tiny batches per run (``alexnet_course/course/dryrun.py``); each run's JSON holds
the real run's batch size, epochs, images, FLOPs per image and GPU memory. The time model
(README, "How long it takes"): per step the larger of its eager launch cost (a floor, or a
cost per leaf module of a registry model) and its FLOPs at :data:`UTILISATION` of the bf16
peak, plus :data:`RUN_SETUP_S` a run and :data:`CHAPTER_SETUP_S` a chapter.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import pandas as pd
import torch

from alexnet_course.course.profiles import PROFILES
from alexnet_course.models import get_model

PEAK_TFLOPS = 989.0  # H100/H200 SXM, dense bf16 tensor-core peak (NVIDIA's data sheet)
# Assumed. NVIDIA's ResNet-50 v1.5 in PyTorch with AMP trains 2,470 img/s on one A100 80GB
# (DeepLearningExamples, pytorch-21.03 container): 2,470 × 3 × 8.2 GFLOPs = 61 TFLOP/s, 20 %
# of the A100's 312; an H100/H200 has 3.2× that peak but runs such CNNs about 2× faster
# (≈ 12 %), and this course's loop is not tuned like NVIDIA's (no DALI, no CUDA graphs): 10 %.
UTILISATION = 0.10
# Assumed: an eager training step (forward, backward, fused optimiser, autocast casts,
# on-device augmentation and metrics: 50–150 kernel launches at ~10–20 µs of CPU each) costs
# ≥ 3 ms whatever the batch; an evaluation step (forward only) ≥ 1 ms.
TRAIN_STEP_S = 3e-3
EVAL_STEP_S = 1e-3
# Assumed from ResNet-50 (≈ 160 leaf modules), whose eager training step at a small batch
# takes ≈ 10–20 ms whatever the GPU: ≈ 80 µs a module to train (forward, backward, the
# optimiser's share), ≈ 25 µs to evaluate.
TRAIN_PER_MODULE_S = 80e-6
EVAL_PER_MODULE_S = 25e-6
# Assumed: a run's model to the GPU, cuDNN autotuning of its shapes, FLOP count and JSON
RUN_SETUP_S = 1.0
CHAPTER_SETUP_S = 15.0  # kernel start, imports, CUDA context, data to the GPU, figures, glue
OVERHEAD_GIB = 1.0  # CUDA context and cuDNN workspace, on top of the estimate
MEMORY_LIMIT_GIB = 80.0  # an H100's memory: every run must fit


def run_seconds(gflops: float, batch: int, epochs: int, train: int, evaluated: int,
                modules: int = 0) -> float:
    """Estimated seconds of one run on one H100/H200 (see the module's time model);
    ``modules``: the network's leaf modules (0: unknown, the floors apply)."""
    rate = PEAK_TFLOPS * 1e12 * UTILISATION
    # a training step is about three forward passes (forward, two for the backward)
    train_step = max(TRAIN_STEP_S, modules * TRAIN_PER_MODULE_S, 3 * gflops * 1e9 * batch / rate)
    eval_step = max(EVAL_STEP_S, modules * EVAL_PER_MODULE_S, gflops * 1e9 * batch / rate)
    per_epoch = math.ceil(train / batch) * train_step + math.ceil(evaluated / batch) * eval_step
    return RUN_SETUP_S + epochs * per_epoch


@functools.lru_cache(maxsize=None)
def _leaf_modules(name: str, kwargs: str) -> int:
    try:
        with torch.device("meta"):
            net = get_model(name, **json.loads(kwargs))
    except Exception:  # noqa: BLE001 - a factory's class name, a swapped module: unknown
        return 0
    return sum(1 for m in net.modules() if not list(m.children()))


def leaf_modules(record: dict) -> int:
    """Leaf modules of the network of a dry-run results JSON, rebuilt on the meta device
    (0: unknown, the floors apply)."""
    meta = record.get("meta") or {}
    kwargs = meta.get("model_kwargs")
    if not isinstance(meta.get("model_name"), str) or not isinstance(kwargs, dict):
        return 0
    kwargs = {"in_channels": (meta.get("image_shape") or [1])[0], **kwargs}
    return _leaf_modules(meta["model_name"], json.dumps(kwargs, sort_keys=True))


def estimate_rows(results: Path) -> pd.DataFrame:
    """One row per dry-run run found under ``results`` (``<chapter>/<run>.json``)."""
    rows = []
    for path in sorted(results.glob("*/[!_]*.json")):
        record = json.loads(path.read_text())
        row = record.get("row") or {}
        if "full batch" not in row:
            continue  # not a train_run of a dry run
        batch, epochs = int(row["full batch"]), int(row["full epochs"])
        train, evaluated = int(row["full train examples"]), int(row["full eval examples"])
        modules = leaf_modules(record)
        # the real runs it stands for: a dry run trains at most max_seeds seeds of a variant
        seeds = row.get("full seeds")
        stands_for = seeds / min(seeds, PROFILES["dryrun"].max_seeds) if seeds else 1.0
        seconds = run_seconds(float(row["GFLOPs"]), batch, epochs, train, evaluated, modules)
        rows.append({"chapter": path.parent.name, "run": row["run"], "model": row["model"],
                     "input": row["input"], "batch": batch, "epochs": epochs,
                     "train images": train, "steps": epochs * math.ceil(train / batch),
                     "GFLOPs/image": float(row["GFLOPs"]), "modules": modules or None,
                     "memory GiB": row["full memory MiB"] / 1024 + OVERHEAD_GIB,
                     "minutes": seconds / 60, "runs like it": stands_for})
    return pd.DataFrame(rows)


def command_estimates(results: Path) -> int:
    """Print the per-run and per-chapter table; 1 when a run needs more than the limit."""
    frame = estimate_rows(results)
    if frame.empty:
        print(f"estimates: no dry-run results under {results} (execute the chapters with "
              f"COURSE_PROFILE=dryrun COURSE_RESULTS_DIR={results} first)")
        return 1
    pd.set_option("display.width", 200)
    print(f"GPU estimates of the full profile ({len(frame)} dry-run runs): minutes on one "
          "H100/H200 (the time model of tools/book/estimates.py), memory in float32 at the "
          f"real batch size + {OVERHEAD_GIB:.0f} GiB:")
    print(frame.sort_values("memory GiB", ascending=False).round(
        {"GFLOPs/image": 3, "memory GiB": 2, "minutes": 2}).to_string(index=False))
    # per chapter, every seed of the full profile counted (the "runs like it")
    weighted = frame.assign(**{c: frame[c] * frame["runs like it"] for c in ("steps", "minutes")})
    chapters = weighted.groupby("chapter").agg(
        runs=("runs like it", "sum"), steps=("steps", "sum"), largest_GiB=("memory GiB", "max"),
        minutes=("minutes", "sum")).astype({"runs": int, "steps": int})
    chapters["minutes"] += CHAPTER_SETUP_S / 60
    print("\nper chapter (runs, steps and minutes count every seed of the full profile):")
    print(chapters.round(2).to_string())
    total = chapters["minutes"].sum()
    print(f"\nwhole book: {total:.1f} minutes on one GPU, {int(chapters['steps'].sum()):,} "
          "training steps (estimate)")
    too_big = frame[frame["memory GiB"] > MEMORY_LIMIT_GIB]
    if not too_big.empty:
        print(f"\nestimates: {len(too_big)} run(s) over {MEMORY_LIMIT_GIB:.0f} GiB: "
              + ", ".join(f"{r['chapter']}/{r['run']} ({r['memory GiB']:.0f} GiB)"
                          for _, r in too_big.iterrows()))
        return 1
    if not math.isfinite(total):
        print("estimates: a run has no FLOP count")
        return 1
    return 0
