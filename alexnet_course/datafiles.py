"""Where the course's data lives on disk, and reading it with its integrity checked.

Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017) is read from the four original IDX files,
in the folder the caller names with ``root=`` (like torchvision) or, without one, the
first folder of this search order that holds all four:

1. ``$FASHION_MNIST_DIR``;
2. ``/usr/share/datasets/fashion-mnist`` (Debian's package ``dataset-fashion-mnist``);
3. the data home, when one is set (``set_data_home``; a chapter outside a checkout sets
   ``<working folder>/data``, e.g. ``./alexnet-course/data`` on Colab), where
   ``fetch_fashion_mnist`` then downloads;
4. the user cache, ``$XDG_CACHE_HOME/alexnet_course/fashion-mnist`` (by default
   ``~/.cache/alexnet_course/fashion-mnist``), where it downloads otherwise.

A folder named by ``root=`` or ``$FASHION_MNIST_DIR`` must hold the data: a missing or
empty one is an error naming the setting, never a silent fall-back to another copy. The
library never reads or writes the repository or site-packages.

Each IDX file is checked against the MD5 of its *decompressed* payload. The published MD5s
are those of the ``.gz`` files, but Debian recompressed them, so the gzip bytes differ
while the images inside are identical; the payload MD5s match torchvision's historical
``raw_data`` list.

CIFAR-10 is read from torchvision's on-disk format, ``<root>/cifar-10-batches-py``, with
``root`` defaulting to the data home or the user cache. Its batches are pickles, and unpickling can
run code, so each file's MD5 is checked against torchvision's published one first.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import shutil
import zlib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")

# MD5 of each decompressed IDX file (identical for the upstream and Debian copies).
FASHION_MNIST_MD5 = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}
_SPLIT_FILES = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}

# torchvision.datasets.CIFAR10.train_list / test_list (copied: no torchvision at import).
CIFAR10_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
CIFAR10_DIR = "cifar-10-batches-py"

HOW_TO_GET_DATA = (
    "Ways to get Fashion-MNIST: `make data` or `python -m alexnet_course.data fetch` (downloads "
    "through torchvision into the user cache ~/.cache/alexnet_course/fashion-mnist); "
    "`sudo apt-get install dataset-fashion-mnist`; or put the four IDX .gz files in a folder "
    "and pass it as root= or name it in $FASHION_MNIST_DIR."
)


class DataError(RuntimeError):
    """Data that is missing, corrupt or asked for in a way that cannot work."""


class DataNotFound(DataError):
    """The data is not where it was looked for (the one case a download can repair)."""


_data_home: Path | None = None  # set_data_home(); None: the user cache


def set_data_home(path: str | os.PathLike | None) -> None:
    """Make ``path`` the folder searched after Debian's and downloaded into instead of the
    user cache (which is still searched); ``None`` goes back to the user cache alone."""
    global _data_home
    _data_home = Path(path).expanduser().resolve() if path is not None else None


def data_home() -> Path:
    """Where downloads go: the folder ``set_data_home`` named, else the user cache."""
    return _data_home or cache_dir()


def cache_dir() -> Path:
    """The user cache of the course, ``$XDG_CACHE_HOME/alexnet_course`` or ``~/.cache/alexnet_course``."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says to ignore a relative path.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "alexnet_course"


def _permission_error(path: Path, err: OSError, setting: str | None = None) -> DataError:
    where = f" (named by {setting})" if setting else ""
    return DataError(f"permission denied reading {path}{where}: {err.strerror or err}. Make it readable "
                     f"for this user (e.g. chmod a+rX) or use a readable copy.")


# --------------------------------------------------------------------------- Fashion-MNIST
def _file_in(directory: Path, name: str) -> Path | None:
    for candidate in (directory / (name + ".gz"), directory / name):
        if candidate.is_file():  # raises PermissionError when the folder cannot be searched
            return candidate
    return None


def _holds_all(directory: Path) -> bool:
    return all(_file_in(directory, name) for name in FASHION_MNIST_MD5)


def _named_folder(directory: Path, setting: str, fix: str) -> Path:
    """The folder ``setting`` names, which must hold the four files (or torchvision's
    ``FashionMNIST/raw`` below it): no fall-back to another copy."""
    try:
        if not directory.exists():
            problem = "does not exist"
        elif not directory.is_dir():
            problem = "is not a folder"
        else:
            for candidate in (directory, directory / "FashionMNIST" / "raw"):
                if _holds_all(candidate):
                    return candidate
            missing = [n + ".gz" for n in FASHION_MNIST_MD5 if not _file_in(directory, n)]
            problem = ("is empty" if not any(directory.iterdir()) else
                       "holds none of the four Fashion-MNIST files" if len(missing) == 4 else
                       f"lacks {', '.join(missing)}")
    except PermissionError as err:
        raise _permission_error(directory, err, setting) from err
    raise DataNotFound(f"{setting} names {directory}, which {problem}. {fix} {HOW_TO_GET_DATA}")


