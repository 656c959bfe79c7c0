"""Each chapter's experiments, declared once as data: ``experiments(profile) -> {name:
Experiment}``. The chapter notebook and ``python -m alexnet_course.run`` (which fills the
run store in the background) read the same declarations, so a stored run is exactly the
run the page asks for.

Every chapter that trains is listed in :data:`CHAPTERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Any

from ..course.ablations import Spec

PILOT = "pilot"  # the name of a chapter's epoch-pilot experiment

# chapter name -> the module (in this package) that declares its experiments
CHAPTERS = {"01_lenet_to_alexnet": "lenet_to_alexnet",
            "02_alexnet_paper": "alexnet_paper",
            "03_resolution_and_pooling": "resolution_and_pooling",
            "04_vgg": "vgg",
            "05_nin_googlenet": "nin_googlenet",
            "06_inception_successors": "inception_successors",
            "07_when_training_goes_wrong": "training_goes_wrong"}


@dataclass
class Experiment:
    """One experiment of a chapter: its variants (``specs``), trained for ``seeds`` seeds
    each with the keywords ``common`` (TrainSettings fields, data sizes), and the
    comparisons it answers (``against``: variant → the variant it is compared with).
    ``notes`` holds values the page quotes (a width factor, an input side).

    Some keywords can only be decided by another experiment's runs (chapter 02 trains its
    ablation at the learning rate its sweep picked): ``after`` names that experiment and
    ``decide(its runs)`` returns the keywords; :meth:`given` adds them. ``tune(its runs)``
    returns keywords per variant instead (``{"lenet": {"lr": 0.002}}``: each variant at its
    own best rate). The variants, and so the run names, are declared up front all the same.

    ``question`` names the homework question its comparisons answer (in ``verdicts.json``);
    ``more_seeds`` is the protocol's second stage: both sides of a comparison still
    undecided after ``seeds`` seeds get this many (see :mod:`..course.protocol`).
    ``same_runs`` compares two measures of the same runs: ``{name: (variant, metric,
    reference metric)}``, e.g. ``{"ten-crop": ("recipe", "ten-crop acc", "last test acc")}``,
    paired by run; it is judged, recorded and extended like ``against``. ``rates`` compares
    how often runs die or never start learning (:func:`..course.explain.mark_not_started`):
    ``{variant: reference}``, by Fisher's exact test on every seed (no second stage).

    A chapter's epoch pilot is the experiment named ``pilot`` (:data:`PILOT`), whose
    ``notes["epochs"]`` (or ``notes["epochs_of"]``) maps each piloted variant to its ``E``
    (see ``chapter_pilots``)."""

    specs: list[Spec]
    seeds: int
    common: dict[str, Any]
    against: dict[str, str] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    after: str | None = None
    decide: Callable[[list[Any]], dict[str, Any]] | None = None
    tune: Callable[[list[Any]], dict[str, dict[str, Any]]] | None = None
    question: str = ""
    more_seeds: int | None = None
    same_runs: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    rates: dict[str, str] = field(default_factory=dict)

    @property
    def waits(self) -> bool:
        """True while keywords are still to be decided by the runs of ``after``."""
        return self.decide is not None or self.tune is not None

    def given(self, runs: list[Any]) -> Experiment:
        """This experiment with the keywords that ``runs`` (all the runs of ``after``)
        decide added to ``common`` (``decide``) or to each variant (``tune``): ready to train."""
        common = {**self.common, **(self.decide(runs) if self.decide else {})}
        per_variant = self.tune(runs) if self.tune else {}
        unknown = sorted(set(per_variant) - {s.name for s in self.specs})
        if unknown:
            raise ValueError(f"tune() named variants this experiment lacks: {', '.join(unknown)}")
        specs = [replace(s, train={**s.train, **per_variant[s.name]}) if s.name in per_variant
                 else s for s in self.specs]
        return replace(self, specs=specs, common=common, after=None, decide=None, tune=None)


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

    if experiment.waits:
        raise ValueError(f"this experiment's keywords are decided by the runs of "
                         f"{experiment.after!r}: train experiment.given(those runs)")
    specs = experiment.specs if variants is None else [
        s for s in experiment.specs if s.name in variants]
    runs = run_specs(ch, specs, seeds=experiment.seeds, **experiment.common)
    extend = set() if ch.profile.dry_run else second_stage(experiment, runs)
    if not extend:
        return runs
    more = run_specs(ch, [s for s in specs if s.name in extend], seeds=experiment.more_seeds,
                     **experiment.common)
    return [r for r in runs if r.row.extra.get("variant") not in extend] + more


def second_stage(experiment: Experiment, runs: list[Any]) -> set[str]:
    """The variants that get ``more_seeds`` seeds: both sides of each comparison that the
    first stage's runs leave undecided, and the variant of each undecided ``same_runs``
    comparison (none without ``more_seeds`` or in a dry run)."""
    if not experiment.more_seeds or not (experiment.against or experiment.same_runs) or not runs:
        return set()
    from ..course import protocol

    present = {r.row.extra.get("variant") for r in runs}
    against = {v: ref for v, ref in experiment.against.items() if v in present and ref in present}
    extend = protocol.to_extend(protocol.compare(runs, against))
    return extend | {variant for variant, metric, reference in experiment.same_runs.values()
                     if variant in present
                     and not protocol.compare_metrics(runs, variant, metric, reference).settled}


def train_all(ch: Any, experiments: dict[str, Experiment],
              variants: list[str] | None = None) -> dict[str, list[Any]]:
    """Every experiment's runs (of ``variants`` only, if given), in declaration order; an
    experiment declared ``after`` another is given all of that one's runs first (trained
    when missing, whatever ``variants`` says: they decide its keywords)."""
    runs: dict[str, list[Any]] = {}
    whole: dict[str, list[Any]] = {}  # experiments trained with all their variants
    for name, exp in experiments.items():
        if variants is not None and not any(s.name in variants for s in exp.specs):
            continue
        if exp.after is not None:
            if exp.after not in whole:
                whole[exp.after] = train(ch, experiments[exp.after])
            exp = exp.given(whole[exp.after])
        runs[name] = train(ch, exp, variants)
        if variants is None:
            whole[name] = runs[name]
    return runs


def chapter_verdicts(experiments: dict[str, Experiment],
                     runs: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The ``verdicts.json`` records of a chapter: every comparison (``against``, then
    ``same_runs``, then ``rates``) of every experiment that answers a ``question``, judged by
    the protocol on its ``runs`` (``train_all``'s result)."""
    from ..course import explain, protocol

    records = []
    for name, exp in experiments.items():
        if not exp.question or not runs.get(name):
            continue
        if exp.against:  # wide intervals with their reasons; all-dead comparisons by their rate of deaths
            records += explain.against_records(exp.question, runs[name],
                                               protocol.compare(runs[name], exp.against))
        for key, (variant, metric, reference) in exp.same_runs.items():
            c = {key: protocol.compare_metrics(runs[name], variant, metric, reference)}
            records += protocol.verdict_records(exp.question, c,
                                                metric=f"{metric} vs {reference}, same runs of {variant}")
        if exp.rates:
            explain.mark_not_started(runs[name])
        records += [explain.dead_rate_record(exp.question, runs[name], variant, reference)
                    for variant, reference in exp.rates.items()]
    return records


