"""The d2l-style reference pipeline of ``bench_training``: what *Dive into Deep Learning*
does in ``load_data_fashion_mnist`` and ``train_ch6`` (see benchmarks/NOTES.md), with the
number of DataLoader workers fitted to ``/dev/shm``."""

from __future__ import annotations

import gzip
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from alexnet_course.data import FASHION_MNIST_MD5, find_fashion_mnist


def torchvision_root(dest: Path, source: Path | None = None) -> Path:
    """A folder laid out as torchvision's FashionMNIST expects (``FashionMNIST/raw/*-ubyte``),
    built by decompressing the files that ``find_fashion_mnist()`` finds: no download."""
    source = source or find_fashion_mnist()
    raw = dest / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in FASHION_MNIST_MD5:
        target = raw / name
        if target.exists():
            continue
        gz, plain = source / (name + ".gz"), source / name
        if gz.is_file():
            with gzip.open(gz) as fin, open(target, "wb") as fout:
                shutil.copyfileobj(fin, fout)
        else:
            shutil.copyfile(plain, target)
    return dest


SHM = Path("/dev/shm")
PREFETCH = 2  # DataLoader's prefetch_factor: batches each worker keeps in shared memory


def d2l_workers(batch_bytes: int | None = None, shm: Path = SHM) -> int:
    """d2l's ``get_dataloader_workers()`` returns 4; never more workers than cores, and,
    given a batch's size, never more than half of ``/dev/shm``'s free space holds: worker
    processes hand their batches over in shared memory (a 128×1×224×224 float32 batch is
    26 MB), and a full ``/dev/shm`` kills the loader ("Bus error") mid-run."""
    workers = min(4, os.cpu_count() or 1)
    if batch_bytes is None:
        return workers
    try:
        free = shutil.disk_usage(shm).free
    except OSError:  # no /dev/shm (macOS): torch uses other shared memory; keep d2l's count
        return workers
    return max(0, min(workers, int(free // 2 // (PREFETCH * max(batch_bytes, 1)))))


def d2l_loaders(root: Path, batch_size: int, resize: int | None, *,
                train_idx: torch.Tensor | None = None, test_idx: torch.Tensor | None = None,
                num_workers: int | None = None):
    """d2l's ``load_data_fashion_mnist`` (optionally on the same subsets as ours)."""
    from torch.utils import data
    from torchvision import datasets, transforms

    trans = [transforms.ToTensor()]
    if resize:
        trans.insert(0, transforms.Resize(resize))
    trans = transforms.Compose(trans)
    mnist_train = datasets.FashionMNIST(root=str(root), train=True, transform=trans, download=False)
    mnist_test = datasets.FashionMNIST(root=str(root), train=False, transform=trans, download=False)
    if train_idx is not None:
        mnist_train = data.Subset(mnist_train, train_idx.tolist())
    if test_idx is not None:
        mnist_test = data.Subset(mnist_test, test_idx.tolist())
    side = resize or 28
    workers = (d2l_workers(batch_size * side * side * 4) if num_workers is None
               else num_workers)
    return (data.DataLoader(mnist_train, batch_size, shuffle=True, num_workers=workers),
            data.DataLoader(mnist_test, batch_size, shuffle=False, num_workers=workers))


class Accumulator:
    """d2l's Accumulator: sums in Python floats (``float(tensor)`` syncs with the device)."""

    def __init__(self, n: int) -> None:
        self.data = [0.0] * n

    def add(self, *args) -> None:
        self.data = [a + float(b) for a, b in zip(self.data, args)]

    def __getitem__(self, idx: int) -> float:
        return self.data[idx]


def d2l_accuracy(y_hat: torch.Tensor, y: torch.Tensor) -> float:
    """d2l's ``accuracy``: the number of correct predictions, as a Python float."""
    if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(axis=1)
    cmp = y_hat.type(y.dtype) == y
    return float(cmp.type(y.dtype).sum())


def d2l_evaluate_accuracy_gpu(net: nn.Module, data_iter, device: torch.device) -> float:
    net.eval()
    metric = Accumulator(2)
    with torch.no_grad():
        for X, y in data_iter:
            X, y = X.to(device), y.to(device)
            metric.add(d2l_accuracy(net(X), y), y.numel())
    return metric[0] / metric[1]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def d2l_train_ch6(net: nn.Module, train_iter, test_iter, num_epochs: int, lr: float,
                  device: torch.device) -> list[dict[str, Any]]:
    """d2l's ``train_ch6`` loop (without the Xavier re-init and the Animator), timed.

    Returns one record per epoch with wall-clock times and the examples/sec d2l prints.
    """
    net.to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    loss = nn.CrossEntropyLoss()
    records = []
    for epoch in range(num_epochs):
        metric = Accumulator(3)
        net.train()
        timer_sum = 0.0  # d2l's Timer: started after the batch arrived, stopped after metric.add
        _sync(device)
        t0 = time.perf_counter()
        for X, y in train_iter:
            tb = time.perf_counter()
            optimizer.zero_grad()
            X, y = X.to(device), y.to(device)
            y_hat = net(X)
            l = loss(y_hat, y)
            l.backward()
            optimizer.step()
            with torch.no_grad():
                metric.add(l * X.shape[0], d2l_accuracy(y_hat, y), X.shape[0])
            timer_sum += time.perf_counter() - tb
            train_l, train_acc = metric[0] / metric[2], metric[1] / metric[2]
        _sync(device)
        train_seconds = time.perf_counter() - t0
        test_acc = d2l_evaluate_accuracy_gpu(net, test_iter, device)
        _sync(device)
        seconds = time.perf_counter() - t0
        records.append({"epoch": epoch + 1, "train_loss": train_l, "train_acc": train_acc,
                        "test_acc": test_acc, "examples": int(metric[2]),
                        "train_seconds": train_seconds, "seconds": seconds,
                        "examples_per_sec": metric[2] / train_seconds,
                        "d2l_reported_examples_per_sec": metric[2] / timer_sum})
    return records
