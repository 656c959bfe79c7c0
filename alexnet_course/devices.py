"""Which device to use and how to describe it: the one place that answers both.

The order is CUDA, then Apple's MPS, then the CPU, wherever the course picks a device.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


def default_device() -> torch.device:
    """The best device here: CUDA, else MPS (Apple silicon), else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return "CPU"
    return next((line.split(":", 1)[1].strip() for line in lines
                 if line.startswith("model name")), "CPU")


def cpu_cores() -> int:
    """Cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def device_name(device: torch.device | str | None = None) -> str:
    """A human-readable name: the GPU's model, or the CPU's model and torch's thread count."""
    device = torch.device(device) if device is not None else default_device()
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"{_cpu_model()} ({torch.get_num_threads()} threads)"


def describe_device(device: torch.device | str | None = None) -> dict[str, Any]:
    """What a run records about where it ran: kind, name, cores and the torch version."""
    device = torch.device(device) if device is not None else default_device()
    info: dict[str, Any] = {"kind": device.type, "name": device_name(device),
                            "torch": str(torch.__version__)}
    if device.type == "cpu":
        info["cores"] = cpu_cores()
    return info
