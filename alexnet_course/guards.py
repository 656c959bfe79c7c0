"""Guards that stop a run which has diverged or stalled, naming the likely causes.

Both read only what an epoch reports (its mean loss, its accuracies, the weights'
gradient norm on its last batch) and the history so far, so they judge a resumed run
exactly as an uninterrupted one.

The thresholds, and why:

* Divergence: a mean cross-entropy above ``50·ln C`` needs logits tens of units apart on
  the wrong class, which no learning run produces; ``10×`` the first epoch's loss means
  the loss grew instead of falling. Either counts only while the accuracy is at chance,
  so an epoch that learned and then blew up is judged by the next one.
* Stall: an epoch "at chance" ends at loss ln C (within 0.005) with train and test
  accuracy at chance: the network predicts a uniform distribution. A network can sit
  there and still learn: d2l's sigmoid LeNet (SGD, lr 0.1, batch 128) does so for about
  two epochs and then leaves. So one such epoch stops a run only when the gradient has
  vanished too (a dead N(0, 0.01²) deep net measures ~1e-5, that LeNet's plateau ~0.4);
  otherwise it takes ``stall_epochs`` in a row.
* Did not learn: a run that no guard stopped but that never left chance — a learning rate
  too small moves the loss from 2.6 to 2.55, nowhere near the stall guard's ln C — is
  labelled, not stopped (:func:`did_not_learn`): its numbers are not a result.
"""

from __future__ import annotations

import math

from collections.abc import Callable

from .history import History

DIVERGED_CEILING = 50    # × ln C
DIVERGED_GROWTH = 10     # × the first epoch's loss
LOSS_AT_CHANCE = 0.005   # |loss − ln C| below this: uniform predictions
CHANCE_MARGIN = 0.02     # a net stuck on one class scores that class's frequency
DIVERGED_MARGIN = 0.05   # a diverging net's guesses scatter more widely around chance
VANISHED_GRAD = 1e-3     # norm of the weights' gradient (biases left out: see below)
# "Did not learn": every epoch's training loss at least 0.9·ln C (2.07 for 10 classes) and
# every epoch's held-out accuracy at most 1.5/C (15 %), over at least 100 optimiser steps.
# The accuracy decides: a learning net can sit at loss 2.30 yet score 18 % (d2l's NiN,
# chapter 05's standard seed 2, after 2 epochs) or 2.18 and 38 % (a 30-step probe), while
# one that predicts a single class scores that class's share, 10 % on the balanced test
# sets; 15 % leaves room for a dead net's luck on a small set. The loss bound keeps out a
# net that learned to be confident and then lost its accuracy (a collapse, not a failure
# to start), and every epoch must meet both, so a slow starter that left chance by the end
# (d2l's sigmoid LeNet: ln 10 for about two epochs, then 50 %) is not labelled. Runs of
# fewer steps are not judged: the smoke profile (at most 96 steps in its store), dry runs
# and timing probes are too short to have started, and their numbers mean nothing anyway.
NOT_LEARNED_LOSS = 0.9   # × ln C
NOT_LEARNED_ACC = 1.5    # × 1/C
NOT_LEARNED_MIN_STEPS = 100

_TOO_HIGH = ("Likely causes: a learning rate too high for this network (try 10× smaller, or "
             "warmup_steps=), an initialisation with too large weights, or no normalisation "
             "in a deep net")


class TrainingFailed(RuntimeError):
    """Training stopped by a guard; ``.history`` holds the epochs that finished."""

    def __init__(self, message: str, history: History) -> None:
        super().__init__(message)
        self.history = history


def check_divergence(epoch: int, loss: float, acc: float, nonfinite: bool, num_classes: int,
                     history: History) -> None:
    """Raise :class:`TrainingFailed` if epoch ``epoch`` (1-based, not yet in ``history``)
    produced a non-finite loss, or a loss past the ceiling or growth limit at chance."""
    if nonfinite or not math.isfinite(loss):
        raise TrainingFailed(f"epoch {epoch}: the loss became NaN or infinite. {_TOO_HIGH}.",
                             history)
    ceiling = DIVERGED_CEILING * math.log(num_classes)
    first = history.records[0]["train_loss"] if history.records else math.inf
    if acc >= 1 / num_classes + DIVERGED_MARGIN:
        return
    if loss > ceiling:
        why = f"above the ceiling {DIVERGED_CEILING}·ln({num_classes}) = {ceiling:.0f}"
    elif loss > DIVERGED_GROWTH * first:
        why = f"more than {DIVERGED_GROWTH}× the first epoch's {first:.3f}"
    else:
        return
    raise TrainingFailed(
        f"epoch {epoch}: the loss diverged to {loss:.4g} ({why}) with chance accuracy "
        f"({acc:.3f}). {_TOO_HIGH}, or momentum too high for this learning rate; pass "
        f"guard=False to keep training anyway.", history)