def find_fashion_mnist(root: str | os.PathLike | None = None) -> Path:
    """The folder holding the four Fashion-MNIST files: ``root`` if given, else the first
    of the search order in this module's docstring.

    Raises ``DataError`` naming the setting (``root=``, ``$FASHION_MNIST_DIR``) that points
    at a missing, empty or unreadable folder, or listing the places searched.
    """
    if root is not None:
        return _named_folder(Path(root), f"root={str(root)!r}",
                             "Pass root= a folder holding the four IDX files, or leave it out to "
                             "use the default search; download=True fetches the files into it.")
    env = os.environ.get("FASHION_MNIST_DIR")
    if env:
        return _named_folder(Path(env), f"FASHION_MNIST_DIR={env!r}",
                             "Point FASHION_MNIST_DIR at a folder holding the four IDX files, or unset "
                             "it to use the default search.")
    homes = dict.fromkeys((data_home() / "fashion-mnist", cache_dir() / "fashion-mnist"))
    searched, denied = [DEBIAN_DIR, *homes], []
    for directory in searched:
        try:
            if _holds_all(directory):
                return directory
        except PermissionError as err:
            denied.append(_permission_error(directory, err))
    if denied:
        raise denied[0]
    places = ", ".join(str(d) for d in searched)
    raise DataNotFound(f"Fashion-MNIST not found; looked in: $FASHION_MNIST_DIR (unset), {places}. "
                       f"{HOW_TO_GET_DATA}")


def read_idx(path: str | os.PathLike, expected_md5: str | None = None) -> np.ndarray:
    """Read one IDX file (gzip-compressed or not) into a numpy array, checking its MD5."""
    path = Path(path)
    try:
        with path.open("rb") as f:  # Path.open, also for .gz, so that one patch covers both in tests
            raw = gzip.GzipFile(fileobj=f).read() if path.suffix == ".gz" else f.read()
    except PermissionError as err:
        raise _permission_error(path, err) from err
    except (OSError, EOFError, zlib.error) as err:  # truncated or not gzip at all
        raise DataError(f"{path} is unreadable or truncated ({err}). Delete it and fetch the "
                        f"data again. {HOW_TO_GET_DATA}") from err
    digest = hashlib.md5(raw).hexdigest()
    if expected_md5 is not None and digest != expected_md5:
        raise DataError(f"{path} is corrupt: the MD5 of its contents is {digest}, expected "
                        f"{expected_md5}. Delete it and fetch the data again. {HOW_TO_GET_DATA}")
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
    if len(images) != len(labels):
        raise DataError(f"{directory} holds {len(images)} images but {len(labels)} labels for the "
                        f"{'training' if train else 'test'} split. {HOW_TO_GET_DATA}")
    return (torch.from_numpy(images.copy()).unsqueeze(1),  # N×1×28×28 uint8
            torch.from_numpy(labels.astype(np.int64)))


def fashion_mnist_tensors(train: bool = True, root: str | os.PathLike | None = None,
                          download: bool | None = None) -> tuple[Tensor, Tensor]:
    """All of one split as ``(images uint8 N×1×28×28, labels int64 N)`` on the CPU.

    ``download=None`` downloads into the data home (or user cache) only when the default search finds
    nothing (not when ``root=`` or ``$FASHION_MNIST_DIR`` names a folder); ``True`` also
    downloads into ``root``; ``False`` never downloads.
    """
    try:
        directory = find_fashion_mnist(root)
    except DataNotFound:
        named = root is not None or bool(os.environ.get("FASHION_MNIST_DIR"))
        if download is False or (download is None and named):
            raise
        directory = fetch_fashion_mnist(root)
    return _fashion_mnist_cached(train, str(directory))


def verify_fashion_mnist(directory: str | os.PathLike) -> tuple[int, int]:
    """Read all four files of ``directory`` with their MD5s checked; the (train, test) sizes."""
    sizes = [len(_fashion_mnist_cached(train, str(directory))[1]) for train in (True, False)]
    return sizes[0], sizes[1]


def _download_fashion_mnist(dest: Path) -> None:
    import torchvision  # imported here: only a download needs it
    from torchvision.datasets.utils import download_url

    # A scratch folder beside the data, so an interrupted download leaves no partial file
    # where the loaders look.
    scratch = dest / ".download"
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        for filename, md5 in torchvision.datasets.FashionMNIST.resources:
            errors = []
            for mirror in torchvision.datasets.FashionMNIST.mirrors:
                try:
                    download_url(mirror + filename, str(scratch), filename, md5)  # MD5 of the .gz
                    break
                except Exception as err:  # offline, proxy, HTTP error ...
                    errors.append(f"{mirror}: {err}")
            else:
                raise DataError(f"downloading {filename} failed: {'; '.join(errors)}")
            os.replace(scratch / filename, dest / filename)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def fetch_fashion_mnist(root: str | os.PathLike | None = None) -> Path:
    """Find Fashion-MNIST (in ``root`` or by the search order), or download it with
    torchvision into ``root`` or, without one, the data home (the user cache unless
    ``set_data_home`` named another folder); returns the folder after
    checking the MD5 of all four files, training and test."""
    try:
        directory = find_fashion_mnist(root)
    except DataNotFound as missing:
        if root is None and os.environ.get("FASHION_MNIST_DIR"):
            raise  # the setting is wrong; downloading elsewhere would hide it
        dest = Path(root) if root is not None else data_home() / "fashion-mnist"
        try:
            _download_fashion_mnist(dest)
        except (DataError, OSError, ImportError) as err:
            raise DataError(f"{missing} Downloading with torchvision into {dest} failed too: {err}") from err
        directory = find_fashion_mnist(dest)
    verify_fashion_mnist(directory)
    return directory


