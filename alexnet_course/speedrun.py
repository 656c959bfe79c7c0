"""A speed-run: train an AlexNet-lineage network to a target accuracy on Fashion-MNIST and
time it from a given start (the benchmark passes the moment it started the process).

The recipe is airbench's (Keller Jordan, 2024) in the course's parts, trained by the
course's one loop (:func:`~.train.fit`): uint8 images on the device, batch norm, SGD with
Nesterov momentum under a per-step linear or one-cycle schedule, label smoothing, random
flips (and translations), flip test-time augmentation, ``channels_last``, optional
``torch.compile`` and an exponential moving average of the weights. Every trick is a field
of :class:`SpeedrunSettings`, so an ablation switches them one at a time; :func:`recipe`
turns them into the loop's :class:`~.settings.TrainSettings`, and a stop-at-target
callback (:class:`TimedEvaluations`) does the timed evaluations.

Evaluation runs at evenly spaced steps (``eval_per_epoch`` a pass) inside the timed run:
its cost is part of the seconds-to-target. ``split="val"`` trains on 55,000 images and
evaluates on the 5,000 others (:func:`validation_split`, the same for every seed); the
hyper-parameters are to be chosen that way, never on the test set (``split="test"``,
training on all 60,000).
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .augment import Compose, RandomCrop, RandomHorizontalFlip
from .data import DeviceLoader, fashion_mnist_tensors, stratified_indices
from .devices import check_device
from .models import get_model
from .settings import TrainSettings
from .train import evaluate, fit, flip_tta, set_seed

VAL_SIZE = 5_000
TRAIN_IMAGES = 60_000  # Fashion-MNIST's training set
VAL_SEED = 20_260_101  # fixed: every seed and every setting is tuned on the same 5,000 images
# The homework's simplified AlexNet (chapter 01, Q1b, the `fc_256` row on two CPU cores).
HOMEWORK = ("alexnet_28", {"width": 0.25, "fc_width": 256, "drop_fc7": True,
                           "drop_equal_convs": True, "dropout": 0.5})
MODELS = ("alexnet_speedrun", "homework")
SCHEDULES = ("linear", "onecycle", "constant")
SPLITS = ("test", "val")
Batches = Iterable[tuple[Tensor, Tensor]]


@dataclass
class SpeedrunSettings:
    """Everything one speed-run is; the defaults are the 0.93 recipe, ``PRESETS[0.93]`` in
    ``benchmarks/speedrun.py`` (tested)."""

    target: float = 0.93            # accuracy on the evaluated split that stops the clock
    split: str = "test"             # "val": train on 55,000, evaluate the 5,000 held out
    # network
    model: str = "alexnet_speedrun"  # or "homework" (HOMEWORK above)
    widths: tuple[int, ...] = (32, 64, 128)
    residual: tuple[int, ...] = (2, 3)
    batch_norm: bool = True
    logit_scale: float = 0.125      # Page's ResNet-9: small initial logits under a max-pool head
    # data
    data: str = "device"            # "device": uint8 on the device; "dataloader": d2l's (benchmarks)
    batch_size: int = 256
    flip: bool = True               # random left-right flips of training images
    translate: int = 2              # random crops after padding by this many pixels (0: off)
    # optimisation
    epochs: float = 12.0            # the schedule's length (fractions allowed)
    optimizer: str = "sgd"          # SGD with Nesterov momentum, or "adam"
    lr: float = 0.2
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "linear"        # warm up for `warmup` of the steps, then decay linearly to 0
    warmup: float = 0.2
    label_smoothing: float = 0.2
    ema: float = 0.0                # EMA decay per step of the evaluated weights (0: off)
    # evaluation and speed
    tta: bool = True                # average the logits of each test image and its mirror image
    eval_per_epoch: int = 1
    eval_from: float = 8.0          # no evaluation before this epoch (each costs time)
    channels_last: bool = True
    compile: bool = False
    amp: bool = False               # bf16 autocast (CUDA; this CPU has no native bf16)
    threads: int | None = None      # torch.set_num_threads (None: torch's default)
    stop_at_target: bool = False    # else train to the schedule's end (final accuracy)
    time_limit_s: float | None = None  # give up (not reached) after this many seconds

    def __post_init__(self) -> None:
        self.widths, self.residual = tuple(self.widths), tuple(self.residual)
        choices = {"model": MODELS, "schedule": SCHEDULES, "split": SPLITS,
                   "optimizer": ("sgd", "adam"), "data": ("device", "dataloader")}
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise ValueError(f"{name}={getattr(self, name)!r}; choose one of {', '.join(valid)}")
        _check_kinds(self)
        if not 0 < self.target <= 1:
            raise ValueError(f"target is an accuracy in (0, 1], got {self.target}")
        for name in ("epochs", "lr", "logit_scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, e.g. {_example(name)}; got {getattr(self, name)!r}")
        for name in ("eval_from", "momentum", "weight_decay"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, e.g. {_example(name)}; got {getattr(self, name)!r}")
        for name in ("ema", "label_smoothing", "warmup"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} is a fraction in [0, 1), e.g. {_example(name)}; "
                                 f"got {getattr(self, name)!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["widths"], d["residual"] = list(self.widths), list(self.residual)
        return d


# what each field must be, checked before its range: a string such as lr='abc' from the
# command line is refused here, not deep inside the optimiser after the data is loaded
_NUMBERS = ("target", "logit_scale", "epochs", "lr", "momentum", "weight_decay", "warmup",
            "label_smoothing", "ema", "eval_from")
_WHOLE = {"batch_size": 1, "translate": 0, "eval_per_epoch": 1}
_FLAGS = ("batch_norm", "flip", "nesterov", "tta", "channels_last", "compile", "amp",
          "stop_at_target")


def _example(name: str) -> str:
    """``name=<its default>``, the example a message gives."""
    value = SpeedrunSettings.__dataclass_fields__[name].default
    return f"{name}={value!r}"


def _check_kinds(s: SpeedrunSettings) -> None:
    for name in _NUMBERS:
        value = getattr(s, name)
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
            raise ValueError(f"{name} must be a number, e.g. {_example(name)}; got {value!r}")
    for name, low in _WHOLE.items():
        value = getattr(s, name)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise ValueError(f"{name} must be a whole number >= {low}, e.g. {_example(name)}; "
                             f"got {value!r}")
    for name in _FLAGS:
        if not isinstance(getattr(s, name), bool):
            raise ValueError(f"{name} must be True or False, e.g. {_example(name)}; "
                             f"got {getattr(s, name)!r}")
    for name in ("widths", "residual"):
        value = getattr(s, name)
        if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1
                   for v in value):
            raise ValueError(f"{name} must be whole numbers >= 1, e.g. {_example(name)}; "
                             f"got {value!r}")
    for name in ("threads", "time_limit_s"):
        value = getattr(s, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real)
                                  or not value > 0):
            raise ValueError(f"{name} must be None or a number > 0, got {value!r}")


def check_runnable(s: SpeedrunSettings, train_size: int | None = None) -> None:
    """What a run of ``s`` checks only once it has started, checked now (a ``ValueError``
    naming the field): the training set holds a batch, the loop's
    :class:`~.settings.TrainSettings` accept the recipe, and the network can be built. The
    benchmark calls it before its first seed, so a bad ``--set`` costs a message."""
    available = TRAIN_IMAGES - (VAL_SIZE if s.split == "val" else 0)
    if train_size is not None and not (isinstance(train_size, int) and 1 <= train_size <= available):
        raise ValueError(f"train_size must be between 1 and the {available:,} training images of "
                         f"split={s.split!r}, e.g. 512; got {train_size!r}")
    examples = train_size or available
    if s.batch_size > examples:
        raise ValueError(f"batch_size={s.batch_size} is more than the {examples:,} training images "
                         f"(the last partial batch is dropped, so no step would run); e.g. "
                         f"{_example('batch_size')}")
    recipe(s, examples // s.batch_size)
    build_network(s)


def validation_split(labels: Tensor) -> tuple[Tensor, Tensor]:
    """``(train_idx, val_idx)`` of the 60,000 training images: 5,000 stratified by class with
    the fixed ``VAL_SEED`` held out, the other 55,000 to train on (disjoint, tested)."""
    val = stratified_indices(labels, VAL_SIZE, seed=VAL_SEED)
    keep = torch.ones(len(labels), dtype=torch.bool)
    keep[val] = False
    return keep.nonzero().squeeze(1), val


def device_loaders(s: SpeedrunSettings, seed: int, device: torch.device,
                   train_size: int | None = None) -> tuple[DeviceLoader, DeviceLoader]:
    """The training and evaluated sets as uint8 tensors on ``device`` (read from the IDX
    files; ``train_size`` takes a stratified subset, for tests and probes)."""
    x, y = fashion_mnist_tensors(True)
    if s.split == "val":
        train_idx, val_idx = validation_split(y)
        x_eval, y_eval, x, y = x[val_idx], y[val_idx], x[train_idx], y[train_idx]
    else:
        x_eval, y_eval = fashion_mnist_tensors(False)
    if train_size is not None:
        idx = stratified_indices(y, train_size, seed=seed)
        x, y = x[idx], y[idx]
    train = DeviceLoader(x, y, s.batch_size, shuffle=True, device=device, seed=seed, drop_last=True)
    return train, DeviceLoader(x_eval, y_eval, 1000, device=device)


def build_network(s: SpeedrunSettings) -> nn.Module:
    if s.model == "homework":
        name, kwargs = HOMEWORK
        return get_model(name, **kwargs)
    return get_model("alexnet_speedrun", widths=s.widths, residual=s.residual, norm=s.batch_norm,
                     logit_scale=s.logit_scale)


def recipe(s: SpeedrunSettings, steps_per_epoch: int) -> TrainSettings:
    """The speed-run's recipe as the training loop's settings: SGD-Nesterov (or Adam) with no
    weight decay on batch-norm parameters and biases, the per-step schedule warming up over
    ``warmup`` of the steps, label smoothing, EMA; no guards (the clock runs)."""
    if s.epochs != int(s.epochs):
        raise ValueError(f"epochs={s.epochs}: the speed-run trains whole epochs through fit; "
                         f"give a whole number, e.g. {max(1, round(s.epochs))}")
    sgd = s.optimizer == "sgd"
    total = int(s.epochs) * steps_per_epoch
    return TrainSettings(
        epochs=int(s.epochs), optimizer=s.optimizer, lr=s.lr,
        momentum=s.momentum if sgd else 0.0, nesterov=s.nesterov if sgd else False,
        weight_decay=s.weight_decay, decay_norm_and_bias=False,
        scheduler=None if s.schedule == "constant" else s.schedule,
        warmup_steps=0 if s.schedule == "constant" else max(1, round(s.warmup * total)),
        label_smoothing=s.label_smoothing, ema=s.ema, amp="bf16" if s.amp else False,
        channels_last=s.channels_last, compile=s.compile, guard=False)


def _eval_steps(steps_per_epoch: int, total: int, per_epoch: int, start: float = 0.0) -> set[int]:
    """Steps after which to evaluate: ``per_epoch`` evenly spaced a pass from epoch ``start``
    on, and always the last."""
    every = steps_per_epoch / per_epoch
    steps = {min(total, round(k * every)) for k in range(1, math.ceil(total / every) + 1)}
    return {t for t in steps if t >= start * steps_per_epoch} | {total}


class _Augmented:
    """A training loader whose batches pass through ``augment`` (on the device)."""

    def __init__(self, loader: Batches, augment: Callable[[Tensor], Tensor] | None) -> None:
        self.loader, self.augment = loader, augment

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for X, y in self.loader:
            yield (X if self.augment is None else self.augment(X)), y


class TimedEvaluations:
    """The ``on_step`` callback of a speed-run: at the steps of ``eval_at`` it evaluates
    the network on ``eval_iter`` (inside the timed run: its cost is part of the time),
    appends the evaluation to ``rec`` and says to stop at the target, at the time limit or
    on a non-finite loss."""

    def __init__(self, s: SpeedrunSettings, rec: dict[str, Any], eval_iter: Batches,
                 eval_at: set[int], device: torch.device, t0: float,
                 on_eval: Callable[[dict[str, Any]], None] | None) -> None:
        self.s, self.rec, self.eval_iter, self.eval_at = s, rec, eval_iter, eval_at
        self.device, self.t0, self.on_eval = device, t0, on_eval
        self.loss_sum = torch.zeros((), device=device)

    def __call__(self, step: int, loss: Tensor, net: nn.Module) -> bool:
        self.loss_sum += loss
        if step not in self.eval_at:
            return False
        stop = _evaluate(self.rec, self.s, net, self.eval_iter, self.device, step,
                         self.loss_sum, self.t0, self.on_eval)
        self.loss_sum.zero_()
        if stop:
            self.rec["stopped"] = stop
        return stop is not None


def train_to_target(s: SpeedrunSettings, seed: int, *, t0: float | None = None,
                    loaders: tuple[Batches, Batches] | None = None,
                    device: str | torch.device = "cpu", train_size: int | None = None,
                    on_eval: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run ``s`` once through :func:`~.train.fit`; ``t0`` (``time.time()`` of the start,
    default now) starts the clock.

    Returns the seed's record: ``reached`` and ``seconds_to_target`` (``None`` when the
    target was not reached: never a time), ``final_acc``, every evaluation
    (``evals``: step, epoch, seconds, acc) and why it ``stopped``.
    """
    t0 = time.time() if t0 is None else t0
    device = check_device(device)
    if s.threads:
        torch.set_num_threads(s.threads)
    set_seed(seed)
    train_iter, eval_iter = loaders or device_loaders(s, seed, device, train_size)
    data_s = time.time() - t0
    net = build_network(s)
    steps_per_epoch = len(train_iter)
    settings = recipe(s, steps_per_epoch)
    total = settings.epochs * steps_per_epoch
    gen = torch.Generator().manual_seed(seed)
    augs = ([RandomHorizontalFlip(generator=gen)] if s.flip else []) + \
        ([RandomCrop(28, padding=s.translate, generator=gen)] if s.translate else [])
    rec: dict[str, Any] = {"seed": seed, "reached": False, "seconds_to_target": None,
                           "epochs_to_target": None, "data_s": data_s, "steps": total,
                           "steps_per_epoch": steps_per_epoch, "evals": [], "stopped": "schedule end"}
    timed = TimedEvaluations(s, rec, eval_iter,
                             _eval_steps(steps_per_epoch, total, s.eval_per_epoch, s.eval_from),
                             device, t0, on_eval)
    fit(net, _Augmented(train_iter, Compose(*augs) if augs else None), None, settings,
        device=device, predict=flip_tta if s.tta else None, on_step=timed, log=None,
        progress=False)
    rec["final_acc"] = rec["evals"][-1]["acc"] if rec["evals"] else None
    rec["seconds"] = time.time() - t0
    return rec


