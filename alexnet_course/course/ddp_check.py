"""A correctness check of ``fit`` under ``torchrun``: two CPU processes on gloo against one.

``python -m alexnet_course.course.ddp_check OUT`` trains a ReLU LeNet-5 (no dropout, no random
augmentation: nothing random after the seeded shuffle) on a small synthetic dataset and
writes the final weights and the history to the folder ``OUT``; under ``torchrun`` rank 0
writes them and every rank writes the history it returned. :func:`launch` runs it as one
process or under ``torchrun --standalone --nproc_per_node=N`` with a timeout, and
:func:`compare` measures how far two runs' weights and histories are apart. Chapter 8 and
``tests/test_distributed.py`` use it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import distributed
from ..data import DeviceLoader
from ..jsonfiles import read_json
from ..models import get_model
from ..train import fit, set_seed

MODULE = "alexnet_course.course.ddp_check"


def toy_data(n: int, *, seed: int = 0, classes: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` 28×28 uint8 images: one noisy blob per class at a class-specific place, so a
    few steps of training lower the loss."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(classes, (n,), generator=g)
    rows = torch.arange(28).view(1, 28, 1)
    cols = torch.arange(28).view(1, 1, 28)
    cy, cx = (4 + 2 * labels).view(-1, 1, 1), (22 - 2 * labels).view(-1, 1, 1)
    blob = torch.exp(-((rows - cy) ** 2 + (cols - cx) ** 2) / 8.0)
    noise = torch.rand((n, 28, 28), generator=g) * 0.3
    images = ((blob + noise).clamp(0, 1) * 255).to(torch.uint8).unsqueeze(1)
    return images, labels


class _Batches:
    """The loader's ``transform``: batches in ``dtype``; with ``fail_at``, an error at that
    batch (a rank that crashes)."""

    def __init__(self, dtype: torch.dtype, fail_at: int | None = None) -> None:
        self.dtype, self.fail_at, self.calls = dtype, fail_at, 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError(f"rank {distributed.rank()} failed on purpose at batch {self.fail_at}")
        return x.to(self.dtype)


def train(out: Path, *, epochs: int = 3, batch_size: int = 32, examples: int = 256, lr: float = 0.05,
          seed: int = 0, checkpoint: Path | None = None, fail_rank: int | None = None,
          die_after_epoch: int | None = None, collective_timeout: float = 60,
          float64: bool = False) -> None:
    """One run (each process of a torchrun job calls this): see the module's docstring.
    ``fail_rank`` raises an error in that rank's third batch; ``die_after_epoch`` ends rank 0
    abruptly (``os._exit``) once that epoch is trained, before its checkpoint is saved;
    ``collective_timeout`` is how long a rank waits for the others in a collective.
    ``float64`` trains in double precision, where summing in another order changes the
    result by ~1e-16 instead of float32's ~1e-7, so a real difference cannot hide in it."""
    device = distributed.init("cpu", timeout_s=collective_timeout)
    set_seed(seed)
    images, labels = toy_data(examples, seed=seed)
    dtype = torch.float64 if float64 else torch.float32
    transform = _Batches(dtype, 3 if fail_rank is not None and distributed.rank() == fail_rank
                         else None)
    train_iter = DeviceLoader(images, labels, batch_size, shuffle=True, device=device, seed=seed,
                              transform=transform)
    test_images, test_labels = toy_data(examples // 2, seed=seed + 1)
    test_iter = DeviceLoader(test_images, test_labels, batch_size, device=device,
                             transform=_Batches(dtype))

    def die(epoch: int, record: dict) -> None:
        if epoch == die_after_epoch:
            os._exit(3)  # a kill: no cleanup, no checkpoint of this epoch

    net = get_model("lenet_modern", dropout=0.0).to(dtype)  # ReLU LeNet: learns in a few steps
    history = fit(net, train_iter, test_iter, epochs=epochs, lr=lr, momentum=0.9, device=device,
                  checkpoint=checkpoint, progress=False, log=None, guard=False,
                  on_epoch_end=die if die_after_epoch else None)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"history_rank{distributed.rank()}.json").write_text(json.dumps(history.records))
    if distributed.is_main():
        torch.save(net.state_dict(), out / "weights.pt")
    distributed.shutdown()


@dataclass
class Launch:
    returncode: int
    output: str
    seconds: float


def launch(out: str | os.PathLike, *, nproc: int = 1, timeout_s: float = 180, **options) -> Launch:
    """Run :func:`train` in a fresh Python (under ``torchrun`` when ``nproc > 1``), with one
    thread per process; a run that outlives ``timeout_s`` is killed and reported as such."""
    args = [f"--{k.replace('_', '-')}" + ("" if v is True else f"={v}")
            for k, v in options.items() if v is not None and v is not False]
    cmd = [sys.executable, "-m", MODULE, str(out), *args]
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={nproc}", "--monitor-interval=0.5", "-m", MODULE, str(out), *args]
    # the child imports this very package, wherever it was imported from here
    here = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))}
    t0 = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired as err:
        text = (err.stdout or b"").decode() if isinstance(err.stdout, bytes) else (err.stdout or "")
        return Launch(-1, text + f"\n(killed after {timeout_s:.0f} s)", time.perf_counter() - t0)
    return Launch(done.returncode, done.stdout + done.stderr, time.perf_counter() - t0)


def compare(a: str | os.PathLike, b: str | os.PathLike) -> dict[str, float]:
    """Largest absolute difference of two runs' weights and of their history's numbers."""
    wa = torch.load(Path(a) / "weights.pt", weights_only=True)
    wb = torch.load(Path(b) / "weights.pt", weights_only=True)
    weight_diff = max((wa[k] - wb[k]).abs().max().item() for k in wa)
    fix = f"delete the run's folder and run `python -m {MODULE}` again"
    ha = read_json(Path(a) / "history_rank0.json", fix=fix)
    keys = ("train_loss", "train_acc", "test_acc", "lr", "examples")
    history_diff = 0.0
    for hb_path in sorted(Path(b).glob("history_rank*.json")):
        hb = read_json(hb_path, fix=fix)
        if len(hb) != len(ha):
            return {"max_weight_diff": weight_diff, "max_history_diff": float("inf")}
        history_diff = max(history_diff, *(abs(ra[k] - rb[k]) for ra, rb in zip(ha, hb)
                                           for k in keys))
    return {"max_weight_diff": weight_diff, "max_history_diff": history_diff}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}")
    parser.add_argument("out", type=Path)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--fail-rank", type=int)
    parser.add_argument("--die-after-epoch", type=int)
    parser.add_argument("--collective-timeout", type=float, default=60)
    parser.add_argument("--float64", action="store_true")
    train(**vars(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
