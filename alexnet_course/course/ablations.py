"""Ablations as data: a list of :class:`Spec` → training runs → one comparison table.

A chapter describes each variant once (what changed, which model, which keywords) and
:func:`run_specs` trains every variant for every seed through
:func:`alexnet_course.experiments.train_run`, so each run still lands in
``results/<chapter>/<run>.json``. :func:`compare` turns the runs into the table the
chapters show: mean ± spread over seeds, parameters, FLOPs, time per epoch,
examples/sec, and the time saved against a baseline row.

:func:`build` makes the "one change at a time" variants that the registry's keywords do
not offer (LeNet with ReLU but average pooling, ...) by swapping module types, and
:func:`memory_estimate` says how much memory a training step needs when there is no
``torch.cuda.max_memory_allocated`` to ask (on a CPU).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch
from torch import nn

from ..models import get_model, model_info

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": lambda: nn.ReLU(inplace=True), "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}
_ACT_TYPES = (nn.ReLU, nn.Sigmoid, nn.Tanh)


def _swap(net: nn.Module, match: Callable[[nn.Module], bool],
          make: Callable[[nn.Module], nn.Module]) -> int:
    """Replace every submodule for which ``match`` holds by ``make(old)``; return the count."""
    count = 0
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if match(child):
                setattr(parent, name, make(child))
                count += 1
    return count


def build(model: str, *, activation: str | None = None, pool: str | None = None,
          **model_kwargs: Any) -> nn.Module:
    """A registry model with its activations and/or pooling layers swapped.

    ``activation`` ("relu", "sigmoid", "tanh") replaces every ReLU/Sigmoid/Tanh module;
    ``pool`` ("max" or "avg") replaces every MaxPool2d/AvgPool2d with the other kind,
    keeping kernel, stride and padding, so output shapes and parameters do not change.
    Initialisation is the model's own (done before the swap; neither swap has weights).
    """
    net = get_model(model, **model_kwargs)
    if activation is not None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of: "
                             f"{', '.join(ACTIVATIONS)}")
        _swap(net, lambda m: isinstance(m, _ACT_TYPES), lambda m: ACTIVATIONS[activation]())
    if pool is not None:
        kinds = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}
        if pool not in kinds:
            raise ValueError(f"unknown pool {pool!r}; choose 'max' or 'avg'")
        _swap(net, lambda m: isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)),
              lambda m: kinds[pool](m.kernel_size, m.stride, m.padding))
    return net


@dataclass
class Spec:
    """One variant of an ablation.

    ``name`` is the run name (the JSON file), ``change`` says in words what differs from
    the baseline, ``model``/``model_kwargs`` pick the network (``activation``/``pool`` in
    ``model_kwargs`` go through :func:`build`), and ``train`` holds keywords for
    ``train_run`` (``lr``, ``optimizer``, ``resize``, ``transform``, ``epochs`` ...) that
    override the ones common to the whole ablation. ``seeds`` overrides the ablation's
    number of seeds for this variant (e.g. more repeats of the baseline).
    """

    name: str
    change: str
    model: str
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    seeds: int | None = None

    def swaps(self) -> dict[str, Any]:
        """``activation``/``pool`` keywords that :func:`build` applies by swapping modules:
        those the model's own constructor does not take (``alexnet_paper`` has its own
        ``pool="overlap"`` and ``activation="tanh"``, which go to the constructor)."""
        own = inspect.signature(model_info(self.model).builder).parameters
        return {k: v for k, v in self.model_kwargs.items()
                if k in ("activation", "pool") and k not in own}

    def factory(self) -> str | Callable[[], nn.Module]:
        """A registry name when plain keywords suffice, else a factory through :func:`build`."""
        if self.swaps():
            kw = dict(self.model_kwargs)
            return lambda: build(self.model, **kw)
        return self.model


def run_specs(ch: Any, specs: Sequence[Spec], *, seeds: int = 1,
              **common: Any) -> list[Any]:
    """Train every spec for ``seeds`` seeds (0, 1, ...) with ``common`` keywords.

    Run names are ``<spec.name>`` for seed 0 and ``<spec.name>-s<k>`` after; each row gets
    the columns ``variant``, ``change`` and ``seed``. Returns the ``RunResult`` list in spec
    order.
    """
    from .experiments import train_run

    results = []
    for spec in specs:
        kw = {**common, **spec.train}
        extra_common = kw.pop("extra", {})
        model_kwargs = {k: v for k, v in spec.model_kwargs.items() if k not in spec.swaps()}
        for seed in range(spec.seeds if spec.seeds is not None else seeds):
            run = spec.name if seed == 0 else f"{spec.name}-s{seed}"
            extra = {"variant": spec.name, "change": spec.change, "seed": seed, **extra_common}
            model = spec.factory()
            if callable(model):  # keywords are inside the factory; record them anyway
                extra.update(model=spec.model, model_kwargs=str(spec.model_kwargs))
            results.append(train_run(ch, run, model,
                                     model_kwargs=None if callable(model) else model_kwargs,
                                     seed=seed, extra=extra, **kw))
    return results


def seconds_to_accuracy(history: Any, threshold: float) -> float:
    """Cumulative wall-clock seconds until the first epoch with test accuracy ≥ ``threshold``
    (NaN if no epoch reaches it)."""
    return history.time_to(threshold)[1]


def compare(results: Iterable[Any], *, baseline: str | None = None,
            threshold: float | None = None) -> pd.DataFrame:
    """One row per variant: mean (and sd over seeds) of accuracy and time, plus the
    architecture's parameters and GFLOPs, examples/sec and, with ``baseline`` (a variant
    name), the time per epoch saved against it. With ``threshold``, ``meets threshold``
    and ``s to threshold`` (mean seconds until the test accuracy first reached it)."""
    results = list(results)
    rows = []
    for r in results:
        row = r.row.to_dict()
        if threshold is not None:
            row["s to threshold"] = seconds_to_accuracy(r.history, threshold)
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame["variant"] = frame.get("variant", frame["run"])
    if "change" not in frame:
        frame["change"] = ""
    g = frame.groupby("variant", sort=False)
    out = pd.DataFrame({
        "change": g["change"].first(), "model": g["model"].first(), "input": g["input"].first(),
        "parameters": g["parameters"].first(), "GFLOPs": g["GFLOPs"].first(),
        "seeds": g.size(), "epochs": g["epochs"].max(),
        "test acc": g["best test acc"].mean(), "± sd": g["best test acc"].std(ddof=0),
        "s/epoch": g["s/epoch"].mean(), "examples/sec": g["examples/sec"].mean(),
        "failed runs": g["failed"].sum(),
    })
    if threshold is not None:
        out["s to threshold"] = g["s to threshold"].mean()
        out["meets threshold"] = out["test acc"] >= threshold
    if baseline is not None:
        if baseline not in out.index:
            raise ValueError(f"baseline {baseline!r} is not among the variants: "
                             f"{', '.join(out.index)}")
        base = out.loc[baseline, "s/epoch"]
        out["time saved"] = 1 - out["s/epoch"] / base
    return out


def fastest_meeting(frame: pd.DataFrame, threshold: float, *, acc: str = "test acc",
                    time: str = "s/epoch") -> str | None:
    """The variant with the smallest ``time`` whose ``acc`` is at least ``threshold``
    (None when no variant reaches it)."""
    ok = frame[frame[acc] >= threshold]
    return None if ok.empty else str(ok[time].idxmin())


def memory_estimate(net: nn.Module, input_shape: tuple[int, ...], batch_size: int, *,
                    optimizer: str = "adam", bytes_per_value: int = 4) -> dict[str, float]:
    """Memory of one training step in MiB, estimated without a GPU.

    ``weights``: the parameters; ``gradients``: as many again; ``optimizer``: two more
    copies for Adam's moments, one for SGD with momentum, none for plain SGD (``"sgd0"``);
    ``activations``: the outputs of every leaf module for a batch, measured with forward
    hooks — an upper bound on what autograd keeps for the backward pass (in-place ReLUs
    and parameter-free layers may share storage). Assumes float32 unless told otherwise.
    """
    states = {"adam": 2, "adamw": 2, "sgd": 1, "sgd0": 0}
    if optimizer not in states:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of: {', '.join(states)}")
    n_params = sum(p.numel() for p in net.parameters())
    counted = [0]

    def hook(_m: nn.Module, _inp: tuple, out: Any) -> None:
        if isinstance(out, torch.Tensor):
            counted[0] += out.numel()

    leaves = [m for m in net.modules() if next(m.children(), None) is None]
    handles = [m.register_forward_hook(hook) for m in leaves]
    was_training = net.training
    try:
        net.eval()
        with torch.no_grad():
            net(torch.zeros(1, *input_shape, device=next(net.parameters()).device))
    finally:
        for h in handles:
            h.remove()
        net.train(was_training)
    mib = bytes_per_value / 2**20
    out = {"weights": n_params * mib, "gradients": n_params * mib,
           "optimizer": states[optimizer] * n_params * mib,
           "activations": counted[0] * batch_size * mib}
    out["total"] = sum(out.values())
    return out


@contextmanager
def peak_memory(device: torch.device | str) -> Iterator[dict[str, float]]:
    """``with peak_memory(dev) as mem: ...`` puts the peak of ``torch.cuda.max_memory_allocated``
    during the block (MiB) in ``mem["peak MiB"]`` on CUDA; on other devices NaN (use
    :func:`memory_estimate` there)."""
    device = torch.device(device)
    result: dict[str, float] = {"peak MiB": math.nan}
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    try:
        yield result
    finally:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            result["peak MiB"] = torch.cuda.max_memory_allocated(device) / 2**20
