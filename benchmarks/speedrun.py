"""The speed-run: seconds from process start to a target test accuracy on Fashion-MNIST.

    python -m benchmarks.speedrun --target 0.90 --seeds 5      # make speedrun (both targets)
    python -m benchmarks.speedrun --target 0.93 --seeds 5
    python -m benchmarks.speedrun --target 0.90 --split val --set lr=0.3 epochs=2.5   # tuning
    python -m benchmarks.speedrun --target 0.90 --ablate --seeds 3                    # the table

Each seed runs in a fresh Python process: the clock starts when this process starts it
(``time.time()`` before ``subprocess.run``), so the interpreter, ``import torch``, reading
the IDX files and every evaluation are inside the seconds-to-target. The JSON
(``results/speedrun_<device>_<target>.json``) is rewritten atomically after every seed, so
a killed run keeps what finished, and ``--resume`` runs only the seeds it lacks. Only the
record's own recipe with ``--replace-record`` replaces a published record (``make
speedrun``); a run with ``--set``, ``--train-size``, ``--split val``, ``--in-process`` or
fewer seeds writes ``_build/benchmarks/`` instead (``benchmarks/records.py``). ``--set``
values are checked before the first seed. A seed that never reaches the target is recorded
as not reached (``seconds_to_target: null``), never as a time; the median counts it as
slower than every reached seed. A seed whose process fails is recorded as failed, with its
error, and the command exits non-zero.

Hyper-parameters are chosen with ``--split val`` (train on 55,000, evaluate on 5,000 held
out of the 60,000 training images by ``alexnet_course.speedrun.validation_split``); the
recorded runs use ``--split test`` (all 60,000, the 10,000 test images).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from alexnet_course.course.speedruns import DamagedRecord
from alexnet_course.devices import DeviceError, check_device
from alexnet_course.speedrun import SpeedrunSettings, settings_from, train_to_target

from .common import SHARED_NOTE, hardware, hardware_line, loadavg, write_json
from .records import add_record_options, destination, read_record
from .speedrun_args import checked_settings, parse_sets  # noqa: F401 (parse_sets: its old home)

# ---------------------------------------------------------------- the hyper-parameter block
# 0.90: chosen on the validation split (benchmarks/NOTES.md, "Speed-run": tuning table);
# 0.93: see there too.
PRESETS: dict[float, SpeedrunSettings] = {
    0.90: SpeedrunSettings(
        target=0.90, widths=(16, 32, 64), residual=(), batch_norm=True, logit_scale=1.0,
        batch_size=128, epochs=2.0, optimizer="sgd", lr=0.3, momentum=0.9, nesterov=True,
        weight_decay=5e-4, schedule="linear", warmup=0.2, label_smoothing=0.1,
        flip=True, translate=0, tta=True, ema=0.0, eval_per_epoch=2, eval_from=1.5,
        channels_last=True, compile=False),
    0.93: SpeedrunSettings(
        target=0.93, widths=(32, 64, 128), residual=(2, 3), batch_norm=True, logit_scale=0.125,
        batch_size=256, epochs=12.0, optimizer="sgd", lr=0.2, momentum=0.9, nesterov=True,
        weight_decay=5e-4, schedule="linear", warmup=0.2, label_smoothing=0.2,
        flip=True, translate=2, tta=True, ema=0.0, eval_per_epoch=1, eval_from=8.0,
        channels_last=True, compile=False),
}
# (device, target) -> the budget in seconds; "meets" needs 4 of 5 seeds within it.
BUDGET_S = {("cpu", 0.90): 30.0, ("cpu", 0.93): 600.0, ("cuda", 0.93): 5.0}
MEETS_FRACTION = 0.8

# ---------------------------------------------------------------- the ablation
# Start: the homework's simplified AlexNet (chapter 01, Q1b), trained as the homework does
# (Adam 2e-3, constant rate, d2l's DataLoader of PIL images, NCHW) for up to OFF["epochs"].
OFF: dict[str, Any] = dict(model="homework", data="dataloader", channels_last=False,
                           batch_norm=False, residual=(), optimizer="adam", lr=2e-3,
                           weight_decay=0.0, schedule="constant", epochs=10.0, label_smoothing=0.0,
                           flip=False, translate=0, tta=False, ema=0.0, compile=False)
# Each step turns on the recipe's value of these fields; a trick the recipe leaves off is
# tried with TRY's values on top of the row before and not carried forward.
STEPS: list[tuple[str, str, tuple[str, ...]]] = [
    ("device_data", "+ uint8 data on the device (no DataLoader workers, no PIL)", ("data",)),
    ("channels_last", "+ channels_last (NHWC) network and batches", ("channels_last",)),
    ("speedrun_net", "+ the speed-run network (no BN, no residual)", ("model", "widths", "logit_scale")),
    ("batch_norm", "+ batch norm after every convolution", ("batch_norm",)),
    ("residual", "+ residual blocks", ("residual",)),
    ("sgd_schedule", "+ SGD-Nesterov, tuned warm-up/decay schedule and epochs",
     ("optimizer", "lr", "momentum", "nesterov", "weight_decay", "schedule", "warmup", "epochs")),
    ("label_smoothing", "+ label smoothing", ("label_smoothing",)),
    ("flip", "+ random flips (and translations)", ("flip", "translate")),
    ("tta", "+ flip test-time augmentation", ("tta",)),
    ("ema", "+ EMA of the weights", ("ema",)),
    ("compile", "+ torch.compile", ("compile",)),
]
TRY: dict[str, dict[str, Any]] = {"residual": {"residual": (2, 3)}, "ema": {"ema": 0.99},
                                  "compile": {"compile": True}, "flip": {"flip": True}}


def ablation_rows(recipe: SpeedrunSettings) -> list[dict[str, Any]]:
    """The ablation's rows: the homework baseline, then one trick at a time towards ``recipe``
    (the last carried row is ``recipe`` itself, tested)."""
    base = settings_from(recipe, **OFF, stop_at_target=True)
    rows = [{"name": "homework", "change": "homework-style simplified AlexNet", "in_recipe": True,
             "settings": base}]
    current = base
    for name, change, fields in STEPS:
        wanted = {f: getattr(recipe, f) for f in fields}
        if all(wanted[f] == getattr(current, f) for f in fields):  # the recipe leaves it off
            if name not in TRY:
                continue
            rows.append({"name": name, "change": change + " (not in the recipe)", "in_recipe": False,
                         "settings": settings_from(current, **TRY[name])})
            continue
        current = settings_from(current, **wanted)
        rows.append({"name": name, "change": change, "in_recipe": True, "settings": current})
    return rows


# ---------------------------------------------------------------- one seed
def d2l_style_loaders(s: SpeedrunSettings, seed: int, train_size: int | None = None):
    """d2l's pipeline (torchvision FashionMNIST, ToTensor on PIL images, DataLoader workers) on
    the same split as the on-device loaders: the ablation's "before" for on-device data."""
    from torch.utils import data
    from torchvision import datasets, transforms

    from alexnet_course.data import fashion_mnist_tensors, stratified_indices
    from alexnet_course.speedrun import validation_split

    from .bench_training import d2l_workers, torchvision_root

    root = torchvision_root(Path(tempfile.mkdtemp(prefix="speedrun-tv-")))
    kw = dict(root=str(root), transform=transforms.ToTensor(), download=False)
    train, test = datasets.FashionMNIST(train=True, **kw), datasets.FashionMNIST(train=False, **kw)
    labels = fashion_mnist_tensors(True)[1]
    if s.split == "val":
        train_idx, val_idx = validation_split(labels)
        test = data.Subset(train, val_idx.tolist())
    else:
        train_idx = torch.arange(len(labels))
    if train_size is not None:
        train_idx = train_idx[stratified_indices(labels[train_idx], train_size, seed=seed)]
    workers = d2l_workers()
    return (data.DataLoader(data.Subset(train, train_idx.tolist()), s.batch_size, shuffle=True,
                            num_workers=workers, drop_last=True),
            data.DataLoader(test, 1000, shuffle=False, num_workers=workers))


