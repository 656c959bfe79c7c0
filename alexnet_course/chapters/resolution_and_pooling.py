"""Chapter 03, resolution and pooling: the experiments of its three questions, under the
conclusive protocol (:mod:`..course.protocol`).

* ``rates``: the learning-rate grid, one run per rate of every variant below, judged on the
  validation split: each variant trains at its own best rate (a learned downsampling layer
  or a wider network may want another rate than max pooling does);
* ``pilot``: ``E / 2`` and ``1.5 E`` epochs of the smallest side, the largest side and the
  384-wide network (their ``E``-epoch runs are the experiments' seed 0): are ``E`` epochs
  converged?
* ``sizes``: the no-pool AlexNet with max pooling at each input side of a sweep, each side
  compared with the smallest on final accuracy; the same runs give the epochs each side
  took to reach a training accuracy (:data:`TARGETS`, :mod:`..course.convergence`), so
  convergence speed and final accuracy are told apart;
* ``pooling``: max pooling against learned 1×1 and 3×3 stride-2 convolutions at ``pool_size``;
* ``width``: 384 channels (× the width multiplier) in every convolution against AlexNet's
  96/256/384/384/256, at ``pool_size``;
* ``timing``: short probes timed alone, the only source of the seconds the page compares
  (:mod:`..course.timing`), with one at AlexNet's full width for what the scaling saved.

``pooling`` and ``width`` declare their reference, max pooling at ``pool_size``, again: the
same spec gives the same run names, so its runs are read from the store, not trained twice.

Every run trains with Adam and a cosine decay to zero, on Fashion-MNIST (or CIFAR-10)
resized to the run's side, with the CIFAR-10 notes' augmentation in the form of shifts:
the image is zero-padded to about ``(1 + crop_margin)`` times its side and a random window
of the side is cut (the notes cut 64 pixels from 70).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from .. import augment
from ..course import protocol, timing
from ..course.ablations import Spec
from ..course.profiles import Profile
from . import Experiment

NAME = "03_resolution_and_pooling"
MODEL = "alexnet_nopool"
# convergence speed: fractional epochs until the training accuracy (last 20 batches) first
# reached each target; to be checked against the first standard fill's curves
TARGETS = {"80 % training accuracy": 0.80, "90 % training accuracy": 0.90}
FULL_WIDTH = dict(width=1.0, fc_width=4096)  # AlexNet's: what the timing probe prices


def experiments(P: Profile, *, dataset: str = "fashion_mnist", data_root: str | None = None,
                cifar_md5: dict[str, str] | None = None, seeds: int | None = None,
                sizes: list[int] | None = None, pool_size: int | None = None,
                width: float | None = None, fc_width: int | None = None,
                epochs: int | None = None, train_size: int | None = None,
                val_size: int | None = None, test_size: int | None = None,
                batch_size: int | None = None, lrs: list[float] | None = None,
                crop_margin: float = 0.1) -> dict[str, Experiment]:
    """The chapter's experiments in profile ``P``; ``None`` leaves a choice to the profile.
    ``data_root`` and ``cifar_md5`` reach the loaders (hand-made CIFAR-10 files, as the
    tests write). Every experiment's ``notes`` hold the settings the page quotes."""
    s = settings(P, seeds=seeds, sizes=sizes, pool_size=pool_size, width=width,
                 fc_width=fc_width, epochs=epochs, train_size=train_size, val_size=val_size,
                 test_size=test_size, batch_size=batch_size, lrs=lrs, crop_margin=crop_margin)
    data_kwargs = {"val_size": s["val_size"], **({"root": data_root} if data_root else {}),
                   **({"md5": cifar_md5} if cifar_md5 else {})}
    common = protocol.recipe(s["epochs"], optimizer="adam", lr=1e-3, dataset=dataset,
                             batch_size=s["batch_size"], train_size=s["train_size"],
                             test_size=s["test_size"], step_metrics=True, data_kwargs=data_kwargs)
    sized, pooled, wide = _specs(s)
    base = pooled[0]  # max pooling at pool_size: a run of the size sweep
    every = [*sized, *pooled[1:], wide]
    names = [v.name for v in every]
    piloted = [sized[0], sized[-1], wide]
    pilot = protocol.pilot_specs(piloted, s["epochs"])

    def tuned(specs: list[Spec]) -> dict[str, Any]:
        return dict(after="rates", tune=partial(protocol.tune_rates, s["lrs"], {n: n for n in names},
                                                    [v.name for v in specs]))

    notes = {**s, "base": base.name, "dataset": dataset, "targets": TARGETS}
    more = dict(more_seeds=s["more_seeds"])
    probe = {**common, "data_kwargs": {**common["data_kwargs"], "val_size": None}}  # no validation pass
    steps = P.pick(smoke=1, quick=4, standard=15, full=15)
    return {
        "rates": Experiment(protocol.rate_specs(every, s["lrs"]), 1, common,
                            notes={**notes, "grid": {n: n for n in names}}),
        "pilot": Experiment(pilot, 1, common, **tuned(pilot),
                            notes={**notes, "epochs": {v.name: s["epochs"] for v in piloted}}),
        "sizes": Experiment(sized, s["n_seeds"], common, {v.name: sized[0].name for v in sized[1:]},
                            notes, question="resolution: final accuracy at convergence", **more,
                            **tuned(sized)),
        "pooling": Experiment(pooled, s["n_seeds"], common, {v.name: base.name for v in pooled[1:]},
                              notes, question="max pooling or learned strided convolutions", **more,
                              **tuned(pooled)),
        "width": Experiment([base, wide], s["n_seeds"], common, {wide.name: base.name}, notes,
                            question="384 channels in every convolution", **more, **tuned([base, wide])),
        "timing": Experiment(timing.probe_specs([*every, _at_full_width(base)]), 1,
                             timing.probe_common(probe, steps=steps, batch=s["batch_size"]),
                             notes={"steps": steps, "batch": s["batch_size"]}),
    }