def _evaluate(rec: dict[str, Any], s: SpeedrunSettings, net: nn.Module, eval_iter: Batches,
              device: torch.device, step: int, loss_sum: Tensor, t0: float, on_eval) -> str | None:
    """One timed evaluation, appended to ``rec``; returns why to stop, or None."""
    acc = evaluate(net, eval_iter, device=device, predict=flip_tta if s.tta else None,
                   amp="bf16" if s.amp else False, channels_last=s.channels_last)
    seconds = time.time() - t0
    loss = loss_sum.item()  # the host sync of this interval's training steps
    prev = rec["evals"][-1]["step"] if rec["evals"] else 0
    entry = {"step": step, "epoch": step / rec["steps_per_epoch"], "seconds": seconds, "acc": acc,
             "train_loss": loss / max(1, step - prev)}
    rec["evals"].append(entry)
    if on_eval is not None:
        on_eval(entry)
    if not math.isfinite(loss):
        return "diverged (non-finite loss)"  # labelled, never reported as a time
    if not rec["reached"] and acc >= s.target:
        rec.update(reached=True, seconds_to_target=seconds, epochs_to_target=entry["epoch"])
        if s.stop_at_target:
            return "target"
    if s.time_limit_s is not None and seconds > s.time_limit_s and not rec["reached"]:
        return "time limit"
    return None


def settings_from(base: SpeedrunSettings, **changes: Any) -> SpeedrunSettings:
    """``base`` with ``changes`` (checked again), like ``dataclasses.replace``."""
    return SpeedrunSettings(**{**base.to_dict(), **changes})


__all__ = ["HOMEWORK", "SpeedrunSettings", "TRAIN_IMAGES", "TimedEvaluations", "VAL_SEED",
           "VAL_SIZE", "build_network", "check_runnable", "device_loaders", "flip_tta", "recipe",
           "settings_from", "train_to_target", "validation_split"]
