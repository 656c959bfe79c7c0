"""fit(checkpoint=): plain-type checkpoints, resumed only into the same run, and paths that
cannot be written reported before the first epoch."""

import errno
import os

import pytest
import torch
from torch import nn

from alexnet_course.checkpoint import CheckpointError
from alexnet_course.data import load_fashion_mnist
from alexnet_course.train import fit, set_seed


def small_lenet() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 10))


@pytest.fixture(scope="module")
def tiny():
    return load_fashion_mnist(64, train_size=640, test_size=320, device="cpu")


ARGS = dict(epochs=1, lr=0.05, momentum=0.9, scheduler="step",
            scheduler_kwargs={"step_size": 1, "gamma": 0.5}, log=None)


@pytest.fixture(scope="module")
def finished(tiny, tmp_path_factory):
    """A checkpoint of a finished one-epoch run."""
    path = tmp_path_factory.mktemp("ckpt") / "run.pt"
    set_seed(0)
    fit(small_lenet(), *tiny, checkpoint=path, **ARGS)
    return path


def _curves(h):
    return [(r["train_loss"], r["train_acc"], r["test_acc"], r["lr"]) for r in h.records]


def test_checkpoint_is_plain_data(finished, monkeypatch):
    state = torch.load(finished, weights_only=True)  # before: a pickle with torch's own types
    assert state["settings"]["lr"] == 0.05 and state["settings"]["scheduler"] == "step"
    assert state["settings"]["train_examples"] == 640 and state["settings"]["batch_size"] == 64
    assert state["model"]["class"] == "Sequential"
    assert state["model"]["shapes"]["0.weight"] == [6, 1, 5, 5]
    assert isinstance(state["torch"], str) and isinstance(state["rng"]["torch"], torch.Tensor)
    calls = []
    real = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **kw: calls.append(kw) or real(*a, **kw))
    fit(small_lenet(), *load_fashion_mnist(64, train_size=640, test_size=320, device="cpu"),
        checkpoint=finished, **ARGS)
    assert calls and all(kw.get("weights_only") is True for kw in calls)


@pytest.mark.parametrize("change, message", [
    ({"lr": 0.1}, "lr: 0.05 → 0.1"),
    ({"optimizer": "adam", "momentum": 0.0}, "optimizer: 'sgd' → 'adam'; momentum: 0.9 → 0.0"),
    ({"scheduler": "plateau", "scheduler_kwargs": {}},
     "scheduler: 'step' → 'plateau'; scheduler_kwargs: {'step_size': 1, 'gamma': 0.5} → "
     "{'factor': 0.1, 'patience': 1}"),
    ({"warmup_steps": 5}, "warmup_steps: 0 → 5"),
    ({"epochs": 0}, None),  # refused by the argument check, before the checkpoint is read
])
def test_resuming_another_run_is_refused(tiny, finished, change, message):
    if message is None:
        with pytest.raises(ValueError, match="epochs must be"):
            fit(small_lenet(), *tiny, checkpoint=finished, **{**ARGS, **change})
        return
    with pytest.raises(ValueError, match="was written by a different run") as err:
        fit(small_lenet(), *tiny, checkpoint=finished, **{**ARGS, **change})
    text = str(err.value)
    assert message in text
    assert f"Delete {finished} to start afresh, or pass another checkpoint= path" in text


def test_resuming_with_other_data_or_model_is_refused(finished):
    other_data = load_fashion_mnist(64, train_size=320, test_size=320, device="cpu")
    with pytest.raises(ValueError, match="train_examples: 640 → 320"):
        fit(small_lenet(), *other_data, checkpoint=finished, **ARGS)
    other_batch = load_fashion_mnist(32, train_size=640, test_size=320, device="cpu")
    with pytest.raises(ValueError, match="batch_size: 64 → 32"):
        fit(small_lenet(), *other_batch, checkpoint=finished, **ARGS)
    tiny = load_fashion_mnist(64, train_size=640, test_size=320, device="cpu")
    wider = small_lenet()
    wider[7] = nn.Linear(400, 64)
    wider[9] = nn.Linear(64, 10)
    with pytest.raises(ValueError, match=r"state-dict shapes: 7.weight \[120, 400\] → \[64, 400\], "
                                         r"7.bias \[120\] → \[64\], 9.weight \[10, 120\] → "
                                         r"\[10, 64\]"):
        fit(wider, *tiny, checkpoint=finished, **ARGS)

    class LeNet(nn.Sequential):
        pass

    with pytest.raises(ValueError, match="model: Sequential → LeNet"):
        fit(LeNet(*small_lenet()), *tiny, checkpoint=finished, **ARGS)


