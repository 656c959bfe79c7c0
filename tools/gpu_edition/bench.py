"""The GPU benchmarks (benchmarks/NOTES.md) in what is left of the budget, most wanted first.

Each step is a subprocess stopped at its deadline; ``bench_training`` writes its JSON after
every row, so a stopped step keeps the rows that finished.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .budget import Budget

RESULTS = Path("benchmarks") / "results"
# (name, arguments of `python -m ...`, minimum seconds worth starting it with)
STEPS: list[tuple[str, list[str], float]] = [
    # AlexNet at 224 carries the GPU targets (≥ 5× d2l, ≥ 40,000 examples/s); ours first
    ("training_cuda_alexnet", ["benchmarks.bench_training", "--device", "cuda", "--models",
                               "alexnet", "--out", str(RESULTS / "training_cuda_alexnet.json")], 60),
    ("lrn_cuda", ["benchmarks.bench_lrn", "--device", "cuda", "--batches", "8", "32", "128",
                  "--out", str(RESULTS / "lrn_cuda.json")], 20),
    ("training_cuda_small", ["benchmarks.bench_training", "--device", "cuda", "--models", "lenet",
                             "nin", "googlenet", "vgg_small",
                             "--out", str(RESULTS / "training_cuda_small.json")], 60),
]


def run_step(root: Path, args: list[str], timeout_s: float, log_path: Path) -> str:
    """Run ``python -m args`` in its own process group, stopped after ``timeout_s``."""
    with open(log_path, "a", encoding="utf-8") as out:
        out.write(f"$ {sys.executable} -m {' '.join(args)}\n")
        out.flush()
        proc = subprocess.Popen([sys.executable, "-m", *args], cwd=root, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env=dict(os.environ, PYTHONUNBUFFERED="1"))
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            return f"stopped at the budget after {timeout_s:.0f} s (rows written so far kept)"
    return "done" if rc == 0 else f"failed (exit status {rc})"


def run_benchmarks(root: Path, budget: Budget, log_path: Path, *,
                   steps: list[tuple[str, list[str], float]] = STEPS,
                   step_runner: Callable[[Path, list[str], float, Path], str] = run_step,
                   log: Callable[[str], None] = print) -> list[dict]:
    """Each step in order while the budget (its reserve excluded) allows one."""
    statuses = []
    for name, args, min_s in steps:
        why_not = budget.decide(None, min_start_s=min_s)
        if why_not is not None:
            statuses.append({"benchmark": name, "status": why_not, "seconds": 0.0})
            log(f"gpu-edition: benchmark {name}: {why_not}")
            continue
        t0 = time.monotonic()
        status = step_runner(root, args, budget.remaining(), log_path)
        statuses.append({"benchmark": name, "status": status,
                         "seconds": round(time.monotonic() - t0, 1)})
        log(f"gpu-edition: benchmark {name}: {status}")
    return statuses