def settings(P: Profile, *, seeds: int | None, sizes: list[int] | None, pool_size: int | None,
             width: float | None, fc_width: int | None, epochs: int | None,
             train_size: int | None, val_size: int | None, test_size: int | None,
             batch_size: int | None, lrs: list[float] | None, crop_margin: float) -> dict[str, Any]:
    """The sizes every experiment shares, ``None`` filled in by the profile.

    Standard, on 2 CPU cores: AlexNet's layout at ¼ of its channels with hidden FC layers
    of 512 (AlexNet: 4096), trained on 10,000 of the training images (5,000 more held out
    for validation, all 10,000 test images), sides 32, 48 and 64, Adam at batch 128, 20
    epochs, a grid of three rates per variant, 5 paired seeds and 10 where undecided.

    ESTIMATE, to be calibrated by the first fill (no run could be timed alone when it was
    written: another fill held the CPU). CPU time of a few training steps on one thread
    (``time.process_time``, batch 128; Intel Xeon), per training image and per evaluated
    image: 32 px 0.41 / 0.07 ms, 48 px 0.43 / 0.08, 64 px 0.60 / 0.15, 1×1 convolutions at
    64 px 0.56 / 0.14, 3×3 strided 0.59 / 0.15, 384 channels everywhere 1.16 / 0.31. An epoch
    trains 10,000 images and evaluates 15,000 (validation and test); divided by 1.8 for two
    threads and multiplied by 1.35 for data preparation and the loop (the ratio of the
    earlier one-epoch calibrations on 60,000 images, 17 s at 32 px and 27–28 s at 64 px, to
    the same arithmetic), an epoch takes about 3.9, 4.2 and 6.1 s at 32, 48 and 64 px,
    5.8 s (1×1), 6.2 s (strided) and 12.3 s (384 wide): 38.5 s for the six variants.
    At 20 epochs: the grid (3 rates × 6 variants) ≈ 39 min; the pilot (10 + 30 epochs of
    32 px, 64 px and 384 wide) ≈ 15 min; the first stage (5 seeds, seed 0 copied from the
    grid run at the chosen rate) ≈ 51 min; the second stage, at worst every variant
    undecided (5 more seeds each), ≈ 64 min; probes ≈ 2 min. Worst case ≈ 2.8 h, inside the
    3 CPU-hour budget; about 2.3 h if half the variants need the second stage.

    Why this scale: ¼ width keeps 24–96 channels (AlexNet's full width costs ~16× the
    FLOPs, see the full-width probe); 10,000 images let 20 epochs converge for ~80 s a run
    at 32 px; sides above 64 would cost ≥ 10 s an epoch (96 px: 0.96 / 0.26 ms).
    """
    n_seeds = seeds or P.pick(smoke=1, quick=2, standard=protocol.FIRST_SEEDS,
                              full=protocol.FIRST_SEEDS)
    s = {"n_seeds": n_seeds,
         "more_seeds": None if seeds else P.pick(smoke=None, quick=None, standard=protocol.MORE_SEEDS,
                                                 full=protocol.MORE_SEEDS),
         "sizes": list(sizes or P.pick(smoke=[32, 40], quick=[32, 48, 64], standard=[32, 48, 64],
                                       full=[32, 64, 128, 224])),
         "pool_size": pool_size or P.pick(smoke=40, quick=64, standard=64, full=64),
         "width": width or P.pick(smoke=0.125, quick=0.25, standard=0.25, full=1.0),
         "fc_width": fc_width or P.pick(smoke=128, quick=512, standard=512, full=4096),
         "epochs": epochs or P.pick(smoke=2, quick=6, standard=20, full=10),  # the pilot needs E ≥ 2
         # smoke: 96 + 48 images fit the tests' hand-made CIFAR-10 (150 training images)
         "train_size": train_size or P.pick(smoke=96, quick=2000, standard=10000, full=10000),
         "val_size": val_size or P.pick(smoke=48, quick=500, standard=protocol.VAL_SIZE,
                                        full=protocol.VAL_SIZE),
         "test_size": test_size or P.pick(smoke=64, quick=1000, standard=None, full=None),
         "batch_size": batch_size or P.pick(smoke=32, quick=128, standard=128, full=128),
         # smoke: the two lowest rates (higher ones make tiny Adam runs chaotic, see the canary)
         "lrs": list(lrs or P.pick(smoke=[5e-4, 1e-3], quick=[1e-3, 2e-3],
                                   standard=[1e-3, 2e-3, 4e-3], full=[5e-4, 1e-3, 2e-3])),
         "crop_margin": crop_margin}
    if s["pool_size"] not in s["sizes"]:
        raise ValueError(f"pool_size={s['pool_size']} must be one of sizes={s['sizes']}: its "
                         f"max-pooling runs are the reference of the pooling and width comparisons")
    return s


