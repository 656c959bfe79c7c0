"""fit() checks its arguments when it is called: each mistake is a message naming the valid
choices, raised before the first batch."""

import io
import sys

import pytest
import torch
from torch import nn

from alexnet_course.data import load_fashion_mnist
from alexnet_course.settings import TrainSettings, make_warmup, step_epochs
from alexnet_course.train import evaluate, fit
from torch.optim.optimizer import register_optimizer_step_pre_hook


class NeverIterated:
    """A loader that fails the test if fit reads a batch from it."""

    batch_size, num_examples = 64, 128

    def __len__(self):
        return 2

    def __iter__(self):
        raise AssertionError("fit started training before checking its arguments")


def net():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


def call(**kwargs):
    kwargs = {"epochs": 1, "lr": 0.1, "log": None, **kwargs}
    return fit(net(), NeverIterated(), [], **kwargs)


@pytest.mark.parametrize("epochs", [0, -1, 2.5, "2", True, None])
def test_epochs_must_be_a_whole_number_from_one(epochs):
    with pytest.raises(ValueError, match=r"epochs must be a whole number ≥ 1 \(1, 2, …\), got"):
        call(epochs=epochs)


@pytest.mark.parametrize("kwargs, message", [
    ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'; choose one of: sgd, adam, adamw"),
    ({"scheduler": "poly"}, "unknown scheduler 'poly'; choose one of: plateau, step, multistep, linear, cosine, onecycle"),
    ({"scheduler": "linear", "scheduler_kwargs": {"step_size": 1}}, r"do not apply to scheduler='linear'; it takes: none"),
    ({"ema": 1.0}, r"ema is a decay per step in \[0, 1\)"),
    ({"nesterov": True}, "nesterov=True needs momentum > 0"),
    ({"scheduler": "cosine", "scheduler_kwargs": {"patience": 2}},
     r"scheduler_kwargs \['patience'\] do not apply to scheduler='cosine'; it takes: none"),
    ({"scheduler": "plateau", "scheduler_kwargs": {"gamma": 0.5}},
     r"\['gamma'\] do not apply to scheduler='plateau'; it takes: factor, patience"),
    ({"scheduler_kwargs": {"step_size": 1}}, "apply to no scheduler"),
    ({"scheduler": "step", "scheduler_kwargs": {"step_size": 0}}, r"step_size'\] must be a whole number ≥ 1"),
    ({"scheduler": "step", "scheduler_kwargs": {"gamma": 2}}, r"gamma'\] must be in \(0, 1\]"),
    ({"scheduler": "multistep", "scheduler_kwargs": {"fractions": (0.75, 0.5)}},
     r"fractions'\] must be increasing fractions of the run strictly between 0 and 1"),
    ({"scheduler": "multistep", "scheduler_kwargs": {"fractions": (0.5, 1.0)}}, r"fractions'\] must be"),
    ({"scheduler": "multistep", "scheduler_kwargs": {"fractions": 0.5}}, r"fractions'\] must be"),
    ({"scheduler": "multistep", "scheduler_kwargs": {"fractions": ()}}, r"fractions'\] must be"),
    ({"scheduler": "multistep", "scheduler_kwargs": {"milestones": [5, 8]}},
     r"\['milestones'\] do not apply to scheduler='multistep'; it takes: fractions, gamma"),
    ({"scheduler": "multistep", "scheduler_kwargs": {"gamma": 0}}, r"gamma'\] must be in \(0, 1\]"),
    ({"warmup_steps": -1}, "warmup_steps must be a whole number ≥ 0"),
    ({"warmup_steps": 2.5}, "warmup_steps must be a whole number ≥ 0"),
    ({"label_smoothing": 1.0}, r"label_smoothing must be in \[0, 1\)"),
    ({"label_smoothing": -0.1}, r"label_smoothing must be in \[0, 1\)"),
    ({"amp": "fp16"}, "amp='fp16' .* needs a CUDA GPU"),  # these settings are on the CPU
    ({"amp": True}, "amp must be 'auto', 'bf16', 'fp16' or False, got True"),
    ({"channels_last": "nhwc"}, "channels_last must be 'auto', True or False"),
    ({"lr": None}, "need lr="),
    ({"lr": -0.1}, "lr must be a positive number"),
    ({"lr": float("nan")}, "lr must be a positive number"),
    ({"momentum": -0.9}, "momentum must be a number ≥ 0"),
    ({"optimizer": "adam", "lr": 1e-3, "momentum": 0.9}, "momentum= and nesterov= apply to SGD only"),
    ({"stall_epochs": 0}, "stall_epochs must be a whole number ≥ 1"),
    ({"guard": "yes"}, "guard must be True or False"),
])
def test_bad_arguments_are_named_with_the_choices(kwargs, message):
    with pytest.raises(ValueError, match=message):
        call(**kwargs)


def test_settings_or_keywords_not_both():
    with pytest.raises(ValueError, match="not both"):
        fit(net(), NeverIterated(), [], TrainSettings(epochs=1, lr=0.1), lr=0.2, log=None)


