"""The training loop, laid out like torchvision's reference trainer: :func:`train_one_epoch`,
:func:`evaluate` and a thin :func:`fit` that reads top to bottom.

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
  (:mod:`.checkpoint`); every argument is checked before the first batch (:mod:`.settings`).
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from torch import Tensor, nn

from . import distributed
from .analysis import eval_mode
from .checkpoint import Checkpoint, CheckpointError
from .devices import device_name
from .guards import TrainingFailed, check_divergence, check_stall
from .history import History
from .settings import (TrainSettings, make_optimizer, make_scheduler, make_warmup,
                       resolve_amp, settings_for)

__all__ = ["CheckpointError", "EpochStats", "History", "TrainSettings", "TrainingFailed",
           "evaluate", "fit", "make_optimizer", "make_scheduler", "set_seed", "train_one_epoch"]

Predict = Callable[[nn.Module, Tensor], Tensor]
Reduce = Callable[[Tensor], Tensor]  # sums a tensor over processes (distributed.all_sum)
Batches = Iterable[tuple[Tensor, Tensor]]
EMPTY_LOADER = ("the training loader yields no batches; check its train_size and batch_size "
                "(with drop_last=True a set smaller than one batch is empty)")


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so CPU runs repeat exactly."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _autocast(device: torch.device, amp: str | bool):
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


def _compiled(net: nn.Module, mode: bool | str) -> nn.Module:
    """``net`` itself, or compiled in torch.compile's default mode (``True``) or ``mode``."""
    if mode is False:
        return net
    if mode is True or mode == "default":
        return torch.compile(net)
    compiled = torch.compile(net, mode=mode)
    return _GraphStep(compiled) if mode == "reduce-overhead" else compiled


def _is_channels_last(net: nn.Module) -> bool:
    """Whether ``net``'s 4-d weights are stored NHWC (so its inputs should be too)."""
    for p in net.parameters():
        if p.dim() != 4:
            continue
        nhwc, nchw = p.is_contiguous(memory_format=torch.channels_last), p.is_contiguous()
        if nhwc != nchw:  # a weight with one input channel is both: look further
            return nhwc
    return False


def _show_progress(progress: bool | None) -> bool:
    """``None``: a counter for a person at a terminal or in Jupyter; callers that record
    their output (papermill, CI) pass ``progress=False``."""
    if progress is not None:
        return progress
    # inside a kernel stderr is ipykernel's stream; "ipykernel" in sys.modules is not enough,
    # pytest's notebook plugins import it too
    return sys.stderr.isatty() or type(sys.stderr).__module__.startswith("ipykernel")


def _progress(batches: Batches, desc: str | None) -> Iterator[tuple[Tensor, Tensor]]:
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


def evaluate(net: nn.Module, data_iter: Batches, *, device: str | torch.device | None = None,
             predict: Predict | None = None, amp: str | bool = "auto",
             channels_last: bool | str = "auto", reduce: Reduce | None = None) -> float:
    """Accuracy of ``net`` on ``data_iter`` (one host sync at the end; 0.0 if it is empty).

    ``predict(net, X)`` replaces ``net(X)``, e.g. for ten-crop testing. With
    ``channels_last="auto"`` the batches follow the layout of the network's weights.
    ``reduce`` sums the hits and the count over processes, each holding a shard.
    """
    device = torch.device(device) if device is not None else next(net.parameters()).device
    if channels_last == "auto":
        channels_last = _is_channels_last(net)
    correct = torch.zeros((), device=device, dtype=torch.long)
    count = 0
    with eval_mode(net), _autocast(device, amp):
        for X, y in data_iter:
            X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if channels_last:
                X = X.contiguous(memory_format=torch.channels_last)
            logits = predict(net, X) if predict is not None else net(X)
            correct += (logits.argmax(1) == y).sum()
            count += len(y)
    if reduce is not None:
        correct, count = reduce(torch.stack([correct, torch.tensor(count, device=device)])).tolist()
        return correct / max(count, 1)
    return correct.item() / max(count, 1)


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


