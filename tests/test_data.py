"""Real Fashion-MNIST, its integrity checks, the on-device loader and CIFAR-10's format."""

import gzip
import hashlib
import pathlib
import pickle

import numpy as np
import pytest
import torch

from alexnet_course import data, datafiles
from alexnet_course.data import DataError


@pytest.fixture(scope="module")
def fmnist_dir():
    return data.find_fashion_mnist()


def test_real_fashion_mnist_shapes_dtypes_labels():
    x_train, y_train = data.fashion_mnist_tensors(True)
    x_test, y_test = data.fashion_mnist_tensors(False)
    assert x_train.shape == (60000, 1, 28, 28) and x_test.shape == (10000, 1, 28, 28)
    assert x_train.dtype == torch.uint8 and y_train.dtype == torch.int64
    assert y_train.bincount().tolist() == [6000] * 10
    assert y_test.bincount().tolist() == [1000] * 10
    assert 0 < x_train.float().mean() / 255 < 0.5  # real images: mostly dark background


def _copy_set(src, dst):
    dst.mkdir()
    for name in data.FASHION_MNIST_MD5:
        (dst / f"{name}.gz").symlink_to(src / f"{name}.gz")


def test_corrupt_file_names_file_and_fix(fmnist_dir, tmp_path):
    root = tmp_path / "fm"
    _copy_set(fmnist_dir, root)
    target = root / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.open(target.resolve()).read())
    raw[100] = (raw[100] + 1) % 10  # one label changed
    target.unlink()
    target.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz is corrupt.*fetch the data again"):
        data.fashion_mnist_tensors(False, root=root)


def test_truncated_file_is_a_clear_error(fmnist_dir, tmp_path):
    root = tmp_path / "fm"
    _copy_set(fmnist_dir, root)
    target = root / "t10k-images-idx3-ubyte.gz"
    payload = target.resolve().read_bytes()
    target.unlink()
    target.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz is unreadable or truncated"):
        data.fashion_mnist_tensors(False, root=root)


