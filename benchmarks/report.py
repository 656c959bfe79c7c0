"""Markdown tables from ``benchmarks/results/*.json`` for the book's Performance page.

``python -m benchmarks.report`` writes ``benchmarks/results/summary.md``, which
``book/performance.md`` includes. Results that do not exist yet are named as missing; a
result that exists but cannot be read stops the report with
:class:`~alexnet_course.course.speedruns.DamagedRecord`, naming the file and how to
regenerate it (showing it as "not measured" would hide it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import bench_book, bench_training
from .common import RESULTS_DIR, hardware_line, write_text_atomic
from .records import read_record

TRAINING_EXPLAINED = (
    "`train s` is the wall-clock of one training epoch, data loading and preparation "
    "included; `epoch s` adds the test-set evaluation; `examples/s` is training examples / "
    "`train s`. `d2l prints /s` is the figure d2l's `train_ch6` would print for the same "
    "run: its timer runs only around each batch's computation, so data loading is left out. "
    "`× train` and `× epoch` are the reference's time divided by the row's time (above 1: "
    "faster than d2l).")


def _load(path: Path) -> dict[str, Any] | None:
    """The record at ``path``, ``None`` when it is missing; a damaged one raises."""
    return read_record(path)


def training_section(payload: dict[str, Any], device: str) -> str:
    hw = payload["hardware"]
    s = payload.get("settings", {})
    head = (f"**Machine:** {hardware_line(hw)}. Load average at start/end "
            f"{payload.get('loadavg_start')} / {payload.get('loadavg_end')} "
            f"({'shared machine: other processes may have used the same cores' if device == 'cpu' else 'see JSON'}). "
            f"Warm-up + measured epochs per model (median of the measured ones; every model "
            f"also gets one untimed training step first): "
            + ", ".join(f"{e['name']} {e['warmup']}+{e['epochs']}"
                        + (f" (×{e['rounds']} rounds)" if e.get("rounds", 1) > 1 else "")
                        for e in s.get("plan", []))
            + f". The d2l reference uses {s.get('d2l_num_workers')} DataLoader workers.")
    return head + "\n\n" + bench_training.markdown_table(payload["rows"])


def lrn_section(payload: dict[str, Any]) -> str:
    """The LRN benchmark: one row per batch size and implementation, times in ms."""
    import pandas as pd

    cols = {"batch": "batch", "implementation": "implementation", "forward_ms": "forward ms",
            "backward_ms": "backward ms", "median_ms": "total ms", "times_ours": "× ours",
            "passes": "passes", "max_abs_diff_grad": "max abs. error of the gradient"}
    frame = pd.DataFrame(payload["rows"])
    frame = frame[[c for c in cols if c in frame]].rename(columns=cols)
    head = (f"**Machine:** {hardware_line(payload['hardware'])}. Load average at start/end "
            f"{payload.get('loadavg_start')} / {payload.get('loadavg_end')}. Input "
            f"{payload['rows'][0]['shape'].split('×', 1)[1]} (AlexNet's first LRN) per image, "
            f"float32; median of up to {payload.get('repeats')} passes after "
            f"{payload.get('warmup')} warm-up (an implementation stops repeating after "
            f"{payload.get('budget_s')} s); `× ours` is its total time over ours; gradients "
            f"are compared with a float64 loop.")
    return head + "\n\n" + frame.to_markdown(index=False, floatfmt=".4g")


def generic_section(payload: dict[str, Any]) -> str:
    """Any other benchmark JSON: its hardware line and its ``rows`` as a table."""
    import pandas as pd

    parts = []
    if isinstance(payload.get("hardware"), dict):
        try:
            parts.append(f"**Machine:** {hardware_line(payload['hardware'])}.")
        except KeyError:
            parts.append(f"**Machine:** {payload['hardware']}.")
    rows = payload.get("rows") or payload.get("results")
    if isinstance(rows, list) and rows and isinstance(rows[0], dict):
        flat = [{k: v for k, v in r.items() if not isinstance(v, (list, dict))} for r in rows]
        parts.append(pd.DataFrame(flat).to_markdown(index=False, floatfmt=".4g"))
    else:
        parts.append("```json\n" + json.dumps(payload, indent=1, default=str)[:3000] + "\n```")
    return "\n\n".join(parts)


def _row(payload: dict[str, Any] | None, model: str, variant: str = "ours") -> dict[str, Any] | None:
    return next((r for r in (payload or {}).get("rows", [])
                 if r.get("model") == model and r.get("variant") == variant), None)


def _speedup(payload: dict[str, Any] | None, model: str, variant: str = "ours") -> float | None:
    row = _row(payload, model, variant)
    return row.get("speedup_train") if row else None


def _verdict(value: float | None, target: float, fmt: str = "{:.2f}×") -> tuple[str, str]:
    if value is None:
        return "not measured", "—"
    return fmt.format(value), ("met" if value >= target else "**not met**")


def _speedup_verdict(payload: dict[str, Any] | None, model: str, target: float) -> tuple[str, str]:
    """The median speed-up, with the range over rounds when there were several."""
    measured, verdict = _verdict(_speedup(payload, model), target)
    row = _row(payload, model)
    if row and row.get("rounds", 1) > 1 and row.get("speedup_train_min") is not None:
        measured += (f" (median of {row['rounds']} rounds; "
                     f"{row['speedup_train_min']:.2f}–{row['speedup_train_max']:.2f})")
    return measured, verdict


def targets_section(results_dir: Path = RESULTS_DIR) -> str:
    """The performance issue's targets against the latest results (nothing typed by hand)."""
    cpu, cuda = _load(results_dir / "training_cpu.json"), _load(results_dir / "training_cuda.json")
    rows = []
    for model, size, target in (("lenet", 28, 2.0), ("alexnet", 96, 1.3)):
        rows.append((f"CPU: {model} at {size}, ours vs d2l (training epoch)", f"≥ {target}×",
                     *_speedup_verdict(cpu, model, target)))
    alex_gpu = _row(cuda, "alexnet")
    rows.append(("GPU: alexnet at 224, ours vs d2l", "≥ 5×", *_speedup_verdict(cuda, "alexnet", 5.0)))
    rows.append(("GPU: alexnet at 224, examples/s (H100)", "≥ 40,000",
                 *_verdict(alex_gpu and alex_gpu.get("examples_per_sec"), 40_000, "{:,.0f}")))
    for device, label in (("cpu", "CPU"), ("cuda", "GPU")):
        lrn = _load(results_dir / f"lrn_{device}.json")
        by_batch: dict[int, dict[str, float]] = {}
        for r in (lrn or {}).get("rows", []):
            by_batch.setdefault(r["batch"], {})[r["implementation"]] = r["median_ms"]
        if not by_batch:
            rows.append((f"{label}: LRN vs the source material's loop", "≥ 100×", "not measured", "—"))
            continue
        for batch, times in sorted(by_batch.items()):
            ours = times.get("ours")
            loop = next((v for k, v in times.items() if k.startswith("source material")), None)
            torch_ = next((v for k, v in times.items() if k.startswith("torch.nn")), None)
            shape = next(r["shape"] for r in lrn["rows"] if r["batch"] == batch)
            rows.append((f"{label}: LRN {shape}, source material's loop ÷ ours", "≥ 100×",
                         *_verdict(loop / ours if loop and ours else None, 100.0, "{:.0f}×")))
            rows.append((f"{label}: LRN {shape}, torch.nn.LocalResponseNorm ÷ ours", "≥ 1×",
                         *_verdict(torch_ / ours if torch_ and ours else None, 1.0)))
    rows += speedrun_target_rows(results_dir)
    lines = ["| target | goal | measured | verdict |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines)


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def speedrun_target_rows(results_dir: Path = RESULTS_DIR) -> list[tuple[str, str, str, str]]:
    """The speed-run issue's targets: each needs 4 of 5 seeds within its budget."""
    rows = []
    for device, target, budget in (("cpu", 0.90, "30 s"), ("cpu", 0.93, "10 min"), ("cuda", 0.93, "5 s")):
        payload = _load(results_dir / f"speedrun_{device}_{round(100 * target)}.json")
        what = f"{'CPU' if device == 'cpu' else 'GPU'}: speed-run to {target:.2f} test accuracy"
        goal = f"≤ {budget} in ≥ 4 of 5 seeds"
        if payload is None or "summary" not in payload:
            rows.append((what, goal, "not measured", "—"))
            continue
        sm = payload["summary"]
        measured = (f"{sm['within_budget']} of {sm['n']} within; median {_seconds(sm['median_s'])} s "
                    f"({_seconds(sm['min_s'])}–{_seconds(sm['max_s'])}), {sm['reached']} reached")
        rows.append((what, goal, measured, "met" if sm["meets"] else "**not met**"))
    return rows


SPEEDRUN_EXPLAINED = (
    "Seconds are wall-clock from the start of each seed's Python process (the interpreter, "
    "`import torch`, reading the IDX files, building the network and every evaluation "
    "included) to the first evaluation at or above the target; a seed that never got there "
    "has no time and counts as slower than every seed that did. `final acc` is the test "
    "accuracy at the end of the schedule. The hyper-parameters were chosen on 5,000 images "
    "held out of the training set, never on the test set (`benchmarks/NOTES.md`).")


def speedrun_section(results_dir: Path = RESULTS_DIR) -> str:
    """The speed-run recipes (one row per target and device) and the ablation tables."""
    from alexnet_course.course.speedruns import is_speedrun, to_frame

    loaded = [(p, _load(p)) for p in sorted(results_dir.glob("speedrun_*.json"))]
    recipes = [(p, d) for p, d in loaded if d and is_speedrun(d) and d.get("split", "test") == "test"]
    profiles = [(p, d) for p, d in loaded if d and d.get("benchmark") == "speedrun_profile"]
    if not recipes:
        return "_Not measured yet: run `make speedrun`._"
    out = [SPEEDRUN_EXPLAINED, ""]
    for path, payload in recipes:
        s = payload.get("settings") or payload.get("recipe", {})
        kind = "Ablation" if "rows" in payload else "Recipe"
        head = (f"**{kind} for {float(s.get('target', 0)):.2f}** (`{path.name}`): "
                f"{hardware_line(payload['hardware'])}; "
                f"load average at start/end {payload.get('loadavg_start')} / {payload.get('loadavg_end')}"
                + ("" if payload.get("complete", True) else "; **incomplete: the run was stopped**") + ".")
        ran = {r["name"] for r in payload.get("rows", []) if r.get("summary", {}).get("n")}
        missing = [n for n in payload.get("planned_rows", []) if n not in ran]
        if missing:
            head += f" Rows not run: {', '.join(missing)}."
        if "rows" not in payload:
            head += f" The recipe: {recipe_text(s)}."
        frame = to_frame(payload).rename(columns={
            "median_s": "median s", "min_s": "min s", "max_s": "max s", "within_budget": "within budget",
            "final_acc_median": "final acc (median)", "final_acc_min": "min", "final_acc_max": "max"})
        if "rows" in payload:
            frame = frame[frame["n"].fillna(0) > 0].drop(columns=["step"])
            head += (f" Each row adds one trick to the carried row above it (`in_recipe`); a row "
                     f"not in the recipe is tried on the row before it and not carried. A run "
                     f"stops at the target or after {payload.get('time_limit_s'):.0f} s. `× previous`: "
                     f"median seconds over the previous carried row's.")
        out += [head, "", frame.to_markdown(index=False, floatfmt=".4g"), ""]
    for path, payload in profiles:
        out += [profile_line(path, payload), ""]
    return "\n".join(out)


def recipe_text(s: dict[str, Any]) -> str:
    """A recipe's settings in words (the fields an ablation turns on one at a time)."""
    net = (f"`alexnet_speedrun` with widths {tuple(s['widths'])}"
           + (f", residual blocks after stages {tuple(s['residual'])}" if s["residual"]
              else ", no residual block")
           + (", batch norm" if s["batch_norm"] else ""))
    opt = (f"{'SGD with Nesterov momentum ' + str(s['momentum']) if s['optimizer'] == 'sgd' else 'Adam'}, "
           f"lr {s['lr']}, {s['schedule']} schedule over {s['epochs']:g} epochs "
           f"({100 * s['warmup']:.0f} % warm-up), weight decay {s['weight_decay']}, batch {s['batch_size']}")
    extras = [f"label smoothing {s['label_smoothing']}" if s["label_smoothing"] else None,
              "random flips" if s["flip"] else None,
              f"{s['translate']}-pixel translations" if s["translate"] else None,
              "flip test-time augmentation" if s["tta"] else None,
              f"EMA {s['ema']}" if s["ema"] else None, "`torch.compile`" if s["compile"] else None,
              "channels_last" if s["channels_last"] else None,
              f"evaluated {s['eval_per_epoch']}× an epoch from epoch {s['eval_from']:g}"]
    return "; ".join([net, opt, ", ".join(e for e in extras if e)])


def profile_line(path: Path, payload: dict[str, Any]) -> str:
    """One step of a recipe, split into phases (``benchmarks/speedrun_profile.py``)."""
    s, ph = payload["settings"], payload["phases_s"]
    return (f"**Where a step goes, the {float(s['target']):.2f} recipe** (`{path.name}`, "
            f"{hardware_line(payload['hardware'])}): {1e3 * payload['step_s']:.1f} ms per step of "
            f"{s['batch_size']} ({payload['examples_per_s']:,.0f} examples/s): "
            + ", ".join(f"{k} {1e3 * v:.1f} ms" for k, v in ph.items())
            + f"; convolutions {100 * payload['conv_share_of_op_time']:.0f} % of the operators' time.")


def build_summary(results_dir: Path = RESULTS_DIR) -> str:
    out = ["## Targets\n", "Each figure below is read from the JSON files the benchmarks wrote.\n",
           targets_section(results_dir), ""]
    for device, title in (("cpu", "CPU"), ("cuda", "GPU")):
        out.append(f"## Training: ours against the d2l pipeline, {title}\n")
        payload = _load(results_dir / f"training_{device}.json")
        if payload:
            out.append(training_section(payload, device))
        else:
            out.append(f"_Not measured yet: run `python -m benchmarks.bench_training "
                       f"--device {device}` on a machine with {'a GPU' if device == 'cuda' else 'a CPU'}._")
        out.append("")
    out.append(TRAINING_EXPLAINED + "\n")
    out.append("## The whole book, per profile\n")
    book = _load(results_dir / "book.json")
    out.append(bench_book.markdown_table(book) if book else "_Not measured yet._")
    out.append("")
    out += ["## Speed-run: seconds to 0.90 and 0.93 test accuracy\n", speedrun_section(results_dir), ""]
    known = {"book.json", "training_cpu.json", "training_cuda.json", "run_all.json"}
    for path in sorted(results_dir.glob("*.json")):
        if path.name in known or path.name.startswith("speedrun_"):
            continue
        payload = _load(path)
        if payload is None:
            continue
        out.append(f"## {payload.get('title') or payload.get('benchmark') or path.stem}\n")
        out.append(lrn_section(payload) if payload.get("benchmark") == "lrn" and "hardware" in payload
                   else generic_section(payload))
        out.append("")
    run_all = _load(results_dir / "run_all.json")
    if run_all:
        out.append(f"`python -m benchmarks.run_all` took {run_all['seconds']:.0f} s "
                   f"on {run_all.get('cpu', 'this machine')}.\n")
    return "\n".join(out)


def main() -> Path:
    path = write_text_atomic(RESULTS_DIR / "summary.md", build_summary() + "\n")
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
