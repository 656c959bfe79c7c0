"""The first GPU run's hazards, fixed and checked on the CPU (issue 16, item 8): per-device
PCA-lighting factors, random numbers on the input's device, /dev/shm-aware d2l workers, a
training benchmark that keeps every row, drop_last and evaluation batches on CUDA, fused
optimisers, compile modes, and chapter 02's full-profile crop."""

from __future__ import annotations

import collections
import json

import pytest
import torch
from torch import nn

from alexnet_course import _runtime, augment, data, settings, train
from alexnet_course.course.profiles import PROFILES
from alexnet_course.models import get_model

CUDA = torch.device("cuda")
CPU = torch.device("cpu")


# --------------------------------------------------------------------------- PCA lighting
def test_pca_lighting_copies_its_factors_to_a_device_once() -> None:
    vals, vecs = augment.fit_pca_lighting(torch.rand(64, 3, 4, 4))
    light = augment.PCALighting(vals, vecs, generator=torch.Generator().manual_seed(0))
    x = torch.rand(8, 3, 4, 4)
    light(x)
    first = light._factors(CPU)
    light(x)
    assert len(light._on_device) == 1 and light._factors(CPU)[0] is first[0]
    assert light._factors(CPU)[1] is first[1]


def test_a_cpu_generator_continues_on_the_input_device(monkeypatch) -> None:
    """On another device the draws come from one child generator there, seeded once from
    the CPU generator (no CPU draws copied per step); on the CPU the generator itself."""
    made = []

    class FakeDeviceGenerator:
        def __init__(self, device):
            self.device = torch.device(device)
            made.append(self)

        def manual_seed(self, seed):
            self.seed = seed
            return self

    expected = int(torch.randint(0, 2**62, (), generator=torch.Generator().manual_seed(3)))
    g = torch.Generator().manual_seed(3)
    assert augment._generator_on(g, CPU) is g
    monkeypatch.setattr(augment.torch, "Generator", FakeDeviceGenerator)
    child = augment._generator_on(g, CUDA)
    assert augment._generator_on(g, CUDA) is child and len(made) == 1
    assert child.device == CUDA and child.seed == expected


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_pca_lighting_on_cuda_with_a_cpu_generator() -> None:  # pragma: no cover - GPU
    vals, vecs = augment.fit_pca_lighting(torch.rand(64, 3, 4, 4))
    t = augment.Compose(augment.PCALighting(vals, vecs), augment.RandomHorizontalFlip(),
                        augment.RandomCrop(4, padding=1))
    x = torch.rand(8, 3, 4, 4, device="cuda")
    a = t(x, torch.Generator().manual_seed(0))
    b = t(x, torch.Generator().manual_seed(0))
    assert a.device.type == "cuda" and torch.equal(a, b)


# --------------------------------------------------------------------------- d2l workers
def test_d2l_workers_fit_in_dev_shm(monkeypatch) -> None:
    from benchmarks import d2l_reference as bt

    monkeypatch.setattr(bt.os, "cpu_count", lambda: 16)
    usage = collections.namedtuple("usage", "total used free")
    batch = 128 * 224 * 224 * 4  # 26 MB
    monkeypatch.setattr(bt.shutil, "disk_usage", lambda p: usage(0, 0, 10 * 2**30))
    assert bt.d2l_workers(batch) == 4
    monkeypatch.setattr(bt.shutil, "disk_usage", lambda p: usage(0, 0, 64 * 2**20))  # Docker's
    assert bt.d2l_workers(batch) == 0
    monkeypatch.setattr(bt.shutil, "disk_usage", lambda p: usage(0, 0, 250 * 2**20))
    assert bt.d2l_workers(batch) == 2  # half of 250 MB holds two workers × two batches

    def missing(p):
        raise FileNotFoundError(p)
    monkeypatch.setattr(bt.shutil, "disk_usage", missing)
    assert bt.d2l_workers(batch) == 4


# --------------------------------------------------------------------------- bench_training
def test_training_benchmark_keeps_every_row(monkeypatch, tmp_path) -> None:
    """A failing variant becomes an error row; ours runs first; the JSON is written after
    every row, so a run stopped later keeps what finished."""
    from benchmarks import bench_training as bt

    try:
        data.fashion_mnist_tensors(True, download=False)
    except data.DataError:  # pragma: no cover - the data is fetched by `make test`
        pytest.skip("Fashion-MNIST is not available")
    monkeypatch.setitem(bt.FIT_VARIANTS, "broken", {"amp": "no such precision"})
    snapshots = []
    real_write = bt.write_json
    monkeypatch.setattr(bt, "write_json", lambda name, payload, where=None: (
        snapshots.append(json.loads(json.dumps(payload, default=str))),
        real_write(name, payload, where))[1])
    monkeypatch.setattr(bt, "torchvision_root", lambda dest: dest)  # d2l is not run here
    plan = [{"name": "lenet", "resize": None, "train_size": 256, "test_size": 100,
             "batch_size": 128, "epochs": 1, "warmup": 0, "variants": ["broken", "ours"]}]
    out = tmp_path / "training_cpu.json"
    payload = bt.run_plan(plan, CPU, out=out)
    rows = {r["variant"]: r for r in payload["rows"]}
    assert "error" in rows["broken"] and "no such precision" in rows["broken"]["error"]
    assert rows["ours"]["examples"] == 256 and "error" not in rows["ours"]
    assert [r["variant"] for r in snapshots[0]["rows"]] == ["ours"]  # first, and saved at once
    assert not snapshots[0]["complete"] and snapshots[-1]["complete"]
    assert json.loads(out.read_text())["complete"] is True
    assert "broken" in bt.markdown_table(payload["rows"])


