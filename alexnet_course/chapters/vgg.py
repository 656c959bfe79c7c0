"""Chapter 04, VGG: the experiments of the homework's question 2.

* ``stages`` (Q2a): VGG-11 with six first stages (VGG's one 3×3 convolution, one larger
  convolution, or a stack of 3×3 convolutions with the same receptive field), everything
  after them unchanged; each run stores its first stage's feature-map statistics, and
  seed 0 of each stage keeps its weights (the page draws its feature maps);
* ``resolution`` (Q2b): VGG-11 at two sides in the homework's ratio 224 : 96; a side equal
  to the first-stage comparison's is not trained again (its ``k3`` runs are that network
  and recipe), so only the other side has runs here;
* ``timing`` (Q2b): the homework answer's VGG-11 timed for a few batches at 224 and 96 px,
  whose seconds the page extrapolates to an epoch.

Every run trains with Adam at a constant rate, as the homework answer does.
"""

from __future__ import annotations

from typing import Any

from ..course.ablations import Spec
from ..course.experiments import IN_CHANNELS
from ..course.profiles import Profile
from ..featuremaps import LayerMapStats
from ..models.vgg import VGG, VGG_ARCHS
from . import Experiment

NAME = "04_vgg"
HOMEWORK_SIDES = (224, 96)  # the homework's two input sides, timed by the probes
# variant, the first stage in words, convolutions in block 1, window of its first one
STAGES = (("k3", "one 3×3 conv (VGG-11)", 1, 3),
          ("k5", "one 5×5 conv", 1, 5),
          ("s2", "two 3×3 convs (5×5 field)", 2, 3),
          ("k7", "one 7×7 conv", 1, 7),
          ("s3", "three 3×3 convs (7×7 field)", 3, 3),
          ("k11", "one 11×11 conv", 1, 11))


def experiments(P: Profile, *, dataset: str = "fashion_mnist", seed: int = 0,
                seeds: int | None = None, ratio: int | None = None, fc_width: int | None = None,
                stage_side: int | None = None, res_sides: list[int] | None = None,
                epochs: int | None = None, train_size: int | None = None,
                test_size: int | None = None, batch_size: int | None = None, lr: float = 1e-3,
                probe_ratio: int = 8, probe_fc_width: int = 512) -> dict[str, Experiment]:
    """The chapter's experiments in profile ``P``; ``None`` leaves a choice to the profile.
    ``seed`` is the chapter's: the feature-map recorder draws its test images with it."""
    n_seeds = seeds or P.pick(smoke=1, quick=2, standard=3, full=3)
    # standard: sized for two CPU cores (channels / 8, FC 512, 36 and 84 px, 2 epochs);
    # its 23 runs took 16 min of CPU time on the Intel Xeon
    ratio = ratio or P.pick(smoke=16, quick=16, standard=8, full=4)
    fc_width = fc_width or P.pick(smoke=64, quick=256, standard=512, full=4096)
    stage_side = stage_side or P.pick(smoke=36, quick=36, standard=36, full=96)
    res_sides = res_sides or P.pick(smoke=[84, 36], quick=[84, 36], standard=[84, 36], full=[224, 96])
    epochs = epochs or P.pick(smoke=1, quick=2, standard=2, full=2)
    train_size = train_size or P.pick(smoke=128, quick=4000, standard=None, full=None)  # None: all
    test_size = test_size or P.pick(smoke=64, quick=1000, standard=None, full=None)
    batch_size = batch_size or P.pick(smoke=64, quick=64, standard=128, full=512)  # GPU: fewer, larger steps
    big, small = res_sides
    if big * 96 != small * 224:
        raise ValueError(f"res_sides={res_sides} must be in the ratio 224 : 96 (7 : 3)")
    net = dict(in_channels=IN_CHANNELS[dataset], ratio=ratio, fc_width=fc_width)
    common = dict(epochs=epochs, lr=lr, optimizer="adam", dataset=dataset, batch_size=batch_size,
                  train_size=train_size, test_size=test_size)
    return {"stages": _stages(stage_side, net, common, n_seeds, dataset, seed),
            "resolution": _resolution(res_sides, stage_side, net, common, n_seeds),
            "timing": _timing(P, dict(net, ratio=probe_ratio, fc_width=probe_fc_width), lr, dataset,
                              net, res_sides)}


