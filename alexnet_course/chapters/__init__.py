"""Each chapter's experiments, declared once as data: ``experiments(profile) -> {name:
Experiment}``. The chapter notebook and ``python -m alexnet_course.run`` (which fills the
run store in the background) read the same declarations, so a stored run is exactly the
run the page asks for.

Chapters not listed here still declare their experiments in their notebooks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from types import ModuleType
from typing import Any

from ..course.ablations import Spec

# chapter name -> the module (in this package) that declares its experiments
CHAPTERS = {"01_lenet_to_alexnet": "lenet_to_alexnet",
            "04_vgg": "vgg",
            "05_nin_googlenet": "nin_googlenet",
            "06_inception_successors": "inception_successors",
            "07_when_training_goes_wrong": "training_goes_wrong"}


@dataclass
class Experiment:
    """One experiment of a chapter: its variants (``specs``), trained for ``seeds`` seeds
    each with the keywords ``common`` (TrainSettings fields, data sizes), and the
    comparisons it answers (``against``: variant → the variant it is compared with).
    ``notes`` holds values the page quotes (a width factor, an input side)."""

    specs: list[Spec]
    seeds: int
    common: dict[str, Any]
    against: dict[str, str] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)


def chapter_module(chapter: str) -> ModuleType:
    """The module declaring ``chapter``'s experiments, by name or number ("01")."""
    matches = [c for c in CHAPTERS if c == chapter or c.split("_")[0] == chapter]
    if len(matches) != 1:
        raise ValueError(f"no declared experiments for chapter {chapter!r}; chapters with "
                         f"declared experiments: {', '.join(CHAPTERS)}")
    return import_module(f"{__name__}.{CHAPTERS[matches[0]]}")


def train(ch: Any, experiment: Experiment, variants: list[str] | None = None) -> list[Any]:
    """The runs of ``experiment`` (every seed of every variant, or of ``variants``): read
    from the chapter's run store, or trained when missing (see ``train_run``)."""
    from ..course.ablations import run_specs

    specs = experiment.specs if variants is None else [
        s for s in experiment.specs if s.name in variants]
    return run_specs(ch, specs, seeds=experiment.seeds, **experiment.common)