def run_one(s: SpeedrunSettings, seed: int, *, t0: float, device: str,
            train_size: int | None = None) -> dict[str, Any]:
    loaders = d2l_style_loaders(s, seed, train_size) if s.data == "dataloader" else None
    return train_to_target(s, seed, t0=t0, loaders=loaders, device=device, train_size=train_size)


def run_seed_subprocess(s: SpeedrunSettings, seed: int, *, device: str,
                        train_size: int | None = None) -> dict[str, Any]:
    """One seed in a fresh interpreter, timed from the moment it is started; a process that
    fails gives a record marked ``failed`` with its error (never "not reached")."""
    with tempfile.TemporaryDirectory(prefix="speedrun-") as tmp:
        result = Path(tmp) / "seed.json"
        cmd = [sys.executable, "-m", "benchmarks.speedrun", "--child", json.dumps(s.to_dict()),
               "--seed", str(seed), "--device", device, "--result", str(result)]
        if train_size is not None:
            cmd += ["--train-size", str(train_size)]
        t0 = time.time()
        proc = subprocess.run(cmd + ["--t0", repr(t0)], cwd=Path(__file__).resolve().parent.parent,
                              stderr=subprocess.PIPE, text=True)
        sys.stderr.write(proc.stderr)  # the child's warnings, or its traceback
        if proc.returncode == 0 and result.exists():
            return json.loads(result.read_text())
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        error = lines[-1].strip() if lines else "no error message"
        if proc.returncode == 0:
            error = "the process ended without writing its result"
        return {"seed": seed, "failed": True, "error": error, "exit_status": proc.returncode,
                "reached": False, "seconds_to_target": None, "final_acc": None,
                "stopped": "failed", "evals": []}


