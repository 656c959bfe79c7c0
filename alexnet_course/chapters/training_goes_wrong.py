"""Chapter 07, when training goes wrong: the AlexNet/ResNet hybrid with squeeze-and-excitation
trained while the statistics of every activation are recorded.

* ``reproduction``: Adam at the questioner's learning rates and batch sizes (the SE hybrid,
  no batch norm, Xavier-initialised), each compared with 2e-4 at batch 64;
* ``repairs``: the same training with batch norm, and without the SE blocks.

Every run records its activations (``record={"activations": WatchActivations(...)}``, kept
with the run in the store), each training batch's accuracy (``step_metrics=True``) and keeps
the trained network of its first seed (the page's feature maps; the store keeps its weights).
"""

from __future__ import annotations

from typing import Any

from ..course.ablations import Spec
from ..course.actplots import WatchActivations
from ..course.experiments import IN_CHANNELS
from ..course.profiles import Profile
from . import Experiment

NAME = "07_when_training_goes_wrong"
BASELINE = "adam2e-4_b64"
SMALL_BATCH, LARGE_BATCH = 64, 384  # the questioner's batch sizes


def experiments(P: Profile, *, dataset: str = "fashion_mnist", epochs: int | None = None,
                train_size: int | None = None, input_size: int | None = None,
                channels: str | tuple[int, ...] | None = None, seeds: int | None = None,
                every: int | None = None) -> dict[str, Experiment]:
    """The chapter's experiments in profile ``P``; ``None`` leaves a choice to the profile.
    ``channels`` are the widths of the four stages, as a tuple or as text ("16,32,64,96")."""
    # standard: 18 runs (6 configurations × 3 seeds) of 4 epochs on all 60,000 images. Timed
    # probes (a few batches, nice'd, one thread, on a CPU shared with another run, so
    # pessimistic): the SE hybrid with widths 16-32-64-96 at 28 px trains at ~3,600 images/s
    # at batch 64 (with BN ~3,200) and ~5,000 at batch 384; a whole epoch with its test pass
    # took ~25 s. 18 × 4 × 25 s ≈ 30 min pessimistic, about 17 min on two uncontended threads.
    epochs = epochs or P.pick(smoke=1, quick=2, standard=4, full=10)
    train_size = train_size or P.pick(smoke=512, quick=6000, standard=None, full=6_000)  # None: all
    test_size = P.pick(smoke=256, quick=2000, standard=None, full=None)
    input_size = input_size or P.pick(smoke=28, quick=28, standard=28, full=64)
    if isinstance(channels, str):
        channels = tuple(int(c) for c in channels.split(","))
    channels = tuple(channels) if channels else P.pick(
        smoke=(8, 8, 16, 16), quick=(16, 32, 64, 96), standard=(16, 32, 64, 96),
        full=(64, 128, 256, 384))
    n_seeds = seeds or P.pick(smoke=2, quick=2, standard=3, full=3)
    every = every or P.pick(smoke=1, quick=10, standard=25, full=50)
    # in_channels named: the stored runs' specs list it among the model's keywords
    base = dict(in_channels=IN_CHANNELS[dataset], input_size=input_size, channels=channels,
                norm="none", residual=False, init="xavier")
    stall_min_steps = P.pick(smoke=10**6, quick=50, standard=50, full=100)  # fit's stuck-at-chance guard
    common = dict(epochs=epochs, dataset=dataset, train_size=train_size, test_size=test_size,
                  optimizer="adam", resize=None if input_size == 28 else input_size,
                  stall_min_steps=stall_min_steps, step_metrics=True,
                  keep_net="first seed")  # seed 0's weights: the figures

    def spec(name: str, change: str, lr: float, batch: int, **options: Any) -> Spec:
        model_kwargs = {**base, "se": True, **options}
        return Spec(name, change, "alex_resnet_se", model_kwargs, train=dict(
            lr=lr, batch_size=batch,
            record={"activations": WatchActivations(every=every, bins=40, hist_range=(0.0, 4.0))},
            extra={"init": model_kwargs["init"], "norm": model_kwargs["norm"],
                   "residual": model_kwargs["residual"], "SE": model_kwargs["se"]}))

    reproduction = [
        spec(BASELINE, f"Adam 2e-4, batch {SMALL_BATCH}", 2e-4, SMALL_BATCH),
        spec("adam1e-3_b64", f"Adam 1e-3, batch {SMALL_BATCH}", 1e-3, SMALL_BATCH),
        spec("adam1e-5_b64", f"Adam 1e-5, batch {SMALL_BATCH}", 1e-5, SMALL_BATCH),
        spec("adam2e-4_b384", f"Adam 2e-4, batch {LARGE_BATCH}", 2e-4, LARGE_BATCH),
    ]
    repairs = [
        spec("bn", f"+ batch norm, Adam 2e-4, batch {SMALL_BATCH}", 2e-4, SMALL_BATCH, norm="bn"),
        spec("no_se", f"no SE, Adam 2e-4, batch {SMALL_BATCH}", 2e-4, SMALL_BATCH, se=False),
    ]
    notes = dict(epochs=epochs, train_size=train_size, test_size=test_size,
                 input_size=input_size, channels=channels, every=every, base=base,
                 baseline=BASELINE, small_batch=SMALL_BATCH, large_batch=LARGE_BATCH)
    return {"reproduction": Experiment(reproduction, n_seeds, common,
                                       {s.name: BASELINE for s in reproduction[1:]}, notes),
            "repairs": Experiment(repairs, n_seeds, common,
                                  {s.name: BASELINE for s in repairs}, notes)}
