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


class DeviceError(ValueError):
    """A device this machine does not have; the message lists the ones it has."""


def available_devices() -> list[str]:
    """The devices a run may name here: ``cpu``, every ``cuda:i`` and ``mps`` if present."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names


def _missing(device: torch.device) -> str | None:
    """Why ``device`` cannot be used here, or None when it can."""
    if device.type == "cuda":
        if not torch.cuda.is_available():
            built = torch.version.cuda is not None
            return ("no CUDA GPU is visible (torch.cuda.is_available() is False)" if built else
                    f"this torch ({torch.__version__}) was built without CUDA")
        if device.index is not None and device.index >= torch.cuda.device_count():
            return f"this machine has {torch.cuda.device_count()} CUDA device(s)"
    elif device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            return "Apple's MPS backend is not available (it needs Apple silicon and macOS 12.3+)"
    return None


def check_device(device: torch.device | str) -> torch.device:
    """``device`` as a ``torch.device``, refused with :class:`DeviceError` (naming it and
    the available ones) when this machine lacks it: torch's own error comes later and
    names neither (or, for a CUDA index out of range, only at the first tensor)."""
    available = ", ".join(available_devices())
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise DeviceError(f"unknown device {str(device)!r} ({err}). Available: {available}.") from None
    why = _missing(parsed)
    if why is not None:
        raise DeviceError(f"device {str(device)!r} is not available here: {why}. Available: "
                          f"{available}. Pass one of them, or leave the device unset to use "
                          f"the best one (CUDA, then MPS, then the CPU).")
    return parsed


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
