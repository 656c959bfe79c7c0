"""Chapter 05, why NiN and GoogLeNet are so much smaller: the experiments it trains, under
the conclusive protocol (:mod:`..course.protocol`).

* ``rates``: the learning-rate grid, judged on the validation split, for d2l's NiN (two
  1×1 convolutions per block, global average pooling) and NiN with a fully connected head,
  whose one big layer may want another rate; the other NiN variants take d2l's NiN's rate
  (the same network with one layer changed per block: a deviation from "each at its own
  rate", which the grid's cost on two cores does not allow);
* ``pilot``: the deepest variant (three 1×1 convolutions per block) for ``E / 2`` and
  ``1.5 E`` epochs: are ``E`` epochs converged?
* ``head`` (homework 3a): global average pooling against the fully connected head, on final
  accuracy at convergence; the page adds epochs to a training-accuracy target (paired, from
  the same runs) and seconds per epoch (from probes);
* ``mlpconv`` (d2l's NiN exercises 1 and 2): one or three 1×1 convolutions per block, and
  3×3 convolutions in their place, each against d2l's two 1×1 convolutions;
* ``collapse``: how often NiN never starts learning under d2l's settings (Xavier, plain SGD at
  a constant rate of 0.1) against ours (Kaiming, momentum 0.9, a short warm-up, 0.02): a
  *rate*, compared by Fisher's exact test on :data:`COLLAPSE_SEEDS` seeds a side, on all
  60,000 training images for two epochs at a constant rate (d2l's first two epochs, 938
  steps), with the stall guard off so that a slow start is not stopped as a death;
* ``timing``: probes timed alone for every second per epoch the page compares.

GoogLeNet is built and measured (parameters, FLOPs, input sizes) but no longer trained here:
chapter 06 trains it and its successors.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from ..course import protocol, timing
from ..course.ablations import Spec
from ..course.profiles import Profile
from . import Experiment

NAME = "05_nin_googlenet"
BASE = "nin_1x1_2"  # d2l's NiN design: the reference of every comparison
COLLAPSE_SEEDS = 10  # a side, standard and full: the issue's "≥ 10" for a rate
# SGD with momentum 0.9 under a cosine decay; ours before the protocol was a constant 0.02
LRS = (0.01, 0.02, 0.05, 0.1)
# variant, in words, NiN keywords
VARIANTS = (("nin_1x1_1", "one 1×1 conv per block", dict(num_1x1=1)),
            (BASE, "two 1×1 convs per block, GAP (d2l's NiN)", dict(num_1x1=2)),
            ("nin_1x1_3", "three 1×1 convs per block", dict(num_1x1=3)),
            ("nin_3x3", "two 3×3 convs per block instead of 1×1", dict(num_1x1=2, mlp_kernel=3)),
            ("nin_fc_head", "two 1×1 convs per block, FC head instead of GAP",
             dict(num_1x1=2, head="fc")))
GRID = ("nin_1x1_2", "nin_fc_head")  # the variants with their own rate grid
# the deepest NiN, taken as the slowest to converge (the 3×3 variant, with 3× the FLOPs, would
# cost the pilot ~14 min instead of ~6)
PILOTED = "nin_1x1_3"
OURS = dict(init="kaiming", momentum=0.9, warmup_steps=10)  # "our settings"
D2L = dict(init="xavier", momentum=0.0, warmup_steps=0, lr=0.1)  # d2l's NiN section


def experiments(P: Profile, *, dataset: str = "fashion_mnist", seeds: int | None = None,
                epochs: int | None = None, nin_size: int | None = None,
                nin_width: float | None = None, train_size: int | None = None,
                lrs: list[float] | None = None, collapse_seeds: int | None = None,
                collapse_epochs: int | None = None, our_lr: float = 0.02) -> dict[str, Experiment]:
    """The chapter's experiments in profile ``P``; ``None`` leaves a choice to the profile.
    ``our_lr`` is our settings' constant rate in the collapse study. Every experiment's
    ``notes`` hold the settings the page quotes (:func:`settings`)."""
    s = settings(P, seeds=seeds, epochs=epochs, nin_size=nin_size, nin_width=nin_width,
                 train_size=train_size, lrs=lrs, collapse_seeds=collapse_seeds,
                 collapse_epochs=collapse_epochs)
    side = s["nin_size"]
    # Deviation from d2l: its 11×11 stride-4 stem needs ≥ 67 px; native 28-px images get a
    # 3×3 stride-1 stem (28 → 13 → 6 → 2 after the three poolings, where 224 ends at 5×5)
    net = dict(input_size=side, width=s["nin_width"], stem=(11, 4, 0) if side >= 67 else (3, 1, 1))
    common = protocol.recipe(s["epochs"], lr=s["lrs"][0], momentum=OURS["momentum"],
                             warmup_steps=OURS["warmup_steps"], dataset=dataset,
                             batch_size=s["batch_size"], train_size=s["train_size"],
                             test_size=s["test_size"], step_metrics=True,
                             stall_min_steps=s["stall_min_steps"],
                             data_kwargs={"val_size": s["val_size"]})
    specs = {name: Spec(name, what, "nin", {**net, **kw, "init": OURS["init"]},
                        train={"resize": side}) for name, what, kw in VARIANTS}
    grid = {name: name if name in GRID else BASE for name in specs}  # which grid run sets each rate
    pilot = protocol.pilot_specs([specs[PILOTED]], s["epochs"])
    notes = {**s, "base": BASE, "grid": grid, "labels": {n: v.change for n, v in specs.items()},
             "epochs_of": {PILOTED: s["epochs"]}}

    def tuned(names: list[str]) -> dict[str, Any]:
        return dict(after="rates", tune=partial(protocol.tune_rates, s["lrs"], grid, names))

    mlpconv = [specs[n] for n in (BASE, "nin_1x1_1", "nin_1x1_3", "nin_3x3")]
    head = [specs[BASE], specs["nin_fc_head"]]
    more = dict(more_seeds=s["more_seeds"], notes=notes)
    probe_common = {**common, "data_kwargs": {"paired_augment": True}}  # no validation pass
    return {
        "rates": Experiment(protocol.rate_specs([specs[n] for n in GRID], s["lrs"]), 1, common,
                            notes=notes),
        "pilot": Experiment(pilot, 1, common, notes=notes, **tuned([v.name for v in pilot])),
        "head": Experiment(head, s["n_seeds"], common, {"nin_fc_head": BASE},
                           question="Q3a: global average pooling or a fully connected head",
                           **more, **tuned([v.name for v in head])),
        "mlpconv": Experiment(mlpconv, s["n_seeds"], common, {v.name: BASE for v in mlpconv[1:]},
                              question="d2l NiN 1–2: the convolutions after each block's first",
                              **more, **tuned([v.name for v in mlpconv])),
        "collapse": Experiment(_collapse_specs(net, our_lr), s["collapse_seeds"],
                               _collapse_common(s, dataset), notes=notes,
                               question="NiN never starts learning: d2l's settings or ours",
                               rates={"nin_d2l": "nin_ours"}),
        "timing": Experiment(timing.probe_specs(list(specs.values())), 1,
                             timing.probe_common(probe_common, steps=s["probe_steps"],
                                                 batch=s["batch_size"]),
                             notes={"steps": s["probe_steps"], "batch": s["batch_size"]}),
    }


def settings(P: Profile, *, seeds: int | None, epochs: int | None, nin_size: int | None,
             nin_width: float | None, train_size: int | None, lrs: list[float] | None,
             collapse_seeds: int | None, collapse_epochs: int | None) -> dict[str, Any]:
    """The sizes every experiment shares, ``None`` filled in by the profile.

    Standard, on 2 CPU cores: NiN at ¼ of d2l's channels on native 28×28 images, trained on
    10,000 of the training images (5,000 more held out for validation, all 10,000 test
    images) for 12 epochs of SGD with momentum under a cosine decay, batch 128.

    ESTIMATE, to be calibrated by the first fill (written while another fill held the CPU).
    The previous edition's 2-epoch store (all 60,000 images, the same NiNs, Intel Xeon, 2
    threads) took 25, 46 and 60 s an epoch with one, two and three 1×1 convolutions and 48 s
    with the FC head; scaled to an epoch of 10,000 training and 15,000 evaluated images
    (evaluation at about 3× the training rate), ~6, ~11, ~14 and ~10.5 s, and ~35 s with
    3×3 convolutions (71 MFLOPs an image, 3× the 1×1 NiN's). At 12 epochs: the grid
    (2 variants × 4 rates) ≈ 21 min; the pilot (6 + 18 epochs) ≈ 6 min; the first stage
    (5 seeds of 5 variants; the reference's and the FC head's seed 0 are their grid runs at
    the chosen rate) ≈ 70 min; the collapse study (2 × 10 runs of 938 steps, ~90 s each)
    ≈ 30 min; probes ≈ 2 min. ≈ 2.2 h in all; with a second stage for every comparison
    (5 more seeds of every variant, ≈ 80 min) ≈ 3.5 h, over the 3 CPU-hour budget: the
    collapse study or the 3×3 variant's second stage is what to cut if that happens.
    """
    return {
        "n_seeds": seeds or P.pick(smoke=1, quick=2, standard=protocol.FIRST_SEEDS,
                                   full=protocol.FIRST_SEEDS),
        "more_seeds": None if seeds else P.pick(smoke=None, quick=None, standard=protocol.MORE_SEEDS,
                                                full=protocol.MORE_SEEDS),
        "epochs": epochs or P.pick(smoke=2, quick=3, standard=12, full=15),  # the pilot needs E ≥ 2
        "nin_size": nin_size or P.pick(smoke=28, quick=28, standard=28, full=224),
        "nin_width": nin_width or P.pick(smoke=0.125, quick=0.25, standard=0.25, full=1.0),
        "train_size": train_size or P.pick(smoke=256, quick=2000, standard=10_000, full=20_000),
        "val_size": P.pick(smoke=64, quick=500, standard=protocol.VAL_SIZE, full=protocol.VAL_SIZE),
        "test_size": P.pick(smoke=64, quick=1000, standard=None, full=None),  # None: all 10,000
        "batch_size": P.pick(smoke=32, quick=64, standard=128, full=128),
        # fit's stuck-at-chance guard judges epochs of at least this many batches
        "stall_min_steps": P.pick(smoke=10**6, quick=10, standard=50, full=100),
        # smoke and quick: one rate (a choice between two rates of short runs is noise; quick
        # stays within a few minutes on two cores)
        "lrs": list(lrs or P.pick(smoke=LRS[1:2], quick=LRS[1:2], standard=LRS, full=LRS)),
        "collapse_seeds": collapse_seeds or P.pick(smoke=1, quick=2, standard=COLLAPSE_SEEDS,
                                                   full=COLLAPSE_SEEDS),
        # d2l trains 10 epochs; two of all 60,000 images (938 steps) show whether a run starts
        "collapse_epochs": collapse_epochs or P.pick(smoke=1, quick=1, standard=2, full=2),
        "collapse_train_size": P.pick(smoke=256, quick=2000, standard=None, full=None),
        "probe_steps": P.pick(smoke=2, quick=4, standard=15, full=15),
    }


def _collapse_specs(net: dict[str, Any], our_lr: float) -> list[Spec]:
    """d2l's NiN (two 1×1 convolutions, GAP) under d2l's settings and under ours."""
    side = net["input_size"]
    return [Spec("nin_d2l", "d2l's settings (Xavier, plain SGD, lr 0.1)", "nin",
                 {**net, "init": D2L["init"]},
                 train={"resize": side, **{k: v for k, v in D2L.items() if k != "init"}}),
            Spec("nin_ours", f"our settings (Kaiming, momentum 0.9, warm-up, lr {our_lr:g})", "nin",
                 {**net, "init": OURS["init"]},
                 train={"resize": side, "lr": our_lr, "momentum": OURS["momentum"],
                        "warmup_steps": OURS["warmup_steps"]})]


def _collapse_common(s: dict[str, Any], dataset: str) -> dict[str, Any]:
    """The collapse study's runs: d2l's constant rate, all the training images, no
    validation split (nothing is chosen on them), and the stall guard off (``stall_min_steps``
    beyond any epoch) so that a run that starts late is counted, not stopped."""
    return dict(epochs=s["collapse_epochs"], dataset=dataset, batch_size=s["batch_size"],
                train_size=s["collapse_train_size"], test_size=s["test_size"], step_metrics=True,
                stall_min_steps=10**9)
