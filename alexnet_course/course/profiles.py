"""Run profiles: how big each chapter's experiments are.

``smoke`` is for CI (seconds per notebook), ``quick`` for a student's CPU (an indicative
result in a few minutes per chapter: stratified subsets, small inputs, few epochs),
``standard`` for the published CPU edition (the whole training set, models sized for two
CPU cores, several seeds per compared configuration; at most ~45 minutes a chapter) and
``full`` for one GPU (the scale of the homework and of d2l's runs). ``dryrun`` is the
``full`` profile's chapters on a CPU in minutes: every ``pick`` takes the ``full`` value
(models, input sizes, batch sizes, run lists), but each run trains and evaluates only two
tiny batches per epoch, for at most two epochs and two seeds, and records the real batch
size, epochs and a GPU-memory estimate, so a shape, configuration or bookkeeping error of
the GPU edition fails CI before a GPU is lent (see ``tools/book/estimates.py``).
A notebook's parameters cell says ``profile = "auto"``: the ``COURSE_PROFILE``
environment variable when it is set, otherwise ``full`` on CUDA and ``quick`` on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, ClassVar

import torch


@dataclass(frozen=True)
class Profile:
    name: str
    train_size: int | None  # None: the whole training set
    test_size: int | None
    epochs: int
    batch_size: int
    seeds: int  # independent repeats for mean ± spread
    description: str
    # class-level, not fields: a profile's repr (which the book driver records) stays as it was
    dry_run: ClassVar[bool] = False
    picks: ClassVar[str | None] = None  # the profile whose pick() values this one takes

    def pick(self, **choices: Any) -> Any:
        """The value for this profile: ``p.pick(smoke=32, quick=64, full=224)``."""
        key = self.picks or self.name
        if key not in choices:
            raise ValueError(f"no value given for profile {key!r}"
                             f"{'' if key == self.name else f' (which {self.name} follows)'}; "
                             f"got values for {', '.join(choices) or 'none'}")
        return choices[key]

    @property
    def measures(self) -> bool:
        """Whether this profile's runs train enough for a claim about training noise to be
        checked (not ``smoke``, not a dry run)."""
        return self.name != "smoke" and not self.dry_run


@dataclass(frozen=True)
class DryRunProfile(Profile):
    """The ``full`` profile's choices, each run cut to ``max_batches`` batches of
    ``batch_size`` images per epoch, ``max_epochs`` epochs and ``max_seeds`` seeds."""

    dry_run: ClassVar[bool] = True
    picks: ClassVar[str | None] = "full"
    max_batches: ClassVar[int] = 2
    max_epochs: ClassVar[int] = 2
    max_seeds: ClassVar[int] = 2


PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", train_size=512, test_size=256, epochs=1, batch_size=128,
                     seeds=1, description="CI: checks that every cell runs, in seconds; "
                     "its numbers mean nothing"),
    "quick": Profile("quick", train_size=6000, test_size=2000, epochs=3, batch_size=128,
                     seeds=1, description="CPU: stratified subsets, small inputs, few epochs; "
                     "about two minutes per chapter"),
    "standard": Profile("standard", train_size=None, test_size=None, epochs=5, batch_size=128,
                        seeds=3, description="the published CPU edition: all 60,000/10,000 "
                        "images, models sized for two CPU cores, ≥ 3 seeds per compared "
                        "configuration"),
    "full": Profile("full", train_size=None, test_size=None, epochs=10, batch_size=128,
                    seeds=3, description="one GPU: all 60,000/10,000 images at the "
                    "resolutions of the homework and d2l"),
    "dryrun": DryRunProfile("dryrun", train_size=None, test_size=None, epochs=2, batch_size=4,
                            seeds=2, description="CI: the full profile's models, sizes and run "
                            "lists on the CPU, each run two batches of 4 images per epoch; its "
                            "numbers mean nothing"),
}


def resolve_profile(profile: str = "auto") -> Profile:
    """``"auto"`` → ``$COURSE_PROFILE`` if set, else ``full`` on CUDA, ``quick`` on CPU."""
    if profile == "auto":
        profile = os.environ.get("COURSE_PROFILE") or ("full" if torch.cuda.is_available()
                                                       else "quick")
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of: auto, "
                         f"{', '.join(PROFILES)}")
    return PROFILES[profile]
