"""Markdown tables from ``benchmarks/results/*.json`` for the book's Performance page.

``python -m benchmarks.report`` writes ``benchmarks/results/summary.md``, which
``book/performance.md`` includes. Results that do not exist yet are named as missing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import bench_book, bench_training
from .common import RESULTS_DIR, hardware_line

TRAINING_EXPLAINED = (
    "`train s` is the wall-clock of one training epoch, data loading and preparation "
    "included; `epoch s` adds the test-set evaluation; `examples/s` is training examples / "
    "`train s`. `d2l prints /s` is the figure d2l's `train_ch6` would print for the same "
    "run: its timer runs only around each batch's computation, so data loading is left out. "
    "`× train` and `× epoch` are the reference's time divided by the row's time (above 1: "
    "faster than d2l).")


def _load(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def training_section(payload: dict[str, Any], device: str) -> str:
    hw = payload["hardware"]
    s = payload.get("settings", {})
    head = (f"**Machine:** {hardware_line(hw)}. Load average at start/end "
            f"{payload.get('loadavg_start')} / {payload.get('loadavg_end')} "
            f"({'shared machine: other processes may have used the same cores' if device == 'cpu' else 'see JSON'}). "
            f"Warm-up + measured epochs per model (median of the measured ones; every model "
            f"also gets one untimed training step first): "
            + ", ".join(f"{e['name']} {e['warmup']}+{e['epochs']}" for e in s.get("plan", []))
            + f". The d2l reference uses {s.get('d2l_num_workers')} DataLoader workers.")
    return head + "\n\n" + bench_training.markdown_table(payload["rows"])


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


def build_summary(results_dir: Path = RESULTS_DIR) -> str:
    out = []
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
    known = {"book.json", "training_cpu.json", "training_cuda.json", "run_all.json"}
    for path in sorted(results_dir.glob("*.json")):
        if path.name in known:
            continue
        payload = _load(path)
        if payload is None:
            continue
        out.append(f"## {payload.get('title') or payload.get('benchmark') or path.stem}\n")
        out.append(generic_section(payload))
        out.append("")
    run_all = _load(results_dir / "run_all.json")
    if run_all:
        out.append(f"`python -m benchmarks.run_all` took {run_all['seconds']:.0f} s "
                   f"on {run_all.get('cpu', 'this machine')}.\n")
    return "\n".join(out)


def main() -> Path:
    path = RESULTS_DIR / "summary.md"
    path.write_text(build_summary() + "\n")
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
