"""Local response normalisation, forward + backward, at AlexNet's first LRN (96 channels of
55×55) for a few batch sizes:

* ``ours``: :class:`alexnet_course.layers.LocalResponseNorm` (shifted adds over channels and a
  hand-written backward pass);
* ``ours, first version``: the same formula through autograd, with the window sum as a
  stride-1 average pooling over channels (what the course shipped first);
* ``torch.nn.LocalResponseNorm(5, 5e-4)``: PyTorch's layer with the paper's setting (its alpha
  is divided by size);
* ``Python loop over channels``: the paper's formula, one channel at a time;
* ``source material``: the ``LRN`` module of the AlexNet reproduction this course was designed
  from, ported as written: a Python loop over every image and every channel that writes the
  window sums into a zero tensor, then one vectorised division.

``python -m benchmarks.bench_lrn [--device cpu|cuda] [--batches 8 16 32]``: prints a table and
writes ``benchmarks/results/lrn_<device>.json`` with ``--replace-record`` (``make bench``
passes it), else ``_build/benchmarks/`` (``benchmarks/records.py``). The source material's loop gets slower with
the *square* of the batch: autograd's backward of each of its ``N·C`` slice assignments
copies a gradient the size of the whole tensor (one pass at batch 32 takes minutes on two
CPU cores), so the default batches stop at 32; the ratio to it only grows with the batch.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from alexnet_course.layers import LocalResponseNorm

from .common import SHARED_NOTE, hardware, hardware_line, loadavg, write_json
from .records import add_record_options, changed_options, destination

SIZE, ALPHA, BETA, K = 5, 1e-4, 0.75, 2.0


def lrn_avgpool(a: torch.Tensor) -> torch.Tensor:
    """The course's first version: the window sum as average pooling, autograd for the rest."""
    n, c = a.shape[:2]
    sq = F.pad(a.reshape(n, 1, c, -1).square(), (0, 0, SIZE // 2, (SIZE - 1) // 2))
    window_sum = F.avg_pool2d(sq, kernel_size=(SIZE, 1), stride=1) * SIZE
    return a / (window_sum * ALPHA + K).pow(BETA).reshape(a.shape)


def lrn_channel_loop(a: torch.Tensor) -> torch.Tensor:
    """Section 3.3's formula with a Python loop over channels (vectorised over the rest)."""
    c = a.shape[1]
    outs = []
    for i in range(c):
        lo, hi = max(0, i - SIZE // 2), min(c - 1, i + (SIZE - 1) // 2)
        outs.append(a[:, i] / (K + ALPHA * a[:, lo:hi + 1].square().sum(1)).pow(BETA))
    return torch.stack(outs, 1)


def lrn_source_material(x: torch.Tensor) -> torch.Tensor:
    """The source material's ``LRN.forward`` (its ``.to(device)`` is ``x.device`` here)."""
    tmp = x.pow(2)
    div = torch.zeros(tmp.size()).to(x.device)
    for batch in range(tmp.size(0)):
        for channel in range(tmp.size(1)):
            st = max(0, channel - SIZE // 2)
            ed = min(channel + SIZE // 2, tmp.size(1) - 1) + 1
            div[batch, channel] = tmp[batch, st:ed].sum(dim=0)
    return x / (K + ALPHA * div).pow(BETA)


IMPLEMENTATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "ours": LocalResponseNorm(SIZE, alpha=ALPHA, beta=BETA, k=K),
    "ours, first version (autograd, avg_pool)": lrn_avgpool,
    "torch.nn.LocalResponseNorm(5, 5e-4)": nn.LocalResponseNorm(SIZE, alpha=ALPHA * SIZE, beta=BETA, k=K),
    "Python loop over channels": lrn_channel_loop,
    "source material (loop over images and channels)": lrn_source_material,
}


def time_fwd_bwd(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, *, repeats: int,
                 warmup: int, budget_s: float) -> list[tuple[float, float]]:
    """Seconds of the forward and of the backward pass, one pair per repeat: ``warmup``
    passes, then up to ``repeats`` measured ones, stopping early once ``budget_s`` is spent
    (at least one is always measured)."""
    def now() -> float:
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter()

    times: list[tuple[float, float]] = []
    spent = 0.0
    for i in range(warmup + repeats):
        x.grad = None
        t0 = now()
        loss = fn(x).sum()
        t1 = now()
        loss.backward()
        t2 = now()
        spent += t2 - t0
        if i >= warmup:
            times.append((t1 - t0, t2 - t1))
            if spent > budget_s:
                break
    return times


def measure(shape: list[int], device: torch.device, *, repeats: int, warmup: int,
            budget_s: float) -> list[dict]:
    torch.manual_seed(0)
    x = (torch.randn(*shape, device=device) * 10).requires_grad_()
    g = torch.randn(*shape, device=device)
    reference = lrn_channel_loop(x.double())
    ref_grad, = torch.autograd.grad(reference, x, g.double())
    rows = []
    for name, fn in IMPLEMENTATIONS.items():
        out = fn(x)
        grad, = torch.autograd.grad(out, x, g)
        t = time_fwd_bwd(fn, x, repeats=repeats, warmup=warmup, budget_s=budget_s)
        total = [f + b for f, b in t]
        rows.append({"batch": shape[0], "shape": "×".join(map(str, shape)), "implementation": name,
                     "median_ms": 1e3 * statistics.median(total), "min_ms": 1e3 * min(total),
                     "forward_ms": 1e3 * statistics.median(f for f, _ in t),
                     "backward_ms": 1e3 * statistics.median(b for _, b in t),
                     "passes": len(t),
                     "max_abs_diff_fwd": (out.double() - reference).abs().max().item(),
                     "max_abs_diff_grad": (grad.double() - ref_grad).abs().max().item()})
    base = rows[0]["median_ms"]
    for r in rows:
        r["times_ours"] = r["median_ms"] / base
    return rows


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--batches", type=int, nargs="+", default=[8, 16, 32])
    p.add_argument("--channels-hw", type=int, nargs=3, default=[96, 55, 55], metavar=("C", "H", "W"))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--budget", type=float, default=20.0,
                   help="seconds after which an implementation stops repeating (default 20)")
    add_record_options(p, "benchmarks/results/lrn_<device>.json")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    out = destination(f"lrn_{device.type}", replace=args.replace_record, out=args.out,
                      differs=changed_options(p, args, "batches", "channels_hw", "repeats",
                                              "warmup", "budget"))
    load_start = loadavg()
    rows = []
    for batch in args.batches:
        rows += measure([batch, *args.channels_hw], device, repeats=args.repeats,
                        warmup=args.warmup, budget_s=args.budget)
    title = f"Local response normalisation, forward + backward ({device.type})"
    payload = {"benchmark": "lrn", "title": title,
               "dtype": "torch.float32", "pass": "forward+backward", "repeats": args.repeats,
               "warmup": args.warmup, "budget_s": args.budget, "rows": rows,
               "reference": "float64 loop over channels; max_abs_diff_* are against it",
               "hardware": hardware(device), "loadavg_start": load_start, "loadavg_end": loadavg(),
               "note": SHARED_NOTE}
    write_json(out.stem, payload, out.parent)
    print(f"LRN forward and backward, float32, median of up to {args.repeats} passes after "
          f"{args.warmup} warm-up\n{hardware_line(payload['hardware'])}")
    print(f"{'batch':>5s} {'implementation':48s} {'fwd ms':>9s} {'bwd ms':>9s} {'total ms':>9s} "
          f"{'× ours':>8s} {'|Δ| fwd':>9s} {'|Δ| grad':>9s}")
    for r in rows:
        print(f"{r['batch']:5d} {r['implementation']:48s} {r['forward_ms']:9.1f} {r['backward_ms']:9.1f} "
              f"{r['median_ms']:9.1f} {r['times_ours']:8.1f} {r['max_abs_diff_fwd']:9.1e} "
              f"{r['max_abs_diff_grad']:9.1e}")
    print(f"load average {load_start} -> {payload['loadavg_end']}; wrote {out}")
    return payload


if __name__ == "__main__":
    main(sys.argv[1:])
