"""fit(): it learns, it repeats exactly, it resumes, and its guards fire."""

import math

import pytest
import torch
from torch import nn

from alexnet_course.data import load_fashion_mnist
from alexnet_course.course.profiles import choose_profile, device_facts, resolve_profile
from alexnet_course.train import History, TrainingFailed, evaluate, fit, set_seed


def small_lenet(dropout: float = 0.0) -> nn.Sequential:
    """A ReLU LeNet written out here, independent of the package's model zoo."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Dropout(dropout), nn.Linear(120, 10))


@pytest.fixture(scope="module")
def tiny():
    return load_fashion_mnist(64, train_size=640, test_size=320, device="cpu")


def _curves(h: History):
    return [(r["train_loss"], r["train_acc"], r["test_acc"], r["lr"]) for r in h.records]


def test_lenet_learns_fashion_mnist_subset():
    train, test = load_fashion_mnist(128, train_size=6000, test_size=2000, device="cpu")
    set_seed(0)
    h = fit(small_lenet(), train, test, epochs=3, lr=2e-3, optimizer="adam", log=None,
            progress=False)
    assert h.last["test_acc"] >= 0.75, h.records  # chance is 0.10
    assert h.records[1]["train_loss"] < h.records[0]["train_loss"]
    assert h.examples_per_sec > 0 and len(h) == 3


def test_same_seed_same_history(tiny):
    train, test = tiny
    runs = []
    for _ in range(2):
        set_seed(7)
        runs.append(fit(small_lenet(0.3), train, test, epochs=2, lr=0.05, momentum=0.9,
                        log=None))
    assert _curves(runs[0]) == _curves(runs[1])


def test_interrupted_run_resumes_to_the_same_end(tiny, tmp_path):
    train, test = tiny
    args = dict(epochs=3, lr=0.05, momentum=0.9, scheduler="step",
                scheduler_kwargs={"step_size": 1, "gamma": 0.5}, log=None)
    set_seed(1)
    whole = fit(small_lenet(0.3), train, test, **args)

    ckpt = tmp_path / "run.pt"

    def stop_after_two(epoch, record):
        if epoch == 2:
            raise KeyboardInterrupt

    set_seed(1)
    with pytest.raises(KeyboardInterrupt):
        fit(small_lenet(0.3), train, test, checkpoint=ckpt, on_epoch_end=stop_after_two, **args)
    assert ckpt.exists()  # epoch 1 was saved before the interruption
    set_seed(1)
    resumed = fit(small_lenet(0.3), train, test, checkpoint=ckpt, **args)
    # epoch 2 was interrupted before its checkpoint, so it ran again: same numbers
    assert _curves(resumed) == _curves(whole)


def test_checkpoint_from_another_model_is_refused(tiny, tmp_path):
    train, test = tiny
    ckpt = tmp_path / "run.pt"
    fit(small_lenet(), train, test, epochs=1, lr=0.01, checkpoint=ckpt, log=None)
    other = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    with pytest.raises(ValueError, match="different run"):
        fit(other, train, test, epochs=1, lr=0.01, checkpoint=ckpt, log=None)


def test_nan_loss_stops_with_causes(tiny):
    train, test = tiny
    set_seed(0)
    with pytest.raises(TrainingFailed, match="NaN or infinite.*learning rate") as err:
        fit(small_lenet(), train, test, epochs=2, lr=1e6, momentum=0.9, log=None)
    assert len(err.value.history) == 0


class ReluLogits(nn.Module):
    """The bug from the source material: a ReLU on the logits. With a negative bias
    every logit is 0, so the softmax is uniform and no gradient flows."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)
        nn.init.constant_(self.fc.bias, -10.0)
        nn.init.zeros_(self.fc.weight)

    def forward(self, x):
        return torch.relu(self.fc(torch.flatten(x, 1)))


def test_stuck_at_chance_is_reported(tiny):
    train, test = tiny
    with pytest.raises(TrainingFailed, match=r"ln\(10\) = 2.303.*not learning") as err:
        fit(ReluLogits(), train, test, epochs=3, lr=0.1, stall_min_steps=10, log=None)
    h = err.value.history
    assert len(h) == 1 and math.isclose(h.last["train_loss"], math.log(10), abs_tol=1e-4)
    # the same run goes on when asked to
    h = fit(ReluLogits(), train, test, epochs=1, lr=0.1, guard=False, log=None)
    assert len(h) == 1
    # an epoch too short to judge is not called stuck
    h = fit(ReluLogits(), train, test, epochs=1, lr=0.1, stall_min_steps=11, log=None)
    assert len(h) == 1


def test_history_round_trips(tiny, tmp_path):
    train, test = tiny
    h = fit(small_lenet(), train, test, epochs=1, lr=0.01, log=None)
    again = History.from_dict(__import__("json").loads(h.to_json(tmp_path / "h.json")))
    assert again.records == h.records and again.meta["parameters"] == h.meta["parameters"]
    frame = h.to_frame()
    assert list(frame.index) == [1] and "test_acc" in frame


