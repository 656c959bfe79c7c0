"""Chapter 01, from LeNet to AlexNet: the experiments of its questions, under the
conclusive protocol (:mod:`..course.protocol`).

* ``rates``: the learning-rate grid, judged on the validation split — each activation's
  LeNet at its own best rate, and one rate for each AlexNet-style setting;
* ``pilot``: the epoch pilot of each setting's slowest-converging variant (``E / 2``,
  ``E``, ``1.5 E`` epochs), which also shows what more epochs buy (the homework's Q1c);
* ``differences`` (Q1a): LeNet → AlexNet one change at a time, "deeper" also at LeNet's
  parameter count;
* ``simplify`` (Q1b): the homework's simplified AlexNets, each row one more cut, each
  compared with the uncut baseline;
* ``batch`` (d2l's exercise): one network at three batch sizes, with and without scaling
  the rate with the batch.

Every run trains with Adam (the homework's optimiser) and a cosine decay to zero, on
Fashion-MNIST (55,000 training images, 5,000 held out) unless ``dataset="cifar10"``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from ..augment import Compose, RandomCrop, RandomHorizontalFlip
from ..course import protocol, timing
from ..course.ablations import Spec
from ..course.profiles import Profile
from . import Experiment

NAME = "01_lenet_to_alexnet"
LRS = (5e-4, 1e-3, 2e-3, 4e-3, 8e-3)  # the grid every setting's rate is chosen from
# the Q1b network: AlexNet's layout at 28 px with ⅛ of its channels and FC 512, so that
# 5–10 seeds of six rows train to convergence in about 40 CPU-minutes (¼ width: 3×)
Q1B = dict(input_size=28, width=0.125, fc_width=512)
SMALL = dict(width=1 / 16, fc_width=128, dropout=0.0)       # 40,854 parameters
MATCHED = dict(width=0.09, fc_width=128, dropout=0.0)       # 60,746: LeNet has 61,706


def experiments(P: Profile, *, dataset: str = "fashion_mnist", seeds: int | None = None,
                epochs: int | None = None) -> dict[str, Experiment]:
    """The chapter's experiments in profile ``P``; ``None`` leaves a choice to the profile."""
    native = 32 if dataset == "cifar10" else 28
    n_seeds = seeds or P.pick(smoke=1, quick=2, standard=protocol.FIRST_SEEDS,
                              full=protocol.FIRST_SEEDS)
    more = None if seeds else P.pick(smoke=None, quick=None, standard=protocol.MORE_SEEDS,
                                     full=protocol.MORE_SEEDS)
    epochs = epochs or P.pick(smoke=2, quick=4, standard=10, full=10)
    # smoke: the grid's two lowest rates; at 4e-3 and 8e-3 Adam turned 8-batch smoke runs of
    # the ReLU nets chaotic (another CPU's rounding moved their loss by up to 1 %, beyond
    # what the canary, tests/test_canary.py, must tell from a change of code)
    lrs = P.pick(smoke=LRS[:2], quick=LRS, standard=LRS, full=LRS)
    # the sigmoid LeNet was still gaining 0.2 points in its tenth epoch (lr 0.004, the grid's
    # best at 10 epochs): the LeNets, 4 s an epoch, train twice as long
    lenet_epochs = 2 * epochs
    val = P.pick(smoke=64, quick=500, standard=protocol.VAL_SIZE, full=protocol.VAL_SIZE)
    common = protocol.recipe(epochs, optimizer="adam", lr=1e-3, dataset=dataset,
                             data_kwargs={"val_size": val},
                             train_size=P.pick(smoke=1024, quick=5000, standard=None, full=None),
                             test_size=P.pick(smoke=128, quick=2000, standard=None, full=None))
    # probes hold out no validation images: their evaluation time is the test set's alone
    probe_common = {**common, "data_kwargs": {"paired_augment": True}}
    diff, simp, batch = _differences(native, lenet_epochs), _simplify(native), _batch()
    # which grid run decides each variant's rate: an activation's LeNets share their grid
    grid = {**{s.name: ("lenet" if "relu" not in s.name else "lenet_relu")
               for s in diff if s.model == "lenet"},
            **{s.name: "deeper" for s in diff if s.model != "lenet"},
            **{s.name: "baseline" for s in simp}, **{s.name: "deeper" for s in batch}}
    by_name = {s.name: s for s in [*diff, *simp]}
    grid_specs = [by_name[n] for n in dict.fromkeys(grid.values())]
    piloted = [by_name["lenet"], by_name["wider_augment"], by_name["baseline"],
               next(s for s in batch if s.name == "batch_512")]
    pilot = protocol.pilot_specs(piloted, epochs)

    def tuned(specs: list[Spec]) -> dict[str, Any]:
        return dict(after="rates", tune=partial(_tune, lrs, grid, [s.name for s in specs]))

    return {
        "rates": Experiment(protocol.rate_specs(grid_specs, lrs), 1, common,
                            notes={"lrs": lrs, "grid": grid}),
        "pilot": Experiment(pilot, 1, common, **tuned(pilot),
                            notes={"epochs": {s.name: s.train.get("epochs", epochs) for s in piloted}}),
        "differences": Experiment(diff, n_seeds, common, _DIFF_AGAINST, question="Q1a",
                                  more_seeds=more, notes={"epochs": epochs}, **tuned(diff)),
        "simplify": Experiment(simp, n_seeds, common, {s.name: "baseline" for s in simp[1:]},
                               question="Q1b", more_seeds=more,
                               notes={"epochs": epochs, "target": 0.85}, **tuned(simp)),
        "batch": Experiment(batch, n_seeds, common, {s.name: "batch_128" for s in batch
                                                     if s.name != "batch_128"},
                            question="batch size", more_seeds=more,
                            notes={"sizes": [32, 128, 512]}, **tuned(batch)),
        # the seconds the page compares: short probes timed alone (the runs above may share
        # the machine), batch 128 for the architectures, ≥ 15 batches of each batch size
        "timing": Experiment(timing.probe_specs([*simp, by_name["deeper"], by_name["deeper_2x_input"]]),
                             1, timing.probe_common(probe_common, steps=15, batch=128)),
        "timing_batch": Experiment(timing.probe_specs([s for s in batch if "scaled" not in s.name]),
                                   1, {**timing.probe_common(probe_common, steps=15, batch=512)}),
        # d2l's AlexNet at 224 px, for the scale of the problem: 2 batches of 32 (≈ 10 images/s)
        "timing_224": Experiment(timing.probe_specs([Spec(
            "alexnet_d2l_224", "d2l's AlexNet at 224 px", "alexnet_d2l", {"input_size": 224},
            train={"resize": 224})]), 1,
            timing.probe_common(probe_common, **P.pick(smoke={"steps": 1, "batch": 4},
                                                       quick={"steps": 2, "batch": 32},
                                                       standard={"steps": 2, "batch": 32},
                                                       full={"steps": 15, "batch": 128}))),
    }


