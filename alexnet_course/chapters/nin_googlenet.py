"""Chapter 05, why NiN and GoogLeNet are so much smaller: the experiments it trains.

* ``variants``: NiN with one, two or three 1×1 convolutions per block, NiN with a fully
  connected head instead of global average pooling, and GoogLeNet, all with "our settings"
  (Kaiming initialisation, SGD with momentum, a short warm-up); compared with d2l's NiN
  design (two 1×1 convolutions, GAP);
* ``collapse``: d2l's NiN under d2l's settings (Xavier, plain SGD at lr 0.1), whose runs the
  page sets against the ``nin_1x1_2`` runs of ``variants`` to count how often NiN never
  starts learning.

Every run records each batch's training accuracy (``step_metrics``), so the page counts the
epochs to a training accuracy to the batch.
"""

from __future__ import annotations

from ..course.ablations import Spec
from ..course.profiles import Profile
from . import Experiment

NAME = "05_nin_googlenet"


def experiments(P: Profile, *, dataset: str = "fashion_mnist", nin_size: int | None = None,
                nin_width: float | None = None, googlenet_size: int | None = None,
                googlenet_width: float | None = None, train_size: int | None = None,
                epochs: int | None = None, seeds: int | None = None,
                collapse_seeds: int | None = None, our_init: str = "kaiming",
                our_lr: float = 0.02, our_momentum: float = 0.9,
                our_warmup_steps: int = 10) -> dict[str, Experiment]:
    """The chapter's experiments in profile ``P``; ``None`` leaves a choice to the profile.

    ``our_*`` are the settings the chapter sets against d2l's (the notebook's parameters
    cell holds their values). The returned experiments' ``notes`` hold the sizes the page
    quotes."""
    # standard: 20 runs of 2 epochs on all 60,000 images, about 42 min on 2 cores (timed probes
    # at batch 128: NiN at 28 px, width 0.25: 1,000–1,500 images/s; GoogLeNet at 28 px, width
    # 0.125: ~600 images/s)
    nin_size = nin_size or P.pick(smoke=28, quick=28, standard=28, full=224)
    nin_width = nin_width or P.pick(smoke=0.125, quick=0.25, standard=0.25, full=1.0)
    googlenet_size = googlenet_size or P.pick(smoke=28, quick=28, standard=28, full=96)
    googlenet_width = googlenet_width or P.pick(smoke=0.125, quick=0.125, standard=0.125, full=1.0)
    train_size = train_size or P.pick(smoke=128, quick=4000, standard=None, full=20000)  # None: all
    test_size = P.pick(smoke=64, quick=1000, standard=None, full=None)
    epochs = epochs or P.pick(smoke=1, quick=2, standard=2, full=2)
    seeds = seeds or P.pick(smoke=1, quick=2, standard=3, full=3)
    collapse_seeds = collapse_seeds or P.pick(smoke=1, quick=3, standard=4, full=3)
    batch_size = P.pick(smoke=32, quick=64, standard=128, full=128)
    stall_min_steps = P.pick(smoke=10**6, quick=10, standard=50, full=100)  # fit's stuck-at-chance guard
    # Deviation from d2l: its 11×11 stride-4 NiN stem needs ≥ 67 px and GoogLeNet's 7×7 stride-2
    # stem with its pooling divides the input by 4; on native 28-px images both get a 3×3
    # stride-1 stem.
    nin_stem = (11, 4, 0) if nin_size >= 67 else (3, 1, 1)
    googlenet_stem = (dict(stem=(7, 2, 3), stem_pool=True) if googlenet_size >= 64
                      else dict(stem=(3, 1, 1), stem_pool=False))

    ours = dict(lr=our_lr, momentum=our_momentum, warmup_steps=our_warmup_steps)
    nin_kw = dict(input_size=nin_size, width=nin_width, stem=nin_stem, init=our_init)
    on_nin = dict(resize=nin_size, **ours)
    specs = [
        Spec("nin_1x1_1", "1×1 ×1, GAP", "nin", {**nin_kw, "num_1x1": 1}, train=on_nin),
        # d2l's NiN with our settings: also the collapse study's "ours", hence its extra seeds
        Spec("nin_1x1_2", "1×1 ×2, GAP (d2l's design)", "nin", {**nin_kw, "num_1x1": 2}, train=on_nin,
             seeds=max(seeds, collapse_seeds)),
        Spec("nin_1x1_3", "1×1 ×3, GAP", "nin", {**nin_kw, "num_1x1": 3}, train=on_nin),
        Spec("nin_fc_head", "1×1 ×2, FC head", "nin", {**nin_kw, "num_1x1": 2, "head": "fc"}, train=on_nin),
        Spec("googlenet", "GoogLeNet", "googlenet",
             dict(input_size=googlenet_size, width=googlenet_width, init=our_init, **googlenet_stem),
             train=dict(resize=googlenet_size, **ours)),
    ]
    common = dict(epochs=epochs, dataset=dataset, train_size=train_size, test_size=test_size,
                  batch_size=batch_size, stall_min_steps=stall_min_steps, step_metrics=True)
    against = {"nin_fc_head": "nin_1x1_2", "nin_1x1_1": "nin_1x1_2",
               "nin_1x1_3": "nin_1x1_2", "googlenet": "nin_1x1_2"}
    notes = dict(nin_size=nin_size, nin_width=nin_width, googlenet_size=googlenet_size,
                 googlenet_width=googlenet_width, epochs=epochs, test_size=test_size,
                 batch_size=batch_size, stall_min_steps=stall_min_steps)
    d2l = Spec("nin_d2l", "d2l's settings (Xavier, SGD lr 0.1)", "nin", {**nin_kw, "init": "xavier"},
               train=dict(resize=nin_size, lr=0.1))
    return {"variants": Experiment(specs, seeds, common, against, notes),
            "collapse": Experiment([d2l], collapse_seeds, common)}
