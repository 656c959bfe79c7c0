"""Chapter 03 runs on CIFAR-10 as well as on Fashion-MNIST.

The notebook is executed with papermill in the smoke profile with ``dataset="cifar10"``
against a tiny CIFAR-10 written in the real on-disk format (torchvision's
``cifar-10-batches-py``: ``data_batch_1`` … ``data_batch_5`` and ``test_batch``, each a
pickled dict of N×3072 uint8 rows, red then green then blue planes of 32×32, and N labels)
in a temporary folder, found through the notebook's ``data_root`` parameter. The files are
hand-made, so their MD5s are not the published ones: ``cifar_md5`` passes them, as the
loaders' ``md5=`` requires (nothing is unpickled before its MD5 matches). About 2 minutes.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "03_resolution_and_pooling.ipynb"
CHAPTER = "03_resolution_and_pooling"


def write_tiny_cifar10(root: Path, n_train: int = 30, n_test: int = 80) -> dict[str, str]:
    """A CIFAR-10 of ``5 × n_train`` training and ``n_test`` test images in the real format,
    every class present in every file (the loaders take stratified subsets); returns the
    MD5 of each batch file."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    md5 = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        n = n_test if name == "test_batch" else n_train
        entry = {"batch_label": f"{name} (a test fixture)",
                 "labels": [int(k) for k in rng.permutation(np.arange(n) % 10)],
                 "data": rng.integers(0, 256, size=(n, 3 * 32 * 32), dtype=np.uint8),
                 "filenames": [f"fixture_{name}_{i}.png" for i in range(n)]}
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f, protocol=2)
        md5[name] = hashlib.md5((folder / name).read_bytes()).hexdigest()
    return md5


def test_chapter03_runs_on_cifar10_in_the_smoke_profile(tmp_path: Path) -> None:
    pytest.importorskip("papermill")
    md5 = write_tiny_cifar10(tmp_path / "data")
    results = tmp_path / "results"
    output = tmp_path / "03_cifar10.ipynb"
    env = dict(os.environ, COURSE_PROFILE="smoke", COURSE_RESULTS_DIR=str(results),
               PYTHONUNBUFFERED="1")
    # the python3 kernelspec runs `python`: make it this environment's interpreter
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    cmd = [sys.executable, "-m", "papermill", str(NOTEBOOK), str(output),
           "--cwd", str(NOTEBOOK.parent), "--kernel", "python3", "--no-progress-bar",
           "-p", "profile", "smoke", "-p", "dataset", "cifar10",
           "-p", "data_root", str(tmp_path / "data"),
           "-y", json.dumps({"cifar_md5": md5, "lrs": [1e-3]})]  # one rate: a grid of one run a variant
    # every run of the protocol is trained (grid, pilot, probes: ~17 tiny runs): minutes on a loaded CPU
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    runs = sorted((results / CHAPTER).glob("*.json"))
    records = [json.loads(p.read_text()) for p in runs
               if p.name not in ("_chapter.json", "verdicts.json")]
    variants = {r["row"]["variant"] for r in records}
    assert {"conv1x1", "strided", "wide384"} <= {v.split("_")[0] for v in variants}
    assert len([v for v in variants if v.startswith("max_")]) >= 2  # the size sweep
    for r in records:  # every run read the fixture's colour images, all of them
        assert r["meta"]["dataset"] == "cifar10"
        assert r["meta"]["image_shape"][0] == 3
        assert r["profile"] == "smoke"
    executed = json.loads(output.read_text())
    text = "".join("".join(o.get("text", "")) for c in executed["cells"] if c["cell_type"] == "code"
                   for o in c.get("outputs", []))
    assert "cifar10 (32×32, 3 channel(s))" in json.dumps(executed, ensure_ascii=False)  # the settings table
    assert "At 32×32 the stride-4 stem" in text  # the answers were written
    # the notebook wrote the verdicts: one per declared comparison (smoke: one side, two poolings, one width)
    verdicts = json.loads((results / CHAPTER / "verdicts.json").read_text())["verdicts"]
    assert len(verdicts) == 4 and {v["question"] for v in verdicts} == {
        "resolution: final accuracy at convergence", "max pooling or learned strided convolutions",
        "384 channels in every convolution"}
