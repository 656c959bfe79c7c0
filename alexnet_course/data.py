"""Real data for the course: Fashion-MNIST and CIFAR-10, batched on the training device.

Where the files live and how they are read and verified is in ``datafiles.py`` (its names
are re-exported here): the caller's ``root=``, else ``$FASHION_MNIST_DIR``, Debian's
``/usr/share/datasets/fashion-mnist`` and the user cache ``~/.cache/alexnet_course``.
``python -m alexnet_course.data fetch`` finds Fashion-MNIST or downloads it into the cache,
and checks all four files.

The loaders keep the whole uint8 dataset as one tensor on the device and cut batches
there (no DataLoader workers, no PIL): conversion to float, resizing with
``F.interpolate`` and augmentation all run on the device, batched. Their arguments are
checked when they are called, before any data is read.
"""

from __future__ import annotations

import argparse
import inspect
import math
import numbers
import os
from collections.abc import Callable, Iterator, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .datafiles import (CIFAR10_DIR, CIFAR10_MD5, DEBIAN_DIR, FASHION_MNIST_MD5,  # noqa: F401 (re-exported)
                        HOW_TO_GET_DATA, DataError, DataNotFound, cache_dir, cifar10_tensors,
                        fashion_mnist_tensors, fetch_fashion_mnist, find_fashion_mnist, read_idx,
                        verify_fashion_mnist)
from .devices import check_device, default_device

FASHION_MNIST_CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat",
                         "sandal", "shirt", "sneaker", "bag", "ankle boot")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")


class DataArgumentError(DataError, ValueError):
    """A loader argument of the wrong type or out of range (also a ValueError)."""


# --------------------------------------------------------------------------- argument checks
def _check_int(name: str, value: object, valid: str, *, optional: bool) -> None:
    """``value`` must be an int >= 1 (or None when ``optional``); bool is refused, as
    ``True`` would silently mean 1."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise DataArgumentError(f"{name} must be {valid}, got {value!r} ({type(value).__name__})")


def _check_mean_std(mean: object, std: object, channels: int | None = None,
                    what: str = "mean/std") -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel (mean, std): equal-length sequences of finite numbers, std > 0."""
    form = f"{what} must be two sequences of per-channel numbers, e.g. ((0.286,), (0.353,))"
    try:
        m, s = tuple(float(v) for v in mean), tuple(float(v) for v in std)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise DataArgumentError(f"{form}; got mean={mean!r}, std={std!r}") from None
    if not m or len(m) != len(s) or (channels is not None and len(m) not in (1, channels)):
        need = f"1 or {channels} values" if channels is not None else "as many values as channels"
        raise DataArgumentError(f"{form} ({need} each); got {len(m)} means and {len(s)} stds")
    if not all(math.isfinite(v) for v in m + s) or min(s) <= 0:
        raise DataArgumentError(f"{what}: every std must be a finite number > 0 (dividing by it "
                                f"standardises), got std={s}; use normalize=False to skip normalisation")
    return m, s


def check_loader_args(batch_size: object, resize: object = None, *, train_size: object = None,
                      test_size: object = None, val_size: object = None, normalize: object = False,
                      transform: object = None, seed: object = 0) -> None:
    """Refuse, with the valid range, loader arguments of the wrong type or out of range."""
    _check_int("batch_size", batch_size, "an integer >= 1", optional=False)
    _check_int("resize", resize, "None (keep the images' size) or an image side >= 1", optional=True)
    for name, value in (("train_size", train_size), ("test_size", test_size), ("val_size", val_size)):
        _check_int(name, value, "None (the whole split; no validation set for val_size) or a "
                                "number of examples >= 1", optional=True)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise DataArgumentError(f"seed must be an integer, got {seed!r}")
    if transform is not None and not callable(transform):
        raise DataArgumentError(f"transform must be None or a callable on float batches, got {transform!r}")
    if normalize is None or isinstance(normalize, bool):
        return
    if isinstance(normalize, (str, bytes)) or not isinstance(normalize, Sequence) or len(normalize) != 2:
        raise DataArgumentError(f"normalize must be False, True (the training subset's statistics) or "
                                f"a (mean, std) pair of per-channel sequences, got {normalize!r}")
    _check_mean_std(*normalize, what="normalize=(mean, std)")


