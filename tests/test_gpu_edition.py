"""The one GPU command (tools/gpu_edition.sh) on the CPU: it fills a chapter's run store
inside its budget, a fill stopped at the budget keeps every run it finished, the next call
trains only what is missing, and a machine without CUDA is refused."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from alexnet_course.course.protocol import VERDICTS

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "gpu_edition.sh"


def edition(tmp: Path, **env: str) -> subprocess.CompletedProcess:
    """The script on chapter 01's smoke runs, its store under ``tmp/root``, no benchmarks."""
    env = {**os.environ, "OUT": str(tmp / "out"), "PYTHON": sys.executable, "BENCH_S": "0",
           "GPU_EDITION_ALLOW_CPU": "1", "GPU_EDITION_PROFILE": "smoke", "GPU_EDITION_ONLY": "01",
           "GPU_EDITION_ROOT": str(tmp / "root"), **env}
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True,
                          timeout=600)


def runs_in(folder: Path) -> list[Path]:
    """The stored runs of a chapter's store folder (its verdicts.json is not a run)."""
    return sorted(p for p in folder.glob("*.json") if p.name != VERDICTS)


def test_a_fill_cut_at_the_budget_keeps_its_runs_and_the_next_one_finishes(tmp_path) -> None:
    cut = edition(tmp_path, BUDGET_S="9", MIN_START_S="1")  # stopped by `timeout` mid-fill
    assert cut.returncode == 1, cut.stdout + cut.stderr
    kept = runs_in(tmp_path / "root" / "results" / "smoke" / "01_lenet_to_alexnet")
    for path in kept:  # whole records only: each is written atomically
        assert json.loads(path.read_text())["spec_hash"]
    full = edition(tmp_path, BUDGET_S="540")
    assert full.returncode == 0, full.stdout + full.stderr
    # the fill's own count of the chapter's runs (its declarations decide how many)
    stored, total, training = map(int, re.search(
        r"(\d+) of (\d+) runs stored; training (\d+)", full.stdout).groups())
    assert stored == len(kept) < total and training == total - len(kept)
    back = tmp_path / "out" / "results" / "smoke" / "01_lenet_to_alexnet"
    assert len(runs_in(back)) == total and f"{total} of {total} runs stored" in full.stdout
    assert (back / VERDICTS).is_file()  # the completed fill judged its comparisons
    assert f"gpu-edition: {total} stored runs" in full.stdout
    assert (tmp_path / "out" / "gpu_edition.log").is_file()


def test_the_script_refuses_a_machine_without_cuda(tmp_path) -> None:
    proc = edition(tmp_path, GPU_EDITION_ALLOW_CPU="", CUDA_VISIBLE_DEVICES="")
    assert proc.returncode == 1 and "no CUDA GPU" in proc.stdout + proc.stderr