def test_resuming_with_another_subset_or_dropout_is_refused(tiny, finished, tmp_path):
    # neither changes a setting or a state-dict shape: the checkpoint records the data and layers
    other_subset = load_fashion_mnist(64, train_size=640, test_size=320, device="cpu", seed=1)
    with pytest.raises(ValueError, match=r"training set \(another subset\?\)"):
        fit(small_lenet(), *other_subset, checkpoint=finished, **ARGS)

    def with_dropout(p: float) -> nn.Sequential:
        return nn.Sequential(*small_lenet()[:8], nn.Dropout(p), *small_lenet()[8:])

    path = tmp_path / "dropout.pt"
    fit(with_dropout(0.5), *tiny, checkpoint=path, **ARGS)
    with pytest.raises(ValueError, match=r"layers: \(8\): Dropout\(p=0.5, inplace=False\) → "
                                         r"\(8\): Dropout\(p=0.0"):
        fit(with_dropout(0.0), *tiny, checkpoint=path, **ARGS)
    assert len(fit(with_dropout(0.5), *tiny, checkpoint=path, **ARGS).records) == 1  # the same run


def test_finished_run_continues_to_more_epochs_or_returns(tiny, tmp_path):
    path = tmp_path / "run.pt"
    set_seed(0)
    once = fit(small_lenet(), *tiny, checkpoint=path, **ARGS)
    set_seed(0)
    whole = fit(small_lenet(), *tiny, **{**ARGS, "epochs": 3})
    set_seed(123)  # the checkpoint restores the random state of the run
    longer = fit(small_lenet(), *tiny, checkpoint=path, **{**ARGS, "epochs": 3})
    assert _curves(longer) == _curves(whole) and longer.records[0] == once.records[0]
    lines, ended = [], []
    again = fit(small_lenet(), *tiny, checkpoint=path, on_epoch_end=lambda *a: ended.append(a),
                **{**ARGS, "epochs": 3, "log": lines.append})
    assert ended == [] and again.records == longer.records
    assert lines == [f"{path} already holds all 3 epochs of this run: returning its history "
                     f"without training. Delete {path} to start afresh, or pass another "
                     f"checkpoint= path."]
    with pytest.raises(ValueError, match=r"epochs: 3 → 2 \(epochs may only grow\)"):
        fit(small_lenet(), *tiny, checkpoint=path, **{**ARGS, "epochs": 2})


def test_cosine_run_cannot_grow(tiny, tmp_path):
    path = tmp_path / "run.pt"
    args = {**ARGS, "scheduler": "cosine", "scheduler_kwargs": None}
    fit(small_lenet(), *tiny, checkpoint=path, **args)
    with pytest.raises(ValueError, match=r"epochs: 1 → 2 \(cosine decays to zero over all the epochs"):
        fit(small_lenet(), *tiny, checkpoint=path, **{**args, "epochs": 2})


class NeverIterated:
    """A loader that fails the test if fit reads a batch from it."""

    batch_size, num_examples = 64, 128

    def __len__(self):
        return 2

    def __iter__(self):
        raise AssertionError("fit trained before it checked the checkpoint path")


def test_unwritable_paths_fail_before_the_first_epoch(tmp_path, monkeypatch):
    def run(path):
        fit(small_lenet(), NeverIterated(), [], checkpoint=path, **ARGS)

    with pytest.raises(CheckpointError, match=f"the checkpoint path {tmp_path} is a directory"):
        run(tmp_path)
    (tmp_path / "notes.txt").write_text("a file")
    with pytest.raises(CheckpointError, match=f"{tmp_path / 'notes.txt'} is a file, not a folder"):
        run(tmp_path / "notes.txt" / "run.pt")
    # tests run as root, for whom chmod does not make a folder read-only: refuse the write
    real_open = os.open

    def read_only(path, *args, **kwargs):
        if str(path).startswith(str(tmp_path / "ro")):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(CheckpointError, match=r"cannot write the checkpoint .*ro/run.pt: "
                                              r"Read-only file system .*writable folder") as err:
        run(tmp_path / "ro" / "run.pt")
    assert err.value.errno == errno.EROFS