# --------------------------------------------------------------------------- batches on CUDA
def test_drop_last_auto_is_cuda_only() -> None:
    assert data.resolve_drop_last("auto", CUDA) is True
    assert data.resolve_drop_last("auto", CPU) is False
    assert data.resolve_drop_last(False, CUDA) is False
    with pytest.raises(data.DataArgumentError, match="drop_last"):
        data.resolve_drop_last("yes", CPU)
    images, labels = torch.zeros(250, 1, 4, 4, dtype=torch.uint8), torch.zeros(250, dtype=torch.long)
    assert len(data.DeviceLoader(images, labels, 100, device="cpu", drop_last="auto")) == 3


def test_evaluation_batch_divides_the_test_set_on_cuda() -> None:
    assert data.eval_batch_size(10_000, 128, CUDA) == 125
    assert data.eval_batch_size(10_000, 256, CUDA) == 250
    assert data.eval_batch_size(10_000, 128, CPU) == 128  # CPU results unchanged
    assert data.eval_batch_size(5_000, 64, CUDA) == 50
    assert data.eval_batch_size(997, 128, CUDA) == 128  # a prime: keep the batch
    assert data.eval_batch_size(100, 128, CUDA) == 100


# --------------------------------------------------------------------------- optimiser, compile
def test_named_optimisers_are_fused_on_request_only() -> None:
    net = nn.Linear(3, 2)
    for name, lr in (("sgd", 0.1), ("adam", 1e-3), ("adamw", 1e-3)):
        s = settings.TrainSettings(epochs=1, optimizer=name, lr=lr)
        assert settings.make_optimizer(net, s, fused=True).defaults["fused"] is True
        assert not settings.make_optimizer(net, s).defaults.get("fused")


def test_fit_asks_for_a_fused_optimiser_on_cuda_only(monkeypatch) -> None:
    seen = {}
    real = train.make_optimizer

    def spy(net, s, **kw):
        seen.update(kw)
        return real(net, s, **kw)
    monkeypatch.setattr(train, "make_optimizer", spy)
    x, y = torch.rand(8, 4), torch.randint(0, 2, (8,))
    train.fit(nn.Linear(4, 2), [(x, y)], [(x, y)], epochs=1, lr=0.1, device="cpu",
              channels_last=False, guard=False, log=None, progress=False)
    assert seen["fused"] is False


def test_compile_modes(monkeypatch) -> None:
    calls, steps = [], []
    monkeypatch.setattr(_runtime.torch, "compile", lambda net, **kw: (calls.append(kw), net)[1])
    monkeypatch.setattr(_runtime.torch.compiler, "cudagraph_mark_step_begin",
                        lambda: steps.append(1))
    net = nn.Linear(4, 2)
    assert _runtime.compiled(net, False) is net and not calls
    assert _runtime.compiled(net, True) is net and calls[-1] == {}
    graphed = _runtime.compiled(net, "reduce-overhead")
    assert calls[-1] == {"mode": "reduce-overhead"} and isinstance(graphed, _runtime._GraphStep)
    graphed(torch.rand(3, 4))
    graphed(torch.rand(3, 4))
    assert len(steps) == 2  # a new CUDA-graph step before every forward pass
    settings.TrainSettings(epochs=1, lr=0.1, compile="reduce-overhead")
    with pytest.raises(ValueError, match="torch.compile mode"):
        settings.TrainSettings(epochs=1, lr=0.1, compile="fast")


# --------------------------------------------------------------------------- chapter 02's crop
def _fc6_inputs(crop: int) -> tuple[int, int]:
    return tuple(get_model("alexnet_paper", input_size=crop, stem=(11, 4, 2), width=1 / 16,
                           fc_width=64, pool=pool).classifier.fc6.in_features
                 for pool in ("overlap", "nonoverlap"))


def test_chapter02_full_crop_changes_only_the_pooling() -> None:
    from alexnet_course.chapters import alexnet_paper

    none = dict.fromkeys(("crop", "width", "train_size", "val_size", "epochs", "seeds", "lrs"))
    crop = alexnet_paper.settings(PROFILES["full"], dataset="fashion_mnist", **none)["crop"]
    overlap, nonoverlap = _fc6_inputs(crop)
    assert overlap == nonoverlap, f"crop {crop}: fc6 takes {overlap} vs {nonoverlap} inputs"
    assert len(set(_fc6_inputs(112))) == 2  # the old crop: 2×2 vs 3×3 maps into fc6
