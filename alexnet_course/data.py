"""Real data for the course: Fashion-MNIST and CIFAR-10, batched on the training device.

Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017) is read from the four original IDX files.
They are looked for, in order, in: an explicit ``root`` argument, ``$FASHION_MNIST_DIR``,
``<repo>/data/fashion-mnist``, ``/usr/share/datasets/fashion-mnist`` (Debian's package
``dataset-fashion-mnist``) and torchvision's layout ``<root>/FashionMNIST/raw``; failing
that, torchvision downloads them into ``<repo>/data`` when the network allows.

Each file is checked against the MD5 of its *decompressed* payload. The published MD5s
are those of the ``.gz`` files, but Debian recompressed them, so the gzip bytes differ
while the images inside are identical; the payload MD5s match torchvision's historical
``raw_data`` list.

The loaders keep the whole uint8 dataset as one tensor on the device and cut batches
there (no DataLoader workers, no PIL): conversion to float, resizing with
``F.interpolate`` and augmentation all run on the device, batched.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import pickle
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .devices import default_device

REPO_ROOT = Path(__file__).resolve().parent.parent
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")

FASHION_MNIST_CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat",
                         "sandal", "shirt", "sneaker", "bag", "ankle boot")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")

# MD5 of each decompressed IDX file (identical for the upstream and Debian copies).
FASHION_MNIST_MD5 = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}
_SPLIT_FILES = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}

HOW_TO_GET_DATA = (
    "Ways to get Fashion-MNIST: `make data` (installs Debian's package dataset-fashion-mnist "
    "when run as root with apt, otherwise downloads through torchvision); "
    "`sudo apt-get install dataset-fashion-mnist`; or put the four IDX .gz files in "
    "<repo>/data/fashion-mnist or a folder named by $FASHION_MNIST_DIR."
)


class DataError(RuntimeError):
    """Data that is missing, corrupt or asked for in a way that cannot work."""


# --------------------------------------------------------------------------- files
def _candidate_dirs(root: str | os.PathLike | None) -> list[Path]:
    dirs: list[Path] = []
    if root is not None:
        dirs += [Path(root), Path(root) / "FashionMNIST" / "raw"]
    if os.environ.get("FASHION_MNIST_DIR"):
        dirs.append(Path(os.environ["FASHION_MNIST_DIR"]))
    dirs += [REPO_ROOT / "data" / "fashion-mnist", DEBIAN_DIR,
             REPO_ROOT / "data" / "FashionMNIST" / "raw"]
    return dirs


def _file_in(directory: Path, name: str) -> Path | None:
    for candidate in (directory / (name + ".gz"), directory / name):
        if candidate.is_file():
            return candidate
    return None


def find_fashion_mnist(root: str | os.PathLike | None = None) -> Path:
    """Return the first folder that holds all four Fashion-MNIST files.

    Raises ``DataError`` listing the places searched and the ways to get the data.
    """
    searched = _candidate_dirs(root)
    for directory in searched:
        if all(_file_in(directory, name) for name in FASHION_MNIST_MD5):
            return directory
    places = ", ".join(str(d) for d in searched)
    raise DataError(f"Fashion-MNIST not found; looked in: {places}. {HOW_TO_GET_DATA}")


def read_idx(path: str | os.PathLike, expected_md5: str | None = None) -> np.ndarray:
    """Read one IDX file (gzip-compressed or not) into a numpy array, checking its MD5."""
    path = Path(path)
    try:
        raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as err:  # truncated or not gzip at all
        raise DataError(f"{path} is unreadable or truncated ({err}). Delete it and fetch the "
                        f"data again. {HOW_TO_GET_DATA}") from err
    if expected_md5 is not None and hashlib.md5(raw).hexdigest() != expected_md5:
        raise DataError(f"{path} is corrupt: the MD5 of its contents is "
                        f"{hashlib.md5(raw).hexdigest()}, expected {expected_md5}. Delete it "
                        f"and fetch the data again. {HOW_TO_GET_DATA}")
    if len(raw) < 8 or raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise DataError(f"{path} is not an IDX file of unsigned bytes.")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataError(f"{path} holds {data.size} values but its header promises "
                        f"{int(np.prod(dims))}: the file is truncated. {HOW_TO_GET_DATA}")
    return data.reshape(dims)


@lru_cache(maxsize=4)
def _fashion_mnist_cached(train: bool, directory: str) -> tuple[Tensor, Tensor]:
    img_name, lbl_name = _SPLIT_FILES[train]
    images = read_idx(_file_in(Path(directory), img_name), FASHION_MNIST_MD5[img_name])
    labels = read_idx(_file_in(Path(directory), lbl_name), FASHION_MNIST_MD5[lbl_name])
    return (torch.from_numpy(images.copy()).unsqueeze(1),  # N×1×28×28 uint8
            torch.from_numpy(labels.astype(np.int64)))


def fashion_mnist_tensors(train: bool = True, root: str | os.PathLike | None = None,
                          download: bool | None = None) -> tuple[Tensor, Tensor]:
    """All of one split as ``(images uint8 N×1×28×28, labels int64 N)`` on the CPU."""
    try:
        directory = find_fashion_mnist(root)
    except DataError:
        if download is False:
            raise
        directory = fetch_fashion_mnist()
    return _fashion_mnist_cached(train, str(directory))


def fetch_fashion_mnist(dest: str | os.PathLike | None = None) -> Path:
    """Find Fashion-MNIST, or download it with torchvision into ``<repo>/data``."""
    try:
        return find_fashion_mnist(dest)
    except DataError as missing:
        import torchvision  # imported here: only a download needs it

        root = Path(dest) if dest is not None else REPO_ROOT / "data"
        try:
            for train in (True, False):
                torchvision.datasets.FashionMNIST(str(root), train=train, download=True)
        except Exception as err:  # offline, proxy, disk full ...
            raise DataError(f"{missing} Downloading with torchvision into {root} failed "
                            f"too: {err}") from err
        return find_fashion_mnist(root)


# --------------------------------------------------------------------------- CIFAR-10
_CIFAR_DIR = "cifar-10-batches-py"


def cifar10_tensors(train: bool = True, root: str | os.PathLike | None = None,
                    download: bool = False) -> tuple[Tensor, Tensor]:
    """CIFAR-10 from torchvision's on-disk format (``<root>/cifar-10-batches-py``).

    Returns ``(images uint8 N×3×32×32, labels int64 N)``. With ``download=True``
    torchvision fetches (and MD5-checks) the archive first.
    """
    root = Path(root) if root is not None else REPO_ROOT / "data"
    folder = root / _CIFAR_DIR
    if download and not folder.is_dir():
        import torchvision

        torchvision.datasets.CIFAR10(str(root), train=train, download=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise DataError(f"CIFAR-10 not found: {folder} lacks {', '.join(missing)}. No copy ships "
                        f"with this course; pass download=True on a machine with internet "
                        f"access, or root= a folder holding cifar-10-batches-py.")
    images, labels = [], []
    for name in names:
        with open(folder / name, "rb") as f:
            entry = pickle.load(f, encoding="latin1")
        images.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.extend(entry["labels"] if "labels" in entry else entry["fine_labels"])
    return torch.from_numpy(np.concatenate(images)), torch.tensor(labels, dtype=torch.int64)


# --------------------------------------------------------------------------- subsets
def stratified_indices(labels: Tensor, size: int, *, seed: int = 0,
                       exclude: Tensor | None = None) -> Tensor:
    """``size`` indices whose class proportions match ``labels``; deterministic in ``seed``."""
    n = labels.numel()
    pool = torch.ones(n, dtype=torch.bool)
    if exclude is not None:
        pool[exclude] = False
    available = int(pool.sum())
    if not 0 < size <= available:
        raise DataError(f"asked for a subset of {size} examples, but only {available} are "
                        f"available; use a size between 1 and {available}.")
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=g)
    order = order[pool[order]]
    classes, counts = torch.unique(labels[order], return_counts=True)
    # Largest-remainder rounding so the per-class quotas add up to `size` exactly.
    quota = counts.double() * size / available
    take = quota.floor().long()
    rest = size - int(take.sum())
    take[torch.argsort(quota - take, descending=True)[:rest]] += 1
    chosen = [order[labels[order] == c][:k] for c, k in zip(classes.tolist(), take.tolist())]
    return torch.sort(torch.cat(chosen)).values


# --------------------------------------------------------------------------- loader
class DeviceLoader:
    """Batches from a uint8 tensor that lives on the device.

    Each batch is converted to float in [0, 1], resized with ``F.interpolate``
    (bilinear; antialiased when shrinking), passed through ``transform`` (augmentation,
    training only) and normalised. Shuffling is seeded by ``seed`` and the epoch, so
    epoch ``e`` sees the same order in a resumed run as in an uninterrupted one.

    Compared with torchvision's ``Resize`` + ``ToTensor`` on PIL images: PIL computes
    the bilinear resize on uint8 and rounds the result to whole grey levels, while we
    interpolate in float, so pixels differ by at most about 1/255 (tested).
    """

    def __init__(self, images: Tensor, labels: Tensor, batch_size: int, *,
                 shuffle: bool = False, resize: int | None = None,
                 mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None,
                 transform: Callable[[Tensor], Tensor] | None = None,
                 device: str | torch.device | None = None, seed: int = 0,
                 drop_last: bool = False) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise DataError(f"images must be a uint8 tensor N×C×H×W, got {images.dtype} "
                            f"with shape {tuple(images.shape)}")
        if batch_size < 1 or batch_size > len(images):
            raise DataError(f"batch_size={batch_size} does not fit a dataset of {len(images)} "
                            f"examples; choose a batch size between 1 and {len(images)}.")
        self.device = torch.device(device) if device is not None else default_device()
        self.images = images.to(self.device)
        self.labels = labels.to(self.device)
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.resize, self.transform, self.seed = resize, transform, seed
        shape = (1, -1, 1, 1)
        self.mean = None if mean is None else torch.tensor(mean, device=self.device).view(shape)
        self.std = None if std is None else torch.tensor(std, device=self.device).view(shape)
        self.epoch = 0

    @property
    def num_examples(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = self.images.shape[1:]
        return (c, self.resize, self.resize) if self.resize else (c, h, w)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n, b = self.num_examples, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def prepare(self, x: Tensor) -> Tensor:
        """uint8 batch → float batch, resized, (augmented,) normalised."""
        x = x.float().div_(255)
        if self.resize and x.shape[-1] != self.resize:
            shrink = self.resize < x.shape[-1]
            x = F.interpolate(x, size=(self.resize, self.resize), mode="bilinear",
                              align_corners=False, antialias=shrink)
        if self.transform is not None:
            x = self.transform(x)
        if self.mean is not None:
            x = (x - self.mean) / self.std
        return x

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        n = self.num_examples
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(n, generator=g).to(self.device)
        else:
            order = torch.arange(n, device=self.device)
        self.epoch += 1
        stop = n - n % self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            idx = order[start:start + self.batch_size]
            yield self.prepare(self.images[idx]), self.labels[idx]


def _split_loaders(train: tuple[Tensor, Tensor], test: tuple[Tensor, Tensor], batch_size: int,
                   *, resize: int | None, train_size: int | None, test_size: int | None,
                   val_size: int | None, device, normalize, transform, seed: int):
    (x_train, y_train), (x_test, y_test) = train, test
    val_idx = None
    if val_size:
        val_idx = stratified_indices(y_train, val_size, seed=seed + 1)
    if train_size is not None or val_idx is not None:
        size = train_size if train_size is not None else len(y_train) - len(val_idx)
        train_idx = stratified_indices(y_train, size, seed=seed, exclude=val_idx)
    else:
        train_idx = None
    if test_size is not None:
        test_idx = stratified_indices(y_test, test_size, seed=seed)
        x_test, y_test = x_test[test_idx], y_test[test_idx]
    xt, yt = (x_train, y_train) if train_idx is None else (x_train[train_idx], y_train[train_idx])

    if normalize is True:  # statistics of the training subset, per channel
        pixels = xt.float().div(255).transpose(0, 1).flatten(1)
        mean, std = tuple(pixels.mean(1).tolist()), tuple(pixels.std(1).tolist())
    elif normalize:
        mean, std = normalize
    else:
        mean = std = None
    common = dict(resize=resize, mean=mean, std=std, device=device, seed=seed)
    loaders = [DeviceLoader(xt, yt, batch_size, shuffle=True, transform=transform, **common)]
    if val_idx is not None:
        loaders.append(DeviceLoader(x_train[val_idx], y_train[val_idx],
                                    min(batch_size, len(val_idx)), **common))
    loaders.append(DeviceLoader(x_test, y_test, min(batch_size, len(y_test)), **common))
    return tuple(loaders)


def load_fashion_mnist(batch_size: int, resize: int | None = None, *,
                       train_size: int | None = None, test_size: int | None = None,
                       val_size: int | None = None, device: str | torch.device | None = None,
                       root: str | os.PathLike | None = None,
                       normalize: bool | tuple[tuple[float, ...], tuple[float, ...]] = False,
                       transform: Callable[[Tensor], Tensor] | None = None, seed: int = 0,
                       download: bool | None = None) -> tuple[DeviceLoader, ...]:
    """Fashion-MNIST as ``(train_iter, test_iter)``, or ``(train, val, test)`` with ``val_size``.

    ``train_size``/``test_size`` take deterministic stratified subsets (seeded by ``seed``);
    ``val_size`` holds out that many training images, disjoint from the training subset.
    ``normalize=True`` standardises with the training subset's mean and std; a
    ``(mean, std)`` pair uses those. ``transform`` augments training batches on the device.
    """
    train = fashion_mnist_tensors(True, root, download)
    test = fashion_mnist_tensors(False, root, download)
    return _split_loaders(train, test, batch_size, resize=resize, train_size=train_size,
                          test_size=test_size, val_size=val_size, device=device,
                          normalize=normalize, transform=transform, seed=seed)


def load_cifar10(batch_size: int, resize: int | None = None, *,
                 train_size: int | None = None, test_size: int | None = None,
                 val_size: int | None = None, device: str | torch.device | None = None,
                 root: str | os.PathLike | None = None,
                 normalize: bool | tuple[tuple[float, ...], tuple[float, ...]] = False,
                 transform: Callable[[Tensor], Tensor] | None = None, seed: int = 0,
                 download: bool = False) -> tuple[DeviceLoader, ...]:
    """CIFAR-10 with the same interface as :func:`load_fashion_mnist`."""
    train = cifar10_tensors(True, root, download)
    test = cifar10_tensors(False, root, download)
    return _split_loaders(train, test, batch_size, resize=resize, train_size=train_size,
                          test_size=test_size, val_size=val_size, device=device,
                          normalize=normalize, transform=transform, seed=seed)


DATASETS: dict[str, Callable[..., tuple[DeviceLoader, ...]]] = {
    "fashion_mnist": load_fashion_mnist,
    "cifar10": load_cifar10,
}


def load_dataset(name: str, batch_size: int, resize: int | None = None,
                 **kwargs) -> tuple[DeviceLoader, ...]:
    """``load_fashion_mnist`` or ``load_cifar10`` by name (papermill parameters are strings)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    return DATASETS[name](batch_size, resize, **kwargs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m alexnet_course.data")
    parser.add_argument("command", choices=["fetch"], help="find Fashion-MNIST or download it")
    parser.parse_args(argv)
    directory = fetch_fashion_mnist()
    images, labels = fashion_mnist_tensors(True)
    print(f"Fashion-MNIST: {directory} ({len(labels)} training images, MD5 verified)")


if __name__ == "__main__":
    main()