def vgg11_kwargs(convs: int, kernel: int, side: int, *, in_channels: int, ratio: int,
                 fc_width: int) -> dict[str, Any]:
    """``VGG``'s keywords for this chapter's VGG-11 with ``convs`` convolutions in block 1,
    the first one ``kernel``×``kernel``: only the first stage differs from VGG-11's."""
    arch = ((convs, VGG_ARCHS["vgg11"][0][1]),) + VGG_ARCHS["vgg11"][1:]
    return dict(conv_arch=arch, in_channels=in_channels, input_size=side, ratio=ratio,
                fc_width=fc_width, first_kernel=kernel)


def _stages(side: int, net: dict, common: dict, n_seeds: int, dataset: str, seed: int) -> Experiment:
    specs, layers = [], {}
    for name, what, convs, kernel in STAGES:
        layers[name] = f"features.block1.relu{convs}"  # the first stage's output, before its pooling
        maps = LayerMapStats(layers[name], dataset, side, count=16, seed=seed)
        specs.append(Spec(name, what, "VGG", vgg11_kwargs(convs, kernel, side, **net), builder=VGG,
                          train={"record": {"maps": maps}, "keep_net": "first seed"}))
    return Experiment(specs, n_seeds, {**common, "resize": side, "extra": {"side": side}},
                      against={name: "k3" for name, *_ in STAGES[1:]},
                      notes={"side": side, "ratio": net["ratio"], "fc_width": net["fc_width"],
                             "layers": layers, "stacks": {"s2": "k5", "s3": "k7"}})


def _resolution(sides: list[int], stage_side: int, net: dict, common: dict, n_seeds: int) -> Experiment:
    specs = [Spec(f"vgg11_{side}px", f"VGG-11 at {side}×{side}", "VGG", vgg11_kwargs(1, 3, side, **net),
                  builder=VGG, train={"resize": side, "extra": {"variant": f"{side}px", "side": side}})
             for side in sides if side != stage_side]  # the stage side: the k3 runs
    big, small = sides  # the page labels every run of this comparison by its side, "84px"
    return Experiment(specs, n_seeds, common, against={f"{big}px": f"{small}px"},
                      notes={"sides": sides, "reused": {stage_side: "k3"} if stage_side in sides else {}})


def _timing(P: Profile, net: dict, lr: float, dataset: str, res_net: dict,
            res_sides: list[int]) -> Experiment:
    steps = P.pick(smoke=2, quick=4, standard=15, full=15)  # timed training batches per side
    batch = P.pick(smoke=16, quick=128, standard=128, full=128)
    specs = [Spec(f"timing_{side}px", f"VGG-11 / {net['ratio']}, FC {net['fc_width']} at {side}×{side}",
                  "vgg11", dict(net, input_size=side),
                  train={"resize": side, "extra": {"timing probe": True, "side": side}})
             for side in HOMEWORK_SIDES]
    # the resolution comparison's own network, timed at its two sides (its accuracy runs may
    # have shared the machine: their seconds are not compared)
    specs += [Spec(f"timing_res_{side}px", f"VGG-11 / {res_net['ratio']}, FC {res_net['fc_width']} "
                   f"at {side}×{side} (the resolution runs' network)", "vgg11", dict(res_net, input_size=side),
                   train={"resize": side, "extra": {"timing probe": True, "side": side}})
              for side in res_sides]
    # two passes, the second one timed (warm); no stall guard: a few batches need not learn
    common = dict(epochs=2, lr=lr, optimizer="adam", dataset=dataset, batch_size=batch,
                  train_size=steps * batch, test_size=steps * batch, guard=False)
    return Experiment(specs, 1, common, notes={"steps": steps, "batch": batch,
                                               "ratio": net["ratio"], "fc_width": net["fc_width"]})
