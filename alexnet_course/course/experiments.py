"""One training run as the chapters use it: data, model, ``fit``, a table row, a results JSON.

A chapter describes each run with explicit keywords; :func:`train_run` does the rest
and returns a :class:`RunResult` whose ``row`` (a :class:`~.rows.RunRow`) goes into the
chapter's tables. Runs stopped by a guard of ``fit`` are kept (``failed`` says why), so a
chapter can count collapses instead of crashing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from torch import Tensor, nn

from ..analysis import count_flops
from ..data import load_dataset
from ..models import get_model
from ..train import History, TrainingFailed, evaluate, fit, set_seed
from . import store
from .chapter import Chapter
from .dryrun import DryRun
from .rows import RunRow, rows_frame
from .stats import mean_ci

IN_CHANNELS = {"fashion_mnist": 1, "cifar10": 3}
Predict = Callable[[nn.Module, Tensor], Tensor]  # predict(net, X) → logits, e.g. ten-crop


def forward_flops(net: nn.Module, input_shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass of one image (``torch.utils.flop_counter``)."""
    # analysis.count_flops takes the side and the channels, not a shape
    return count_flops(net, input_size=input_shape[-1], in_channels=input_shape[0])


def show_progress() -> bool | None:
    """No progress bars in an executed book or CI (papermill would store every redraw);
    ``None`` lets ``fit`` decide for a person at a terminal or in Jupyter."""
    if os.environ.get("CI") or os.environ.get("COURSE_PROFILE") or "papermill" in sys.modules:
        return False
    return None


class PlannedRun(Exception):
    """Raised by :func:`train_run` for a chapter that only plans (``Chapter.plan_only``):
    the run's file, spec hash and why it is missing (None: it is stored)."""

    def __init__(self, run: str, path: Path, digest: str | None, missing: str | None) -> None:
        super().__init__(run)
        self.run, self.path, self.digest, self.missing = run, path, digest, missing


@dataclass
class RunResult:
    run: str
    history: History
    row: RunRow
    failed: str | None = None
    net: nn.Module | None = None
    stored: bool = False  # read from the run store, not trained now
    recorded: dict[str, Any] = field(default_factory=dict)  # train_run's record=, collected
    timing: dict[str, Any] | None = None  # store.Contention's measure: load, other processes' share


# fit's keywords that change no number (a checkpoint path, callbacks, a log) stay out of a
# run's spec; every other keyword is a TrainSettings field (the recipe) or predict
RUN_TIME = ("checkpoint", "val_iter", "on_epoch_end", "on_step", "progress", "log")