def train_one_epoch(model: nn.Module, loss_fn: nn.Module, optimizer: torch.optim.Optimizer,
                    data_iter: Batches, device: torch.device, *,
                    warmup: torch.optim.lr_scheduler.LinearLR | None = None,
                    amp: str | bool = False, channels_last: bool = False,
                    desc: str | None = None, step_metrics: bool = False,
                    scaler: torch.amp.GradScaler | None = None,
                    reduce: Reduce | None = None) -> EpochStats:
    """One pass over ``data_iter``; ``warmup`` (a per-batch scheduler) steps after each batch
    until it is done. Metrics accumulate on the device and are read once at the end; with
    ``step_metrics`` each batch's accuracy is kept too (still one host sync per epoch).
    ``scaler`` (fp16 autocast) scales the loss before the backward pass and unscales the
    gradients before the step, so they (and the guard's gradient norm) are the true ones.
    ``reduce`` sums loss, hits and counts over processes: every rank returns the global ones."""
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    nonfinite = torch.zeros((), device=device, dtype=torch.bool)
    count = steps = num_classes = 0
    per_step: list[torch.Tensor] = []
    model.train()
    _sync(device)
    t0 = time.perf_counter()
    for X, y in _progress(data_iter, desc):
        X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if channels_last:
            X = X.contiguous(memory_format=torch.channels_last)
        with _autocast(device, amp):
            logits = model(X)
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
        if warmup is not None and warmup.last_epoch < warmup.total_iters:
            warmup.step()
        loss = loss.detach()
        nonfinite |= ~torch.isfinite(loss)
        loss_sum += loss.float() * len(y)
        hits = (logits.argmax(1) == y).sum()
        correct += hits
        if step_metrics:  # with reduce: hits and batch size, to be summed over the ranks
            per_step.append(hits.float() / len(y) if reduce is None
                            else torch.stack([hits, torch.tensor(len(y), device=device)]))
        count, steps, num_classes = count + len(y), steps + 1, logits.shape[1]
    _sync(device)
    seconds = time.perf_counter() - t0
    if steps == 0:  # a loader without len() shows it only now
        raise ValueError(EMPTY_LOADER)
    # the gradients of the last batch are still on the parameters: no per-batch cost
    grads = [p.grad.detach().float() for g in optimizer.param_groups for p in g["params"]
             if p.grad is not None and p.dim() > 1]
    grad_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])
                                         ).item() if grads else 0.0
    step_acc = torch.stack(per_step) if per_step else None
    if reduce is not None:  # one collective for the counters: every rank gets the global ones
        totals = reduce(torch.stack([loss_sum.double(), correct.double(), nonfinite.double(),
                                     torch.tensor(count, device=device, dtype=torch.float64)]))
        loss_sum, correct, nonfinite, count = totals[0], totals[1], totals[2] > 0, int(totals[3])
        if step_acc is not None:
            step_acc = reduce(step_acc)
            step_acc = step_acc[:, 0].float() / step_acc[:, 1]
    step_acc = step_acc.tolist() if step_acc is not None else None
    return EpochStats(loss_sum.item() / count, correct.item() / count, count, steps,
                      num_classes, bool(nonfinite.item()), seconds, grad_norm, step_acc)


def _meta(net: nn.Module, optimizer: torch.optim.Optimizer, s: TrainSettings, train_iter,
          device: torch.device) -> dict:
    return {"model": type(net).__name__, "parameters": sum(p.numel() for p in net.parameters()),
            "epochs": s.epochs, "optimizer": type(optimizer).__name__, "lr": s.lr,
            "momentum": s.momentum, "weight_decay": s.weight_decay, "scheduler": s.scheduler,
            "warmup_steps": s.warmup_steps, "label_smoothing": s.label_smoothing,
            "batch_size": s.batch_size, "train_examples": s.train_examples,
            "image_shape": list(getattr(train_iter, "image_shape", ()) or ()),
            "device": str(device), "device_name": device_name(device), "amp": str(s.amp),
            "channels_last": s.channels_last, "torch": str(torch.__version__)}


def _record(epoch: int, stats: EpochStats, test_acc: float, val_acc: float | None, lr: float,
            seconds: float) -> dict[str, float]:
    record = {"epoch": epoch, "train_loss": stats.loss, "train_acc": stats.acc,
              "test_acc": test_acc, "lr": lr, "examples": stats.examples,
              "train_seconds": stats.seconds, "seconds": seconds,
              "examples_per_sec": stats.examples / stats.seconds}
    if val_acc is not None:
        record["val_acc"] = val_acc
    if stats.step_acc is not None:
        record["step_train_acc"] = stats.step_acc
    return record


