"""The training loop, laid out like torchvision's reference trainer: :func:`train_one_epoch`,
:func:`evaluate` and a thin :func:`fit` that reads top to bottom. It is the course's only
loop: the chapters, the run store and the speed-run (:mod:`.speedrun`) all train through it.

What it does differently from d2l's ``train_ch5``/``train_ch6``, and why:

* It never re-initialises the network: initialisation belongs to the model
  (d2l's ``train_ch6`` applies Xavier to every layer, which hides a model's own init).
* Loss and accuracy stay on the device and are read once per epoch, so the GPU is
  not synchronised after every batch.
* Examples/sec is wall-clock for the whole training pass, data preparation included
  (d2l's figure leaves data loading out); the clock is read after
  ``torch.cuda.synchronize()``.
* Guards stop a run that diverged or stalled with a message naming the likely causes
  (:mod:`.guards`); a checkpoint saves each epoch and resumes only the same run
  (:mod:`.checkpoint`); the settings are checked before the first batch (:mod:`.settings`).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from . import distributed
from ._runtime import autocast, compiled, is_channels_last, show_progress, sync, with_progress
from .analysis import eval_mode
from .checkpoint import Checkpoint, CheckpointError, describe_data
from .devices import check_device, device_name
from .guards import TrainingFailed, check_divergence, check_stall, label_did_not_learn
from .history import History
from .inputs import check_labels, empty_loader
from .settings import TrainSettings, make_optimizer, make_schedulers

__all__ = ["CheckpointError", "EpochStats", "History", "TrainSettings", "TrainingFailed",
           "evaluate", "fit", "flip_tta", "set_seed", "train_one_epoch"]

Predict = Callable[[nn.Module, Tensor], Tensor]
Reduce = Callable[[Tensor], Tensor]  # sums a tensor over processes (distributed.all_sum)
# fit's on_step(step, loss, net) after every optimiser step (step counts from 1 over the
# whole run; loss is the batch's, still on the device; net the network fit evaluates, the
# EMA's when there is one); returning True ends the run after that step
OnStep = Callable[[int, Tensor, nn.Module], Any]
Batches = Iterable[tuple[Tensor, Tensor]]
EMPTY_LOADER = ("the training loader yields no batches; check its train_size and batch_size "
                "(with drop_last=True a set smaller than one batch is empty)")


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so CPU runs repeat exactly."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def flip_tta(net: nn.Module, x: Tensor) -> Tensor:
    """Test-time augmentation: the logits of each image plus those of its mirror image
    (left-right flips preserve the label in Fashion-MNIST and CIFAR-10). Pass it as
    ``predict=flip_tta`` to :func:`fit` or :func:`evaluate`."""
    return net(x) + net(x.flip(-1))


def evaluate(net: nn.Module, data_iter: Batches, *, device: str | torch.device | None = None,
             predict: Predict | None = None, amp: str | bool = "auto",
             channels_last: bool | str = "auto", reduce: Reduce | None = None) -> float:
    """Accuracy of ``net`` on ``data_iter`` (one host sync at the end).

    ``predict(net, X)`` replaces ``net(X)``, e.g. :func:`flip_tta` or ten-crop testing. With
    ``channels_last="auto"`` the batches follow the layout of the network's weights.
    ``reduce`` sums the hits and the count over processes, each holding a shard.
    An empty loader (over all processes) is an error: it has no accuracy, not 0.0.
    """
    device = check_device(device) if device is not None else next(net.parameters()).device
    if channels_last == "auto":
        channels_last = is_channels_last(net)
    correct = torch.zeros((), device=device, dtype=torch.long)
    count = 0
    with eval_mode(net), autocast(device, amp):
        for X, y in data_iter:
            X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if channels_last:
                X = X.contiguous(memory_format=torch.channels_last)
            logits = predict(net, X) if predict is not None else net(X)
            if count == 0:  # one host sync per evaluation, at its first batch
                check_labels(data_iter, y, logits.shape[1], "evaluated")
            correct += (logits.argmax(1) == y).sum()
            count += len(y)
    if reduce is not None:
        correct, count = reduce(torch.stack([correct, torch.tensor(count, device=device)])).tolist()
    else:
        correct = correct.item()
    if count == 0:
        raise ValueError(empty_loader("evaluation"))
    return correct / count


@dataclass
class EpochStats:
    """What one training pass measured: the mean loss and accuracy over its batches, and
    the norm of the weights' gradient on its last batch (the stall guard reads it)."""

    loss: float
    acc: float
    examples: int
    steps: int
    num_classes: int
    nonfinite: bool
    seconds: float
    grad_norm: float
    step_acc: list[float] | None = None  # each batch's training accuracy (step_metrics=True)
    stopped: bool = False                # an on_step callback ended the run in this pass


