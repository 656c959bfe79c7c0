"""The training loop: ``fit()`` in the spirit of d2l's ``train_ch5``/``train_ch6``.

What it does differently, and why:

* It never re-initialises the network: initialisation belongs to the model
  (d2l's ``train_ch6`` applies Xavier to every layer, which hides a model's own init).
* Loss and accuracy stay on the device and are read once per epoch, so the GPU is
  not synchronised after every batch.
* Examples/sec is wall-clock for the whole training pass, data preparation included
  (d2l's figure leaves data loading out); the clock is read after
  ``torch.cuda.synchronize()``.
* It stops with a clear message when the loss turns NaN/inf or sits at ln(C) with
  chance accuracy for a whole epoch, and it can checkpoint each epoch and resume.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .devices import device_name

Predict = Callable[[nn.Module, Tensor], Tensor]


class TrainingFailed(RuntimeError):
    """Training stopped by a guard; ``.history`` holds the epochs that finished."""

    def __init__(self, message: str, history: "History") -> None:
        super().__init__(message)
        self.history = history


@dataclass
class History:
    """Per-epoch records of one run, plus what describes the run (``meta``)."""

    records: list[dict[str, float]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.records)

    def column(self, key: str) -> list[float]:
        return [r[key] for r in self.records]

    @property
    def last(self) -> dict[str, float]:
        return self.records[-1]

    @property
    def best_test_acc(self) -> float:
        return max(self.column("test_acc"))

    @property
    def train_seconds(self) -> float:
        return sum(self.column("train_seconds"))

    @property
    def seconds(self) -> float:
        return sum(self.column("seconds"))

    @property
    def examples_per_sec(self) -> float:
        """Training examples per wall-clock second over the whole run."""
        return sum(self.column("examples")) / self.train_seconds

    def time_to(self, target: float, key: str = "test_acc") -> tuple[float, float]:
        """(epoch, cumulative wall-clock seconds) at which ``key`` first reached ``target``;
        (nan, nan) if it never did."""
        elapsed = 0.0
        for r in self.records:
            elapsed += r["seconds"]
            if r[key] >= target:
                return r["epoch"], elapsed
        return math.nan, math.nan

    def summary(self) -> dict[str, float]:
        return {"epochs": len(self), "best_test_acc": self.best_test_acc,
                "last_test_acc": self.last["test_acc"], "last_train_acc": self.last["train_acc"],
                "last_loss": self.last["train_loss"], "seconds": self.seconds,
                "examples_per_sec": self.examples_per_sec}

    def to_dict(self) -> dict[str, Any]:
        return {"records": self.records, "meta": self.meta,
                "summary": self.summary() if self.records else {}}

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text)
        return text

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "History":
        return cls(records=list(d["records"]), meta=dict(d.get("meta", {})))

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.records).set_index("epoch")


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so CPU runs repeat exactly."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _resolve_amp(device: torch.device, amp: str | bool) -> str | bool:
    if amp == "auto":
        return "bf16" if device.type == "cuda" else False
    if amp and amp != "bf16":
        raise ValueError(f"amp must be 'auto', 'bf16' or False, got {amp!r}")
    return amp


def _resolve_channels_last(device: torch.device, amp: str | bool, channels_last: bool | str) -> bool:
    """``"auto"``: NHWC on a CPU, where oneDNN's convolutions prefer it (faster for all five
    benchmarked networks, see benchmarks/NOTES.md), and on CUDA under bf16 autocast, where
    tensor-core convolutions want it (not yet measured here)."""
    if channels_last == "auto":
        return device.type == "cpu" or (device.type == "cuda" and _resolve_amp(device, amp) == "bf16")
    if not isinstance(channels_last, bool):
        raise ValueError(f"channels_last must be 'auto', True or False, got {channels_last!r}")
    return channels_last


def _is_channels_last(net: nn.Module) -> bool:
    """Whether ``net``'s 4-d weights are stored NHWC (so its inputs should be too)."""
    for p in net.parameters():
        if p.dim() != 4:
            continue
        nhwc, nchw = p.is_contiguous(memory_format=torch.channels_last), p.is_contiguous()
        if nhwc != nchw:  # a weight with one input channel is both: look further
            return nhwc
    return False