def test_disk_full_names_the_device_and_keeps_the_last_checkpoint(tiny, tmp_path, monkeypatch):
    path = tmp_path / "run.pt"
    real_save, calls = torch.save, []

    def save_then_fill_disk(obj, f, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            return real_save(obj, f, *args, **kwargs)
        if isinstance(f, (str, os.PathLike)):  # how fit saved before: to the temporary path
            with open(f, "wb") as out:
                out.write(b"half a checkpoint")
        else:
            f.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", save_then_fill_disk)
    with pytest.raises(CheckpointError, match=f"no space left on /.* while saving the checkpoint "
                                              f"{path} ") as err:
        fit(small_lenet(), *tiny, checkpoint=path, **{**ARGS, "epochs": 2})
    assert err.value.errno == errno.ENOSPC
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]  # the temporary file is gone
    monkeypatch.setattr(torch, "save", real_save)
    assert len(torch.load(path, weights_only=True)["history"]["records"]) == 1  # epoch 1 intact


def test_damaged_checkpoint_is_reported(tiny, tmp_path):
    path = tmp_path / "run.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=f"cannot read the checkpoint {path}.*damaged.*"
                                              f"Delete {path} to start afresh"):
        fit(small_lenet(), *tiny, checkpoint=path, **ARGS)


@pytest.mark.parametrize("args", [
    dict(optimizer="adam", lr=1e-3, scheduler="plateau", scheduler_kwargs={"patience": 0},
         warmup_steps=15),  # the warm-up spans the interruption
    dict(lr=0.05, momentum=0.9, weight_decay=5e-4, scheduler="cosine", label_smoothing=0.1),
])
def test_interrupted_run_resumes_exactly(tiny, tmp_path, args):
    train, test = tiny
    args = {**args, "epochs": 3, "log": None}
    set_seed(2)
    whole = fit(small_lenet(), train, test, val_iter=test, **args)

    def stop_in_epoch_two(epoch, record):
        if epoch == 2:
            raise KeyboardInterrupt

    path = tmp_path / "run.pt"
    set_seed(2)
    with pytest.raises(KeyboardInterrupt):
        fit(small_lenet(), train, test, val_iter=test, checkpoint=path,
            on_epoch_end=stop_in_epoch_two, **args)
    resumed = fit(small_lenet(), train, test, val_iter=test, checkpoint=path, **args)
    assert _curves(resumed) == _curves(whole)


def test_ema_run_resumes_to_the_uninterrupted_numbers(tiny, tmp_path):
    """The EMA of the weights is saved with the checkpoint: a run killed in epoch 2 and
    resumed evaluates the same averaged network as one that never stopped."""
    args = {**ARGS, "epochs": 2, "ema": 0.9, "scheduler": "linear", "scheduler_kwargs": None,
            "warmup_steps": 2}
    torch.manual_seed(0)
    full = fit(small_lenet(), *tiny, **args)
    path = tmp_path / "ema.pt"
    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        fit(small_lenet(), *tiny, checkpoint=path, on_step=_killed_in_epoch_2, **args)
    resumed = fit(small_lenet(), *tiny, checkpoint=path, **args)
    assert [r["test_acc"] for r in resumed.records] == [r["test_acc"] for r in full.records]


def _killed_in_epoch_2(step, loss, net):
    if step == 12:  # 10 batches an epoch
        raise KeyboardInterrupt


def test_torch_write_error_names_the_path_and_free_space(tiny, tmp_path, monkeypatch):
    """torch's zip writer reports a full disk as a RuntimeError from inline_container.cc,
    not an OSError: it is the course's CheckpointError too, and epoch 1 stays intact."""
    path = tmp_path / "run.pt"
    real_save, calls = torch.save, []

    def save_then_fail(obj, f, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            return real_save(obj, f, *args, **kwargs)
        f.write(b"half a checkpoint")
        raise RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 64 vs 0")

    monkeypatch.setattr(torch, "save", save_then_fail)
    with pytest.raises(CheckpointError, match=rf"could not write the checkpoint {path}: .* MiB free "
                                              rf"on /.*Free some space") as err:
        fit(small_lenet(), *tiny, checkpoint=path, **{**ARGS, "epochs": 2})
    assert isinstance(err.value.__cause__, RuntimeError)
    assert "inline_container" in str(err.value)  # torch's own words are kept, after ours
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]
    monkeypatch.setattr(torch, "save", real_save)
    assert len(torch.load(path, weights_only=True)["history"]["records"]) == 1  # epoch 1 intact
