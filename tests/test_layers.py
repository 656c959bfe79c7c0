"""The paper-convention local response normalisation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from alexnet_course.layers import LocalResponseNorm


def lrn_loop(a: torch.Tensor, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0) -> torch.Tensor:
    """Section 3.3's formula, one channel at a time."""
    n_channels = a.shape[1]
    b = torch.empty_like(a)
    for i in range(n_channels):
        lo, hi = max(0, i - size // 2), min(n_channels - 1, i + (size - 1) // 2)
        b[:, i] = a[:, i] / (k + alpha * (a[:, lo:hi + 1] ** 2).sum(1)) ** beta
    return b


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("channels", [1, 3, 7])
def test_matches_the_papers_formula_and_torch(dtype: torch.dtype, channels: int) -> None:
    torch.manual_seed(0)
    # Large activations so that the normalisation is far from the identity.
    x = torch.randn(2, channels, 5, 4, dtype=dtype) * 30
    ours = LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)(x)
    torch.testing.assert_close(ours, lrn_loop(x), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(ours, nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)(x), rtol=1e-6, atol=1e-6)
    assert ours.dtype == dtype
    assert not torch.allclose(ours, x / 2 ** 0.75, rtol=1e-3)  # the neighbours matter


def test_channel_edges_use_a_truncated_window() -> None:
    x = torch.zeros(1, 6, 1, 1)
    x[0, 0] = 10.0  # only channel 0 is active: it lies in the windows of channels 0, 1, 2
    x[0, 3] = 1.0
    y = LocalResponseNorm()(x).flatten()
    assert y[0].item() == pytest.approx(10.0 / (2 + 1e-4 * (100 + 0)) ** 0.75, rel=1e-6)
    assert y[3].item() == pytest.approx(1.0 / (2 + 1e-4 * 1) ** 0.75, rel=1e-6)  # channel 0 is 3 away


@pytest.mark.parametrize("size", [2, 4])
def test_even_sizes_match_torch(size: int) -> None:
    torch.manual_seed(1)
    x = torch.randn(3, 8, 6, dtype=torch.float64) * 20  # a 1-d signal: (N, C, L)
    ours = LocalResponseNorm(size, alpha=1e-3, beta=0.75, k=1.0)(x)
    torch.testing.assert_close(ours, nn.LocalResponseNorm(size, alpha=1e-3 * size, beta=0.75, k=1.0)(x))
    torch.testing.assert_close(ours, lrn_loop(x, size, 1e-3, 0.75, 1.0))


def test_gradient_matches_the_formula() -> None:
    x = torch.randn(1, 6, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(LocalResponseNorm(5, alpha=1e-2, beta=0.75, k=2.0), (x,))
    g_ours, = torch.autograd.grad(LocalResponseNorm(5, 1e-2)(x).sum(), x)
    g_loop, = torch.autograd.grad(lrn_loop(x, 5, 1e-2).sum(), x)
    torch.testing.assert_close(g_ours, g_loop)


@pytest.mark.parametrize("size", [1, 2, 4, 5])
def test_hand_written_gradient_passes_gradcheck(size: int) -> None:
    torch.manual_seed(2)
    x = (torch.randn(2, 7, 3, 2, dtype=torch.float64) * 5).requires_grad_()
    assert torch.autograd.gradcheck(LocalResponseNorm(size, alpha=1e-2, beta=0.6, k=1.5), (x,))


def test_gradient_matches_torch_autograd_at_alexnet_scale() -> None:
    torch.manual_seed(3)
    x = (torch.randn(4, 96, 13, 13) * 10).requires_grad_()
    g = torch.randn(4, 96, 13, 13)
    ours, = torch.autograd.grad(LocalResponseNorm()(x), x, g)
    theirs, = torch.autograd.grad(nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)(x), x, g)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


def test_channels_last_input_keeps_its_layout_and_values() -> None:
    torch.manual_seed(4)
    x = torch.randn(2, 9, 5, 5) * 20
    y = LocalResponseNorm()(x.contiguous(memory_format=torch.channels_last))
    assert y.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(y, LocalResponseNorm()(x))


def test_bfloat16_input_is_normalised_in_float32() -> None:
    torch.manual_seed(5)
    x = torch.randn(2, 8, 4, 4) * 30
    xb = x.bfloat16().requires_grad_()
    y = LocalResponseNorm()(xb)
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y.float(), LocalResponseNorm()(x.bfloat16().float()), rtol=1e-2, atol=1e-2)
    y.float().sum().backward()
    assert xb.grad.dtype == torch.bfloat16 and torch.isfinite(xb.grad.float()).all()


def test_bad_inputs_get_clear_errors() -> None:
    with pytest.raises(ValueError, match="shape"):
        LocalResponseNorm()(torch.ones(5))
    with pytest.raises(TypeError, match="floating-point"):
        LocalResponseNorm()(torch.ones(1, 3, 2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="size"):
        LocalResponseNorm(0)
