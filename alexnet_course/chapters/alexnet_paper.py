"""Chapter 02, the AlexNet paper reproduced: the experiments of its measured sections.

* ``activation`` (section 2): ReLU against tanh on the narrow AlexNet without regularisation;
* ``sweep`` (section 7): the recipe at each learning rate of a sweep, scored on held-out images;
* ``ablation`` (section 7): the recipe, then each of its ingredients removed in turn;
* ``schedule`` (section 8): the recipe trained longer, its rate divided by ten on a plateau.

``ablation`` and ``schedule`` train at the rate the sweep picked, so they are declared with
``after="sweep"``: their ``lr`` is decided by the sweep's runs (:func:`best_lr`), in the
notebook and in ``python -m alexnet_course.run`` alike.

The recipe's data treatment is fitted on the training images (the mean subtracted, PCA
lighting from the pixels' covariance), so declaring it reads the training set once.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import pandas as pd

from .. import augment, data
from ..course.ablations import Spec, mark_ended_at_chance
from ..course.profiles import Profile
from . import Experiment

NAME = "02_alexnet_paper"
BATCH_SIZE = 128  # the paper's


def experiments(P: Profile, *, dataset: str = "fashion_mnist", crop: int | None = None,
                width: float | None = None, train_size: int | None = None,
                val_size: int | None = None, epochs: int | None = None,
                seeds: int | None = None, lrs: list[float] | None = None) -> dict[str, Experiment]:
    """The chapter's experiments in profile ``P``; ``None`` leaves a choice to the profile.
    Every experiment's ``notes`` hold the settings they share (input side, widths, sizes,
    the recipe's fitted pixel statistics) for the page to quote."""
    s = settings(P, dataset=dataset, crop=crop, width=width, train_size=train_size,
                 val_size=val_size, epochs=epochs, seeds=seeds, lrs=lrs)
    prep = recipe_data(dataset, s["crop"], s["pad"])
    shared = {**s, **{k: prep[k] for k in ("pix_mean", "pix_std", "light_vals")}}
    n_seeds = s["n_seeds"]
    recipe_model = dict(input_size=s["crop"], stem=s["stem"], width=s["width"],
                        fc_width=s["fc_width"], lrn=True, pool="overlap", dropout=0.5,
                        init="kaiming")  # deviation: Kaiming's init, not the paper's N(0, 0.01²)
    sized = dict(dataset=dataset, resize=s["resize"], batch_size=BATCH_SIZE,
                 train_size=s["train_size"], test_size=s["test_size"])
    common = dict(epochs=s["epochs"], scheduler="plateau", **sized,
                  data_kwargs={"val_size": s["val_size"]}, transform=prep["transforms"]["full"],
                  normalize=prep["mean_only"], momentum=0.9, weight_decay=5e-4)
    tuned = dict(after="sweep", decide=partial(best_lr, s["lrs"]))
    return {"activation": _activation(s, n_seeds, sized, shared),
            "sweep": Experiment(
                [Spec(name=f"sweep_lr{lr:g}", change=f"lr {lr:g}", model="alexnet_paper",
                      model_kwargs=recipe_model, train={"lr": lr, "epochs": s["sweep_epochs"]})
                 for lr in s["lrs"]], 1, common, notes=shared),
            "ablation": Experiment(_ablation_specs(recipe_model, prep), n_seeds, common,
                                   notes=shared, **tuned),
            "schedule": Experiment(
                [Spec(name="schedule_recipe", change="the recipe, longer", model="alexnet_paper",
                      model_kwargs=recipe_model,
                      train={"epochs": s["schedule_epochs"], "scheduler_kwargs": {"patience": 0}})],
                1, {k: v for k, v in common.items() if k != "epochs"}, notes=shared, **tuned)}


