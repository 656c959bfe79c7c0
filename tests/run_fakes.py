"""Fake finished runs for the protocol's tests (no training): a run is a History and a
RunRow as train_run returns them, named and seeded as run_specs names them."""

from __future__ import annotations

import math

from alexnet_course.course.experiments import RunResult
from alexnet_course.course.rows import RunRow
from alexnet_course.train import History

LN10 = math.log(10)


def fake_run(run: str, acc: float, *, variant: str | None = None, seed: int = 0,
             val: float | list[float] | None = None, failed: str | None = None,
             at_chance: bool = False) -> RunResult:
    """A finished run as train_run returns it: last-epoch test accuracy ``acc``, validation
    accuracy ``val`` per epoch (default: ``acc``); ``at_chance`` ends it at loss ln 10 with
    chance train and test accuracy (whatever its validation accuracy says)."""
    vals = val if isinstance(val, list) else [acc if val is None else val]
    records = [{"epoch": e + 1, "train_loss": 0.4, "train_acc": 0.9, "test_acc": acc,
                "val_acc": v, "seconds": 1.0, "train_seconds": 1.0, "examples": 100}
               for e, v in enumerate(vals)]
    if at_chance:
        records[-1].update(train_loss=LN10, train_acc=0.1, test_acc=0.1)
        acc = 0.1
    row = RunRow(run=run, last_test_acc=acc, failed=failed is not None,
                 extra={"variant": variant or run, "seed": seed})
    return RunResult(run, History(records=records), row, failed)


def seeded(variant: str, accs: list[float], **kw) -> list[RunResult]:
    """One run per seed of ``variant``, named as run_specs names them."""
    return [fake_run(variant if k == 0 else f"{variant}-s{k}", a, variant=variant, seed=k, **kw)
            for k, a in enumerate(accs)]


# seed-to-seed spread far larger than the differences: only pairing by seed resolves them
REF = [0.80, 0.86, 0.83, 0.89, 0.81]
UP = [a + d for a, d in zip(REF, [0.020, 0.022, 0.019, 0.021, 0.018])]     # +2 points
SAME = [a + d for a, d in zip(REF, [0.001, -0.001, 0.002, 0.000, -0.002])]  # ±0.2 points
UNSURE = [a + d for a, d in zip(REF, [0.03, -0.03, 0.02, -0.02, 0.01])]    # wide, spans 0


def three_way() -> list[RunResult]:
    return (seeded("ref", REF) + seeded("up", UP) + seeded("same", SAME)
            + seeded("unsure", UNSURE))


AGAINST = {"up": "ref", "same": "ref", "unsure": "ref"}