def test_epoch_line_and_warmup(tiny):
    train, test = tiny
    lines = []
    net = small_lenet()
    h = fit(net, train, test, epochs=1, lr=0.1, warmup_steps=5, log=lines.append)
    assert lines[0].startswith("epoch 1/1, loss ") and "examples/sec on cpu" in lines[0]
    # warm-up ends at the scheduled lr; LinearLR gets there by multiplying, hence approx
    assert h.last["lr"] == pytest.approx(0.1, rel=1e-12)
    assert evaluate(net, test) == h.last["test_acc"]


def test_channels_last_auto_on_cpu_same_result(tiny):
    """'auto' stores the network NHWC on a CPU; the run matches an NCHW one within float error."""
    train, test = tiny
    histories = {}
    for layout in ("auto", False):
        set_seed(0)
        net = small_lenet()
        histories[layout] = fit(net, train, test, epochs=1, lr=0.1, channels_last=layout, log=None)
        conv2 = net[3].weight  # 6 input channels: NCHW and NHWC strides differ
        assert conv2.is_contiguous(memory_format=torch.channels_last) == (layout == "auto")
        assert conv2.is_contiguous() == (layout is False)
    assert histories["auto"].meta["channels_last"] is True
    assert histories[False].meta["channels_last"] is False
    assert histories["auto"].last["train_loss"] == pytest.approx(histories[False].last["train_loss"], rel=1e-4)


# NaN images give NaN logits, whose argmax is class 0, and every label says 1: a validation
# accuracy that stays 0.0 however the network trains (an empty loader is refused)
STUCK_AT_ZERO = [(torch.full((4, 1, 28, 28), math.nan), torch.ones(4, dtype=torch.long))]


def test_plateau_watches_the_validation_set(tiny):
    """With val_iter, 'plateau' steps on validation accuracy: a validation set that scores
    0.0 every epoch (STUCK_AT_ZERO), so with patience 0 the lr drops after the second epoch whatever the
    test accuracy does."""
    train, test = tiny
    set_seed(0)
    h = fit(small_lenet(), train, test, epochs=3, lr=0.1, scheduler="plateau",
            scheduler_kwargs={"patience": 0}, val_iter=STUCK_AT_ZERO, log=None)
    assert [r["val_acc"] for r in h.records] == [0.0, 0.0, 0.0]
    assert [r["lr"] for r in h.records] == pytest.approx([0.1, 0.1, 0.01])


def test_bad_arguments():
    train, test = load_fashion_mnist(64, train_size=128, test_size=64, device="cpu")
    with pytest.raises(ValueError, match="need lr="):
        fit(small_lenet(), train, test, epochs=1)
    with pytest.raises(ValueError, match="choose one of: sgd, adam, adamw"):
        fit(small_lenet(), train, test, epochs=1, lr=0.1, optimizer="rmsprop")
    with pytest.raises(ValueError, match="choose one of: plateau"):
        fit(small_lenet(), train, test, epochs=1, lr=0.1, scheduler="poly")
    with pytest.raises(ValueError, match="channels_last must be 'auto', True or False"):
        fit(small_lenet(), train, test, epochs=1, lr=0.1, channels_last="nhwc")
    with pytest.raises(ValueError, match="amp must be"):
        fit(small_lenet(), train, test, epochs=1, lr=0.1, amp="float16")


def test_profile_resolution(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    assert resolve_profile("auto").name == "smoke"
    assert resolve_profile("full").name == "full"  # an explicit choice wins
    monkeypatch.delenv("COURSE_PROFILE")
    expected = choose_profile(device_facts()).profile  # full only on an H100/H200-class GPU
    assert resolve_profile().name == expected
    assert resolve_profile().pick(smoke=1, quick=2, full=3) == (3 if expected == "full" else 2)
    assert resolve_profile("standard").train_size is None  # the CPU edition: all the data
    with pytest.raises(ValueError, match="choose one of: auto, smoke, quick, standard, full"):
        resolve_profile("huge")


def test_step_metrics_time_a_training_error_target(tiny):
    train, test = tiny
    set_seed(3)
    plain = fit(small_lenet(), train, test, epochs=2, lr=0.05, momentum=0.9, log=None)
    set_seed(3)
    h = fit(small_lenet(), train, test, epochs=2, lr=0.05, momentum=0.9, log=None,
            step_metrics=True)
    assert _curves(h) == _curves(plain)  # recording the batches changes nothing trained
    steps = h.records[0]["step_train_acc"]
    assert len(steps) == len(train) and all(0.0 <= a <= 1.0 for a in steps)
    # the epoch's accuracy is the example-weighted mean of its batches' (equal batches here)
    assert abs(sum(steps) / len(steps) - h.records[0]["train_acc"]) < 1e-6
    first = h.epochs_to_train_acc(0.0, window=1)
    assert first == pytest.approx(1 / len(train))  # the first batch already "reaches" 0
    assert math.isnan(h.epochs_to_train_acc(1.01, window=2))
    both = h.records[0]["step_train_acc"] + h.records[1]["step_train_acc"]
    best = both.index(max(both))  # the first batch with the highest accuracy
    assert h.epochs_to_train_acc(max(both), window=1) == pytest.approx((best + 1) / len(train))
    assert "step_train_acc" not in h.to_frame().columns
    with pytest.raises(ValueError, match="step_metrics=True"):
        plain.epochs_to_train_acc(0.5)
