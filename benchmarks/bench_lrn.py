"""Local response normalisation, forward + backward: ``alexnet_course.layers.LocalResponseNorm``
(average pooling of x² over channels) against a Python loop over channels implementing the
paper's formula, the source material's loop over images *and* channels, and
``torch.nn.LocalResponseNorm`` with the paper's setting (alpha x 5).

``python -m benchmarks.bench_lrn [--device cpu|cuda] [--shape 32 96 55 55]``: prints a table
and writes ``benchmarks/results/lrn_<device>.json``. The default shape is AlexNet's first
LRN (96 channels of 55×55) for a batch of 8 (the source material's loop over images makes larger batches take minutes).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import torch
from torch import nn

from alexnet_course.layers import LocalResponseNorm

from .common import SHARED_NOTE, hardware, hardware_line, loadavg, write_json


def lrn_loop(a: torch.Tensor, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0) -> torch.Tensor:
    """Section 3.3's formula with a Python loop over channels (vectorised over the rest)."""
    c = a.shape[1]
    outs = []
    for i in range(c):
        lo, hi = max(0, i - size // 2), min(c - 1, i + (size - 1) // 2)
        outs.append(a[:, i] / (k + alpha * a[:, lo:hi + 1].square().sum(1)).pow(beta))
    return torch.stack(outs, 1)


def lrn_loop_batch_channel(a: torch.Tensor, size: int = 5, alpha: float = 1e-4, beta: float = 0.75,
                           k: float = 2.0) -> torch.Tensor:
    """The source material's structure: a Python loop over every image and every channel."""
    n, c = a.shape[:2]
    images = []
    for b in range(n):
        maps = []
        for i in range(c):
            lo, hi = max(0, i - size // 2), min(c - 1, i + (size - 1) // 2)
            maps.append(a[b, i] / (k + alpha * a[b, lo:hi + 1].square().sum(0)).pow(beta))
        images.append(torch.stack(maps))
    return torch.stack(images)


def time_fwd_bwd(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, repeats: int, warmup: int) -> list[float]:
    """Seconds per forward + backward pass, one entry per repeat."""
    times = []
    for i in range(warmup + repeats):
        x.grad = None
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn(x).sum().backward()
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--shape", type=int, nargs=4, default=[8, 96, 55, 55], metavar=("N", "C", "H", "W"))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    args = p.parse_args(argv)
    device = torch.device(args.device)
    torch.manual_seed(0)
    x = (torch.randn(*args.shape, device=device) * 10).requires_grad_()
    impls: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "ours (avg_pool over channels)": LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0),
        "Python loop over channels": lrn_loop,
        "Python loop over images and channels (source material)": lrn_loop_batch_channel,
        "torch.nn.LocalResponseNorm(5, 5e-4)": nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0),
    }
    with torch.no_grad():
        reference = lrn_loop(x)
    load_start = loadavg()
    rows = []
    for name, fn in impls.items():
        with torch.no_grad():
            max_diff = (fn(x) - reference).abs().max().item()
        t = time_fwd_bwd(fn, x, args.repeats, args.warmup)
        rows.append({"implementation": name, "median_ms": 1e3 * statistics.median(t),
                     "min_ms": 1e3 * min(t), "max_abs_diff_vs_loop": max_diff})
    base = rows[0]["median_ms"]
    for r in rows:
        r["relative_to_ours"] = r["median_ms"] / base
    payload = {"benchmark": "lrn", "shape": args.shape, "dtype": str(x.dtype), "pass": "forward+backward",
               "repeats": args.repeats, "warmup": args.warmup, "rows": rows, "hardware": hardware(device),
               "loadavg_start": load_start, "loadavg_end": loadavg(), "note": SHARED_NOTE}
    path = write_json(f"lrn_{device.type}", payload)
    print(f"LRN forward+backward, input {'×'.join(map(str, args.shape))}, {x.dtype}, "
          f"median of {args.repeats}\n{hardware_line(payload['hardware'])}")
    print(f"{'implementation':56s} {'median ms':>10s} {'min ms':>9s} {'× ours':>7s} {'max |Δ| vs loop':>16s}")
    for r in rows:
        print(f"{r['implementation']:56s} {r['median_ms']:10.1f} {r['min_ms']:9.1f} "
              f"{r['relative_to_ours']:7.2f} {r['max_abs_diff_vs_loop']:16.2e}")
    print(f"load average {load_start} -> {payload['loadavg_end']}; wrote {path}")
    return payload


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
