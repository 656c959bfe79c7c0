"""The one GPU command's logic on the CPU: the time budget, the chapter and benchmark
schedule under it, the archive under the size limit, the carry's size, and the script's
plumbing end to end (without CUDA, with nothing to run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tools.gpu_edition import budget as B, edition, pack
from tools.gpu_edition.bench import run_benchmarks
from tools.gpu_edition.carry import carry_bytes

ROOT = Path(__file__).resolve().parents[1]


class Clock:
    """A clock the fake runners advance."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_budget_keeps_its_reserve_and_refuses_late_starts() -> None:
    clock = Clock()
    b = B.Budget(300, reserve_s=100, clock=clock)
    assert b.remaining() == 200 and b.decide(150) is None
    assert "estimated 250 s" in b.decide(250)
    clock.t = 180
    assert b.remaining() == 20 and b.remaining(reserve=False) == 120
    assert "under the 30 s" in b.decide(None)
    clock.t = 1000
    assert b.remaining() == 0
    with pytest.raises(ValueError):
        B.Budget(0)


def test_edition_stops_starting_chapters_near_the_budget() -> None:
    clock = Clock()
    b = B.Budget(400, reserve_s=100, clock=clock)
    ran = []

    def runner(root, name, profile, timeout):
        ran.append((name, profile, round(timeout)))
        if name == "03":  # overruns: stopped by the driver at its timeout
            clock.t += timeout
            return 1
        clock.t += 50
        return 2 if name == "02" else 0

    statuses = edition.run_edition(ROOT, ["01", "big", "02", "03", "04"], b, profile="full",
                                   estimates={"big": 1000.0}, runner=runner, log=lambda m: None)
    by = {s["chapter"]: s["status"] for s in statuses}
    assert by["01"] == "done"
    assert by["big"].startswith("not started: estimated 1000 s")  # skipped, not waited for
    assert by["02"].startswith("failed (exit status 2")
    assert by["03"].startswith("stopped at the budget")
    assert by["04"].startswith("not started")
    assert ran[0] == ("01", "full", 300) and ran[2] == ("03", "full", 200)


def test_benchmarks_run_in_order_while_time_is_left(tmp_path) -> None:
    clock = Clock()
    b = B.Budget(200, reserve_s=20, clock=clock)

    def step(root, args, timeout, log_path):
        clock.t += 150
        return "done"

    steps = [("a", ["x"], 60), ("b", ["y"], 40), ("c", ["z"], 10)]  # 30 s left after a
    statuses = run_benchmarks(ROOT, b, tmp_path / "log", steps=steps, step_runner=step,
                              log=lambda m: None)
    assert [s["status"] for s in statuses][0] == "done"
    assert statuses[1]["status"].startswith("not started") and statuses[2]["status"] == "done"


def test_pack_stays_under_the_limit_and_lists_what_it_left_out(tmp_path) -> None:
    small = tmp_path / "results.json"
    small.write_text(json.dumps({"acc": 0.9}))
    big = tmp_path / "book.ipynb"
    big.write_bytes(os.urandom(200_000))  # incompressible
    items = [pack.Item(big, "book/02.ipynb", 2), pack.Item(small, "results/02/a.json", 1)]
    archive = tmp_path / "out" / "a.tar.gz"
    record = pack.pack(items, archive, {"complete": False}, limit=100_000)
    assert record["packed"] == ["results/02/a.json"]
    assert record["left_out_over_size_limit"] == ["book/02.ipynb"]
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        packed = json.load(tar.extractfile("_build/gpu-edition/PACKED.json"))
    assert names[0] == "_build/gpu-edition/PACKED.json" and "results/02/a.json" in names
    assert packed["complete"] is False and archive.stat().st_size <= 100_000


