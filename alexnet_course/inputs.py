"""Checks of what a loader feeds the training loop, made before torch sees it.

A label outside ``[0, C)`` reaches ``cross_entropy`` as an ``IndexError`` on the CPU and as
an asynchronous device-side assert on CUDA, which names neither the labels nor the
network's classes and leaves the CUDA context unusable; in an evaluation it raises
nothing and silently lowers the accuracy. An empty evaluation set would score 0.0.
These checks name what is wrong instead. They read only the labels (one min/max per
pass), never the random streams, so they change no number of a run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor


def check_labels(data: Iterable[Any], batch_labels: Tensor, num_classes: int, what: str) -> None:
    """Refuse labels outside ``[0, num_classes)``: all of the loader's when it keeps them
    as one tensor (``DeviceLoader.labels``), else those of ``batch_labels``. ``what`` names
    the set in the message ("training", "evaluated")."""
    labels = getattr(data, "labels", None)
    labels = labels if isinstance(labels, Tensor) else batch_labels
    if labels.numel() == 0 or labels.is_floating_point():  # soft targets: not class indices
        return
    low, high = (int(v) for v in torch.aminmax(labels))
    if low < 0 or high >= num_classes:
        raise ValueError(
            f"the {what} labels run from {low} to {high}, but the network has {num_classes} "
            f"outputs: labels must lie in [0, {num_classes}). Give the network's last layer as "
            f"many outputs as there are classes, or map the labels to 0 … {num_classes - 1}.")


def empty_loader(name: str, argument: str | None = None) -> str:
    """The message for a loader that yields no batches (``name``: "test", "evaluation"...;
    ``argument``: the keyword that leaves it out, if there is one)."""
    skip = f", or pass {argument}=None to leave it out" if argument else ""
    return (f"the {name} loader yields no batches, so there is no accuracy to report (an "
            f"empty set would score 0.0); check its size and batch_size{skip}")