def train_one_epoch(model: nn.Module, loss_fn: nn.Module, optimizer: torch.optim.Optimizer,
                    data_iter: Batches, device: torch.device, *,
                    schedulers: dict[str, Any] | None = None, ema: AveragedModel | None = None,
                    amp: str | bool = False, channels_last: bool = False,
                    desc: str | None = None, step_metrics: bool = False,
                    scaler: torch.amp.GradScaler | None = None, reduce: Reduce | None = None,
                    on_step: Callable[[int, Tensor], Any] | None = None,
                    first_step: int = 0) -> EpochStats:
    """One pass over ``data_iter``. After each batch the per-batch schedulers of
    ``schedulers`` step (``"per_step"``; ``"warmup"`` until it is done) and ``ema`` averages
    the weights. Metrics accumulate on the device and are read once at the end; with
    ``step_metrics`` each batch's accuracy is kept too (still one host sync per epoch).
    ``scaler`` (fp16 autocast) scales the loss before the backward pass and unscales the
    gradients before the step, so they (and the guard's gradient norm) are the true ones.
    ``reduce`` sums loss, hits and counts over processes: every rank returns the global ones.
    ``on_step(first_step + i, loss)`` runs after batch ``i`` (from 1); a true result ends
    the pass there (``stopped``)."""
    per_step = (schedulers or {}).get("per_step")
    warmup = (schedulers or {}).get("warmup")
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    nonfinite = torch.zeros((), device=device, dtype=torch.bool)
    count = steps = num_classes = 0
    step_hits: list[torch.Tensor] = []
    stopped = False
    model.train()
    sync(device)
    t0 = time.perf_counter()
    for X, y in with_progress(data_iter, desc):
        X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if channels_last:
            X = X.contiguous(memory_format=torch.channels_last)
        with autocast(device, amp):
            logits = model(X)
            if steps == 0:  # before the loss, which would fail without naming the labels
                check_labels(data_iter, y, logits.shape[1], "training")
            loss = loss_fn(logits, y)
        optimizer.zero_grad(set_to_none=True)
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:  # fp16: a scaled loss keeps small gradients from flushing to zero
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            scaler.step(optimizer)  # skipped when a gradient is inf/NaN; the scale then falls
            scaler.update()
        if per_step is not None:
            per_step.step()
        if warmup is not None and warmup.last_epoch < warmup.total_iters:
            warmup.step()
        if ema is not None:  # a DDP or compiled wrapper holds the same parameters, in order
            ema.update_parameters(model)
        loss = loss.detach()
        nonfinite |= ~torch.isfinite(loss)
        loss_sum += loss.float() * len(y)
        hits = (logits.argmax(1) == y).sum()
        correct += hits
        if step_metrics:  # with reduce: hits and batch size, to be summed over the ranks
            step_hits.append(hits.float() / len(y) if reduce is None
                             else torch.stack([hits, torch.tensor(len(y), device=device)]))
        count, steps, num_classes = count + len(y), steps + 1, logits.shape[1]
        if on_step is not None and on_step(first_step + steps, loss):
            stopped = True
            break
    sync(device)
    seconds = time.perf_counter() - t0
    if steps == 0:  # a loader without len() shows it only now
        raise ValueError(EMPTY_LOADER)
    # the gradients of the last batch are still on the parameters: no per-batch cost
    grads = [p.grad.detach().float() for g in optimizer.param_groups for p in g["params"]
             if p.grad is not None and p.dim() > 1]
    grad_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])
                                         ).item() if grads else 0.0
    step_acc = torch.stack(step_hits) if step_hits else None
    if reduce is not None:  # one collective for the counters: every rank gets the global ones
        totals = reduce(torch.stack([loss_sum.double(), correct.double(), nonfinite.double(),
                                     torch.tensor(count, device=device, dtype=torch.float64)]))
        loss_sum, correct, nonfinite, count = totals[0], totals[1], totals[2] > 0, int(totals[3])
        if step_acc is not None:
            step_acc = reduce(step_acc)
            step_acc = step_acc[:, 0].float() / step_acc[:, 1]
    step_acc = step_acc.tolist() if step_acc is not None else None
    return EpochStats(loss_sum.item() / count, correct.item() / count, count, steps,
                      num_classes, bool(nonfinite.item()), seconds, grad_norm, step_acc, stopped)


