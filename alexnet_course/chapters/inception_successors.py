"""Chapter 06, GoogLeNet's successors: the experiment it trains.

``versions``: GoogLeNet v1 and BN-Inception (v2) each at a base and a higher learning rate
(the batch-norm claim: does batch norm let a higher rate work?), and compact Inception-v3
(with label smoothing), Inception-v4 and Inception-ResNet-v2 at the higher rate. Every
network trains with SGD with momentum and a short warm-up (v1 with Kaiming initialisation,
chapter 05's setting), all at one input side: by default the smallest at which every
network's last grid is still 2×2 or larger (:func:`design_side`).
"""

from __future__ import annotations

import torch
from torch import nn

from .. import analysis
from ..course.ablations import Spec
from ..course.profiles import Profile
from ..models import get_model
from . import Experiment

NAME = "06_inception_successors"


def models(width: float) -> dict[str, tuple[str, dict]]:
    """The five networks, label → (registry name, keywords), with ``width``× their papers'
    channels; ``width`` 1.0 gives the zoo's defaults. Narrowed (on a CPU), v4's and
    Inception-ResNet's unpadded stems keep twice that width, and Inception-ResNet has one
    residual module per grid: deviations from the papers, made for two CPU cores."""
    compact = width < 1
    return {
        "GoogLeNet (v1)": ("googlenet", dict(width=width, init="kaiming")),
        "BN-Inception (v2)": ("bn_inception", dict(width=width)),
        "Inception-v3 (compact)": ("inception_v3_small", dict(width=width)),
        "Inception-v4 (compact)": ("inception_v4_small",
                                   dict(width=width, stem_width=2 * width) if compact else {}),
        "Inception-ResNet-v2 (compact)": ("inception_resnet_small",
                                          dict(width=width, stem_width=2 * width, blocks=1) if compact else {}),
    }


def last_grid(net: nn.Module, side: int) -> int:
    """Side of the feature extractor's output grid for a side×side input (0: it does not
    fit), from a forward pass (on the ``meta`` device it costs no memory)."""
    try:
        return analysis.shape_table(net, side, depth=1).set_index("layer").loc["features", "output_shape"][-1]
    except (RuntimeError, ValueError):
        return 0


def design_side(net: nn.Module, max_size: int = 128) -> int:
    """The smallest input side at which ``net``'s last grid is 2×2 or larger: below it the
    last modules' 3×3 and larger kernels see little but padding. A binary search from the
    side the forward pass needs (``net.min_input_size``), valid because the grid of a
    conv/pool stack never shrinks as its input grows."""
    lo, hi = net.min_input_size - 1, max_size  # last_grid(lo) < 2 (or lo is too small), hi fits
    if last_grid(net, hi) < 2:
        raise ValueError(f"{type(net).__name__}: the last grid is under 2×2 even at {max_size} px")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if last_grid(net, mid) >= 2 else (mid, hi)
    return hi


def design_minimum(nets: dict[str, tuple[str, dict]]) -> int:
    """The smallest input side inside every network's design range (:func:`design_side`)."""
    sides = []
    for name, kw in nets.values():
        with torch.device("meta"):  # shapes only
            sides.append(design_side(get_model(name, **kw)))
    return max(sides)


def experiments(P: Profile, *, dataset: str = "fashion_mnist", width: float | None = None,
                input_size: int | None = None, train_size: int | None = None,
                epochs: int | None = None, seeds: int | None = None, base_lr: float = 0.02,
                lr_factor: float = 10, momentum: float = 0.9, warmup_steps: int = 10,
                label_smoothing: float = 0.1) -> dict[str, Experiment]:
    """The chapter's experiment in profile ``P``; ``None`` leaves a choice to the profile.

    ``base_lr`` and ``lr_factor`` set the two learning rates (the notebook's parameters cell
    holds their values), ``label_smoothing`` is Inception-v3's, for v3 only. The returned
    experiment's ``notes`` hold the networks (``models``) and the sizes the page quotes."""
    # standard: 21 runs of 2 epochs on 30,000 images at 59 px (the design minimum), estimated
    # ~37 min on 1 contended thread and 20–23 min on 2 uncontended cores. Timed probes at 64 px,
    # batch 128, 1 thread under nice while another chapter ran (pessimistic): training 380 (v4)
    # to 720 (v3) images/s, v1 and BN-Inception ~550; evaluation about 3× faster.
    width = width or P.pick(smoke=0.125, quick=0.125, standard=0.125, full=1.0)
    train_size = train_size or P.pick(smoke=128, quick=4000, standard=30_000, full=30_000)
    test_size = P.pick(smoke=64, quick=1000, standard=None, full=None)
    epochs = epochs or P.pick(smoke=1, quick=2, standard=2, full=2)
    seeds = seeds or P.pick(smoke=2, quick=2, standard=3, full=3)
    batch_size = P.pick(smoke=32, quick=64, standard=128, full=512)
    stall_min_steps = P.pick(smoke=10**6, quick=10, standard=50, full=100)  # fit's stuck-at-chance guard
    nets = models(width)
    at_design = P.pick(smoke=True, quick=True, standard=True, full=False)  # full: d2l's 96 px
    input_size = input_size or (design_minimum(nets) if at_design else 96)

    high_lr = base_lr * lr_factor
    train = dict(resize=input_size, momentum=momentum, warmup_steps=warmup_steps)

    def spec(run: str, change: str, label: str, lr: float, smoothing: float = 0.0) -> Spec:
        name, kw = nets[label]
        return Spec(run, change, name, {**kw, "input_size": input_size},
                    train=dict(lr=lr, label_smoothing=smoothing, extra={"network": label, "lr": lr}, **train))

    specs = [
        spec("v1_base", f"GoogLeNet (v1), lr {base_lr:g}", "GoogLeNet (v1)", base_lr),
        spec("v1_high", f"GoogLeNet (v1), lr {high_lr:g}", "GoogLeNet (v1)", high_lr),
        spec("bn_base", f"BN-Inception (v2), lr {base_lr:g}", "BN-Inception (v2)", base_lr),
        spec("bn_high", f"BN-Inception (v2), lr {high_lr:g}", "BN-Inception (v2)", high_lr),
        spec("v3", f"Inception-v3, lr {high_lr:g}, label smoothing {label_smoothing:g}",
             "Inception-v3 (compact)", high_lr, label_smoothing),
        spec("v4", f"Inception-v4, lr {high_lr:g}", "Inception-v4 (compact)", high_lr),
        spec("resnet", f"Inception-ResNet-v2, lr {high_lr:g}", "Inception-ResNet-v2 (compact)", high_lr),
    ]
    common = dict(epochs=epochs, dataset=dataset, train_size=train_size, test_size=test_size,
                  batch_size=batch_size, stall_min_steps=stall_min_steps)
    # the factorised, uniform and residual versions; the batch-norm claim's four comparisons
    # pair the same runs two ways, which the page makes itself
    against = {"v3": "bn_high", "v4": "bn_high", "resnet": "v4"}
    notes = dict(models=nets, compact=width < 1, width=width, input_size=input_size,
                 train_size=train_size, test_size=test_size, epochs=epochs,
                 batch_size=batch_size, high_lr=high_lr)
    return {"versions": Experiment(specs, seeds, common, against, notes)}
