"""AlexNet's data augmentation (Krizhevsky, Sutskever & Hinton, 2012, Section 4.1) as
batched, on-device transforms, and its ten-crop test-time evaluation.

The transforms are callables that take a float batch ``N×C×H×W`` (on any device) and
return one; they are the ``transform`` hooks the data loader applies to training batches.
Each draws its own random numbers per image and accepts an optional ``torch.Generator``
(at construction, or per call) for reproducible runs.
"""

from __future__ import annotations

from collections.abc import Callable

import math
import numbers
import weakref

import torch
from torch import nn

Transform = Callable[..., torch.Tensor]
AVERAGES = ("logits", "softmax")


def _int_at_least(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_average(average: str) -> None:
    if average not in AVERAGES:
        raise ValueError(f"unknown average {average!r}; use 'logits' or 'softmax'")


# A CPU generator's stream, continued on another device: one generator per (generator,
# device), seeded once from the CPU generator, so a CUDA batch draws its random numbers on
# the GPU instead of copying them from pageable host memory every step (a host sync).
_DEVICE_GENERATORS: "weakref.WeakKeyDictionary[torch.Generator, dict[torch.device, torch.Generator]]" = (
    weakref.WeakKeyDictionary())


def _generator_on(generator: torch.Generator | None, device: torch.device) -> torch.Generator | None:
    """``generator`` if it lives on ``device`` (always so on a CPU: results unchanged), else
    its per-device child, made on first use from one draw of ``generator``."""
    if generator is None or generator.device == device:
        return generator
    children = _DEVICE_GENERATORS.setdefault(generator, {})
    if device not in children:
        seed = int(torch.randint(0, 2**62, (), generator=generator))
        children[device] = torch.Generator(device=device).manual_seed(seed)
    return children[device]


def _rand(shape: tuple[int, ...], x: torch.Tensor, generator: torch.Generator | None, normal: bool = False) -> torch.Tensor:
    """Random numbers drawn on ``x``'s device (with ``generator``, or its child there)."""
    fn = torch.randn if normal else torch.rand
    return fn(shape, generator=_generator_on(generator, x.device), device=x.device)


def fit_pca_lighting(images: torch.Tensor, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigen-decomposition of the C×C covariance of pixel values over a training set.

    ``images``: ``N×C×H×W``, uint8 (scaled to [0, 1]) or float (used as is: fit on the same
    scale the batches will have). Returns ``(eigvals, eigvecs)``, eigenvalues in decreasing
    order and eigenvectors as the columns of ``eigvecs`` (float32). Accumulated in float64
    over chunks of images, so a whole dataset fits in memory.
    """
    if images.dim() != 4:
        raise ValueError(f"expected N×C×H×W images, got shape {tuple(images.shape)}")
    c = images.shape[1]
    total, s1, s2 = 0, torch.zeros(c, dtype=torch.float64), torch.zeros(c, c, dtype=torch.float64)
    for start in range(0, images.shape[0], chunk):
        x = images[start:start + chunk].to("cpu", torch.float64)
        if images.dtype == torch.uint8:
            x = x / 255.0
        pixels = x.transpose(0, 1).reshape(c, -1)  # C × (pixels in the chunk)
        total += pixels.shape[1]
        s1 += pixels.sum(1)
        s2 += pixels @ pixels.T
    mean = s1 / total
    cov = (s2 - total * torch.outer(mean, mean)) / (total - 1)
    eigvals, eigvecs = torch.linalg.eigh(cov)  # ascending
    order = eigvals.argsort(descending=True)
    return eigvals[order].clamp_min(0).float(), eigvecs[:, order].float()


class PCALighting:
    """"Fancy PCA": to every pixel of an image add ``Σ_i α_i λ_i p_i`` with one draw
    ``α_i ~ N(0, std²)`` per image (the paper: std 0.1), ``λ_i, p_i`` from ``fit_pca_lighting``.

    Along principal component ``p_i`` the shift therefore has standard deviation
    ``std·λ_i`` (λ_i is a variance, so this scale is the paper's literal formula); with
    ``magnitude="sqrt"`` it is ``std·sqrt(λ_i)``, i.e. variance ``λ_i·std²``, a perturbation
    proportional to the data's spread along each component. For one-channel images
    (``C=1``) this is a random brightness shift of the whole image.
    """

    def __init__(self, eigvals: torch.Tensor, eigvecs: torch.Tensor, std: float = 0.1,
                 magnitude: str = "eigval", generator: torch.Generator | None = None) -> None:
        if magnitude not in ("eigval", "sqrt"):
            raise ValueError(f"unknown magnitude {magnitude!r}; use 'eigval' or 'sqrt'")
        c = eigvals.numel()
        if eigvals.dim() != 1 or eigvecs.shape != (c, c):
            raise ValueError(f"eigvals must be C values and eigvecs C×C (as fit_pca_lighting returns), got "
                             f"shapes {tuple(eigvals.shape)} and {tuple(eigvecs.shape)}")
        if isinstance(std, bool) or not isinstance(std, numbers.Real) or not math.isfinite(std) or std < 0:
            raise ValueError(f"std must be a finite number >= 0 (the paper: 0.1), got {std!r}")
        self.eigvals, self.eigvecs = eigvals.float(), eigvecs.float()
        self.scale = self.eigvals if magnitude == "eigval" else self.eigvals.sqrt()
        self.std, self.generator = std, generator
        # (scale, eigvecs.T) per device, copied once: not from pageable memory every step
        self._on_device: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def _factors(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if device not in self._on_device:
            self._on_device[device] = (self.scale.to(device), self.eigvecs.to(device).T)
        return self._on_device[device]

    def offset(self, alpha: torch.Tensor) -> torch.Tensor:
        """The colour offset ``Σ_i α_i·scale_i·p_i`` for given ``alpha`` (…×C → …×C)."""
        scale, eigvecs_t = self._factors(alpha.device)
        return (alpha * scale) @ eigvecs_t

    def shift(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The N×C colour shift that ``__call__`` adds (one per image)."""
        alpha = _rand((x.shape[0], self.eigvals.numel()), x, generator or self.generator, normal=True) * self.std
        return self.offset(alpha)  # rows: Σ α_i λ_i p_i

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return x + self.shift(x, generator).to(x.dtype)[:, :, None, None]


class RandomCrop:
    """A ``size``×``size`` crop at an independent random position per image, after padding
    by ``padding`` (zeros) if given; with ``padding=0`` the batch must be at least ``size``."""

    def __init__(self, size: int, padding: int = 0, generator: torch.Generator | None = None) -> None:
        self.size, self.padding = _int_at_least("size", size, 1), _int_at_least("padding", padding, 0)
        self.generator = generator

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.padding:
            x = nn.functional.pad(x, (self.padding,) * 4)
        n, _, h, w = x.shape
        if h < self.size or w < self.size:
            raise ValueError(f"cannot crop {self.size}×{self.size} from {h}×{w} images")
        g = generator or self.generator
        top = (_rand((n,), x, g) * (h - self.size + 1)).long().clamp_max(h - self.size)
        left = (_rand((n,), x, g) * (w - self.size + 1)).long().clamp_max(w - self.size)
        ar = torch.arange(self.size, device=x.device)
        rows = (top[:, None] + ar)[:, :, None]  # N×size×1
        cols = (left[:, None] + ar)[:, None, :]  # N×1×size
        # Advanced indexing gathers every image's own window at once: N×size×size×C.
        out = x[torch.arange(n, device=x.device)[:, None, None], :, rows, cols]
        return out.permute(0, 3, 1, 2).contiguous()


class RandomHorizontalFlip:
    """Mirror each image left-right with probability ``p``."""

    def __init__(self, p: float = 0.5, generator: torch.Generator | None = None) -> None:
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
            raise ValueError(f"p is a probability, between 0 and 1; got {p!r}")
        self.p, self.generator = p, generator

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        flip = _rand((x.shape[0],), x, generator or self.generator) < self.p
        return torch.where(flip[:, None, None, None], x.flip(-1), x)


class Compose:
    """Apply transforms in order, passing the same generator to each."""

    def __init__(self, *transforms: Transform) -> None:
        self.transforms = transforms

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        for t in self.transforms:
            x = t(x, generator) if generator is not None else t(x)
        return x


def ten_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """The ten ``size``×``size`` patches of Section 4.1, as a ``10×N×C×size×size`` tensor:
    top-left, top-right, bottom-left, bottom-right, centre (torchvision's order and centre
    rounding), then the mirror image of each of the five, in the same order (torchvision's
    ``ten_crop`` crops the mirrored image instead: the same patches, ordered differently)."""
    _int_at_least("size", size, 1)
    h, w = x.shape[-2:]
    if h < size or w < size:
        raise ValueError(f"cannot take {size}×{size} crops from {h}×{w} images")
    top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
    corners = [(0, 0), (0, w - size), (h - size, 0), (h - size, w - size), (top, left)]
    crops = torch.stack([x[..., i:i + size, j:j + size] for i, j in corners])
    return torch.cat([crops, crops.flip(-1)])


def ten_crop_predict(net: nn.Module, x: torch.Tensor, size: int, average: str = "logits") -> torch.Tensor:
    """Average of ``net``'s outputs over the ten crops of ``x`` (one forward pass of 10·N).

    ``average="logits"`` averages the logits; ``"softmax"`` averages the softmax outputs, as
    the paper does, and returns their log so that argmax and NLL work as with logits."""
    _check_average(average)  # before the ten forward passes, not after
    crops = ten_crop(x, size)
    out = net(crops.flatten(0, 1)).unflatten(0, (10, x.shape[0]))
    if average == "logits":
        return out.mean(0)
    return out.softmax(-1).mean(0).log()


class TenCropPredict:
    """``predict(net, X)`` for ten-crop testing of full-size images: pad ``X`` by ``pad``
    pixels on each side, then :func:`ten_crop_predict` at ``size``. A class rather than a
    lambda so that the run store can describe it (its name and its three settings)."""

    def __init__(self, size: int, pad: int = 0, average: str = "logits") -> None:
        _check_average(average)
        self.size, self.pad, self.average = _int_at_least("size", size, 1), int(pad), average

    def __call__(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.pad:
            x = torch.nn.functional.pad(x, (self.pad,) * 4)
        return ten_crop_predict(net, x, self.size, self.average)


class TenCropModel(nn.Module):
    """Wraps ``net`` so that its forward pass is ``ten_crop_predict`` (for evaluation)."""

    def __init__(self, net: nn.Module, size: int, average: str = "logits") -> None:
        super().__init__()
        _int_at_least("size", size, 1)
        _check_average(average)
        self.net, self.size, self.average = net, size, average

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ten_crop_predict(self.net, x, self.size, self.average)