# ---------------------------------------------------------------- seeds and their summary
def summarise(records: list[dict[str, Any]], target: float, budget_s: float | None) -> dict[str, Any]:
    """Median and range of seconds-to-target; a seed that did not reach it counts as slower
    than any that did, so the median is ``None`` when half or more did not. A seed whose
    process failed measured nothing: it is counted in ``failed``, not in ``n``."""
    failed = sum(bool(r.get("failed")) for r in records)
    records = [r for r in records if not r.get("failed")]
    n = len(records)
    times = sorted(r["seconds_to_target"] for r in records if r["reached"])
    ranked = times + [math.inf] * (n - len(times))
    median = statistics.median(ranked) if n else math.inf
    finals = [r["final_acc"] for r in records if r.get("final_acc") is not None]
    within = sum(t <= budget_s for t in times) if budget_s is not None else None
    out = {"target": target, "n": n, "reached": len(times), "reached_fraction": len(times) / n if n else 0.0,
           "median_s": None if math.isinf(median) else median,
           "min_s": times[0] if times else None, "max_s": times[-1] if times else None,
           "final_acc_median": statistics.median(finals) if finals else None,
           "final_acc_min": min(finals) if finals else None,
           "final_acc_max": max(finals) if finals else None,
           "budget_s": budget_s, "within_budget": within, "failed": failed}
    out["meets"] = (within is not None and n >= 5 and not failed and within >= MEETS_FRACTION * n)
    return out


def _seed_line(r: dict[str, Any]) -> str:
    if r.get("failed"):
        return f"  seed {r['seed']}: FAILED (exit status {r.get('exit_status')}): {r['error']}"
    reached = (f"reached in {r['seconds_to_target']:.1f} s (epoch {r['epochs_to_target']:.2f})"
               if r["reached"] else f"not reached ({r.get('stopped')})")
    final = f"{r['final_acc']:.4f}" if r.get("final_acc") is not None else "—"
    return f"  seed {r['seed']}: {reached}; final acc {final}"


def run_seeds(s: SpeedrunSettings, seeds: list[int], *, device: str, done: list[dict] | None = None,
              save=None, in_process: bool = False, train_size: int | None = None) -> list[dict]:
    """Run the seeds not in ``done`` (records of these same settings), calling ``save(records)``
    after each. A failed seed in ``done`` is run again."""
    records = [r for r in done or [] if not r.get("failed")]
    have = {r["seed"] for r in records}
    for seed in seeds:
        if seed in have:
            continue
        if in_process:
            rec = run_one(s, seed, t0=time.time(), device=device, train_size=train_size)
        else:
            rec = run_seed_subprocess(s, seed, device=device, train_size=train_size)
        records.append(rec)
        print(_seed_line(rec), flush=True)
        if save is not None:
            save(records)
    return records


