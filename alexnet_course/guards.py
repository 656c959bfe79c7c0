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
"""

from __future__ import annotations

import math

from .history import History

DIVERGED_CEILING = 50    # × ln C
DIVERGED_GROWTH = 10     # × the first epoch's loss
LOSS_AT_CHANCE = 0.005   # |loss − ln C| below this: uniform predictions
CHANCE_MARGIN = 0.02     # a net stuck on one class scores that class's frequency
DIVERGED_MARGIN = 0.05   # a diverging net's guesses scatter more widely around chance
VANISHED_GRAD = 1e-3     # norm of the weights' gradient (biases left out: see below)

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
