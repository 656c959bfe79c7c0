"""Our training path against a d2l-style reference pipeline, in one process.

Reference (``d2l``): what *Dive into Deep Learning* does in ``load_data_fashion_mnist`` and
``train_ch6``: torchvision's ``datasets.FashionMNIST`` read from ``FashionMNIST/raw``,
``transforms.Resize`` + ``ToTensor`` on PIL images in ``DataLoader`` workers
(``num_workers = min(4, os.cpu_count())``, ``shuffle=True``), and a loop that accumulates
``loss``/accuracy into Python floats every batch (one host sync per batch) and evaluates
with ``evaluate_accuracy_gpu``. d2l's Xavier re-initialisation and its plot are left out:
both pipelines start from copies of the same initialised model.

Ours: :func:`alexnet_course.data.load_fashion_mnist` (uint8 data on the device, resized
there in batches) and :func:`alexnet_course.train.fit` (metrics kept on the device, one
sync per epoch) with ``fit``'s defaults: on a CPU float32 with the network and batches in
``channels_last`` (NHWC), on CUDA bf16 autocast and NHWC. ``nchw_fp32`` is the same path in
float32 with the default NCHW layout, to separate the data path's gain from the layout's and
precision's; ``bf16_nchw`` (CUDA only), ``compile`` (``torch.compile``) and ``graphs`` (its
CUDA graphs, ``mode="reduce-overhead"``) are further variants.

Every row times the same things: ``train_s`` is the wall-clock of the training pass (data
loading and preparation included), ``epoch_s`` adds the test-set evaluation; examples/sec
is training examples / ``train_s``. For the reference we also give the figure d2l itself
prints (``d2l_reported``), whose timer runs only around each batch's compute and so leaves
data loading out. The first ``--warmup`` epochs of every row are run and discarded.

    python -m benchmarks.bench_training                       # CPU defaults, all models
    python -m benchmarks.bench_training --models lenet alexnet --variants d2l ours compile

The published ``results/training_<device>.json`` is ``make bench``'s plan
(``benchmarks/run_all.py``); a run of this command writes ``_build/benchmarks/`` unless
``--replace-record`` (or ``--out``) says otherwise (``benchmarks/records.py``).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from alexnet_course.data import FASHION_MNIST_MD5, load_fashion_mnist, stratified_indices  # noqa: F401
from alexnet_course.train import fit, set_seed

from .common import SHARED_NOTE, hardware, hardware_line, loadavg, write_json
from .d2l_reference import (PREFETCH, SHM, Accumulator, _sync, d2l_accuracy,  # noqa: F401
                            d2l_evaluate_accuracy_gpu, d2l_loaders, d2l_train_ch6, d2l_workers,
                            torchvision_root)
from .records import add_record_options, destination


@dataclass(frozen=True)
class Spec:
    """One benchmarked network, with d2l's batch size and learning rate for it."""

    registry: str            # name for alexnet_course.models.get_model
    batch_size: int
    lr: float
    size_cpu: int | None     # input side on a CPU (None: the native 28×28)
    size_gpu: int | None
    train_size_cpu: int      # training subset on a CPU (the GPU default is all 60,000)


SPECS: dict[str, Spec] = {
    "lenet": Spec("lenet", 256, 0.9, None, None, 10_000),
    "alexnet": Spec("alexnet_d2l", 128, 0.01, 96, 224, 2048),
    "vgg_small": Spec("vgg_small", 128, 0.05, 96, 96, 2048),
    "nin": Spec("nin", 128, 0.1, 96, 96, 2048),
    "googlenet": Spec("googlenet", 128, 0.1, 96, 96, 2048),
}
# fit() keyword arguments of each variant of our path ("d2l" is the reference pipeline).
FIT_VARIANTS: dict[str, dict[str, Any]] = {
    "ours": {},                                            # fit's defaults
    "nchw_fp32": {"amp": False, "channels_last": False},   # the data path alone
    "bf16_nchw": {"amp": "bf16", "channels_last": False},  # CUDA only
    "compile": {"compile": True},
    "graphs": {"compile": "reduce-overhead"},  # CUDA graphs: for launch-bound small networks
}
VARIANTS = ("d2l", *FIT_VARIANTS)
DEFAULT_VARIANTS = {"cpu": ("d2l", "ours", "nchw_fp32"),
                    "cuda": ("d2l", "ours", "nchw_fp32", "bf16_nchw", "compile", "graphs")}