def _tune(lrs: tuple[float, ...], grid: dict[str, str], names: list[str],
          runs: list[Any]) -> dict[str, dict[str, Any]]:
    """The rate of each of ``names``, chosen from ``lrs`` on the validation split by its
    grid run (``grid``); ``lr_up`` and the scaled batch rows multiply it, and a pilot's
    ``<variant>_e<epochs>`` takes its variant's."""
    best = protocol.best_rates({n: n for n in set(grid.values())}, lrs, runs)
    out = {}
    for name in names:
        variant = name if name in grid else name.rsplit("_e", 1)[0]
        out[name] = {"lr": best[grid[variant]]["lr"] * _RATE_FACTOR.get(variant, 1.0)}
    return out


# rows whose rate is a multiple of the chosen one (the homework's "lr ×2"; the batch
# rows that scale the rate linearly with the batch, Goyal et al. 2017)
_RATE_FACTOR = {"lr_up": 2.0, "batch_32_scaled": 0.25, "batch_512_scaled": 4.0}

_DIFF_AGAINST = {"lenet_relu": "lenet", "lenet_maxpool": "lenet", "lenet_relu_max": "lenet",
                 "deeper": "lenet_relu_max", "deeper_matched": "lenet_relu_max",
                 "deeper_2x_input": "deeper", "wider": "deeper", "wider_dropout": "wider",
                 "wider_augment": "wider"}


def _differences(native: int, lenet_epochs: int) -> list[Spec]:
    wide = dict(width=2 / 16, fc_width=128, dropout=0.0)
    long = {"epochs": lenet_epochs}
    aug = Compose(RandomCrop(native, padding=2), RandomHorizontalFlip())
    return [
        Spec("lenet", "LeNet (d2l): sigmoid, average pooling", "lenet", train=long),
        Spec("lenet_relu", "sigmoid → ReLU", "lenet", {"activation": "relu"}, train=long),
        Spec("lenet_maxpool", "average → max pooling", "lenet", {"pool": "max"}, train=long),
        Spec("lenet_relu_max", "ReLU and max pooling", "lenet", {"activation": "relu", "pool": "max"},
             train=long),
        Spec("deeper", "5 conv layers at LeNet's widths (ReLU, max), 40,854 parameters",
             "alexnet_28", SMALL),
        Spec("deeper_matched", "5 conv layers, widened to LeNet's parameter count (60,746)",
             "alexnet_28", MATCHED),
        Spec("deeper_2x_input", f"deeper at {2 * native}×{2 * native} (upsampled)", "alexnet_28",
             {**SMALL, "input_size": 2 * native}, train={"resize": 2 * native}),
        Spec("wider", "deeper, 2× the channels", "alexnet_28", wide),
        Spec("wider_dropout", "wider + dropout 0.5 in the FC layers", "alexnet_28",
             {**wide, "dropout": 0.5}),
        Spec("wider_augment", "wider + random crop (pad 2) and flip", "alexnet_28", wide,
             train={"transform": aug}),
    ]


def _simplify(native: int) -> list[Spec]:
    cut = dict(drop_fc7=True, drop_equal_convs=True)
    base = {**Q1B, "input_size": native}
    return [
        Spec("baseline", "AlexNet layout at 28 px, ⅛ of the channels, FC 512", "alexnet_28", base),
        Spec("no_fc7", "remove the second FC layer (fc7)", "alexnet_28", {**base, "drop_fc7": True}),
        Spec("no_conv4", "… and conv4 (equal in/out channels)", "alexnet_28", {**base, **cut}),
        Spec("lr_up", "… and twice the chosen rate", "alexnet_28", {**base, **cut}),
        Spec("fc_128", "… and FC width 512 → 128", "alexnet_28", {**base, **cut, "fc_width": 128}),
        Spec("half_width", "… and half the channels (1/16 of AlexNet's)", "alexnet_28",
             {**base, **cut, "fc_width": 128, "width": 1 / 16}),
    ]


def _batch() -> list[Spec]:
    # the "deeper" network of Q1a: batch 128 at its chosen rate is that experiment's run
    # keep_net: the page estimates each run's memory from its network
    sizes = {"batch_32": 32, "batch_128": 128, "batch_512": 512,
             "batch_32_scaled": 32, "batch_512_scaled": 512}
    return [Spec(name, f"batch {b}" + (", rate scaled with the batch" if "scaled" in name else ""),
                 "alexnet_28", SMALL, train={"batch_size": b, "keep_net": "architecture"})
            for name, b in sizes.items()]
