"""Chapter 04, VGG: the experiments of the homework's question 2, under the conclusive
protocol (:mod:`..course.protocol`).

* ``rates``: the learning-rate grid, judged on the validation split: every first stage of
  Q2a at its own best rate (the stacks are deeper than the single kernels and may want
  another rate); the larger input of Q2b takes VGG-11's rate (the same network);
* ``pilot``: the slowest-converging variant of each setting (the deepest stack, five 3×3
  convolutions, and VGG-11 at the larger side) for ``E / 2`` and ``1.5 E`` epochs;
* ``stages`` (Q2a): VGG-11 with seven first stages: VGG's one 3×3 convolution, one 5×5,
  7×7 or 11×11 convolution, and stacks of two, three and five 3×3 convolutions with the
  same receptive fields (5, 7, 11); each stack is compared with the single kernel of its
  field, each large kernel with VGG-11's 3×3. Every run stores its first stage's
  feature-map statistics; seed 0 keeps its weights (the page draws the maps);
* ``resolution`` (Q2b): VGG-11 at the larger side of a 224 : 96 pair against VGG-11 at the
  smaller, which is the ``stages`` experiment's ``k3`` (the same spec, so the same stored
  runs: nothing is trained twice);
* ``timing``: probes timed alone, for every second per epoch the page compares: each
  compared network, and the homework answer's VGG-11 (channels / 8, FC 512) at 224 and 96 px.

Every accuracy run trains with Adam (the homework's optimiser), its rate decaying to zero
along a cosine over the run, on 28×28 Fashion-MNIST images upsampled to the run's side.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any

from ..course import protocol, timing
from ..course.ablations import Spec
from ..course.experiments import IN_CHANNELS
from ..course.profiles import Profile
from ..featuremaps import LayerMapStats
from ..models.vgg import VGG, VGG_ARCHS
from . import Experiment

NAME = "04_vgg"
HOMEWORK_SIDES = (224, 96)  # the homework's two input sides, timed by the probes
LRS = (2.5e-4, 5e-4, 1e-3, 2e-3)  # Adam; the homework answer's 1e-3 in the middle
# variant, the first stage in words, convolutions in block 1, window of its first one
STAGES = (("k3", "one 3×3 conv (VGG-11)", 1, 3),
          ("k5", "one 5×5 conv", 1, 5),
          ("s2", "two 3×3 convs (5×5 field)", 2, 3),
          ("k7", "one 7×7 conv", 1, 7),
          ("s3", "three 3×3 convs (7×7 field)", 3, 3),
          ("k11", "one 11×11 conv", 1, 11),
          ("s5", "five 3×3 convs (11×11 field)", 5, 3))
STACKS = {"s2": "k5", "s3": "k7", "s5": "k11"}  # each stack → the single kernel of its field
LARGE = {"k5": "k3", "k7": "k3", "k11": "k3"}  # each large first kernel → VGG-11's 3×3


def experiments(P: Profile, *, dataset: str = "fashion_mnist", seed: int = 0,
                seeds: int | None = None, epochs: int | None = None,
                ratio: int | None = None, fc_width: int | None = None,
                stage_side: int | None = None, big_side: int | None = None,
                train_size: int | None = None, lrs: list[float] | None = None,
                probe_ratio: int = 8, probe_fc_width: int = 512) -> dict[str, Experiment]:
    """The chapter's experiments in profile ``P``; ``None`` leaves a choice to the profile.
    ``seed`` is the chapter's: the feature-map recorder draws its test images with it.
    Every experiment's ``notes`` hold the settings they share (:func:`settings`)."""
    s = settings(P, seeds=seeds, epochs=epochs, ratio=ratio, fc_width=fc_width,
                 stage_side=stage_side, big_side=big_side, train_size=train_size, lrs=lrs)
    net = dict(in_channels=IN_CHANNELS[dataset], ratio=s["ratio"], fc_width=s["fc_width"])
    common = protocol.recipe(s["epochs"], optimizer="adam", lr=1e-3, dataset=dataset,
                             batch_size=s["batch_size"], train_size=s["train_size"],
                             test_size=s["test_size"], data_kwargs={"val_size": s["val_size"]})
    stages = _stage_specs(s["stage_side"], net, dataset, seed)
    big = _big_spec(s["big_side"], net)
    grid = {**{v.name: v.name for v in stages}, big.name: "k3"}  # which grid run sets each rate
    piloted = [next(v for v in stages if v.name == "s5"), big]
    pilot = protocol.pilot_specs([_bare(v) for v in piloted], s["epochs"])
    notes = {**s, "grid": grid, "epochs_of": {v.name: s["epochs"] for v in piloted},
             "labels": {**{v.name: v.change for v in stages}, big.name: big.change},
             "layers": {name: _stage_layer(convs) for name, _, convs, _ in STAGES}}
    tuned = partial(protocol.tune_rates, s["lrs"], grid)
    # probes hold out no validation images: their evaluation time is the test set's alone
    probe_common = {**common, "data_kwargs": {"paired_augment": True}}
    return {
        "rates": Experiment(protocol.rate_specs([_bare(v) for v in stages], s["lrs"]), 1, common,
                            notes=notes),
        "pilot": Experiment(pilot, 1, common, notes=notes, after="rates",
                            tune=partial(tuned, [v.name for v in pilot])),
        "stages": Experiment(stages, s["n_seeds"], common, {**STACKS, **LARGE}, notes=notes,
                             question="Q2a", more_seeds=s["more_seeds"], after="rates",
                             tune=partial(tuned, [v.name for v in stages])),
        "resolution": Experiment([stages[0], big], s["n_seeds"], common, {big.name: "k3"},
                                 notes=notes, question="Q2b", more_seeds=s["more_seeds"],
                                 after="rates", tune=partial(tuned, ["k3", big.name])),
        "timing": Experiment(timing.probe_specs([*stages, big, *_homework_specs(probe_ratio,
                                                                               probe_fc_width, net)]),
                             1, timing.probe_common(probe_common, steps=s["probe_steps"],
                                                    batch=s["probe_batch"])),
    }


