"""references/imagenet/train.py end to end: two gloo processes on a tiny ImageFolder of PNGs
that the test writes (narrow AlexNet, 64-pixel crops), then a resumed run to more epochs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "references" / "imagenet" / "train.py"
CLASSES = {"n000red": (200, 40, 40), "n001blue": (40, 40, 200)}


def _write_folder(root: Path, per_class: dict[str, int]) -> None:
    rng = np.random.default_rng(0)
    for split, n in per_class.items():
        for name, colour in CLASSES.items():
            (root / split / name).mkdir(parents=True)
            for i in range(n):  # not square: the recipe's resize and centre crop make them so
                pixels = np.clip(rng.normal(colour, 40, size=(80, 96, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{i}.png")


def _torchrun(data: Path, out: Path, epochs: int) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "--monitor-interval=0.5", str(SCRIPT), "--data", str(data), "--out", str(out),
           "--epochs", str(epochs), "--batch-size", "8", "--resize", "72", "--crop", "64",
           "--width", "0.0625", "--fc-width", "32", "--groups", "2", "--workers", "0",
           "--pca-images", "8"]
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, env=env)


def test_recipe_trains_with_two_processes_and_resumes(tmp_path):
    data, out = tmp_path / "imagefolder", tmp_path / "run"
    _write_folder(data, {"train": 8, "val": 4})
    t0 = time.perf_counter()
    first = _torchrun(data, out, epochs=2)
    assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
    assert "2 process(es) on cpu; 16 training and 8 validation images in 2 classes" in first.stdout
    history = json.loads((out / "history.json").read_text())
    assert [r["epoch"] for r in history["records"]] == [1, 2]
    assert all(r["examples"] == 16 for r in history["records"])  # both ranks' shards summed
    assert history["meta"]["world_size"] == 2 and history["meta"]["weight_decay"] == 5e-4
    assert (out / "checkpoint.pt").exists()
    again = _torchrun(data, out, epochs=3)
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert "resumed from" in again.stdout and "after epoch 2/3" in again.stdout
    records = json.loads((out / "history.json").read_text())["records"]
    assert [r["epoch"] for r in records] == [1, 2, 3] and records[:2] == history["records"]
    print(f"\nImageNet recipe, 2 processes, 2 + 1 epochs: {time.perf_counter() - t0:.1f} s")
