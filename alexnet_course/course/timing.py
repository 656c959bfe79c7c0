"""Timing probes: the seconds a page compares come from short runs timed alone.

Training on a CPU is deterministic, so accuracy runs may share the machine; their wall
clock may not be compared. A probe trains a configuration for two short passes of the
same ``steps`` batches (the first warms up allocators and kernels; the second is timed),
evaluates as many test images, and is stored with the run store's contention measure
(:class:`.store.Contention`: load averages, the share of the CPU other processes used).
:func:`probe_frame` turns probes into seconds per epoch and labels any probe that shared
the machine, so a page never compares a contended time as if it were clean.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from .ablations import Spec
from .configs import PROBE_PREFIX

#: the epoch a probe's rates are extrapolated to: its dataset's training and test images
EPOCH_IMAGES = {"fashion_mnist": (60_000, 10_000), "cifar10": (50_000, 10_000)}


def epoch_images(dataset: str) -> tuple[int, int]:
    """``(training, test)`` images of one epoch of ``dataset``."""
    if dataset not in EPOCH_IMAGES:
        raise ValueError(f"no epoch size for dataset {dataset!r}; known: {', '.join(EPOCH_IMAGES)}")
    return EPOCH_IMAGES[dataset]


def probe_specs(specs: Iterable[Spec], *, prefix: str = PROBE_PREFIX) -> list[Spec]:
    """The probes of accuracy specs: the same network and data keywords, named
    ``<prefix><name>`` (the recipe's epochs and sizes come from :func:`probe_common`)."""
    return [Spec(prefix + s.name, f"timing probe: {s.change}", s.model, dict(s.model_kwargs),
                 train={k: v for k, v in s.train.items() if k not in ("record", "keep_net")},
                 builder=s.builder)
            for s in specs]


def probe_common(common: Mapping[str, Any], *, steps: int, batch: int) -> dict[str, Any]:
    """An experiment's common keywords for probes: two passes of ``steps`` batches of
    ``batch`` training images and as many test images, no stall guard (a few batches need
    not learn)."""
    return {**common, "epochs": 2, "batch_size": batch, "train_size": steps * batch,
            "test_size": steps * batch, "guard": False}


def probe_row(result: Any, epoch: tuple[int, int] | None = None) -> dict[str, Any]:
    """One probe's rates and its seconds per epoch (``epoch``: training and test images;
    default, its dataset's), with how busy the machine was (``timed alone`` is False when
    other processes used more than the store's limit)."""
    epoch = epoch or epoch_images(result.history.meta.get("dataset", "fashion_mnist"))
    rec = result.history.records[-1]  # the second, warm pass
    images = int(rec["examples"])  # training images of one pass; the test pass has as many
    train_rate = images / rec["train_seconds"]
    test_rate = images / max(rec["seconds"] - rec["train_seconds"], 1e-9)
    timing = result.timing or {}
    contended = timing.get("contended")
    return {"run": result.run, "timed training images": images,
            "training images/s": train_rate, "test images/s": test_rate,
            "s per epoch": epoch[0] / train_rate + epoch[1] / test_rate,
            "load (1 min)": (timing.get("loadavg_start") or [float("nan")])[0],
            "other processes' CPU share": timing.get("other_cpu_share"),
            "timed alone": None if contended is None else not contended}


def probe_frame(results: Iterable[Any], *, by: str = "variant",
                epoch: tuple[int, int] | None = None) -> pd.DataFrame:
    """Probes as a table indexed by ``by`` (a row column, the probe's variant by default)."""
    rows = [{by: r.row.extra.get(by, r.run), **probe_row(r, epoch)} for r in results]
    return pd.DataFrame(rows).set_index(by)


def time_ratio(probes: pd.DataFrame, a: str, b: str) -> tuple[float, str]:
    """``(s per epoch of a / of b, a note)``: the note is empty when both probes ran alone,
    else it says which shared the machine (the ratio is then not to be trusted)."""
    ratio = float(probes.loc[a, "s per epoch"] / probes.loc[b, "s per epoch"])
    shared = [k for k in (a, b) if not _alone(probes.loc[k, "timed alone"])]
    note = ("" if not shared else
            f" (not timed alone: {', '.join(shared)} shared the machine or has no measure)")
    return ratio, note


def _alone(flag: Any) -> bool:
    """True for a probe measured as alone (a numpy bool in an all-measured column)."""
    return flag is not None and not pd.isna(flag) and bool(flag)
