"""AlexNet's augmentation: PCA lighting, random crops and flips, ten-crop evaluation."""

from __future__ import annotations

import pytest
import torch
import torchvision.transforms.functional as TF
from torch import nn

from alexnet_course.augment import (Compose, PCALighting, RandomCrop, RandomHorizontalFlip, TenCropModel,
                                    fit_pca_lighting, ten_crop, ten_crop_predict)


def coloured_images(n: int = 400, seed: int = 0) -> torch.Tensor:
    """RGB images whose pixels have a known, strongly anisotropic covariance."""
    g = torch.Generator().manual_seed(seed)
    mix = torch.tensor([[0.30, 0.00, 0.00], [0.25, 0.10, 0.00], [0.20, 0.05, 0.02]])
    z = torch.randn(n, 8, 8, 3, generator=g)
    return (z @ mix.T + 0.5).permute(0, 3, 1, 2).contiguous()


def test_fit_pca_lighting_recovers_the_pixel_covariance() -> None:
    x = coloured_images()
    eigvals, eigvecs = fit_pca_lighting(x, chunk=64)  # several chunks
    cov = torch.cov(x.transpose(0, 1).reshape(3, -1).double())
    assert torch.all(eigvals[:-1] >= eigvals[1:])
    torch.testing.assert_close((eigvecs.double() * eigvals.double()) @ eigvecs.double().T, cov, rtol=1e-4, atol=1e-7)
    u8 = (x.clamp(0, 1) * 255).round().to(torch.uint8)
    vals_u8, _ = fit_pca_lighting(u8)
    cov_u8 = torch.cov((u8.double() / 255).transpose(0, 1).reshape(3, -1))
    torch.testing.assert_close(vals_u8.double(), torch.linalg.eigvalsh(cov_u8).flip(0), rtol=1e-4, atol=1e-8)


@pytest.mark.parametrize("magnitude", ["eigval", "sqrt"])
def test_pca_lighting_shift_statistics(magnitude: str) -> None:
    eigvals, eigvecs = fit_pca_lighting(coloured_images())
    light = PCALighting(eigvals, eigvecs, std=0.1, magnitude=magnitude, generator=torch.Generator().manual_seed(1))
    x = torch.rand(20_000, 3, 2, 2)
    delta = light(x) - x
    assert torch.allclose(delta, delta[:, :, :1, :1].expand_as(delta), atol=1e-6)  # one shift per image
    coords = delta[:, :, 0, 0].double() @ eigvecs.double()  # components along p_1, p_2, p_3
    scale = eigvals.double() if magnitude == "eigval" else eigvals.double().sqrt()
    expected_var = scale ** 2 * 0.1 ** 2  # λ_i²·0.1² (paper) or λ_i·0.1² (sqrt)
    n = coords.shape[0]
    assert torch.all(coords.mean(0).abs() < 4 * (expected_var / n).sqrt())
    torch.testing.assert_close(coords.var(0), expected_var, rtol=0.05, atol=0)
    # Independent draws: the components are uncorrelated.
    corr = torch.corrcoef(coords.T)
    assert (corr - torch.eye(3, dtype=corr.dtype)).abs().max() < 0.05


def test_pca_lighting_on_one_channel_is_a_brightness_jitter() -> None:
    x = torch.rand(5000, 1, 4, 4)
    eigvals, eigvecs = fit_pca_lighting(x)
    assert eigvals.shape == (1,) and eigvecs.abs().item() == pytest.approx(1.0)
    assert eigvals.item() == pytest.approx(x.var().item(), rel=1e-3)
    delta = PCALighting(eigvals, eigvecs)(x, torch.Generator().manual_seed(0)) - x
    per_image = delta.flatten(1)
    assert torch.allclose(per_image, per_image[:, :1].expand_as(per_image), atol=1e-6)
    assert per_image[:, 0].std().item() == pytest.approx(0.1 * eigvals.item(), rel=0.05)


def test_random_crop_takes_a_window_per_image() -> None:
    n, h, w, size = 64, 10, 12, 4
    x = (torch.arange(h * w, dtype=torch.float32).reshape(1, 1, h, w) + 1000 * torch.arange(n).reshape(n, 1, 1, 1))
    x = x.expand(n, 2, h, w).contiguous()
    out = RandomCrop(size, generator=torch.Generator().manual_seed(0))(x)
    assert out.shape == (n, 2, size, size)
    offsets = set()
    for i in range(n):
        corner = int(out[i, 0, 0, 0].item()) - 1000 * i
        t, l = divmod(corner, w)
        assert torch.equal(out[i], x[i, :, t:t + size, l:l + size])
        offsets.add((t, l))
    assert len(offsets) > 20  # independent positions, not one for the whole batch
    padded = RandomCrop(28, padding=4, generator=torch.Generator().manual_seed(0))(torch.ones(16, 1, 28, 28))
    assert padded.shape == (16, 1, 28, 28) and (padded == 0).any()


