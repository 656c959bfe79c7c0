"""Chapter 01, from LeNet to AlexNet: the experiments of its four questions.

* ``differences`` (Q1a): LeNet → AlexNet one change at a time;
* ``simplify`` (Q1b): the homework's simplified AlexNets, each row one more cut;
* ``epochs`` (Q1c): LeNet and an AlexNet-style network trained longer;
* ``batch`` (Q1d): one network at three batch sizes.

Every run trains with Adam at a constant rate (the homework's recipe), on Fashion-MNIST
unless ``dataset="cifar10"``.
"""

from __future__ import annotations

from ..augment import Compose, RandomCrop, RandomHorizontalFlip
from ..course.ablations import Spec
from ..course.profiles import Profile
from . import Experiment

NAME = "01_lenet_to_alexnet"


def experiments(P: Profile, *, dataset: str = "fashion_mnist", seeds: int | None = None,
                alex_size: int | None = None, diff_epochs: int | None = None,
                simp_epochs: int | None = None) -> dict[str, Experiment]:
    """The chapter's experiments in profile ``P``; ``None`` leaves a choice to the profile."""
    n_seeds = seeds or P.pick(smoke=1, quick=1, standard=3, full=3)
    alex_size = alex_size or P.pick(smoke=68, quick=68, standard=68, full=224)
    native = 32 if dataset == "cifar10" else 28
    adam = dict(optimizer="adam", lr=1e-3, dataset=dataset)
    return {"differences": _differences(P, n_seeds, native, diff_epochs, adam),
            "simplify": _simplify(P, n_seeds, native, alex_size, simp_epochs, adam),
            "epochs": _epochs(P, n_seeds, adam),
            "batch": _batch(P, native, adam)}


def _differences(P: Profile, n_seeds: int, native: int, epochs: int | None,
                 adam: dict) -> Experiment:
    epochs = epochs or P.pick(smoke=1, quick=2, standard=3, full=1)
    wide_factor = P.pick(smoke=2, quick=4, standard=2, full=4)  # 2× on a CPU: 4× costs 2.5× the time
    aug = Compose(RandomCrop(native, padding=2), RandomHorizontalFlip())
    small = dict(width=1 / 16, fc_width=128, dropout=0.0)
    wide = dict(width=wide_factor / 16, fc_width=128, dropout=0.0)
    specs = [
        Spec("lenet", "LeNet (d2l): sigmoid, average pooling", "lenet"),
        Spec("lenet_relu", "sigmoid → ReLU", "lenet", {"activation": "relu"}),
        Spec("lenet_maxpool", "average → max pooling", "lenet", {"pool": "max"}),
        Spec("lenet_relu_max", "ReLU and max pooling", "lenet", {"activation": "relu", "pool": "max"}),
        Spec("deeper", "5 conv layers at LeNet's widths (ReLU, max)", "alexnet_28", small),
        Spec("deeper_2x_input", f"deeper at {2 * native}×{2 * native} (upsampled)", "alexnet_28",
             {**small, "input_size": 2 * native}, train={"resize": 2 * native}),
        Spec("wider", f"deeper, {wide_factor}× the channels", "alexnet_28", wide),
        Spec("wider_dropout", "wider + dropout 0.5 in the FC layers", "alexnet_28",
             {**wide, "dropout": 0.5}),
        Spec("wider_augment", "wider + random crop (pad 2) and flip", "alexnet_28", wide,
             train={"transform": aug}),
    ]
    against = {"lenet_relu": "lenet", "lenet_maxpool": "lenet", "lenet_relu_max": "lenet",
               "deeper": "lenet_relu_max", "deeper_2x_input": "deeper", "wider": "deeper",
               "wider_dropout": "wider", "wider_augment": "wider"}
    common = dict(epochs=epochs, train_size=P.pick(smoke=128, quick=2000, standard=None, full=20000),
                  test_size=P.pick(smoke=128, quick=2000, standard=None, full=None), **adam)
    return Experiment(specs, n_seeds, common, against,
                      notes={"epochs": epochs, "wide_factor": wide_factor})