def _call_on_step(on_step: OnStep, net: nn.Module, step: int, loss: Tensor) -> Any:
    return on_step(step, loss, net)


def _meta(net: nn.Module, s: TrainSettings, train_iter, device: torch.device) -> dict:
    return {"model": type(net).__name__, "parameters": sum(p.numel() for p in net.parameters()),
            "settings": s.to_dict(), "epochs": s.epochs, "optimizer": s.optimizer, "lr": s.lr,
            "momentum": s.momentum, "weight_decay": s.weight_decay, "scheduler": s.scheduler,
            "warmup_steps": s.warmup_steps, "label_smoothing": s.label_smoothing,
            "batch_size": s.batch_size, "train_examples": s.train_examples,
            "image_shape": list(getattr(train_iter, "image_shape", ()) or ()),
            "device": str(device), "device_name": device_name(device), "amp": str(s.amp),
            "channels_last": s.channels_last, "torch": str(torch.__version__)}


def _record(epoch: int, stats: EpochStats, test_acc: float | None, val_acc: float | None,
            lr: float, seconds: float) -> dict[str, Any]:
    record: dict[str, Any] = {"epoch": epoch, "train_loss": stats.loss, "train_acc": stats.acc}
    if test_acc is not None:
        record["test_acc"] = test_acc
    record.update(lr=lr, examples=stats.examples, train_seconds=stats.seconds, seconds=seconds,
                  examples_per_sec=stats.examples / stats.seconds)
    if val_acc is not None:
        record["val_acc"] = val_acc
    if stats.step_acc is not None:
        record["step_train_acc"] = stats.step_acc
    return record


def _epoch_line(r: dict[str, Any], epochs: int, device: torch.device) -> str:
    val = f"val acc {r['val_acc']:.3f}, " if "val_acc" in r else ""
    test = f"test acc {r['test_acc']:.3f}, " if "test_acc" in r else ""
    return (f"epoch {r['epoch']}/{epochs}, loss {r['train_loss']:.3f}, train acc "
            f"{r['train_acc']:.3f}, {val}{test}{r['seconds']:.1f} s, "
            f"{r['examples_per_sec']:.0f} examples/sec on {device}")