def chapter_pilots(experiments: dict[str, Experiment],
                   runs: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The epoch pilot's records for ``verdicts.json``: for each variant the ``pilot``
    experiment pilots, its ``E``, validation accuracy at ``E / 2``, ``E`` and ``1.5 E``
    epochs, how far the last step moved it (points) and whether that is within the
    protocol's tolerance (empty without a pilot or its runs)."""
    from ..course import protocol

    pilot = experiments.get(PILOT)
    if pilot is None or not runs.get(PILOT):
        return []
    every = [r for group in runs.values() for r in group]
    # variant -> E: ``notes["epochs_of"]`` where a chapter's notes keep ``epochs`` for the profile's number
    epochs = pilot.notes.get("epochs_of", pilot.notes.get("epochs"))
    if not isinstance(epochs, Mapping):
        raise ValueError(f"the pilot experiment's notes must map each piloted variant to its epochs "
                         f"(notes['epochs'] or notes['epochs_of']), got {epochs!r}")
    table = protocol.pilot_table(epochs, every)
    return [{"variant": name, "epochs": int(row["E"]),
             "val_acc": [_number(row["val acc at E / 2"]), _number(row["val acc at E"]),
                         _number(row["val acc at 1.5 E"])],
             "moved_points": _number(row["1.5 E − E (points)"]), "converged": bool(row["converged"])}
            for name, row in table.iterrows()]


def write_chapter_verdicts(folder: Path, experiments: dict[str, Experiment],
                           runs: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Write ``verdicts.json`` into ``folder`` (a chapter's store folder) with the verdicts
    and the epoch pilot of ``runs``, the one writer the fill and the pages share (a page
    that wrote the verdicts alone dropped the pilot's records); returns the verdict records,
    and writes nothing when there are none."""
    from ..course import protocol

    records = chapter_verdicts(experiments, runs)
    if records:
        protocol.write_verdicts(folder, records, chapter_pilots(experiments, runs))
    return records


def _number(x: float) -> float | None:
    """A JSON-safe accuracy: rounded, None for NaN (a dead run has none)."""
    return None if x != x else round(float(x), 5)