def settings(P: Profile, *, seeds: int | None, epochs: int | None, ratio: int | None,
             fc_width: int | None, stage_side: int | None, big_side: int | None,
             train_size: int | None, lrs: list[float] | None) -> dict[str, Any]:
    """The sizes every experiment shares, ``None`` filled in by the profile.

    Standard, on 2 CPU cores: VGG-11 with 1/8 of its channels (the homework answer's
    ratio) and hidden FC layers of 512, trained on 10,000 of the training images (5,000
    more held out for validation) for 15 epochs at 36×36 (Q2a; VGG-11's five poolings need
    at least 32 px) and at 84×84 (Q2b: 84 : 36 = 224 : 96 = 7 : 3). The homework's 224 and
    96 px are declared in ``full`` (one GPU), not run on the CPU.

    **Estimated cost, to be calibrated by the first fill** (nothing could be timed alone
    while this was written). Per epoch of 10,000 training and 15,000 evaluation images, on
    the Intel Xeon with 2 threads: k3 ~3.1 s, k5 / k7 / k11 ~3.5 s, s2 ~4.2 s, s3 ~5.0 s,
    s5 ~7.7 s, 84 px ~13 s. How: the previous 2-epoch store (all 60,000 images, the same
    networks) took 12–15 s an epoch for k3, 21 s for s3, 55 s at 84 px, scaled here by the
    images an epoch holds (an evaluated image counted as 1/3 of a trained one); s5, never
    run, from single-thread CPU time (``time.process_time`` over 4 batches: 2.5× k3's).
    Then: the rate grid (7 first stages × 4 rates × 15 epochs) ~31 min; the pilot (s5 and
    84 px at 8 and 23 epochs) ~11 min; the first stage (5 seeds of 8 variants, k3 shared
    by both questions) ~54 min; the second stage, budgeted for the worst case (every
    comparison undecided: 5 more seeds of every variant) ~54 min; probes ~2 min. In all
    ~2.5 h, ~1.6 h without a second stage, against a budget of 3 h.
    """
    return {
        "n_seeds": seeds or P.pick(smoke=1, quick=2, standard=protocol.FIRST_SEEDS,
                                   full=protocol.FIRST_SEEDS),
        "more_seeds": None if seeds else P.pick(smoke=None, quick=None, standard=protocol.MORE_SEEDS,
                                                full=protocol.MORE_SEEDS),
        # the pilot needs E ≥ 2; smoke and quick only run every cell
        "epochs": epochs or P.pick(smoke=2, quick=4, standard=15, full=15),
        "ratio": ratio or P.pick(smoke=8, quick=16, standard=8, full=4),
        "fc_width": fc_width or P.pick(smoke=128, quick=256, standard=512, full=4096),
        "stage_side": stage_side or P.pick(smoke=36, quick=36, standard=36, full=96),
        "big_side": big_side or P.pick(smoke=84, quick=84, standard=84, full=224),
        # standard: a subset, so that converged training of 8 variants × 5–10 seeds fits
        "train_size": train_size or P.pick(smoke=1024, quick=4000, standard=10_000, full=None),
        "test_size": P.pick(smoke=64, quick=1000, standard=None, full=None),  # None: all 10,000
        "val_size": P.pick(smoke=64, quick=500, standard=protocol.VAL_SIZE, full=protocol.VAL_SIZE),
        "batch_size": P.pick(smoke=32, quick=64, standard=128, full=128),
        # smoke: one rate. Its runs barely leave chance, so a two-rate choice flipped with the
        # CPU's kernels (AVX2 against AVX-512), changing every spec decided by it
        "lrs": list(lrs or P.pick(smoke=LRS[2:3], quick=LRS, standard=LRS, full=LRS)),
        "probe_steps": P.pick(smoke=2, quick=4, standard=15, full=15),
        "probe_batch": P.pick(smoke=16, quick=128, standard=128, full=128),
    }