def fit(net: nn.Module, train_iter, test_iter: Batches | None,
        settings: TrainSettings | None = None, *, device: str | torch.device | None = None,
        checkpoint: str | os.PathLike | None = None, val_iter: Batches | None = None,
        predict: Predict | None = None, on_epoch_end: Callable[[int, dict], None] | None = None,
        on_step: OnStep | None = None, step_metrics: bool = False,
        progress: bool | None = None, log: Callable[[str], None] | None = print,
        **recipe: Any) -> History:
    """Train ``net`` by ``settings`` and return its :class:`History`.

    ``settings`` is a :class:`~.settings.TrainSettings` (the recipe: epochs, optimiser,
    rate and schedule, EMA, precision, guards), or its fields are given as keywords
    (``fit(net, train, test, epochs=3, lr=0.1)``); the rest are run-time things that change
    no number. Every epoch ends with the accuracy on ``test_iter`` (``None``: none) and on
    ``val_iter`` (held-out training images, which a ``"plateau"`` scheduler watches; without
    them, the test accuracy), each through ``predict(net, X)`` when given (e.g.
    :func:`~.flip_tta`); with ``ema`` the averaged weights are the ones evaluated.
    ``on_step(step, loss, net)`` runs after every batch, and a true result ends the run there
    (a speed-run's stop at its target); ``on_epoch_end(epoch, record)`` after every epoch.
    With ``checkpoint`` every finished epoch is saved there; a re-run of the same run
    resumes after the last one. ``step_metrics`` keeps each batch's training accuracy.

    Under ``torchrun`` the network is wrapped in DistributedDataParallel and each loader
    gives its rank a shard (:func:`.distributed.shard_loader`); loss, accuracy and counts
    are summed over the ranks, so every rank returns the global history. Only rank 0 logs,
    shows progress, calls the callbacks and writes the checkpoint.
    """
    if settings is not None and recipe:
        raise ValueError(f"pass the settings or their fields as keywords, not both "
                         f"(got settings and {', '.join(sorted(recipe))})")
    settings = settings if settings is not None else TrainSettings(**recipe)
    device = check_device(device or getattr(train_iter, "device", None)
                          or next(net.parameters()).device)
    s = settings.resolved(device, train_iter)
    ddp = distributed.active()
    if ddp:  # before len(): sharding may drop a last batch too small for every rank
        train_iter = distributed.shard_loader(train_iter, train=True)
        test_iter, val_iter = (None if it is None else distributed.shard_loader(it, train=False)
                               for it in (test_iter, val_iter))
        if not distributed.is_main():
            log, progress, on_epoch_end = None, False, None
    steps_per_epoch = len(train_iter) if hasattr(train_iter, "__len__") else None
    if steps_per_epoch == 0:
        raise ValueError(EMPTY_LOADER)
    net.to(device, memory_format=torch.channels_last if s.channels_last else torch.preserve_format)
    optimizer = make_optimizer(net, s, fused=device.type == "cuda")
    # what a checkpoint saves and restores besides the network and the optimiser
    schedulers = make_schedulers(optimizer, s, steps_per_epoch)
    schedulers["scaler"] = torch.amp.GradScaler(device.type) if s.amp == "fp16" else None
    schedulers["ema"] = ema = (AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(s.ema),
                                             use_buffers=True)  # BN statistics averaged too
                               if s.ema else None)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=s.label_smoothing)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    history = History(meta=_meta(net, s, train_iter, device))
    if ddp:
        history.meta["world_size"] = distributed.world_size()
    ckpt = None if checkpoint is None else Checkpoint(checkpoint, s, net, writer=distributed.is_main(),
                                                      data=describe_data(train_iter))
    if ckpt is not None:
        ckpt.start(net, optimizer, schedulers, history, log)  # resumes, or checks it can write
    for name, it in (("test", test_iter), ("val", val_iter)):  # found before an epoch trains
        if it is not None and hasattr(it, "__len__") and len(it) == 0:
            raise ValueError(empty_loader(name, f"{name}_iter"))
    model = distributed.wrap(net, device) if ddp else net  # after resuming: DDP copies rank 0's
    model = compiled(model, s.compile)
    reduce = distributed.all_sum if ddp else None
    evaluated = ema.module if ema is not None else net
    score = partial(evaluate, evaluated, device=device, predict=predict, amp=s.amp,
                    channels_last=s.channels_last, reduce=reduce)
    step_hook = None if on_step is None else partial(_call_on_step, on_step, evaluated)
    show = show_progress(progress)
    num_classes = None
    for epoch in range(len(history) + 1, s.epochs + 1):
        distributed.set_epoch(train_iter, epoch - 1)  # the same shuffle whether resumed or not
        stats = train_one_epoch(model, loss_fn, optimizer, train_iter, device,
                                schedulers=schedulers, ema=ema, amp=s.amp,
                                channels_last=s.channels_last,
                                desc=f"epoch {epoch}/{s.epochs}" if show else None,
                                step_metrics=step_metrics, scaler=schedulers["scaler"],
                                reduce=reduce, on_step=step_hook,
                                first_step=(epoch - 1) * (steps_per_epoch or 0))
        num_classes = stats.num_classes
        if s.guard:  # before evaluating: a diverged network is not worth a test pass
            check_divergence(epoch, stats.loss, stats.acc, stats.nonfinite, stats.num_classes,
                             history)
        t0 = time.perf_counter()
        test_acc = None if test_iter is None else score(test_iter)
        val_acc = None if val_iter is None else score(val_iter)
        record = _record(epoch, stats, test_acc, val_acc, optimizer.param_groups[0]["lr"],
                         stats.seconds + time.perf_counter() - t0)
        history.records.append(record)
        if log:
            log(_epoch_line(record, s.epochs, device))
        sched = schedulers["scheduler"]
        if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
            watched = val_acc if val_acc is not None else test_acc
            if watched is None:
                raise ValueError("scheduler='plateau' watches an accuracy: pass val_iter= "
                                 "(or test_iter=)")
            sched.step(watched)
        elif sched is not None:
            sched.step()
        if on_epoch_end is not None:
            on_epoch_end(epoch, record)
        if stats.stopped:  # a partial epoch is recorded, never checkpointed
            history.meta["stopped_at_step"] = (epoch - 1) * (steps_per_epoch or 0) + stats.steps
            break
        if s.guard:  # before saving: a stalled epoch is not checkpointed, a re-run judges it again
            check_stall(history, stats.num_classes, stats.grad_norm, stats.steps,
                        stall_epochs=s.stall_epochs, stall_min_steps=s.stall_min_steps)
        if ckpt is not None:
            ckpt.save(net, optimizer, schedulers, history)  # rank 0 only
            distributed.barrier()  # no rank runs ahead of a checkpoint it may resume from
    if num_classes is not None and "stopped_at_step" not in history.meta:  # on_step: reached
        label_did_not_learn(history, num_classes, log)
    return history