def _autocast(device: torch.device, amp: str | bool):
    amp = _resolve_amp(device, amp)
    if not amp:
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=torch.bfloat16)


@torch.no_grad()
def evaluate(net: nn.Module, data_iter: Iterable[tuple[Tensor, Tensor]], *,
             device: str | torch.device | None = None, predict: Predict | None = None,
             amp: str | bool = "auto", channels_last: bool | str = "auto") -> float:
    """Accuracy of ``net`` on ``data_iter`` (one host sync at the end).

    ``predict(net, X)`` replaces ``net(X)``, e.g. for ten-crop testing. With
    ``channels_last="auto"`` the batches follow the layout of the network's weights.
    """
    device = torch.device(device) if device is not None else next(net.parameters()).device
    if channels_last == "auto":
        channels_last = _is_channels_last(net)
    was_training = net.training
    net.eval()
    correct = torch.zeros((), device=device, dtype=torch.long)
    count = 0
    with _autocast(device, amp):
        for X, y in data_iter:
            X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if channels_last:
                X = X.contiguous(memory_format=torch.channels_last)
            logits = predict(net, X) if predict is not None else net(X)
            correct += (logits.argmax(1) == y).sum()
            count += len(y)
    net.train(was_training)
    return correct.item() / max(count, 1)


def make_optimizer(net: nn.Module, optimizer: str, lr: float, *, momentum: float = 0.0,
                   weight_decay: float = 0.0) -> torch.optim.Optimizer:
    params = [p for p in net.parameters() if p.requires_grad]
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {optimizer!r}; choose one of: sgd, adam, adamw, "
                     f"or pass a torch.optim.Optimizer")


def make_scheduler(optimizer: torch.optim.Optimizer, scheduler: str | Callable | None,
                   epochs: int, **kwargs: Any):
    """Per-epoch schedulers by name; ``plateau`` divides the lr by 10 as in AlexNet."""
    if scheduler is None:
        return None
    if callable(scheduler):
        return scheduler(optimizer)
    if scheduler == "plateau":  # the paper: divide by 10 when validation error stops improving
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=kwargs.get("factor", 0.1),
            patience=kwargs.get("patience", 1))
    if scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    if scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=kwargs.get("step_size", 3),
                                               gamma=kwargs.get("gamma", 0.1))
    raise ValueError(f"unknown scheduler {scheduler!r}; choose one of: plateau, cosine, step, "
                     f"or pass a callable(optimizer) -> scheduler")


def _show_progress(progress: bool | None) -> bool:
    """A bar for people; plain per-epoch lines under papermill, nbval and CI."""
    if progress is not None:
        return progress
    if os.environ.get("CI") or os.environ.get("COURSE_PROFILE"):
        return False
    return sys.stderr.isatty() or "ipykernel" in sys.modules


def _fingerprint(net: nn.Module, epochs: int, optimizer: torch.optim.Optimizer) -> dict:
    return {"epochs": epochs, "parameters": sum(p.numel() for p in net.parameters()),
            "optimizer": type(optimizer).__name__}