def test_random_crop_and_flip_are_reproducible_with_a_generator() -> None:
    x = torch.randn(32, 3, 16, 16)
    aug = Compose(RandomCrop(12, padding=2), RandomHorizontalFlip())
    a = aug(x, torch.Generator().manual_seed(7))
    b = aug(x, torch.Generator().manual_seed(7))
    c = aug(x, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_flip_mirrors_about_half_the_images() -> None:
    x = torch.randn(2000, 1, 3, 5)
    out = RandomHorizontalFlip(generator=torch.Generator().manual_seed(0))(x)
    same = (out == x).flatten(1).all(1)
    mirrored = (out == x.flip(-1)).flatten(1).all(1)
    assert torch.all(same | mirrored)
    assert 0.45 < mirrored.float().mean().item() < 0.55


def test_ten_crop_order_and_known_average() -> None:
    x = torch.arange(9, dtype=torch.float32).reshape(1, 1, 3, 3)
    crops = ten_crop(x, 2)
    theirs = TF.ten_crop(x, [2, 2])
    assert crops.shape == (10, 1, 1, 2, 2)
    for ours, ref in zip(crops[:5], theirs[:5]):  # corners and centre in torchvision's order
        assert torch.equal(ours, ref)
    assert torch.equal(crops[5:], crops[:5].flip(-1))  # then each patch's mirror image
    # torchvision crops the mirrored image instead: the same corner patches, in another order.
    assert {tuple(c.flatten().tolist()) for c in crops[5:9]} == {tuple(c.flatten().tolist()) for c in theirs[5:9]}
    # A "network" that outputs the mean pixel: corners 2, 3, 5, 6 and the centre crop (top
    # left, since round(0.5) = 0) 2; mirroring does not change means: (2+3+5+6+2)/5 = 3.6.
    mean_net = nn.Sequential(nn.Flatten(1), nn.Linear(4, 1, bias=False))
    nn.init.constant_(mean_net[1].weight, 0.25)
    with torch.no_grad():
        assert ten_crop_predict(mean_net, x, 2).item() == pytest.approx(3.6)
        assert TenCropModel(mean_net, 2)(x).item() == pytest.approx(3.6)


def test_ten_crop_softmax_average() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(1), nn.Linear(3 * 6 * 6, 4))
    x = torch.randn(5, 3, 8, 8)
    with torch.no_grad():
        logits = torch.stack([net(c) for c in ten_crop(x, 6)])
        torch.testing.assert_close(ten_crop_predict(net, x, 6), logits.mean(0))
        torch.testing.assert_close(ten_crop_predict(net, x, 6, average="softmax").exp(), logits.softmax(-1).mean(0))


def test_bad_arguments_are_refused_when_the_transform_is_built() -> None:
    eigvals, eigvecs = fit_pca_lighting(coloured_images(50))
    for bad in (0, -2, 2.5, "4", True):
        with pytest.raises(ValueError, match=rf"size must be an integer >= 1, got {bad!r}"):
            RandomCrop(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"padding must be an integer >= 0, got -1"):
        RandomCrop(4, padding=-1)
    for bad in (-0.1, 1.5, "0.5"):
        with pytest.raises(ValueError, match=r"p is a probability, between 0 and 1"):
            RandomHorizontalFlip(bad)  # type: ignore[arg-type]
    for bad in (-0.1, float("nan"), "0.1"):
        with pytest.raises(ValueError, match=r"std must be a finite number >= 0"):
            PCALighting(eigvals, eigvecs, std=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"eigvals must be C values and eigvecs C×C"):
        PCALighting(eigvals, eigvecs[:2])
    with pytest.raises(ValueError, match=r"size must be an integer >= 1, got 0"):
        ten_crop(torch.zeros(1, 1, 4, 4), 0)
    with pytest.raises(ValueError, match="unknown average 'mean'"):
        TenCropModel(nn.Identity(), 2, average="mean")


def test_ten_crop_predict_checks_average_before_running_the_network() -> None:
    calls = []

    def net(x: torch.Tensor) -> torch.Tensor:
        calls.append(x.shape)
        return x.flatten(1)

    with pytest.raises(ValueError, match="unknown average 'mean'; use 'logits' or 'softmax'"):
        ten_crop_predict(net, torch.zeros(2, 1, 4, 4), 2, average="mean")
    assert calls == []  # before: ten forward passes, then the error
