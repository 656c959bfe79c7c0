"""Shared helpers for the benchmarks: the machine's description and JSON/Markdown output."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

from tools.book.paths import REPO_ROOT

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# where a run that is not a published record's recipe writes (tuning, probes, tests)
SCRATCH_DIR = REPO_ROOT / "_build" / "benchmarks"

SHARED_NOTE = ("Measured on a shared machine: other developers' processes may have used the "
               "same cores during the run; see loadavg_start/loadavg_end.")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=REPO_ROOT, capture_output=True, text=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def hardware(device: torch.device | str) -> dict[str, Any]:
    device = torch.device(device)
    info: dict[str, Any] = {
        "device": device.type,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_commit(),
    }
    try:
        import torchvision

        info["torchvision"] = torchvision.__version__
    except ImportError:
        pass
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info


def hardware_line(hw: dict[str, Any]) -> str:
    """One line naming the machine, for tables and the book."""
    if hw.get("gpu"):
        where = f"{hw['gpu']} (CUDA {hw.get('cuda')}), host CPU {hw['cpu']}"
    else:
        where = f"{hw['cpu']}, {hw['cpu_count']} cores, {hw['torch_threads']} torch threads"
    return f"{where}; torch {hw['torch']}; {hw['date']}; commit {hw['commit']}"


def write_json(name: str, payload: dict[str, Any], results_dir: Path | None = None) -> Path:
    """Write ``<name>.json`` atomically (:func:`write_text_atomic`)."""
    path = (results_dir or RESULTS_DIR) / f"{name}.json"
    return write_text_atomic(path, json.dumps(payload, indent=1, default=str) + "\n")


def write_text_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``: a
    write cut short (a full disk, a kill) leaves the previous file whole, never a truncated
    one (the rename is atomic within one folder, hence the temporary file's place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
