"""A speed-run: train an AlexNet-lineage network to a target accuracy on Fashion-MNIST and
time it from a given start (the benchmark passes the moment it started the process).

The loop is airbench's (Keller Jordan, 2024) in the course's parts: uint8 images on the
device, batch norm, SGD with Nesterov momentum under a per-step linear or one-cycle
schedule (torch LR schedulers), label smoothing, random flips (and translations), flip
test-time augmentation, ``channels_last``, optional ``torch.compile`` and an exponential
moving average of the weights (``torch.optim.swa_utils.AveragedModel``). Every trick is a
field of :class:`SpeedrunSettings`, so an ablation switches them one at a time.

Evaluation runs at evenly spaced steps (``eval_per_epoch`` a pass) inside the timed run:
its cost is part of the seconds-to-target. ``split="val"`` trains on 55,000 images and
evaluates on the 5,000 others (:func:`validation_split`, the same for every seed); the
hyper-parameters are to be chosen that way, never on the test set (``split="test"``,
training on all 60,000).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import lr_scheduler
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .augment import Compose, RandomCrop, RandomHorizontalFlip
from .data import DeviceLoader, fashion_mnist_tensors, stratified_indices
from .models import get_model
from .train import evaluate, set_seed

VAL_SIZE = 5_000
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
        if not 0 < self.target <= 1:
            raise ValueError(f"target is an accuracy in (0, 1], got {self.target}")
        if not self.epochs > 0 or self.batch_size < 1 or self.eval_per_epoch < 1:
            raise ValueError("epochs must be > 0, batch_size and eval_per_epoch >= 1")
        if self.eval_from < 0:
            raise ValueError(f"eval_from is an epoch >= 0, got {self.eval_from}")
        if not 0 <= self.ema < 1 or not 0 <= self.label_smoothing < 1 or not 0 <= self.warmup < 1:
            raise ValueError("ema, label_smoothing and warmup are fractions in [0, 1)")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["widths"], d["residual"] = list(self.widths), list(self.residual)
        return d


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


def make_optimizer(net: nn.Module, s: SpeedrunSettings, total_steps: int):
    """The optimiser and its per-step schedule. Weight decay spares BN parameters and biases
    (as airbench and most ResNet recipes do: decaying them only shrinks the BN scale)."""
    decay = [p for p in net.parameters() if p.dim() > 1]
    rest = [p for p in net.parameters() if p.dim() <= 1]
    groups = [{"params": decay, "weight_decay": s.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    if s.optimizer == "adam":
        opt = torch.optim.Adam(groups, lr=s.lr)
    else:
        opt = torch.optim.SGD(groups, lr=s.lr, momentum=s.momentum, nesterov=s.nesterov)
    warm = max(1, round(s.warmup * total_steps))
    if s.schedule == "constant":
        sched = lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0)
    elif s.schedule == "onecycle":  # cosine anneal; momentum not cycled, to change one thing
        sched = lr_scheduler.OneCycleLR(opt, max_lr=s.lr, total_steps=total_steps + 1,
                                        pct_start=max(s.warmup, 1 / total_steps),
                                        cycle_momentum=False)
    else:  # airbench's triangle: linear up to lr, linear down to 0 at the last step
        sched = lr_scheduler.SequentialLR(opt, [
            lr_scheduler.LinearLR(opt, 1e-3, 1.0, total_iters=warm),
            lr_scheduler.LinearLR(opt, 1.0, 1e-3, total_iters=max(1, total_steps - warm))],
            milestones=[warm])
    return opt, sched


def flip_tta(net: nn.Module, x: Tensor) -> Tensor:
    """Logits of the image plus those of its mirror image (flips are label-preserving here)."""
    return net(x) + net(x.flip(-1))


def _eval_steps(steps_per_epoch: int, total: int, per_epoch: int, start: float = 0.0) -> set[int]:
    """Steps after which to evaluate: ``per_epoch`` evenly spaced a pass from epoch ``start``
    on, and always the last."""
    every = steps_per_epoch / per_epoch
    steps = {min(total, round(k * every)) for k in range(1, math.ceil(total / every) + 1)}
    return {t for t in steps if t >= start * steps_per_epoch} | {total}


def train_to_target(s: SpeedrunSettings, seed: int, *, t0: float | None = None,
                    loaders: tuple[Batches, Batches] | None = None,
                    device: str | torch.device = "cpu", train_size: int | None = None,
                    on_eval: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run ``s`` once; ``t0`` (``time.time()`` of the start, default now) starts the clock.

    Returns the seed's record: ``reached`` and ``seconds_to_target`` (``None`` when the
    target was not reached: never a time), ``final_acc``, every evaluation
    (``evals``: step, epoch, seconds, acc) and why it ``stopped``.
    """
    t0 = time.time() if t0 is None else t0
    device = torch.device(device)
    if s.threads:
        torch.set_num_threads(s.threads)
    set_seed(seed)
    train_iter, eval_iter = loaders or device_loaders(s, seed, device, train_size)
    data_s = time.time() - t0
    fmt = torch.channels_last if s.channels_last else torch.contiguous_format
    net = build_network(s).to(device, memory_format=fmt)
    model = torch.compile(net) if s.compile else net
    steps_per_epoch = len(train_iter)
    total = max(1, round(s.epochs * steps_per_epoch))
    opt, sched = make_optimizer(net, s, total)
    ema = (AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(s.ema), use_buffers=True)
           if s.ema else None)  # use_buffers: the BN statistics are averaged too
    loss_fn = nn.CrossEntropyLoss(label_smoothing=s.label_smoothing)
    gen = torch.Generator().manual_seed(seed)
    augs = ([RandomHorizontalFlip(generator=gen)] if s.flip else []) + \
        ([RandomCrop(28, padding=s.translate, generator=gen)] if s.translate else [])
    augment = Compose(*augs) if augs else None
    eval_at = _eval_steps(steps_per_epoch, total, s.eval_per_epoch, s.eval_from)
    rec: dict[str, Any] = {"seed": seed, "reached": False, "seconds_to_target": None,
                           "epochs_to_target": None, "data_s": data_s, "steps": total,
                           "steps_per_epoch": steps_per_epoch, "evals": [], "stopped": "schedule end"}
    step, loss_sum = 0, torch.zeros((), device=device)
    while step < total and rec["stopped"] == "schedule end":
        model.train()
        for X, y in train_iter:
            X, y = X.to(device), y.to(device)
            if augment is not None:
                X = augment(X)
            X = X.contiguous(memory_format=fmt)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=s.amp):
                loss = loss_fn(model(X), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if ema is not None:
                ema.update_parameters(net)
            loss_sum += loss.detach()
            step += 1
            if step in eval_at:
                stop = _evaluate(rec, s, ema.module if ema is not None else net, eval_iter, device,
                                 step, loss_sum, t0, on_eval)
                loss_sum.zero_()
                model.train()
                if stop:
                    rec["stopped"] = stop
                    break
            if step >= total:
                break
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


__all__ = ["HOMEWORK", "SpeedrunSettings", "VAL_SEED", "VAL_SIZE", "build_network", "device_loaders",
           "flip_tta", "make_optimizer", "settings_from", "train_to_target", "validation_split"]