def fit(net: nn.Module, train_iter, test_iter, *, epochs: int, lr: float | None = None,
        optimizer: str | torch.optim.Optimizer = "sgd", momentum: float = 0.0,
        weight_decay: float = 0.0, scheduler: str | Callable | None = None,
        scheduler_kwargs: dict[str, Any] | None = None, warmup_steps: int = 0,
        label_smoothing: float = 0.0, device: str | torch.device | None = None,
        amp: str | bool = "auto", channels_last: bool | str = "auto", compile: bool = False,
        checkpoint: str | os.PathLike | None = None, guard: bool = True, stall_min_steps: int = 50,
        predict: Predict | None = None, on_epoch_end: Callable[[int, dict], None] | None = None,
        progress: bool | None = None, log: Callable[[str], None] | None = print,
        val_iter: Iterable[tuple[Tensor, Tensor]] | None = None) -> History:
    """Train ``net`` for ``epochs`` and return its :class:`History`.

    ``optimizer`` is ``"sgd"``, ``"adam"``, ``"adamw"`` (then ``lr`` is required) or a
    ready optimizer. ``scheduler`` steps once per epoch; ``"plateau"`` watches the accuracy
    on ``val_iter`` (held-out training images, as the AlexNet paper watched its validation
    set) and, without one, the test accuracy. ``warmup_steps`` ramps the learning rate
    linearly over the first batches. ``val_iter``, when given, is evaluated every epoch
    (``val_acc`` in the history).
    ``amp="auto"`` uses bf16 autocast on CUDA and float32 on CPU; ``channels_last="auto"``
    stores the network and its batches NHWC on a CPU and under bf16 on CUDA (the network is
    converted in place; pass ``False`` to keep NCHW). With ``checkpoint``
    every finished epoch is saved there, and a re-run with the same arguments resumes
    after the last one. ``predict(net, X)`` is used for evaluation (e.g. ten-crop).
    ``guard`` stops on a NaN/inf loss, and on an epoch of at least ``stall_min_steps``
    batches that ends at loss ln(C) with chance accuracy (a short epoch may not have
    started learning yet, so it is not judged).
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if device is None:
        device = getattr(train_iter, "device", None) or next(net.parameters()).device
    device = torch.device(device)
    if isinstance(optimizer, str):
        if lr is None:
            raise ValueError(f"fit() needs lr= when optimizer={optimizer!r}; e.g. lr=0.01 for "
                             f"SGD or lr=1e-3 for Adam")
        net.to(device)
        optimizer = make_optimizer(net, optimizer, lr, momentum=momentum,
                                   weight_decay=weight_decay)
    net.to(device)
    channels_last = _resolve_channels_last(device, amp, channels_last)
    if channels_last:
        net.to(memory_format=torch.channels_last)
    sched = make_scheduler(optimizer, scheduler, epochs, **(scheduler_kwargs or {}))
    model = torch.compile(net) if compile else net
    loss_fn = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    history = History(meta={
        "model": type(net).__name__, "parameters": sum(p.numel() for p in net.parameters()),
        "epochs": epochs, "optimizer": type(optimizer).__name__,
        "lr": optimizer.param_groups[0]["lr"], "momentum": momentum,
        "weight_decay": weight_decay, "scheduler": scheduler if isinstance(scheduler, str)
        else (None if scheduler is None else "custom"), "warmup_steps": warmup_steps,
        "label_smoothing": label_smoothing, "batch_size": getattr(train_iter, "batch_size", None),
        "train_examples": getattr(train_iter, "num_examples", None),
        "image_shape": list(getattr(train_iter, "image_shape", ()) or ()),
        "device": str(device), "device_name": device_name(device), "amp": str(_resolve_amp(device, amp)),
        "channels_last": channels_last, "torch": torch.__version__})
    start_epoch = 0
    ckpt_path = Path(checkpoint) if checkpoint is not None else None
    if ckpt_path is not None and ckpt_path.exists():
        start_epoch = _resume(ckpt_path, net, optimizer, sched, history,
                              _fingerprint(net, epochs, optimizer))
        if log and start_epoch:
            log(f"resumed from {ckpt_path} after epoch {start_epoch}/{epochs}")

    show_bar = _show_progress(progress)
    step = start_epoch * len(train_iter)
    net.train()
    for epoch in range(start_epoch, epochs):
        if hasattr(train_iter, "set_epoch"):
            train_iter.set_epoch(epoch)  # same shuffle order whether resumed or not
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        nonfinite = torch.zeros((), device=device, dtype=torch.bool)
        count, num_classes = 0, None
        batches = train_iter
        if show_bar:
            from tqdm.auto import tqdm

            batches = tqdm(train_iter, desc=f"epoch {epoch + 1}/{epochs}", leave=False)
        _sync(device)
        t0 = time.perf_counter()
        for X, y in batches:
            X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if channels_last:
                X = X.contiguous(memory_format=torch.channels_last)
            with _autocast(device, amp):
                logits = model(X)
                loss = loss_fn(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if step < warmup_steps:  # scale this step's lr, leave the schedule untouched
                saved = [g["lr"] for g in optimizer.param_groups]
                for g in optimizer.param_groups:
                    g["lr"] *= (step + 1) / warmup_steps
                optimizer.step()
                for g, lr_g in zip(optimizer.param_groups, saved):
                    g["lr"] = lr_g
            else:
                optimizer.step()
            step += 1
            loss = loss.detach()
            nonfinite |= ~torch.isfinite(loss)
            loss_sum += loss.float() * len(y)
            correct += (logits.argmax(1) == y).sum()
            count += len(y)
            num_classes = logits.shape[1]
        _sync(device)
        train_seconds = time.perf_counter() - t0
        train_loss, train_acc = loss_sum.item() / count, correct.item() / count
        if guard and nonfinite.item():
            raise TrainingFailed(
                f"epoch {epoch + 1}: the loss became NaN or infinite. Likely causes: a learning "
                f"rate too high for this network (try 10× smaller, or warmup_steps=), an "
                f"initialisation with too large weights, or no normalisation in a deep net.",
                history)
        test_acc = evaluate(net, test_iter, device=device,
                            predict=predict, amp=amp, channels_last=channels_last)
        val_acc = None if val_iter is None else evaluate(
            net, val_iter, device=device, predict=predict, amp=amp, channels_last=channels_last)
        _sync(device)
        seconds = time.perf_counter() - t0
        record = {"epoch": epoch + 1, "train_loss": train_loss, "train_acc": train_acc,
                  "test_acc": test_acc, "lr": optimizer.param_groups[0]["lr"],
                  "examples": count, "train_seconds": train_seconds, "seconds": seconds,
                  "examples_per_sec": count / train_seconds}
        if val_acc is not None:
            record["val_acc"] = val_acc
        history.records.append(record)
        if log:
            log(f"epoch {epoch + 1}/{epochs}, loss {train_loss:.3f}, train acc {train_acc:.3f}, "
                + ("" if val_acc is None else f"val acc {val_acc:.3f}, ")
                + f"test acc {test_acc:.3f}, {seconds:.1f} s, "
                f"{record['examples_per_sec']:.0f} examples/sec on {device}")
        if sched is not None:
            if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
                sched.step(test_acc if val_acc is None else val_acc)
            else:
                sched.step()
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, record)
        if ckpt_path is not None:
            _save(ckpt_path, net, optimizer, sched, history, _fingerprint(net, epochs, optimizer))
        chance_loss = math.log(num_classes)
        chance_acc = 1 / num_classes + 0.02  # a net stuck on one class scores its frequency
        if (guard and abs(train_loss - chance_loss) < 0.005 and train_acc < chance_acc
                and test_acc < chance_acc and len(train_iter) >= stall_min_steps):
            raise TrainingFailed(
                f"epoch {epoch + 1}: the loss stayed at ln({num_classes}) = {chance_loss:.3f} "
                f"with chance accuracy ({train_acc:.3f}) for the whole epoch: the network "
                f"predicts a uniform distribution and is not learning. Likely causes: a "
                f"learning rate too high (dead ReLUs) or too low, an initialisation such as "
                f"N(0, 0.01²) that shrinks activations layer by layer in a deep net, or a "
                f"ReLU on the logits. Try a smaller lr, Kaiming init or batch norm; "
                f"pass guard=False to keep training anyway.", history)
    return history


def _save(path: Path, net, optimizer, sched, history: History, fingerprint: dict) -> None:
    state = {"net": net.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": sched.state_dict() if sched is not None else None,
             "history": history.to_dict(), "fingerprint": fingerprint,
             "rng_cpu": torch.get_rng_state(),
             "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # atomic: an interrupted save never leaves a broken checkpoint


def _resume(path: Path, net, optimizer, sched, history: History, fingerprint: dict) -> int:
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state["fingerprint"] != fingerprint:
        raise ValueError(f"checkpoint {path} was written by a different run "
                         f"({state['fingerprint']} vs {fingerprint}); delete it or pass "
                         f"another checkpoint path")
    net.load_state_dict(state["net"])
    optimizer.load_state_dict(state["optimizer"])
    if sched is not None and state["scheduler"] is not None:
        sched.load_state_dict(state["scheduler"])
    history.records[:] = state["history"]["records"]
    torch.set_rng_state(state["rng_cpu"])
    if state["rng_cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng_cuda"])
    return len(history.records)
