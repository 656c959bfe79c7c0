"""What one training run is: :class:`TrainSettings` (its recipe), checked when it is made,
and the optimiser and learning-rate schedules built from it.

The settings are the run's identity: ``fit`` trains by them, a checkpoint records them
(resuming with other settings is refused field by field, see :mod:`.checkpoint`) and the
run store hashes them. Every check runs before the first batch: a typo costs a message,
not an epoch.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.optim import lr_scheduler

OPTIMIZERS = ("sgd", "adam", "adamw")
# Per-epoch schedulers -> the scheduler_kwargs each takes, with their defaults.
EPOCH_SCHEDULERS: dict[str, dict[str, Any]] = {
    "plateau": {"factor": 0.1, "patience": 1},  # AlexNet: lr ÷ 10 when validation stalls
    "step": {"step_size": 3, "gamma": 0.1},
    # AlexNet's ÷10 steps at fractions of the run (see step_epochs): they scale with its epochs
    "multistep": {"fractions": (0.5, 0.75), "gamma": 0.1},
}
# Per-batch schedules: a linear warm-up over `warmup_steps`, then a decay that ends at
# (about) zero on the run's last batch; they take no scheduler_kwargs.
STEP_SCHEDULERS = ("linear", "cosine", "onecycle")
SCHEDULERS = (*EPOCH_SCHEDULERS, *STEP_SCHEDULERS)
AMP_CHOICES = ("auto", "bf16", "fp16", False)
# torch.compile modes besides True (the default mode) and False; "reduce-overhead" replays
# CUDA graphs, for networks whose steps are launch-bound
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")
# Settings a resumed run may change: they stop a run or speed it up, never alter its numbers.
FREE_TO_CHANGE = ("guard", "stall_epochs", "stall_min_steps", "compile")


@dataclass
class TrainSettings:
    """Everything that decides what a run computes: ``fit(net, train, test, settings)``.

    ``amp`` and ``channels_last`` may say ``"auto"``; :meth:`resolved` fixes them for a
    device (and records the loader's batch size and example count), which is what a
    checkpoint stores.
    """

    # --- the recipe
    epochs: int
    lr: float | None = None
    optimizer: str = "sgd"
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    decay_norm_and_bias: bool = True  # False: no weight decay on 1-d parameters (BN, biases)
    scheduler: str | None = None
    scheduler_kwargs: dict[str, Any] = field(default_factory=dict)
    warmup_steps: int = 0
    label_smoothing: float = 0.0
    ema: float = 0.0                  # per-step decay of an EMA of the weights (0: off)
    amp: str | bool = "auto"
    channels_last: bool | str = "auto"
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
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of: "
                             f"{', '.join(OPTIMIZERS)}")
        if self.lr is None:
            raise ValueError(f"the settings need lr= (optimizer={self.optimizer!r}); e.g. "
                             f"lr=0.01 for SGD or lr=1e-3 for Adam")
        if not (_real(self.lr) and 0 < self.lr < math.inf):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        for name in ("momentum", "weight_decay"):
            value = getattr(self, name)
            if not (_real(value) and 0 <= value < math.inf):
                raise ValueError(f"{name} must be a number ≥ 0, got {value!r}")
        if self.optimizer != "sgd" and (self.momentum or self.nesterov):
            raise ValueError(f"momentum= and nesterov= apply to SGD only, got momentum="
                             f"{self.momentum} with optimizer={self.optimizer!r}")
        if self.nesterov and not self.momentum:
            raise ValueError("nesterov=True needs momentum > 0, e.g. momentum=0.9")
        _whole(self.warmup_steps, "warmup_steps", 0)
        if not (_real(self.label_smoothing) and 0 <= self.label_smoothing < 1):
            raise ValueError(f"label_smoothing must be in [0, 1), e.g. 0.1; "
                             f"got {self.label_smoothing!r}")
        if not (_real(self.ema) and 0 <= self.ema < 1):
            raise ValueError(f"ema is a decay per step in [0, 1), e.g. 0.99 (0: off); "
                             f"got {self.ema!r}")
        self.scheduler_kwargs = check_scheduler_kwargs(self.scheduler, self.scheduler_kwargs)
        for name in ("guard", "nesterov", "decay_norm_and_bias"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.channels_last != "auto" and not isinstance(self.channels_last, bool):
            raise ValueError(f"channels_last must be 'auto', True or False, "
                             f"got {self.channels_last!r}")
        if not any(self.amp is c or (isinstance(c, str) and self.amp == c) for c in AMP_CHOICES):
            raise ValueError(f"amp must be 'auto', 'bf16', 'fp16' or False, got {self.amp!r}")
        if not isinstance(self.compile, bool) and self.compile not in COMPILE_MODES:
            raise ValueError(f"compile must be True, False or a torch.compile mode "
                             f"({', '.join(map(repr, COMPILE_MODES))}), got {self.compile!r}")
        _whole(self.stall_epochs, "stall_epochs", 1)
        _whole(self.stall_min_steps, "stall_min_steps", 0)

    def resolved(self, device: torch.device, train_iter: object = None) -> TrainSettings:
        """These settings with ``amp`` and ``channels_last`` fixed for ``device`` and the
        loader's ``batch_size`` and ``num_examples`` recorded."""
        amp = resolve_amp(device, self.amp)
        return dataclasses.replace(
            self, amp=amp, channels_last=resolve_channels_last(device, amp, self.channels_last),
            batch_size=getattr(train_iter, "batch_size", self.batch_size),
            train_examples=getattr(train_iter, "num_examples", self.train_examples))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainSettings:
        """The settings of a dict (a checkpoint's, a stored run's); unknown keys are refused."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown training settings {unknown}; known: {', '.join(sorted(names))}")
        return cls(**d)


def defaults() -> dict[str, Any]:
    """Each field's default (``epochs`` and ``lr`` have none that trains)."""
    return {f.name: (f.default_factory() if f.default_factory is not dataclasses.MISSING
                     else f.default) for f in dataclasses.fields(TrainSettings)
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING}


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
    if scheduler is not None and scheduler not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {scheduler!r}; choose one of: "
                         f"{', '.join(SCHEDULERS)} (or None for a constant rate)")
    allowed = EPOCH_SCHEDULERS.get(scheduler, {}) if scheduler else {}
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown and scheduler is None:
        raise ValueError(f"scheduler_kwargs {kwargs} apply to no scheduler: with no scheduler "
                         f"there is nothing to pass them to")
    if unknown:
        takes = ", ".join(allowed) if allowed else "none"
        raise ValueError(f"scheduler_kwargs {unknown} do not apply to scheduler={scheduler!r}; "
                         f"it takes: {takes}")
    merged = {**allowed, **kwargs}
    if "fractions" in merged:
        merged["fractions"] = _fractions(merged["fractions"])
    for key in ("patience", "step_size"):
        if key in merged:
            _whole(merged[key], f"scheduler_kwargs[{key!r}]", 0 if key == "patience" else 1)
    for key in ("factor", "gamma"):
        if key in merged and not (_real(merged[key]) and 0 < merged[key] <= 1):
            raise ValueError(f"scheduler_kwargs[{key!r}] must be in (0, 1], got {merged[key]!r}")
    return merged


