"""The one GPU command (tools/gpu_edition.sh) on the CPU: it fills a chapter's run store
inside its budget, a fill stopped at the budget keeps every run it finished, the next call
trains only what is missing, and a machine without CUDA is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "gpu_edition.sh"


def edition(tmp: Path, **env: str) -> subprocess.CompletedProcess:
    """The script on chapter 01's smoke runs, its store under ``tmp/root``, no benchmarks."""
    env = {**os.environ, "OUT": str(tmp / "out"), "PYTHON": sys.executable, "BENCH_S": "0",
           "GPU_EDITION_ALLOW_CPU": "1", "GPU_EDITION_PROFILE": "smoke", "GPU_EDITION_ONLY": "01",
           "GPU_EDITION_ROOT": str(tmp / "root"), **env}
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True,
                          timeout=600)


def test_a_fill_cut_at_the_budget_keeps_its_runs_and_the_next_one_finishes(tmp_path) -> None:
    cut = edition(tmp_path, BUDGET_S="9", MIN_START_S="1")  # stopped by `timeout` mid-fill
    assert cut.returncode == 1, cut.stdout + cut.stderr
    kept = sorted((tmp_path / "root" / "results" / "smoke" / "01_lenet_to_alexnet").glob("*.json"))
    for path in kept:  # whole records only: each is written atomically
        assert json.loads(path.read_text())["spec_hash"]
    full = edition(tmp_path, BUDGET_S="300")
    assert full.returncode == 0, full.stdout + full.stderr
    assert f"{len(kept)} of 21 runs stored; training {21 - len(kept)}" in full.stdout
    back = list((tmp_path / "out" / "results" / "smoke" / "01_lenet_to_alexnet").glob("*.json"))
    assert len(back) == 21 and "21 of 21 runs stored" in full.stdout
    assert (tmp_path / "out" / "gpu_edition.log").is_file()


def test_the_script_refuses_a_machine_without_cuda(tmp_path) -> None:
    proc = edition(tmp_path, GPU_EDITION_ALLOW_CPU="", CUDA_VISIBLE_DEVICES="")
    assert proc.returncode == 1 and "no CUDA GPU" in proc.stdout + proc.stderr
