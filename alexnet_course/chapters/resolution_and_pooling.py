"""Chapter 03, resolution and pooling: the experiments of its three questions.

* ``sizes``: the no-pool AlexNet with max pooling at each input side of a sweep;
* ``pooling``: max pooling replaced by learned 1×1 or 3×3 stride-2 convolutions, at
  ``pool_size`` (compared with that side's max-pooling runs of ``sizes``, not trained again);
* ``width``: 384 channels in every convolution instead of AlexNet's widths, at ``pool_size``;
* ``timing``: a short probe of each of those configurations, the only source of the times the
  page compares (:mod:`..course.timing`: the accuracy runs may share the machine).

Every run trains with Adam on Fashion-MNIST (or CIFAR-10) upsampled to the run's side, with
the CIFAR-10 notes' augmentation: upsample a little further, then crop at random.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from .. import augment
from ..course import timing
from ..course.ablations import Spec
from ..course.profiles import Profile
from . import Experiment

NAME = "03_resolution_and_pooling"
MODEL = "alexnet_nopool"


def experiments(P: Profile, *, dataset: str = "fashion_mnist", data_root: str | None = None,
                cifar_md5: dict[str, str] | None = None, seeds: int | None = None,
                sizes: list[int] | None = None, pool_size: int | None = None,
                width: float | None = None, fc_width: int | None = None,
                epochs: int | None = None, train_size: int | None = None,
                test_size: int | None = None, batch_size: int | None = None,
                lr: float = 0.001, crop_margin: float = 0.1) -> dict[str, Experiment]:
    """The chapter's experiments in profile ``P``; ``None`` leaves a choice to the profile.
    ``data_root`` and ``cifar_md5`` reach the loaders (hand-made CIFAR-10 files, as the
    tests write). Every experiment's ``notes`` hold the settings the page quotes."""
    # standard, timed on the 2-core CPU it is published from (Adam, batch 128; channels_last is
    # automatic in fit). A 15-step probe of alexnet_nopool at width 0.25, FC 512 measured training
    # examples/sec: max pooling 32 px ≈ 3,500–4,100, 48 px ≈ 2,900–3,200, 64 px ≈ 2,300–2,400; at 64 px
    # 1×1 stride-2 convs ≈ 2,250, 3×3 strided convs ≈ 1,930, 384 channels everywhere 150–1,160 (erratic).
    # One-epoch train_run calibrations on all 60,000 images, the 10,000-image test pass included:
    # 32 px 17 s, 48 px 23 s, 64 px 27–28 s; at 64 px 1×1 convs 34 s, strided 31 s, 384 everywhere
    # 52–104 s (the slowest run, and the most variable). One seed of the six configurations:
    # ≈ 186–238 s an epoch, so 3 seeds × 2 epochs ≈ 19–24 min, ≈ 20–25 min with data loading and the
    # shape probes: inside the 40 minutes (3 epochs: ≈ 28–37 min, too close; width 0.5 would cost ≈ 3×
    # every run). Two epochs leave chance far behind: ≈ 0.74 (32 px) to 0.79 (64 px) after one.
    s = {"n_seeds": seeds or P.pick(smoke=1, quick=2, standard=3, full=3),
         "sizes": sizes or P.pick(smoke=[32, 40], quick=[32, 48, 64], standard=[32, 48, 64],
                                  full=[32, 64, 96, 128, 224]),
         "pool_size": pool_size or P.pick(smoke=40, quick=64, standard=64, full=96),
         "width": width or P.pick(smoke=0.125, quick=0.25, standard=0.25, full=1.0),
         "fc_width": fc_width or P.pick(smoke=128, quick=1024, standard=512, full=4096),
         "epochs": epochs or P.pick(smoke=1, quick=2, standard=2, full=2),
         "train_size": train_size or P.pick(smoke=128, quick=4000, standard=None, full=30000),  # None: all
         "test_size": test_size or P.pick(smoke=64, quick=1000, standard=None, full=None),
         # quick: more steps on a subset
         "batch_size": batch_size or P.pick(smoke=64, quick=64, standard=128, full=256),
         "lr": lr, "crop_margin": crop_margin}
    sizes, pool_size = s["sizes"], s["pool_size"]
    if pool_size not in sizes:
        raise ValueError(f"pool_size={pool_size} must be one of sizes={sizes}: its max-pooling "
                         f"runs are the baseline")
    data_kwargs = {**({"root": data_root} if data_root else {}), **({"md5": cifar_md5} if cifar_md5 else {})}
    common = dict(epochs=s["epochs"], lr=lr, optimizer="adam", dataset=dataset,
                  batch_size=s["batch_size"], train_size=s["train_size"],
                  test_size=s["test_size"], data_kwargs=data_kwargs)
    net_kw = dict(width=s["width"], fc_width=s["fc_width"])
    crops = {side: _crop(side, crop_margin) for side in sorted(set(sizes) | {pool_size})}

    def at(side: int, pool: str = "max", **more: Any) -> dict[str, Any]:
        """train_run keywords of a run at ``side``: resize, the notes' crop, its row's columns."""
        return {"resize": side, "transform": crops[side], "extra": {"side": side, "pool": pool, **more}}

    size_specs = [Spec(f"max_{side}px", f"max pooling, {side}×{side} input", MODEL,
                       {**net_kw, "input_size": side, "pool": "max"}, train=at(side)) for side in sizes]
    names = [sp.name for sp in size_specs]
    base = f"max_{pool_size}px"
    pool_specs = [Spec(f"{pool}_{pool_size}px", what, MODEL,
                       {**net_kw, "input_size": pool_size, "pool": pool}, train=at(pool_size, pool))
                  for pool, what in (("conv1x1", "1×1 stride-2 convolutions instead of max pooling"),
                                     ("strided", "3×3 stride-2 convolutions instead of max pooling"))]
    wide = Spec(f"wide384_{pool_size}px", "384 channels in every convolution (× the multiplier)", MODEL,
                {**net_kw, "input_size": pool_size, "pool": "max", "channels": (384,) * 5},
                train=at(pool_size, channels="384 ×5"))
    notes = {**s, "base": base}
    # timed training batches per configuration (as many test images are timed: smoke's one
    # batch fits the tests' 80-image CIFAR-10 test set)
    steps = P.pick(smoke=1, quick=4, standard=15, full=15)
    probes = timing.probe_specs([*size_specs, *pool_specs, wide])
    return {"sizes": Experiment(size_specs, s["n_seeds"], common,
                                dict(zip(names[1:], names[:-1])), notes),  # each side against the next smaller
            "pooling": Experiment(pool_specs, s["n_seeds"], common,
                                  {sp.name: base for sp in pool_specs}, notes),
            "width": Experiment([wide], s["n_seeds"], common, {wide.name: base}, notes),
            "timing": Experiment(probes, 1, timing.probe_common(common, steps=steps, batch=s["batch_size"]),
                                 notes={"steps": steps, "batch": s["batch_size"]})}


def _crop(side: int, margin: float) -> augment.Compose:
    """The CIFAR-10 notes' augmentation at ``side``: upsample to (1 + margin)·side, then a
    random side×side crop."""
    up = round(side * (1 + margin))
    return augment.Compose(nn.Upsample(size=(up, up), mode="bilinear", align_corners=False),
                           augment.RandomCrop(side))