def run_spec(ch: Chapter, model: str | Callable[[], nn.Module], *, model_kwargs: dict[str, Any],
             spec_model: dict[str, Any] | None, data: dict[str, Any], seed: int,
             final_evals: dict[str, Predict] | None, fit_kwargs: dict[str, Any],
             record: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The run's spec for the store (see :mod:`.store`), or None when it cannot be described
    (a model given only as a factory, a lambda transform)."""
    if callable(model) and spec_model is None:
        return None
    if fit_kwargs.get("on_epoch_end") or fit_kwargs.get("on_step"):
        return None  # a callback records what the store does not keep: train every time
    try:
        return {"model": spec_model or {"name": model, "kwargs": model_kwargs},
                "data": store.describe(data), "seed": seed,
                "recipe": store.describe({k: v for k, v in fit_kwargs.items() if k not in RUN_TIME}),
                "final_evals": store.describe(final_evals or {}),
                **({"record": store.describe(record)} if record else {}),
                "profile": ch.profile.name}
    except ValueError:
        return None


def train_run(ch: Chapter, run: str, model: str | Callable[[], nn.Module], *,
              epochs: int, lr: float | None = None, model_kwargs: dict[str, Any] | None = None,
              dataset: str = "fashion_mnist", resize: int | None = None,
              batch_size: int | None = None, train_size: int | None | str = "profile",
              test_size: int | None | str = "profile", seed: int = 0,
              transform: Callable[[Tensor], Tensor] | None = None, normalize: Any = False,
              data_kwargs: dict[str, Any] | None = None, keep_net: bool | str = False,
              extra: dict[str, Any] | None = None, spec_model: dict[str, Any] | None = None,
              final_evals: dict[str, Predict] | None = None, record: dict[str, Any] | None = None,
              **fit_kwargs: Any) -> RunResult:
    """Train one model, or read it from the chapter's run store, and record it under
    ``<results>/<profile>/<chapter>/<run>.json``.

    ``model`` is a registry name (with ``model_kwargs``) or a zero-argument factory, which
    ``spec_model`` then describes for the store (else the run is always trained).
    ``data_kwargs={"val_size": n}`` holds out ``n`` training images as a validation set,
    which ``fit`` evaluates every epoch (and its ``"plateau"`` scheduler watches).
    ``train_size``/``test_size`` default to the chapter's profile. ``seed`` is added to
    the chapter's seed, so repeats of a run differ only by it. ``extra`` adds columns
    to the row (e.g. what an ablation changed). ``final_evals={"ten-crop acc": predict}``
    evaluates the trained network once more on the test set per entry, ``predict(net, X)``
    replacing ``net(X)``, and adds each accuracy as a column. The other keywords are
    :class:`~alexnet_course.settings.TrainSettings` fields or ``fit``'s run-time ones.

    A stored run whose spec and recipe version match is returned without training. A
    missing one is trained, unless the chapter requires stored runs (the published edition):
    then :class:`~.store.MissingRun` names the command that trains it.

    ``record={"name": recorder}`` keeps more than the history: each recorder's optional
    ``attach(net)`` runs before training (e.g. hooks that record activations), its
    ``collect(net)`` after it, and what that returns (plain JSON) is stored with the run and
    returned in ``RunResult.recorded``. ``keep_net=True``
    returns the trained network; the store keeps its weights beside the run (in half
    precision, ``<run>.weights.pt``) and a stored run without them is trained again.
    ``keep_net="architecture"`` returns a network of the run's architecture,
    rebuilt untrained when the run is read from the store (enough for shapes and memory).
    """
    p = ch.profile
    train_size = p.train_size if train_size == "profile" else train_size
    test_size = p.test_size if test_size == "profile" else test_size
    dry = DryRun.of(p, batch_size, epochs) if p.dry_run else None
    batch_size = batch_size or p.batch_size
    if dry is not None:  # the full run's data and model, a few tiny batches of it
        batch_size, epochs = p.batch_size, dry.cut_epochs
    kwargs = {"in_channels": IN_CHANNELS.get(dataset, 3), **(model_kwargs or {})}
    data = dict(dataset=dataset, resize=resize, batch_size=batch_size, train_size=train_size,
                test_size=test_size, transform=transform, normalize=normalize,
                **(data_kwargs or {}))
    storable = dry is None
    spec = None if not storable else run_spec(
        ch, model, model_kwargs=kwargs, spec_model=spec_model, data=data, seed=ch.seed + seed,
        final_evals=final_evals, fit_kwargs={"epochs": epochs, "lr": lr, **fit_kwargs},
        record=record)
    digest = None if spec is None else store.spec_hash(spec)
    path = ch.run_path(run)
    weights = path.with_suffix(".weights.pt") if keep_net is True else None  # noqa: E712
    if ch.plan_only:  # `run --status`: what this run is and whether it is stored, no training
        raise PlannedRun(run, path, digest, store.stale_reason(store.read(path), digest)
                         if digest is not None else "it has no spec")
    if digest is not None:
        kept = store.read(path)
        if store.stale_reason(kept, digest) is None and (weights is None or weights.is_file()):
            return _stored(kept, model, kwargs, keep_net, weights)
    if digest is not None and weights is None and not ch.require_stored:
        twin = store.find_twin(path.parent, digest)
        if twin is not None:  # the same run under another name: stored again, not trained
            return _stored(_renamed(twin, run, extra, final_evals), model, kwargs, keep_net,
                           None, path)
    if ch.require_stored:
        reason = "it has no spec" if digest is None else (
            store.stale_reason(store.read(path), digest) or f"its kept weights {weights} are missing")
        raise store.MissingRun(f"{ch.name}: run {run!r} is not in the store ({reason}). "
                               f"{fill_command(ch.name, p.name)}, then execute the chapter again.")
    set_seed(ch.seed + seed)
    loaders = load_dataset(dataset, batch_size, resize, train_size=train_size,
                           test_size=test_size, device=ch.device, transform=transform,
                           normalize=normalize, seed=ch.seed + seed, **(data_kwargs or {}))
    if dry is not None:
        loaders = dry.wrap(loaders)
    train_iter, test_iter = loaders[0], loaders[-1]
    if len(loaders) == 3:  # (train, val, test)
        fit_kwargs.setdefault("val_iter", loaders[1])
    net = get_model(model, **kwargs) if isinstance(model, str) else model()
    name = model if isinstance(model, str) else type(net).__name__
    # the shape the network sees: after resizing and after any cropping transform
    shape = tuple(train_iter.prepare(train_iter.images[:1]).shape[1:])
    flops = forward_flops(net, shape)
    for recorder in (record or {}).values():
        if hasattr(recorder, "attach"):
            recorder.attach(net)
    failed = None
    fit_kwargs.setdefault("progress", show_progress())
    if digest is not None and ch.checkpoints is not None:  # a killed fill resumes mid-run
        fit_kwargs.setdefault("checkpoint", ch.checkpoints / f"{path.stem}-{digest}.pt")
    with store.Contention() as load:
        try:
            history = fit(net, train_iter, test_iter, epochs=epochs, lr=lr, device=ch.device,
                          **fit_kwargs)
        except TrainingFailed as err:
            history, failed = err.history, str(err)
            print(f"{run}: stopped: {str(err).split(':')[0]} ({str(err)[:120]}...)")
    history.meta.update({"model_name": name, "model_kwargs": model_kwargs or {},
                         "dataset": dataset, "seed": ch.seed + seed, "flops": flops})
    extra = dict(extra or {})
    if dry is not None:
        extra.update(dry.extra(net, shape, fit_kwargs))
    for column, predict in (final_evals or {}).items():
        extra[column] = evaluate(net, test_iter, device=ch.device, predict=predict)
    recorded = {name: recorder.collect(net) for name, recorder in (record or {}).items()}
    timing = load.result()
    if timing["contended"]:  # another process shared the CPU: its seconds are not comparable
        extra["timing"] = (f"contended: other processes used {100 * timing['other_cpu_share']:.0f} % "
                           f"of the CPU")
    row = RunRow.from_history(run, history, model=name, input_shape=shape,
                              parameters=sum(q.numel() for q in net.parameters()), flops=flops,
                              train_examples=train_iter.num_examples,
                              failed=failed is not None, extra=extra)
    if weights is not None and digest is not None:  # before the record: a record means both
        store.save_weights(weights, net)
    ch.save_run(run, history, row=row.to_dict(), failed=failed, spec=spec, spec_hash=digest,
                recipe_version=store.RECIPE_VERSION, timing=timing,
                **({"recorded": recorded} if record else {}),
                **({"weights": weights.name} if weights is not None and digest is not None else {}))
    checkpoint = fit_kwargs.get("checkpoint")
    if digest is not None and checkpoint is not None and ch.checkpoints is not None:
        Path(checkpoint).unlink(missing_ok=True)  # the run is stored: its checkpoint is spent
    return RunResult(run, history, row, failed, net if keep_net else None, recorded=recorded,
                     timing=timing)


def fill_command(chapter: str, profile: str) -> str:
    """How to train a chapter's missing runs into the store (every chapter that trains
    declares its experiments in ``alexnet_course.chapters``)."""
    return f"Train the missing runs with `python -m alexnet_course.run {chapter} --profile {profile}`"


def _renamed(twin: dict[str, Any], run: str, extra: dict[str, Any] | None,
             final_evals: dict[str, Predict] | None = None) -> dict[str, Any]:
    """A stored run's record under the name ``run`` with this call's extra columns; the
    columns the run computed (its ``final_evals``, ``timing``) are kept."""
    row = RunRow.from_dict(twin["row"])
    computed = {"timing", *(final_evals or {})}
    row.run, row.extra = run, {**dict(extra or {}), **{k: v for k, v in row.extra.items()
                                                       if k in computed}}
    return {**twin, "run": run, "row": row.to_dict(), "same_as": twin["run"]}


def _stored(record: dict[str, Any], model: str | Callable[[], nn.Module], kwargs: dict[str, Any],
            keep_net: bool | str, weights: Path | None, save_as: Path | None = None) -> RunResult:
    """A stored run as :func:`train_run` returns it: a kept network with its stored weights
    (``keep_net=True``) or untrained (``"architecture"``); written to ``save_as`` first when
    given (a twin stored under a new name)."""
    if save_as is not None:
        store.write(save_as, record)
    net = None
    if keep_net:
        net = get_model(model, **kwargs) if isinstance(model, str) else model()
        if weights is not None:
            store.load_weights(weights, net)
    return RunResult(record["run"], History.from_dict(record), RunRow.from_dict(record["row"]),
                     record.get("failed"), net, stored=True, recorded=record.get("recorded", {}),
                     timing=record.get("timing"))


def table(results: Iterable[RunResult], columns: list[str] | None = None) -> pd.DataFrame:
    """The rows of several runs as a DataFrame indexed by run name."""
    frame = rows_frame(r.row for r in results)
    return frame[columns] if columns else frame


def mean_spread(results: Iterable[RunResult], by: str,
                metrics: tuple[str, ...] = ("best test acc", "last test acc", "s/epoch")
                ) -> pd.DataFrame:
    """Per group of ``by`` (e.g. the seeds of one setting): the number of runs and, for each
    metric, its mean and the half-width of its 95 % t interval (NaN for a single run, which
    has no spread, rather than a standard deviation of 0)."""
    frame = rows_frame((r.row for r in results), index=None)
    rows = {}
    for key, group in frame.groupby(by, sort=False):
        row: dict[str, Any] = {"runs": len(group)}
        for m in metrics:
            ci = mean_ci(group[m])
            row[f"{m} (mean)"], row[f"{m} (± 95 %)"] = ci.mean, ci.half_width
        rows[key] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = by
    return out
