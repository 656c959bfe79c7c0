"""What a training run leaves behind: per-epoch records and a description of the run.

:class:`History` is plain data (lists and dicts of numbers and strings), so it goes to
JSON for the book's results pages and into a checkpoint that ``torch.load`` reads with
``weights_only=True``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class History:
    """Per-epoch records of one run, plus what describes the run (``meta``).

    A record has ``epoch, train_loss, train_acc, test_acc, lr, examples, train_seconds,
    seconds, examples_per_sec`` and, with a validation set, ``val_acc``.
    """

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

    def epochs_to_train_acc(self, target: float, window: int = 20) -> float:
        """Fractional epochs until the training accuracy, averaged over the last ``window``
        batches, first reached ``target`` (needs ``fit(step_metrics=True)``); nan if never.
        AlexNet's Figure 1 counts epochs to 25 % training error (``target=0.75``)."""
        if window < 1:
            raise ValueError(f"window must be at least 1 batch, got {window}")
        acc: list[float] = []
        epoch_of: list[float] = []  # the fractional epoch at the end of each batch
        for r in self.records:
            steps = r.get("step_train_acc")
            if steps is None:
                raise ValueError("this history has no per-batch accuracies: train with "
                                 "fit(..., step_metrics=True)")
            acc += steps
            epoch_of += [r["epoch"] - 1 + (i + 1) / len(steps) for i in range(len(steps))]
        for i in range(window - 1, len(acc)):
            if sum(acc[i - window + 1:i + 1]) / window >= target:
                return epoch_of[i]
        return math.nan

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
    def from_dict(cls, d: dict[str, Any]) -> History:
        return cls(records=list(d["records"]), meta=dict(d.get("meta", {})))

    def to_frame(self):
        """The records as a pandas DataFrame indexed by epoch."""
        import pandas as pd  # only this method needs pandas

        records = [{k: v for k, v in r.items() if k != "step_train_acc"} for r in self.records]
        return pd.DataFrame(records).set_index("epoch")