def test_empty_training_loader():
    train, test = load_fashion_mnist(64, train_size=128, test_size=64, device="cpu")
    with pytest.raises(ValueError, match="the training loader yields no batches; "):
        fit(net(), [], test, epochs=1, lr=0.1, log=None)
    with pytest.raises(ValueError, match="the training loader yields no batches; "):
        fit(net(), iter([]), test, epochs=1, lr=0.1, log=None)  # no len(): found at epoch 1


def test_settings_validate_themselves():
    assert TrainSettings(epochs=2, lr=0.1, scheduler="step").scheduler_kwargs == {"step_size": 3, "gamma": 0.1}
    with pytest.raises(ValueError, match="epochs must be"):
        TrainSettings(epochs=0, lr=0.1)
    with pytest.raises(ValueError, match="unknown training settings"):
        TrainSettings.from_dict({"epochs": 1, "lr": 0.1, "learning_rate": 0.1})


def test_warmup_is_a_per_batch_scheduler_on_top_of_the_schedule():
    """Batch s trains at (s + 1)/W of the scheduled lr, across an epoch boundary where the
    step schedule halves it, as the hand-written warm-up did."""
    train, test = load_fashion_mnist(64, train_size=640, test_size=64, device="cpu")  # 10 batches
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    used = []
    handle = register_optimizer_step_pre_hook(
        lambda o, args, kwargs: used.append(o.param_groups[0]["lr"]))
    try:
        fit(model, train, test, epochs=2, lr=0.1, scheduler="step",
            scheduler_kwargs={"step_size": 1, "gamma": 0.5}, warmup_steps=15, log=None)
    finally:
        handle.remove()
    scheduled = [0.1] * 10 + [0.05] * 10
    expected = [lr * min(1, (s + 1) / 15) for s, lr in enumerate(scheduled)]
    assert used == pytest.approx(expected, rel=1e-12)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    assert isinstance(make_warmup(opt, 15), torch.optim.lr_scheduler.LinearLR)


def test_multistep_divides_the_rate_at_fractions_of_the_run():
    """AlexNet's ÷10 steps at 50 % and 75 % of the run: after epochs 5 and 8 of 10, 8 and 12
    of 15 (an epoch pilot's longer run moves them with it); each epoch's record holds the
    rate it trained at, so a stored run shows where the steps fired."""
    assert step_epochs(10, (0.5, 0.75)) == [5, 8] and step_epochs(15, (0.5, 0.75)) == [8, 12]
    assert step_epochs(5, [0.5, 0.75]) == [3, 4]
    s = TrainSettings(epochs=4, lr=0.1, scheduler="multistep", scheduler_kwargs={"fractions": [0.5, 0.75]})
    assert s.scheduler_kwargs == {"fractions": (0.5, 0.75), "gamma": 0.1}  # a stored list reads back
    train, test = load_fashion_mnist(64, train_size=128, test_size=64, device="cpu")
    history = fit(net(), train, test, epochs=4, lr=0.1, scheduler="multistep", log=None)
    assert [r["lr"] for r in history.records] == pytest.approx([0.1, 0.1, 0.01, 0.001])


@pytest.mark.parametrize("name", ["linear", "cosine", "onecycle"])
def test_per_step_schedules_warm_up_then_decay_to_zero(name):
    """Every batch steps the schedule: it rises over warmup_steps to lr, then falls to
    (about) zero on the last batch of the last epoch."""
    train, test = load_fashion_mnist(64, train_size=640, test_size=64, device="cpu")  # 10 batches
    used = []
    handle = register_optimizer_step_pre_hook(
        lambda o, args, kwargs: used.append(o.param_groups[0]["lr"]))
    try:
        fit(net(), train, test, epochs=3, lr=0.1, momentum=0.9, nesterov=True, scheduler=name,
            warmup_steps=6, log=None)
    finally:
        handle.remove()
    assert len(used) == 30
    peak = used.index(max(used))
    assert 4 <= peak <= 7 and max(used) == pytest.approx(0.1, rel=0.02)
    assert all(a <= b + 1e-12 for a, b in zip(used[:peak], used[1:peak + 1]))  # rises
    assert all(a >= b - 1e-12 for a, b in zip(used[peak:], used[peak + 1:]))  # then falls
    assert used[0] < 0.02 and used[-1] < 0.01  # from near zero, to near zero


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_none_means_a_terminal_whatever_the_environment(monkeypatch):
    """The library reads no environment variables: a caller that records its output
    passes progress=False."""
    monkeypatch.setenv("CI", "1")
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    train, test = load_fashion_mnist(64, train_size=128, test_size=64, device="cpu")
    monkeypatch.setattr(sys, "stderr", Terminal())
    fit(net(), train, test, epochs=1, lr=0.1, log=None)
    assert "epoch 1/1: batch 1/2" in sys.stderr.getvalue()
    monkeypatch.setattr(sys, "stderr", Terminal())
    fit(net(), train, test, epochs=1, lr=0.1, log=None, progress=False)
    assert sys.stderr.getvalue() == ""


def test_evaluate_runs_in_eval_mode_without_grad():
    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append((self.training, torch.is_grad_enabled()))
            return x.flatten(1)[:, :10]

    model = nn.Sequential(Probe(), nn.Linear(10, 10))
    model.train()
    evaluate(model, [(torch.rand(4, 1, 28, 28), torch.zeros(4, dtype=torch.long))], device="cpu")
    assert seen == [(False, False)] and model.training
