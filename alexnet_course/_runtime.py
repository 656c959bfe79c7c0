"""Device-side helpers of the training loop (:mod:`.train`): autocast, the NHWC layout,
``torch.compile`` and the progress counter. Nothing here decides what a run computes."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator

import torch
from torch import Tensor, nn

from .settings import resolve_amp

Batches = Iterable[tuple[Tensor, Tensor]]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(device: torch.device, amp: str | bool):
    amp = resolve_amp(device, amp)
    if not amp:
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=torch.float16 if amp == "fp16" else torch.bfloat16)


class _GraphStep(nn.Module):
    """A ``torch.compile(mode="reduce-overhead")`` network for training: each step starts
    a new CUDA-graph step, so the graphs' outputs of the previous one may be overwritten."""

    def __init__(self, compiled: nn.Module) -> None:
        super().__init__()
        self.compiled = compiled

    def forward(self, x: Tensor) -> Tensor:
        torch.compiler.cudagraph_mark_step_begin()
        return self.compiled(x)


def compiled(net: nn.Module, mode: bool | str) -> nn.Module:
    """``net`` itself, or compiled in torch.compile's default mode (``True``) or ``mode``."""
    if mode is False:
        return net
    if mode is True or mode == "default":
        return torch.compile(net)
    out = torch.compile(net, mode=mode)
    return _GraphStep(out) if mode == "reduce-overhead" else out


def is_channels_last(net: nn.Module) -> bool:
    """Whether ``net``'s 4-d weights are stored NHWC (so its inputs should be too)."""
    for p in net.parameters():
        if p.dim() != 4:
            continue
        nhwc, nchw = p.is_contiguous(memory_format=torch.channels_last), p.is_contiguous()
        if nhwc != nchw:  # a weight with one input channel is both: look further
            return nhwc
    return False


def show_progress(progress: bool | None) -> bool:
    """``None``: a counter for a person at a terminal or in Jupyter; callers that record
    their output (papermill, CI) pass ``progress=False``."""
    if progress is not None:
        return progress
    # inside a kernel stderr is ipykernel's stream; "ipykernel" in sys.modules is not enough,
    # pytest's notebook plugins import it too
    return sys.stderr.isatty() or type(sys.stderr).__module__.startswith("ipykernel")


def with_progress(batches: Batches, desc: str | None) -> Iterator[tuple[Tensor, Tensor]]:
    """``batches``, with a one-line counter on stderr redrawn at most 4× a second."""
    if desc is None:
        yield from batches
        return
    total, shown = len(batches) if hasattr(batches, "__len__") else "?", 0.0
    for i, batch in enumerate(batches):
        if time.perf_counter() - shown > 0.25:
            sys.stderr.write(f"\r{desc}: batch {i + 1}/{total}")
            shown = time.perf_counter()
        yield batch
    sys.stderr.write("\r" + " " * (len(desc) + 24) + "\r")
