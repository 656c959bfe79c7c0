"""The loaders' arguments are checked when they are called, before any data is read, and
bad ones are refused with the valid range."""

import pytest
import torch

from alexnet_course import data
from alexnet_course.data import DataError

BAD_INTS = [0, -1, 2.5, "2", True]


@pytest.fixture
def no_data(monkeypatch, tmp_path):
    """Reading data fails loudly: an argument error must come first."""
    def fail(*args, **kwargs):
        raise AssertionError("data was read before the arguments were checked")

    monkeypatch.setattr(data, "fashion_mnist_tensors", fail)
    monkeypatch.setattr(data, "cifar10_tensors", fail)


LOADERS = {
    "load_fashion_mnist": lambda **kw: data.load_fashion_mnist(**{"batch_size": 8, **kw}),
    "load_cifar10": lambda **kw: data.load_cifar10(**{"batch_size": 8, **kw}),
    "load_dataset": lambda **kw: data.load_dataset("fashion_mnist", **{"batch_size": 8, **kw}),
}


@pytest.mark.parametrize("loader", sorted(LOADERS))
@pytest.mark.parametrize("arg", ["batch_size", "resize", "train_size", "test_size", "val_size"])
def test_bad_sizes_are_refused_with_the_valid_range(loader, arg, no_data):
    valid = {"batch_size": "an integer >= 1", "resize": r"None \(keep the images' size\) or an image side >= 1"}
    expected = valid.get(arg, r"None \(the whole split.*\) or a number of examples >= 1")
    for bad in BAD_INTS:
        with pytest.raises(data.DataArgumentError, match=rf"^{arg} must be {expected}, got {bad!r} "):
            LOADERS[loader](**{arg: bad})


@pytest.mark.parametrize("arg", ["batch_size", "resize"])
def test_device_loader_refuses_bad_sizes(arg):
    x, y = torch.zeros(10, 1, 4, 4, dtype=torch.uint8), torch.zeros(10, dtype=torch.long)
    for bad in BAD_INTS:
        kwargs = {"batch_size": 2, arg: bad}
        with pytest.raises(DataError, match=rf"^{arg} must be .*got {bad!r} "):
            data.DeviceLoader(x, y, device="cpu", **kwargs)
    with pytest.raises(DataError, match="batch_size=11 does not fit a dataset of 10 examples; choose a batch "
                                        "size between 1 and 10"):
        data.DeviceLoader(x, y, 11, device="cpu")


@pytest.mark.parametrize("normalize,message", [
    (((0.5,), (0.0,)), r"every std must be a finite number > 0 .*got std=\(0\.0,\)"),
    (((0.5, 0.5), (0.2, 0.0)), r"every std must be a finite number > 0"),
    (((0.5,), (float("nan"),)), r"every std must be a finite number > 0"),
    (((0.5, 0.5), (0.2,)), r"two sequences of per-channel numbers.*got 2 means and 1 stds"),
    (("a", "b"), r"two sequences of per-channel numbers"),
    ("yes", r"normalize must be False, True .* or a \(mean, std\) pair"),
    ((0.5, 0.2), r"two sequences of per-channel numbers"),
])
def test_bad_normalize_is_refused(normalize, message, no_data):
    for loader in LOADERS.values():
        with pytest.raises(data.DataArgumentError, match=message):
            loader(normalize=normalize)


def test_device_loader_refuses_a_zero_std_and_a_mean_without_std():
    x, y = torch.zeros(10, 3, 4, 4, dtype=torch.uint8), torch.zeros(10, dtype=torch.long)
    with pytest.raises(DataError, match=r"every std must be a finite number > 0"):
        data.DeviceLoader(x, y, 2, mean=(0.5,), std=(0.0,), device="cpu")
    with pytest.raises(DataError, match=r"1 or 3 values each"):
        data.DeviceLoader(x, y, 2, mean=(0.5, 0.5), std=(0.2, 0.2), device="cpu")
    with pytest.raises(DataError, match="pass both mean and std, or neither"):
        data.DeviceLoader(x, y, 2, mean=(0.5,), device="cpu")
    ok = data.DeviceLoader(x, y, 2, mean=(0.5,), std=(0.25,), device="cpu")
    assert torch.allclose(next(iter(ok))[0], torch.full((2, 3, 4, 4), -2.0))


def test_normalize_true_refuses_constant_images(tmp_path):
    from test_data import _write_cifar  # noqa: PLC0415 (the tiny CIFAR-10 writer)

    _, md5 = _write_cifar(tmp_path, constant=True)
    with pytest.raises(DataError, match=r"normalize=True: the 20 training images have std \(0\.0, 0\.0, 0\.0\) "
                                        r"per channel, so they cannot be standardised"):
        data.load_cifar10(4, root=tmp_path, normalize=True, device="cpu", md5=md5)


def test_other_arguments(no_data):
    with pytest.raises(data.DataArgumentError, match="transform must be None or a callable"):
        data.load_fashion_mnist(8, transform="flip")
    with pytest.raises(data.DataArgumentError, match="seed must be an integer"):
        data.load_fashion_mnist(8, seed="0")
    with pytest.raises(data.DataArgumentError, match=r"size must be a number of examples >= 1, got 2\.5"):
        data.stratified_indices(torch.zeros(10, dtype=torch.long), 2.5)


@pytest.mark.parametrize("name", ["imagenet", None, 3])
def test_load_dataset_unknown_name_lists_the_valid_ones(name, no_data):
    with pytest.raises(ValueError, match=rf"unknown dataset {name!r}; choose one of: fashion_mnist, cifar10"):
        data.load_dataset(name, 64)


def test_argument_errors_are_data_errors_and_value_errors():
    assert issubclass(data.DataArgumentError, DataError) and issubclass(data.DataArgumentError, ValueError)