# --------------------------------------------------------------------------- CIFAR-10
def _cifar_folder(root: str | os.PathLike | None) -> Path:
    if root is None:  # the data home, else a copy already in the user cache
        homes = [data_home() / CIFAR10_DIR, cache_dir() / CIFAR10_DIR]
        return next((folder for folder in homes if folder.is_dir()), homes[0])
    base = Path(root)
    # Accept the batches folder itself as root too.
    return base if base.name == CIFAR10_DIR else base / CIFAR10_DIR


def _read_cifar_batch(path: Path, expected_md5: str | None) -> tuple[np.ndarray, list[int]]:
    try:
        raw = path.read_bytes()
    except PermissionError as err:
        raise _permission_error(path, err) from err
    digest = hashlib.md5(raw).hexdigest()
    if digest != expected_md5:  # before unpickling: a pickle can run arbitrary code
        raise DataError(f"{path} is not the published CIFAR-10 batch: its MD5 is {digest}, expected "
                        f"{expected_md5}. Delete {path.parent} and download it again (download=True); "
                        f"it was not unpickled.")
    try:
        entry = pickle.loads(raw, encoding="latin1")
        rows = np.asarray(entry["data"], dtype=np.uint8)
        labels = list(entry["labels"] if "labels" in entry else entry["fine_labels"])
    except Exception as err:
        raise DataError(f"{path} is not a CIFAR-10 batch (a pickled dict with 'data' and 'labels'): {err}") from err
    if rows.ndim != 2 or rows.shape[1] != 3 * 32 * 32 or len(labels) != len(rows):
        raise DataError(f"{path} holds data of shape {rows.shape} and {len(labels)} labels; a CIFAR-10 "
                        f"batch has N rows of 3072 values and N labels.")
    y = np.asarray(labels)
    if y.size and (y.dtype.kind not in "iu" or y.min() < 0 or y.max() > 9):
        raise DataError(f"{path} has labels outside 0-9; CIFAR-10 has 10 classes.")
    return rows, labels


def cifar10_tensors(train: bool = True, root: str | os.PathLike | None = None,
                    download: bool = False, md5: Mapping[str, str] | None = None) -> tuple[Tensor, Tensor]:
    """CIFAR-10 from torchvision's on-disk format, ``<root>/cifar-10-batches-py``
    (``root`` defaults to the data home, else the user cache; the batches folder itself is accepted too).

    Returns ``(images uint8 N×3×32×32, labels int64 N)``. With ``download=True``
    torchvision fetches (and MD5-checks) the archive into ``root`` first. ``md5`` maps each
    batch file to its expected MD5 and defaults to ``CIFAR10_MD5``, the published ones;
    pass your own only for files you made yourself (the tests' tiny batches). There is no
    way to skip the check: the files are unpickled only after it.
    """
    folder = _cifar_folder(root)
    names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    expected = CIFAR10_MD5 if md5 is None else md5
    try:
        missing = [n for n in names if not (folder / n).is_file()]
        if missing and download:
            import torchvision

            folder.parent.mkdir(parents=True, exist_ok=True)
            torchvision.datasets.CIFAR10(str(folder.parent), train=train, download=True)
            missing = [n for n in names if not (folder / n).is_file()]
    except PermissionError as err:
        raise _permission_error(folder, err) from err
    if missing:
        raise DataNotFound(f"CIFAR-10 not found: {folder} lacks {', '.join(missing)}. No copy ships "
                           f"with this course; pass download=True on a machine with internet "
                           f"access, or root= a folder holding {CIFAR10_DIR}.")
    unknown = [n for n in names if n not in expected]
    if unknown:
        raise DataError(f"md5= gives no MD5 for {', '.join(unknown)}; it must map every batch file "
                        f"({', '.join(names)}) to its MD5.")
    images, labels = [], []
    for name in names:
        rows, lbls = _read_cifar_batch(folder / name, expected[name])
        images.append(rows.reshape(-1, 3, 32, 32))
        labels.extend(lbls)
    return torch.from_numpy(np.concatenate(images)), torch.tensor(labels, dtype=torch.int64)
