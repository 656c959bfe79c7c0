"""Where one speed-run training step spends its time: data, forward, backward, optimiser
(wall-clock per phase) and, from ``torch.profiler``, the convolutions' share.

    python -m benchmarks.speedrun_profile --target 0.90          # the 0.90 recipe's step
    python -m benchmarks.speedrun_profile --target 0.93 --steps 20 --set batch_size=512

The phases are timed around the same calls as ``alexnet_course.speedrun.train_to_target``
makes (after ``--warmup`` untimed steps); "other" is the step's wall-clock minus the four
phases (Python and the loop). Writes ``results/speedrun_profile_<device>_<target>.json``
(an existing one only with ``--replace-record``; a ``--set``, ``--steps`` or ``--warmup``
run writes ``_build/benchmarks/``).
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from typing import Any

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from alexnet_course.augment import RandomCrop, RandomHorizontalFlip
from alexnet_course.settings import make_optimizer, make_schedulers
from alexnet_course.speedrun import build_network, device_loaders, recipe, settings_from

from .common import hardware, write_json
from .records import add_record_options, changed_options, destination
from .speedrun import PRESETS
from .speedrun_args import checked_settings

PHASES = ("data", "forward", "backward", "optimizer")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def profile_steps(s, *, device: str = "cpu", steps: int = 10, warmup: int = 3) -> dict[str, Any]:
    device = torch.device(device)
    train, _ = device_loaders(s, 0, device, train_size=s.batch_size * (steps + warmup))
    fmt = torch.channels_last if s.channels_last else torch.contiguous_format
    net = build_network(s).to(device, memory_format=fmt).train()
    model = torch.compile(net) if s.compile else net
    settings = recipe(settings_from(s, epochs=1.0), steps + warmup)  # one pass of these steps
    opt = make_optimizer(net, settings)
    sched = make_schedulers(opt, settings, steps + warmup)["per_step"]
    loss_fn = nn.CrossEntropyLoss(label_smoothing=s.label_smoothing)
    flip, crop = RandomHorizontalFlip(), RandomCrop(28, padding=s.translate) if s.translate else None
    seconds: dict[str, float] = defaultdict(float)
    batches = iter(train)

    def step(timed: bool) -> None:
        marks = [time.perf_counter()]

        def mark() -> None:
            _sync(device)
            marks.append(time.perf_counter())

        X, y = next(batches)
        X = flip(X) if s.flip else X
        X = (crop(X) if crop is not None else X).contiguous(memory_format=fmt)
        mark()
        loss = loss_fn(model(X), y)
        mark()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        mark()
        opt.step()
        if sched is not None:
            sched.step()
        mark()
        if timed:
            for name, a, b in zip(PHASES, marks, marks[1:]):
                seconds[name] += b - a

    for _ in range(warmup):
        step(False)
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU] +
                 ([ProfilerActivity.CUDA] if device.type == "cuda" else [])) as prof:
        for _ in range(steps):
            step(True)
    wall = (time.perf_counter() - t0) / steps
    ops = prof.key_averages()
    total_self = sum(e.self_cpu_time_total for e in ops) or 1.0
    conv_self = sum(e.self_cpu_time_total for e in ops if "conv" in e.key or "mkldnn" in e.key)
    per_step = {k: v / steps for k, v in seconds.items()}
    per_step["other"] = max(0.0, wall - sum(per_step.values()))
    return {"step_s": wall, "phases_s": per_step, "examples_per_s": s.batch_size / wall,
            "conv_share_of_op_time": conv_self / total_self,
            "top_ops": [{"op": e.key, "self_cpu_ms_per_step": e.self_cpu_time_total / 1e3 / steps}
                        for e in sorted(ops, key=lambda e: -e.self_cpu_time_total)[:12]],
            "note": "profiled steps run slower than unprofiled ones; compare shares, not totals"}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", type=float, default=0.90, choices=sorted(PRESETS))
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE")
    p.add_argument("--device", default=None)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    add_record_options(p, "benchmarks/results/speedrun_profile_<device>_<target>.json")
    args = p.parse_args(argv)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    s = checked_settings(PRESETS[args.target], args.set)
    out = destination(f"speedrun_profile_{torch.device(device).type}_{round(100 * args.target)}",
                      differs=changed_options(p, args, "set", "steps", "warmup"),
                      replace=args.replace_record, out=args.out)
    result = {"benchmark": "speedrun_profile", "hardware": hardware(device), "settings": s.to_dict(),
              **profile_steps(s, device=device, steps=args.steps, warmup=args.warmup)}
    ph = result["phases_s"]
    print(f"{result['step_s'] * 1e3:.1f} ms per step of {s.batch_size} ({result['examples_per_s']:.0f} "
          f"examples/s): " + ", ".join(f"{k} {1e3 * v:.1f} ms" for k, v in ph.items()) +
          f"; convolutions {100 * result['conv_share_of_op_time']:.0f} % of op time")
    write_json(out.stem, result, out.parent)
    return result


if __name__ == "__main__":
    main()