# --------------------------------------------------------------------------- runs
def _prewarm(net0: nn.Module, batch_size: int, size: int, device: torch.device) -> None:
    """One untimed training step on a throwaway copy, in both memory formats, so that
    one-off costs (allocator, oneDNN/cuDNN kernel choice) fall on no pipeline."""
    x = torch.rand(batch_size, 1, size, size, device=device)
    y = torch.randint(0, 10, (batch_size,), device=device)
    for fmt in (torch.contiguous_format, torch.channels_last):
        net = copy.deepcopy(net0).to(device).to(memory_format=fmt)
        nn.functional.cross_entropy(net(x.contiguous(memory_format=fmt)), y).backward()
    _sync(device)


def _summarise(records: list[dict[str, Any]], warmup: int) -> dict[str, Any]:
    measured = records[warmup:] or records[-1:]
    out = {
        "train_s": statistics.median(r["train_seconds"] for r in measured),
        "epoch_s": statistics.median(r["seconds"] for r in measured),
        "examples": measured[-1]["examples"],
        "train_loss": measured[-1]["train_loss"],
        "test_acc": measured[-1]["test_acc"],
        "warmup_s": sum(r["seconds"] for r in records[:warmup]),
        "epochs": [{k: r[k] for k in ("epoch", "train_seconds", "seconds", "train_loss")}
                   for r in records],
    }
    out["examples_per_sec"] = out["examples"] / out["train_s"]
    if "d2l_reported_examples_per_sec" in measured[-1]:
        out["d2l_reported_examples_per_sec"] = statistics.mean(
            r["d2l_reported_examples_per_sec"] for r in measured)
    return out


def run_model(name: str, spec: Spec, *, device: torch.device, variants: list[str],
              resize: int | None, train_size: int | None, test_size: int | None,
              batch_size: int, epochs: int, warmup: int, tv_root: Path, rounds: int = 1,
              seed: int = 0, log=None, on_row=None) -> list[dict[str, Any]]:
    """Time every variant on ``name``; with ``rounds > 1`` the whole set of variants is run
    that many times (in reversed order every other round, so a drift in the machine's speed
    hits all variants alike) and each row gives medians, the speed-ups being the median of
    the per-round ratios to that round's d2l run, with their range.

    Our path (``ours``) runs first; a variant that raises (a ``torch.compile`` error, an
    out-of-memory) becomes a row with its ``error`` and the others still run;
    ``on_row(rows)`` receives this model's rows so far after every run (to save them)."""
    from alexnet_course.models import get_model

    log = log or (lambda msg: print(msg, flush=True))
    set_seed(seed)
    kwargs = {} if resize is None else {"input_size": resize}
    net0 = get_model(spec.registry, **kwargs)
    params = sum(p.numel() for p in net0.parameters())
    total = epochs + warmup
    _prewarm(net0, batch_size, resize or 28, device)
    if "bf16_nchw" in variants and device.type != "cuda":
        log(f"  {name}: skipping bf16_nchw (autocast to bf16 is measured on CUDA only)")
        variants = [v for v in variants if v != "bf16_nchw"]
    variants = sorted(variants, key=lambda v: v != "ours")  # the row that matters most first

    def one(variant: str) -> dict[str, Any]:
        net = copy.deepcopy(net0)
        set_seed(seed)
        t0 = time.perf_counter()
        if variant == "d2l":
            # The same stratified subsets as load_fashion_mnist(seed=0) takes.
            from alexnet_course.data import fashion_mnist_tensors

            train_idx = test_idx = None
            if train_size is not None:
                train_idx = stratified_indices(fashion_mnist_tensors(True)[1], train_size, seed=seed)
            if test_size is not None:
                test_idx = stratified_indices(fashion_mnist_tensors(False)[1], test_size, seed=seed)
            train_iter, test_iter = d2l_loaders(tv_root, batch_size, resize,
                                                train_idx=train_idx, test_idx=test_idx)
            setup_s = time.perf_counter() - t0
            records = d2l_train_ch6(net, train_iter, test_iter, total, spec.lr, device)
        else:
            train_iter, test_iter = load_fashion_mnist(batch_size, resize, train_size=train_size,
                                                       test_size=test_size, device=device,
                                                       seed=seed)
            setup_s = time.perf_counter() - t0
            history = fit(net, train_iter, test_iter, epochs=total, lr=spec.lr, device=device,
                          guard=False, progress=False, log=None, **FIT_VARIANTS[variant])
            records = history.records
        row = {"model": name, "registry": spec.registry, "variant": variant,
               "input_size": resize or 28, "batch_size": batch_size, "lr": spec.lr,
               "parameters": params, "setup_s": setup_s, **_summarise(records, warmup)}
        if variant == "d2l":  # fewer than d2l's 4 when /dev/shm is short (d2l_workers)
            row["num_workers"] = train_iter.num_workers
        extra = (f", d2l prints {row['d2l_reported_examples_per_sec']:.0f}/s"
                 if "d2l_reported_examples_per_sec" in row else "")
        log(f"  {name:10s} {variant:14s} train {row['train_s']:7.2f} s, epoch "
            f"{row['epoch_s']:7.2f} s, {row['examples_per_sec']:8.0f} examples/s{extra}")
        return row

    def guarded(variant: str) -> dict[str, Any]:
        try:
            return one(variant)
        except Exception as err:  # noqa: BLE001 (one failing variant must not lose the others)
            log(f"  {name:10s} {variant:14s} FAILED: {type(err).__name__}: {err}")
            if device.type == "cuda":
                torch.cuda.empty_cache()
            return {"model": name, "registry": spec.registry, "variant": variant,
                    "input_size": resize or 28, "batch_size": batch_size,
                    "error": f"{type(err).__name__}: {err}"[:2000]}

    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for r in range(rounds):
        for variant in (variants if r % 2 == 0 else variants[::-1]):
            runs[variant].append(guarded(variant))
            if on_row is not None:
                on_row(combine_rounds({v: rs for v, rs in runs.items() if rs}))
    return combine_rounds(runs)


