"""Every benchmark, quickly, on this machine: ``python -m benchmarks.run_all`` (``make bench``).

On a CPU the training comparison uses small training subsets so that the whole run stays
around ten minutes on two cores (and longer when other processes share them); on a GPU it
uses the whole dataset. Then the LRN benchmark (``benchmarks/bench_lrn.py``), the book's
execution time per profile, and ``results/summary.md`` for the book's Performance page.
Writes ``benchmarks/results/*.json`` with ``--replace-record`` (``make bench`` passes it);
without it a record that exists is left alone and the run writes ``_build/benchmarks/``.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback

import torch

from . import bench_book, bench_lrn, bench_training, records, report
from .common import cpu_model, loadavg, write_json

# name, training subset, measured epochs, warm-up epochs, rounds, variants (CPU). On this
# shared 2-core VM one run's ratios moved by up to ±30 % between runs, so the two models
# with targets (LeNet ≥ 2×, AlexNet ≥ 1.3×) are repeated over rounds, in alternating order.
CPU_PLAN = [
    ("lenet", 10_000, 1, 1, 3, ["d2l", "ours", "nchw_fp32", "compile"]),  # compiles in warm-up
    ("alexnet", 1024, 1, 0, 3, ["d2l", "ours", "nchw_fp32"]),
    ("vgg_small", 512, 1, 0, 1, ["d2l", "ours", "nchw_fp32"]),
    ("nin", 512, 1, 0, 1, ["d2l", "ours", "nchw_fp32"]),
    ("googlenet", 256, 1, 0, 1, ["d2l", "ours", "nchw_fp32"]),
]
CPU_TEST_SIZE = 500


def training_plan(device: torch.device) -> list[dict]:
    plan = []
    for name, train_size, epochs, warmup, rounds, variants in CPU_PLAN:
        spec = bench_training.SPECS[name]
        if device.type == "cuda":
            plan.append({"name": name, "resize": spec.size_gpu, "train_size": None,
                         "test_size": None, "batch_size": spec.batch_size, "epochs": 2,
                         "warmup": 1, "variants": list(bench_training.DEFAULT_VARIANTS["cuda"])})
        else:
            plan.append({"name": name, "resize": spec.size_cpu, "train_size": train_size,
                         "test_size": CPU_TEST_SIZE, "batch_size": spec.batch_size,
                         "epochs": epochs, "warmup": warmup, "rounds": rounds,
                         "variants": variants})
    return plan


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default=None)
    p.add_argument("--skip", nargs="*", default=[], choices=["training", "lrn", "book"])
    p.add_argument(records.REPLACE_FLAG, dest="replace_record", action="store_true",
                   help="replace the published records (each step prints what it replaced)")
    args = p.parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    # every destination is decided (and checked writable) before the first step
    replace = [records.REPLACE_FLAG] if args.replace_record else []
    training_out = None if "training" in args.skip else records.destination(
        f"training_{device.type}", differs=[], replace=args.replace_record)
    out = records.destination("run_all", replace=args.replace_record,
                              differs=[f"--skip {' '.join(args.skip)}"] if args.skip else [])
    started, load_start = time.perf_counter(), loadavg()
    steps: dict[str, dict] = {}
    failed = False
    steps_to_run = (
        ("training", lambda: bench_training.run_plan(training_plan(device), device, out=training_out,
                                                     argv=["run_all"])),
        ("lrn", lambda: bench_lrn.main(["--device", device.type, *replace])),
        ("book", lambda: bench_book.main(replace)),
    )
    for step, fn in steps_to_run:
        if step in args.skip:
            continue
        print(f"\n== {step} ==", flush=True)
        t0 = time.perf_counter()
        try:
            result = fn()
            status = result if isinstance(result, str) else "ok"
        except Exception:  # report every step, then fail at the end
            traceback.print_exc()
            status, failed = "failed", True
        steps[step] = {"status": status, "seconds": round(time.perf_counter() - t0, 1)}
        print(f"== {step}: {status} in {steps[step]['seconds']:.0f} s", flush=True)
    payload = {"benchmark": "run_all", "device": device.type, "cpu": cpu_model(),
               "seconds": time.perf_counter() - started, "steps": steps,
               "loadavg_start": load_start, "loadavg_end": loadavg()}
    write_json(out.stem, payload, out.parent)
    report.main()
    print(f"run_all: {payload['seconds']:.0f} s; " +
          ", ".join(f"{k} {v['status']} ({v['seconds']:.0f} s)" for k, v in steps.items()))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