def _fractions(value: object) -> tuple[float, ...]:
    """``scheduler_kwargs["fractions"]`` as a tuple: increasing numbers strictly between 0 and 1."""
    ok = (isinstance(value, (list, tuple)) and len(value) > 0 and all(_real(f) and 0 < f < 1 for f in value)
          and all(a < b for a, b in zip(value, value[1:])))
    if not ok:
        raise ValueError(f"scheduler_kwargs['fractions'] must be increasing fractions of the run "
                         f"strictly between 0 and 1, e.g. (0.5, 0.75); got {value!r}")
    return tuple(float(f) for f in value)


def step_epochs(epochs: int, fractions: tuple[float, ...]) -> list[int]:
    """The epochs after which ``scheduler="multistep"`` divides the rate: ``ceil(f · epochs)``
    for each fraction ``f`` (epoch ``m + 1`` is the first at the lower rate). A step that
    falls on the last epoch or later never fires in the run."""
    return [math.ceil(f * epochs) for f in _fractions(fractions)]


def make_optimizer(net: nn.Module, s: TrainSettings, *, fused: bool = False) -> torch.optim.Optimizer:
    """SGD (with ``momentum``, ``nesterov``), Adam or AdamW over the trainable parameters;
    with ``decay_norm_and_bias=False`` the 1-d parameters (batch-norm scales and shifts,
    biases) get no weight decay, as in airbench and most ResNet recipes (decaying them only
    shrinks the BN scale). ``fused`` updates every parameter in one kernel (CUDA)."""
    params = [p for p in net.parameters() if p.requires_grad]
    groups: list[dict[str, Any]] | list[torch.nn.Parameter] = params
    if not s.decay_norm_and_bias:
        groups = [{"params": [p for p in params if p.dim() > 1], "weight_decay": s.weight_decay},
                  {"params": [p for p in params if p.dim() <= 1], "weight_decay": 0.0}]
    extra = {"fused": True} if fused else {}  # absent, not False: the CPU path stays as it was
    if s.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=s.lr, momentum=s.momentum, nesterov=s.nesterov,
                               weight_decay=s.weight_decay, **extra)
    cls = torch.optim.Adam if s.optimizer == "adam" else torch.optim.AdamW
    return cls(groups, lr=s.lr, weight_decay=s.weight_decay, **extra)