def test_carry_counts_the_tree_and_the_carried_paths(tmp_path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("/.whl/\n/ignored.bin\n")
    (tmp_path / "kept.txt").write_bytes(b"x" * 1000)
    (tmp_path / "ignored.bin").write_bytes(b"x" * 5000)
    (tmp_path / ".whl").mkdir()
    (tmp_path / ".whl" / "a.whl").write_bytes(b"x" * 3000)
    sizes = carry_bytes(tmp_path, [".whl", "data"])
    assert sizes["tree"] == 1000 + len("/.whl/\n/ignored.bin\n")
    assert sizes[".whl"] == 3000 and sizes["data"] == 0


def test_the_script_packs_an_archive_without_a_gpu(tmp_path) -> None:
    """The shell command's plumbing: no wheels carried (nothing installed), no CUDA
    allowed, nothing to run; it still writes the archive and the status to $OUT."""
    env = dict(os.environ, OUT=str(tmp_path), PYTHON=sys.executable, BUDGET_S="5",  # spent before it starts: still packs
               GPU_EDITION_WHEELS=str(tmp_path / "none"),
               GPU_EDITION_ALLOW_CPU="1", GPU_EDITION_ARGS="--skip-edition --skip-bench")
    proc = subprocess.run(["bash", str(ROOT / "tools" / "gpu_edition.sh")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "gpu-edition: torch" in proc.stdout
    status = json.loads((tmp_path / "gpu_edition_status.json").read_text())
    assert status["chapters"] == [] and status["archive_bytes"] <= pack.FILE_LIMIT_BYTES
    assert (tmp_path / "gpu_edition.tar.gz").is_file() and (tmp_path / "gpu_edition.log").is_file()
    assert len(list(tmp_path.iterdir())) <= 8  # at most 8 files come back


def test_the_script_refuses_a_machine_without_cuda(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GPU_EDITION_ALLOW_CPU"}
    env.update(OUT=str(tmp_path), PYTHON=sys.executable, CUDA_VISIBLE_DEVICES="",
               GPU_EDITION_WHEELS=str(tmp_path / "none"))
    proc = subprocess.run(["bash", str(ROOT / "tools" / "gpu_edition.sh")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "no CUDA GPU" in proc.stderr


def test_chapter_estimates_count_steps_and_flops(tmp_path) -> None:
    from tools.gpu_edition.__main__ import STEP_OVERHEAD_S, chapter_seconds, command_estimates

    run = {"run": "r", "model": "m", "input": "28×28", "GFLOPs": 1.0, "full batch": 100,
           "full epochs": 2, "full train examples": 1050, "full eval examples": 0,
           "full memory MiB": 10.0}
    (tmp_path / "01_x").mkdir()
    (tmp_path / "01_x" / "r.json").write_text(json.dumps({"row": run}))
    per = chapter_seconds(tmp_path)["01_x"]
    assert per["steps"] == 2 * 11  # ragged last batch counted
    assert per["seconds"] == pytest.approx(per["flop_s"] + 22 * STEP_OVERHEAD_S, abs=0.1)
    out = tmp_path / "est.json"
    assert command_estimates(tmp_path, out) == 0
    assert edition.load_estimates(out) == {"01_x": per["seconds"]}
    assert command_estimates(tmp_path / "none", out) == 1


def test_only_what_this_run_wrote_is_packed(tmp_path) -> None:
    from tools.gpu_edition.__main__ import _items

    root = tmp_path.resolve()
    for rel in ("results/full/02_x/a.json", "results/full/02_x/old.json", "book/02_x.ipynb",
                "_build/failed/03_y.ipynb", "_build/logs/02_x.log",
                "benchmarks/results/training_cuda_alexnet.json"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("{}")
    os.utime(root / "results/full/02_x/old.json", (1, 1))  # an earlier run's
    items = _items(root, since=1000.0, profile="full",
                   chapters=[{"chapter": "02_x"}, {"chapter": "03_y"}])
    got = {i.arcname: i.priority for i in items}
    assert got == {"_build/logs/02_x.log": 0, "results/full/02_x/a.json": 1,
                   "benchmarks/results/training_cuda_alexnet.json": 1,
                   "book/02_x.ipynb": 2, "_build/failed/03_y.ipynb": 3}
