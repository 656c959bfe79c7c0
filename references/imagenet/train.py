"""Train the paper's AlexNet on ImageNet, or any dataset in ImageNet's folder layout, with the
paper's recipe, on one or many GPUs (DistributedDataParallel, launched with ``torchrun``).

Layout (torchvision's ``ImageFolder``; ImageNet's validation images sorted into class
folders, e.g. with the ``valprep.sh`` of PyTorch's ImageNet example)::

    ROOT/train/n01440764/*.JPEG ...   ROOT/val/n01440764/*.JPEG ...

The recipe (Krizhevsky, Sutskever & Hinton 2012, Sections 2, 4.1 and 5):

* every image rescaled to shorter side 256 and its central 256×256 patch kept;
* training: a random 224×224 crop, a horizontal flip with probability 1/2 and PCA
  lighting (α ~ N(0, 0.1²); the eigenvectors fitted here on ``--pca-images`` training
  images, the paper used all of them), on the GPU with ``alexnet_course.augment``;
  the per-channel mean and std of the same images are subtracted and divided (the paper
  subtracted the mean image only);
* SGD, momentum 0.9, weight decay 5e-4, batch 128, learning rate 0.01 divided by 10
  when the validation accuracy stops improving (``ReduceLROnPlateau``), about 90 epochs;
  the paper's N(0, 0.01²) weights and biases of 1 (``alexnet_paper``, ``init="paper"``);
* ``--groups 2`` restores the paper's two-GPU connectivity (conv2, conv4, conv5 within each
  half of the maps); the default, 1, is the single-GPU layout of today's re-implementations.

Deviations: validation scores the central 224×224 crop (the paper averaged ten crops:
``alexnet_course.augment.ten_crop_predict``); under DDP ``--batch-size`` is the global batch,
shared equally by the processes, and the validation set is padded by its
``DistributedSampler`` with at most (processes − 1) repeated images.

One machine with 8 GPUs (``--nproc_per_node`` = its number of GPUs)::

    torchrun --standalone --nproc_per_node=8 references/imagenet/train.py \\
        --data /data/imagenet --out runs/alexnet

Several machines, e.g. 2 with 8 GPUs each: run on every machine, with HOST0 the address of
the first one (and a checkpoint folder ``--out`` that all machines share, as every rank
resumes from rank 0's checkpoint)::

    torchrun --nnodes=2 --nproc_per_node=8 --rdzv-backend=c10d \\
        --rdzv-endpoint=HOST0:29500 --rdzv-id=alexnet references/imagenet/train.py \\
        --data /data/imagenet --out /shared/runs/alexnet

One GPU, or the CPU: ``python references/imagenet/train.py --data ... --out ...``. An
interrupted run resumes when the same command is run again (``--out``/checkpoint.pt, saved
after every epoch); rank 0 writes the epochs' records to ``--out``/history.json at the end.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch.utils.data import DataLoader, DistributedSampler
from torchvision import datasets, transforms

from alexnet_course import distributed
from alexnet_course.augment import (Compose, PCALighting, RandomCrop, RandomHorizontalFlip,
                                    fit_pca_lighting)
from alexnet_course.models import get_model
from alexnet_course.train import fit, set_seed


class OnDevice:
    """A DataLoader of uint8 images whose batches are augmented and normalised on the device.
    The augmentation draws from a generator seeded by (seed, rank, epoch): every rank its own
    crops, and a resumed epoch the same ones as an uninterrupted run."""

    def __init__(self, loader: DataLoader, device: torch.device, mean: torch.Tensor,
                 std: torch.Tensor, augment: Compose | None = None, seed: int = 0) -> None:
        self.loader, self.device, self.augment, self.seed = loader, device, augment, seed
        self.mean, self.std = mean.to(device).view(1, -1, 1, 1), std.to(device).view(1, -1, 1, 1)
        self.generator = torch.Generator(device)
        self.set_epoch(0)

    batch_size = property(lambda self: self.loader.batch_size)
    sampler = property(lambda self: self.loader.sampler)  # fit checks it is a DistributedSampler
    num_examples = property(lambda self: len(self.loader.dataset))

    def set_epoch(self, epoch: int) -> None:
        if isinstance(self.loader.sampler, DistributedSampler):
            self.loader.sampler.set_epoch(epoch)
        self.generator.manual_seed((self.seed * 1000 + distributed.rank()) * 1000 + epoch)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for x, y in self.loader:
            x = x.to(self.device, non_blocking=True).float().div_(255)
            if self.augment is not None:
                x = self.augment(x, self.generator)
            yield (x - self.mean) / self.std, y.to(self.device, non_blocking=True)


def pixel_statistics(dataset: datasets.ImageFolder, n: int, seed: int):
    """Mean, std and PCA eigen-decomposition of the pixels of ``n`` training images (the same
    images on every rank: a seeded choice)."""
    pick = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:n]
    images = torch.stack([dataset[i][0] for i in pick.tolist()])
    pixels = images.float().div(255).transpose(0, 1).flatten(1)
    return pixels.mean(1), pixels.std(1), *fit_pca_lighting(images)


def loaders(args: argparse.Namespace, device: torch.device) -> tuple[OnDevice, OnDevice, int]:
    world = distributed.world_size()
    if args.batch_size % world:
        raise SystemExit(f"--batch-size {args.batch_size} must be divisible by the {world} "
                         f"processes; choose a multiple of {world}")
    square = [transforms.Resize(args.resize), transforms.CenterCrop(args.resize)]
    train_set = datasets.ImageFolder(Path(args.data) / "train",
                                     transforms.Compose([*square, transforms.PILToTensor()]))
    val_set = datasets.ImageFolder(Path(args.data) / "val", transforms.Compose(
        [transforms.Resize(args.resize), transforms.CenterCrop(args.crop), transforms.PILToTensor()]))
    if val_set.classes != train_set.classes:
        raise SystemExit(f"{args.data}/val has other class folders than {args.data}/train")
    mean, std, eigvals, eigvecs = pixel_statistics(train_set, min(args.pca_images, len(train_set)),
                                                   args.seed)
    ddp = distributed.active()
    common = dict(batch_size=args.batch_size // world, num_workers=args.workers,
                  pin_memory=device.type == "cuda", persistent_workers=args.workers > 0)
    train = DataLoader(train_set, drop_last=True, **common, sampler=DistributedSampler(
        train_set, shuffle=True, seed=args.seed) if ddp else None, shuffle=not ddp)
    val = DataLoader(val_set, **common,
                     sampler=DistributedSampler(val_set, shuffle=False) if ddp else None)
    augment = Compose(RandomCrop(args.crop), RandomHorizontalFlip(),
                      PCALighting(eigvals, eigvecs, std=0.1))
    return (OnDevice(train, device, mean, std, augment, args.seed),
            OnDevice(val, device, mean, std), len(train_set.classes))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", required=True, help="folder with train/ and val/ class folders")
    p.add_argument("--out", required=True, help="folder for checkpoint.pt and history.json")
    p.add_argument("--epochs", type=int, default=90)
    p.add_argument("--batch-size", type=int, default=128, help="global, over all processes")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--patience", type=int, default=1, help="epochs without progress before lr ÷ 10")
    p.add_argument("--resize", type=int, default=256)
    p.add_argument("--crop", type=int, default=224)
    p.add_argument("--width", type=float, default=1.0, help="scales every conv's channels")
    p.add_argument("--fc-width", type=int, default=4096)
    p.add_argument("--groups", type=int, default=1, choices=(1, 2))
    p.add_argument("--pca-images", type=int, default=1000)
    p.add_argument("--workers", type=int, default=8, help="DataLoader workers per process")
    p.add_argument("--amp", default="auto", help="auto, bf16, fp16 or off")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    device = distributed.init()  # cuda:LOCAL_RANK on a GPU machine, else the CPU
    set_seed(args.seed)  # the same initial weights on every rank (DDP also copies rank 0's)
    train, val, classes = loaders(args, device)
    net = get_model("alexnet_paper", in_channels=3, num_classes=classes, input_size=args.crop,
                    width=args.width, fc_width=args.fc_width, groups=args.groups)
    out = Path(args.out)
    if distributed.is_main():
        out.mkdir(parents=True, exist_ok=True)
        print(f"{distributed.world_size()} process(es) on {device}; {train.num_examples} training "
              f"and {val.num_examples} validation images in {classes} classes")

    history = fit(net, train, val, epochs=args.epochs, lr=args.lr, momentum=args.momentum,
                  weight_decay=args.weight_decay, scheduler="plateau",
                  scheduler_kwargs={"factor": 0.1, "patience": args.patience}, device=device,
                  amp=False if args.amp == "off" else args.amp, checkpoint=out / "checkpoint.pt")
    if distributed.is_main():
        history.to_json(out / "history.json")
    distributed.shutdown()


if __name__ == "__main__":
    main()
