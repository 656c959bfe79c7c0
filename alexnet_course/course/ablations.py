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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pandas as pd
import torch
from torch import nn

from ..analysis import memory_estimate, peak_memory  # noqa: F401  (the chapters' names)
from ..models import get_model, model_info
from .experiments import train_run
from .rows import RunRow
from .stats import Comparison, mean_ci, paired_compare
from .stats import compare as stats_compare

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
    number of seeds for this variant (e.g. more repeats of the baseline). ``builder``
    builds a network the registry has no name for (``VGG`` from a ``conv_arch``) from
    ``model_kwargs``; ``model`` then only names it in the run's spec and the tables.
    """

    name: str
    change: str
    model: str
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    seeds: int | None = None
    builder: Callable[..., nn.Module] | None = None

    def swaps(self) -> dict[str, Any]:
        """``activation``/``pool`` keywords that :func:`build` applies by swapping modules:
        those the model's own constructor does not take (``alexnet_paper`` has its own
        ``pool="overlap"`` and ``activation="tanh"``, which go to the constructor)."""
        if self.builder is not None:  # a builder takes every keyword itself
            return {}
        own = inspect.signature(model_info(self.model).builder).parameters
        return {k: v for k, v in self.model_kwargs.items()
                if k in ("activation", "pool") and k not in own}

    def factory(self) -> str | Callable[[], nn.Module]:
        """A registry name when plain keywords suffice, else a factory: the spec's
        ``builder`` with its keywords, or :func:`build` swapping modules."""
        if self.builder is not None:
            return partial(self.builder, **self.model_kwargs)
        if self.swaps():
            kw = dict(self.model_kwargs)
            return lambda: build(self.model, **kw)
        return self.model


def _short(v: Any) -> Any:
    """A training keyword as the spec table shows it: a transform or predict function by its
    class name (its repr would show a memory address), inside a dict too."""
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k!r}: {_short(x)}" for k, x in v.items()) + "}"
    return type(v).__name__ if callable(v) else v


def spec_table(specs: Sequence[Spec]) -> pd.DataFrame:
    """The variants of an experiment as a table: what each changes, its model and keywords
    (training keywords only: not what a run keeps, records or adds to its row)."""
    return pd.DataFrame(
        [{"variant": s.name, "change": s.change, "model": s.model,
          "model keywords": ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                      for k, v in s.model_kwargs.items()),
          "training": ", ".join(f"{k}={_short(v)}" for k, v in s.train.items()
                                if k not in ("keep_net", "record", "extra"))}
         for s in specs]).set_index("variant")


def seeded_runs(ch: Any, specs: Sequence[Spec], seeds: int,
                common: dict[str, Any]) -> Iterator[tuple[Spec, str, int, dict[str, Any], dict[str, Any]]]:
    """``(spec, run name, seed, extra columns, training keywords)`` for every spec and seed,
    as :func:`run_specs` trains them: run names ``<spec.name>``
    for seed 0 and ``<spec.name>-s<k>`` after, a spec's own ``seeds`` where set, and in a
    dry run the full run's seed count recorded (``full seeds``) but at most the profile's
    ``max_seeds`` run. ``keep_net="first seed"`` keeps the trained network of seed 0 only
    (the one a figure shows; the store keeps its weights)."""
    profile = getattr(ch, "profile", None)
    for spec in specs:
        kw = {**common, **spec.train}
        extra_common = kw.pop("extra", {})
        n = spec.seeds if spec.seeds is not None else seeds
        if profile is not None and profile.dry_run:  # the full run's seeds, counted not run
            extra_common = {**extra_common, "full seeds": n}
            n = min(n, profile.max_seeds)
        for seed in range(n):
            run = spec.name if seed == 0 else f"{spec.name}-s{seed}"
            extra = {"variant": spec.name, "change": spec.change, "seed": seed, **extra_common}
            keep = kw.get("keep_net")
            yield spec, run, seed, extra, kw if keep != "first seed" else {**kw, "keep_net": seed == 0}


def run_calls(ch: Any, specs: Sequence[Spec], seeds: int,
              common: dict[str, Any]) -> Iterator[tuple[str, str | Callable[[], nn.Module], dict[str, Any]]]:
    """``(run name, model, keywords)`` of every :func:`train_run` call that
    :func:`run_specs` makes, in its order."""
    for spec, run, seed, extra, kw in seeded_runs(ch, specs, seeds, common):
        model_kwargs = {k: v for k, v in spec.model_kwargs.items() if k not in spec.swaps()}
        model = spec.factory()
        if callable(model):  # keywords are inside the factory; record them anyway
            extra.update(model=spec.model, model_kwargs=str(spec.model_kwargs))
        yield run, model, dict(kw, model_kwargs=None if callable(model) else model_kwargs,
                               spec_model={"name": spec.model, "kwargs": spec.model_kwargs},
                               seed=seed, extra=extra)


def run_specs(ch: Any, specs: Sequence[Spec], *, seeds: int = 1,
              **common: Any) -> list[Any]:
    """Train every spec for ``seeds`` seeds (0, 1, ...) with ``common`` keywords, or read
    the runs from the chapter's run store.

    Run names are ``<spec.name>`` for seed 0 and ``<spec.name>-s<k>`` after; each row gets
    the columns ``variant``, ``change`` and ``seed``. Returns the ``RunResult`` list in spec
    order.
    """
    return [train_run(ch, run, model, **kw) for run, model, kw in run_calls(ch, specs, seeds, common)]


def mark_ended_at_chance(results: Iterable[Any], num_classes: int = 10) -> int:
    """Label as failed every finished run whose last epoch is at chance by the stall
    guard's own test (``guards.at_chance``: loss ln C, chance accuracy): a run that sat
    there for fewer epochs than the guard waits for, or whose first epoch's mean loss was
    still above ln C, ends unstopped but dead, and has no accuracy to report. So is a run
    that never left chance at all (``guards.did_not_learn``: a rate too small keeps the loss
    above ln C, where the stall guard does not look). Returns how many were labelled; their
    ``failed`` says why ("ended at chance: …", "did not learn: …"), and tables count them as
    stopped."""
    from ..guards import at_chance, did_not_learn

    marked = 0
    for r in results:
        if r.failed is not None or not r.history.records:
            continue
        last = r.history.last
        if at_chance(last, num_classes):
            r.failed = (f"ended at chance: epoch {last['epoch']} at loss {last['train_loss']:.3f} "
                        f"(ln {num_classes} = {math.log(num_classes):.3f}) and test accuracy "
                        f"{last['test_acc']:.3f}")
        else:
            r.failed = did_not_learn(r.history, num_classes)
            if r.failed is None:
                continue
        r.row.failed = True
        marked += 1
    return marked


def seconds_to_accuracy(history: Any, threshold: float) -> float:
    """Cumulative wall-clock seconds until the first epoch with test accuracy ≥ ``threshold``
    (NaN if no epoch reaches it)."""
    return history.time_to(threshold)[1]


def compare(results: Iterable[Any], *, baseline: str | None = None,
            threshold: float | None = None, metric: str = "last test acc") -> pd.DataFrame:
    """One row per variant: accuracy as ``mean ± 95 % (n)`` over its seeds, time per epoch,
    the architecture's parameters and GFLOPs, examples/sec.

    ``metric`` is the final epoch's test accuracy by default (the best epoch's would pick an
    epoch by the test set). Runs stopped by a guard count in ``stopped`` and are left out
    of the accuracy and time-to-threshold statistics: a stopped run has no final accuracy.
    With ``baseline`` (a variant name), ``time saved`` per epoch against it and the verdict
    of each variant's accuracy against the baseline's (Welch, 95 %). With ``threshold``,
    ``s to threshold`` (mean seconds until the test accuracy first reached it, over the runs
    that reached it), ``reached`` (how many did) and ``meets threshold`` (mean ≥ threshold).
    """
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
    frame["failed"] = frame["failed"].astype(bool)
    done = frame[~frame["failed"]]
    g = frame.groupby("variant", sort=False)
    acc = {v: mean_ci(done.loc[done["variant"] == v, metric]) for v in g.groups}
    out = pd.DataFrame({
        "change": g["change"].first(), "model": g["model"].first(), "input": g["input"].first(),
        "parameters": g["parameters"].first(), "GFLOPs": g["GFLOPs"].first(),
        "runs": g.size(), "stopped": g["failed"].sum(), "epochs": g["epochs"].max(),
        "test acc": pd.Series({v: ci.mean for v, ci in acc.items()}),
        "± (95 %)": pd.Series({v: ci.half_width for v, ci in acc.items()}),
        "n": pd.Series({v: ci.n for v, ci in acc.items()}),
        "test acc (mean ± 95 %, n)": pd.Series({v: ci.format() for v, ci in acc.items()}),
        "s/epoch": g["s/epoch"].mean(), "examples/sec": g["examples/sec"].mean(),
    })
    if threshold is not None:
        reached = done.groupby("variant", sort=False)["s to threshold"]
        out["s to threshold"] = reached.mean().reindex(out.index)
        out["reached"] = reached.count().reindex(out.index).fillna(0).astype(int)
        out["meets threshold"] = out["test acc"] >= threshold
    if baseline is not None:
        if baseline not in out.index:
            raise ValueError(f"baseline {baseline!r} is not among the variants: "
                             f"{', '.join(out.index)}")
        out["time saved"] = 1 - out["s/epoch"] / out.loc[baseline, "s/epoch"]
        base = done.loc[done["variant"] == baseline, metric]
        out["vs baseline"] = [
            "" if v == baseline else
            stats_compare(done.loc[done["variant"] == v, metric], base, names=(v, baseline)).verdict
            for v in out.index]
    return out


def verdicts(results: Iterable[Any], against: Mapping[str, str], *,
             metric: str = "last test acc", margin: float | None = None,
             paired: bool = False) -> dict[str, Comparison]:
    """For each ``variant → reference`` of ``against``, the comparison of their ``metric``
    over seeds (Welch, 95 %), guard-stopped runs left out: ``verdicts(runs,
    {"lenet_relu": "lenet"})["lenet_relu"].verdict`` is ``"lenet_relu higher"``,
    ``"lenet higher"`` or ``"no difference detectable with n = 3 and 3 seeds"``; a variant
    whose runs were all stopped gives ``"not decidable: … fewer than 2 runs"``.

    ``margin`` adds the equivalence verdict (see :mod:`.stats`); ``paired`` compares seed k
    of a variant with seed k of its reference (the same data order), the interval coming
    from the per-seed differences; a seed stopped on either side drops its pair."""
    by_variant: dict[str, list[float]] = {}
    by_seed: dict[str, dict[Any, float]] = {}
    for r in results:  # every variant seen, with its finished runs' values
        variant = r.row.extra.get("variant", r.row.run)
        finished = by_variant.setdefault(variant, [])
        seeds = by_seed.setdefault(variant, {})
        if not r.row.failed:
            finished.append(getattr(r.row, RunRow.field(metric)))
            seeds[r.row.extra.get("seed", r.row.run)] = finished[-1]
    missing = sorted({*against, *against.values()} - set(by_variant))
    if missing:  # a name with no runs at all is a typo; all-stopped variants are "not decidable"
        raise ValueError(f"no runs of {', '.join(missing)}; variants with runs: "
                         f"{', '.join(by_variant) or 'none'}")
    if not paired:
        return {v: stats_compare(by_variant[v], by_variant[ref], names=(v, ref), margin=margin)
                for v, ref in against.items()}
    out = {}
    for v, ref in against.items():
        common = [k for k in by_seed[v] if k in by_seed[ref]]
        out[v] = paired_compare([by_seed[v][k] for k in common], [by_seed[ref][k] for k in common],
                                names=(v, ref), margin=margin)
    return out


def verdict_frame(comparisons: Mapping[str, Comparison], scale: float = 100.0) -> pd.DataFrame:
    """The comparisons as a table: reference, Δ in points with its 95 % interval, verdict."""
    return pd.DataFrame({
        "compared with": {v: c.names[1] for v, c in comparisons.items()},
        "Δ (points)": {v: c.diff * scale for v, c in comparisons.items()},
        "95 % interval": {v: (f"{c.low * scale:+.1f} to {c.high * scale:+.1f}"
                              if math.isfinite(c.low) else "—") for v, c in comparisons.items()},
        "verdict": {v: c.verdict for v, c in comparisons.items()}})


def with_verdicts(frame: pd.DataFrame, comparisons: Mapping[str, Comparison],
                  scale: float = 100.0) -> pd.DataFrame:
    """``frame`` (one row per variant) with :func:`verdict_frame`'s columns, as text: a
    variant compared with none (the reference) says so instead of leaving empty cells."""
    verdicts = verdict_frame(comparisons, scale)
    verdicts["Δ (points)"] = [f"{d:+.1f}" if math.isfinite(d) else "— (no runs to compare)"
                              for d in verdicts["Δ (points)"]]
    out = frame.join(verdicts)
    compared_to = set(verdicts["compared with"])
    for variant in out.index.difference(verdicts.index):
        role = "the reference" if variant in compared_to else "not compared"
        out.loc[variant, list(verdicts.columns)] = ["—", "—", "—", role]
    return out


def fastest_meeting(frame: pd.DataFrame, threshold: float, *, acc: str = "test acc",
                    time: str = "s/epoch") -> str | None:
    """The variant with the smallest ``time`` whose ``acc`` is at least ``threshold``
    (None when no variant reaches it)."""
    ok = frame[frame[acc] >= threshold]
    return None if ok.empty else str(ok[time].idxmin())