def settings(P: Profile, *, dataset: str, crop: int | None, width: float | None,
             train_size: int | None, val_size: int | None, epochs: int | None,
             seeds: int | None, lrs: list[float] | None) -> dict[str, Any]:
    """The sizes every experiment shares, ``None`` filled in by the profile.

    Standard on 2 CPU cores: the recipe trains at ~3.3k images/s with LRN (~20 s an epoch
    with its validation and test passes); 4×2 sweep + 27×3 ablation + 8 schedule epochs
    ≈ 33 min.
    """
    native = 32 if dataset == "cifar10" else 28
    # full: 128, not 112, so conv1's map (31 → 15 → 7) is odd at every pooling and the
    # non-overlapping ablation changes only the pooling, not fc6's input (tests/test_gpu_hazards.py)
    crop = crop or P.pick(smoke=native, quick=native, standard=native, full=128)
    # Deviation below 63 px: the paper's 11×11 stride-4 conv1 needs ≥ 63 pixels and leaves a 1×1
    # map at 64; a 5×5 stride-1 conv1 keeps 28 → 13 → 6 → 2 through the three poolings.
    stem = (11, 4, 2) if crop >= 63 else (5, 1, 2)
    return {
        "dataset": dataset, "native": native, "crop": crop, "stem": stem,
        "pad": max(2, crop // 16),  # random crops after zero-padding by `pad`: shifts of up to ±pad px
        "width": width or P.pick(smoke=1 / 16, quick=1 / 8, standard=1 / 8, full=1.0),
        "fc_width": P.pick(smoke=64, quick=256, standard=256, full=4096),
        # GPU: batch 128 is launch-bound, a subset by estimate
        "train_size": train_size or P.pick(smoke=256, quick=6000, standard=None, full=10000),
        "test_size": P.pick(smoke=128, quick=1000, standard=None, full=None),
        "val_size": val_size or P.pick(smoke=128, quick=500, standard=5000, full=5000),
        "epochs": epochs or P.pick(smoke=1, quick=2, standard=3, full=2),
        "n_seeds": seeds or P.pick(smoke=1, quick=2, standard=3, full=3),
        "lrs": lrs or P.pick(smoke=[0.01, 0.02], quick=[0.005, 0.01, 0.02, 0.04],
                             standard=[0.005, 0.01, 0.02, 0.04], full=[0.005, 0.01, 0.02, 0.04]),
        "act_epochs": P.pick(smoke=1, quick=2, standard=2, full=2),
        "sweep_epochs": P.pick(smoke=1, quick=1, standard=2, full=1),
        "schedule_epochs": P.pick(smoke=2, quick=4, standard=8, full=6),
        "batch_size": BATCH_SIZE,
        "resize": None if crop == native else crop,
    }


def recipe_data(dataset: str, crop: int, pad: int) -> dict[str, Any]:
    """The recipe's data treatment, fitted on the whole training split: the per-channel
    pixel mean and spread, PCA lighting's eigen-decomposition, the normalisations (mean
    subtraction only, as the paper; or full standardisation) and the three augmentations
    the ablation compares."""
    train_x, _ = data.fashion_mnist_tensors(True) if dataset == "fashion_mnist" else data.cifar10_tensors(True)
    pix_mean = tuple((train_x.float() / 255).mean(dim=(0, 2, 3)).tolist())
    pix_std = tuple((train_x.float() / 255).std(dim=(0, 2, 3)).tolist())
    light_vals, light_vecs = augment.fit_pca_lighting(train_x)
    crop_flip = [augment.RandomCrop(crop, padding=pad), augment.RandomHorizontalFlip()]
    lighting = augment.PCALighting(light_vals, light_vecs, std=0.1)
    return {"pix_mean": pix_mean, "pix_std": pix_std, "light_vals": light_vals,
            "mean_only": (pix_mean, tuple(1.0 for _ in pix_mean)),  # subtract the mean, keep the scale
            "standardise": (pix_mean, pix_std),
            "transforms": {"full": augment.Compose(*crop_flip, lighting), "no crop/flip": lighting,
                           "no lighting": augment.Compose(*crop_flip)},
            # pad, then the paper's ten crops (corners and centre, mirrored), softmax averaged
            "ten_crop": augment.TenCropPredict(crop, pad=pad, average="softmax")}


def _activation(s: dict[str, Any], n_seeds: int, sized: dict[str, Any],
                shared: dict[str, Any]) -> Experiment:
    """ReLU against tanh as in the paper's Figure 1: no LRN, dropout or augmentation, the same
    (Kaiming's) initialisation and the paper's lr 0.01 at batch 128 for both."""
    specs = [Spec(name=f"activation_{act}", change=act, model="alexnet_paper",
                  model_kwargs=dict(input_size=s["crop"], stem=s["stem"], width=s["width"],
                                    fc_width=s["fc_width"], lrn=False, dropout=0.0,
                                    activation=act, init="kaiming"))
             for act in ("relu", "tanh")]
    common = dict(epochs=s["act_epochs"], lr=0.01, momentum=0.9, **sized, step_metrics=True)
    return Experiment(specs, n_seeds, common, {"activation_relu": "activation_tanh"},
                      notes={**shared, "epochs": s["act_epochs"]})


def _ablation_specs(recipe_model: dict[str, Any], prep: dict[str, Any]) -> list[Spec]:
    """The recipe (tested with ten crops too), then one ingredient removed per variant."""
    t = prep["transforms"]
    changes = {  # variant → (what differs, model keywords that differ, training keywords that differ)
        "recipe": ("the paper's recipe", {}, {"final_evals": {"ten-crop acc": prep["ten_crop"]}}),
        "no_lrn": ("− LRN", {"lrn": False}, {}),
        "no_overlap": ("− overlapping pooling (2×2 s2)", {"pool": "nonoverlap"}, {}),
        "no_dropout": ("− dropout", {"dropout": 0.0}, {}),
        "no_crop_flip": ("− random crops and flips", {}, {"transform": t["no crop/flip"]}),
        "no_lighting": ("− PCA lighting (brightness jitter)", {}, {"transform": t["no lighting"]}),
        "plain_sgd": ("− momentum and weight decay", {}, {"momentum": 0.0, "weight_decay": 0.0}),
        "standardise": ("standardise instead of mean subtraction", {}, {"normalize": prep["standardise"]}),
        "paper_init": ("paper's init N(0, 0.01²), biases 1", {"init": "paper"}, {}),
    }
    return [Spec(name=f"ablation_{v}", change=change, model="alexnet_paper",
                 model_kwargs={**recipe_model, **model_kw}, train=train_kw)
            for v, (change, model_kw, train_kw) in changes.items()]


def best_lr(lrs: list[float], sweep_runs: list[Any]) -> dict[str, float]:
    """``{"lr": r}``, ``r`` the swept rate (``lrs``, in the sweep's order) whose run ended
    with the best validation accuracy; a run stopped by a guard, or one that ended at
    chance (labelled here), has none."""
    mark_ended_at_chance(sweep_runs)
    val = pd.Series([math.nan if r.failed else r.history.last.get("val_acc", math.nan)
                     for r in sweep_runs], index=lrs)
    return {"lr": float(val.idxmax())}