def shift(side: int, margin: float) -> augment.RandomCrop:
    """The notes' random crops as shifts: zero-pad by ``side · margin / 2`` (at least one
    pixel) on each side, then cut a random side×side window."""
    return augment.RandomCrop(side, padding=max(1, round(side * margin / 2)))


def _specs(s: dict[str, Any]) -> tuple[list[Spec], list[Spec], Spec]:
    """The size sweep (max pooling), the pooling variants at ``pool_size`` (max pooling
    first: the sweep's spec at that side) and the 384-wide network."""
    net = dict(width=s["width"], fc_width=s["fc_width"])

    def at(side: int, pool: str = "max", **more: Any) -> dict[str, Any]:
        """train_run keywords at ``side``: resize, the shifts, the row's columns."""
        return {"resize": side, "transform": shift(side, s["crop_margin"]),
                "extra": {"side": side, "pool": pool, **more}}

    sized = [Spec(f"max_{side}px", f"max pooling, {side}×{side} input", MODEL,
                  {**net, "input_size": side, "pool": "max"}, train=at(side)) for side in s["sizes"]]
    side = s["pool_size"]
    base = next(v for v in sized if v.name == f"max_{side}px")
    pooled = [base] + [Spec(f"{pool}_{side}px", what, MODEL, {**net, "input_size": side, "pool": pool},
                            train=at(side, pool))
                       for pool, what in (("conv1x1", "1×1 stride-2 convolutions instead of max pooling"),
                                          ("strided", "3×3 stride-2 convolutions instead of max pooling"))]
    wide = Spec(f"wide384_{side}px", "384 channels in every convolution (× the multiplier)", MODEL,
                {**net, "input_size": side, "pool": "max", "channels": (384,) * 5},
                train=at(side, channels="384 ×5"))
    return sized, pooled, wide


def _at_full_width(base: Spec) -> Spec:
    """The reference at AlexNet's full width and FC width: what an epoch would cost had the
    chapter not been scaled down (a timing probe only)."""
    return Spec(f"{base.name}_alexnet_width", "the reference at AlexNet's full width, FC 4096",
                base.model, {**base.model_kwargs, **FULL_WIDTH}, train=base.train)
