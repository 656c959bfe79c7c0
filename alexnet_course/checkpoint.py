"""Checkpoints of a ``fit`` run: saved after every epoch, resumed only into the same run.

A checkpoint holds plain types only (tensors, numbers, strings, lists, dicts), so it is read
with ``torch.load(weights_only=True)``, which runs no code from the file. It records the
run's :class:`~.settings.TrainSettings`, the model's class, state-dict shapes and printed
layers, and the training set's size and a digest of its labels; resuming with anything else
is refused with the fields that differ. Saves are atomic
(a temporary file, then ``os.replace``), and a path that cannot be written is reported
before the first epoch rather than after it.
"""

from __future__ import annotations

import errno
import hashlib
import os
import pickle
import random
import shutil
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .history import History
from .settings import FREE_TO_CHANGE, TrainSettings, defaults

FORMAT = 2  # 1: fit's pickled checkpoints before weights_only
_FRESH = "Delete {path} to start afresh, or pass another checkpoint= path."


class CheckpointError(OSError):
    """A checkpoint cannot be written or read; the message says what to do instead."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.errno = code


def describe_model(net: nn.Module) -> dict[str, Any]:
    """What identifies a model in a checkpoint: its class, its state-dict shapes and its
    layers as printed, which carry what the shapes do not (a dropout probability, LRN's
    constants, an activation)."""
    return {"class": type(net).__name__,
            "shapes": {k: list(v.shape) for k, v in net.state_dict().items()},
            "layers": repr(net)}


def describe_data(train_iter: Any) -> dict[str, Any]:
    """What identifies a run's training set in a checkpoint: how many examples, and for a
    loader that holds its tensors (:class:`~.data.DeviceLoader`) a digest of its labels and
    first images, so that another subset of the same size is told apart. Empty when unknown."""
    out: dict[str, Any] = {}
    if hasattr(train_iter, "num_examples"):
        out["examples"] = int(train_iter.num_examples)
    labels, images = getattr(train_iter, "labels", None), getattr(train_iter, "images", None)
    if isinstance(labels, torch.Tensor) and isinstance(images, torch.Tensor):
        digest = hashlib.sha256(labels.detach().cpu().numpy().tobytes())
        digest.update(images[:256].detach().cpu().numpy().tobytes())  # a sample: the set may be GBs
        out["sha256"] = digest.hexdigest()
    return out


def _layer_change(old: str, new: str) -> list[str]:
    """The first printed layer that differs, e.g. ``Dropout(p=0.5) → Dropout(p=0.0)``."""
    if old == new:
        return []
    pairs = zip(old.splitlines(), new.splitlines())
    first = next(((a.strip(), b.strip()) for a, b in pairs if a != b), ("…", "…"))
    return [f"layers: {first[0]} → {first[1]}"]


def _rng_state() -> dict[str, Any]:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "python": random.getstate(),  # a tuple of ints: allowed by weights_only
            "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)),
                      "pos": pos, "has_gauss": has_gauss, "gauss": gauss}}


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    random.setstate(state["python"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["gauss"]))


def _mount_point(path: Path) -> Path:
    path = path.resolve()
    while not os.path.ismount(path) and path != path.parent:
        path = path.parent
    return path


def _shape_changes(old: dict[str, list[int]], new: dict[str, list[int]],
                   limit: int = 3) -> list[str]:
    keys = [*old, *(k for k in new if k not in old)]
    changes = [f"{k} {old.get(k, 'missing')} → {new.get(k, 'missing')}"
               for k in keys if old.get(k) != new.get(k)]
    if not changes:
        return []
    more = f" (and {len(changes) - limit} more)" if len(changes) > limit else ""
    return [f"state-dict shapes: {', '.join(changes[:limit])}{more}"]


def differences(saved: dict[str, Any], settings: TrainSettings, model: dict[str, Any],
                data: dict[str, Any] | None = None) -> list[str]:
    """``"field: old → new"`` for every way this run differs from the checkpoint's: its
    settings, its model (:func:`describe_model`) and its training set (:func:`describe_data`)."""
    diffs = []
    if saved["model"]["class"] != model["class"]:
        diffs.append(f"model: {saved['model']['class']} → {model['class']}")
    diffs += _shape_changes(saved["model"]["shapes"], model["shapes"])
    if "layers" in saved["model"] and "layers" in model:  # checkpoints before it: not compared
        diffs += _layer_change(saved["model"]["layers"], model["layers"])
    old_data, new_data = saved.get("data") or {}, data or {}
    for key in sorted(old_data.keys() & new_data.keys()):
        if old_data[key] != new_data[key]:
            what = "training examples" if key == "examples" else "training set (another subset?)"
            diffs.append(f"{what}: {str(old_data[key])[:12]} → {str(new_data[key])[:12]}")
    old, new, default = saved["settings"], asdict(settings), defaults()
    for name in new:  # a field added since the checkpoint was written had its default then
        if name in FREE_TO_CHANGE or old.get(name, default.get(name)) == new[name]:
            continue
        note = ""
        if name == "epochs" and new[name] < old[name]:
            note = " (epochs may only grow)"
        elif name == "epochs" and new["scheduler"] in ("linear", "cosine", "onecycle", "multistep"):
            how = ("places its steps at fractions of" if new["scheduler"] == "multistep"
                   else "decays to zero over")
            note = f" ({new['scheduler']} {how} all the epochs, so a longer run is another run)"
        elif name == "epochs":
            continue  # a finished run asked for more epochs continues to the new count
        diffs.append(f"{name}: {old.get(name)!r} → {new[name]!r}{note}")
    return diffs


class Checkpoint:
    """The checkpoint file of one run: :meth:`start` resumes or checks it can be written,
    :meth:`save` writes one after an epoch. With ``writer=False`` (every rank but 0 of a
    distributed run) it only reads: it resumes from the file rank 0 wrote, on a folder all
    ranks see, and never writes."""

    def __init__(self, path: str | os.PathLike, settings: TrainSettings, net: nn.Module, *,
                 writer: bool = True, data: dict[str, Any] | None = None) -> None:
        self.path, self.writer = Path(path), writer
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.settings, self.model, self.data = settings, describe_model(net), data or {}

    def start(self, net: nn.Module, optimizer: torch.optim.Optimizer, schedulers: dict[str, Any],
              history: History, log: Callable[[str], None] | None) -> None:
        """Resume from the file if there is one (then ``history`` holds its epochs), and make
        sure the file can be written if any epoch is left to train."""
        if self.path.is_dir():
            raise CheckpointError(f"the checkpoint path {self.path} is a directory; pass a file "
                                  f"path such as checkpoint={str(self.path / 'run.pt')!r}")
        if self.path.exists():
            self._resume(net, optimizer, schedulers, history)
            done, epochs = len(history), self.settings.epochs
            if log and done == epochs:
                log(f"{self.path} already holds all {epochs} epochs of this run: returning its "
                    f"history without training. " + _FRESH.format(path=self.path))
            elif log and done:
                log(f"resumed from {self.path} after epoch {done}/{epochs}")
            if done == epochs:
                return
        if self.writer:
            self._check_writable()

    def _check_writable(self) -> None:
        folder = self.path.parent
        existing = next(p for p in (folder, *folder.parents) if p.exists())
        if not existing.is_dir():
            raise CheckpointError(f"cannot create the checkpoint {self.path}: {existing} is a "
                                  f"file, not a folder. Pass another checkpoint= path.")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.close(fd)
            os.remove(self.tmp)
        except OSError as err:
            raise CheckpointError(f"cannot write the checkpoint {self.path}: {err.strerror} "
                                  f"({folder}). Pass a checkpoint= path in a writable folder.",
                                  err.errno) from err

    def _resume(self, net: nn.Module, optimizer: torch.optim.Optimizer,
                schedulers: dict[str, Any], history: History) -> None:
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
            if state.get("format") != FORMAT:
                raise KeyError("format")
        except (pickle.UnpicklingError, RuntimeError, EOFError, KeyError, AttributeError) as err:
            raise CheckpointError(f"cannot read the checkpoint {self.path} ({type(err).__name__}: "
                                  f"{str(err)[:200]}): it is damaged or was written by an older "
                                  f"version of fit. " + _FRESH.format(path=self.path)) from err
        diffs = differences(state, self.settings, self.model, self.data)
        if diffs:
            raise ValueError(f"checkpoint {self.path} was written by a different run: "
                             f"{'; '.join(diffs)}. " + _FRESH.format(path=self.path))
        net.load_state_dict(state["net"])
        optimizer.load_state_dict(state["optimizer"])
        for name, sched in schedulers.items():
            if sched is not None and state["schedulers"].get(name) is not None:
                sched.load_state_dict(state["schedulers"][name])
        history.records[:] = state["history"]["records"]
        _set_rng_state(state["rng"])

    def save(self, net: nn.Module, optimizer: torch.optim.Optimizer,
             schedulers: dict[str, Any], history: History) -> None:
        """Write the run so far to a temporary file, then move it over the checkpoint, so an
        interrupted or failed save leaves the previous checkpoint intact."""
        if not self.writer:
            return
        state = {"format": FORMAT, "torch": str(torch.__version__),
                 "settings": asdict(self.settings), "model": self.model, "data": self.data,
                 "net": net.state_dict(),
                 "optimizer": optimizer.state_dict(),
                 "schedulers": {k: s.state_dict() if s is not None else None
                                for k, s in schedulers.items()},
                 "history": history.to_dict(), "rng": _rng_state()}
        try:
            # torch.save into a Python file object: a full disk then raises OSError(ENOSPC),
            # where saving to a path raises a RuntimeError from the C++ zip writer
            with open(self.tmp, "wb") as f:
                torch.save(state, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(self.tmp, self.path)
        except BaseException as err:
            self.tmp.unlink(missing_ok=True)
            if isinstance(err, RuntimeError) and _zip_writer_failed(err):
                raise CheckpointError(
                    f"could not write the checkpoint {self.path}: {self._free_space()}; torch's "
                    f"writer failed ({str(err)[:200]}). Free some space or pass a checkpoint= "
                    f"path on another device; {self._kept()}") from err
            if not isinstance(err, OSError):
                raise
            if err.errno == errno.ENOSPC:
                raise CheckpointError(
                    f"no space left on {_mount_point(self.path.parent)} while saving the "
                    f"checkpoint {self.path} ({self._free_space()}). Free some space or pass a "
                    f"checkpoint= path on another device; {self._kept()}", errno.ENOSPC) from err
            raise CheckpointError(f"could not save the checkpoint {self.path}: {err}; "
                                  f"{self._kept()}", err.errno) from err

    def _free_space(self) -> str:
        mount = _mount_point(self.path.parent)
        return f"{shutil.disk_usage(mount).free / 2**20:.0f} MiB free on {mount} now"

    def _kept(self) -> str:
        """What a failed save left: the previous checkpoint, whole (the save is atomic)."""
        return (f"{self.path} still holds the last saved epoch" if self.path.exists()
                else "no epoch had been saved yet")


def _zip_writer_failed(err: RuntimeError) -> bool:
    """Whether ``err`` is torch's zip writer failing to write (a full disk, a quota, a
    vanished folder): it raises a RuntimeError from ``inline_container.cc``, not an OSError."""
    text = str(err)
    return any(mark in text for mark in ("inline_container", "PytorchStreamWriter",
                                         "file write failed"))