def _load_resumable(path: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """The finished part of ``path`` when it was written with the same settings, else None."""
    try:
        old = read_record(path)
    except DamagedRecord as err:  # under --resume the way out is to start afresh
        raise DamagedRecord(f"{err}; or drop --resume to run every seed again (the file is then "
                            f"overwritten), or pass another --out", path) from None
    if old is None:
        return None
    if old.get("resume_key") != key:
        raise SystemExit(f"{path} was written with other settings; drop --resume (it is then "
                         f"overwritten) or pass another --out")
    return old


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", type=float, default=0.90, choices=sorted(PRESETS),
                   help="the preset to run (its accuracy target)")
    p.add_argument("--seeds", type=int, default=5, help="seeds 0 .. N-1")
    p.add_argument("--split", choices=("test", "val"), default="test",
                   help="val: tune on 5,000 images held out of the training set")
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                   help="override preset fields, e.g. lr=0.3 flip=False widths=(24,48,96)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--ablate", action="store_true", help="the one-trick-at-a-time table")
    p.add_argument("--resume", action="store_true", help="keep the seeds the JSON already has")
    p.add_argument("--in-process", action="store_true",
                   help="run seeds in this process (the clock then starts at each seed, not at "
                        "process start; for tests)")
    p.add_argument("--train-size", type=int, default=None, help="a stratified subset (tests, probes)")
    add_record_options(p, "benchmarks/results/speedrun_<device>_<target>.json")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--t0", type=float, default=None, help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:  # before any seed's process starts: each would fail the same way
        check_device(device)
    except DeviceError as err:
        p.error(f"--device: {err}")
    if args.child:  # one seed, timed from args.t0 (when the parent started this process)
        rec = run_one(SpeedrunSettings(**json.loads(args.child)), args.seed, t0=args.t0,
                      device=device, train_size=args.train_size)
        Path(args.result).write_text(json.dumps(rec))
        return None
    if args.seeds < 1:
        p.error(f"--seeds must be at least 1, e.g. --seeds 5; got {args.seeds}")
    # every check before the first seed: the settings, then where the JSON goes
    settings = checked_settings(PRESETS[args.target], args.set, train_size=args.train_size,
                                split=args.split)
    tag = f"{'ablation_' if args.ablate else ''}{'val_' if args.split == 'val' else ''}" \
          f"{torch.device(device).type}_{round(100 * args.target)}"
    out = destination(f"speedrun_{tag}", differs=differences(args), replace=args.replace_record,
                      out=args.out)
    common = dict(device=device, seeds=list(range(args.seeds)), in_process=args.in_process,
                  train_size=args.train_size, resume=args.resume, out=out)
    payload = run_ablation(settings, **common) if args.ablate else run_recipe(settings, **common)
    stop_if_failed(payload, out)
    return payload


# seeds of the published records: `make speedrun` and `make speedrun-ablation`
PUBLISHED_SEEDS = {"recipe": 5, "ablation": 3}


def differences(args: argparse.Namespace) -> list[str]:
    """What makes this run other than its published record's recipe (empty: the recipe)."""
    seeds = PUBLISHED_SEEDS["ablation" if args.ablate else "recipe"]
    return [what for what, differs in (
        (f"--set {' '.join(args.set)}", bool(args.set)),
        (f"--train-size {args.train_size}", args.train_size is not None),
        ("--split val", args.split != "test"),
        (f"--seeds {args.seeds}, the record has {seeds}", args.seeds < seeds),
        ("--in-process: the clock starts at each seed, not at process start", args.in_process),
    ) if differs]


def stop_if_failed(payload: dict[str, Any], out: Path) -> None:
    """Exit non-zero when a seed's process failed (after its error was written to ``out``)."""
    seeds = payload.get("seeds") or [r for row in payload.get("rows", []) for r in row["seeds"]]
    failed = [r for r in seeds if r.get("failed")]
    if failed:
        raise SystemExit(f"{len(failed)} of {len(seeds)} seeds failed (recorded in {out}); "
                         f"the first: {failed[0]['error']}")