def combine_rounds(runs: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per variant from its rounds: medians of the times, and the median and range of
    the per-round speed-ups over the d2l run of the same round."""
    ok = {v: [r for r in rs if "error" not in r] for v, rs in runs.items()}
    ref = ok.get("d2l")
    rows = []
    for variant, all_runs in runs.items():
        rs = ok[variant]
        if not rs:  # every run of it failed: its error is the row
            rows.append(dict(all_runs[-1], rounds=0))
            continue
        row = dict(rs[-1])
        for key in ("train_s", "epoch_s", "setup_s", "d2l_reported_examples_per_sec"):
            if key in row:
                row[key] = statistics.median(r[key] for r in rs)
        row["examples_per_sec"] = row["examples"] / row["train_s"]
        row["rounds"] = len(rs)
        row["train_s_rounds"] = [r["train_s"] for r in rs]
        for key, time_key in (("speedup_train", "train_s"), ("speedup_epoch", "epoch_s")):
            ratios = [a[time_key] / b[time_key] for a, b in zip(ref, rs)] if ref else []
            row[key] = statistics.median(ratios) if ratios else None
            row[key + "_min"] = min(ratios) if ratios else None
            row[key + "_max"] = max(ratios) if ratios else None
        rows.append(row)
    return rows


def to_frame(rows: list[dict[str, Any]]):
    import pandas as pd

    cols = {"model": "model", "input_size": "size", "variant": "pipeline",
            "examples": "examples", "train_s": "train s", "epoch_s": "epoch s",
            "examples_per_sec": "examples/s", "d2l_reported_examples_per_sec": "d2l prints /s",
            "speedup_train": "× train", "speedup_epoch": "× epoch"}
    df = pd.DataFrame(rows)
    for c in cols:
        if c not in df:
            df[c] = None
    return df[list(cols)].rename(columns=cols)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    df = to_frame(rows)
    fmt = {"train s": "{:.2f}", "epoch s": "{:.2f}", "examples/s": "{:.0f}",
           "d2l prints /s": "{:.0f}", "× train": "{:.2f}×", "× epoch": "{:.2f}×"}
    for col, f in fmt.items():
        df[col] = [("" if v is None or v != v else f.format(v)) for v in df[col]]
    # several rounds: the speed-up is their median, followed by its range
    for i, r in enumerate(rows):
        lo, hi = r.get("speedup_train_min"), r.get("speedup_train_max")
        if r.get("rounds", 1) > 1 and lo is not None and r.get("variant") != "d2l":
            df.loc[i, "× train"] += f" ({lo:.2f}–{hi:.2f})"
    if any(r.get("rounds", 1) > 1 for r in rows):
        df.insert(3, "rounds", [r.get("rounds", 1) for r in rows])
    return df.to_markdown(index=False)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=list(SPECS), choices=list(SPECS))
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=None,
                   help="pipelines to time (default: d2l ours nchw_fp32 on CPU; "
                        "all on CUDA)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--train-size", type=int, default=None,
                   help="training examples (default: per model on CPU, all 60000 on CUDA)")
    p.add_argument("--lenet-train-size", type=int, default=None,
                   help="override --train-size for LeNet only")
    p.add_argument("--test-size", type=int, default=None,
                   help="test examples evaluated per epoch (default 1000 on CPU, 10000 on CUDA)")
    p.add_argument("--size", type=int, default=None, help="input side for every model but LeNet")
    p.add_argument("--batch-size", type=int, default=None, help="default: d2l's per model")
    p.add_argument("--epochs", type=int, default=1, help="measured epochs")
    p.add_argument("--warmup", type=int, default=1, help="epochs run first and discarded")
    p.add_argument("--rounds", type=int, default=1,
                   help="repeat every variant this many times (alternating the order); "
                        "speed-ups are the median of the per-round ratios")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    add_record_options(p, "benchmarks/results/training_<device>.json")
    args = p.parse_args(argv)

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    out = destination(f"training_{device.type}", replace=args.replace_record, out=args.out,
                      differs=["the record is `make bench`'s plan (benchmarks/run_all.py)"])
    if args.threads:
        torch.set_num_threads(args.threads)
    on_gpu = device.type == "cuda"
    plan = []
    for name in args.models:
        spec = SPECS[name]
        resize = spec.size_gpu if on_gpu else spec.size_cpu
        if args.size and resize is not None:
            resize = args.size
        train_size = args.train_size if args.train_size else (None if on_gpu else spec.train_size_cpu)
        if name == "lenet" and args.lenet_train_size:
            train_size = args.lenet_train_size
        plan.append({"name": name, "resize": resize, "train_size": train_size,
                     "test_size": args.test_size or (None if on_gpu else 1000),
                     "batch_size": args.batch_size or spec.batch_size,
                     "variants": args.variants or list(DEFAULT_VARIANTS[device.type]),
                     "epochs": args.epochs, "warmup": args.warmup, "rounds": args.rounds})
    return run_plan(plan, device, out=out, argv=sys.argv[1:] if argv is None else argv)


def run_plan(plan: list[dict[str, Any]], device: torch.device, *, out: Path | None = None,
             argv: list[str] | None = None) -> dict[str, Any]:
    """Time every entry of ``plan`` (keyword arguments of :func:`run_model` plus ``name``),
    print the table and write ``out`` (default: as :func:`~.records.destination` decides
    for the record's own plan without ``--replace-record``)."""
    out = out or destination(f"training_{device.type}", differs=[], replace=False)
    load_start = loadavg()
    started = time.perf_counter()
    hw = hardware(device)
    print(f"training benchmark on {hardware_line(hw)}; loadavg {load_start}", flush=True)
    rows: list[dict[str, Any]] = []

    def save(current: list[dict[str, Any]], complete: bool = False) -> dict[str, Any]:
        """The JSON so far: written after every row, so a stopped run keeps what finished."""
        payload = {
            "benchmark": "training", "hardware": hw, "loadavg_start": load_start,
            "loadavg_end": loadavg(), "note": SHARED_NOTE, "complete": complete,
            "seconds": time.perf_counter() - started,
            "settings": {"plan": plan, "d2l_num_workers": d2l_workers(), "argv": argv,
                         "epochs": max(e["epochs"] for e in plan),
                         "warmup": ", ".join(sorted({str(e["warmup"]) for e in plan}))},
            "rows": rows + current,
        }
        write_json(out.stem, payload, out.parent)
        return payload

    with tempfile.TemporaryDirectory(prefix="fmnist-tv-") as tmp:
        tv_root = torchvision_root(Path(tmp))
        for entry in plan:
            entry = dict(entry)
            name = entry.pop("name")
            rows += run_model(name, SPECS[name], device=device, tv_root=tv_root, on_row=save,
                              **entry)
    payload = save([], complete=True)
    print(to_frame(rows).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"wrote {out}")
    return payload


if __name__ == "__main__":
    main()
