"""Precision per device: bf16 where the GPU computes in it, fp16 with a gradient scaler on
older GPUs, float32 on the CPU and MPS. No GPU here: capabilities are faked."""

import pytest
import torch
from torch import nn

from alexnet_course import devices
from alexnet_course.settings import resolve_amp, resolve_channels_last
from alexnet_course._runtime import autocast as _autocast
from alexnet_course.train import train_one_epoch

CUDA = torch.device("cuda")


@pytest.mark.parametrize("capability, gpu, expected", [
    ((7, 5), "T4 (Colab)", "fp16"), ((7, 0), "V100", "fp16"),
    ((8, 0), "A100", "bf16"), ((9, 0), "H100/H200", "bf16"), ((8, 9), "RTX 4090", "bf16")])
def test_auto_precision_follows_the_compute_capability(monkeypatch, capability, gpu, expected):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert resolve_amp(CUDA, "auto") == expected, gpu
    assert resolve_amp(CUDA, False) is False  # amp= still overrides
    assert resolve_amp(CUDA, "bf16") == "bf16" and resolve_amp(CUDA, "fp16") == "fp16"
    assert resolve_channels_last(CUDA, "auto", "auto") is True  # NHWC under either autocast


@pytest.mark.parametrize("kind", ["cpu", "mps"])
def test_float32_off_cuda_and_fp16_refused_there(kind):
    device = torch.device(kind)
    assert resolve_amp(device, "auto") is False
    with pytest.raises(ValueError, match="needs a CUDA GPU"):
        resolve_amp(device, "fp16")
    with pytest.raises(ValueError, match="'fp16'"):
        resolve_amp(device, "float16")  # the error lists the choices


def test_autocast_dtype_per_choice(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
    assert _autocast(torch.device("cpu"), "bf16").fast_dtype == torch.bfloat16
    assert not _autocast(torch.device("cpu"), False)._enabled


def test_a_gradient_scaler_leaves_the_update_unchanged():
    """Scaling the loss and unscaling the gradients (powers of two) must give the same step
    as no scaler: the wiring of the fp16 path, checked in float32 on the CPU."""
    X, y = torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,))
    nets = []
    for scaler in (None, torch.amp.GradScaler("cpu", init_scale=2.0 ** 10)):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 10))
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        stats = train_one_epoch(net, nn.CrossEntropyLoss(), opt, [(X[:32], y[:32]), (X[32:], y[32:])],
                                torch.device("cpu"), scaler=scaler)
        nets.append((net, stats))
    (a, sa), (b, sb) = nets
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.allclose(p, q, atol=1e-6)
    assert sb.grad_norm == pytest.approx(sa.grad_norm, rel=1e-5)  # unscaled before the guard reads it


def test_device_order_is_cuda_then_mps_then_cpu(monkeypatch):
    mps = torch.backends.mps
    for cuda, apple, expected in [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")]:
        monkeypatch.setattr(torch.cuda, "is_available", lambda c=cuda: c)
        monkeypatch.setattr(mps, "is_available", lambda a=apple: a)
        assert devices.default_device().type == expected
