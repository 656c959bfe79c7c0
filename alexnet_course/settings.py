"""What one training run is: :class:`TrainSettings`, checked when ``fit`` is called, and the
optimiser and learning-rate schedules built from it.

The settings are the run's identity: ``fit`` trains by them and a checkpoint records them,
so that resuming with other settings is refused field by field (see :mod:`.checkpoint`).
Every check here runs before the first batch, so a typo costs a message, not an epoch.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

OPTIMIZERS = ("sgd", "adam", "adamw")
# Scheduler name -> the scheduler_kwargs it takes, with their defaults.
SCHEDULERS: dict[str, dict[str, Any]] = {
    "plateau": {"factor": 0.1, "patience": 1},  # AlexNet: lr ÷ 10 when validation stalls
    "cosine": {},                               # anneals to 0 over `epochs`: nothing to set
    "step": {"step_size": 3, "gamma": 0.1},
}
AMP_CHOICES = ("auto", "bf16", "fp16", False)
# torch.compile modes fit(compile=...) takes besides True (the default mode) and False;
# "reduce-overhead" replays CUDA graphs, for networks whose steps are launch-bound
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")


@dataclass
class TrainSettings:
    """Everything that decides what a run computes, resolved for its device.

    ``optimizer`` is a name from :data:`OPTIMIZERS` or the class name of a ready optimiser;
    ``scheduler`` a name from :data:`SCHEDULERS`, ``"custom"`` (a callable) or ``None``;
    ``amp`` is ``"bf16"``, ``"fp16"`` or ``False`` and ``channels_last`` a bool once resolved.
    """

    # --- the hyper-parameters
    epochs: int
    optimizer: str = "sgd"
    lr: float | None = None
    momentum: float = 0.0
    weight_decay: float = 0.0
    scheduler: str | None = None
    scheduler_kwargs: dict[str, Any] = field(default_factory=dict)
    warmup_steps: int = 0
    label_smoothing: float = 0.0
    amp: str | bool = False
    channels_last: bool = False
    compile: bool | str = False
    # --- the guards (they stop a run; they never change what it computes)
    guard: bool = True
    stall_epochs: int = 3
    stall_min_steps: int = 50
    # --- the data, as the training loader reports it (None: it does not say)
    batch_size: int | None = None
    train_examples: int | None = None

    def __post_init__(self) -> None:
        _whole(self.epochs, "epochs", 1)
        if self.lr is not None and not (_real(self.lr) and 0 < self.lr < math.inf):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        for name in ("momentum", "weight_decay"):
            value = getattr(self, name)
            if not (_real(value) and 0 <= value < math.inf):
                raise ValueError(f"{name} must be a number ≥ 0, got {value!r}")
        _whole(self.warmup_steps, "warmup_steps", 0)
        if not (_real(self.label_smoothing) and 0 <= self.label_smoothing < 1):
            raise ValueError(f"label_smoothing must be in [0, 1), e.g. 0.1; "
                             f"got {self.label_smoothing!r}")
        self.scheduler_kwargs = check_scheduler_kwargs(self.scheduler, self.scheduler_kwargs)
        for name in ("guard", "channels_last"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if not isinstance(self.compile, bool) and self.compile not in COMPILE_MODES:
            raise ValueError(f"compile must be True, False or a torch.compile mode "
                             f"({', '.join(map(repr, COMPILE_MODES))}), got {self.compile!r}")
        _whole(self.stall_epochs, "stall_epochs", 1)
        _whole(self.stall_min_steps, "stall_min_steps", 0)


def _real(x: object) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and not math.isnan(x)


def _whole(x: object, name: str, low: int) -> None:
    """A whole number ≥ ``low``; bools and floats such as 2.0 are refused, not rounded."""
    if isinstance(x, bool) or not isinstance(x, numbers.Integral) or x < low:
        raise ValueError(f"{name} must be a whole number ≥ {low} ({low}, {low + 1}, …), "
                         f"got {x!r} ({type(x).__name__})")


def resolve_amp(device: torch.device, amp: str | bool) -> str | bool:
    """``"auto"``: bf16 autocast on a CUDA GPU that computes in bf16 (compute capability
    ≥ 8.0: A100, H100, RTX 30xx and later), fp16 autocast with a gradient scaler on older
    ones (T4, V100), float32 on the CPU and on Apple's MPS. An explicit choice is kept,
    except fp16 off CUDA, which is refused (the gradient scaler is for CUDA)."""
    if not any(amp is c or (isinstance(c, str) and amp == c) for c in AMP_CHOICES):
        raise ValueError(f"amp must be 'auto', 'bf16', 'fp16' or False, got {amp!r}")
    if amp == "auto":
        if device.type != "cuda":
            return False
        return "bf16" if torch.cuda.get_device_capability(device) >= (8, 0) else "fp16"
    if amp == "fp16" and device.type != "cuda":
        raise ValueError(f"amp='fp16' (with a gradient scaler) needs a CUDA GPU, got device "
                         f"{device.type!r}: use amp=False, or 'bf16' on a CPU")
    return amp


def resolve_channels_last(device: torch.device, amp: str | bool, channels_last: bool | str) -> bool:
    """``"auto"``: NHWC on a CPU, where oneDNN's convolutions prefer it (faster for all five
    benchmarked networks, see benchmarks/NOTES.md), and on CUDA under bf16 or fp16
    autocast, where tensor-core convolutions want it (not yet measured here)."""
    if channels_last == "auto":
        half = resolve_amp(device, amp) in ("bf16", "fp16")
        return device.type == "cpu" or (device.type == "cuda" and half)
    if not isinstance(channels_last, bool):
        raise ValueError(f"channels_last must be 'auto', True or False, got {channels_last!r}")
    return channels_last


def check_scheduler_kwargs(scheduler: str | None, kwargs: dict[str, Any] | None) -> dict[str, Any]:
    """``kwargs`` merged over the scheduler's defaults; a key it does not take is refused
    (a ``patience`` given to ``cosine`` would otherwise be silently ignored)."""
    kwargs = dict(kwargs or {})
    if scheduler is None or scheduler == "custom":
        if kwargs:
            what = "no scheduler" if scheduler is None else "a scheduler callable"
            raise ValueError(f"scheduler_kwargs {kwargs} apply to no scheduler: with {what} "
                             f"there is nothing to pass them to")
        return kwargs
    if scheduler not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {scheduler!r}; choose one of: "
                         f"{', '.join(SCHEDULERS)}, or pass a callable(optimizer) -> scheduler")
    allowed = SCHEDULERS[scheduler]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        takes = ", ".join(allowed) if allowed else "none"
        raise ValueError(f"scheduler_kwargs {unknown} do not apply to scheduler={scheduler!r}; "
                         f"it takes: {takes}")
    merged = {**allowed, **kwargs}
    for key in ("patience", "step_size"):
        if key in merged:
            _whole(merged[key], f"scheduler_kwargs[{key!r}]", 0 if key == "patience" else 1)
    for key in ("factor", "gamma"):
        if key in merged and not (_real(merged[key]) and 0 < merged[key] <= 1):
            raise ValueError(f"scheduler_kwargs[{key!r}] must be in (0, 1], got {merged[key]!r}")
    return merged


def make_optimizer(net: nn.Module, optimizer: str, lr: float, *, momentum: float = 0.0,
                   weight_decay: float = 0.0, fused: bool = False) -> torch.optim.Optimizer:
    """SGD (with ``momentum``), Adam or AdamW over the trainable parameters; ``fused``
    updates every parameter in one kernel (CUDA: ``fit`` asks for it there)."""
    params = [p for p in net.parameters() if p.requires_grad]
    extra = {"fused": True} if fused else {}  # absent, not False: the CPU path stays as it was
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay,
                               **extra)
    if optimizer in ("adam", "adamw"):
        if momentum:  # Adam's betas play momentum's part; a value here would be ignored
            raise ValueError(f"momentum= applies to SGD only, got momentum={momentum} with "
                             f"optimizer={optimizer!r}")
        cls = torch.optim.Adam if optimizer == "adam" else torch.optim.AdamW
        return cls(params, lr=lr, weight_decay=weight_decay, **extra)
    raise ValueError(f"unknown optimizer {optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}, "
                     f"or pass a torch.optim.Optimizer")


def make_scheduler(optimizer: torch.optim.Optimizer, scheduler: str | Callable | None,
                   epochs: int, **kwargs: Any) -> Any:
    """A per-epoch scheduler by name (kwargs as :func:`check_scheduler_kwargs` allows), or
    ``scheduler(optimizer)`` for a callable."""
    if scheduler is None:
        return None
    if callable(scheduler):
        return scheduler(optimizer)
    kw = check_scheduler_kwargs(scheduler, kwargs)
    lr_scheduler = torch.optim.lr_scheduler
    if scheduler == "plateau":  # watches an accuracy, hence mode="max"
        return lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=kw["factor"],
                                              patience=kw["patience"])
    if scheduler == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    return lr_scheduler.StepLR(optimizer, step_size=kw["step_size"], gamma=kw["gamma"])


def make_warmup(optimizer: torch.optim.Optimizer,
                warmup_steps: int) -> torch.optim.lr_scheduler.LinearLR | None:
    """A per-batch linear warm-up: batch ``s`` trains at ``(s + 1) / warmup_steps`` of the
    scheduled lr, batch ``warmup_steps - 1`` and later at all of it.

    ``LinearLR`` multiplies the current lr rather than overwriting it (as ``LambdaLR``
    would), so it composes with the per-epoch schedule even when the warm-up spans an epoch
    boundary. ``None`` when there is nothing to warm up."""
    if warmup_steps <= 1:
        return None
    return torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1 / warmup_steps,
                                             end_factor=1.0, total_iters=warmup_steps - 1)


def settings_for(optimizer: str | torch.optim.Optimizer, scheduler: str | Callable | None,
                 train_iter: object, device: torch.device, *, amp: str | bool,
                 channels_last: bool | str, lr: float | None, momentum: float,
                 weight_decay: float, **rest: Any) -> TrainSettings:
    """The settings ``fit`` was called with, resolved for ``device`` and checked."""
    if isinstance(optimizer, torch.optim.Optimizer):
        if lr is not None or momentum or weight_decay:  # they would be silently ignored
            raise ValueError("lr=, momentum= and weight_decay= configure a named optimizer; "
                             "set them on the ready optimizer instead")
        group = optimizer.param_groups[0]
        name, lr = type(optimizer).__name__, group["lr"]
        momentum, weight_decay = group.get("momentum", 0.0), group.get("weight_decay", 0.0)
    elif isinstance(optimizer, str):
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; choose one of: "
                             f"{', '.join(OPTIMIZERS)}, or pass a torch.optim.Optimizer")
        if lr is None:
            raise ValueError(f"fit() needs lr= when optimizer={optimizer!r}; e.g. lr=0.01 for "
                             f"SGD or lr=1e-3 for Adam")
        name = optimizer
    else:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)} or a "
                         f"torch.optim.Optimizer, got {optimizer!r}")
    amp = resolve_amp(device, amp)
    return TrainSettings(
        optimizer=name, lr=lr, momentum=momentum, weight_decay=weight_decay,
        scheduler="custom" if callable(scheduler) else scheduler, amp=amp,
        channels_last=resolve_channels_last(device, amp, channels_last),
        batch_size=getattr(train_iter, "batch_size", None),
        train_examples=getattr(train_iter, "num_examples", None), **rest)