# --------------------------------------------------------------------------- subsets
def stratified_indices(labels: Tensor, size: int, *, seed: int = 0,
                       exclude: Tensor | None = None) -> Tensor:
    """``size`` indices whose class proportions match ``labels``; deterministic in ``seed``."""
    _check_int("size", size, "a number of examples >= 1", optional=False)
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
    ``drop_last`` drops the ragged last batch (``"auto"``: on CUDA only, as the training
    loaders of :func:`load_fashion_mnist` do; their evaluation batches divide the set there).

    Compared with torchvision's ``Resize`` + ``ToTensor`` on PIL images: PIL computes
    the bilinear resize on uint8 and rounds the result to whole grey levels, while we
    interpolate in float, so pixels differ by at most about 1/255 (tested).
    """

    def __init__(self, images: Tensor, labels: Tensor, batch_size: int, *,
                 shuffle: bool = False, resize: int | None = None,
                 mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None,
                 transform: Callable[[Tensor], Tensor] | None = None,
                 device: str | torch.device | None = None, seed: int = 0,
                 drop_last: bool | str = False, paired_augment: bool = False) -> None:
        if not isinstance(images, Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
            got = f"{images.dtype} with shape {tuple(images.shape)}" if isinstance(images, Tensor) else repr(type(images))
            raise DataArgumentError(f"images must be a uint8 tensor N×C×H×W, got {got}")
        if not isinstance(labels, Tensor) or labels.shape != (len(images),):
            raise DataArgumentError(f"labels must be a tensor of {len(images)} class indices, one per image")
        if len(images) == 0:  # evaluating it would report an accuracy of 0, training nothing
            raise DataArgumentError("the dataset has no images: check the split and its size")
        check_loader_args(batch_size, resize, transform=transform, seed=seed)
        if batch_size > len(images):
            raise DataArgumentError(f"batch_size={batch_size} does not fit a dataset of {len(images)} "
                                    f"examples; choose a batch size between 1 and {len(images)}.")
        if (mean is None) != (std is None):
            raise DataArgumentError("pass both mean and std, or neither")
        if mean is not None:
            mean, std = _check_mean_std(mean, std, channels=images.shape[1])
        self.device = check_device(device) if device is not None else default_device()
        self.images = images.to(self.device)
        self.labels = labels.to(self.device)
        self.batch_size, self.shuffle = batch_size, shuffle
        self.drop_last = resolve_drop_last(drop_last, self.device)
        self.resize, self.transform, self.seed = resize, transform, seed
        # paired_augment: the transform draws from a generator seeded by (seed, epoch), not
        # from torch's global stream, which model initialisation and dropout also consume;
        # so two networks trained with one seed see the same crops and flips (paired seeds)
        if paired_augment and transform is not None and not _takes_generator(transform):
            raise DataArgumentError(f"paired_augment=True needs a transform that takes "
                                    f"generator= (alexnet_course.augment's do), got {transform!r}")
        self.paired_augment = paired_augment
        self._augment_generator: torch.Generator | None = None
        shape = (1, -1, 1, 1)
        self.mean = None if mean is None else torch.tensor(mean, device=self.device).view(shape)
        self.std = None if std is None else torch.tensor(std, device=self.device).view(shape)
        self.epoch = 0
        self.rank, self.world = 0, 1

    def shard(self, rank: int, world: int) -> DeviceLoader:
        """Give this loader only rank ``rank``'s part of every batch (of ``world`` ranks).

        The global batches, and their seeded order, stay those of one process; each is cut
        into ``world`` consecutive parts of sizes differing by at most one
        (``tensor_split``), so ``world`` ranks together see exactly what one process would.
        A last batch with fewer images than ranks is dropped, as some rank would get none.
        Exact agreement with one process (DDP averages the ranks' mean gradients) needs parts
        of equal size: a batch size divisible by ``world``. Returns ``self``."""
        _check_int("world", world, "the number of processes, an integer >= 1", optional=False)
        if isinstance(rank, bool) or not isinstance(rank, numbers.Integral) or not 0 <= rank < world:
            raise DataArgumentError(f"rank must be an integer in 0..{world - 1}, got {rank!r}")
        if self.batch_size < world:
            raise DataArgumentError(f"batch_size={self.batch_size} cannot be shared by {world} "
                                    f"processes; use a global batch size of at least {world}")
        self.rank, self.world = int(rank), int(world)
        return self

    @property
    def num_examples(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = self.images.shape[1:]
        return (c, self.resize, self.resize) if self.resize else (c, h, w)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _stop(self) -> int:
        """Where the last batch ends: a last batch too small for every rank is dropped."""
        n, b = self.num_examples, self.batch_size
        return n - n % b if self.drop_last or n % b < self.world else n

    def __len__(self) -> int:
        return -(-self._stop() // self.batch_size)

    def prepare(self, x: Tensor) -> Tensor:
        """uint8 batch → float batch, resized, (augmented,) normalised."""
        x = x.float().div_(255)
        if self.resize and x.shape[-1] != self.resize:
            shrink = self.resize < x.shape[-1]
            x = F.interpolate(x, size=(self.resize, self.resize), mode="bilinear",
                              align_corners=False, antialias=shrink)
        if self.transform is not None:
            g = self._augment_generator
            x = self.transform(x) if g is None else self.transform(x, generator=g)
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
        if self.paired_augment:
            self._augment_generator = torch.Generator().manual_seed(
                self.seed * 100_003 + self.epoch + 50_021)
        self.epoch += 1
        for start in range(0, self._stop(), self.batch_size):
            idx = order[start:start + self.batch_size]
            if self.world > 1:
                idx = idx.tensor_split(self.world)[self.rank]
            yield self.prepare(self.images[idx]), self.labels[idx]


def _takes_generator(transform: Callable[..., Tensor]) -> bool:
    try:
        return "generator" in inspect.signature(transform).parameters
    except (TypeError, ValueError):
        return False


def resolve_drop_last(drop_last: bool | str, device: torch.device) -> bool:
    """``"auto"``: drop the ragged last batch on CUDA only, where a batch of another shape
    re-runs cuDNN's autotuning and recompiles a compiled network; a CPU run is unchanged."""
    if drop_last not in (True, False, "auto"):
        raise DataArgumentError(f"drop_last must be True, False or 'auto' (True on CUDA), "
                                f"got {drop_last!r}")
    return device.type == "cuda" if drop_last == "auto" else bool(drop_last)


def eval_batch_size(n: int, batch_size: int, device: torch.device) -> int:
    """The evaluation batch: ``min(batch_size, n)``; on CUDA the largest divisor of ``n``
    up to it (10,000 test images at batch 128: 125), so that every batch has one shape
    (one cuDNN autotuning, no recompile), unless that would halve the batch."""
    batch = min(batch_size, n)
    if device.type != "cuda":
        return batch
    divisor = next(b for b in range(batch, 0, -1) if n % b == 0)
    return divisor if 2 * divisor >= batch else batch


def _split_loaders(train: tuple[Tensor, Tensor], test: tuple[Tensor, Tensor], batch_size: int,
                   *, resize: int | None, train_size: int | None, test_size: int | None,
                   val_size: int | None, device, normalize, transform, seed: int,
                   paired_augment: bool = False):
    (x_train, y_train), (x_test, y_test) = train, test
    val_idx = None
    if val_size is not None:
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
        if not all(v > 0 for v in std):  # also NaN, the std of a single pixel value
            raise DataArgumentError(f"normalize=True: the {len(yt)} training images have std {std} per "
                                    f"channel, so they cannot be standardised (all pixels equal?); pass "
                                    f"normalize=False or a (mean, std) pair with std > 0")
    elif normalize:
        mean, std = normalize
    else:
        mean = std = None
    device = check_device(device) if device is not None else default_device()
    common = dict(resize=resize, mean=mean, std=std, device=device, seed=seed)
    loaders = [DeviceLoader(xt, yt, batch_size, shuffle=True, transform=transform,
                            drop_last="auto", paired_augment=paired_augment, **common)]
    if val_idx is not None:
        loaders.append(DeviceLoader(x_train[val_idx], y_train[val_idx],
                                    eval_batch_size(len(val_idx), batch_size, device), **common))
    loaders.append(DeviceLoader(x_test, y_test, eval_batch_size(len(y_test), batch_size, device),
                                **common))
    return tuple(loaders)


def load_fashion_mnist(batch_size: int, resize: int | None = None, *,
                       train_size: int | None = None, test_size: int | None = None,
                       val_size: int | None = None, device: str | torch.device | None = None,
                       root: str | os.PathLike | None = None,
                       normalize: bool | tuple[tuple[float, ...], tuple[float, ...]] = False,
                       transform: Callable[[Tensor], Tensor] | None = None, seed: int = 0,
                       download: bool | None = None,
                       paired_augment: bool = False) -> tuple[DeviceLoader, ...]:
    """Fashion-MNIST as ``(train_iter, test_iter)``, or ``(train, val, test)`` with ``val_size``.

    ``train_size``/``test_size`` take deterministic stratified subsets (seeded by ``seed``);
    ``val_size`` holds out that many training images, disjoint from the training subset.
    ``normalize=True`` standardises with the training subset's mean and std; a
    ``(mean, std)`` pair uses those. ``transform`` augments training batches on the device;
    ``paired_augment=True`` draws its randomness from ``seed`` and the epoch alone, so
    runs of one seed see the same augmentation whatever their network.
    ``root`` and ``download`` are as in :func:`fashion_mnist_tensors`. Arguments are
    checked before any data is read.
    """
    check_loader_args(batch_size, resize, train_size=train_size, test_size=test_size, val_size=val_size,
                      normalize=normalize, transform=transform, seed=seed)
    train = fashion_mnist_tensors(True, root, download)
    test = fashion_mnist_tensors(False, root, download)
    return _split_loaders(train, test, batch_size, resize=resize, train_size=train_size,
                          test_size=test_size, val_size=val_size, device=device,
                          normalize=normalize, transform=transform, seed=seed,
                          paired_augment=paired_augment)


def load_cifar10(batch_size: int, resize: int | None = None, *,
                 train_size: int | None = None, test_size: int | None = None,
                 val_size: int | None = None, device: str | torch.device | None = None,
                 root: str | os.PathLike | None = None,
                 normalize: bool | tuple[tuple[float, ...], tuple[float, ...]] = False,
                 transform: Callable[[Tensor], Tensor] | None = None, seed: int = 0,
                 download: bool = False, md5: Mapping[str, str] | None = None,
                 paired_augment: bool = False) -> tuple[DeviceLoader, ...]:
    """CIFAR-10 with the same interface as :func:`load_fashion_mnist`; ``root`` (default: the
    user cache), ``download`` and ``md5`` (only for hand-made files) as in :func:`cifar10_tensors`."""
    check_loader_args(batch_size, resize, train_size=train_size, test_size=test_size, val_size=val_size,
                      normalize=normalize, transform=transform, seed=seed)
    train = cifar10_tensors(True, root, download, md5)
    test = cifar10_tensors(False, root, download, md5)
    return _split_loaders(train, test, batch_size, resize=resize, train_size=train_size,
                          test_size=test_size, val_size=val_size, device=device,
                          normalize=normalize, transform=transform, seed=seed,
                          paired_augment=paired_augment)


DATASETS: dict[str, Callable[..., tuple[DeviceLoader, ...]]] = {
    "fashion_mnist": load_fashion_mnist,
    "cifar10": load_cifar10,
}


def load_dataset(name: str, batch_size: int, resize: int | None = None,
                 **kwargs) -> tuple[DeviceLoader, ...]:
    """``load_fashion_mnist`` or ``load_cifar10`` by name (papermill parameters are strings)."""
    key = name.strip().lower() if isinstance(name, str) else None
    if key not in DATASETS:
        raise DataArgumentError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    return DATASETS[key](batch_size, resize, **kwargs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m alexnet_course.data")
    parser.add_argument("command", choices=["fetch"],
                        help="find Fashion-MNIST or download it into the user cache, and verify it")
    parser.add_argument("--root", help="a folder to look in and download into, instead of the default search")
    args = parser.parse_args(argv)
    try:
        directory = fetch_fashion_mnist(args.root)  # checks the MD5 of all four files
        n_train, n_test = verify_fashion_mnist(directory)
    except DataError as err:
        raise SystemExit(f"error: {err}") from None
    print(f"Fashion-MNIST: {directory} ({n_train} training and {n_test} test images; "
          f"MD5 of all four files verified)")


if __name__ == "__main__":
    main()