def make_schedulers(optimizer: torch.optim.Optimizer, s: TrainSettings,
                    steps_per_epoch: int | None) -> dict[str, Any]:
    """The run's learning-rate schedulers, by when they step: ``"scheduler"`` once per epoch
    (``plateau``, ``step``, ``multistep``), ``"per_step"`` after every batch (``linear``, ``cosine``,
    ``onecycle``: warm-up included) and ``"warmup"``, a linear warm-up over the first
    ``warmup_steps`` batches on top of a per-epoch schedule or a constant rate. A
    checkpoint saves and restores each of them."""
    out: dict[str, Any] = {"scheduler": None, "per_step": None, "warmup": None}
    if s.scheduler in STEP_SCHEDULERS:
        if not steps_per_epoch:
            raise ValueError(f"scheduler={s.scheduler!r} steps every batch and needs a training "
                             f"loader with len() (the number of batches per epoch)")
        out["per_step"] = _step_schedule(optimizer, s.scheduler, s.lr,
                                         s.epochs * steps_per_epoch, s.warmup_steps)
        return out
    kw = s.scheduler_kwargs
    if s.scheduler == "plateau":  # watches an accuracy, hence mode="max"
        out["scheduler"] = lr_scheduler.ReduceLROnPlateau(optimizer, mode="max",
                                                          factor=kw["factor"],
                                                          patience=kw["patience"])
    elif s.scheduler == "step":
        out["scheduler"] = lr_scheduler.StepLR(optimizer, step_size=kw["step_size"],
                                               gamma=kw["gamma"])
    elif s.scheduler == "multistep":
        out["scheduler"] = lr_scheduler.MultiStepLR(
            optimizer, milestones=step_epochs(s.epochs, kw["fractions"]), gamma=kw["gamma"])
    out["warmup"] = make_warmup(optimizer, s.warmup_steps)
    return out


def _step_schedule(optimizer: torch.optim.Optimizer, name: str, lr: float, total: int,
                   warmup_steps: int) -> lr_scheduler.LRScheduler:
    """A warm-up from lr/1000 to lr over ``warmup_steps`` batches (at least one), then down
    to about zero at batch ``total``: linearly (airbench's triangle, ending at lr/1000),
    along a cosine (ending at 0) or as OneCycleLR's cosine (momentum not cycled)."""
    warm = min(max(1, warmup_steps), max(1, total - 1))
    rest = max(1, total - warm)
    if name == "onecycle":
        return lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total + 1,
                                       pct_start=warm / (total + 1), cycle_momentum=False)
    up = lr_scheduler.LinearLR(optimizer, 1e-3, 1.0, total_iters=warm)
    down = (lr_scheduler.LinearLR(optimizer, 1.0, 1e-3, total_iters=rest) if name == "linear"
            else lr_scheduler.CosineAnnealingLR(optimizer, T_max=rest, eta_min=0.0))
    return lr_scheduler.SequentialLR(optimizer, [up, down], milestones=[warm])


def make_warmup(optimizer: torch.optim.Optimizer,
                warmup_steps: int) -> lr_scheduler.LinearLR | None:
    """A per-batch linear warm-up: batch ``s`` trains at ``(s + 1) / warmup_steps`` of the
    scheduled lr, batch ``warmup_steps - 1`` and later at all of it.

    ``LinearLR`` multiplies the current lr rather than overwriting it (as ``LambdaLR``
    would), so it composes with the per-epoch schedule even when the warm-up spans an epoch
    boundary. ``None`` when there is nothing to warm up."""
    if warmup_steps <= 1:
        return None
    return lr_scheduler.LinearLR(optimizer, start_factor=1 / warmup_steps,
                                 end_factor=1.0, total_iters=warmup_steps - 1)