def _simplify(P: Profile, n_seeds: int, native: int, alex_size: int, epochs: int | None,
              adam: dict) -> Experiment:
    epochs = epochs or P.pick(smoke=1, quick=2, standard=2, full=1)
    base = dict(drop_fc7=True, drop_equal_convs=True)
    if P.name == "standard":  # two CPU cores: native 28-px input throughout
        n28 = dict(input_size=native, width=0.25, fc_width=1024)
        specs = [
            Spec("baseline", "AlexNet layout at 28 px, ¼ of the channels, FC 1024", "alexnet_28", n28),
            Spec("no_fc7", "remove the second FC layer (fc7)", "alexnet_28", {**n28, "drop_fc7": True}),
            Spec("no_conv4", "… and conv4 (equal in/out channels)", "alexnet_28", {**n28, **base}),
            Spec("lr_up", "… and lr 0.001 → 0.002", "alexnet_28", {**n28, **base}, train={"lr": 2e-3}),
            Spec("fc_256", "… and FC width 1024 → 256", "alexnet_28",
                 {**n28, **base, "fc_width": 256}, train={"lr": 2e-3}),
            Spec("half_width", "… and half the channels (⅛ of AlexNet's)", "alexnet_28",
                 {**n28, **base, "fc_width": 256, "width": 0.125}, train={"lr": 2e-3}),
        ]
        resize = None
    else:
        at = dict(input_size=alex_size)
        specs = [
            Spec("baseline", "d2l AlexNet", "alexnet_simple", at),
            Spec("no_fc7", "remove the 4096→4096 layer (fc7)", "alexnet_simple", {**at, "drop_fc7": True}),
            Spec("no_conv4", "… and the 384→384 conv (conv4)", "alexnet_simple", {**at, **base}),
            Spec("lr_up", "… and lr 0.001 → 0.004", "alexnet_simple", {**at, **base}, train={"lr": 4e-3}),
            Spec("lr_down", "… and lr 0.004 → 0.002", "alexnet_simple", {**at, **base}, train={"lr": 2e-3}),
            Spec("fc_1024", "… and FC width 4096 → 1024", "alexnet_simple",
                 {**at, **base, "fc_width": 1024}, train={"lr": 2e-3}),
            Spec("half_width", "… and half the channels", "alexnet_simple",
                 {**at, **base, "fc_width": 1024, "width": 0.5}, train={"lr": 2e-3}),
            Spec("native_28", f"… and native {native}×{native} input (5×5 stride-1 stem)", "alexnet_28",
                 {**base, "fc_width": 1024, "width": 0.5, "input_size": native},
                 train={"lr": 2e-3, "resize": None}),
        ]
        resize = alex_size
    common = dict(epochs=epochs, resize=resize,
                  train_size=P.pick(smoke=128, quick=1000, standard=None, full=10000),  # GPU: by estimate
                  test_size=P.pick(smoke=128, quick=1000, standard=None, full=None), **adam)
    return Experiment(specs, n_seeds, common, notes={"epochs": epochs, "alex_size": alex_size})


def _long(P: Profile) -> tuple[str, dict, int | None, str]:
    return P.pick(
        smoke=("alexnet_28", {"width": 1 / 16}, None, "`alexnet_28` at 1/16 width"),
        quick=("alexnet_28", {"width": 0.25, "fc_width": 512}, None, "`alexnet_28` at ¼ width, native 28 px"),
        standard=("alexnet_28", {"width": 0.125, "fc_width": 512}, None, "`alexnet_28` at ⅛ width, native 28 px"),
        full=("alexnet_d2l", {"input_size": 224}, 224, "d2l's AlexNet at 224 px"))


def _epochs(P: Profile, n_seeds: int, adam: dict) -> Experiment:
    model, kwargs, resize, desc = _long(P)
    epochs = P.pick(smoke=2, quick=6, standard=6, full=2)
    specs = [Spec("epochs_lenet", "LeNet", "lenet"),
             Spec("epochs_alexnet", "AlexNet-style", model, kwargs, train={"resize": resize})]
    common = dict(epochs=epochs, train_size=P.pick(smoke=128, quick=2000, standard=None, full=10000),
                  test_size=P.pick(smoke=128, quick=1000, standard=None, full=None), **adam)
    return Experiment(specs, n_seeds, common, {"epochs_alexnet": "epochs_lenet"},
                      notes={"epochs": epochs, "alex_desc": desc})


def _batch(P: Profile, native: int, adam: dict) -> Experiment:
    model, kwargs, resize, _ = _long(P)
    model, kwargs, resize = P.pick(smoke=("alexnet_28", {"width": 1 / 16}, None),
                                   quick=(model, kwargs, resize), standard=(model, kwargs, resize),
                                   full=(model, kwargs, resize))
    sizes = P.pick(smoke=[32, 64], quick=[32, 128, 512], standard=[32, 128, 512], full=[64, 256, 1024])
    # keep_net: the page estimates each run's memory from its network
    specs = [Spec(f"batch_{b}", f"batch size {b}", model, kwargs,
                  train={"batch_size": b, "keep_net": "architecture"}) for b in sizes]
    common = dict(epochs=P.pick(smoke=1, quick=2, standard=1, full=1), resize=resize,
                  train_size=P.pick(smoke=128, quick=2000, standard=None, full=10000),
                  test_size=P.pick(smoke=128, quick=1000, standard=None, full=None), **adam)
    return Experiment(specs, 1, common, notes={"sizes": sizes, "side": resize or native})
