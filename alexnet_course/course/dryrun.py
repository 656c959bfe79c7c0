"""The ``dryrun`` profile's side of a run: the full profile's run, cut to a few tiny batches.

A chapter executed with ``COURSE_PROFILE=dryrun`` takes the ``full`` profile's values
(``Profile.pick``), so it builds the GPU edition's models at its input sizes and walks its
run lists; :func:`train_run <.experiments.train_run>` then trains each run on
``max_batches`` batches of ``batch_size`` images per epoch for at most ``max_epochs``
epochs, and records what the real run would be (its batch size, epochs, training images)
with an estimate of its GPU memory, which ``python -m tools.book estimates`` turns into a
table of memory and time on one GPU.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from .profiles import PROFILES, Profile


class FirstBatches:
    """The first ``n`` batches of ``loader`` at each pass; every other attribute (device,
    ``set_epoch``, ``prepare``, ``images`` ...) is the wrapped loader's."""

    def __init__(self, loader: Any, n: int) -> None:
        if n < 1:
            raise ValueError(f"n must be at least 1 batch, got {n}")
        self.loader, self.n = loader, n

    def __iter__(self) -> Iterator[Any]:
        for i, batch in enumerate(self.loader):
            if i == self.n:
                return
            yield batch

    def __len__(self) -> int:
        return min(self.n, len(self.loader))

    @property
    def num_examples(self) -> int:
        return min(self.n * self.loader.batch_size, self.loader.num_examples)

    def __getattr__(self, name: str) -> Any:
        if name == "loader":  # not set yet (e.g. while unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.loader, name)


@dataclass
class DryRun:
    """What the real run of a dry-run would be; ``cut`` and ``wrap`` make it small."""

    profile: Profile
    batch_size: int
    epochs: int

    @classmethod
    def of(cls, profile: Profile, batch_size: int | None, epochs: int) -> "DryRun":
        """The real run: a batch size the chapter left to the profile is the followed
        profile's (``full``), not the dry run's tiny one."""
        return cls(profile, batch_size or PROFILES[profile.picks or "full"].batch_size, epochs)

    @property
    def cut_epochs(self) -> int:
        return min(self.epochs, self.profile.max_epochs)

    def wrap(self, loaders: Sequence[Any]) -> tuple[Any, ...]:
        self.train_examples = loaders[0].num_examples  # the real run's, before the cut
        self.eval_examples = sum(l.num_examples for l in loaders[1:])  # test (and val) passes
        self.data_bytes = sum(int(getattr(l, "images").numel() * l.images.element_size())
                              for l in loaders if hasattr(l, "images"))
        return tuple(FirstBatches(l, self.profile.max_batches) for l in loaders)

    def extra(self, net: nn.Module, input_shape: tuple[int, ...], fit_kwargs: dict) -> dict:
        """Row columns with the real run's scale and its estimated GPU memory (MiB, float32
        values: an upper bound under bf16 autocast)."""
        from ..analysis import memory_estimate

        opt = fit_kwargs.get("optimizer", "sgd")
        if not isinstance(opt, str):
            opt = "adam"  # a ready optimiser: assume the larger state
        elif opt == "sgd" and not fit_kwargs.get("momentum"):
            opt = "sgd0"
        mem = memory_estimate(net, input_shape, self.batch_size, optimizer=opt)
        return {"full batch": self.batch_size, "full epochs": self.epochs,
                "full train examples": self.train_examples, "full eval examples": self.eval_examples,
                "full memory MiB": mem["total"] + self.data_bytes / 2**20}
