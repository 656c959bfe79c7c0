"""Where Fashion-MNIST is looked for and fetched to: root=, $FASHION_MNIST_DIR, Debian's
folder, the user cache; settings naming a bad folder; unreadable files and folders; fetch."""

import builtins
import gzip
import pathlib

import pytest

from alexnet_course import data, datafiles
from alexnet_course.data import DataError

NAMES = list(data.FASHION_MNIST_MD5)


@pytest.fixture(scope="module")
def real_dir():
    return data.find_fashion_mnist()


def copy_set(src, dst, skip=()):
    """Symlinks to the real files: a full copy costs nothing."""
    dst.mkdir(parents=True)
    for name in NAMES:
        if name not in skip:
            (dst / f"{name}.gz").symlink_to(src / f"{name}.gz")
    return dst


@pytest.fixture
def places(tmp_path, monkeypatch):
    """An isolated search order: no $FASHION_MNIST_DIR, Debian's folder and the cache in tmp_path."""
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    monkeypatch.setattr(datafiles, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return {"debian": tmp_path / "debian", "cache": tmp_path / "xdg" / "alexnet_course" / "fashion-mnist",
            "env": tmp_path / "env", "root": tmp_path / "root"}


@pytest.fixture
def no_download(monkeypatch):
    def fail(dest):
        raise AssertionError(f"a download into {dest} was attempted")

    monkeypatch.setattr(datafiles, "_download_fashion_mnist", fail)


def test_cache_dir_follows_xdg_then_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.cache_dir() == tmp_path / "xdg" / "alexnet_course"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for xdg in ("", "relative/cache"):  # unset or relative: ignored, as the XDG spec says
        monkeypatch.setenv("XDG_CACHE_HOME", xdg)
        assert data.cache_dir() == tmp_path / "home" / ".cache" / "alexnet_course"


def test_search_order_root_env_debian_cache(real_dir, places, monkeypatch, no_download):
    copy_set(real_dir, places["cache"])
    assert data.find_fashion_mnist() == places["cache"]
    copy_set(real_dir, places["debian"])
    assert data.find_fashion_mnist() == places["debian"]
    monkeypatch.setenv("FASHION_MNIST_DIR", str(copy_set(real_dir, places["env"])))
    assert data.find_fashion_mnist() == places["env"]
    assert data.find_fashion_mnist(copy_set(real_dir, places["root"])) == places["root"]
    # torchvision's layout below root is found too
    tv = copy_set(real_dir, places["root"].parent / "tv" / "FashionMNIST" / "raw")
    assert data.find_fashion_mnist(places["root"].parent / "tv") == tv
    x, y = data.fashion_mnist_tensors(False, root=places["root"])
    assert x.shape == (10000, 1, 28, 28) and len(y) == 10000
    assert "site-packages" not in str(data.cache_dir())


@pytest.mark.parametrize("setting", ["root", "env"])
def test_a_setting_naming_a_bad_folder_is_an_error_not_a_fallback(setting, real_dir, places, monkeypatch,
                                                                  no_download):
    copy_set(real_dir, places["debian"])  # a good copy that must not be used instead

    def load(folder):
        if setting == "env":
            monkeypatch.setenv("FASHION_MNIST_DIR", str(folder))
            return data.fashion_mnist_tensors(True)
        return data.fashion_mnist_tensors(True, root=folder)

    def named(folder):
        return rf"{'root' if setting == 'root' else 'FASHION_MNIST_DIR'}='{folder}' names {folder}, which"

    folder = places[setting]
    with pytest.raises(DataError, match=rf"{named(folder)} does not exist\. "):
        load(folder)
    folder.mkdir()
    with pytest.raises(DataError, match=rf"{named(folder)} is empty\. "):
        load(folder)
    (folder / "readme.txt").write_text("not the data")
    with pytest.raises(DataError, match=rf"{named(folder)} holds none of the four Fashion-MNIST files"):
        load(folder)
    partial = copy_set(real_dir, folder.parent / "partial", skip=("t10k-labels-idx1-ubyte",))
    with pytest.raises(DataError, match=rf"{named(partial)} lacks t10k-labels-idx1-ubyte\.gz\. "):
        load(partial)
    if setting == "env":  # fetch does not download elsewhere either: the setting is wrong
        with pytest.raises(DataError, match=rf"{named(partial)} lacks"):
            data.fetch_fashion_mnist()


def test_unreadable_file_says_permission_denied(real_dir, tmp_path, monkeypatch):
    root = copy_set(real_dir, tmp_path / "fm")
    real_path_open, real_open = pathlib.Path.open, builtins.open

    def denied(path):
        if pathlib.Path(path).name.startswith("t10k-images"):  # tests run as root: chmod would not do
            raise PermissionError(13, "Permission denied", str(path))

    def path_open(self, *args, **kwargs):
        denied(self)
        return real_path_open(self, *args, **kwargs)

    def open_(file, *args, **kwargs):
        if isinstance(file, (str, pathlib.Path)):
            denied(file)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", path_open)
    monkeypatch.setattr(builtins, "open", open_)
    with pytest.raises(DataError, match=r"permission denied reading .*t10k-images-idx3-ubyte\.gz: Permission "
                                        r"denied\. Make it readable") as err:
        data.fashion_mnist_tensors(False, root=root)
    assert "truncated" not in str(err.value)


@pytest.mark.parametrize("setting", ["root", "default"])
def test_unreadable_folder_says_permission_denied(setting, real_dir, places, monkeypatch):
    folder = copy_set(real_dir, places["root"] if setting == "root" else places["debian"])
    real_is_file = pathlib.Path.is_file

    def denied(self):
        if self.parent == folder:  # like a folder without the x bit: its entries cannot be stat'ed
            raise PermissionError(13, "Permission denied", str(self))
        return real_is_file(self)

    monkeypatch.setattr(pathlib.Path, "is_file", denied)
    named = r" \(named by root='.*'\)" if setting == "root" else ""
    with pytest.raises(DataError, match=rf"permission denied reading .*{folder.name}{named}: Permission denied"):
        data.find_fashion_mnist(folder if setting == "root" else None)


def _corrupt(target):
    raw = bytearray(gzip.open(target.resolve()).read())
    raw[100] = (raw[100] + 1) % 10
    target.unlink()
    target.write_bytes(gzip.compress(bytes(raw)))


def test_fetch_checks_all_four_files(real_dir, tmp_path, monkeypatch, capsys):
    good = copy_set(real_dir, tmp_path / "good")
    monkeypatch.setenv("FASHION_MNIST_DIR", str(good))
    data.main(["fetch"])
    assert capsys.readouterr().out.strip() == (f"Fashion-MNIST: {good} (60000 training and 10000 test images; "
                                               f"MD5 of all four files verified)")
    # A corrupt test file is reported as such, not as "verified" (each check reads the
    # 60,000 training images first, so one training file is enough to cover that split).
    for name, args in [("t10k-images-idx3-ubyte", []), ("t10k-labels-idx1-ubyte", []),
                       ("train-labels-idx1-ubyte", ["--root"])]:
        bad = copy_set(real_dir, tmp_path / f"bad-{name}")
        _corrupt(bad / f"{name}.gz")
        monkeypatch.setenv("FASHION_MNIST_DIR", str(bad))
        with pytest.raises(SystemExit, match=rf"error: .*{name}\.gz is corrupt"):
            data.main(["fetch", *args, *([str(bad)] if args else [])])
    assert "verified" not in capsys.readouterr().out


def test_fetch_downloads_into_the_user_cache_when_nothing_is_found(real_dir, places, monkeypatch):
    import torchvision.datasets.utils as tv_utils

    calls = []

    def fake_download(url, root, filename, md5):  # the network, replaced by the Debian files
        calls.append((url, pathlib.Path(root), filename))
        (pathlib.Path(root) / filename).write_bytes((real_dir / filename).read_bytes())

    monkeypatch.setattr(tv_utils, "download_url", fake_download)
    assert data.fetch_fashion_mnist() == places["cache"]
    assert sorted(p.name for p in places["cache"].iterdir()) == sorted(f"{n}.gz" for n in NAMES)
    assert {c[2] for c in calls} == {f"{n}.gz" for n in NAMES}
    assert all(c[1] == places["cache"] / ".download" for c in calls)  # never straight into the data folder
    assert data.fashion_mnist_tensors(True)[0].shape == (60000, 1, 28, 28)  # found there afterwards


def test_a_failed_download_says_so_and_leaves_nothing_behind(places, monkeypatch):
    import torchvision.datasets.utils as tv_utils
    from urllib.error import URLError

    def offline(url, root, filename, md5):
        (pathlib.Path(root) / filename).write_bytes(b"partial")
        raise URLError("no network")

    monkeypatch.setattr(tv_utils, "download_url", offline)
    with pytest.raises(DataError, match=r"Fashion-MNIST not found; .*Downloading with torchvision into "
                                        r".*xdg/alexnet_course/fashion-mnist failed too: .*no network"):
        data.fashion_mnist_tensors(True)  # download=None: the default search found nothing
    assert list(places["cache"].iterdir()) == []
