"""One training run as a table row: a dataclass, written to and read from the results JSON.

Every chapter table, the ablation comparison and the "All results" page are built from
:class:`RunRow` objects, so the columns are named in one place (:data:`RunRow.COLUMNS`)
instead of being re-read as string keys in every module. A row's JSON form (the
``"row"`` object of ``results/<chapter>/<run>.json``) uses the display names, which is
what the book's tables show.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import pandas as pd

from ..train import History


@dataclass
class RunRow:
    run: str
    model: str = ""
    input: str = ""
    parameters: float = math.nan
    gflops: float = math.nan
    epochs: float = math.nan
    train_examples: float = math.nan
    seconds: float = math.nan
    s_per_epoch: float = math.nan
    examples_per_sec: float = math.nan
    best_test_acc: float = math.nan
    last_test_acc: float = math.nan
    last_train_loss: float = math.nan
    failed: bool = False
    #: columns a chapter adds (what an ablation changed, a second evaluation, a seed ...)
    extra: dict[str, Any] = field(default_factory=dict)

    #: field → the column name tables and the results JSON use
    COLUMNS: ClassVar[dict[str, str]] = {
        "run": "run", "model": "model", "input": "input", "parameters": "parameters",
        "gflops": "GFLOPs", "epochs": "epochs", "train_examples": "train examples",
        "seconds": "seconds", "s_per_epoch": "s/epoch", "examples_per_sec": "examples/sec",
        "best_test_acc": "best test acc", "last_test_acc": "last test acc",
        "last_train_loss": "last train loss", "failed": "failed"}

    @classmethod
    def column(cls, name: str) -> str:
        """The display column of field ``name`` (``"best_test_acc"`` → ``"best test acc"``)."""
        if name not in cls.COLUMNS:
            raise KeyError(f"RunRow has no field {name!r}; fields: {', '.join(cls.COLUMNS)}")
        return cls.COLUMNS[name]

    @classmethod
    def field(cls, column: str) -> str:
        """The field of display column ``column`` (``"last test acc"`` → ``"last_test_acc"``)."""
        for name, col in cls.COLUMNS.items():
            if col == column:
                return name
        raise KeyError(f"no RunRow column {column!r}; columns: {', '.join(cls.COLUMNS.values())}")

    @classmethod
    def from_history(cls, run: str, history: History, *, model: str, input_shape: tuple[int, ...],
                     parameters: int, flops: float, train_examples: int, failed: bool = False,
                     extra: Mapping[str, Any] | None = None) -> "RunRow":
        """The row of a finished (or guard-stopped) run from its history."""
        done = bool(history.records)
        last = history.records[-1] if done else {}
        return cls(run=run, model=model, input=f"{input_shape[-2]}×{input_shape[-1]}",
                   parameters=parameters, gflops=flops / 1e9, epochs=len(history),
                   train_examples=train_examples,
                   seconds=history.seconds if done else math.nan,
                   s_per_epoch=history.seconds / len(history) if done else math.nan,
                   examples_per_sec=history.examples_per_sec if done else math.nan,
                   best_test_acc=history.best_test_acc if done else math.nan,
                   last_test_acc=last.get("test_acc", math.nan),
                   last_train_loss=last.get("train_loss", math.nan),
                   failed=failed, extra=dict(extra or {}))

    def to_dict(self) -> dict[str, Any]:
        """Display names → values, the extra columns after the standard ones."""
        out = {col: getattr(self, name) for name, col in self.COLUMNS.items()}
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "RunRow":
        """Inverse of :meth:`to_dict`; unknown columns become ``extra``, missing ones NaN."""
        by_column = {col: name for name, col in cls.COLUMNS.items()}
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in d.items():
            name = by_column.get(key)
            if name in known:
                kwargs[name] = value
            else:
                extra[key] = value
        kwargs.setdefault("run", "")
        kwargs["failed"] = bool(kwargs.get("failed", False))
        return cls(**kwargs, extra=extra)


def rows_frame(rows: Iterable[RunRow], index: str | None = "run") -> pd.DataFrame:
    """A DataFrame with one row per :class:`RunRow` (display column names)."""
    frame = pd.DataFrame([r.to_dict() for r in rows])
    if frame.empty:
        frame = pd.DataFrame(columns=list(RunRow.COLUMNS.values()))
    return frame.set_index(index) if index else frame
