"""What enters training, refused with the course's own words: a device this machine lacks,
labels outside the network's classes, and a loader with nothing to evaluate.

Tiny synthetic tensors (8×8 images, a linear network): no dataset is read.
"""

import pytest
import torch
from torch import nn

from alexnet_course import run as store_cli
from alexnet_course.data import DataArgumentError, DeviceLoader
from alexnet_course.devices import DeviceError, available_devices, check_device
from alexnet_course.train import evaluate, fit


def linear() -> nn.Sequential:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))


def loader(labels: torch.Tensor, batch: int = 5) -> DeviceLoader:
    images = torch.randint(0, 256, (len(labels), 1, 8, 8), dtype=torch.uint8)
    return DeviceLoader(images, labels, batch, device="cpu")


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    mps = getattr(torch.backends, "mps", None)
    if mps is not None:
        monkeypatch.setattr(mps, "is_available", lambda: False)


def test_an_unavailable_device_is_named_with_the_available_ones(no_gpu, capsys):
    assert available_devices() == ["cpu"]
    assert check_device("cpu") == torch.device("cpu")
    for asked in ("cuda", "cuda:1", "mps"):
        with pytest.raises(DeviceError, match=rf"device '{asked}' is not available here.*"
                                              rf"Available: cpu\."):
            check_device(asked)
    with pytest.raises(DeviceError, match=r"unknown device 'gpu'.*Available: cpu"):
        check_device("gpu")
    labels = torch.arange(20) % 10
    with pytest.raises(DeviceError, match="device 'cuda' is not available here"):
        fit(linear(), loader(labels), None, epochs=1, lr=0.1, device="cuda", log=None)
    with pytest.raises(DeviceError, match="device 'cuda' is not available here"):
        DeviceLoader(torch.zeros(4, 1, 8, 8, dtype=torch.uint8), labels[:4], 2, device="cuda")
    with pytest.raises(SystemExit):
        store_cli.main(["01", "--status", "--device", "cuda"])
    assert "device 'cuda' is not available here" in capsys.readouterr().err


def test_labels_outside_the_classes_are_named_before_the_loss():
    high = torch.arange(20) % 12  # 10 and 11 have no output
    with pytest.raises(ValueError, match=r"the training labels run from 0 to 11, but the network "
                                         r"has 10 outputs: labels must lie in \[0, 10\)"):
        fit(linear(), loader(high), None, epochs=1, lr=0.1, log=None)
    with pytest.raises(ValueError, match=r"training labels run from -1 to 8"):
        fit(linear(), loader(torch.arange(20) % 10 - 1), None, epochs=1, lr=0.1, log=None)
    # a plain list of batches has no label tensor: its first batch is checked
    batches = [(torch.rand(4, 1, 8, 8), torch.tensor([0, 3, 10, 2]))]
    with pytest.raises(ValueError, match=r"training labels run from 0 to 10"):
        fit(linear(), batches, None, epochs=1, lr=0.1, log=None)
    with pytest.raises(ValueError, match=r"the evaluated labels run from 0 to 11"):
        evaluate(linear(), loader(high))


def test_an_empty_loader_is_not_an_accuracy_of_zero():
    with pytest.raises(ValueError, match="the evaluation loader yields no batches"):
        evaluate(linear(), [])
    with pytest.raises(DataArgumentError, match="no images"):
        DeviceLoader(torch.zeros(0, 1, 8, 8, dtype=torch.uint8), torch.zeros(0, dtype=torch.long),
                     4, device="cpu")

    class Empty:
        def __len__(self):
            return 0

        def __iter__(self):
            return iter(())

    labels = torch.arange(20) % 10
    for where in ("test_iter", "val_iter"):  # refused before the first epoch trains
        args = {"test_iter": None, where: Empty()}
        with pytest.raises(ValueError, match=f"the {where.split('_')[0]} loader yields no batches"):
            fit(linear(), loader(labels), epochs=1, lr=0.1, log=None, **args)