def _epoch_line(r: dict[str, float], epochs: int, device: torch.device) -> str:
    val = f"val acc {r['val_acc']:.3f}, " if "val_acc" in r else ""
    return (f"epoch {r['epoch']}/{epochs}, loss {r['train_loss']:.3f}, train acc "
            f"{r['train_acc']:.3f}, {val}test acc {r['test_acc']:.3f}, {r['seconds']:.1f} s, "
            f"{r['examples_per_sec']:.0f} examples/sec on {device}")


def fit(net: nn.Module, train_iter, test_iter: Batches, *, epochs: int, lr: float | None = None,
        optimizer: str | torch.optim.Optimizer = "sgd", momentum: float = 0.0,
        weight_decay: float = 0.0, scheduler: str | Callable | None = None,
        scheduler_kwargs: dict | None = None, warmup_steps: int = 0,
        label_smoothing: float = 0.0, device: str | torch.device | None = None,
        amp: str | bool = "auto", channels_last: bool | str = "auto", compile: bool | str = False,
        checkpoint: str | os.PathLike | None = None, guard: bool = True,
        stall_epochs: int = 3, stall_min_steps: int = 50, predict: Predict | None = None,
        on_epoch_end: Callable[[int, dict], None] | None = None, progress: bool | None = None,
        log: Callable[[str], None] | None = print, val_iter: Batches | None = None,
        step_metrics: bool = False) -> History:
    """Train ``net`` for ``epochs`` and return its :class:`History`.

    ``optimizer`` is ``"sgd"``, ``"adam"``, ``"adamw"`` (then ``lr`` is required) or a
    ready optimizer. ``scheduler`` (``"plateau"``, ``"cosine"``, ``"step"`` with the
    ``scheduler_kwargs`` each takes, or ``callable(optimizer)``) steps once per epoch;
    ``"plateau"`` watches the accuracy on ``val_iter`` (held-out training images, as the
    AlexNet paper watched its validation set) and, without one, the test accuracy.
    ``warmup_steps`` ramps the learning rate linearly over the first batches, on top of the
    schedule. ``val_iter``, when given, is evaluated every epoch (``val_acc``).
    ``amp="auto"`` uses bf16 autocast on a CUDA GPU of compute capability ≥ 8.0, fp16 with a
    gradient scaler on older ones, float32 on CPU and MPS; ``channels_last="auto"``
    stores the network and its batches NHWC on a CPU and under autocast on CUDA (the network is
    converted in place; pass ``False`` to keep NCHW). With ``checkpoint`` every finished
    epoch is saved there; a re-run of the same run resumes after the last one, or continues
    to a larger ``epochs``. ``predict(net, X)`` is used for evaluation (e.g. ten-crop).
    ``guard`` stops a run whose loss turned NaN/inf or diverged, or that sits at loss
    ln(C) with chance accuracy: at once if its gradient has vanished, else after
    ``stall_epochs`` such epochs in a row; epochs under ``stall_min_steps`` batches are not
    judged (see :mod:`.guards`). ``progress=None`` shows a counter at a terminal or in Jupyter.
    ``compile``: ``True`` compiles the training step's network with ``torch.compile``;
    ``"reduce-overhead"`` also replays it as CUDA graphs (for small, launch-bound networks;
    with the CUDA loaders' ``drop_last`` every batch has one shape); evaluation stays eager.
    A named optimiser is ``fused`` on CUDA (one kernel for all parameters).
    ``step_metrics`` adds each batch's training accuracy to the epoch's record
    (``step_train_acc``), e.g. to time a training-error target finer than by epochs.

    Under ``torchrun`` (a process group initialised, e.g. by :func:`.distributed.init`) the
    network is wrapped in DistributedDataParallel and each loader gives its rank a shard
    (:func:`.distributed.shard_loader`; the on-device loaders' batch size stays the global
    one); loss, accuracy and counts are summed over the ranks, so every rank returns the
    global history. Only rank 0 logs, shows progress, calls ``on_epoch_end`` and writes the
    checkpoint (on a folder every rank reads, as each resumes from it).
    """
    device = torch.device(device or getattr(train_iter, "device", None)
                          or next(net.parameters()).device)
    s = settings_for(optimizer, scheduler, train_iter, device, amp=amp, lr=lr,
                     channels_last=channels_last, momentum=momentum, weight_decay=weight_decay,
                     epochs=epochs, scheduler_kwargs=scheduler_kwargs, warmup_steps=warmup_steps,
                     label_smoothing=label_smoothing, compile=compile, guard=guard,
                     stall_epochs=stall_epochs, stall_min_steps=stall_min_steps)
    ddp = distributed.active()
    if ddp:  # before len(): sharding may drop a last batch too small for every rank
        train_iter = distributed.shard_loader(train_iter, train=True)
        test_iter, val_iter = (None if it is None else distributed.shard_loader(it, train=False)
                               for it in (test_iter, val_iter))
        if not distributed.is_main():
            log, progress, on_epoch_end = None, False, None
    if hasattr(train_iter, "__len__") and len(train_iter) == 0:
        raise ValueError(EMPTY_LOADER)
    net.to(device, memory_format=torch.channels_last if s.channels_last else torch.preserve_format)
    if isinstance(optimizer, str):
        optimizer = make_optimizer(net, s.optimizer, s.lr, momentum=s.momentum,
                                   weight_decay=s.weight_decay, fused=device.type == "cuda")
    sched = make_scheduler(optimizer, scheduler, s.epochs, **s.scheduler_kwargs)
    warmup = make_warmup(optimizer, s.warmup_steps)
    scaler = torch.amp.GradScaler(device.type) if s.amp == "fp16" else None
    # what a checkpoint saves and restores besides the network and the optimiser
    schedulers = {"scheduler": sched, "warmup": warmup, "scaler": scaler}
    loss_fn = nn.CrossEntropyLoss(label_smoothing=s.label_smoothing)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    history = History(meta=_meta(net, optimizer, s, train_iter, device))
    if ddp:
        history.meta["world_size"] = distributed.world_size()
    ckpt = None if checkpoint is None else Checkpoint(checkpoint, s, net,
                                                      writer=distributed.is_main())
    if ckpt is not None:
        ckpt.start(net, optimizer, schedulers, history, log)  # resumes, or checks it can write
    model = distributed.wrap(net, device) if ddp else net  # after resuming: DDP copies rank 0's
    model = _compiled(model, s.compile)
    reduce = distributed.all_sum if ddp else None

    show = _show_progress(progress)
    score = partial(evaluate, net, device=device, predict=predict, amp=s.amp,
                    channels_last=s.channels_last, reduce=reduce)  # reads the result: one sync
    for epoch in range(len(history) + 1, s.epochs + 1):
        distributed.set_epoch(train_iter, epoch - 1)  # the same shuffle whether resumed or not
        stats = train_one_epoch(model, loss_fn, optimizer, train_iter, device, warmup=warmup,
                                amp=s.amp, channels_last=s.channels_last,
                                desc=f"epoch {epoch}/{s.epochs}" if show else None,
                                step_metrics=step_metrics, scaler=scaler, reduce=reduce)
        if s.guard:  # before evaluating: a diverged network is not worth a test pass
            check_divergence(epoch, stats.loss, stats.acc, stats.nonfinite, stats.num_classes,
                             history)
        t0 = time.perf_counter()
        test_acc = score(test_iter)
        val_acc = None if val_iter is None else score(val_iter)
        record = _record(epoch, stats, test_acc, val_acc, optimizer.param_groups[0]["lr"],
                         stats.seconds + time.perf_counter() - t0)
        history.records.append(record)
        if log:
            log(_epoch_line(record, s.epochs, device))
        if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
            sched.step(test_acc if val_acc is None else val_acc)
        elif sched is not None:
            sched.step()
        if on_epoch_end is not None:
            on_epoch_end(epoch, record)
        if s.guard:  # before saving: a stalled epoch is not checkpointed, a re-run judges it again
            check_stall(history, stats.num_classes, stats.grad_norm, stats.steps,
                        stall_epochs=s.stall_epochs, stall_min_steps=s.stall_min_steps)
        if ckpt is not None:
            ckpt.save(net, optimizer, schedulers, history)  # rank 0 only
            distributed.barrier()  # no rank runs ahead of a checkpoint it may resume from
    return history
