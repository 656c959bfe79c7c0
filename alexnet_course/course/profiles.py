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
environment variable when it is set, otherwise ``full`` only on a GPU the full edition is
sized for (:func:`choose_profile`) and ``quick`` anywhere else (a Colab T4, a laptop GPU,
Apple's MPS, the CPU); :func:`describe_choice` says which and why.
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


# The GPUs `full` is sized for (one H100 or H200, tools/book/estimates.py): Hopper or newer,
# and memory for its largest runs with room to spare. An A100 (8.0) or a T4 (7.5) would
# take hours, a 24-GiB card would not hold every run.
FULL_MIN_CAPABILITY = (9, 0)
FULL_MIN_MEMORY_GIB = 70.0


@dataclass(frozen=True)
class DeviceFacts:
    """What :func:`choose_profile` needs to know of the device a chapter will run on."""

    name: str  # e.g. "Tesla T4", "Apple GPU (MPS)", "CPU"
    capability: tuple[int, int] | None = None  # CUDA compute capability; None: no CUDA GPU
    memory_gib: float | None = None


@dataclass(frozen=True)
class Choice:
    """The profile ``auto`` stands for here, and why."""

    profile: str
    reason: str
    from_env: bool = False  # set by $COURSE_PROFILE (the book driver), not by the device


def device_facts() -> DeviceFacts:
    """The facts of the device a chapter picks by default (CUDA, then MPS, then the CPU)."""
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return DeviceFacts(props.name, (props.major, props.minor), props.total_memory / 2**30)
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return DeviceFacts("Apple GPU (MPS)")
    return DeviceFacts("CPU")


def choose_profile(facts: DeviceFacts) -> Choice:
    """``full`` on an H100/H200-class GPU — CUDA compute capability ≥ 9.0 and ≥ 70 GiB of
    memory — and ``quick`` on any other device, so a Colab T4 runs a chapter in minutes."""
    if facts.capability is None:
        return Choice("quick", f"no CUDA GPU here ({facts.name})")
    major, minor = facts.capability
    what = f"{facts.name}, compute capability {major}.{minor}, {facts.memory_gib or 0:.0f} GiB"
    if facts.capability >= FULL_MIN_CAPABILITY and (facts.memory_gib or 0) >= FULL_MIN_MEMORY_GIB:
        return Choice("full", f"{what}: an H100/H200-class GPU")
    return Choice("quick", f"{what}: not an H100/H200-class GPU, which full is sized for")


def auto_choice() -> Choice:
    """What ``auto`` means here: ``$COURSE_PROFILE`` if set (the book driver sets it), else
    :func:`choose_profile` of this machine's device."""
    chosen = os.environ.get("COURSE_PROFILE")
    if chosen:
        return Choice(chosen, "$COURSE_PROFILE is set", from_env=True)
    return choose_profile(device_facts())


def describe_choice(choice: Choice | None = None) -> str:
    """One line for the reader: ``auto → quick: Tesla T4, …; set profile = "full" …``."""
    choice = choice or auto_choice()
    other = "quick" if choice.profile == "full" else "full"
    return (f'profile "auto" → {choice.profile}: {choice.reason}; set profile = "{other}" '
            "in the parameters cell to override")


def resolve_profile(profile: str = "auto") -> Profile:
    """``"auto"`` → :func:`auto_choice` (``$COURSE_PROFILE``, else ``full`` on an
    H100/H200-class GPU and ``quick`` elsewhere); any other name → that profile."""
    if profile == "auto":
        profile = auto_choice().profile
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of: auto, "
                         f"{', '.join(PROFILES)}")
    return PROFILES[profile]
