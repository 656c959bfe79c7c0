"""d2l's LeNet recipe at full size with fit's guards on: it must not be stopped as stalled.

d2l's LeNet (sigmoid, average pooling, Xavier init) trained with SGD at lr 0.1 in batches of
128 on all 60,000 Fashion-MNIST images sits at loss ln 10 with chance accuracy for about
two epochs and then learns. A stall guard that judged one epoch stopped it at epoch 2;
``fit``'s guard judges ``stall_epochs`` (3) such epochs, or one with a vanished gradient.
This run checks that the recipe reaches a test accuracy of at least 0.70 in 10 epochs.

``python -m benchmarks.guard_lenet [--epochs 10] [--seed 0] [--device cpu] [--replace-record]``:
prints each epoch, the epochs the one-epoch rule would have stopped at, and writes
``benchmarks/results/guard_lenet_<device>.json`` (with ``--replace-record`` when it exists;
other epochs or seeds write ``_build/benchmarks/``); exits 1 if the run was stopped or ended
below 0.70. About 1.5 minutes on two CPU cores.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from alexnet_course.data import load_fashion_mnist
from alexnet_course.guards import at_chance
from alexnet_course.models import get_model
from alexnet_course.train import TrainingFailed, fit, set_seed
from benchmarks.common import hardware, hardware_line, loadavg, write_json
from benchmarks.records import add_record_options, changed_options, destination

TARGET = 0.70


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    add_record_options(parser, "benchmarks/results/guard_lenet_<device>.json")
    args = parser.parse_args(argv)
    out = destination(f"guard_lenet_{torch.device(args.device).type}", replace=args.replace_record,
                      out=args.out, differs=changed_options(parser, args, "epochs", "seed"))

    train, test = load_fashion_mnist(128, device=args.device, seed=args.seed)
    set_seed(args.seed)
    load_start, t0, failed = loadavg(), time.perf_counter(), None
    try:
        history = fit(get_model("lenet"), train, test, epochs=args.epochs, lr=0.1,
                      device=args.device, progress=False)
    except TrainingFailed as err:
        history, failed = err.history, str(err)
        print(f"stopped by a guard: {failed}")
    seconds = time.perf_counter() - t0
    one_epoch_rule = [r["epoch"] for r in history.records if at_chance(r, 10)]
    last = history.last["test_acc"] if history.records else 0.0
    ok = failed is None and last >= TARGET
    print(f"epochs at ln 10 with chance accuracy (a one-epoch guard stops at the first): "
          f"{one_epoch_rule or 'none'}")
    print(f"last test acc {last:.3f} ({'≥' if ok else 'below'} {TARGET}), {seconds:.0f} s; "
          f"{hardware_line(hardware(args.device))}")
    path = write_json(out.stem, {
        "recipe": "d2l LeNet (sigmoid, Xavier), SGD lr 0.1, batch 128, 60,000 images",
        "epochs": args.epochs, "seed": args.seed, "failed": failed, "target": TARGET, "ok": ok,
        "epochs_at_chance": one_epoch_rule, "seconds": seconds,
        "records": history.records, "meta": history.meta, "hardware": hardware(args.device),
        "loadavg_start": load_start, "loadavg_end": loadavg()}, out.parent)
    print(f"wrote {path}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
