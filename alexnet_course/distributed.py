"""Data parallelism across processes with PyTorch's own DistributedDataParallel (DDP).

``torchrun --nproc_per_node=N script.py`` starts N copies of a script and sets ``RANK``,
``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` for each; :func:`init` reads them and
joins the process group (NCCL on CUDA, gloo on CPU). ``fit`` notices an initialised group
(:func:`active`) and then wraps the network with :func:`wrap`, gives each rank its shard of
every batch and sums its metrics across ranks with :func:`all_sum`. Outside a group every
function here is a no-op that answers as one process would (rank 0 of a world of 1).
"""

from __future__ import annotations

import datetime
import os

import torch
import torch.distributed as dist
from torch import Tensor, nn

__all__ = ["active", "all_sum", "backend_for", "barrier", "init", "is_main", "rank", "set_epoch",
           "shard_loader", "shutdown", "world_size", "wrap"]


def active() -> bool:
    """Whether this process belongs to an initialised process group of more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Rank 0, which alone prints, draws progress and writes files."""
    return rank() == 0


def backend_for(device: str | torch.device) -> str:
    """NCCL between CUDA GPUs, gloo between CPU processes."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def init(device: str | torch.device | None = None, *, timeout_s: float = 600) -> torch.device:
    """Join the process group that ``torchrun`` describes in the environment and return this
    rank's device (``cuda:LOCAL_RANK`` when CUDA is available, else the CPU). Without
    torchrun's variables it returns the device and stays a single process. ``timeout_s``
    bounds how long a collective waits for a rank that died."""
    if device is None:
        local = int(os.environ.get("LOCAL_RANK", 0))
        device = torch.device(f"cuda:{local}") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(device)
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ or dist.is_initialized():
        return device
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend_for(device), timeout=datetime.timedelta(seconds=timeout_s))
    return device


def shutdown() -> None:
    """Leave the process group (at the end of a script), if there is one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_sum(tensor: Tensor) -> Tensor:
    """``tensor`` summed over all ranks, in place (unchanged in a single process)."""
    if active():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def barrier() -> None:
    """Wait until every rank gets here (e.g. until rank 0 has written a checkpoint)."""
    if active():
        dist.barrier()


def wrap(net: nn.Module, device: torch.device) -> nn.Module:
    """``net`` in DistributedDataParallel: after each backward pass every rank holds the
    gradient averaged over all ranks' batches, so all replicas take the same step."""
    ids = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(net, device_ids=ids)


def shard_loader(loader, *, train: bool):
    """``loader`` made to give this rank its part of the data: an on-device loader is cut with
    its ``shard``; a ``DataLoader`` must already have a ``DistributedSampler`` (its
    ``batch_size`` is then per process). A training loader that cannot be sharded is
    refused, as every rank would train on the same batches; an evaluation loader that
    cannot is evaluated whole on every rank (the summed counts still give its accuracy)."""
    if hasattr(loader, "shard"):
        loader.shard(rank(), world_size())  # in place: a wrapper around the loader stays
        return loader
    sampler = getattr(loader, "sampler", None)
    if isinstance(sampler, torch.utils.data.DistributedSampler):
        return loader
    if train:
        raise ValueError(
            f"under torchrun ({world_size()} processes) the training loader must give each process "
            f"its own part of the data: build the DataLoader with "
            f"sampler=torch.utils.data.DistributedSampler(dataset, shuffle=True) (and no "
            f"shuffle=True), or use the course's on-device loaders, which fit shards itself")
    return loader


def set_epoch(loader, epoch: int) -> None:
    """Tell ``loader`` (or its ``DistributedSampler``) which epoch it serves, so every epoch
    gets its own shuffle and a resumed run the same one as an uninterrupted run."""
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(epoch)
    elif isinstance(getattr(loader, "sampler", None), torch.utils.data.DistributedSampler):
        loader.sampler.set_epoch(epoch)