def vgg11_kwargs(convs: int, kernel: int, side: int, *, in_channels: int, ratio: int,
                 fc_width: int) -> dict[str, Any]:
    """``VGG``'s keywords for this chapter's VGG-11 with ``convs`` convolutions in block 1,
    the first one ``kernel``×``kernel``: only the first stage differs from VGG-11's."""
    arch = ((convs, VGG_ARCHS["vgg11"][0][1]),) + VGG_ARCHS["vgg11"][1:]
    return dict(conv_arch=arch, in_channels=in_channels, input_size=side, ratio=ratio,
                fc_width=fc_width, first_kernel=kernel)


def _stage_layer(convs: int) -> str:
    """The first stage's output, after its last ReLU and before its pooling."""
    return f"features.block1.relu{convs}"


def _stage_specs(side: int, net: dict[str, Any], dataset: str, seed: int) -> list[Spec]:
    """The seven first stages, each recording its maps after training; seed 0 keeps its
    weights for the page's figure."""
    specs = []
    for name, what, convs, kernel in STAGES:
        maps = LayerMapStats(_stage_layer(convs), dataset, side, count=16, seed=seed)
        specs.append(Spec(name, what, "VGG", vgg11_kwargs(convs, kernel, side, **net), builder=VGG,
                          train={"resize": side, "extra": {"side": side},
                                 "record": {"maps": maps}, "keep_net": "first seed"}))
    return specs


def _big_spec(side: int, net: dict[str, Any]) -> Spec:
    """VGG-11 (one 3×3 first convolution) at the larger side of Q2b."""
    return Spec(f"vgg11_{side}px", f"VGG-11 at {side}×{side}", "VGG", vgg11_kwargs(1, 3, side, **net),
                builder=VGG, train={"resize": side, "extra": {"side": side}})


def _homework_specs(ratio: int, fc_width: int, net: dict[str, Any]) -> list[Spec]:
    """The homework answer's VGG-11 (its channels and FC width) at 224 and 96 px, for
    probes only: a whole run at 224 px does not fit the CPU budget."""
    hw = dict(net, ratio=ratio, fc_width=fc_width)
    return [Spec(f"homework_{side}px", f"VGG-11 / {ratio}, FC {fc_width} at {side}×{side}", "VGG",
                 vgg11_kwargs(1, 3, side, **hw), builder=VGG,
                 train={"resize": side, "extra": {"side": side}})
            for side in HOMEWORK_SIDES]


def _bare(spec: Spec) -> Spec:
    """``spec`` without its recorders and kept weights: grid and pilot runs are judged by
    their validation accuracy alone."""
    return replace(spec, train={k: v for k, v in spec.train.items() if k not in ("record", "keep_net")})