def at_chance(record: dict[str, float], num_classes: int) -> bool:
    """Whether an epoch ended at loss ln C with chance train and test accuracy (the
    validation accuracy when the run has no test set; the training side alone without both)."""
    chance = 1 / num_classes + CHANCE_MARGIN
    held_out = record.get("test_acc", record.get("val_acc", 0.0))
    return (abs(record["train_loss"] - math.log(num_classes)) < LOSS_AT_CHANCE
            and record["train_acc"] < chance and held_out < chance)


def check_stall(history: History, num_classes: int, grad_norm: float, steps: int, *,
                stall_epochs: int, stall_min_steps: int) -> None:
    """Raise :class:`TrainingFailed` if the last epoch of ``history`` ended at chance with
    a vanished gradient, or ended ``stall_epochs`` epochs at chance in a row.

    ``grad_norm`` is the norm of the weights' gradient (tensors of two or more dimensions)
    on the epoch's last batch: the output layer's bias keeps a gradient of about
    ``1/sqrt(batch)`` from each batch's class mix even in a dead network, the weights do
    not. Epochs shorter than ``stall_min_steps`` batches are not judged: they may simply
    not have started learning yet.
    """
    if steps < stall_min_steps or not history.records:
        return
    run = 0
    for record in reversed(history.records):  # epochs are equally long: count the trailing run
        if not at_chance(record, num_classes):
            break
        run += 1
    vanished = grad_norm < VANISHED_GRAD
    if run == 0 or (run < stall_epochs and not vanished):
        return
    last = history.last
    span = "for the whole epoch" if run == 1 else f"for {run} epochs in a row"
    grad = f" and its weights' gradient has vanished (norm {grad_norm:.1e})" if vanished else ""
    raise TrainingFailed(
        f"epoch {last['epoch']}: the loss stayed at ln({num_classes}) = "
        f"{math.log(num_classes):.3f} with chance accuracy ({last['train_acc']:.3f}) {span}"
        f"{grad}: the network predicts a uniform distribution and is not learning. Likely "
        f"causes: a learning rate too high (dead ReLUs) or too low, an initialisation such "
        f"as N(0, 0.01²) that shrinks activations layer by layer in a deep net, or a ReLU "
        f"on the logits. Try a smaller lr, Kaiming init or batch norm; pass guard=False to "
        f"keep training anyway.", history)


def _steps(history: History) -> float | None:
    """Optimiser steps the run took, from its examples and batch size (None if unknown)."""
    batch = history.meta.get("batch_size")
    if not batch or any("examples" not in r for r in history.records):
        return None
    return sum(r["examples"] for r in history.records) / batch


def did_not_learn(history: History, num_classes: int) -> str | None:
    """Why a finished run never left chance (see :data:`NOT_LEARNED_LOSS`), or None: every
    epoch's training loss ≥ 0.9·ln C and held-out accuracy (test, else validation, else
    training) ≤ 1.5/C, over at least :data:`NOT_LEARNED_MIN_STEPS` steps."""
    steps = _steps(history)
    if not history.records or steps is None or steps < NOT_LEARNED_MIN_STEPS:
        return None
    key = next((k for k in ("test_acc", "val_acc") if k in history.last), "train_acc")
    loss_floor = NOT_LEARNED_LOSS * math.log(num_classes)
    acc_ceiling = NOT_LEARNED_ACC / num_classes
    lowest = min(r["train_loss"] for r in history.records)
    best = max(r.get(key, 0.0) for r in history.records)
    if lowest < loss_floor or best > acc_ceiling:
        return None
    last = history.last
    return (f"did not learn: for all {len(history)} epochs ({steps:.0f} steps) the training loss "
            f"stayed at or above {NOT_LEARNED_LOSS:g}·ln({num_classes}) = {loss_floor:.2f} (last "
            f"{last['train_loss']:.3f}) and the {key.replace('_', ' ')} at or below "
            f"{NOT_LEARNED_ACC:g}/{num_classes} = {acc_ceiling:.2f} (best {best:.3f}), near chance: "
            f"not a result. Likely causes: a learning rate too small (try 10× larger) or too "
            f"few steps for this network to leave chance.")


def label_did_not_learn(history: History, num_classes: int,
                        log: Callable[[str], None] | None = None) -> str | None:
    """Record in ``history.meta["did_not_learn"]`` (and log) why a finished run never left
    chance: no guard stopped it, so without the label it would read as a result. Returns
    the reason, or None for a run that learned (or was too short to judge)."""
    why = did_not_learn(history, num_classes)
    if why is not None:
        history.meta["did_not_learn"] = why
        if log:
            log(why)
    return why
