"""The time budget of one device command: what is left, and whether a step may start.

A device command runs at most 10 minutes, and a session has about 15 minutes of device time
with the machine's start, so every step gets a deadline from one :class:`Budget`: a chapter
starts only when its estimate (if known) and a minimum fit in what is left, and it is
stopped at the deadline (papermill keeps the cells that finished).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

MIN_START_S = 30.0  # a chapter needs at least this long to import, load data and compile


@dataclass
class Budget:
    """``total_s`` seconds from now; ``reserve_s`` of them are kept for what comes after
    (the benchmarks, packing)."""

    total_s: float
    reserve_s: float = 0.0
    clock: Callable[[], float] = time.monotonic
    start: float = field(init=False)

    def __post_init__(self) -> None:
        if self.total_s <= 0 or self.reserve_s < 0:
            raise ValueError(f"a budget needs total_s > 0 and reserve_s >= 0, got "
                             f"{self.total_s} and {self.reserve_s}")
        self.start = self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.start

    def remaining(self, *, reserve: bool = True) -> float:
        """Seconds left, less the reserve unless ``reserve=False``; never negative."""
        left = self.total_s - self.elapsed() - (self.reserve_s if reserve else 0.0)
        return max(left, 0.0)

    def decide(self, estimate_s: float | None, *, reserve: bool = True,
               min_start_s: float = MIN_START_S) -> str | None:
        """``None`` when a step estimated at ``estimate_s`` may start now, else why not."""
        left = self.remaining(reserve=reserve)
        if left < min_start_s:
            return f"not started: {left:.0f} s left, under the {min_start_s:.0f} s a step needs"
        if estimate_s is not None and estimate_s > left:
            return f"not started: estimated {estimate_s:.0f} s, {left:.0f} s left"
        return None