def test_missing_data_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(datafiles, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    with pytest.raises(DataError, match=r"looked in: \$FASHION_MNIST_DIR \(unset\), .*debian, "
                                        r".*cache/alexnet_course/fashion-mnist\..*dataset-fashion-mnist"):
        data.find_fashion_mnist()
    with pytest.raises(DataError, match="dataset-fashion-mnist"):
        data.fashion_mnist_tensors(True, download=False)


def test_loader_matches_torchvision_resize_to_tensor():
    from PIL import Image
    from torchvision import transforms

    x, _ = data.fashion_mnist_tensors(False)
    x = x[:32]
    for size in (96, 224, 20):  # up-sampling as the chapters do, and one down-sampling
        tv = transforms.Compose([transforms.Resize(size), transforms.ToTensor()])
        expected = torch.stack([tv(Image.fromarray(img[0].numpy())) for img in x])
        loader = data.DeviceLoader(x, torch.zeros(32, dtype=torch.long), 32, resize=size,
                                   device="cpu")
        got, _ = next(iter(loader))
        assert got.shape == expected.shape == (32, 1, size, size)
        diff = (got - expected).abs()
        # PIL rounds its uint8 result; we keep floats: a rounding step apart, no more.
        assert diff.max() <= 1.01 / 255, (size, diff.max() * 255)
        assert diff.mean() < 0.3 / 255


def test_subsets_are_stratified_deterministic_and_disjoint():
    _, y = data.fashion_mnist_tensors(True)
    a = data.stratified_indices(y, 1000, seed=3)
    assert torch.equal(a, data.stratified_indices(y, 1000, seed=3))
    assert not torch.equal(a, data.stratified_indices(y, 1000, seed=4))
    assert y[a].bincount().tolist() == [100] * 10
    train, val, test = data.load_fashion_mnist(64, train_size=500, val_size=200, test_size=300,
                                               device="cpu")
    assert (train.num_examples, val.num_examples, test.num_examples) == (500, 200, 300)
    val_imgs = {bytes(img.numpy()) for img in val.images}
    assert not any(bytes(img.numpy()) in val_imgs for img in train.images)


def test_shuffle_is_seeded_by_epoch():
    tr, _ = data.load_fashion_mnist(50, train_size=200, test_size=100, device="cpu", seed=1)
    first = [y.clone() for _, y in tr]
    second = [y.clone() for _, y in tr]
    assert not all(torch.equal(a, b) for a, b in zip(first, second))
    tr.set_epoch(0)
    assert all(torch.equal(a, b) for a, b in zip(first, [y for _, y in tr]))


def test_normalize_uses_training_statistics():
    tr, _ = data.load_fashion_mnist(500, train_size=500, test_size=100, normalize=True,
                                    device="cpu")
    x, _ = next(iter(tr))
    assert abs(x.mean().item()) < 1e-4 and abs(x.std().item() - 1) < 1e-3


def test_bad_input_errors():
    with pytest.raises(DataError, match="batch_size=1000 does not fit a dataset of 500"):
        data.load_fashion_mnist(1000, train_size=500, test_size=100)
    with pytest.raises(DataError, match="only 60000 are available"):
        data.load_fashion_mnist(64, train_size=70000)
    with pytest.raises(ValueError, match="choose one of: fashion_mnist, cifar10"):
        data.load_dataset("imagenet", 64)


def _write_cifar(root, n_train=4, n_test=3, constant=False):
    """A tiny CIFAR-10 in the real on-disk format: pickled dicts of N×3072 uint8 rows.
    Returns the rows and labels of each file and the MD5 of each file (which cannot be
    the published one, hence ``md5=`` in the loaders)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    written, md5 = {}, {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        n = n_test if name == "test_batch" else n_train
        rows = np.full((n, 3072), 7, np.uint8) if constant else rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({"batch_label": name, "data": rows, "labels": labels}, f, protocol=2)
        written[name] = (rows, labels)
        md5[name] = hashlib.md5((folder / name).read_bytes()).hexdigest()
    return written, md5


def test_cifar10_reads_the_real_format(tmp_path):
    written, md5 = _write_cifar(tmp_path)
    x, y = data.cifar10_tensors(True, root=tmp_path, md5=md5)
    assert x.shape == (20, 3, 32, 32) and x.dtype == torch.uint8
    rows, labels = written["data_batch_2"]
    # row layout: 1024 red, 1024 green, 1024 blue values, each row-major 32×32
    assert torch.equal(x[4:8, 1].reshape(4, -1), torch.from_numpy(rows[:, 1024:2048]))
    assert y[4:8].tolist() == labels
    train, test = data.load_cifar10(4, resize=64, root=tmp_path, device="cpu", md5=md5)
    xb, _ = next(iter(train))
    assert xb.shape == (4, 3, 64, 64) and test.num_examples == 3
    # the batches folder itself is accepted as root too
    assert data.cifar10_tensors(False, root=tmp_path / "cifar-10-batches-py", md5=md5)[0].shape == (3, 3, 32, 32)


def test_cifar10_md5s_are_torchvisions():
    from torchvision.datasets import CIFAR10

    assert data.CIFAR10_MD5 == dict(CIFAR10.train_list + CIFAR10.test_list)


class _Touch:
    """Unpickling this creates a file: proof of whether a pickle was loaded."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (self.path,))


def test_cifar10_batches_are_checked_before_they_are_unpickled(tmp_path):
    _, md5 = _write_cifar(tmp_path)
    with pytest.raises(DataError, match=r"data_batch_1 is not the published CIFAR-10 batch: its MD5 is "
                                        rf"{md5['data_batch_1']}, expected c99cafc1.*was not unpickled"):
        data.cifar10_tensors(True, root=tmp_path)
    with pytest.raises(DataError, match=r"data_batch_1 is not the published CIFAR-10 batch"):
        data.load_cifar10(2, root=tmp_path, device="cpu")
    # A tampered file: its payload would run when unpickled, and must not.
    marker = tmp_path / "unpickled"
    batch = tmp_path / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(pickle.dumps(_Touch(marker)))
    with pytest.raises(DataError, match=r"test_batch is not the published CIFAR-10 batch"):
        data.cifar10_tensors(False, root=tmp_path, md5={**md5, "test_batch": data.CIFAR10_MD5["test_batch"]})
    assert not marker.exists()
    with pytest.raises(DataError, match=r"md5= gives no MD5 for test_batch"):
        data.cifar10_tensors(False, root=tmp_path, md5={"data_batch_1": md5["data_batch_1"]})


def test_cifar10_default_root_is_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    with pytest.raises(DataError, match=rf"{tmp_path}/xdg/alexnet_course/cifar-10-batches-py lacks data_batch_1"):
        data.cifar10_tensors(True)
    _, md5 = _write_cifar(tmp_path / "xdg" / "alexnet_course")
    assert data.cifar10_tensors(True, md5=md5)[0].shape == (20, 3, 32, 32)


def test_cifar10_unreadable_batch_says_permission_denied(tmp_path, monkeypatch):
    _, md5 = _write_cifar(tmp_path)
    real_open = pathlib.Path.open

    def denied(self, *args, **kwargs):
        if self.name == "data_batch_3":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", denied)
    with pytest.raises(DataError, match=r"permission denied reading .*data_batch_3"):
        data.cifar10_tensors(True, root=tmp_path, md5=md5)


def test_cifar10_missing_is_explained(tmp_path):
    with pytest.raises(DataError, match="No copy ships with this course"):
        data.cifar10_tensors(True, root=tmp_path)