def _header(device: str) -> dict[str, Any]:
    hw = hardware(device)
    print(f"speed-run on {hardware_line(hw)}; loadavg {loadavg()}", flush=True)
    return {"benchmark": "speedrun", "hardware": hw, "loadavg_start": loadavg(), "note": SHARED_NOTE,
            "clock": "from process start (a fresh interpreter per seed)",
            "argv": sys.argv[1:]}


def run_recipe(s: SpeedrunSettings, *, device: str, seeds: list[int], in_process: bool,
               train_size: int | None, resume: bool, out: Path) -> dict[str, Any]:
    budget = BUDGET_S.get((torch.device(device).type, s.target))
    key = {"settings": s.to_dict(), "train_size": train_size, "device": device}
    old = _load_resumable(out, key) if resume else None
    payload = {**_header(device), "resume_key": key, "settings": s.to_dict(),
               "train_size": train_size, "split": s.split, "seeds": []}
    if in_process:
        payload["clock"] = "from the start of each seed, in one process (data loading included)"

    def save(records: list[dict]) -> None:
        payload.update(seeds=records, summary=summarise(records, s.target, budget),
                       loadavg_end=loadavg(), complete=len(records) >= len(seeds)
                       and not any(r.get("failed") for r in records))
        write_json(out.stem, payload, out.parent)

    records = run_seeds(s, seeds, device=device, done=old["seeds"] if old else None, save=save,
                        in_process=in_process, train_size=train_size)
    save(records)
    sm = payload["summary"]
    med = f"{sm['median_s']:.1f} s" if sm["median_s"] is not None else "not reached" if sm["n"] else "none"
    failed = f", {sm['failed']} failed" if sm["failed"] else ""
    print(f"target {s.target}: median {med}, {sm['reached']}/{sm['n']} seeds reached it{failed}; wrote {out}")
    return payload


def run_ablation(recipe: SpeedrunSettings, *, device: str, seeds: list[int], in_process: bool,
                 train_size: int | None, resume: bool, out: Path) -> dict[str, Any]:
    budget = BUDGET_S.get((torch.device(device).type, recipe.target))
    rows = ablation_rows(recipe)
    limit = 10 * budget if budget else None  # a row that never gets there stops at 10× the budget
    key = {"recipe": recipe.to_dict(), "train_size": train_size, "device": device}
    old = _load_resumable(out, key) if resume else None
    done = {r["name"]: r["seeds"] for r in (old or {}).get("rows", [])}
    payload = {**_header(device), "resume_key": key, "recipe": recipe.to_dict(),
               "train_size": train_size, "split": recipe.split, "time_limit_s": limit, "rows": [],
               "planned_rows": [r["name"] for r in rows], "complete": False}
    # Every row is in the JSON from the start, with the seeds it already has (a resumed run
    # killed early keeps the rows it had not reached again)
    plan = []
    for row in rows:
        s = settings_from(row["settings"], time_limit_s=limit)
        records = list(done.get(row["name"], []))
        payload["rows"].append({"name": row["name"], "change": row["change"], "in_recipe": row["in_recipe"],
                                "settings": s.to_dict(), "seeds": records,
                                "summary": summarise(records, s.target, budget)})
        plan.append(s)
    for s, entry in zip(plan, payload["rows"]):
        print(f"{entry['name']}: {entry['change']}", flush=True)

        def save(records: list[dict], entry=entry, s=s) -> None:
            entry.update(seeds=records, summary=summarise(records, s.target, budget))
            payload["loadavg_end"] = loadavg()
            write_json(out.stem, payload, out.parent)

        save(run_seeds(s, seeds, device=device, done=entry["seeds"], save=save,
                       in_process=in_process, train_size=train_size))
    # every planned row has every seed (a killed run keeps False, a failed seed makes it False)
    payload["complete"] = not any(r.get("failed") for row in payload["rows"] for r in row["seeds"])
    write_json(out.stem, payload, out.parent)
    print(f"wrote {out}")
    return payload


if __name__ == "__main__":
    main()
